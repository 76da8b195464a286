"""Activating a curve derivation for every plate (``--scope '*'``) names the plates that keep their fit.

The instrument's curves exist for a Luminex plate but never for a bead-array run (its wells
carry MFIs only); ``derive activate --kind curves --scope '*' --derivation instrument`` switched
the plate and printed "instrument is active" while the run silently stayed on its refit.
"""

from __future__ import annotations

from pathlib import Path

import immunolab
from immunolab.derive.run import activate


def test_activating_the_instrument_curves_everywhere_names_the_bead_run_that_keeps_its_refit(
        plate_and_bead_run: Path) -> None:
    store = plate_and_bead_run
    rec = activate(immunolab.open_store(store), kind="curves", scope="*", derivation_id="instrument",
                   reason="vendor curves")
    assert rec.summary.startswith("curves of *: instrument is active")
    assert "BEADRUN-01 has no instrument curves: it uses its own plate choice if one was made, else the first fit" \
        in rec.summary  # not "keeps its fit": an earlier '*' choice it followed no longer applies
    assert "PLATE-01" not in rec.summary
