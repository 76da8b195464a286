"""Concurrency: several processes ingesting overlapping files commit each file exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import immunolab
from immunolab.errors import StoreLockedError
from immunolab.store.audit import AuditLog
from immunolab.store.layout import create_store_dirs
from immunolab.store.lock import store_lock
from tests.reliability.conftest import scale
from tests.reliability.factories import make_study

REPO = Path(__file__).resolve().parents[2]


def test_four_processes_with_overlapping_files_commit_each_once(tmp_path: Path, figures: dict) -> None:
    n_files = scale(24, 120)
    manifest, files = make_study(tmp_path / "study", n_files)
    store = tmp_path / "store"
    create_store_dirs(store)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = []
    for k in range(4):
        subset = files[k * n_files // 8: k * n_files // 8 + n_files // 2 + n_files // 4]  # overlapping windows
        procs.append(subprocess.Popen([sys.executable, "-m", "tests.reliability.driver", str(store), str(manifest),
                                       *map(str, subset)], cwd=REPO, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    expected = {f.name for k in range(4) for f in files[k * n_files // 8: k * n_files // 8 + n_files // 2 + n_files // 4]}
    recs = AuditLog(store / "audit" / "log.jsonl").records()
    committed = Counter(r["source_sha256"] for r in recs if r["outcome"] == "COMMITTED")
    assert len(committed) == len(expected)
    assert max(committed.values()) == 1
    assert immunolab.open_store(store).table("samples").num_rows == len(expected)
    assert sum(o[0].count('"status": "OK"') for o in outs) == len(expected)
    assert AuditLog(store / "audit" / "log.jsonl").check_chain() == []
    figures.update({"processes": 4, "distinct_files": len(expected),
                    "attempts": sum(1 for r in recs), "committed": len(committed), "duplicates": 0, "lost": 0})


HOLDER = """
import sys, time
from pathlib import Path
from immunolab.store.lock import store_lock
with store_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_second_lock_holder_gets_a_clear_wait_then_timeout_message(tmp_path: Path) -> None:
    store = tmp_path / "store"
    create_store_dirs(store)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store), "5"], env=env, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    waits: list[str] = []
    t0 = time.monotonic()
    with pytest.raises(StoreLockedError) as exc, store_lock(store, timeout=0.5, on_wait=waits.append):
        pass
    assert time.monotonic() - t0 < 4
    assert exc.value.code == "IML-STORE-002"
    assert f"pid {holder.pid}" in exc.value.message
    assert waits and "waiting up to" in waits[0]
    holder.kill()
    holder.wait()
    with store_lock(store, timeout=5):  # the kernel released the dead holder's lock
        pass
