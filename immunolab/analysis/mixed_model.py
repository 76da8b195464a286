"""Fit log10(value) ~ arm * C(visit) + (1 | patient) by REML and test the arm effects.

The design is built here (no formula parser) so contrasts are explicit: columns are the
intercept, one dummy per non-reference visit, the treated-arm dummy and the treated-arm x visit
dummies. The reference arm is ``control`` when present; the reference visit is the first
(baseline) visit. Estimates are on the log10 scale: an arm difference ``d`` is a geometric
mean ratio ``10 ** d`` (treated / reference).

Fitting: statsmodels ``MixedLM`` (REML, random intercept per patient; optimisers tried in the
order of :data:`OPTIMISERS` until one converges). Inference: t and F tests with Satterthwaite df
(:mod:`immunolab.analysis.satterthwaite`), which a 10-per-arm trial needs: normal-theory Wald
tests would be anti-conservative.

Visits where either arm has fewer than ``min_per_arm`` observations are left out of the model
(the interaction dummy would be unestimable) and listed in ``notes``.

Omnibus tests: ``interaction`` is the joint F test that every treated-arm x visit coefficient is
zero (the arms' trajectories are parallel); ``arm_any_post_baseline_visit`` is the joint F test
that the arm difference is zero at every visit after ``baseline_last_day`` (Day 0, pre-dose:
its difference is baseline imbalance, not a treatment effect, so it is not in this test).

Covariates (``covariates=["site", "specimen", "age"]``) add fixed effects after the arm x
visit columns, so the arm contrasts keep their positions: a numeric covariate enters centred
on its mean (one column), a categorical one as treatment dummies against its most frequent
level (ties: first in sort order). A covariate column that adds no rank (e.g. specimen when
site decides it, or one level per patient arm) is left out and named in ``notes``; rows with
a missing covariate value are left out and counted in ``notes``. ``adjusted_for`` lists the
covariates that entered the model.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from immunolab.analysis.satterthwaite import ContrastTest, FTest, SatterthwaiteModel

__all__ = ["OPTIMISERS", "MixedModelResult", "add_covariate_columns", "covariate_columns", "fit_arm_visit_model"]

#: statsmodels optimisers tried in turn; the first converged REML fit is used (lbfgs, the
#: statsmodels default, fails on small log-scale variances, so bfgs goes first)
OPTIMISERS = ("bfgs", "lbfgs", "powell", "cg", "nm")


@dataclass
class MixedModelResult:
    """Outcome of one feature's mixed model: omnibus tests, per-visit arm differences, notes."""

    interaction: FTest | None
    arm_any_post_baseline_visit: FTest | None
    visit_differences: dict[int, ContrastTest]
    visits: list[int]
    treated: str
    reference: str
    n_obs: int
    n_patients: int
    tau2: float
    sigma2: float
    converged: bool
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    adjusted_for: list[str] = field(default_factory=list)


def covariate_columns(df: pd.DataFrame, name: str) -> tuple[list[np.ndarray], list[str]]:
    """Return the design columns of one covariate: centred numeric, or dummies vs its most frequent level."""
    col = df[name]
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = col.to_numpy(dtype=float)
        return [values - values.mean()], [f"{name} (centred)"]
    text = col.astype(str)
    counts = text[col.notna()].value_counts()
    if counts.empty:  # no value at all (e.g. no patient has an AUC over the window): no column
        return [], []
    reference = sorted(counts[counts == counts.max()].index)[0]
    levels = [lv for lv in sorted(counts.index) if lv != reference]
    return [(text == lv).to_numpy(dtype=float) for lv in levels], [f"{name}[{lv}] vs {reference}" for lv in levels]


def add_covariate_columns(X: np.ndarray, df: pd.DataFrame, covariates: Sequence[str]
                          ) -> tuple[np.ndarray, list[str], list[str], list[str]]:
    """Append each covariate's design columns that add rank to ``X``.

    Return the new X, the labels of the columns kept, the covariates with at least one column kept,
    and the labels of the columns left out (aliased with what X already holds). One rule for the
    mixed model and both ANCOVAs (AUC, change from baseline).
    """
    kept: list[str] = []
    used: list[str] = []
    left_out: list[str] = []
    rank = np.linalg.matrix_rank(X)
    for cov in covariates:
        cols, labels = covariate_columns(df, cov)
        for c, label in zip(cols, labels, strict=True):
            trial = np.column_stack([X, c])
            new_rank = np.linalg.matrix_rank(trial)
            if new_rank > rank:
                X, rank = trial, new_rank
                kept.append(label)
                if cov not in used:
                    used.append(cov)
            else:
                left_out.append(label)
    return X, kept, used, left_out


def _add_covariates(X: np.ndarray, names: list[str], df: pd.DataFrame, covariates: list[str]
                    ) -> tuple[np.ndarray, list[str], list[str], list[str]]:
    """Append covariate columns that add rank; return X, names, covariates used, notes."""
    X, kept, used, left_out = add_covariate_columns(X, df, covariates)
    names.extend(kept)
    notes = [f"covariate column {label} left out: aliased with arm, visit or an earlier covariate" for label in left_out]
    return X, names, used, notes


def _design(df: pd.DataFrame, visits: list[int], treated: str) -> tuple[np.ndarray, list[str]]:
    cols: list[np.ndarray] = [np.ones(len(df))]
    names = ["Intercept"]
    is_treated = (df["arm"] == treated).to_numpy(dtype=float)
    day = df["visit_day"].to_numpy()
    for v in visits[1:]:
        cols.append((day == v).astype(float))
        names.append(f"visit[{v}]")
    cols.append(is_treated)
    names.append(f"arm[{treated}]")
    for v in visits[1:]:
        cols.append(is_treated * (day == v))
        names.append(f"arm[{treated}]:visit[{v}]")
    return np.column_stack(cols), names


def _fit_mixedlm(y: np.ndarray, X: np.ndarray, groups: np.ndarray) -> tuple[float, float, bool, list[str]]:
    from statsmodels.regression.mixed_linear_model import MixedLM

    model = MixedLM(y, X, groups=groups)
    failures: list[str] = []
    best: tuple[float, Any, str, list[str]] | None = None
    for method in OPTIMISERS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fit = model.fit(reml=True, method=method)
            except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
                failures.append(f"{method}: {type(exc).__name__}")
                continue
        texts = sorted({f"statsmodels ({method}): {str(w.message).splitlines()[0]}" for w in caught})
        if fit.converged and np.isfinite(fit.llf):
            return float(np.asarray(fit.cov_re)[0, 0]), float(fit.scale), True, texts
        if np.isfinite(fit.llf) and (best is None or fit.llf > best[0]):
            best = (float(fit.llf), fit, method, texts)
    if best is None:
        raise np.linalg.LinAlgError("every optimiser failed (" + ", ".join(failures) + ")")
    _llf, fit, method, texts = best
    return float(np.asarray(fit.cov_re)[0, 0]), float(fit.scale), False, [*texts, f"best non-converged fit ({method})"]


def fit_arm_visit_model(
    data: pd.DataFrame,
    *,
    treated: str,
    reference: str,
    response: str = "log10_value",
    min_per_arm: int = 2,
    alpha: float = 0.05,
    covariates: list[str] | tuple[str, ...] = (),
    baseline_last_day: int = 0,
) -> MixedModelResult:
    """Fit the model to one feature's rows (columns patient_id, arm, visit_day, ``response``, covariates).

    Visits on or before ``baseline_last_day`` are baseline: out of the post-baseline arm test.
    """
    df = data[np.isfinite(data[response].to_numpy(dtype=float))]
    notes: list[str] = []
    if covariates:
        missing = df[list(covariates)].isna().any(axis=1)
        if missing.any():
            notes.append(f"{int(missing.sum())} value(s) left out: a covariate ({', '.join(covariates)}) is missing")
            df = df[~missing]
    counts = df.groupby(["visit_day", "arm"]).size().unstack(fill_value=0)
    for arm in (treated, reference):
        if arm not in counts.columns:
            counts[arm] = 0
    ok_visits = [int(v) for v in counts.index if min(counts.loc[v, treated], counts.loc[v, reference]) >= min_per_arm]
    dropped = sorted(set(int(v) for v in counts.index) - set(ok_visits))
    if dropped:
        notes.append(f"visits {', '.join(map(str, dropped))} left out (< {min_per_arm} values in an arm)")
    df = df[df["visit_day"].isin(ok_visits)]
    empty = MixedModelResult(None, None, {}, ok_visits, treated, reference, len(df), int(df["patient_id"].nunique()),
                             np.nan, np.nan, False, notes)
    if len(ok_visits) < 2:
        empty.error = "fewer than two visits with values in both arms"
        return empty
    X, names = _design(df, ok_visits, treated)
    used: list[str] = []
    if covariates:
        X, names, used, cov_notes = _add_covariates(X, names, df, list(covariates))
        notes.extend(cov_notes)
    y = df[response].to_numpy(dtype=float)
    groups = df["patient_id"].astype(str).to_numpy()
    if np.linalg.matrix_rank(X) < X.shape[1] or len(y) <= X.shape[1] + 1:
        empty.error = "design is not estimable (too few values)"
        return empty
    try:
        tau2, sigma2, converged, fit_notes = _fit_mixedlm(y, X, groups)
        model = SatterthwaiteModel(X, y, groups, tau2, sigma2)
    except (np.linalg.LinAlgError, ValueError) as exc:
        empty.error = f"mixed model could not be fitted ({type(exc).__name__}: {str(exc)[:120]})"
        return empty
    notes.extend(fit_notes)
    if not converged:
        notes.append("MixedLM did not report convergence; estimates may be unreliable")
    k = len(ok_visits) - 1
    p = X.shape[1]
    arm_col = 1 + k
    L_inter = np.zeros((k, p))
    for i in range(k):
        L_inter[i, arm_col + 1 + i] = 1.0
    diffs: dict[int, ContrastTest] = {}
    post_baseline: list[np.ndarray] = []
    for i, v in enumerate(ok_visits):
        vec = np.zeros(p)
        vec[arm_col] = 1.0
        if i > 0:
            vec[arm_col + i] = 1.0
        diffs[v] = model.contrast(vec, alpha=alpha)
        if v > baseline_last_day:
            post_baseline.append(vec)
    if not post_baseline:
        notes.append(f"no visit after day {baseline_last_day}: no post-baseline arm test")
    return MixedModelResult(
        interaction=model.f_test(L_inter),
        arm_any_post_baseline_visit=model.f_test(np.vstack(post_baseline)) if post_baseline else None,
        visit_differences=diffs,
        visits=ok_visits,
        treated=treated,
        reference=reference,
        n_obs=len(y),
        n_patients=int(np.unique(groups).size),
        tau2=model.tau2,
        sigma2=model.sigma2,
        converged=converged,
        notes=notes,
        adjusted_for=used,
    )
