"""Replicates of one natural key become one row of the measurements view."""

from __future__ import annotations

import pandas as pd

from immunolab.derive.views import _combine_replicates


def _row(sample_id: str, value: float, censor: str = "none") -> dict[str, object]:
    return {"patient_id": "005", "visit_day": 3, "specimen": "serum", "panel": None, "assay": "cytokine",
            "feature": "IL-6", "measure": "concentration", "value": value, "censor": censor, "qc_flags": [],
            "sample_id": sample_id, "excluded": False}


def test_wells_of_one_sample_keep_its_id_once_and_different_samples_are_joined() -> None:
    same = _combine_replicates(pd.DataFrame([_row("005-D003-S", 10.0), _row("005-D003-S", 14.0)]))
    assert same[["sample_id", "value", "n_replicates"]].values.tolist() == [["005-D003-S", 12.0, 2]]
    two = _combine_replicates(pd.DataFrame([_row("005-D003-S-R", 10.0), _row("005-D003-S", 14.0)]))
    assert two["sample_id"].tolist() == ["005-D003-S+005-D003-S-R"]
