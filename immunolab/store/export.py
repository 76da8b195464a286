"""Write a plain-Parquet snapshot of a store version (for readers with no Delta Lake support).

``<out>/<table>/part-0.parquet`` per stored table (committed rows only; identity and decision
tables as current records unless ``history``) and per view (``samples``, ``measurements``),
plus ``<out>/store_version.json``. Strings stay strings, no hive partitioning, so ``"001"``
stays ``"001"`` in every reader. CSV is not written here (use the report or ``compare``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from immunolab.store.read import Store

__all__ = ["export_parquet"]


def export_parquet(store: Store, out: str | Path, *, history: bool = False) -> dict[str, int]:
    """Write the snapshot; return rows written per table or view."""
    import pyarrow.parquet as pq

    from immunolab.outputs import mark_folder
    from immunolab.schema import TABLES

    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for name in store.tables():
        hist = history and name in TABLES and TABLES[name].layer in ("identity", "decision")
        table = store.table(name, history=True) if hist else store.table(name)
        folder = root / name
        folder.mkdir(exist_ok=True)
        for old in folder.glob("*.parquet"):
            old.unlink()
        pq.write_table(table, folder / "part-0.parquet", compression="zstd")
        written[name] = table.num_rows
    (root / "store_version.json").write_text(json.dumps(
        {"store": store.loc.uri, "store_version": store.version, "tables": written}, indent=1, sort_keys=True))
    mark_folder(root, "parquet")
    return written
