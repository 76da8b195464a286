"""Shared fixtures: where the real instrument files of ../shared/data are, and skip when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("IMMUNOLAB_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Return a path under ../shared/data, skipping the test when that folder is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared instrument data not available: {p} (set IMMUNOLAB_SHARED_DATA)")
    return p


@pytest.fixture
def shared_data() -> Path:
    """Return ../shared/data, skipping the test when it is absent."""
    return shared_path()


# The demo trial (generated once per session) is available to every test as ``demo_trial``.
from tests.demo.trial_fixture import demo_trial  # noqa: E402, F401

# A generated trial laid out like the repository after `make demo` (README and --help tests): ``pristine_sandbox``.
from tests.sandbox import pristine_sandbox  # noqa: E402, F401


@pytest.fixture(autouse=True)
def _fresh_curve_cache() -> None:
    """Start every test with an empty standard-curve cache (a test that patches the fit must see its patch)."""
    from immunolab.cytokine.curves import _fit_once

    _fit_once.cache_clear()
