"""A full disk (RLIMIT_FSIZE) never loses a file reported OK: coded store errors, then a clean re-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import immunolab
from immunolab.store.verify import verify_store
from tests.reliability.conftest import scale
from tests.reliability.factories import make_study

REPO = Path(__file__).resolve().parents[2]


def _run(store: Path, manifest: Path, inbox: Path, fsize: int | None) -> tuple[int, list[dict]]:
    args = [sys.executable, "-m", "tests.reliability.driver", str(store), str(manifest), str(inbox)]
    if fsize is not None:
        args += ["--fsize", str(fsize)]
    p = subprocess.run(args, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
                       timeout=600)
    lines = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    assert "Traceback" not in p.stderr, p.stderr[-2000:]
    return p.returncode, lines


def test_writes_failing_at_every_size_never_report_a_file_ok_that_is_not_committed(tmp_path: Path, figures: dict) -> None:
    manifest, files = make_study(tmp_path / "study", 16)
    inbox = files[0].parent
    limits = [int(x) for x in (200, 1_000, 3_000, 6_000, 20_000)][: scale(3, 5)]
    failed_runs = 0
    for limit in limits:
        store = tmp_path / f"store-{limit}"
        code, lines = _run(store, manifest, inbox, limit)
        reported_ok = {o["sha"] for o in lines if o.get("status") == "OK"}
        if code != 0:
            failed_runs += 1
            assert code == 3 and any(o.get("error", o.get("code", "")).startswith("IML-STORE") for o in lines), lines[-3:]
        if (store / "immunolab-store.json").exists():
            committed = set(immunolab.open_store(store).table("sources").column("source_sha256").to_pylist())
            assert reported_ok <= committed, "a file was reported OK but is not committed"
        code, lines = _run(store, manifest, inbox, None)  # disk space is back
        assert code == 0
        s = immunolab.open_store(store)
        shas = s.table("sources").column("source_sha256").to_pylist()
        assert len(shas) == len(set(shas)) == len(files)
        result = verify_store(store)
        assert result.ok, result.problems
    figures.update({"limits_bytes": limits, "runs_refused_with_store_errors": failed_runs, "lost": 0, "duplicates": 0})
    assert failed_runs >= 1
