"""Outcomes: mortality, Kaplan-Meier, log-rank, AE summaries, improvement and immune features by survival."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest

from immunolab.analysis.endpoints import Endpoints
from immunolab.analysis.outcomes import (
    ae_summary,
    cumulative_incidence,
    immune_by_survival,
    kaplan_meier,
    last_contact_days,
    logrank,
    mortality_by_arm,
    plot_kaplan_meier,
    time_to_event,
    time_to_improvement,
    trajectory_by_survival,
)
from immunolab.errors import InputError


def _subjects(n_per_arm: int = 10) -> pd.DataFrame:
    ids = [f"{i + 1:03d}" for i in range(2 * n_per_arm)]
    return pd.DataFrame({"patient_id": ids, "arm": ["MSC"] * n_per_arm + ["control"] * n_per_arm})


def _outcomes(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["patient_id", "event", "study_day"])


def _fisher_two_sided(a: int, n1: int, c: int, n2: int) -> float:
    """Fisher's exact p from the hypergeometric distribution, written out (independent of scipy)."""
    k, n = a + c, n1 + n2
    probs = {x: comb(n1, x) * comb(n2, k - x) / comb(n, k) for x in range(max(0, k - n2), min(k, n1) + 1)}
    return sum(p for p in probs.values() if p <= probs[a] * (1 + 1e-7))


def test_28_day_mortality_counts_deaths_by_day_28_and_matches_hand_fisher() -> None:
    out = _outcomes([("002", "death", 12), ("011", "death", 3), ("012", "death", 9), ("013", "death", 20),
                     ("014", "death", 27), ("015", "death", 28), ("016", "death", 35), ("017", "withdrawal", 10),
                     ("001", "discharge", 8)])
    row = mortality_by_arm(_subjects(), out).iloc[0]
    assert (row["treated"], row["reference"]) == ("MSC", "control")
    assert (row["deaths_treated"], row["deaths_reference"]) == (1, 5)  # day 35 is after the horizon
    assert row["risk_difference"] == pytest.approx(0.1 - 0.5)
    assert row["p"] == pytest.approx(_fisher_two_sided(1, 10, 5, 10))
    assert row["rd_ci_low"] < -0.4 < row["rd_ci_high"] and row["n_censored_before_day"] == 1
    assert "Newcombe" in row["method"] and "small-n" in row["caveat"]


def test_the_newcombe_interval_reproduces_newcombe_1998() -> None:
    # Newcombe (1998) Stat Med 17:873, example 56/70 - 48/80, method 10: 0.0524 to 0.3339
    subj = pd.DataFrame({"patient_id": [str(i) for i in range(150)], "arm": ["A"] * 70 + ["B"] * 80})
    deaths = [(str(i), "death", 5) for i in list(range(56)) + list(range(70, 118))]
    row = mortality_by_arm(subj, _outcomes(deaths), reference_arm="B").iloc[0]
    assert row["risk_difference"] == pytest.approx(56 / 70 - 48 / 80)
    assert (row["rd_ci_low"], row["rd_ci_high"]) == pytest.approx((0.0524, 0.3339), abs=5e-4)


def test_time_to_event_censors_at_withdrawal_last_contact_or_the_horizon() -> None:
    out = _outcomes([("001", "death", 40), ("002", "withdrawal", 10), ("003", "death", 4), ("004", "discharge", 7)])
    tte = time_to_event(_subjects(2), out, horizon=28, last_contact={"004": 20}).set_index("patient_id")
    assert tte.loc["001", ["time", "event", "censor_reason"]].tolist() == [28, 0, "horizon"]
    assert tte.loc["002", ["time", "event", "censor_reason"]].tolist() == [10, 0, "withdrawal"]
    assert tte.loc["003", ["time", "event"]].tolist() == [4, 1]
    assert tte.loc["004", ["time", "event", "censor_reason"]].tolist() == [20, 0, "last contact"]


def test_kaplan_meier_matches_the_product_limit_by_hand() -> None:
    tte = pd.DataFrame({"patient_id": list("abcdefgh"), "arm": ["X"] * 5 + ["Y"] * 3,
                        "time": [3, 5, 10, 28, 28, 6, 6, 28], "event": [1, 1, 1, 0, 0, 1, 0, 0]})
    km = kaplan_meier(tte)
    x = km[km["arm"] == "X"].set_index("time")
    assert x.loc[[3.0, 5.0, 10.0, 28.0], "survival"].tolist() == pytest.approx([0.8, 0.6, 0.4, 0.4])
    assert x.loc[28.0, "censored"] == 2 and x["median_time"].iloc[0] == 10.0
    y = km[km["arm"] == "Y"].set_index("time")
    assert y.loc[6.0, "survival"] == pytest.approx(2 / 3)
    assert (km["ci_low"] <= km["survival"] + 1e-12).all() and (km["survival"] <= km["ci_high"] + 1e-12).all()


def _logrank_by_hand(tte: pd.DataFrame, arm: str) -> float:
    """Return the log-rank chi-square from O - E and the hypergeometric variance (textbook formula)."""
    o_minus_e = var = 0.0
    for t in sorted(tte.loc[tte["event"] == 1, "time"].unique()):
        at_risk = tte[tte["time"] >= t]
        d = int(((at_risk["time"] == t) & (at_risk["event"] == 1)).sum())
        n, n1 = len(at_risk), int((at_risk["arm"] == arm).sum())
        d1 = int(((at_risk["time"] == t) & (at_risk["event"] == 1) & (at_risk["arm"] == arm)).sum())
        o_minus_e += d1 - d * n1 / n
        var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1) if n > 1 else 0.0
    return o_minus_e ** 2 / var


def test_log_rank_matches_the_hand_formula_with_ties() -> None:
    tte = pd.DataFrame({"patient_id": [str(i) for i in range(12)], "arm": ["MSC"] * 6 + ["control"] * 6,
                        "time": [5, 9, 28, 28, 28, 14, 3, 5, 5, 8, 28, 12], "event": [1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0]})
    row = logrank(tte).iloc[0]
    assert row["chi2"] == pytest.approx(_logrank_by_hand(tte, "MSC"), rel=1e-9)
    assert (row["events_treated"], row["events_reference"]) == (3, 4)


def _simulate(rng: np.random.Generator, n: int, hazard: dict[str, float], horizon: int = 28) -> pd.DataFrame:
    rows = []
    for arm, lam in hazard.items():
        times = rng.exponential(1 / lam, size=n)
        for i, t in enumerate(times):
            rows.append({"patient_id": f"{arm}{i}", "arm": arm, "time": min(t, horizon), "event": int(t <= horizon)})
    return pd.DataFrame(rows)


def test_an_independent_exponential_simulation_is_recovered() -> None:
    rng = np.random.default_rng(11)
    tte = _simulate(rng, 300, {"MSC": 0.005, "control": 0.02})
    assert logrank(tte).iloc[0]["p"] < 1e-4
    km = kaplan_meier(tte)
    for arm, lam in (("MSC", 0.005), ("control", 0.02)):
        s28 = km[km["arm"] == arm]["survival"].iloc[-1]
        assert s28 == pytest.approx(np.exp(-lam * 28), abs=0.05)
    nulls = [logrank(_simulate(np.random.default_rng(s), 10, {"MSC": 0.02, "control": 0.02})).iloc[0]["p"]
             for s in range(20)]
    assert sum(p < 0.05 for p in nulls) <= 3


def test_outcome_inputs_that_do_not_fit_are_iml_ana_008() -> None:
    for out, text in ((_outcomes([("999", "death", 3)]), "not in the subjects"),
                      (_outcomes([("001", "death", 3), ("001", "death", 5)]), "die twice"),
                      (_outcomes([("001", "death", -2)]), "before Day 0"),
                      (_outcomes([("001", "death", 10), ("001", "discharge", 15)]), "discharged alive after")):
        with pytest.raises(InputError) as info:
            time_to_event(_subjects(2), out)
        assert info.value.code == "IML-ANA-008" and text in info.value.message
    with pytest.raises(InputError) as info:
        time_to_event(_subjects(2).drop(columns=["arm"]), _outcomes([]))
    assert info.value.code == "IML-ANA-008"


def test_ae_summary_counts_events_patients_worst_grade_and_serious() -> None:
    ae = pd.DataFrame([
        ("001", 1, False, True, "recovered"), ("001", 3, True, False, "recovered"), ("002", 2, False, None, "recovered"),
        ("011", 5, True, False, "fatal"), ("012", 1, False, False, "recovered"), ("012", 1, False, False, "recovered"),
    ], columns=["patient_id", "grade", "serious", "related", "outcome"]).assign(term="x")
    s = ae_summary(_subjects(), ae).set_index("category")
    assert s.loc["any adverse event", ["events_treated", "patients_treated", "events_reference",
                                       "patients_reference"]].tolist() == [3, 2, 3, 2]
    assert s.loc["grade 1 (worst per patient)", ["events_treated", "patients_treated"]].tolist() == [1, 0]
    assert s.loc["grade 1 (worst per patient)", "patients_reference"] == 1
    assert s.loc["grade 3 (worst per patient)", "patients_treated"] == 1
    assert s.loc["grade >= 3", ["patients_treated", "patients_reference"]].tolist() == [1, 1]
    assert s.loc["serious", ["patients_treated", "patients_reference"]].tolist() == [1, 1]
    assert s.loc["related", "patients_treated"] == 1 and s.loc["fatal", "patients_reference"] == 1
    assert s.loc["any adverse event", "pct_patients_treated"] == pytest.approx(20.0)
    assert s.loc["any adverse event", "p"] == pytest.approx(1.0)


def test_time_to_improvement_is_a_two_point_fall_or_discharge_and_death_is_censored() -> None:
    scores = pd.DataFrame([("001", 0, 5), ("001", 6, 4), ("001", 10, 3), ("002", 0, 5), ("002", 3, 5),
                           ("003", 0, 6), ("003", 3, 7)], columns=["patient_id", "study_day", "value"])
    scores["test_code"] = "WHOOSCI"
    out = _outcomes([("002", "discharge", 7), ("003", "death", 5)])
    tti = time_to_improvement(_subjects(2), scores, out).set_index("patient_id")
    assert tti.loc["001", ["time", "event"]].tolist() == [10, 1]
    assert tti.loc["002", ["time", "event"]].tolist() == [7, 1]
    assert tti.loc["003", ["time", "event", "censor_reason"]].tolist() == [28, 0, "death (censored at the horizon)"]
    assert tti.loc["004", "censor_reason"] == "no baseline score"


def _view(rng: np.random.Generator, died: set[str]) -> pd.DataFrame:
    rows = []
    for i in range(20):
        pid = f"{i + 1:03d}"
        base = 1.0 + (1.0 if pid in died else 0.0) + rng.normal(0, 0.15)
        for day, drop in ((0, 0.0), (6, 0.6 if pid not in died else 0.0)):
            lv = base - drop + rng.normal(0, 0.05)
            rows.append({"patient_id": pid, "visit_day": day, "assay": "cytokine", "feature": "IL-6",
                         "measure": "concentration", "value": 10 ** lv, "log10_value": lv})
    return pd.DataFrame(rows)


def test_immune_features_by_survival_find_a_simulated_baseline_and_change_difference() -> None:
    died = {"003", "007", "012", "015", "018"}
    out = _outcomes([(p, "death", 14) for p in sorted(died)])
    res = immune_by_survival(_view(np.random.default_rng(5), died), _subjects(), out).set_index("quantity")
    base = res.loc["baseline log10(value)"]
    assert (base["n_died"], base["n_survived"]) == (5, 15)
    assert base["shift"] == pytest.approx(1.0, abs=0.2) and base["ci_low"] > 0 and base["p"] < 0.01
    change = res.loc["change to day 6, log10 fold"]
    assert change["shift"] == pytest.approx(0.6, abs=0.15) and change["ci_low"] > 0
    assert "small-n" in base["caveat"] and "Hodges-Lehmann" in base["method"]
    traj = trajectory_by_survival(_view(np.random.default_rng(5), died), _subjects(), out)
    assert set(traj["status"]) == {"died", "survived"} and traj["n"].sum() == 40


def test_the_kaplan_meier_plot_draws_one_curve_per_arm() -> None:
    tte = _simulate(np.random.default_rng(2), 10, {"MSC": 0.01, "control": 0.03})
    fig = plot_kaplan_meier(kaplan_meier(tte), title="28-day survival")
    ax = fig.axes[0]
    assert ax.get_title() == "28-day survival" and len(ax.get_legend().get_texts()) == 2


def _improvements() -> pd.DataFrame:
    """Return times to improvement where most patients improve (1 - S reaches 0.7, as in the demo's control arm)."""
    return pd.DataFrame({"patient_id": [str(i) for i in range(20)], "arm": ["control"] * 10 + ["MSC"] * 10,
                         "time": [3, 5, 6, 8, 11, 11, 11, 28, 28, 28, 2, 4, 4, 6, 7, 9, 10, 12, 28, 28],
                         "event": [1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]})


def test_the_cumulative_improvement_band_is_one_minus_the_survival_band_and_holds_the_curve() -> None:
    km = kaplan_meier(_improvements())
    inc = cumulative_incidence(km)
    assert inc["survival"].tolist() == pytest.approx((1 - km["survival"]).tolist())
    assert inc["ci_low"].tolist() == pytest.approx((1 - km["ci_high"]).tolist())
    assert inc["ci_high"].tolist() == pytest.approx((1 - km["ci_low"]).tolist())
    assert (inc["ci_low"] <= inc["survival"] + 1e-12).all() and (inc["survival"] <= inc["ci_high"] + 1e-12).all()


def test_the_improvement_figure_draws_a_band_that_contains_its_curve() -> None:
    ax = Endpoints(tables={"improvement_km": kaplan_meier(_improvements())}).figures()["improvement_km"].axes[0]
    bands = [c for c in ax.collections if len(c.get_paths()) and len(c.get_paths()[0].vertices) > 2]
    curves = [line for line in ax.lines if line.get_drawstyle() == "steps-post"]
    assert len(bands) == len(curves) == 2
    for line, band in zip(curves, bands, strict=True):
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        path = band.get_paths()[0]
        checked = 0
        for x0, x1, level in zip(x[:-1], x[1:], y[:-1], strict=True):
            if x1 - x0 > 1e-9:
                assert path.contains_point(((x0 + x1) / 2, level), radius=1e-9), (x0, level)
                checked += 1
        assert checked > 0


def test_last_contact_is_the_latest_day_of_any_source_and_day_0_without_data() -> None:
    samples = pd.DataFrame({"patient_id": ["001", "001", "002"], "visit_day": [0, 90, 14]})
    ae = pd.DataFrame({"patient_id": ["002"], "start_day": [20], "end_day": [31]})
    last = last_contact_days(_subjects(2), (samples, ("visit_day",)), (ae, ("start_day", "end_day")),
                             (_outcomes([("003", "discharge", 9)]), ("study_day",)))
    assert last == {"001": 90, "002": 31, "003": 9, "004": 0}
    row = mortality_by_arm(_subjects(2), _outcomes([("003", "death", 5)]), day=180, last_contact=last).iloc[0]
    assert row["n_censored_before_day"] == 3 and (row["deaths_treated"], row["deaths_reference"]) == (0, 1)


def test_time_to_improvement_censors_a_patient_last_seen_before_the_horizon_at_last_contact() -> None:
    """As for death: alive without improvement and last seen on Day 10 is censored on Day 10, not followed to Day 28."""
    from immunolab.analysis.outcomes import time_to_improvement

    subjects = pd.DataFrame({"patient_id": ["1", "2", "3"], "arm": ["MSC", "MSC", "control"]})
    scores = pd.DataFrame({"patient_id": ["1", "1", "2", "2", "3", "3"], "study_day": [0, 10, 0, 10, 0, 6],
                           "test_code": "WHOOSCI", "value": [5.0, 5.0, 5.0, 5.0, 5.0, 5.0]})
    outcomes = pd.DataFrame({"patient_id": ["3"], "event": ["death"], "study_day": [6]})
    contact = {"1": 10, "2": 10, "3": 6}
    plain = time_to_improvement(subjects, scores, outcomes, horizon=28).set_index("patient_id")
    seen = time_to_improvement(subjects, scores, outcomes, horizon=28, last_contact=contact).set_index("patient_id")
    assert plain.loc["1", "time"] == 28 and seen.loc["1", "time"] == 10 and seen.loc["1", "censor_reason"] == "last contact"
    assert seen.loc["3", "time"] == 28 and seen.loc["3", "censor_reason"].startswith("death")  # death: at the horizon
    assert (seen["event"] == 0).all()


def test_adverse_events_before_day_0_are_left_out_of_the_tables_by_arm_and_counted() -> None:
    ae = pd.DataFrame([("001", 3, True, -3, "recovered"), ("001", 1, False, 0, "recovered"),
                       ("002", 4, True, -1, "recovered"), ("011", 2, False, None, "recovered")],
                      columns=["patient_id", "grade", "serious", "start_day", "outcome"]).assign(related=False, term="x")
    s = ae_summary(_subjects(), ae).set_index("category")
    assert s.loc["any adverse event", ["events_treated", "patients_treated", "events_reference",
                                       "patients_reference"]].tolist() == [1, 1, 1, 1]  # no onset day: emergent
    assert s.loc["grade >= 3", ["patients_treated", "patients_reference"]].tolist() == [0, 0]
    assert s.loc["serious", "patients_treated"] == 0 and s.loc["grade 1 (worst per patient)", "patients_treated"] == 1
    assert set(s["n_pretreatment_events_excluded"]) == {2} and "on or after Day 0" in s["method"].iloc[0]


def test_time_to_improvement_takes_the_baseline_score_in_the_day_0_window_only() -> None:
    """A score of Day -5 was taken as the baseline; README and ADLB define baseline as Day -1 to Day 0."""
    subjects = pd.DataFrame({"patient_id": ["1", "2"], "arm": ["MSC", "control"]})
    scores = pd.DataFrame({"patient_id": ["1", "1", "2", "2"], "study_day": [-5, 6, -1, 6],
                           "test_code": "WHOOSCI", "value": [6.0, 4.0, 6.0, 4.0]})
    tti = time_to_improvement(subjects, scores).set_index("patient_id")
    assert np.isnan(tti.loc["1", "baseline_score"]) and tti.loc["1", "event"] == 0
    assert tti.loc["1", "censor_reason"] == "no baseline score" and bool(tti.loc["1", "no_baseline_score"])
    assert tti.loc["2", ["baseline_score", "time", "event"]].tolist() == [6.0, 6, 1]  # Day -1 is in the window


def test_a_missing_baseline_score_does_not_overwrite_the_censoring_of_last_contact_or_death() -> None:
    """A patient last seen on Day 14 without a baseline score was censored as "no baseline score" (at Day 28 in ADTTE)."""
    subjects = pd.DataFrame({"patient_id": ["1", "2", "3"], "arm": ["MSC", "MSC", "control"]})
    scores = pd.DataFrame({"patient_id": ["1", "2", "3"], "study_day": [6, 6, 0],
                           "test_code": "WHOOSCI", "value": [5.0, 5.0, 5.0]})
    outcomes = pd.DataFrame({"patient_id": ["2"], "event": ["death"], "study_day": [9]})
    tti = time_to_improvement(subjects, scores, outcomes, last_contact={"1": 14, "2": 9, "3": 28}).set_index("patient_id")
    assert tti.loc["1", ["time", "event", "censor_reason"]].tolist() == [14, 0, "last contact"]
    assert tti.loc["2", ["time", "event", "censor_reason"]].tolist() == [28, 0, "death (censored at the horizon)"]
    assert tti["no_baseline_score"].tolist() == [True, True, False]


def test_a_pretreatment_adverse_event_of_a_patient_not_in_the_subjects_is_still_iml_ana_008() -> None:
    ae = pd.DataFrame([("999", 2, False, -2, "recovered")],
                      columns=["patient_id", "grade", "serious", "start_day", "outcome"]).assign(related=False, term="x")
    with pytest.raises(InputError) as info:
        ae_summary(_subjects(), ae)
    assert info.value.code == "IML-ANA-008"
