"""Describe where a store's data came from without anything identifying.

Kept per committed ingest: ingest id, plugin and version, immunolab and schema versions, the
SHA-256 of the raw file, rows written per table and the supersede links. Left out on purpose:
file names (``source_label``), user, host, command lines and option values (they hold paths),
attempt timestamps and the free-text supersede reason.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from immunolab.store.read import Store

__all__ = ["PROVENANCE_COLUMNS", "provenance_summary", "provenance_table"]

PROVENANCE_COLUMNS = [
    "ingest_id", "plugin", "plugin_version", "immunolab_version", "schema_version", "source_sha256",
    "rows", "supersedes", "superseded_by", "in_use",
]


def provenance_table(store: Store) -> pd.DataFrame:
    """Return one PHI-free row per committed ingest (superseded ones flagged ``in_use=False``)."""
    records = store.committed(include_superseded=True)
    rows: list[dict[str, Any]] = []
    for ingest_id, rec in sorted(records.items()):
        counts = rec.get("rows") or {}
        rows.append({
            "ingest_id": ingest_id,
            "plugin": rec.get("plugin") or "",
            "plugin_version": rec.get("plugin_version") or "",
            "immunolab_version": rec.get("immunolab_version") or "",
            "schema_version": int(rec.get("schema_version") or 0),
            "source_sha256": rec.get("source_sha256") or "",
            "rows": json.dumps(counts, sort_keys=True) if isinstance(counts, dict) else str(counts),
            "supersedes": rec.get("supersedes") or "",
            "superseded_by": rec.get("superseded_by") or "",
            "in_use": not rec.get("superseded_by"),
        })
    return pd.DataFrame(rows, columns=PROVENANCE_COLUMNS)


def provenance_summary(store: Store) -> dict[str, Any]:
    """Return versions and counts for headers: immunolab, schema, plugins in use, ingest counts."""
    from immunolab import __version__
    from immunolab.schema import SCHEMA_VERSION

    table = provenance_table(store)
    in_use = table[table["in_use"]]
    plugins = sorted({f"{p} {v}".strip() for p, v in zip(in_use["plugin"], in_use["plugin_version"], strict=True)})
    return {
        "immunolab_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "ingests_in_use": len(in_use),
        "ingests_superseded": len(table) - len(in_use),
        "plugins": plugins,
        "ingest_immunolab_versions": sorted(set(in_use["immunolab_version"])),
    }
