"""Worker processes that die with their parent and never commit after it is gone.

``ProcessPoolExecutor`` does not notice when its parent is killed (``kill -9``): its workers
would go on, and could write into the store. Each worker started here asks the kernel to send
it SIGKILL when its parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``) and, on every platform, runs
a watchdog thread that ends the process as soon as its parent pid changes. Workers only stage
data; the parent alone commits, so a worker outliving its parent could not make anything visible
anyway, and the watchdog makes sure it does not even leave files behind for long.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["WATCHDOG_SECONDS", "die_with_parent", "process_pool"]

WATCHDOG_SECONDS = 0.5
PR_SET_PDEATHSIG = 1


def _watch(parent: int) -> None:
    while True:
        time.sleep(WATCHDOG_SECONDS)
        if os.getppid() != parent:
            os._exit(70)


def die_with_parent(parent: int) -> None:
    """Make this (worker) process exit when ``parent`` dies (pool initializer)."""
    with contextlib.suppress(Exception):  # not Linux, or no libc: the watchdog still works
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(70)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="immunolab-parent-watchdog").start()


def _start_worker(parent: int, setup: Callable[..., None] | None, setup_args: tuple[Any, ...]) -> None:
    die_with_parent(parent)
    if setup is not None:
        setup(*setup_args)


@contextlib.contextmanager
def process_pool(jobs: int, *, setup: Callable[..., None] | None = None,
                 setup_args: tuple[Any, ...] = ()) -> Iterator[ProcessPoolExecutor]:
    """Yield a process pool whose workers die with this process (fork where available).

    ``setup(*setup_args)`` runs once in each worker as it starts: state every task needs (a
    batch's options) reaches a worker once, inherited through fork, instead of being pickled
    with every task.
    """
    import multiprocessing as mp

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_start_worker,
                               initargs=(os.getpid(), setup, setup_args))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
