"""Reliability tests: small by default, large with IMMUNOLAB_RELIABILITY=large (`make reliability`)."""

from __future__ import annotations

import os

LARGE = os.environ.get("IMMUNOLAB_RELIABILITY") == "large"


def scale(small: int, large: int) -> int:
    """Return the trial count for this run (``make test`` small, ``make reliability`` large)."""
    return large if LARGE else small
