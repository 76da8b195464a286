"""(c) Ingest of a 200-file batch with 1 and with 2 worker processes."""

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
    """Ingest the batch into fresh stores with 1 and 2 workers; return the speed-up."""
    import os

    from benchmarks.trial_files import make_batch

    manifest, files = make_batch(work / "batch200", N_FILES, N_EVENTS)
    _ingest(files[:4], manifest, work / "store-warm", 1)  # warm the page cache and imports
    t1, r1 = _ingest(files, manifest, work / "store-j1", 1)
    t2, r2 = _ingest(files, manifest, work / "store-j2", 2)
    ok = r1.counts["OK"] == N_FILES and r2.counts["OK"] == N_FILES
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
        "lines": [r1.summary_line(), r2.summary_line()],
    }
