"""Small-sample inference of the mixed model reproduces the exact balanced split-plot ANOVA."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from immunolab.analysis.mixed_model import _design, fit_arm_visit_model
from immunolab.analysis.satterthwaite import SatterthwaiteModel

VISITS = [0, 3, 6, 10]


def balanced(seed: int = 3, n: int = 10, patient_sd: float = 0.3, visit_sd: float = 0.2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(2 * n):
        arm, b = ("MSC" if i < n else "control"), rng.normal(0, patient_sd)
        for v in VISITS:
            recs.append({"patient_id": f"{i:03d}", "arm": arm, "visit_day": v, "log10_value": b + rng.normal(0, visit_sd)})
    return pd.DataFrame(recs)


def anova(df: pd.DataFrame) -> dict[str, float]:
    """Return the classical split-plot mean squares (between / within patients) and interaction F."""
    n_t = len(VISITS)
    y = df["log10_value"]
    pm = df.groupby("patient_id")["log10_value"].transform("mean")
    am = df.groupby("arm")["log10_value"].transform("mean")
    cell = df.groupby(["arm", "visit_day"])["log10_value"].transform("mean")
    vm = df.groupby("visit_day")["log10_value"].transform("mean")
    gm = y.mean()
    n_pat = df["patient_id"].nunique()
    df_b, df_w = n_pat - 2, (n_pat - 2) * (n_t - 1)
    ms_b = float(((pm - am) ** 2).sum() / df_b)
    ms_w = float(((y - cell - pm + am) ** 2).sum() / df_w)
    ss_int = float(((cell - am - vm + gm) ** 2).sum())
    return {"ms_b": ms_b, "ms_w": ms_w, "df_b": df_b, "df_w": df_w, "f_int": ss_int / (n_t - 1) / ms_w}


def test_per_visit_arm_difference_has_the_classical_satterthwaite_df_in_a_balanced_design() -> None:
    df = balanced()
    a = anova(df)
    t = len(VISITS)
    expected = (a["ms_b"] + (t - 1) * a["ms_w"]) ** 2 / (a["ms_b"] ** 2 / a["df_b"] + ((t - 1) * a["ms_w"]) ** 2 / a["df_w"])
    res = fit_arm_visit_model(df, treated="MSC", reference="control")
    for c in res.visit_differences.values():
        assert c.df == pytest.approx(expected, rel=1e-4)
        assert c.df_method == "Satterthwaite"


def test_interaction_f_and_its_denominator_df_equal_the_exact_split_plot_anova() -> None:
    df = balanced(seed=11)
    a = anova(df)
    res = fit_arm_visit_model(df, treated="MSC", reference="control")
    assert res.interaction is not None
    assert res.interaction.num_df == len(VISITS) - 1
    assert res.interaction.den_df == pytest.approx(a["df_w"], rel=1e-5)
    assert res.interaction.f == pytest.approx(a["f_int"], rel=1e-4)
    assert res.interaction.p == pytest.approx(stats.f.sf(a["f_int"], len(VISITS) - 1, a["df_w"]), rel=1e-3)


def test_fixed_effects_agree_with_statsmodels_mixedlm() -> None:
    from statsmodels.regression.mixed_linear_model import MixedLM

    df = balanced(seed=5).drop(index=[3, 17, 30]).reset_index(drop=True)  # unbalanced
    X, _ = _design(df, VISITS, "MSC")
    fit = MixedLM(df["log10_value"].to_numpy(), X, groups=df["patient_id"].to_numpy()).fit(reml=True, method="bfgs")
    m = SatterthwaiteModel(X, df["log10_value"].to_numpy(), df["patient_id"].to_numpy(),
                           float(np.asarray(fit.cov_re)[0, 0]), float(fit.scale))
    assert np.allclose(m.beta, fit.fe_params, atol=1e-6)
    assert np.allclose(np.sqrt(np.diag(m.C)), fit.bse_fe, rtol=0.02)


def test_patient_variance_at_zero_falls_back_to_residual_df() -> None:
    rng = np.random.default_rng(0)
    df = balanced(seed=2, patient_sd=0.0)
    X, _ = _design(df, VISITS, "MSC")
    m = SatterthwaiteModel(X, df["log10_value"].to_numpy() + rng.normal(0, 0.01, len(df)),
                           df["patient_id"].to_numpy(), 0.0, 0.04)
    df_, method = m.contrast_df(np.eye(X.shape[1])[4])
    assert df_ == len(df) - X.shape[1] and method.startswith("residual df")


def test_visits_with_too_few_values_in_an_arm_are_left_out_and_noted() -> None:
    df = balanced(seed=4)
    df = df[~((df["visit_day"] == 10) & (df["arm"] == "MSC") & (df["patient_id"] != "000"))]
    res = fit_arm_visit_model(df, treated="MSC", reference="control")
    assert res.visits == [0, 3, 6]
    assert any("visits 10 left out" in n for n in res.notes)
