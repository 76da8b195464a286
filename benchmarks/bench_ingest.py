"""(c) Ingest of a 200-file batch with 1 and with 2 worker processes (best of two runs each)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

N_FILES, N_EVENTS = 200, 20_000


def _ingest(files: list[Path], manifest: Path, store: Path, jobs: int) -> tuple[float, Any]:
    from immunolab.ingest import ingest_paths

    shutil.rmtree(store, ignore_errors=True)
    t0 = time.perf_counter()
    report = ingest_paths(files, store=store, manifest=manifest, jobs=jobs)
    return time.perf_counter() - t0, report


def run(work: Path) -> dict[str, Any]:
    """Ingest the batch into fresh stores with 1 and 2 workers (twice each, interleaved); return the speed-up.

    The 2-process speed-up of a pure-CPU loop is measured before and after: about 2.0 on a
    quiet 2-core machine, less when other programs use the cores (then no ingest can scale).
    """
    import os

    from benchmarks.run import parallel_headroom
    from benchmarks.trial_tubes import write_trial_tubes

    manifest, files = write_trial_tubes(work / "trial200", N_FILES, N_EVENTS, seed=1000)
    _ingest(files[:4], manifest, work / "store-warm", 1)  # warm the page cache and imports
    headroom = [parallel_headroom()]
    runs: dict[int, list[tuple[float, Any]]] = {1: [], 2: []}
    for jobs in (1, 2, 2, 1):
        runs[jobs].append(_ingest(files, manifest, work / f"store-j{jobs}", jobs))
    headroom.append(parallel_headroom())
    t1, r1 = min(runs[1], key=lambda tr: tr[0])
    t2, r2 = min(runs[2], key=lambda tr: tr[0])
    ok = all(r.counts["OK"] == N_FILES for rs in runs.values() for _t, r in rs)
    speedup = t1 / t2
    cores = os.cpu_count() or 1
    return {
        "title": f"(c) ingest {N_FILES} files x {N_EVENTS // 1000}k events, 1 vs 2 workers",
        "ours": f"2 workers {t2:.1f} s ({N_FILES / t2:.1f} files/s, {r2.n_events / t2 / 1e6:.2f} M events/s)",
        "anchor": f"1 worker {t1:.1f} s",
        "ratio": speedup,
        "ratio_text": f"{speedup:.2f}x speed-up on {cores} cores",
        "target": ">= 1.7x on 2 cores",
        "met": speedup >= 1.7 and ok,
        "all_committed": ok,
        "cpu_headroom": headroom,
        "seconds": {"1": [t for t, _r in runs[1]], "2": [t for t, _r in runs[2]]},
        "lines": [r1.summary_line(), r2.summary_line(),
                  f"2-process speed-up of a pure-CPU loop before / after: {headroom[0]:.2f}x / {headroom[1]:.2f}x "
                  "(~2.0 = the 2 cores were free)"],
    }
