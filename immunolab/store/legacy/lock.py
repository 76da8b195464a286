"""The store lock: one writer commits at a time; others wait with a clear message or time out.

The lock is an advisory ``flock`` on ``<store>/.lock``; the holder writes who it is (pid, host,
command, since when) into ``<store>/.lock.holder`` so a waiting process can say what it waits for.
The kernel releases ``flock`` when the holder dies, so a killed ingest never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from immunolab.errors import StoreLockedError

__all__ = ["DEFAULT_LOCK_TIMEOUT", "store_lock"]

DEFAULT_LOCK_TIMEOUT = 600.0


def _holder(root: Path) -> str:
    try:
        info = json.loads((root / ".lock.holder").read_text())
        return f"pid {info.get('pid')} on {info.get('host')} ({info.get('command')}) since {info.get('since')}"
    except (OSError, ValueError):
        return "another process"


@contextmanager
def store_lock(
    root: Path,
    *,
    timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the store lock for the duration of the ``with`` block.

    Waits up to ``timeout`` seconds; calls ``on_wait(message)`` once when it has to wait; raises
    IML-STORE-002 naming the holder when the wait times out.
    """
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        warned = False
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not warned and on_wait is not None:
                    on_wait(f"store is locked by {_holder(root)}; waiting up to {timeout:.0f} s")
                    warned = True
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        "IML-STORE-002",
                        f"the store lock is held by {_holder(root)} and was not released within {timeout:.0f} s",
                        path=root,
                        hint="Wait for that ingest to finish, or raise --lock-timeout. "
                        "A killed process releases the lock automatically.",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(os.path.basename(a) for a in sys.argv[:2]),
            "since": time.strftime("%H:%M:%S"),
        }
        with suppress(OSError):
            (root / ".lock.holder").write_text(json.dumps(holder))
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
