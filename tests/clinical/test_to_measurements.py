"""Clinical results become visit measurements (assay clinical) by the nearest-visit rule."""

from __future__ import annotations

import pandas as pd

from immunolab.analysis.adam import build_adlb
from immunolab.analysis.measurements_view import measurements_view
from immunolab.clinical.to_measurements import clinical_measurements


def test_results_join_the_nearest_protocol_visit_within_one_day() -> None:
    res = pd.DataFrame({
        "patient_id": ["001"] * 6, "study_day": [0, 2, 4, 6, 6, 20], "test_code": ["CRP"] * 6,
        "value": [50.0, 40.0, 30.0, 10.0, 14.0, 1.0], "unit": ["mg/L"] * 6, "censor": ["none"] * 6,
    })
    subj = pd.DataFrame({"patient_id": ["001"], "arm": ["MSC"]})
    rows, note = clinical_measurements(res, subj, visit_days=(0, 3, 6, 10, 14, 28))
    got = rows.set_index("visit_day")
    assert got["value"].to_dict() == {0: 50.0, 3: 40.0, 6: 12.0}  # day 2 and 4 tie for visit 3: the earlier wins
    assert got.loc[6, "n_results"] == 2 and set(rows["assay"]) == {"clinical"} and set(rows["arm"]) == {"MSC"}
    assert "1 clinical result(s)" in note
    view = measurements_view(rows)
    assert view.set_index("visit_day").loc[6, "change"] == -38.0


def test_the_default_window_is_the_measurements_views_visit_window() -> None:
    """Docs and note said +-1 day while the store's view places Day 30 at Day 28 (+-10 % after Day 19)."""
    res = pd.DataFrame({"patient_id": ["001"] * 3, "study_day": [30, 45, 98], "test_code": ["CRP"] * 3,
                        "value": [3.0, 2.0, 1.0], "unit": ["mg/L"] * 3, "censor": ["none"] * 3})
    subj = pd.DataFrame({"patient_id": ["001"], "arm": ["MSC"]})
    rows, note = clinical_measurements(res, subj, visit_days=(0, 28, 90))
    assert rows.set_index("visit_day")["value"].to_dict() == {28: 3.0, 90: 1.0}
    assert note.startswith("1 clinical result(s) outside every protocol visit window (+-1 day up to Day 19")
    rows, note = clinical_measurements(res, subj, visit_days=(0, 28, 90), window_days=1)
    assert rows.empty and note.startswith("3 clinical result(s)")


def test_a_result_after_the_day_0_infusion_is_no_baseline() -> None:
    """A CRP of study day 1 was placed at visit Day 0 and became ABLFL=Y / BASE in ADLB."""
    res = pd.DataFrame({"patient_id": ["001"] * 3, "study_day": [1, 3, 14], "test_code": ["CRP"] * 3,
                        "value": [20.0, 30.0, 5.0], "unit": ["mg/L"] * 3, "censor": ["none"] * 3})
    subj = pd.DataFrame({"patient_id": ["001"], "arm": ["MSC"]})
    rows, note = clinical_measurements(res, subj, visit_days=(0, 3, 6, 10, 14, 28, 90, 180))
    assert rows.set_index("visit_day")["value"].to_dict() == {3: 30.0, 14: 5.0}
    assert note.startswith("1 clinical result(s) outside every protocol visit window") and "pre-dose" in note
    adlb = build_adlb(measurements_view(rows), subj)
    assert not (adlb["ABLFL"] == "Y").any() and adlb["BASE"].isna().all()
    rows, _ = clinical_measurements(res, subj, visit_days=(0, 2, 14))
    assert rows.set_index("visit_day")["value"].to_dict() == {2: 20.0, 14: 5.0}  # Day 1 is in Day 2's window
