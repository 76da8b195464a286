"""Provenance: where every number came from: committed files, ingests, supersessions, the commit log.

From :mod:`immunolab.report.provenance` and :meth:`Store.versions`. Files are named as everywhere
in the report (patient|Dday, plate code, or ``file`` + SHA-256 prefix), with plugin, store version
and rows written; ingest ids are left out because they embed the ingest time. The commit log shows
each store version's kind, summary and reason with sample ids, plate ids, file names and dates
replaced; who made a commit, on which host and when are left out (``immunolab log`` shows them to
lab staff).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from immunolab.report.fmt import Section, details, esc, table

if TYPE_CHECKING:
    from immunolab.report.context import ReportData

__all__ = ["commit_log", "files_by_plugin", "section"]


def commit_log(data: ReportData) -> pd.DataFrame:
    """Return one row per store version: version, kind, summary and reason (scrubbed), files attempted."""
    rows = [{"store version": r.store_version, "kind": r.kind, "summary": data.naming.scrub(r.summary),
             "reason": data.naming.scrub(r.reason or ""), "files": len(r.attempts),
             "immunolab": r.immunolab_version} for r in data.store.versions()]
    return pd.DataFrame(rows)


def files_by_plugin(prov: pd.DataFrame) -> pd.DataFrame:
    """Return per plugin and version: files in use and superseded."""
    if prov.empty:
        return prov
    g = prov.groupby(["plugin", "plugin_version"])
    return pd.DataFrame({"files in use": g["in_use"].sum().astype(int),
                         "superseded or withdrawn": (~prov["in_use"]).groupby([prov["plugin"],
                                                                                prov["plugin_version"]]).sum().astype(int)}
                        ).reset_index()


def _files(data: ReportData, prov: pd.DataFrame) -> pd.DataFrame:
    """Return the per-file provenance with PHI-free names (no ingest id: it embeds the ingest time)."""
    if prov.empty:
        return prov
    return pd.DataFrame({
        "file": [data.naming.of_source(s) for s in prov["source_sha256"]],
        "SHA-256": prov["source_sha256"].str[:16] + "...", "store version": prov["store_version"],
        "plugin": prov["plugin"] + " " + prov["plugin_version"], "rows written": prov["rows"],
        "superseded by": [data.naming.scrub(s) for s in prov["superseded_by"].astype(str)],
        "in use": prov["in_use"]})


def section(data: ReportData) -> Section:
    """Return the provenance section (see the module doc)."""
    from immunolab.report.provenance import provenance_summary, provenance_table

    ps = provenance_summary(data.store)
    prov = provenance_table(data.store)
    head = (f"<p>Store schema {esc(ps.get('schema_version', ''))}; {esc(ps.get('ingests_in_use', 0))} ingests in use, "
            f"{esc(ps.get('ingests_superseded', 0))} superseded or withdrawn; plugins: "
            f"{esc(', '.join(ps.get('plugins', [])))}; files were ingested by immunolab "
            f"{esc(', '.join(ps.get('ingest_immunolab_versions', [])))}.</p>")
    shown = _files(data, prov)
    superseded = shown[shown["superseded by"] != ""] if len(shown) else shown
    body = (head + "<h3>Files by plugin</h3>" + table(files_by_plugin(prov))
            + "<h3>Supersessions</h3>" + table(superseded, empty="no file was superseded")
            + "<h3>Commit log</h3>" + table(commit_log(data))
            + details(f"Every committed file ({len(prov)})", table(shown)))
    return Section("provenance", "Provenance", body)
