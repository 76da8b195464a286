"""The Parquet store: layout, atomic commit, reading and verification (DESIGN section 4)."""

from immunolab.store.read import Store, open_store

__all__ = ["Store", "open_store"]
