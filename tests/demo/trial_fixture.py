"""Session fixture: the demo trial, from sample_data/ when generated there, else into a tmp dir.

Imported by the demo and template tests; generation is keyed by seed with ``if_absent``, so
the trial is simulated at most once per test session whichever module asks first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from immunolab.demo.trial import DEFAULT_SEED, generate_trial, is_complete

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DATA = REPO / "sample_data"


@pytest.fixture(scope="session")
def demo_trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the folder of the default-seed demo trial (generated once if absent)."""
    if (SAMPLE_DATA / "flow").is_dir() and is_complete(SAMPLE_DATA, seed=DEFAULT_SEED):
        return SAMPLE_DATA
    out = tmp_path_factory.getbasetemp() / "demo_trial"
    generate_trial(out, seed=DEFAULT_SEED, if_absent=True, log=lambda _msg: None)
    return out
