"""Covariate balance between the arms, and joining covariates onto the measurements view.

A 10-per-arm trial can be unbalanced by chance on what decides a measurement (in the demo,
site decides the specimen: whole blood at one site, PBMC at the other), so an arm difference
may be a site difference. :func:`covariate_balance` says so per covariate:

- counts and % per arm of each level (numeric covariates also by band, e.g. age 18-39, 40-49...);
- the standardised mean difference (treated - reference): numeric ``(m_t - m_r) / sqrt((s_t^2 +
  s_r^2) / 2)``; binary ``(p_t - p_r) / sqrt((p_t (1 - p_t) + p_r (1 - p_r)) / 2)``; several
  levels: the Mahalanobis form of Yang & Dalton (2012) over the level indicators (>= 0);
- ``confounded`` when ``|SMD| > smd_threshold`` (default 0.5, "large") or a level occurs in
  one arm only; ``reason`` says which.

:func:`arm_crosstab` counts patients per arm x (site, specimen, ...) cell; :func:`add_covariates`
joins subject-level columns onto the view for ``compare_arms(..., adjust=[...])``;
:func:`side_by_side` puts unadjusted and adjusted per-visit effects in one table.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from immunolab.analysis.compare import ArmComparison, choose_arms
from immunolab.errors import InputError

__all__ = ["DEFAULT_AGE_BANDS", "add_covariates", "arm_crosstab", "covariate_balance", "side_by_side", "smd"]

#: age bands (years, left-closed) of the balance table
DEFAULT_AGE_BANDS = (18, 40, 50, 60, 71)


def _check(subjects: pd.DataFrame, covariates: Sequence[str]) -> None:
    missing = [c for c in ("patient_id", "arm", *covariates) if c not in subjects.columns]
    if missing:
        raise InputError("IML-ANA-006", f"covariate(s) {', '.join(missing)} are not in the subjects data",
                         hint="Columns present: " + ", ".join(map(str, subjects.columns)) +
                              ". Add the column to subjects.csv (extra columns are kept as covariates).")


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def smd(treated: pd.Series, reference: pd.Series) -> float:
    """Return the standardised mean difference (treated - reference) of a numeric or categorical covariate."""
    t, r = treated.dropna(), reference.dropna()
    if t.empty or r.empty:
        return float("nan")
    if _is_numeric(t) and _is_numeric(r):
        pooled = np.sqrt((t.var(ddof=1) + r.var(ddof=1)) / 2) if len(t) > 1 and len(r) > 1 else 0.0
        diff = float(t.mean() - r.mean())
        return diff / pooled if pooled > 0 else (0.0 if diff == 0 else float(np.sign(diff) * np.inf))
    levels = sorted(set(t.astype(str)) | set(r.astype(str)))
    if len(levels) < 2:
        return 0.0
    pt = np.array([(t.astype(str) == lv).mean() for lv in levels[1:]])
    pr = np.array([(r.astype(str) == lv).mean() for lv in levels[1:]])
    if len(levels) == 2:
        var = (pt[0] * (1 - pt[0]) + pr[0] * (1 - pr[0])) / 2
        return float((pt[0] - pr[0]) / np.sqrt(var)) if var > 0 else float(np.sign(pt[0] - pr[0]) * np.inf)
    s = (_multinomial_cov(pt) + _multinomial_cov(pr)) / 2
    d = pt - pr
    return float(np.sqrt(max(d @ np.linalg.pinv(s) @ d, 0.0)))


def _multinomial_cov(p: np.ndarray) -> np.ndarray:
    return np.diag(p) - np.outer(p, p)


def _banded(values: pd.Series, bands: Sequence[int]) -> pd.Series:
    labels = [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(bands)]
    return pd.cut(values, bins=list(bands), right=False, labels=labels).astype(str).replace("nan", "missing")


def covariate_balance(
    subjects: pd.DataFrame,
    covariates: Sequence[str] = ("site", "specimen", "sex", "age"),
    *,
    reference_arm: str | None = None,
    smd_threshold: float = 0.5,
    age_bands: Sequence[int] = DEFAULT_AGE_BANDS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (counts, smd): level counts per arm, and one row per covariate with SMD and ``confounded``.

    ``subjects``: one row per patient with ``patient_id``, ``arm`` and the covariates (any
    extra subjects column can be named). Covariates absent from it are ``IML-ANA-006``.
    """
    _check(subjects, covariates)
    subj = subjects.drop_duplicates("patient_id")
    treated, reference = choose_arms(list(subj["arm"]), reference_arm)
    t, r = subj[subj["arm"] == treated], subj[subj["arm"] == reference]
    counts, rows = [], []
    for cov in covariates:
        shown = _banded(subj[cov], age_bands) if _is_numeric(subj[cov]) else subj[cov].astype(str)
        table = pd.crosstab(shown, subj["arm"]).reindex(columns=[treated, reference], fill_value=0)
        for level, rec in table.iterrows():
            for arm in (treated, reference):
                n_arm = len(t) if arm == treated else len(r)
                counts.append({"covariate": cov, "level": str(level), "arm": arm, "n": int(rec[arm]),
                               "pct": 100.0 * rec[arm] / n_arm if n_arm else np.nan})
        value = smd(t[cov], r[cov])
        one_arm = [str(lv) for lv, rec in table.iterrows() if (rec[treated] == 0) != (rec[reference] == 0)] \
            if not _is_numeric(subj[cov]) else []
        reasons = []
        if (np.isfinite(value) and abs(value) > smd_threshold) or np.isinf(value):
            reasons.append(f"|SMD| {abs(value):.2f} > {smd_threshold}")
        if one_arm:
            reasons.append(f"level(s) {', '.join(one_arm)} in one arm only")
        rows.append({
            "covariate": cov, "kind": "numeric" if _is_numeric(subj[cov]) else "categorical",
            "treated": treated, "reference": reference, "smd": value, "confounded": bool(reasons),
            "reason": "; ".join(reasons) if reasons else "balanced",
            "method": ("SMD (treated - reference): numeric mean difference / pooled SD; binary proportion difference / "
                       "pooled binomial SD; several levels: Yang & Dalton (2012) Mahalanobis distance; "
                       f"confounded when |SMD| > {smd_threshold} or a level is in one arm only"),
        })
    return pd.DataFrame(counts), pd.DataFrame(rows)


def arm_crosstab(subjects: pd.DataFrame, covariates: Sequence[str] = ("site", "specimen")) -> pd.DataFrame:
    """Return patients per arm x covariate cell (e.g. arm x site x specimen), one row per non-empty cell."""
    _check(subjects, covariates)
    subj = subjects.drop_duplicates("patient_id")
    return subj.groupby(["arm", *covariates], dropna=False).size().rename("n_patients").reset_index()


def add_covariates(view: pd.DataFrame, subjects: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Return ``view`` with subject-level ``covariates`` joined by patient_id (view columns win)."""
    _check(subjects, covariates)
    wanted = [c for c in covariates if c not in view.columns]
    if not wanted:
        return view
    extra = subjects.drop_duplicates("patient_id")[["patient_id", *wanted]].assign(
        patient_id=lambda d: d["patient_id"].astype(str))
    return view.assign(patient_id=view["patient_id"].astype(str)).merge(extra, on="patient_id", how="left")


def side_by_side(unadjusted: ArmComparison, adjusted: ArmComparison) -> pd.DataFrame:
    """Return per-visit arm effects unadjusted and adjusted in one row per feature x visit."""
    keys = ["assay", "feature", "measure", "visit_day"]
    cols = ["ratio", "ratio_ci_low", "ratio_ci_high", "p", "adjusted_for"]
    u = unadjusted.visit_effects[keys + cols].rename(columns={c: f"{c}_unadjusted" for c in cols})
    a = adjusted.visit_effects[keys + cols].rename(columns={c: f"{c}_adjusted" for c in cols})
    return u.merge(a, on=keys, how="outer")
