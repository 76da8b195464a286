"""Stores the derivation tests share."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from immunolab.ingest import ingest_paths


@pytest.fixture
def plate_and_bead_run(demo_trial: Path, tmp_path: Path) -> Path:
    """Return a store holding the demo's cytokine plate 01 and the standards of its bead-array run."""
    with (demo_trial / "manifest.csv").open(encoding="utf-8") as fh:
        standards = [r["file"] for r in csv.DictReader(fh) if r.get("assay") == "bead_array" and r["role"] == "standard"]
    files = [demo_trial / "plates" / "cytokine_plate_01.csv", *(demo_trial / "beads" / f for f in standards)]
    report = ingest_paths(files, store=tmp_path / "s", manifest=demo_trial / "manifest.csv",
                          subjects=demo_trial / "subjects.csv", jobs=1)
    assert report.counts["OK"] == len(files), [o.message for o in report.outcomes if o.status != "OK"]
    return tmp_path / "s"
