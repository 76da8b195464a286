"""Trajectory summaries and per-patient AUC rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from immunolab.analysis.measurements_view import measurements_view
from immunolab.analysis.trajectories import parse_window, patient_auc, trajectory_summary
from immunolab.errors import InputError


def view_of(values: dict[str, dict[int, float]], arm_of: dict[str, str] | None = None) -> pd.DataFrame:
    recs = [
        {"patient_id": p, "visit_day": d, "arm": (arm_of or {}).get(p, "MSC"), "assay": "cytokine",
         "feature": "IL-6", "measure": "concentration", "value": v, "unit": "pg/mL"}
        for p, days in values.items() for d, v in days.items()
    ]
    return measurements_view(pd.DataFrame(recs))


def test_summary_gives_n_median_quartiles_mean_sd_per_arm_and_visit() -> None:
    vals = [1.0, 2.0, 4.0, 8.0, 100.0]
    v = view_of({f"{i:03d}": {0: x} for i, x in enumerate(vals)})
    s = trajectory_summary(v).iloc[0]
    assert s["n"] == 5 and s["median"] == 4.0
    assert s["q1"] == np.quantile(vals, 0.25) and s["q3"] == np.quantile(vals, 0.75)
    assert s["mean"] == pytest.approx(np.mean(vals)) and s["sd"] == pytest.approx(np.std(vals, ddof=1))
    assert s["gmean"] == pytest.approx(10 ** np.mean(np.log10(vals)))


def test_summary_of_change_uses_the_change_column_and_counts_unavailable_values() -> None:
    v = view_of({"001": {0: 10.0, 3: 20.0}, "002": {0: 10.0, 3: np.nan}})
    s = trajectory_summary(v, value="change").set_index("visit_day")
    assert s.loc[3, "n"] == 1 and s.loc[3, "median"] == 10.0 and s.loc[3, "n_unavailable"] == 1
    assert s.loc[3, "statistic_of"] == "change"


def test_auc_is_the_trapezoid_over_observed_visits_and_bridges_a_missing_visit() -> None:
    v = view_of({"001": {0: 10.0, 3: 20.0, 6: 20.0, 14: 4.0, 28: 4.0, 90: 50.0}, "002": {0: 1.0, 28: 1.0}})
    a = patient_auc(v, (0, 28)).set_index("patient_id")
    expected = (10 + 20) / 2 * 3 + 20 * 3 + (20 + 4) / 2 * 8 + 4 * 14
    assert a.loc["001", "auc"] == pytest.approx(expected)
    assert a.loc["001", "auc_mean"] == pytest.approx(expected / 28)
    assert a.loc["001", "auc_change"] == pytest.approx(expected - 10 * 28)
    assert a.loc["001", "visits_used"] == "0,3,6,14,28"
    assert a.loc["002", "auc"] == pytest.approx(28.0)
    assert a.loc["002", "missing_visits"] == "3,6,14"
    assert a.loc["002", "auc_status"].startswith("ok (missing visits bridged")


def test_auc_is_nan_with_a_reason_when_a_window_end_is_missing() -> None:
    v = view_of({"001": {0: 1.0, 3: 2.0, 28: 3.0}, "002": {3: 2.0, 28: 3.0}, "003": {0: 1.0, 3: 2.0}})
    a = patient_auc(v, (0, 28)).set_index("patient_id")
    assert np.isnan(a.loc["002", "auc"]) and a.loc["002", "auc_status"] == "NaN: no Day 0 value"
    assert np.isnan(a.loc["003", "auc"]) and a.loc["003", "auc_status"] == "NaN: no Day 28 value"


def test_a_window_whose_ends_are_not_visit_days_is_rejected_with_iml_ana_003() -> None:
    v = view_of({"001": {0: 1.0, 28: 2.0}})
    with pytest.raises(InputError) as err:
        patient_auc(v, (0, 30))
    assert err.value.code == "IML-ANA-003" and "0, 28" in (err.value.hint or "")


def test_the_window_error_suggests_a_window_that_fits_the_visit_days_present() -> None:
    v = view_of({"001": {0: 1.0, 3: 2.0}})
    with pytest.raises(InputError) as err:
        patient_auc(v, (0, 28))
    assert err.value.code == "IML-ANA-003"
    assert "e.g. --window 0-3." in (err.value.hint or "") and "--window 0-28" not in (err.value.hint or "")


@pytest.mark.parametrize(("window", "hint"), [((180, 200), "0-3"), ((3, 28), "0-3"), ((0, 2), "0-3")])
def test_a_window_beyond_the_visits_present_suggests_one_that_fits(window: tuple[int, int], hint: str) -> None:
    """A window starting at or after the last visit day raised IndexError (exit 70) while building the hint."""
    with pytest.raises(InputError) as err:
        patient_auc(view_of({"001": {0: 1.0, 3: 2.0}}), window)
    assert err.value.code == "IML-ANA-003" and f"e.g. --window {hint}." in (err.value.hint or "")


def test_a_single_visit_day_suggests_no_window() -> None:
    with pytest.raises(InputError) as err:
        patient_auc(view_of({"001": {0: 1.0}}), (0, 28))
    assert "--window" not in (err.value.hint or "") and "two visit days" in (err.value.hint or "")


@pytest.mark.parametrize("text", ["0-28x", "28-0", "7", "a-b"])
def test_bad_window_text_is_rejected_with_iml_ana_003(text: str) -> None:
    with pytest.raises(InputError) as err:
        parse_window(text)
    assert err.value.code == "IML-ANA-003"


def test_window_text_parses_to_days() -> None:
    assert parse_window("0-28") == (0, 28) and parse_window(" 3 - 90") == (3, 90)
