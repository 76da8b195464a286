"""Durable file-system primitives of the store, each a point where faults can be injected.

Every store write goes through :func:`write_file`, :func:`fsync_file`, :func:`fsync_dir` and
:func:`rename`. Tests arm :data:`FAULTS` to make the N-th call of one kind raise ``OSError``
(SQLite-style fault injection) and check the store stays consistent.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FAULTS", "FaultInjector", "fsync_dir", "fsync_file", "rename", "write_file"]


@dataclass
class FaultInjector:
    """Count store I/O operations by kind and fail the N-th one when armed."""

    counts: dict[str, int] = field(default_factory=dict)
    fail_at: dict[str, int] = field(default_factory=dict)

    def arm(self, kind: str, n: int) -> None:
        """Make the ``n``-th future operation of ``kind`` (write/fsync/rename) fail."""
        self.counts[kind] = 0
        self.fail_at[kind] = n

    def disarm(self) -> None:
        """Stop injecting faults and reset the counters."""
        self.counts.clear()
        self.fail_at.clear()

    def tick(self, kind: str) -> None:
        """Count one operation of ``kind``; raise ``OSError(EIO)`` if it is the armed one."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.fail_at.get(kind) == self.counts[kind]:
            raise OSError(errno.EIO, f"injected {kind} fault #{self.counts[kind]}")


FAULTS = FaultInjector()


def write_file(path: Path, writer: Callable[[Path], object]) -> None:
    """Create ``path`` with ``writer(path)`` (e.g. a Parquet writer), then fsync it."""
    FAULTS.tick("write")
    writer(path)
    fsync_file(path)


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path`` and fsync it."""
    write_file(path, lambda p: p.write_bytes(data))


def fsync_file(path: Path) -> None:
    """Flush a file's data to disk."""
    FAULTS.tick("fsync")
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry table to disk (makes renames and creations durable)."""
    FAULTS.tick("fsync")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems refuse fsync on directories
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def rename(src: Path, dst: Path) -> None:
    """Atomically rename ``src`` to ``dst`` (same file system)."""
    FAULTS.tick("rename")
    os.replace(src, dst)
