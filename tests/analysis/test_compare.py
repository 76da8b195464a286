"""Arm comparison: finds simulated arm x time effects, not null features; every result has a CI and a method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from immunolab.analysis.compare import (
    BASELINE_FAMILY,
    ArmComparison,
    compare_arms,
    write_comparison,
)
from immunolab.analysis.measurements_view import measurements_view
from immunolab.errors import InputError
from tests.analysis import synthetic as syn

SEEDS = (0, 1, 2, 3, 4)


@pytest.fixture(scope="module")
def results() -> dict[int, ArmComparison]:
    return {seed: compare_arms(measurements_view(syn.measurements(seed))) for seed in SEEDS}


def interaction(res: ArmComparison) -> pd.DataFrame:
    return res.omnibus[res.omnibus["test"] == "arm x visit interaction"].set_index("feature")


def test_every_simulated_arm_x_time_effect_is_found_in_every_seed(results: dict[int, ArmComparison]) -> None:
    for seed, res in results.items():
        o = interaction(res)
        for f in syn.EFFECT_FEATURES:
            assert o.loc[f, "q_bh"] < 0.05, (seed, f, o.loc[f, "p"])


def test_null_features_are_rarely_significant(results: dict[int, ArmComparison]) -> None:
    ps = [interaction(res).loc[f, "p"] for res in results.values() for f in syn.NULL_FEATURES if f != "IL-10"]
    assert len(ps) == 25 and np.isfinite(ps).all()
    assert sum(p < 0.05 for p in ps) <= 4  # ~5 % expected; deterministic seeds
    assert all(interaction(res).loc[f, "q_bh"] > 0.05 for res in results.values() for f in syn.NULL_FEATURES
               if f != "IL-10")


def test_the_direction_of_an_effect_is_right_and_has_a_confidence_interval(results: dict[int, ArmComparison]) -> None:
    e = results[0].visit_effects
    treg = e[(e["feature"] == "Treg") & (e["visit_day"] == 14)].iloc[0]
    assert treg["treated"] == "MSC" and treg["reference"] == "control"
    assert treg["ratio"] > 1 and treg["ratio_ci_low"] < treg["ratio"] < treg["ratio_ci_high"]
    assert treg["ratio"] == pytest.approx(10 ** treg["estimate_log10"])
    il6 = e[(e["feature"] == "IL-6") & (e["visit_day"] == 14)].iloc[0]
    assert il6["ratio"] < 1
    assert (e["ci_low_log10"] <= e["estimate_log10"]).all() and (e["estimate_log10"] <= e["ci_high_log10"]).all()


def test_a_mostly_censored_feature_is_compared_by_percent_detectable_with_fisher(results: dict[int, ArmComparison]) -> None:
    res = results[0]
    t = res.visit_tests[res.visit_tests["feature"] == "IL-10"]
    fisher = t[t["test"] == "Fisher exact"]
    assert len(fisher) >= 5
    assert fisher["method"].str.contains(r"values censored \(>= 50 %\)").all()
    assert fisher[["ci_low", "ci_high", "pct_treated", "pct_reference"]].notna().all().all()
    o = interaction(res).loc["IL-10"]
    assert np.isnan(o["p"]) and "per-visit Fisher tests" in o["method"]


def test_rank_tests_report_a_ratio_with_ci_and_bh_q_values(results: dict[int, ArmComparison]) -> None:
    t = results[0].visit_tests
    mw = t[t["test"] == "Mann-Whitney"]
    assert len(mw) > 40
    assert (mw["ratio_ci_low"] <= mw["ratio"]).all() and (mw["ratio"] <= mw["ratio_ci_high"]).all()
    post = mw[mw["visit_day"] > 0]  # Day 0 tests check baseline imbalance: no within-feature treatment q
    assert (post["q_bh_feature"] >= post["p"]).all() and mw["q_bh_all"].notna().all()
    assert mw["method"].str.contains("Hodges-Lehmann").all()


def test_auc_comparison_excludes_patients_without_both_window_ends_and_says_why(results: dict[int, ArmComparison]) -> None:
    a = results[0].auc_tests.set_index("feature")
    assert (a["n_excluded"] >= 1).all()  # patient 003 never has Day 28
    assert a.loc["Treg", "excluded_reasons"].startswith("no Day 28 value")
    assert a.loc["Treg", "shift"] > 0 and a.loc["Treg", "ci_low"] <= a.loc["Treg", "shift"] <= a.loc["Treg", "ci_high"]
    per_patient = results[0].auc
    assert np.isnan(per_patient.set_index(["feature", "patient_id"]).loc[("Treg", "003"), "auc"])


def test_every_result_row_names_its_method(results: dict[int, ArmComparison]) -> None:
    for name, table in results[0].tables().items():
        if "method" in table:
            assert table["method"].astype(bool).all(), name


def test_measures_default_to_frequency_of_parent_and_concentration(results: dict[int, ArmComparison]) -> None:
    assert set(results[0].omnibus["measure"]) == {"pct_parent", "concentration"}
    assert results[0].settings["treated"] == "MSC" and results[0].settings["window_days"] == [0, 28]


def test_more_than_two_arms_is_rejected_with_iml_ana_001() -> None:
    m = syn.measurements(0)
    m.loc[m["patient_id"] == "001", "arm"] = "low dose"
    with pytest.raises(InputError) as err:
        compare_arms(measurements_view(m))
    assert err.value.code == "IML-ANA-001"


def test_unknown_features_are_rejected_with_iml_ana_002() -> None:
    with pytest.raises(InputError) as err:
        compare_arms(measurements_view(syn.measurements(0)), features=["IL-99"])
    assert err.value.code == "IML-ANA-002" and "Treg" in (err.value.hint or "")


def test_write_comparison_writes_csv_parquet_and_settings(tmp_path: Path, results: dict[int, ArmComparison]) -> None:
    paths = write_comparison(results[0], tmp_path / "out")
    names = {p.name for p in paths}
    assert {"omnibus.csv", "omnibus.parquet", "visit_tests.csv", "auc_tests.parquet", "settings.json"} <= names
    back = pd.read_parquet(tmp_path / "out" / "omnibus.parquet")
    assert len(back) == len(results[0].omnibus)


def _with_site(m: pd.DataFrame, site: object) -> pd.DataFrame:
    out = m.copy()
    out["site"] = site if not callable(site) else out["patient_id"].map(site)
    return out


def test_adjusting_a_feature_without_any_auc_over_the_window_is_not_an_internal_error() -> None:
    m = _with_site(syn.measurements(0), lambda pid: "A" if int(pid) % 3 else "B")
    feature = syn.NULL_FEATURES[0]
    m = m[~((m["feature"] == feature) & (m["visit_day"] == 28))]
    res = compare_arms(m, adjust=["site"], window=(0, 28))
    row = res.auc_tests.set_index("feature").loc[feature]
    assert row["adjusted_for"] == "none" and "not estimable" in row["adjusted_method"]
    assert res.settings["adjust"] == ["site"]


@pytest.mark.parametrize(("site", "why"), [("A", "one level only"), (None, "no value")])
def test_a_covariate_with_one_level_or_no_value_is_left_out_with_iml_ana_010(
    caplog: pytest.LogCaptureFixture, site: object, why: str
) -> None:
    with caplog.at_level("WARNING", logger="immunolab"):
        res = compare_arms(_with_site(syn.measurements(0), site), adjust=["site"])
    coded = [r for r in caplog.records if getattr(r, "code", None) == "IML-ANA-010"]
    assert len(coded) == 1 and why in coded[0].getMessage() and "--adjust" in coded[0].getMessage()
    assert res.settings["adjust"] == [] and res.settings["adjust_left_out"]
    assert set(res.omnibus["adjusted_for"]) == {"none"}


def test_a_covariate_aliased_with_an_earlier_one_is_left_out_and_listed(caplog: pytest.LogCaptureFixture) -> None:
    """A specimen that follows the site patient by patient added nothing, yet settings named it as adjusted for."""
    m = _with_site(syn.measurements(0), lambda pid: "A" if int(pid) % 3 else "B")
    m["specimen_type"] = m["site"].map({"A": "whole blood", "B": "PBMC"})
    with caplog.at_level("WARNING", logger="immunolab"):
        res = compare_arms(m, adjust=["site", "specimen_type"])
    assert res.settings["adjust"] == ["site"]
    assert res.settings["adjust_left_out"] == [
        "specimen_type: aliased with site (its levels follow it patient by patient)"]  # not "arm and site"
    assert any(getattr(r, "code", None) == "IML-ANA-010" and "specimen_type" in r.getMessage() for r in caplog.records)
    assert set(res.omnibus["adjusted_for"]) <= {"site", "none"} and "site" in set(res.omnibus["adjusted_for"])


def test_a_specimen_that_follows_the_site_in_flow_and_is_serum_for_cytokines_is_aliased_with_the_site() -> None:
    """The demo's specimen (per sample): the message said "aliased with arm", as if it were confounded with treatment."""
    v = _with_site(measurements_view(syn.measurements(0)), lambda pid: "A" if int(pid) % 3 else "B")
    v["specimen_type"] = np.where(v["assay"] == "cytokine", "serum", v["site"].map({"A": "whole blood", "B": "PBMC"}))
    res = compare_arms(v.sort_values("assay", kind="stable"), adjust=["site", "specimen_type"])
    assert res.settings["adjust"] == ["site"]
    assert res.settings["adjust_left_out"] == [
        "specimen_type: aliased with site (its levels follow it patient by patient)"]


def test_a_covariate_equal_to_the_arm_is_named_aliased_with_the_arm_alone() -> None:
    m = _with_site(syn.measurements(0), lambda pid: "A" if int(pid) % 3 else "B")
    m["cohort"] = m["arm"].map({"MSC": "late", "control": "early"})
    res = compare_arms(m, adjust=["site", "cohort"])
    assert res.settings["adjust_left_out"] == ["cohort: aliased with arm (its levels follow it patient by patient)"]


def _with_clinical(m: pd.DataFrame, feature: str = "CRP") -> pd.DataFrame:
    """Return ``m`` plus a clinical test (measure ``result``) on the cytokine rows' patients and visits."""
    cyt = m[m["feature"] == "IL-6"]
    clin = cyt.assign(assay="clinical", feature=feature, measure="result", unit="mg/L",
                      value=cyt["value"].to_numpy() / 10.0, lineage_table="clinical_results")
    return pd.concat([m, clin], ignore_index=True)


@pytest.mark.parametrize("names", [["Interleukin-6", "Lymphocyte count"], ["CRP", "Treg"]])
def test_a_clinical_feature_named_beside_another_feature_is_compared_too(names: list[str]) -> None:
    m = _with_clinical(_with_clinical(syn.measurements(0)), "LYM")
    res = compare_arms(m, features=names)
    got = set(res.omnibus["feature"])
    assert len(got) == 2 and got & {"CRP", "LYM"}
    assert set(res.omnibus.loc[res.omnibus["assay"] == "clinical", "measure"]) == {"result"}


def test_a_named_feature_without_the_requested_measure_is_an_error_naming_it() -> None:
    with pytest.raises(InputError) as err:
        compare_arms(_with_clinical(syn.measurements(0)), features=["IL-6", "CRP"], measures=["concentration"])
    assert err.value.code == "IML-ANA-002" and "'CRP'" in err.value.message and "result" in (err.value.hint or "")


@pytest.mark.parametrize(("adjust", "says"), [(["arm"], "cannot be a covariate"), (["patient_id"], "cannot be a covariate"),
                                              (["visit_day"], "cannot be a covariate"), (["site", "site"], "named twice")])
def test_adjusting_for_the_model_own_terms_or_twice_is_a_coded_error(adjust: list[str], says: str) -> None:
    """These were IML-INTERNAL errors (KeyError, OverflowError, ValueError) in an analyst's trial."""
    with pytest.raises(InputError) as err:
        compare_arms(_with_site(syn.measurements(0), "A"), adjust=adjust)
    assert err.value.code == "IML-ANA-006" and says in err.value.message


def test_a_feature_without_variation_is_not_tested_instead_of_getting_a_tiny_p() -> None:
    """Lymphocytes as % of lymphocytes is 100 everywhere; the model gave p = 3e-41 and ranked it first."""
    m = syn.measurements(0)
    flat = m[m["feature"] == "IL-6"].assign(feature="Lymphocytes", measure="pct_lymphocytes", value=100.0)
    res = compare_arms(measurements_view(pd.concat([m, flat], ignore_index=True)), measures=["pct_lymphocytes"])
    row = res.omnibus[res.omnibus["test"] == "arm x visit interaction"].iloc[0]
    assert np.isnan(row["p"]) and "every value is the same" in row["method"]
    assert res.visit_effects.empty or not (res.visit_effects["feature"] == "Lymphocytes").any()


def test_a_log10_ratio_beyond_float_range_is_an_infinite_ratio_not_an_overflow() -> None:
    from immunolab.analysis.compare import _pow10

    assert _pow10(400.0) == float("inf") and _pow10(-400.0) == 0.0 and _pow10(1.0) == 10.0


def test_json_output_has_no_bare_nan_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from immunolab.cli.common import echo_json

    echo_json({"p": float("nan"), "rows": [{"f": float("inf")}, 1.5]})
    assert json.loads(capsys.readouterr().out) == {"p": None, "rows": [{"f": None}, 1.5]}


def test_a_visit_with_fewer_than_min_per_arm_values_in_an_arm_is_not_tested_and_out_of_bh() -> None:
    """Demo bead-array IL-6 at D90 was rank-tested 3 vs 1 although min_per_arm is 2 (the model left it out)."""
    m = syn.measurements(0)
    m = m[m["feature"] == "IL-6"]
    controls = sorted(m.loc[m["arm"] == "control", "patient_id"].unique())
    m = m[~((m["visit_day"] == 90) & (m["arm"] == "control") & (m["patient_id"] != controls[0]))]
    res = compare_arms(measurements_view(m))
    t = res.visit_tests.set_index("visit_day")
    assert t.loc[90, "n_reference"] == 1 and t.loc[90, "test"] == "none"
    assert np.isnan(t.loc[90, "p"]) and np.isnan(t.loc[90, "q_bh_feature"]) and np.isnan(t.loc[90, "q_bh_all"])
    assert "fewer than min_per_arm = 2" in t.loc[90, "method"]
    assert t.drop(index=90)["p"].notna().all()
    assert compare_arms(measurements_view(m), min_per_arm=1).visit_tests.set_index("visit_day")["p"].notna().all()


def test_auc_exclusions_name_deaths_apart_and_warn_of_informative_missingness() -> None:
    """The demo's AUC said only "no Day 28 value (4)" where 3 of the 4 patients had died."""
    m = syn.measurements(0)
    m = m[m["feature"] == "Treg"]
    no_d28 = sorted(set(m["patient_id"]) - set(m.loc[m["visit_day"] == 28, "patient_id"]))
    alive = compare_arms(measurements_view(m)).auc_tests.iloc[0]
    res = compare_arms(measurements_view(m), deaths={no_d28[0]: 12.0, "999": 3.0})
    a = res.auc_tests.iloc[0]
    assert a["n_died_excluded"] == 1 and a["n_excluded"] == alive["n_excluded"]
    assert a["excluded_reasons"].startswith("died before day 28 (1)")
    assert "informative missingness" in a["method"] and "informative missingness" not in alive["method"]
    per_patient = res.auc.set_index("patient_id")
    assert per_patient.loc[no_d28[0], "auc_status"] == "NaN: died before day 28"


def test_no_match_for_a_measure_names_its_case_variant_and_says_how_many_features_are_not_listed() -> None:
    """compare --measures cells_per_ul listed 20 features without saying there were more."""
    m = syn.measurements(0)
    many = pd.concat([m] + [m[m["feature"] == "IL-6"].assign(feature=f"extra{i:02d}") for i in range(25)],
                     ignore_index=True)
    n_features = many["feature"].nunique()
    with pytest.raises(InputError) as err:
        compare_arms(measurements_view(many), measures=["PCT_PARENT"])
    hint = err.value.hint or ""
    assert err.value.code == "IML-ANA-002" and "did you mean pct_parent (not PCT_PARENT)?" in hint
    assert f"... and {n_features - 20} more;" in hint


def test_day_0_tests_check_baseline_imbalance_and_stay_out_of_the_treatment_effect_bh_family(
        results: dict[int, ArmComparison]) -> None:
    """q_bh_all mixed the Day 0 (pre-treatment) tests into the family of treatment-effect tests."""
    from immunolab.analysis.compare import BASELINE_FAMILY, TREATMENT_FAMILY
    from immunolab.analysis.nonparametric import bh_adjust

    t = results[0].visit_tests
    base, post = t[t["visit_day"] <= 0], t[t["visit_day"] > 0]
    assert len(base) and (base["family"] == BASELINE_FAMILY).all() and (post["family"] == TREATMENT_FAMILY).all()
    np.testing.assert_allclose(post["q_bh_all"], bh_adjust(post["p"].to_numpy()))
    np.testing.assert_allclose(base["q_bh_all"], bh_adjust(base["p"].to_numpy()))
    assert base["q_bh_feature"].isna().all()
    treg = post[post["feature"] == "Treg"]
    np.testing.assert_allclose(treg["q_bh_feature"], bh_adjust(treg["p"].to_numpy()))
    sizes = results[0].settings["bh_families"]
    assert sizes[f"visit_tests: {TREATMENT_FAMILY}"] == int(post["p"].notna().sum())
    assert sizes[f"visit_tests: {BASELINE_FAMILY}"] == int(base["p"].notna().sum())
    assert sizes["omnibus: arm x visit interaction"] == int(
        results[0].omnibus.loc[results[0].omnibus["test"] == "arm x visit interaction", "p"].notna().sum())


def test_the_default_family_holds_the_cd4_and_cd8_absolute_counts_as_the_report_does() -> None:
    """The report compared CD4+/CD8+ cells/uL beside the defaults: no compare invocation gave its q-values."""
    m = syn.measurements(0)
    flow = m[(m["assay"] == "flow") & (m["measure"] == "count")]
    counts = pd.concat([flow.assign(feature=name, measure="cells_per_uL", unit="cells/uL", value=flow["value"] / k)
                        for name, k in (("CD4+ T", 50.0), ("CD8+ T", 80.0), ("Treg", 90.0))], ignore_index=True)
    counts = counts.drop_duplicates(["patient_id", "visit_day", "feature"])
    res = compare_arms(pd.concat([m, counts], ignore_index=True))
    compared = set(zip(res.omnibus["feature"], res.omnibus["measure"], strict=True))
    assert {("CD4+ T", "cells_per_uL"), ("CD8+ T", "cells_per_uL")} <= compared
    assert ("Treg", "cells_per_uL") not in compared and ("Treg", "count") not in compared
    assert {"pct_parent", "concentration", "cells_per_uL"} == set(res.settings["measures"])


def test_an_auc_with_fewer_than_min_per_arm_patients_in_an_arm_is_not_tested_and_out_of_bh() -> None:
    """Demo bead-array AUCs were rank-tested 3 vs 1 (p >= 0.5, no CI) and diluted the AUC BH family."""
    m = syn.measurements(0)
    m = m[m["feature"].isin(["IL-6", "Treg"])]
    controls = sorted(m.loc[m["arm"] == "control", "patient_id"].unique())
    thin = (m["feature"] == "IL-6") & (m["visit_day"] == 28) & (m["arm"] == "control") & (m["patient_id"] != controls[0])
    m = m[~thin]
    m = m.assign(site=np.where(m["patient_id"].astype(int) % 4 < 2, "A", "B"))
    res = compare_arms(measurements_view(m), adjust=["site"])
    a = res.auc_tests.set_index("feature")
    assert a.loc["IL-6", "n_reference"] == 1
    assert np.isnan(a.loc["IL-6", "p"]) and np.isnan(a.loc["IL-6", "q_bh"]) and np.isnan(a.loc["IL-6", "adjusted_p"])
    assert a.loc["IL-6", "method"].startswith("not tested: an arm has fewer than min_per_arm = 2 patients")
    assert a.loc["IL-6", "adjusted_method"].startswith("ANCOVA not estimable, not tested")
    assert a.loc["Treg", "q_bh"] == pytest.approx(a.loc["Treg", "p"])  # a family of one: the untestable AUC is out
    assert res.settings["bh_families"]["auc_tests"] == 1


def _control_below_lloq(m: pd.DataFrame, censor: str = "below_lloq") -> pd.DataFrame:
    """Return IL-6 at visits 0, 6, 14 (equal n per arm) with every control value censored as ``censor``."""
    m = m[(m["feature"] == "IL-6") & m["visit_day"].isin([0, 6, 14])].copy()
    control = m["arm"] == "control"
    m.loc[control, "censor"] = censor
    m.loc[control, "value"] = 0.5
    return m


def test_a_feature_exactly_half_censored_is_not_modelled_and_compared_by_percent_detectable() -> None:
    """A control arm entirely below the LLOQ (50 % of the values) was modelled as if the substitutes were measured."""
    res = compare_arms(measurements_view(_control_below_lloq(syn.measurements(0))), window=(0, 14))
    o = res.omnibus.set_index("test")
    assert o["pct_censored"].tolist() == [50.0, 50.0]
    assert o["p"].isna().all() and o["method"].str.contains(r"50 % of values censored \(>= 50 %\)").all()
    t = res.visit_tests.set_index("visit_day")
    assert (t["pct_censored"] == 50.0).all() and (t["test"] == "Fisher exact").all()
    assert t.loc[14, ["pct_treated", "pct_reference"]].tolist() == [100.0, 0.0]
    assert res.ancova["p"].isna().all() and res.ancova["method"].str.contains(r"\(>= 50 %\)").all()


def test_averaged_replicates_with_one_quantified_are_measurements_so_a_visit_of_them_is_rank_tested() -> None:
    """Counting "mixed" as censored sent a visit of such values to Fisher on 100 % vs 100 % detectable (p = 1)."""
    view = measurements_view(_control_below_lloq(syn.measurements(0), censor="mixed"))
    mixed = view[view["censor"] == "mixed"]
    assert not mixed["censored"].any() and mixed["detectable"].all()
    res = compare_arms(view, window=(0, 14))
    assert (res.visit_tests["test"] != "Fisher exact").all()
    post = res.visit_tests[res.visit_tests["visit_day"] > 0]
    assert (post["p"] < 0.05).any()  # the control arm's low values differ from the treated arm's


def test_the_arm_omnibus_test_is_post_baseline_only_so_a_day_0_imbalance_is_not_a_treatment_effect() -> None:
    """"arm at any visit" included the Day 0 (pre-dose) difference yet was BH-adjusted with the treatment tests."""
    m = syn.measurements(0)
    feature = syn.NULL_FEATURES[0]
    m = m[m["feature"] == feature].copy()
    imbalance = (m["visit_day"] == 0) & (m["arm"] == "MSC")
    m.loc[imbalance, "value"] *= 10.0  # a pre-dose difference only
    res = compare_arms(measurements_view(m))
    o = res.omnibus.set_index("test")
    assert "arm at any visit" not in o.index
    row = o.loc["arm at any post-baseline visit"]
    n_post = sum(int(v) > 0 for v in row["visits"].split(","))
    assert row["num_df"] == n_post and row["p"] > 0.05
    assert "day 0 is baseline imbalance" in row["method"]
    day0 = res.visit_tests.set_index("visit_day").loc[0]
    assert day0["p"] < 0.05 and day0["family"] == BASELINE_FAMILY  # the imbalance is reported, in its own family
