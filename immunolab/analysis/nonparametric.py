"""Two-sample tests with effect sizes and confidence intervals for small trials.

- :func:`mann_whitney_hl`: Mann-Whitney U test (exact null distribution when there are no ties;
  with ties, the exact permutation distribution of U on midranks when the arrangements are few,
  at most :data:`PERMUTATION_MAX_ARRANGEMENTS`, the normal approximation with tie and continuity
  correction otherwise) and the Hodges-Lehmann
  shift (median of all pairwise differences x_i - y_j) with its distribution-free Moses CI:
  ``[D_(k), D_(mn - k + 1)]`` of the sorted pairwise differences, ``k - 1`` being the largest
  U with ``P(U <= k - 1) <= alpha / 2`` under the exact null (normal approximation for large
  samples or ties).
- :func:`fisher_detectable`: Fisher's exact test of a 2 x 2 table (detectable yes / no by arm),
  the difference in proportions with the Newcombe hybrid-score CI and the conditional
  maximum-likelihood odds ratio with its exact CI.
- :func:`bh_adjust`: Benjamini-Hochberg adjusted p-values that keep NaN in place.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

__all__ = [
    "FisherResult",
    "ShiftResult",
    "bh_adjust",
    "fisher_detectable",
    "mann_whitney_hl",
    "mann_whitney_null_cdf",
]

#: exact U distributions are used up to this many pairs (m * n)
EXACT_MAX_PAIRS = 2500
#: with ties, every arrangement of the midranks is enumerated up to this many (C(m + n, m))
PERMUTATION_MAX_ARRANGEMENTS = 20000


@dataclass(frozen=True)
class ShiftResult:
    """Mann-Whitney p-value and Hodges-Lehmann shift (x - y) with its CI."""

    n_x: int
    n_y: int
    u: float
    p: float
    shift: float
    ci_low: float
    ci_high: float
    method: str


@dataclass(frozen=True)
class FisherResult:
    """Fisher's exact test with the risk difference and odds ratio and their CIs."""

    k_x: int
    n_x: int
    k_y: int
    n_y: int
    p: float
    diff: float
    diff_ci_low: float
    diff_ci_high: float
    odds_ratio: float
    or_ci_low: float
    or_ci_high: float


@lru_cache(maxsize=256)
def mann_whitney_null_cdf(m: int, n: int) -> tuple[float, ...]:
    """Return P(U <= u) for u = 0..m*n under the exact null (no ties), as a tuple.

    The counts are the coefficients of the Gaussian binomial [m+n choose m]_q, built by
    multiplying (1 - q^(n+i)) / (1 - q^i) for i = 1..m (float64, exact to rounding).
    """
    size = m * n + 1
    poly = np.zeros(size)
    poly[0] = 1.0
    for i in range(1, m + 1):
        # multiply by (1 - q^(n+i))
        shifted = np.zeros(size)
        shifted[n + i:] = poly[: size - (n + i)] if n + i < size else 0.0
        poly = poly - shifted
        # divide by (1 - q^i): running sum with stride i
        for k in range(i, size):
            poly[k] += poly[k - i]
    cdf = np.cumsum(poly) / poly.sum()
    return tuple(float(x) for x in cdf)


def _moses_k(m: int, n: int, alpha: float, exact: bool) -> int:
    if exact:
        cdf = np.asarray(mann_whitney_null_cdf(m, n))
        below = np.nonzero(cdf <= alpha / 2)[0]
        return int(below[-1]) + 1 if below.size else 0  # k - 1 = largest u with P(U <= u) <= alpha/2
    z = stats.norm.ppf(1 - alpha / 2)
    return int(np.floor(m * n / 2 - z * np.sqrt(m * n * (m + n + 1) / 12.0)))


def _permutation_p(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Return (U of ``x``, two-sided exact p) by enumerating every split of the pooled midranks.

    The p-value doubles the smaller tail, as scipy's exact Mann-Whitney does, capped at 1.
    """
    m = x.size
    ranks = stats.rankdata(np.concatenate([x, y]))
    u_obs = float(ranks[:m].sum() - m * (m + 1) / 2)
    combos = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(ranks.size), m)), dtype=np.intp)
    us = ranks[combos.reshape(-1, m)].sum(axis=1) - m * (m + 1) / 2
    eps = 1e-9 * max(1.0, float(m * y.size))
    lower, upper = float(np.mean(us <= u_obs + eps)), float(np.mean(us >= u_obs - eps))
    return u_obs, min(1.0, 2.0 * min(lower, upper))


def mann_whitney_hl(x: np.ndarray, y: np.ndarray, *, alpha: float = 0.05) -> ShiftResult:
    """Return the two-sided Mann-Whitney test and Hodges-Lehmann shift of ``x`` minus ``y``."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    m, n = x.size, y.size
    if m == 0 or n == 0:
        return ShiftResult(m, n, np.nan, np.nan, np.nan, np.nan, np.nan, "not tested (an arm has no values)")
    ties = np.unique(np.concatenate([x, y])).size < m + n
    exact = not ties and m * n <= EXACT_MAX_PAIRS
    if ties and math.comb(m + n, m) <= PERMUTATION_MAX_ARRANGEMENTS:
        u, p = _permutation_p(x, y)
        test = f"Mann-Whitney exact permutation p (ties: midranks, all {math.comb(m + n, m)} arrangements)"
    else:
        res = stats.mannwhitneyu(x, y, alternative="two-sided", method="exact" if exact else "asymptotic")
        u, p = float(res.statistic), float(res.pvalue)
        test = "Mann-Whitney exact" if exact else "Mann-Whitney normal approximation (ties/large)"
    diffs = np.sort((x[:, None] - y[None, :]).ravel())
    shift = float(np.median(diffs))
    k = _moses_k(m, n, alpha, exact)
    if k < 1 or k > diffs.size - k + 1:
        lo, hi = np.nan, np.nan
        ci_note = "; CI not available (samples too small for this level)"
    else:
        lo, hi = float(diffs[k - 1]), float(diffs[diffs.size - k])
        ci_note = ""
    method = test + "; Hodges-Lehmann shift, Moses CI" + ci_note
    return ShiftResult(m, n, u, p, shift, lo, hi, method)


def fisher_detectable(k_x: int, n_x: int, k_y: int, n_y: int, *, alpha: float = 0.05) -> FisherResult:
    """Return Fisher's exact test of k_x/n_x vs k_y/n_y with risk difference and odds ratio CIs."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    table = np.array([[k_x, n_x - k_x], [k_y, n_y - k_y]])
    p = float(stats.fisher_exact(table, alternative="two-sided").pvalue)
    diff = k_x / n_x - k_y / n_y
    lo, hi = confint_proportions_2indep(k_x, n_x, k_y, n_y, method="newcomb", compare="diff", alpha=alpha)
    odds = stats.contingency.odds_ratio(table, kind="conditional")
    ci = odds.confidence_interval(confidence_level=1 - alpha)
    return FisherResult(k_x, n_x, k_y, n_y, p, float(diff), float(lo), float(hi),
                        float(odds.statistic), float(ci.low), float(ci.high))


def bh_adjust(p: np.ndarray | list[float]) -> np.ndarray:
    """Return Benjamini-Hochberg adjusted p-values (q-values); NaN entries stay NaN."""
    from statsmodels.stats.multitest import multipletests

    arr = np.asarray(p, dtype=float)
    out = np.full(arr.shape, np.nan)
    ok = np.isfinite(arr)
    if ok.any():
        out[ok] = multipletests(arr[ok], method="fdr_bh")[1]
    return out
