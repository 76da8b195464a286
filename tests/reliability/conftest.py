"""Reliability tests: small by default, large with IMMUNOLAB_RELIABILITY=large (`make reliability`).

Tests record the figures they measured with the ``figures`` fixture; a large run writes them to
``tests/reliability/last_run.json``, from which ``python -m tests.reliability.render`` rewrites
the README's reliability section.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

LARGE = os.environ.get("IMMUNOLAB_RELIABILITY") == "large"
#: code whose change makes the reliability figures stale (tests/reliability/test_figures_are_current.py)
MEASURED_PATHS = ("immunolab/store", "immunolab/ingest.py", "immunolab/ingest_batch.py", "immunolab/fcs", "assays")
REPO = Path(__file__).resolve().parents[2]
LAST_RUN = Path(__file__).with_name("last_run.json")
FIGURES: dict[str, dict[str, Any]] = {}


def scale(small: int, large: int) -> int:
    """Return the trial count for this run (``make test`` small, ``make reliability`` large)."""
    return large if LARGE else small


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Return a dict the test fills with the figures it measured (kept per test name)."""
    return FIGURES.setdefault(request.node.name, {})


def git(*args: str) -> str | None:
    """Return the stripped output of ``git ARGS`` in the repository, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if LARGE and FIGURES:
        dirty = git("status", "--porcelain", "--", *MEASURED_PATHS)
        LAST_RUN.write_text(json.dumps({
            "commit": git("rev-parse", "HEAD"),
            "uncommitted_changes": sorted(line[3:] for line in (dirty or "").splitlines()),
            "date": time.strftime("%Y-%m-%d"),
            "python": platform.python_version(),
            "exit_status": int(exitstatus),
            "figures": FIGURES,
        }, indent=2, sort_keys=True, default=str) + "\n")


@pytest.fixture(autouse=True)
def toy_plugin_registered() -> Any:
    """Register the toy plugin (and its fact table) in this process, as the driver does in its own."""
    from immunolab.plugins import get_registry, reset_registry
    from tests.store.toy_plugin import ToyPlugin

    reset_registry()
    get_registry([ToyPlugin()])
    yield
    reset_registry()
