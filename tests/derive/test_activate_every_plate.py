"""Activating a curve derivation for every plate (``--scope '*'``) names the plates that keep their fit.

The instrument's curves exist for a Luminex plate but never for a bead-array run (its wells
carry MFIs only); ``derive activate --kind curves --scope '*' --derivation instrument`` switched
the plate and printed "instrument is active" while the run silently stayed on its refit.
"""

from __future__ import annotations

import csv
from pathlib import Path

import immunolab
from immunolab.derive.run import activate
from immunolab.ingest import ingest_paths


def test_activating_the_instrument_curves_everywhere_names_the_bead_run_that_keeps_its_refit(
        demo_trial: Path, tmp_path: Path) -> None:
    with (demo_trial / "manifest.csv").open(encoding="utf-8") as fh:
        standards = [r["file"] for r in csv.DictReader(fh) if r.get("assay") == "bead_array" and r["role"] == "standard"]
    files = [demo_trial / "plates" / "cytokine_plate_01.csv", *(demo_trial / "beads" / f for f in standards)]
    report = ingest_paths(files, store=tmp_path / "s", manifest=demo_trial / "manifest.csv",
                          subjects=demo_trial / "subjects.csv", jobs=1)
    assert report.counts["OK"] == len(files), [o.message for o in report.outcomes if o.status != "OK"]
    rec = activate(immunolab.open_store(tmp_path / "s"), kind="curves", scope="*", derivation_id="instrument",
                   reason="vendor curves")
    assert rec.summary.startswith("curves of *: instrument is active")
    assert "BEADRUN-01 keeps its fit (no instrument curves computed for it)" in rec.summary
    assert "PLATE-01" not in rec.summary
