"""Crash safety: ingest killed with SIGKILL at random moments never loses or duplicates a file."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq

import immunolab
from immunolab.store.audit import AuditLog
from immunolab.store.verify import verify_store
from tests.reliability.conftest import scale
from tests.reliability.factories import make_study

REPO = Path(__file__).resolve().parents[2]
N_FILES = 60


def _run(store: Path, manifest: Path, inbox: Path, kill_after: float | None) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.driver", str(store), str(manifest), str(inbox)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is None:
        proc.wait(timeout=300)
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
        return
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def _every_file_readable(store: Path) -> None:
    for f in (store / "tables").rglob("*.parquet"):
        pq.read_table(f)  # raises if a torn file were visible
    for d in (store / "tables").iterdir():
        files = sorted(d.glob("*.parquet"))
        if files:
            ds.dataset(files).to_table()


def test_sigkill_at_random_moments_then_rerun_commits_each_file_exactly_once(tmp_path: Path, figures: dict) -> None:
    rng = random.Random(20261125)
    manifest, files = make_study(tmp_path / "study", N_FILES)
    inbox = files[0].parent
    trials = scale(5, 30)
    interrupted = 0
    t0 = time.monotonic()
    _run(tmp_path / "calibration-store", manifest, inbox, kill_after=None)
    batch = time.monotonic() - t0  # start-up + the whole batch: kills are drawn inside this span
    for trial in range(trials):
        store = tmp_path / f"store-{trial}"
        # the first kill lands anywhere from start-up to the end of the batch; later ones on a warm store
        cut = False
        for _ in range(2):
            _run(store, manifest, inbox, kill_after=rng.uniform(0.3 * batch, 0.95 * batch))
            if (store / "immunolab-store.json").exists():
                _every_file_readable(store)
                done = {r["source_sha256"] for r in AuditLog(store / "audit" / "log.jsonl").records()
                        if r["outcome"] == "COMMITTED"}
                cut = cut or 0 < len(done) < N_FILES
        interrupted += cut
        _run(store, manifest, inbox, kill_after=None)
        _every_file_readable(store)
        result = verify_store(store)
        assert result.ok, result.problems
        committed = [r for r in AuditLog(store / "audit" / "log.jsonl").records() if r["outcome"] == "COMMITTED"]
        per_sha = Counter(r["source_sha256"] for r in committed)
        assert len(per_sha) == N_FILES, f"trial {trial}: {len(per_sha)} files committed"
        assert max(per_sha.values()) == 1, f"trial {trial}: duplicate commits"
        s = immunolab.open_store(store)
        assert s.table("samples").num_rows == N_FILES
        assert s.table("flow_populations").num_rows == 20 * N_FILES
        # plain readers (no immunolab filtering) see exactly the same rows
        assert ds.dataset(sorted((store / "tables" / "samples").glob("*.parquet"))).count_rows() == N_FILES
    figures.update({"trials": trials, "kills": 2 * trials, "files_per_batch": N_FILES,
                    "trials_interrupted_mid_batch": interrupted, "duplicates": 0, "lost": 0,
                    "unreadable_tables": 0})
    # the kills really landed mid-batch (otherwise this test would prove nothing)
    assert interrupted >= max(1, trials // 3), f"only {interrupted} of {trials} trials were interrupted mid-batch"
