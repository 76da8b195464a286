"""A scratch folder laid out like the repository after ``make demo``, for the README and --help tests.

``sample_data/`` is a generated trial (every kind of file the demo has, fewer events per tube)
and ``demo-store/`` its store, ingested as ``make demo`` does (the flow tubes with their events,
so the event-level examples run). The pristine folder is built once per session; each test
works on its own copy (:func:`copy_sandbox`) because the examples change the store.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def build_sandbox(root: Path) -> Path:
    """Generate the trial into ``root/sample_data`` and ingest it into ``root/demo-store``; return ``root``."""
    from immunolab.demo.trial import generate_trial
    from immunolab.ingest import ingest_paths

    data = root / "sample_data"
    generate_trial(data, n_events=4000, log=lambda _m: None)
    common = {"store": root / "demo-store", "manifest": data / "manifest.csv", "subjects": data / "subjects.csv", "jobs": 2}
    flow = ingest_paths([data / "flow"], write_events=True, **common)
    rest = ingest_paths([data / "plates", data / "beads",
                         *(data / "clinical" / f for f in ("hospital_labs.csv", "adverse_events.csv", "events.csv"))],
                        **common)
    failed = [o.message for r in (flow, rest) for o in r.outcomes if o.status == "FAIL"]
    assert not failed, failed
    return root


def copy_sandbox(pristine: Path, target: Path) -> Path:
    """Copy the pristine sandbox to ``target`` (a fresh folder) and return it."""
    shutil.copytree(pristine, target, symlinks=True)
    return target


def sandbox_env(root: Path) -> dict[str, str]:
    """Return the environment the examples run in: this venv's commands first on PATH, Agg plots."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = str(REPO)
    env["HOME"] = str(root)
    return env


@pytest.fixture(scope="session")
def pristine_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the session's pristine sandbox (do not change it: copy it with :func:`copy_sandbox`)."""
    return build_sandbox(tmp_path_factory.mktemp("sandbox"))
