"""Describe where a store's data came from without anything identifying.

Kept per committed file: ingest id, plugin and version, immunolab version, the store version that
committed it, the SHA-256 of the raw file, rows written per table and the supersede link. Left
out on purpose: file names, user, host, command lines and option values (they hold paths).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from immunolab.store.read import Store

__all__ = ["PROVENANCE_COLUMNS", "provenance_summary", "provenance_table"]

PROVENANCE_COLUMNS = [
    "ingest_id", "store_version", "plugin", "plugin_version", "immunolab_version", "schema_version", "source_sha256",
    "rows", "superseded_by", "in_use",
]


def provenance_table(store: Store) -> pd.DataFrame:
    """Return one PHI-free row per committed file (superseded or withdrawn ones flagged ``in_use=False``)."""
    from immunolab.schema import SCHEMA_VERSION

    src = store.to_pandas("sources")
    if src.empty:
        return pd.DataFrame(columns=PROVENANCE_COLUMNS)
    ident = store.to_pandas("identity_samples", columns=["source_sha256", "sample_key", "status", "superseded_by"])
    files = ident[ident["sample_key"] == ""].set_index("source_sha256")
    rows_of = {a.get("ingest_id"): a.get("rows") or {} for r in store.versions() for a in r.attempts}
    version_of = store.commit_version
    rows: list[dict[str, Any]] = []
    for rec in src.sort_values("ingest_id").to_dict("records"):
        sha = rec["source_sha256"]
        status = files["status"].get(sha, "active") if sha in files.index else "active"
        rows.append({
            "ingest_id": rec["ingest_id"], "store_version": version_of.get(rec["commit_id"]),
            "plugin": rec.get("plugin") or "", "plugin_version": rec.get("plugin_version") or "",
            "immunolab_version": rec.get("immunolab_version") or "", "schema_version": SCHEMA_VERSION,
            "source_sha256": sha, "rows": json.dumps(rows_of.get(rec["ingest_id"], {}), sort_keys=True),
            "superseded_by": (files["superseded_by"].get(sha) if sha in files.index else None) or "",
            "in_use": status in ("active", "replicate"),
        })
    return pd.DataFrame(rows, columns=PROVENANCE_COLUMNS)


def provenance_summary(store: Store) -> dict[str, Any]:
    """Return versions and counts for headers: store version, immunolab, schema, plugins in use, ingests."""
    from immunolab import __version__
    from immunolab.schema import SCHEMA_VERSION

    table = provenance_table(store)
    in_use = table[table["in_use"]] if len(table) else table
    plugins = sorted({f"{p} {v}".strip() for p, v in zip(in_use["plugin"], in_use["plugin_version"], strict=True)})
    return {
        "store_version": store.version,
        "immunolab_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "ingests_in_use": len(in_use),
        "ingests_superseded": len(table) - len(in_use),
        "plugins": plugins,
        "ingest_immunolab_versions": sorted(set(in_use["immunolab_version"])),
    }
