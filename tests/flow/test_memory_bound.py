"""Ingest holds one sample's events at a time: peak memory does not grow with the number of files."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from immunolab.ingest import ingest_paths


def _peak_bytes(files: list[Path], store: Path, manifest: Path) -> int:
    tracemalloc.start()
    try:
        report = ingest_paths(files, store=store, manifest=manifest, jobs=1)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.counts["OK"] == len(files)
    return peak


def test_peak_memory_of_six_files_is_that_of_one(demo_trial: Path, tmp_path: Path) -> None:
    files = sorted((demo_trial / "flow").glob("*.fcs"))
    biggest = max(files, key=lambda f: f.stat().st_size)
    others = [f for f in files if f != biggest][:5]
    manifest = demo_trial / "manifest.csv"
    _peak_bytes([files[-1]], tmp_path / "warm", manifest)  # imports, caches and the template load
    one = _peak_bytes([biggest], tmp_path / "one", manifest)
    six = _peak_bytes([biggest, *others], tmp_path / "six", manifest)
    assert one > biggest.stat().st_size  # the measurement sees the event matrix
    assert six < 1.3 * one, f"six files peaked at {six / 2**20:.1f} MiB vs {one / 2**20:.1f} MiB for one"
