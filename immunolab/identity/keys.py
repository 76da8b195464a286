"""Keyed hashes of names: how a stored file or plate sample is matched to a corrected manifest.

File names and the sample names written on plates may hold patient names, so they never reach
the store. What is stored is ``HMAC-SHA256(store key, kind + name)``: the same name always gives
the same key in one store, so a corrected manifest row can be matched to what was ingested,
but the name cannot be read back from the key without the store's secret key (the ``key/`` table of the store).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["file_key", "normalise_name", "sample_key"]


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
