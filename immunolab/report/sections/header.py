"""The report's first section: what it is a report of, and which analysis choices are in force.

Shown: the generation time (UTC); the store named without its path (its identity is the hash of
its first commit record, its state the store version and that version's record hash); the
software versions; the active derivation of every panel (gating strategy) and plate (curve
source: the instrument's results or a refit, with its model and weighting), each with the
recorded decision's reason or the default rule that applies; and the current QC exclusions with
their reasons and how many values each removes from the analyses.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pandas as pd

from immunolab.report.fmt import Section, esc, table

if TYPE_CHECKING:
    from immunolab.report.context import ReportData
    from immunolab.store.read import Store

__all__ = ["LIBRARIES", "active_curves_table", "active_gating_table", "exclusions_table", "section",
           "software_versions", "store_identity"]

#: libraries whose versions the header names (those installed)
LIBRARIES = ("numpy", "pandas", "pyarrow", "deltalake", "scipy", "statsmodels", "lifelines", "matplotlib",
             "flowkit", "anndata", "scanpy")


def software_versions() -> dict[str, str]:
    """Return name -> version of Python, immunolab and the installed :data:`LIBRARIES` (not imported)."""
    from immunolab import __version__

    out = {"python": platform.python_version(), "immunolab": __version__}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def store_identity(store: Store) -> dict[str, Any]:
    """Return the store's PHI-free identity: first record hash (store id), version, its record hash."""
    records = store.versions()
    first = records[0].record_hash if records else ""
    last = records[-1].record_hash if records else ""
    return {"store_id": first[:12] or "empty", "store_version": store.version, "record_hash": last[:12],
            "n_versions": len(records)}


def _decisions(data: ReportData, kind: str) -> dict[str, tuple[str, str, int | None]]:
    """Return scope -> (derivation id, reason, store version) of the current decisions of ``kind``."""
    c = data.store.to_pandas("derivation_choices")
    c = c[c["kind"] == kind]
    version = data.store.commit_version
    return {str(s): (str(d), data.naming.scrub(r), version.get(cid)) for s, d, r, cid in
            zip(c["scope"], c["derivation_id"], c["reason"], c["commit_id"], strict=True)}


def active_gating_table(data: ReportData) -> pd.DataFrame:
    """Return one row per panel and active gating derivation: strategy, files, and why it is active."""
    from immunolab.derive.choices import active_gating
    from immunolab.report.context import panel_of_files

    store = data.store
    smp = store.to_pandas("samples")
    files = smp[smp["sample_key"] == ""]
    gating = store.to_pandas("flow_gating", columns=["commit_id", "source_sha256", "derivation_id", "status"])
    if gating.empty or files.empty:
        return pd.DataFrame()
    panel_of = panel_of_files(files)
    act = active_gating(store, gating[gating["status"] == "ok"], panel_of)
    act = act[act["source_sha256"].isin(panel_of)]
    names = store.to_pandas("flow_strategies").drop_duplicates("derivation_id").set_index("derivation_id")
    decided = _decisions(data, "gating")
    rows = []
    for (panel, did), g in act.groupby(["panel", "derivation_id"], dropna=False, sort=True):
        choice = decided.get(str(panel)) or decided.get("*")
        why = (f"decision at store version {choice[2]}: {choice[1]}" if choice and choice[0] == did
               else "default: each file's gating at ingest (no decision recorded)")
        rows.append({"panel": panel, "derivation": did,
                     "strategy": names["strategy_name"].get(did, "") if did in names.index else "",
                     "kind": names["kind"].get(did, "") if did in names.index else "",
                     "files": int(g["source_sha256"].nunique()), "why active": why})
    failed = set(gating.loc[gating["status"] != "ok", "source_sha256"]) - set(act["source_sha256"])
    for panel, n in pd.Series([panel_of[s] for s in failed if s in panel_of]).value_counts().items():
        rows.append({"panel": panel, "derivation": "", "strategy": "", "kind": "", "files": int(n),
                     "why active": "gating failed: no active result (see Flow cytometry)"})
    return pd.DataFrame(rows)


def _describe_curves(kind: str, settings_json: str | None) -> str:
    try:
        s = json.loads(settings_json or "{}")
    except ValueError:
        s = {}
    if kind == "instrument":
        return "the instrument software's own results"
    return (f"refit by immunolab: model {s.get('model', '?')}, weighting {s.get('weighting', '?')}; "
            f"below range {s.get('below_rule', '?')}, above range {s.get('above_rule', '?')}")


def active_curves_table(data: ReportData) -> pd.DataFrame:
    """Return one row per plate: plate code, active curve source, how it was fitted, and why."""
    from immunolab.derive.views import active_plates

    plates = active_plates(data.store)
    if plates.empty:
        return pd.DataFrame()
    plates = plates.drop_duplicates("plate_id")
    derivs = data.store.to_pandas("cytokine_derivations").drop_duplicates("derivation_id").set_index("derivation_id")
    qc = data.store.to_pandas("plate_qc", columns=["plate_id", "derivation_id"])
    have = qc.groupby("plate_id")["derivation_id"].agg(lambda s: sorted(set(s))).to_dict()
    decided = _decisions(data, "curves")
    rows = []
    for rec in plates.sort_values("plate_code").to_dict("records"):
        did = rec.get("derivation_id")
        did = did if isinstance(did, str) else ""
        kind = str(derivs["kind"].get(did, "")) if did in derivs.index else ""
        choice = decided.get(str(rec["plate_id"])) or decided.get("*")
        if choice and choice[0] == did:
            why = f"decision at store version {choice[2]}: {choice[1]}"
        elif did == "instrument":
            why = "default: the export carries the instrument's results"
        else:
            why = "default: the export has no results of its own, so the plate's first refit"
        rows.append({"plate": data.naming.plate(rec["plate_id"]), "kit": rec.get("kit") or "",
                     "active": did, "curve source": _describe_curves(kind, derivs["settings_json"].get(did)
                                                                     if did in derivs.index else None),
                     "other derivations": ", ".join(d for d in have.get(rec["plate_id"], []) if d != did),
                     "why active": why})
    return pd.DataFrame(rows)


def exclusions_table(data: ReportData) -> pd.DataFrame:
    """Return the current QC exclusions: target (PHI-safe), analyte, reason, store version, values removed."""
    d = data.store.to_pandas("qc_decisions")
    d = d[d["action"] == "exclude"] if not d.empty else d
    if d.empty:
        return pd.DataFrame()
    m = data.store.to_pandas("measurements", columns=["excluded", "exclusion_reason"])
    removed = m[m["excluded"].fillna(False).astype(bool)].groupby("exclusion_reason").size().to_dict()
    version = data.store.commit_version
    rows = []
    for rec in d.to_dict("records"):
        target = str(rec["target"])
        shown = data.naming.of_sample(target) if rec["target_kind"] == "sample" else data.naming.scrub(target)
        rows.append({"kind": rec["target_kind"], "target": shown, "analyte": rec["analyte"] or "(all)",
                     "reason": data.naming.scrub(rec["reason"]), "store version": version.get(rec["commit_id"]),
                     "values excluded": int(removed.get(rec["reason"], 0))})
    return pd.DataFrame(rows).sort_values(["kind", "target"], kind="stable")


def section(data: ReportData) -> Section:
    """Return the header section (see the module doc)."""
    ident = store_identity(data.store)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    soft = software_versions()
    versions = ", ".join(f"{k} {v}" for k, v in soft.items())
    head = (
        "<dl class='facts'>"
        f"<dt>Generated</dt><dd>{esc(now)}</dd>"
        f"<dt>Store</dt><dd>store id {esc(ident['store_id'])} (hash of its first commit record; the path is not "
        f"shown), version {esc(ident['store_version'])} of {esc(ident['n_versions'])} (record "
        f"{esc(ident['record_hash'])})</dd>"
        f"<dt>Software</dt><dd>{esc(versions)}</dd>"
        f"<dt>Arms</dt><dd>{esc(data.arms[0])} (treated) compared with {esc(data.arms[1])} (reference)</dd>"
        "<dt>Names</dt><dd>patients by pseudonymous code, samples as patient|Dday, plates by the lab's plate "
        "code, files by SHA-256 prefix; no file name, date or plate sample name is shown</dd></dl>"
    )
    excl = exclusions_table(data)
    n_excl = int(data.view.attrs.get("n_excluded", 0))
    return Section("header", "Report scope and active analysis choices", head
                   + "<h3>Active gating per panel</h3>" + table(active_gating_table(data), empty="no flow files")
                   + "<h3>Active curves per plate</h3>" + table(active_curves_table(data), empty="no plates")
                   + "<h3>QC exclusions</h3>"
                   + table(excl, empty="no QC exclusion recorded: every value is analysed")
                   + (f"<p class='meta'>{n_excl} value(s) are left out of every analysis below.</p>" if len(excl) else ""))
