"""Baseline-adjusted (ANCOVA) arm effects per post-baseline visit: checked against the normal equations by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from immunolab.analysis.ancova import baseline_ancova
from immunolab.analysis.compare import compare_arms, write_comparison
from immunolab.analysis.nonparametric import bh_adjust
from tests.analysis import synthetic as syn

#: patient -> (arm, value at day 0, value at day 7, value at day 14, site)
PATIENTS = {
    "01": ("MSC", 10.0, 12.0, 9.0, "A"), "02": ("MSC", 20.0, 30.0, 18.0, "B"), "03": ("MSC", 40.0, 35.0, 50.0, "A"),
    "04": ("MSC", 15.0, 25.0, 14.0, "B"), "05": ("control", 12.0, 8.0, 11.0, "A"),
    "06": ("control", 30.0, 20.0, 33.0, "B"), "07": ("control", 25.0, 22.0, 20.0, "A"),
    "08": ("control", 18.0, 9.0, 21.0, "B"),
}


def _rows(extra: dict[str, tuple[str, float]] | None = None) -> pd.DataFrame:
    rows = [{"patient_id": p, "arm": arm, "visit_day": day, "value": v, "site": site}
            for p, (arm, v0, v7, v14, site) in PATIENTS.items() for day, v in ((0, v0), (7, v7), (14, v14))]
    rows += [{"patient_id": p, "arm": arm, "visit_day": 7, "value": v, "site": "A"} for p, (arm, v) in
             (extra or {}).items()]
    d = pd.DataFrame(rows).assign(assay="cytokine", feature="IL-6", measure="concentration", unit="pg/mL",
                                  censored=False)
    return d.assign(log10_value=np.log10(d["value"]))


def test_the_arm_effect_at_day_7_is_the_ols_coefficient_computed_by_hand() -> None:
    out = baseline_ancova(_rows(), treated="MSC", reference="control").set_index("visit_day")
    y = np.log10([PATIENTS[p][2] for p in PATIENTS])
    X = np.column_stack([np.ones(8), [PATIENTS[p][0] == "MSC" for p in PATIENTS], np.log10([PATIENTS[p][1] for p in
                                                                                             PATIENTS])])
    beta = np.linalg.solve(X.T @ X, X.T @ y)
    resid = y - X @ beta
    df = 8 - 3
    se = np.sqrt(resid @ resid / df * np.linalg.inv(X.T @ X)[1, 1])
    t = beta[1] / se
    r = out.loc[7]
    assert r["estimate_log10"] == pytest.approx(beta[1]) and r["ratio"] == pytest.approx(10 ** beta[1])
    assert r["ratio_ci_low"] == pytest.approx(10 ** (beta[1] - stats.t.ppf(0.975, df) * se))
    assert r["ratio_ci_high"] == pytest.approx(10 ** (beta[1] + stats.t.ppf(0.975, df) * se))
    assert r["p"] == pytest.approx(2 * stats.t.sf(abs(t), df)) and r["df"] == df
    assert r["baseline_slope"] == pytest.approx(beta[2]) and (r["n_treated"], r["n_reference"]) == (4, 4)
    assert r["adjusted_for"] == "baseline" and "log10(baseline)" in r["method"]
    assert list(out["q_bh_feature"]) == pytest.approx(list(bh_adjust(out["p"].to_numpy())))
    assert 0 not in out.index  # baseline is the covariate, never an outcome


def test_covariates_enter_the_model_and_patients_without_baseline_are_counted_not_dropped_silently() -> None:
    out = baseline_ancova(_rows({"09": ("MSC", 50.0)}), treated="MSC", reference="control", adjust=["site"])
    r = out.set_index("visit_day").loc[7]
    assert r["adjusted_for"] == "baseline,site" and r["df"] == 8 - 4
    assert r["n_without_baseline"] == 1 and r["n_treated"] == 4
    assert "1 patient(s) with a value at this visit but none at baseline left out" in r["method"]


def test_a_visit_with_too_few_patients_per_arm_is_not_tested_and_stays_out_of_the_bh_family() -> None:
    d = _rows()
    d = d[~((d["visit_day"] == 14) & (d["arm"] == "control") & (d["patient_id"] != "05"))]
    out = baseline_ancova(d, treated="MSC", reference="control").set_index("visit_day")
    assert np.isnan(out.loc[14, "p"]) and np.isnan(out.loc[14, "q_bh_all"])
    assert "fewer than min_per_arm = 2" in out.loc[14, "method"]
    assert out.loc[7, "q_bh_all"] == pytest.approx(out.loc[7, "p"])  # the family is the one tested visit


def test_compare_writes_the_ancova_table_and_finds_the_simulated_treg_effect(tmp_path: Path) -> None:
    res = compare_arms(syn.measurements(0))
    a = res.ancova
    assert set(a["visit_day"]) and (a["visit_day"] > 0).all()
    treg = a[(a["feature"] == "Treg") & (a["visit_day"] == 14)].iloc[0]
    assert treg["ratio"] > 1 and treg["ratio_ci_low"] < treg["ratio"] < treg["ratio_ci_high"] and treg["q_bh_all"] < 0.05
    assert res.settings["bh_families"]["ancova"] == int(a["p"].notna().sum())
    write_comparison(res, tmp_path)
    back = pd.read_csv(tmp_path / "ancova.csv")
    assert len(back) == len(a) and (tmp_path / "ancova.parquet").exists()


def test_a_visit_whose_model_terms_are_not_all_estimable_is_not_tested_and_says_why() -> None:
    """Every baseline equal: log10(baseline) is the intercept again; no estimate from a singular fit."""
    import warnings

    rows = _rows()
    rows.loc[rows["visit_day"] == 0, ["value", "log10_value"]] = [10.0, 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # statsmodels' SingularMatrixWarning would reach the user
        out = baseline_ancova(rows, treated="MSC", reference="control").set_index("visit_day")
    r = out.loc[7]
    assert np.isnan(r["p"]) and np.isnan(r["ratio"]) and r["method"].startswith("not tested: the model's 3 terms")


def test_patients_without_an_adjustment_covariate_are_counted_and_named_in_the_method() -> None:
    rows = _rows()
    rows["age"] = rows["patient_id"].map({p: 40.0 + i for i, p in enumerate(PATIENTS)})
    rows.loc[rows["patient_id"].isin(["01", "05"]), "age"] = np.nan
    r = baseline_ancova(rows, treated="MSC", reference="control", adjust=["age"]).set_index("visit_day").loc[7]
    assert (r["n_treated"], r["n_reference"], r["n_missing_covariate"]) == (3, 3, 2)
    assert "2 patient(s) without a value of an adjustment covariate left out" in r["method"]
