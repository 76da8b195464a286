"""A second identical ingest (e.g. `make demo` twice) leaves the store exactly as it was.

SKIP is a run outcome, not an audit record of a change: the terminal (and ``--json``) report
it, but no store version, no attempt record, no Delta commit and no `immunolab log` line is
added.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from deltalake import DeltaTable

import immunolab
from immunolab.cli import main
from tests.demo.trial_fixture import demo_trial  # noqa: F401  (session fixture)


def _demo_files(trial: Path) -> list[str]:
    """Return a few demo files of every kind: FCS tubes, a plate, bead-array wells of one run, a clinical table."""
    flow = sorted((trial / "flow").glob("*.fcs"))[:2]
    plate = sorted((trial / "plates").glob("*.csv"))[:1]
    beads = sorted((trial / "beads").rglob("*.fcs"))[:3]
    clinical = [trial / "clinical" / "events.csv"]
    files = [*flow, *plate, *beads, *clinical]
    assert all(f.is_file() for f in files) and len(files) == 7
    return [str(f) for f in files]


def _ingest(trial: Path, store: Path, files: list[str], *extra: str) -> Any:
    return CliRunner().invoke(main, ["ingest", *files, "--store", str(store), "--manifest", str(trial / "manifest.csv"),
                                     "--subjects", str(trial / "subjects.csv"), "-j", "1", *extra],
                              catch_exceptions=False)


def _state(store: Path) -> dict[str, Any]:
    """Return everything a re-run must not change: store version, audit records, Delta versions, log, info."""
    s = immunolab.open_store(store)
    runner = CliRunner()
    return {
        "store_version": s.version,
        "versions": [v.to_dict() for v in s.versions()],
        "attempts": sum(len(v.attempts) for v in s.versions()),
        "delta": {p.name: DeltaTable(str(p)).version() for p in sorted((store / "tables").iterdir())
                  if (p / "_delta_log").is_dir()},
        "log": runner.invoke(main, ["log", "--store", str(store)]).output,
        "info": json.loads(runner.invoke(main, ["store", "info", "--store", str(store), "--json"]).output),
    }


def test_a_second_identical_ingest_adds_no_audit_record_store_version_or_delta_commit(
        demo_trial: Path, tmp_path: Path) -> None:  # noqa: F811
    store = tmp_path / "store"
    files = _demo_files(demo_trial)
    first = _ingest(demo_trial, store, files)
    assert first.exit_code == 0, first.output
    before = _state(store)
    assert before["attempts"] == len(files) and before["delta"]

    second = _ingest(demo_trial, store, files)
    assert second.exit_code == 0, second.output
    assert f"{len(files)} file(s): 0 OK, {len(files)} SKIP, 0 FAIL" in second.output
    assert sum(line.startswith("SKIP ") for line in second.output.splitlines()) == len(files)
    assert _state(store) == before


def test_a_second_identical_json_ingest_reports_the_skips_and_changes_nothing(
        demo_trial: Path, tmp_path: Path) -> None:  # noqa: F811
    store = tmp_path / "store"
    files = _demo_files(demo_trial)[:3]
    _ingest(demo_trial, store, files)
    before = _state(store)
    second = _ingest(demo_trial, store, files, "--json")
    report = json.loads(second.output)
    assert report["counts"]["SKIP"] == len(files) and report["store_versions"] == []
    assert [f["status"] for f in report["files"]] == ["SKIP"] * len(files)
    assert _state(store) == before
