"""Reliability tests: small by default, large with IMMUNOLAB_RELIABILITY=large (`make reliability`).

Tests record the figures they measured with the ``figures`` fixture; a large run writes them to
``tests/reliability/last_run.json``, from which ``python -m tests.reliability.render`` rewrites
the README's reliability section.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import pytest

LARGE = os.environ.get("IMMUNOLAB_RELIABILITY") == "large"
LAST_RUN = Path(__file__).with_name("last_run.json")
FIGURES: dict[str, dict[str, Any]] = {}


def scale(small: int, large: int) -> int:
    """Return the trial count for this run (``make test`` small, ``make reliability`` large)."""
    return large if LARGE else small


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Return a dict the test fills with the figures it measured (kept per test name)."""
    return FIGURES.setdefault(request.node.name, {})


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if LARGE and FIGURES:
        LAST_RUN.write_text(json.dumps({
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
