"""Compare the arms at each post-baseline visit adjusted for the patient's baseline (ANCOVA).

Per feature x post-baseline visit: OLS of ``log10(value)`` at the visit on arm (treated = 1),
``log10(baseline)`` and the adjustment covariates, over the patients with a value at both the
visit and baseline (the last visit on or before day 0). The arm coefficient is the difference
treated - reference in log10 units at equal baseline, reported with its t-based 95 % CI
(residual df) and as a ratio ``10 ** coefficient`` (geometric mean ratio at equal baseline).
This is the change-from-baseline analysis: the coefficient of arm is the same whether the
outcome is log10(value) or its change from baseline, because baseline is a covariate.

A visit is not tested (p NaN, outside the BH families) when an arm has fewer than ``min_per_arm``
patients with both values, when ``censor_threshold`` (default half) or more of the values used are censored
(substituted values are not measurements), or when the model has no residual df. Benjamini-
Hochberg q-values are given within feature over visits (``q_bh_feature``) and over the table
(``q_bh_all``); every test is post-baseline, so every one is a treatment-effect test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from immunolab.analysis.nonparametric import bh_adjust

__all__ = ["ANCOVA_COLUMNS", "baseline_ancova"]

ANCOVA_COLUMNS = [
    "assay", "feature", "measure", "unit", "visit_day", "baseline_day", "treated", "reference", "n_treated",
    "n_reference", "n_without_baseline", "n_missing_covariate", "pct_censored", "estimate_log10", "se_log10", "ci_low_log10", "ci_high_log10", "ratio",
    "ratio_ci_low", "ratio_ci_high", "t", "df", "p", "baseline_slope", "adjusted_for", "method",
    "q_bh_feature", "q_bh_all",
]


def _pow10(x: float) -> float:
    with np.errstate(over="ignore"):
        return float(np.power(10.0, x))


def _design(d: pd.DataFrame, treated: str, adjust: Sequence[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """Return X (const, arm, log10 baseline, covariate columns adding rank), covariates used, columns left out."""
    from immunolab.analysis.mixed_model import add_covariate_columns

    X = np.column_stack([np.ones(len(d)), (d["arm"] == treated).to_numpy(dtype=float),
                         d["baseline_log10"].to_numpy(dtype=float)])
    X, _kept, used, left_out = add_covariate_columns(X, d, adjust)
    return X, used, left_out


def _visit_row(d: pd.DataFrame, treated: str, reference: str, adjust: Sequence[str], alpha: float,
               censor_threshold: float, min_per_arm: int, n_without_baseline: int = 0,
               n_missing_covariate: int = 0) -> dict[str, Any]:
    """Return the ANCOVA result of one visit (patients with a visit and a baseline value)."""
    import statsmodels.api as sm

    n_t, n_r = int((d["arm"] == treated).sum()), int((d["arm"] == reference).sum())
    cens = float(np.concatenate([d["censored"].to_numpy(dtype=bool), d["baseline_censored"].to_numpy(dtype=bool)])
                 .mean()) if len(d) else np.nan
    row: dict[str, Any] = {"n_treated": n_t, "n_reference": n_r, "n_without_baseline": n_without_baseline,
                           "n_missing_covariate": n_missing_covariate,
                           "pct_censored": 100.0 * cens if len(d) else np.nan, "adjusted_for": "none"}
    row.update(dict.fromkeys(("estimate_log10", "se_log10", "ci_low_log10", "ci_high_log10", "ratio", "ratio_ci_low",
                              "ratio_ci_high", "t", "df", "p", "baseline_slope"), np.nan))
    if min(n_t, n_r) < min_per_arm:
        row["method"] = (f"not tested: an arm has fewer than min_per_arm = {min_per_arm} patients with a value at "
                         f"this visit and at baseline ({n_t} treated vs {n_r} reference)")
        return row
    if cens >= censor_threshold:
        row["method"] = (f"not tested: {100 * cens:.0f} % of the values at this visit and baseline are censored "
                         f"(>= {100 * censor_threshold:.0f} %); see the per-visit Fisher tests")
        return row
    X, used, left_out = _design(d, treated, adjust)
    if len(d) <= X.shape[1]:
        row["method"] = f"not tested: {len(d)} patients leave no residual df for {X.shape[1]} model terms"
        return row
    rank = int(np.linalg.matrix_rank(X))
    if rank < X.shape[1]:  # e.g. every baseline equal, or a covariate following arm and baseline together
        row["method"] = (f"not tested: the model's {X.shape[1]} terms are not all estimable at this visit "
                         f"(design rank {rank}: a term is a combination of the others)")
        return row
    fit = sm.OLS(d["log10_value"].to_numpy(dtype=float), X).fit()
    lo, hi = fit.conf_int(alpha=alpha)[1]
    est = float(fit.params[1])
    terms = " + ".join(["arm", "log10(baseline)", *used])
    row.update(
        estimate_log10=est, se_log10=float(fit.bse[1]), ci_low_log10=float(lo), ci_high_log10=float(hi),
        ratio=_pow10(est), ratio_ci_low=_pow10(float(lo)), ratio_ci_high=_pow10(float(hi)), t=float(fit.tvalues[1]),
        df=float(fit.df_resid), p=float(fit.pvalues[1]), baseline_slope=float(fit.params[2]),
        adjusted_for=",".join(["baseline", *used]),
        method=(f"ANCOVA: OLS log10(value) ~ {terms} (n = {len(d)}); arm coefficient (treated - reference, log10) "
                "with t CI on the residual df; ratio = geometric mean ratio treated/reference at equal baseline"
                + (f"; left out as aliased: {', '.join(left_out)}" if left_out else "")
                + (f"; {n_without_baseline} patient(s) with a value at this visit but none at baseline left out"
                   if n_without_baseline else "")
                + (f"; {n_missing_covariate} patient(s) without a value of an adjustment covariate left out"
                   if n_missing_covariate else "")),
    )
    return row


def baseline_ancova(
    data: pd.DataFrame,
    *,
    treated: str,
    reference: str,
    adjust: Sequence[str] = (),
    alpha: float = 0.05,
    censor_threshold: float = 0.5,
    min_per_arm: int = 2,
    baseline_last_day: int = 0,
) -> pd.DataFrame:
    """Return one ANCOVA row per feature x post-baseline visit (see the module doc; columns :data:`ANCOVA_COLUMNS`).

    ``data``: rows of the measurements view (``log10_value``, ``censored``, ``arm`` and the
    ``adjust`` covariates as columns). Patients without a baseline value are left out of every visit.
    """
    rows: list[dict[str, Any]] = []
    keys = ["assay", "feature", "measure"]
    for fkey, g in data.groupby(keys, sort=True):
        key = dict(zip(keys, fkey, strict=True))
        key["unit"] = g["unit"].dropna().iloc[0] if "unit" in g and g["unit"].notna().any() else None
        g = g[np.isfinite(g["log10_value"].to_numpy(dtype=float))]
        base = g[g["visit_day"] <= baseline_last_day]
        if base.empty:
            continue
        base = base.sort_values("visit_day").groupby("patient_id", sort=True).last()
        base_day = int(base["visit_day"].max())
        covs = g.groupby("patient_id", sort=True)[["arm", *adjust]].first()
        for visit in sorted(int(v) for v in g.loc[g["visit_day"] > baseline_last_day, "visit_day"].unique()):
            at = g[g["visit_day"] == visit].groupby("patient_id", sort=True)[["log10_value", "censored"]].mean()
            d = at.join(base[["log10_value", "censored"]].rename(columns={
                "log10_value": "baseline_log10", "censored": "baseline_censored"}), how="inner")
            no_base = int((~at.index.isin(base.index)).sum())
            d = d.join(covs, how="left")
            known = d[["arm", *adjust]].notna().all(axis=1)
            n_missing = int((d["arm"].notna() & ~known).sum())  # counted, never dropped silently
            d = d[known]
            d["censored"] = d["censored"].astype(bool)
            d["baseline_censored"] = d["baseline_censored"].astype(bool)
            rows.append({**key, "visit_day": visit, "baseline_day": base_day, "treated": treated,
                         "reference": reference,
                         **_visit_row(d.reset_index(), treated, reference, adjust, alpha, censor_threshold,
                                      min_per_arm, no_base, n_missing)})
    out = pd.DataFrame(rows, columns=ANCOVA_COLUMNS[:-2])
    out["q_bh_feature"] = np.nan
    for _k, idx in out.groupby(keys, sort=False).groups.items():
        out.loc[idx, "q_bh_feature"] = bh_adjust(out.loc[idx, "p"].to_numpy(dtype=float))
    out["q_bh_all"] = bh_adjust(out["p"].to_numpy(dtype=float)) if len(out) else np.nan
    return out[ANCOVA_COLUMNS]
