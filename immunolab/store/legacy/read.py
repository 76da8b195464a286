"""Read a store: committed tables as pyarrow / pandas, the audit trail, and a summary.

Readers see only committed ingests (files whose ingest has a COMMITTED audit record), and by
default not the superseded ones. Every table can also be read without immunolab::

    pandas.read_parquet("store/tables/samples")
    duckdb.sql("SELECT * FROM read_parquet('store/tables/samples/*.parquet')")

(join ``tables/ingests`` on ``ingest_id`` and drop rows whose ingest has ``superseded_by`` set
to see exactly what :meth:`Store.table` returns).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from immunolab.errors import StoreError
from immunolab.store.legacy.audit import AuditLog
from immunolab.store.legacy.layout import StorePaths, check_store, create_store_dirs
from immunolab.store.legacy.schema_v1 import TABLES, table_spec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Store", "open_store"]


class Store:
    """A store folder opened for reading (writes go through :mod:`immunolab.ingest`)."""

    def __init__(self, paths: StorePaths) -> None:
        self.paths = paths
        self.root = paths.root
        self.log = AuditLog(paths.audit_log)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def committed(self, *, include_superseded: bool = False) -> dict[str, dict[str, Any]]:
        """Return COMMITTED audit records by ingest id (``superseded_by`` filled in)."""
        recs = self.log.committed()
        if include_superseded:
            return recs
        return {k: v for k, v in recs.items() if not v.get("superseded_by")}

    def table_files(self, name: str, *, include_superseded: bool = False) -> list[Path]:
        """Return the Parquet files of table ``name`` that belong to committed ingests."""
        table_spec(name)
        d = self.paths.table_dir(name)
        if not d.is_dir():
            return []
        ok = self.committed(include_superseded=include_superseded)
        return sorted(p for p in d.glob("*.parquet") if p.stem in ok)

    def tables(self) -> list[str]:
        """Return the names of tables holding at least one committed row, plus ``ingests``."""
        names = [n for n in TABLES if n != "ingests" and self.table_files(n, include_superseded=True)]
        return sorted([*names, "ingests"])

    def table(self, name: str, *, include_superseded: bool = False, columns: list[str] | None = None) -> pa.Table:
        """Return table ``name`` as one pyarrow Table with its declared schema."""
        spec = table_spec(name)
        if name == "ingests":
            t = self.log.to_table()
            return t.select(columns) if columns else t
        files = self.table_files(name, include_superseded=include_superseded)
        if not files:
            t = spec.schema.empty_table()
            return t.select(columns) if columns else t
        if spec.extra_column_type is not None:
            parts = [pq.read_table(f, columns=columns) for f in files]
            return pa.concat_tables(parts, promote_options="permissive")
        try:
            # one dataset scan over every file, with the declared schema (IDs stay strings)
            return ds.dataset([str(f) for f in files], schema=spec.schema, format="parquet").to_table(columns=columns)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise StoreError(
                "IML-STORE-004",
                f"table {name} has files with different schemas ({exc})",
                path=self.root,
                hint="Run `immunolab verify`.",
            ) from None

    def to_pandas(self, name: str, **kwargs: Any) -> pd.DataFrame:
        """Return table ``name`` as a pandas DataFrame (IDs stay strings)."""
        return self.table(name, **kwargs).to_pandas()

    def summary(self) -> dict[str, Any]:
        """Return a PHI-free summary: rows per table, ingests by outcome, patients and visits."""
        recs = self.log.records()
        outcomes: dict[str, int] = {}
        for r in recs:
            outcomes[r.get("outcome", "?")] = outcomes.get(r.get("outcome", "?"), 0) + 1
        rows = {}
        for name in self.tables():
            if name == "ingests":
                rows[name] = len(recs)
            else:
                rows[name] = sum(pq.ParquetFile(f).metadata.num_rows for f in self.table_files(name))
        samples = self.table("samples", columns=["patient_id", "visit_day", "arm", "assay_kind"])
        return {
            "store": str(self.root),
            "tables": rows,
            "attempts": outcomes,
            "committed_ingests": len(self.committed()),
            "superseded_ingests": len(self.committed(include_superseded=True)) - len(self.committed()),
            "patients": len(set(samples.column("patient_id").to_pylist())),
            "samples": samples.num_rows,
        }


def open_store(path: str | Path, *, create: bool = False) -> Store:
    """Open the store at ``path`` (``create=True`` makes an empty one if absent)."""
    root = Path(path)
    paths = create_store_dirs(root) if create else check_store(root)
    return Store(paths)
