"""The measurements view: baseline, change, log10, duplicates and names, as specified."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from immunolab.analysis.measurements_view import VIEW_COLUMNS, measurements_view
from immunolab.errors import InputError


def rows(*records: tuple) -> pd.DataFrame:
    """Build a measurements frame from (patient, day, feature, value[, censor, ingest, lineage_key, assay])."""
    out = []
    for r in records:
        pid, day, feature, value, *rest = r
        censor = rest[0] if len(rest) > 0 else "none"
        ingest = rest[1] if len(rest) > 1 else "ing-20260101T000000-aaaa"
        lineage = rest[2] if len(rest) > 2 else None
        assay = rest[3] if len(rest) > 3 else "cytokine"
        out.append({"patient_id": pid, "visit_day": day, "arm": "MSC" if pid == "001" else "control",
                    "assay": assay, "feature": feature, "measure": "concentration" if assay == "cytokine" else "pct_parent",
                    "value": value, "unit": "pg/mL", "censor": censor, "ingest_id": ingest,
                    "lineage_key": lineage, "sample_id": f"{pid}-{day}"})
    return pd.DataFrame(out)


def test_change_and_percent_change_are_relative_to_the_day_0_value() -> None:
    v = measurements_view(rows(("001", 0, "IL-6", 10.0), ("001", 3, "IL-6", 25.0), ("001", 6, "IL-6", 5.0)))
    got = v.set_index("visit_day")
    assert list(got["baseline_value"]) == [10.0, 10.0, 10.0]
    assert list(got["change"]) == [0.0, 15.0, -5.0]
    assert list(got["pct_change"]) == [0.0, 150.0, -50.0]
    assert got.loc[3, "log10_value"] == pytest.approx(np.log10(25.0))
    assert got.loc[3, "log10_change"] == pytest.approx(np.log10(2.5))
    assert list(v.columns[: len(VIEW_COLUMNS)]) == VIEW_COLUMNS


def test_a_patient_without_day_0_has_no_baseline_and_no_change() -> None:
    v = measurements_view(rows(("002", 3, "IL-6", 12.0), ("002", 6, "IL-6", 8.0)))
    assert v["baseline_value"].isna().all() and v["change"].isna().all() and v["pct_change"].isna().all()


def test_ids_stay_strings_and_patient_ids_keep_leading_zeros() -> None:
    v = measurements_view(rows(("001", 0, "IL-6", 1.0)))
    assert v.loc[0, "patient_id"] == "001"


def test_values_at_or_below_zero_get_half_the_smallest_positive_value_before_log10_and_are_flagged() -> None:
    v = measurements_view(rows(("001", 0, "IL-6", 0.0), ("001", 3, "IL-6", 4.0), ("002", 0, "IL-6", 8.0)))
    zero = v[v["value"] == 0.0].iloc[0]
    assert zero["log10_substituted"]
    assert zero["log10_value"] == pytest.approx(np.log10(2.0))
    assert not v.loc[v["value"] > 0, "log10_substituted"].any()


def test_censor_codes_give_censored_and_detectable_flags() -> None:
    v = measurements_view(rows(("001", 0, "IL-6", 0.5, "below_lloq"), ("001", 3, "IL-6", 900.0, "above_uloq"),
                               ("001", 6, "IL-6", 5.0, "none"), ("001", 10, "IL-6", np.nan, "not_available")))
    by_day = v.set_index("visit_day")
    assert list(by_day["censored"]) == [True, True, False, False]
    assert list(by_day["detectable"]) == [False, True, True, True]
    assert np.isnan(by_day.loc[10, "value"])  # kept, not dropped


def test_the_latest_ingest_wins_when_a_value_was_measured_twice() -> None:
    v = measurements_view(rows(("001", 0, "IL-6", 10.0, "none", "ing-20260101T000000-aaaa"),
                               ("001", 0, "IL-6", 12.0, "none", "ing-20260301T000000-bbbb")))
    assert len(v) == 1
    assert v.loc[0, "value"] == 12.0 and v.loc[0, "n_duplicates"] == 1


def test_two_flow_populations_with_the_same_name_are_kept_apart_by_gate_path() -> None:
    v = measurements_view(rows(
        ("001", 0, "CD4+", 40.0, "none", "ing-a", "s1:/Lymphocytes/T cells/CD4+", "flow"),
        ("001", 0, "CD4+", 3.0, "none", "ing-a", "s1:/Lymphocytes/NKT/CD4+", "flow"),
        ("001", 0, "B cells", 9.0, "none", "ing-a", "s1:/Lymphocytes/B cells", "flow"),
    ))
    assert sorted(v["feature"]) == ["/Lymphocytes/NKT/CD4+", "/Lymphocytes/T cells/CD4+", "B cells"]


def test_filters_select_features_and_measures() -> None:
    v = measurements_view(rows(("001", 0, "IL-6", 1.0), ("001", 0, "IL-8", 2.0)), features=["IL-8"])
    assert list(v["feature"]) == ["IL-8"]
    empty = measurements_view(rows(("001", 0, "IL-6", 1.0)), features=["nope"])
    assert empty.empty and list(empty.columns) == VIEW_COLUMNS


def test_a_table_without_required_columns_is_rejected_with_iml_ana_005() -> None:
    with pytest.raises(InputError) as err:
        measurements_view(pd.DataFrame({"patient_id": ["001"], "value": [1.0]}))
    assert err.value.code == "IML-ANA-005" and "visit_day" in err.value.message
