"""Keyed hashes of names: how a stored file or plate sample is matched to a corrected manifest.

File names and the sample names written on plates may hold patient names, so they never reach
the store. What is stored is ``HMAC-SHA256(store key, kind + name)``: the same name always gives
the same key in one store, so a corrected manifest row can be matched to what was ingested,
but the name cannot be read back from the key without the store's secret key (the ``key/`` table of the store).
A patient's Day 0 is kept the same way (``day0_key``), so a corrected ``day0_date`` is noticed.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

__all__ = ["day0_key", "file_key", "normalise_name", "sample_key"]


def normalise_name(name: str) -> str:
    """Return ``name`` with surrounding and repeated white space removed (how plate names are matched)."""
    return " ".join(str(name).split())


def _key(secret: bytes, kind: str, name: str) -> str:
    return hmac.new(secret, f"{kind}\x00{name}".encode(), hashlib.sha256).hexdigest()[:32]


def sample_key(secret: bytes, name: str) -> str:
    """Return the stored key of a sample name written on a plate."""
    return _key(secret, "sample", normalise_name(name))


def file_key(secret: bytes, base_name: str) -> str:
    """Return the stored key of an input file's base name."""
    return _key(secret, "file", base_name)


def day0_key(secret: bytes, patient_id: str, day0: date) -> str:
    """Return the stored key of a patient's Day 0 (the date itself never reaches the store)."""
    return _key(secret, "day0", f"{patient_id}\x00{day0.isoformat()}")
