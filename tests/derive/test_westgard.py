"""Westgard rules over the controls of many plates reach the results of the offending plate as QC flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pandas as pd

import immunolab
from immunolab.derive import views
from tests.derive.test_reanalysis import store  # noqa: F401  (fixture: demo tubes + one xPONENT plate)


def _plates(values: list[float]) -> pd.DataFrame:
    rows = []
    for i, v in enumerate(values):
        qc = {"controls": [{"label": "Control1", "analyte": "IL-6", "concentration": v, "n": 2, "cv_pct": 3.0,
                            "low": None, "high": None, "in_range": None}]}
        rows.append({"plate_id": f"p{i:02d}", "run_study_day": 10 * i, "qc_json": json.dumps(qc)})
    return pd.DataFrame(rows)


class _Store:
    table_versions: ClassVar[dict[str, int]] = {"plate_qc": 1}


def test_a_control_far_off_its_history_flags_its_plate(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    history = [100.0, 102.0, 98.0, 101.0, 99.0, 100.5, 99.5, 101.5, 98.5, 100.0, 99.0, 101.0, 180.0]
    monkeypatch.setattr(views, "active_plates", lambda _s: _plates(history))
    flags = views.westgard_flags_by_plate(_Store())  # type: ignore[arg-type]
    assert flags[("p12", "IL-6")] == ["westgard_1_3s"]  # z = 3.3 with this history
    # the outlier lifts the mean: the ten runs before it sit below it (10_x), none breaks 1_3s
    assert all("westgard_1_3s" not in f for k, f in flags.items() if k[0] != "p12")


def test_the_flags_reach_the_measurements_of_that_plate_and_analyte_only(store: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    s = immunolab.open_store(store)
    m = s.to_pandas("measurements")
    plate = m.loc[m["assay"] == "cytokine", "lineage_key"].iloc[0].split(":")[0]
    monkeypatch.setattr(views, "westgard_flags_by_plate", lambda _s: {(plate, "IL-6"): ["westgard_2_2s"]})
    m = immunolab.open_store(store).to_pandas("measurements")
    flagged = m[m["qc_flags"].map(lambda f: "westgard_2_2s" in list(f))]
    assert len(flagged) and set(flagged["feature"]) == {"IL-6"} and set(flagged["assay"]) == {"cytokine"}
