"""Crash safety: ingest killed with SIGKILL at random moments never loses, duplicates or half-shows a file."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import immunolab
from immunolab.store.verify import verify_store
from tests.reliability.conftest import scale
from tests.reliability.factories import make_study

REPO = Path(__file__).resolve().parents[2]
N_FILES = 60


def _run(store: Path, manifest: Path, inbox: Path, kill_after: float | None, chunk: int | None = None,
         after_lines: int | None = None) -> None:
    """Run one ingest; kill it with SIGKILL after ``kill_after`` seconds or after ``after_lines`` output lines."""
    env = dict(os.environ, PYTHONPATH=str(REPO), IMMUNOLAB_TEST_CHUNK=str(chunk or 10))
    proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.driver", str(store), str(manifest), str(inbox)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if kill_after is None and after_lines is None:
        proc.wait(timeout=300)
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
        return
    if after_lines is not None:
        assert proc.stdout is not None
        for _ in range(after_lines):  # each line is a file outcome: the batch is in flight
            if not proc.stdout.readline():
                break
        time.sleep(kill_after or 0.0)
    else:
        time.sleep(kill_after or 0.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def _visible(store: Path) -> tuple[int, int, int]:
    """Return (sources, samples, toy rows) through the API: always whole files only."""
    s = immunolab.open_store(store)
    return s.table("sources").num_rows, s.table("samples").num_rows, s.table("toy_counts").num_rows


def test_sigkill_at_random_moments_then_rerun_commits_each_file_exactly_once(tmp_path: Path, figures: dict) -> None:
    from deltalake import DeltaTable

    rng = random.Random(20261130)
    manifest, files = make_study(tmp_path / "study", N_FILES)
    inbox = files[0].parent
    trials = scale(4, 30)
    interrupted = half_tables = inside = 0
    t0 = time.monotonic()
    _run(tmp_path / "calibration-store", manifest, inbox, kill_after=None)
    batch = time.monotonic() - t0
    for trial in range(trials):
        store = tmp_path / f"store-{trial}"
        for _ in range(2):
            if rng.random() < 0.75:  # mostly inside the batch, after some files were reported
                _run(store, manifest, inbox, kill_after=rng.uniform(0.0, 0.05), after_lines=rng.randrange(1, N_FILES))
            else:  # anywhere, start-up and the end included
                _run(store, manifest, inbox, kill_after=rng.uniform(0.3 * batch, 1.05 * batch))
            pending = store / "pending"
            inside += pending.is_dir() and any(pending.iterdir())  # killed with a batch in flight
            if (store / "immunolab-store.json").exists() and (store / "versions").exists():
                sources, samples, rows = _visible(store)
                assert samples == sources and rows == 20 * sources  # never half a file, never half a batch
                interrupted += 0 < sources < N_FILES
                raw = store / "tables" / "sources"
                created = raw.exists() and any((raw / "_delta_log").glob("*.json"))  # killed while creating it: no table
                if created and len(DeltaTable(str(raw)).to_pandas()) != sources:
                    half_tables += 1  # a batch was cut between its table commits: invisible through the API
        _run(store, manifest, inbox, kill_after=None)
        result = verify_store(store)
        assert result.ok, result.problems
        s = immunolab.open_store(store)
        shas = s.table("sources").column("source_sha256").to_pylist()
        assert len(shas) == len(set(shas)) == N_FILES, f"trial {trial}: {len(shas)} rows, {len(set(shas))} files"
        assert s.table("samples").num_rows == N_FILES
        assert s.table("toy_counts").num_rows == 20 * N_FILES
        # after recovery a plain Delta reader sees exactly what the API shows
        assert len(DeltaTable(str(store / "tables" / "sources")).to_pandas()) == N_FILES
    figures.update({"trials": trials, "kills": 2 * trials, "files_per_batch": N_FILES, "files_per_store_version": 10,
                    "kills_with_a_batch_in_flight": inside, "kills_between_table_commits": half_tables,
                    "runs_cut_between_store_versions": interrupted, "duplicates": 0, "lost": 0,
                    "half_batches_visible": 0})
    assert inside >= max(1, trials // 2), f"only {inside} kills landed with a batch in flight: this run proved little"
