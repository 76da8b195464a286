"""The store: Delta Lake tables, store versions, raw vault, reading, writing and verification (DESIGN section 4)."""

from immunolab.store.location import StoreLocation, location_for
from immunolab.store.read import Store, open_store

__all__ = ["Store", "StoreLocation", "location_for", "open_store"]
