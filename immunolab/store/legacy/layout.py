"""Where everything lives inside a store folder, and how a store is created and recognised.

::

    <store>/
      immunolab-store.json      marker: format, schema version
      tables/<table>/<ingest_id>.parquet
                                what readers read (pandas, DuckDB, Polars, Spark, R arrow)
      tables/ingests/ingests.parquet
                                the audit trail as a table (rebuilt from audit/log.jsonl)
      raw/<sha256>              read-only copy of every committed input file
      audit/log.jsonl           hash-chained record of every attempt (COMMITTED/SKIP/FAIL)
      commits/<ingest_id>/      commit markers (_ingest.json); a commit is one atomic rename
      .staging/<ingest_id>/     work in progress (hidden; readers never look here)
      .lock, .lock.holder       the writer lock

Tables are flat folders of Parquet files, one file per ingest, never hive-partitioned, so IDs
such as ``"001"`` are never re-typed by a reader's partition inference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from immunolab.errors import StoreError
from immunolab.store.legacy.schema_v1 import SCHEMA_VERSION

__all__ = ["MARKER", "StorePaths", "check_store", "create_store_dirs"]

MARKER = "immunolab-store.json"


@dataclass(frozen=True)
class StorePaths:
    """Paths of one store folder."""

    root: Path

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit" / "log.jsonl"

    @property
    def commits(self) -> Path:
        return self.root / "commits"

    @property
    def staging(self) -> Path:
        return self.root / ".staging"

    def table_dir(self, name: str) -> Path:
        return self.tables / name

    def table_file(self, name: str, ingest_id: str) -> Path:
        return self.tables / name / f"{ingest_id}.parquet"

    def raw_file(self, sha256: str) -> Path:
        return self.raw / sha256


def create_store_dirs(root: Path) -> StorePaths:
    """Create an empty store at ``root`` (idempotent) and return its paths."""
    paths = StorePaths(root)
    if root.exists() and not root.is_dir():
        raise StoreError("IML-STORE-001", "the store path exists and is not a folder", path=root,
                         hint="Choose a folder for --store.")
    marker = root / MARKER
    if root.is_dir() and any(root.iterdir()) and not marker.exists():
        raise StoreError(
            "IML-STORE-001",
            "the folder is not empty and is not an immunolab store",
            path=root,
            hint="Point --store at an existing store or at a new, empty folder.",
        )
    try:
        for d in (paths.tables, paths.raw, paths.audit_log.parent, paths.commits, paths.staging):
            d.mkdir(parents=True, exist_ok=True)
        if not marker.exists():
            tmp = root / (MARKER + ".tmp")
            tmp.write_text(json.dumps({"format": "immunolab-store", "schema_version": SCHEMA_VERSION}, indent=1))
            tmp.replace(marker)
    except OSError as exc:
        raise StoreError("IML-STORE-003", f"cannot create the store ({exc.strerror})", path=root,
                         hint="Check the folder's permissions and free space.") from None
    return paths


def check_store(root: Path) -> StorePaths:
    """Return the paths of the existing store at ``root`` or raise IML-STORE-001/005."""
    marker = root / MARKER
    if not marker.is_file():
        raise StoreError(
            "IML-STORE-001",
            "no immunolab store here",
            path=root,
            hint="Check --store; `immunolab ingest` creates a store on first use.",
        )
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError):
        raise StoreError("IML-STORE-004", "the store marker file is damaged", path=marker,
                         hint="Run `immunolab verify` and restore the marker from a backup.") from None
    version = int(meta.get("schema_version", 0))
    if version > SCHEMA_VERSION:
        raise StoreError(
            "IML-STORE-005",
            f"the store has schema version {version}, this immunolab reads up to {SCHEMA_VERSION}",
            path=root,
            hint="Upgrade immunolab (pip install -U immunolab).",
        )
    return StorePaths(root)
