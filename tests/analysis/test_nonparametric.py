"""Rank tests, Hodges-Lehmann intervals, Fisher's exact test and BH adjustment."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from immunolab.analysis.nonparametric import (
    bh_adjust,
    fisher_detectable,
    mann_whitney_hl,
    mann_whitney_null_cdf,
)


@pytest.mark.parametrize(("m", "n"), [(3, 4), (5, 5), (4, 7)])
def test_exact_u_distribution_matches_full_enumeration(m: int, n: int) -> None:
    ranks = range(m + n)
    us = [sum(r for r in combo) - m * (m - 1) / 2 for combo in itertools.combinations(ranks, m)]
    counts = np.bincount(np.asarray(us, dtype=int), minlength=m * n + 1)
    assert np.allclose(mann_whitney_null_cdf(m, n), np.cumsum(counts) / counts.sum())


def test_moses_interval_for_10_vs_10_uses_the_24th_and_77th_pairwise_differences() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(1, 1, 10), rng.normal(0, 1, 10)
    diffs = np.sort((x[:, None] - y[None, :]).ravel())
    r = mann_whitney_hl(x, y)
    assert (r.ci_low, r.ci_high) == (diffs[23], diffs[76])  # tabled critical U = 23 at two-sided 5 %
    assert r.shift == np.median(diffs)
    assert r.p == pytest.approx(stats.mannwhitneyu(x, y, method="exact").pvalue)
    assert r.method.startswith("Mann-Whitney exact")


def test_hodges_lehmann_recovers_a_pure_shift() -> None:
    y = np.array([1.0, 2.5, 3.1, 4.7, 5.2, 6.9, 7.3, 8.8])
    r = mann_whitney_hl(y + 2.0, y)
    assert r.shift == pytest.approx(2.0) and r.ci_low <= 2.0 <= r.ci_high


def test_ties_in_large_samples_switch_to_the_normal_approximation_and_say_so() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 5, 12).astype(float), rng.integers(0, 5, 12).astype(float)  # C(24, 12) arrangements
    r = mann_whitney_hl(x, y)
    assert "normal approximation" in r.method
    assert r.p == pytest.approx(stats.mannwhitneyu(x, y, method="asymptotic").pvalue)


def test_ties_in_3_vs_1_give_the_exact_permutation_p_not_the_normal_approximation() -> None:
    # demo bead-array IL-6 at D90: MSC 7.03, 2.44, 2.44 vs control 11.47; 0.5 is the smallest p of 3 vs 1
    r = mann_whitney_hl(np.log10([7.03, 2.44, 2.44]), np.log10([11.47]))
    assert r.p == pytest.approx(0.5)
    assert r.u == 0.0 and "exact permutation" in r.method


def test_the_permutation_p_with_ties_matches_scipy_permutation_test() -> None:
    x, y = np.array([1.0, 1.0, 2.0, 3.0, 3.0]), np.array([1.0, 2.0, 2.0, 2.0, 0.5])
    ref = stats.permutation_test(
        (x, y), lambda a, b: stats.mannwhitneyu(a, b, method="asymptotic").statistic,
        permutation_type="independent", n_resamples=np.inf, alternative="two-sided")
    r = mann_whitney_hl(x, y)
    assert r.p == pytest.approx(ref.pvalue)
    assert "exact permutation" in r.method


def test_an_empty_arm_is_not_tested() -> None:
    r = mann_whitney_hl(np.array([1.0, 2.0]), np.array([np.nan]))
    assert np.isnan(r.p) and r.method.startswith("not tested")


def test_fisher_gives_p_risk_difference_and_odds_ratio_with_intervals() -> None:
    r = fisher_detectable(8, 10, 2, 10)
    assert r.p == pytest.approx(stats.fisher_exact([[8, 2], [2, 8]]).pvalue)
    assert r.diff == pytest.approx(0.6) and r.diff_ci_low < 0.6 < r.diff_ci_high
    assert r.diff_ci_low > 0  # 80 % vs 20 % detectable is a clear difference
    assert r.or_ci_low < r.odds_ratio < r.or_ci_high


def test_bh_adjust_keeps_nan_in_place() -> None:
    q = bh_adjust([0.01, np.nan, 0.04, 0.03])
    assert np.isnan(q[1])
    assert np.allclose(q[[0, 2, 3]], [0.03, 0.04, 0.04])
