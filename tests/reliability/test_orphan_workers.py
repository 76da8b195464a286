"""Killing only the parent of a ``--jobs 2`` ingest: its workers exit within seconds and commit nothing.

The first release's ``ProcessPoolExecutor`` workers outlived a ``kill -9`` of ``immunolab ingest``
for minutes (~200 MB each) and one still committed a file. Here the real CLI ingests slow toy
files with two workers; the test kills the parent alone (SIGKILL, as the OOM killer or a
closed SSH session would) and checks that every worker is gone within a few seconds, no worker
finished a file after the kill, the store did not change, and the next writer rolls the
interrupted batch back and commits every file exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.reliability.slow_plugin import SlowToyPlugin, slow_file

REPO = Path(__file__).resolve().parents[2]
GONE_WITHIN_S = 5.0
SUBJECTS = "patient_id,arm,site,age,sex\n001,MSC,A,40,F\n002,control,A,50,M\n"
CLI = ("import sys; from tests.reliability.slow_plugin import SlowToyPlugin; from immunolab.plugins import get_registry;"
       "get_registry([SlowToyPlugin()]); from immunolab.cli import main; main(sys.argv[1:])")


def _study(root: Path, n: int, seconds: float) -> tuple[Path, Path]:
    inbox = root / "inbox"
    inbox.mkdir(parents=True)
    rows = ["file,sample_id,patient_id,visit_day,specimen,panel"]
    for i in range(n):
        slow_file(inbox, f"tube{i}.toy", seconds, 1000 + i)
        rows.append(f"tube{i}.toy,S{i},{'001' if i % 2 else '002'},{(0, 3, 6, 10, 14, 28, 90, 180)[i // 2]},PBMC,T")
    (root / "subjects.csv").write_text(SUBJECTS)
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return inbox, root / "manifest.csv"


def _alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            continue
    return out


def _wait_for(cond: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def _store_files(store: Path) -> dict[str, int]:
    return {str(p.relative_to(store)): p.stat().st_size for p in store.rglob("*") if p.is_file()}


def _versions(store: Path) -> int:
    import immunolab

    return immunolab.open_store(store).version if (store / "immunolab-store.json").exists() else 0


def test_killing_only_the_parent_ends_its_workers_and_they_never_commit(tmp_path: Path, figures: dict) -> None:
    inbox, manifest = _study(tmp_path / "study", 12, 2.0)
    store, marks = tmp_path / "store", tmp_path / "marks"
    marks.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), IMMUNOLAB_TEST_MARKS=str(marks))
    parent = subprocess.Popen([sys.executable, "-c", CLI, "ingest", str(inbox), "--store", str(store),
                               "--manifest", str(manifest), "--jobs", "2", "--quiet"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert _wait_for(lambda: len(list(marks.glob("*.started"))) >= 2, 60), "the workers never started"
        workers = [c.pid for c in psutil.Process(parent.pid).children(recursive=True)]
        assert len(workers) >= 2, workers
        before_versions = _versions(store)
        parent.send_signal(signal.SIGKILL)
        killed_at = time.time()
        parent.wait(10)
    finally:
        if parent.poll() is None:
            parent.kill()
    gone = _wait_for(lambda: not _alive(workers), GONE_WITHIN_S)
    seconds_to_exit = time.time() - killed_at
    leftovers = _alive(workers)
    for pid in leftovers:  # never leave them behind, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert gone, f"workers {leftovers} still alive {GONE_WITHIN_S} s after their parent was killed"
    snapshot = _store_files(store)
    time.sleep(3.0)  # a surviving worker would finish its 2-s file (and write) within this time
    finished_after = [p.name for p in marks.glob("*.finished") if float(p.read_text().split()[1]) > killed_at]
    assert finished_after == [], f"a worker finished {finished_after} after its parent was killed"
    assert _store_files(store) == snapshot, "something wrote into the store after the parent was killed"
    assert _versions(store) == before_versions, "a store version was committed after the parent was killed"
    assert list((store / "pending").glob("*.json")), "the interrupted batch should still be pending"

    # the next writer rolls the interrupted batch back and commits every file exactly once
    import immunolab
    from immunolab.ingest import ingest_paths
    from immunolab.plugins import get_registry, reset_registry
    from immunolab.store.verify import verify_store

    reset_registry()
    get_registry([SlowToyPlugin()])
    for p in inbox.glob("*.toy"):
        p.write_text(p.read_text().replace("SLEEP 2.0", "SLEEP 0"))
    report = ingest_paths([inbox], store=store, manifest=manifest, jobs=2)
    assert report.counts["OK"] == 12, [o.message for o in report.outcomes if o.status == "FAIL"]
    s = immunolab.open_store(store)
    shas = s.table("sources").column("source_sha256").to_pylist()
    assert len(shas) == len(set(shas)) == 12
    assert not list((store / "pending").glob("*.json"))
    assert verify_store(store).ok
    figures.update({"workers": len(workers), "seconds_until_workers_gone": round(seconds_to_exit, 2),
                    "finished_after_kill": 0, "store_versions_after_kill": 0})


@pytest.mark.parametrize("mode", ["prctl", "watchdog"])
def test_a_pool_worker_exits_when_its_parent_dies_by_either_mechanism(tmp_path: Path, mode: str) -> None:
    """The parent-death signal and the parent-pid watchdog each end a worker on their own."""
    code = f"""
import os, sys, time
import immunolab.workers as w
if {mode!r} == "watchdog":
    w.PR_SET_PDEATHSIG = -1  # an invalid prctl option: only the watchdog remains
with w.process_pool(1) as pool:
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 60)
    time.sleep(60)
"""
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    worker = int(parent.stdout.readline())
    parent.kill()
    parent.wait(10)
    gone = _wait_for(lambda: not _alive([worker]), GONE_WITHIN_S)
    if not gone:
        os.kill(worker, signal.SIGKILL)
    assert gone, f"{mode}: the worker outlived its parent"
