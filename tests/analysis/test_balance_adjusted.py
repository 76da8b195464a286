"""Covariate balance flags a confounded design; the adjusted model removes a site effect the unadjusted one reads as arm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from immunolab.analysis.balance import (
    add_covariates,
    arm_crosstab,
    covariate_balance,
    side_by_side,
    smd,
)
from immunolab.analysis.compare import compare_arms
from immunolab.analysis.measurements_view import measurements_view
from immunolab.errors import InputError

VISITS = (0, 4, 8, 15, 30)
WINDOW = (0, 30)


def _subjects(seed: int) -> pd.DataFrame:
    """Return 20 patients; site allocation confounded with arm (MSC mostly at site B, which sends PBMC)."""
    rng = np.random.default_rng(seed)
    arms = ["MSC"] * 10 + ["control"] * 10
    sites = ["B"] * 8 + ["A"] * 2 + ["B"] * 2 + ["A"] * 8
    return pd.DataFrame({
        "patient_id": [f"P{i:02d}" for i in range(20)], "arm": arms, "site": sites,
        "specimen": ["PBMC" if s == "B" else "whole blood" for s in sites],
        "sex": rng.choice(["F", "M"], size=20), "age": rng.integers(30, 70, size=20),
    })


def _measurements(subjects: pd.DataFrame, seed: int, *, site_effect: float, arm_effect: float) -> pd.DataFrame:
    """Return log-normal values: log10 y = 1 + site_effect [site B] + arm_effect [MSC, visit > 0] + b_patient + e."""
    rng = np.random.default_rng(seed + 100)
    rows = []
    for rec in subjects.to_dict("records"):
        b = rng.normal(0, 0.1)
        for day in VISITS:
            log10 = 1.0 + site_effect * (rec["site"] == "B") + arm_effect * (rec["arm"] == "MSC") * (day > 0) + b
            rows.append({"patient_id": rec["patient_id"], "visit_day": day, "arm": rec["arm"], "assay": "flow",
                         "feature": "Lymphocytes", "measure": "pct_parent",
                         "value": 10 ** (log10 + rng.normal(0, 0.05)), "unit": "%"})
    return pd.DataFrame(rows)


def test_smd_matches_hand_calculations() -> None:
    assert smd(pd.Series([50.0, 60.0, 70.0]), pd.Series([40.0, 50.0, 60.0])) == pytest.approx(1.0)
    t, r = pd.Series(list("MMMMF")), pd.Series(list("MFFFF"))
    # p_t(M) = 0.8, p_r(M) = 0.2; indicator of the second sorted level (M): 0.6 / sqrt((0.16 + 0.16) / 2) = 1.5
    assert smd(t, r) == pytest.approx(1.5)
    assert smd(pd.Series(list("abcabc")), pd.Series(list("cbacba"))) == pytest.approx(0.0)
    assert smd(pd.Series(list("aabbcc")), pd.Series(list("aaaaab"))) > 1.0


def test_the_confounded_demo_like_design_is_flagged_with_its_reason() -> None:
    counts, table = covariate_balance(_subjects(0))
    rows = table.set_index("covariate")
    assert bool(rows.loc["site", "confounded"]) and bool(rows.loc["specimen", "confounded"])
    assert rows.loc["site", "smd"] == pytest.approx((0.8 - 0.2) / np.sqrt((0.16 + 0.16) / 2))
    site = counts[counts["covariate"] == "site"].set_index(["level", "arm"])
    assert site.loc[("B", "MSC"), "n"] == 8 and site.loc[("B", "MSC"), "pct"] == 80.0
    assert set(counts.loc[counts["covariate"] == "age", "level"]) <= {"18-39", "40-49", "50-59", "60-70", "missing"}
    cross = arm_crosstab(_subjects(0), ["site", "specimen"])
    assert cross["n_patients"].sum() == 20 and len(cross) == 4


def test_a_level_present_in_one_arm_only_is_confounded() -> None:
    subj = _subjects(0).assign(site=["C"] * 3 + ["A"] * 7 + ["A"] * 10)
    rows = covariate_balance(subj, ["site"])[1].set_index("covariate")
    assert rows.loc["site", "confounded"] and "C in one arm only" in rows.loc["site", "reason"]


def test_balanced_covariates_are_not_flagged() -> None:
    subj = _subjects(0).assign(site=["A", "B"] * 10)
    rows = covariate_balance(subj, ["site"])[1].set_index("covariate")
    assert not rows.loc["site", "confounded"] and rows.loc["site", "reason"] == "balanced"


def test_a_missing_covariate_is_iml_ana_006() -> None:
    with pytest.raises(InputError) as info:
        covariate_balance(_subjects(0), ["bmi"])
    assert info.value.code == "IML-ANA-006" and "bmi" in info.value.message
    view = measurements_view(_measurements(_subjects(0), 0, site_effect=0.5, arm_effect=0.0))
    with pytest.raises(InputError) as info:
        compare_arms(view, adjust=["site"])
    assert info.value.code == "IML-ANA-006" and "site" in info.value.message


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adjusting_for_site_removes_a_site_effect_the_unadjusted_model_reads_as_arm(seed: int) -> None:
    subj = _subjects(seed)
    view = add_covariates(measurements_view(_measurements(subj, seed, site_effect=1.0, arm_effect=0.0)), subj,
                          ["site", "specimen", "age"])
    crude = compare_arms(view, window=WINDOW)
    adjusted = compare_arms(view, adjust=["site", "specimen", "age"], window=WINDOW)
    test = "arm at any post-baseline visit"
    p_crude = crude.omnibus.set_index("test").loc[test, "p"]
    row = adjusted.omnibus.set_index("test").loc[test]
    assert p_crude < 0.05 and row["p"] > 0.05
    assert row["adjusted_for"] == "site,age"  # specimen is aliased with site
    assert "specimen" in row["notes"] and "aliased" in row["notes"]
    assert "site + age" in row["method"] and adjusted.settings["adjust_left_out"][0].startswith("specimen: aliased")
    assert set(adjusted.visit_effects["adjusted_for"]) == {"site,age"}
    assert set(adjusted.visit_tests["adjusted_for"]) == {"none (rank or Fisher test: unadjusted)"}
    auc = adjusted.auc_tests.iloc[0]
    assert abs(auc["shift"]) > 1.0 and abs(auc["adjusted_shift"]) < 0.5 * abs(auc["shift"])
    assert auc["adjusted_ci_low"] < 0 < auc["adjusted_ci_high"] and "ANCOVA" in auc["adjusted_method"]
    both = side_by_side(crude, adjusted)
    assert {"ratio_unadjusted", "ratio_adjusted", "adjusted_for_adjusted"} <= set(both.columns)
    assert adjusted.settings["adjust"] == ["site", "age"]  # specimen left out as aliased (above)


def test_a_true_arm_effect_survives_adjustment_with_the_right_size() -> None:
    subj = _subjects(4)
    view = add_covariates(measurements_view(_measurements(subj, 4, site_effect=0.6, arm_effect=0.3)), subj, ["site"])
    adjusted = compare_arms(view, adjust=["site"], window=WINDOW)
    eff = adjusted.visit_effects.set_index("visit_day")
    assert eff.loc[15, "estimate_log10"] == pytest.approx(0.3, abs=0.1)
    assert eff.loc[15, "ci_low_log10"] > 0 and abs(eff.loc[0, "estimate_log10"]) < 0.12
