"""Keep freed memory in the process heap so that block-wise numeric work does not page-fault.

Gating works on blocks of a few tens of thousands of events, allocating float64 temporaries of a
few hundred KiB each. glibc's allocator serves blocks that large with fresh ``mmap`` pages and
returns them on ``free``, or trims the heap top once more than 128 KiB are free, so every block
faults its memory in again: on the virtual machines this lab runs on that was half of the
gating time of a 1,000,000-event file (40,000 minor faults per file).

:func:`retain_freed_memory` raises the ``mmap`` threshold to 32 MiB and the trim threshold to
64 MiB (``mallopt``), once per process: allocations below 32 MiB come from the heap and freed
memory is reused instead of being handed back to the kernel. Peak memory is unchanged (only
memory already used is kept, at most 64 MiB of it free); arrays above 32 MiB (a whole events
matrix) are still mapped and unmapped. A no-op where the C library is not glibc, and when
``IMMUNOLAB_RETAIN_HEAP=0``.
"""

from __future__ import annotations

import os
import sys

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "retain_freed_memory"]

MMAP_THRESHOLD = 32 << 20  # bytes; glibc's upper limit for M_MMAP_THRESHOLD on 64-bit systems
TRIM_THRESHOLD = 64 << 20  # bytes
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers

_done: list[bool] = []


def retain_freed_memory() -> bool:
    """Set the allocator thresholds once per process; return True when they are in effect."""
    if _done:
        return _done[0]
    ok = False
    if sys.platform.startswith("linux") and os.environ.get("IMMUNOLAB_RETAIN_HEAP", "1") != "0":
        try:
            import ctypes

            libc = ctypes.CDLL(None)
            mallopt = getattr(libc, "mallopt", None)
            if mallopt is not None:
                ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
        except OSError:
            ok = False
    _done.append(ok)
    return ok
