"""Memory budget of reading one FCS file: refuse, before allocating, a file the machine cannot hold.

Guarantee (measured by ``benchmarks/bench_memory.py`` and ``tests/reliability/test_memory_budget.py``):
ingesting one FCS file needs at most :data:`MEMORY_FACTOR` times its event matrix on top of the
running process, where the event matrix is ``$TOT x $PAR`` values of at least 4 bytes (float32;
float64 and 64-bit integer files count 8 bytes; delimited ASCII DATA counts
:data:`ASCII_BYTES_PER_VALUE`, as its text is split in memory). The reader computes that need
from the HEADER and TEXT alone and, when it exceeds the memory available right now, raises
IML-FCS-042 before it reads a single event: a 2 GB file with a valid header costs nothing to refuse.

Available memory is the smallest of: the system's available memory (``psutil``), the free part
of the cgroup memory limit (containers, batch schedulers; v1 and v2), the free part of
``RLIMIT_AS``, and the ``IMMUNOLAB_MAX_FILE_MEMORY`` environment variable (bytes, or with a
``K``/``M``/``G`` suffix) that a lab sets to keep room for other work. With ``--jobs N`` each
worker checks when it starts decoding, so a later worker sees what an earlier one took.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

from immunolab.errors import InputError

__all__ = ["ASCII_BYTES_PER_VALUE", "ENV_LIMIT", "MEMORY_FACTOR", "available_memory", "check_memory",
           "parse_size", "reading_memory"]

#: peak memory of ingesting one file, in event matrices (measured 1.4x for a 1M-event tube)
MEMORY_FACTOR = 4
#: memory per value of delimited ASCII DATA while it is split (bytes object + list slot + float64)
ASCII_BYTES_PER_VALUE = 64
#: environment variable that caps the memory one file may use
ENV_LIMIT = "IMMUNOLAB_MAX_FILE_MEMORY"
_UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "KIB": 2**10, "M": 2**20, "MB": 2**20, "MIB": 2**20,
          "G": 2**30, "GB": 2**30, "GIB": 2**30, "T": 2**40, "TB": 2**40, "TIB": 2**40}


def parse_size(text: str) -> int:
    """Return a size such as ``4G``, ``512M``, ``1.5GiB`` or ``123456`` in bytes (ValueError when malformed)."""
    s = text.strip().upper().replace(" ", "")
    number = s.rstrip("KMGTIB")
    unit = s[len(number):]
    if unit not in _UNITS or not number:
        raise ValueError(text)
    value = float(number)
    if not value >= 0:
        raise ValueError(text)
    return int(value * _UNITS[unit])


def reading_memory(n_events: int, n_channels: int, bytes_per_value: int, *, ascii_data: bool = False) -> int:
    """Return the memory (bytes) ingesting a file of ``n_events`` x ``n_channels`` may need (the budget rule)."""
    per_value = ASCII_BYTES_PER_VALUE if ascii_data else max(4, bytes_per_value)
    return MEMORY_FACTOR * n_events * n_channels * per_value


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and text.isascii() else None


def _cgroup_free() -> int | None:
    """Return the free part of this process's cgroup memory limit (v2, then v1), None without a limit."""
    root = Path("/sys/fs/cgroup")
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        limit, usage = _read_int(root / limit_file), _read_int(root / usage_file)
        if limit is not None and usage is not None and limit < 2**60:
            return max(0, limit - usage)
    return None


def _address_space_free() -> int | None:
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    import psutil

    return max(0, soft - psutil.Process().memory_info().vms)


def available_memory() -> tuple[int, str]:
    """Return (bytes one file may use now, what limits it) - see the module doc."""
    import psutil

    candidates = [(int(psutil.virtual_memory().available), "available system memory")]
    if (free := _cgroup_free()) is not None:
        candidates.append((free, "free memory of the container's limit (cgroup)"))
    if (free := _address_space_free()) is not None:
        candidates.append((free, "free address space (ulimit -v)"))
    raw = os.environ.get(ENV_LIMIT)
    if raw:
        try:
            candidates.append((parse_size(raw), f"{ENV_LIMIT}={raw}"))
        except ValueError:
            raise InputError("IML-FCS-042", f"{ENV_LIMIT}={raw!r} is not a size",
                             hint=f"Set {ENV_LIMIT} to bytes or a size such as 4G or 512M, or unset it.") from None
    return min(candidates)


def check_memory(n_events: int, n_channels: int, bytes_per_value: int, *, label: str, ascii_data: bool = False) -> None:
    """Raise IML-FCS-042 when reading the events would exceed the memory available now (nothing allocated)."""
    need = reading_memory(n_events, n_channels, bytes_per_value, ascii_data=ascii_data)
    if need == 0:
        return
    have, source = available_memory()
    if need <= have:
        return
    mib = 2**20
    raise InputError(
        "IML-FCS-042",
        f"the file declares {n_events:,} events x {n_channels} channels; ingesting it may need {need / mib:,.0f} MiB "
        f"({MEMORY_FACTOR} x its event matrix) but only {have / mib:,.0f} MiB are available ({source})",
        path=label,
        hint="Ingest it on a machine with more memory, with fewer --jobs, or after closing other programs; "
        f"{ENV_LIMIT} sets the limit explicitly. If the event count is wrong, the file is damaged: re-export it.",
    )
