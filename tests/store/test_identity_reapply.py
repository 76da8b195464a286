"""Applying the manifest a store was ingested with changes nothing, for every kind of file the demo has."""

from __future__ import annotations

from pathlib import Path

from immunolab.identity import load_identity
from immunolab.identity.apply import plan_identity
from immunolab.store import open_store
from immunolab.store.layout import store_key


def test_the_ingest_manifest_applied_again_is_no_change(pristine_sandbox: Path) -> None:
    # flow tubes, plates (samples inside a file) and bead wells (one file per well, aliquot_of a serum sample):
    # a file whose samples have their own records keeps no patient, at ingest and on apply alike
    data = pristine_sandbox / "sample_data"
    store = open_store(pristine_sandbox / "demo-store")
    update = plan_identity(store, load_identity(data / "manifest.csv", data / "subjects.csv"),
                           store_key(store.loc), reason=None)
    assert update.corrections.lines() == []
    assert update.new_subjects == []
    assert update.empty
    assert update.notes == []  # every stored sample and patient is listed: nothing noted as left out
    beads = store.to_pandas("identity_samples")
    beads = beads[beads["assay"] == "bead_array"]
    assert len(beads) > 0 and beads.loc[beads["sample_key"] == "", "patient_id"].isna().all()
