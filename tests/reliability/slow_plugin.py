"""A toy plugin whose parse takes a while and leaves marks, for tests that kill an ingest mid-batch.

Files are toy files (:mod:`tests.store.toy_plugin`) whose second line is ``SLEEP <seconds>``.
When ``IMMUNOLAB_TEST_MARKS`` names a folder, parse writes ``<file>.started`` before sleeping
and ``<file>.finished`` after, each holding the worker's pid and the wall-clock time, so a test
can tell whether a worker kept working after its parent was killed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa

from immunolab.plugins import Detection, ParseContext, ParsedAssay
from tests.store.toy_plugin import MAGIC, ToyPlugin

SLOW_MAGIC = MAGIC + b"\nSLEEP "


def _mark(path: Path, what: str) -> None:
    folder = os.environ.get("IMMUNOLAB_TEST_MARKS")
    if folder:
        (Path(folder) / f"{path.name}.{what}").write_text(f"{os.getpid()} {time.time()}")


class SlowToyPlugin(ToyPlugin):
    """Toy files that start with a ``SLEEP <seconds>`` line take that long to parse."""

    name = "slowtoy"

    def detect(self, head: bytes, filename: str) -> Detection | None:
        return Detection(self.name, "slow toy v1") if head.startswith(SLOW_MAGIC) else None

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay:
        lines = path.read_text().splitlines()
        _mark(path, "started")
        time.sleep(float(lines[1].split()[1]))
        _mark(path, "finished")
        pops = [ln.split(",") for ln in lines[2:] if ln]
        table = pa.table({"population": [n for n, _ in pops], "count": pa.array([int(c) for _, c in pops], pa.int64())})
        return ParsedAssay({"toy_counts": table}, n_events=int(sum(int(c) for _, c in pops)))


def slow_file(folder: Path, name: str, seconds: float, count: int) -> Path:
    """Write a slow toy file ``name`` taking ``seconds`` to parse, with one population of ``count`` events."""
    p = folder / name
    p.write_text(f"TOYASSAY v1\nSLEEP {seconds}\nLymphocytes,{count}\n")
    return p
