"""Satterthwaite degrees of freedom for a linear mixed model with one random intercept per patient.

Model: ``y = X beta + Z b + e`` with ``b ~ N(0, tau2)`` per patient and ``e ~ N(0, sigma2)``,
so each patient's block of ``V`` is ``sigma2 * I + tau2 * J`` (compound symmetry).

Given the REML estimates ``theta = (tau2, sigma2)`` (taken from statsmodels' MixedLM), this
module computes the Satterthwaite approximation of SAS PROC MIXED ``ddfm=satterthwaite`` with
the *expected* REML information (R's lmerTest uses the observed one, from numerical derivatives:
its df differ a little in unbalanced data, e.g. 27.6 vs 26.7 for a Day 0 contrast of the demo's
IL-6; in balanced data both are the split-plot ANOVA df):

- ``C(theta) = (X' V^-1 X)^-1``, the model-based covariance of the fixed effects;
- ``A``, the asymptotic covariance of ``theta``: the inverse of the expected REML information
  ``I_jk = 1/2 tr(P V_j P V_k)`` with ``P = V^-1 - V^-1 X C X' V^-1``, ``V_tau = Z Z'``,
  ``V_sigma = I``;
- for one contrast ``l``: ``df = 2 (l'Cl)^2 / (g' A g)`` with ``g_j = l' dC/dtheta_j l`` and
  ``dC/dtheta_j = C X' V^-1 V_j V^-1 X C`` (analytic, no numerical differentiation);
- for a q-row contrast ``L`` (Wald F test): ``F = (L b)' (L C L')^-1 (L b) / q`` with the
  denominator df of Fai & Cornelius (1996): eigen-decompose ``L C L'``, get one Satterthwaite df
  ``nu_m`` per eigen-direction, ``E = sum nu_m / (nu_m - 2)`` and ``ddf = 2E / (E - q)``
  (``ddf = 2`` when some ``nu_m <= 2``; the common value when all ``nu_m`` agree).

In a balanced design these reproduce the classical split-plot ANOVA df exactly (tests pin this).
When the patient variance is estimated at its boundary (``tau2 ~ 0``) the model is ordinary
least squares and the residual df ``n - rank(X)`` is used instead (``df_method`` says so).
Dense n x n algebra: fine for a trial (a few hundred rows per feature).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["ContrastTest", "FTest", "SatterthwaiteModel"]

#: tau2 / sigma2 below this counts as "patient variance at the boundary 0"
BOUNDARY_RATIO = 1e-6


@dataclass(frozen=True)
class ContrastTest:
    """One linear contrast ``l' beta``: estimate, SE, t, df, two-sided p and CI."""

    estimate: float
    se: float
    t: float
    df: float
    p: float
    ci_low: float
    ci_high: float
    df_method: str


@dataclass(frozen=True)
class FTest:
    """A q-df Wald F test of ``L beta = 0`` with its denominator df."""

    f: float
    num_df: int
    den_df: float
    p: float
    df_method: str


class SatterthwaiteModel:
    """Fixed-effect inference for a random-intercept model at given variance estimates."""

    def __init__(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray, tau2: float, sigma2: float) -> None:
        self.X = np.asarray(X, dtype=float)
        self.y = np.asarray(y, dtype=float)
        codes, self.groups = np.unique(np.asarray(groups), return_inverse=True)
        self.n, self.p = self.X.shape
        self.rank = int(np.linalg.matrix_rank(self.X))
        self.tau2 = max(float(tau2), 0.0)
        self.sigma2 = float(sigma2)
        self.Z = np.zeros((self.n, codes.size))
        self.Z[np.arange(self.n), self.groups] = 1.0
        self.at_boundary = self.tau2 <= BOUNDARY_RATIO * self.sigma2
        self.Vinv = self._v_inverse()
        W = self.Vinv @ self.X  # V^-1 X
        self.C = np.linalg.inv(self.X.T @ W)
        self.beta = self.C @ (W.T @ self.y)
        self.P = self.Vinv - W @ self.C @ W.T
        WtZ = W.T @ self.Z
        # dC/dtau2 = C X'V^-1 ZZ' V^-1 X C, dC/dsigma2 = C X'V^-1 V^-1 X C
        self._dC = [self.C @ WtZ @ WtZ.T @ self.C, self.C @ (W.T @ W) @ self.C]
        self.A = self._theta_covariance()

    def _v_inverse(self) -> np.ndarray:
        """Return V^-1 block by block: (1/s)(I - t/(s + n_i t) J) per patient."""
        s, t = self.sigma2, self.tau2
        sizes = np.bincount(self.groups)
        c = t / (s + sizes * t)
        same = self.groups[:, None] == self.groups[None, :]
        return (np.eye(self.n) - same * c[self.groups][:, None]) / s

    def _theta_covariance(self) -> np.ndarray:
        """Return the inverse expected REML information of (tau2, sigma2) (NaN at the boundary)."""
        if self.at_boundary:
            return np.full((2, 2), np.nan)
        PZ = self.P @ self.Z
        ZPZ = self.Z.T @ PZ
        # I_jk = 1/2 tr(P V_j P V_k) with V_tau = ZZ', V_sigma = I, written with small matrices
        i_tt = 0.5 * float(np.sum(ZPZ * ZPZ))
        i_ts = 0.5 * float(np.sum(PZ * PZ))
        i_ss = 0.5 * float(np.sum(self.P * self.P))
        return np.linalg.inv(np.array([[i_tt, i_ts], [i_ts, i_ss]]))

    def contrast_df(self, lvec: np.ndarray) -> tuple[float, str]:
        """Return the Satterthwaite df of contrast ``lvec`` (residual df at the boundary) and the method."""
        if self.at_boundary:
            return float(self.n - self.rank), "residual df n - rank(X) (patient variance estimated at 0)"
        phi = float(lvec @ self.C @ lvec)
        g = np.array([float(lvec @ dC @ lvec) for dC in self._dC])
        denom = float(g @ self.A @ g)
        if not np.isfinite(denom) or denom <= 0:
            return float(self.n - self.rank), "residual df n - rank(X) (Satterthwaite undefined)"
        return 2.0 * phi * phi / denom, "Satterthwaite"

    def contrast(self, lvec: np.ndarray, *, alpha: float = 0.05) -> ContrastTest:
        """Return the t test and (1 - alpha) CI of ``lvec' beta``."""
        lvec = np.asarray(lvec, dtype=float)
        est = float(lvec @ self.beta)
        se = float(np.sqrt(lvec @ self.C @ lvec))
        df, method = self.contrast_df(lvec)
        t = est / se if se > 0 else np.nan
        p = float(2 * stats.t.sf(abs(t), df)) if np.isfinite(t) else np.nan
        q = float(stats.t.ppf(1 - alpha / 2, df))
        return ContrastTest(est, se, float(t), float(df), p, est - q * se, est + q * se, method)

    def f_test(self, L: np.ndarray) -> FTest:
        """Return the Wald F test of ``L beta = 0`` with Fai-Cornelius / Satterthwaite denominator df."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        q = L.shape[0]
        LCL = L @ self.C @ L.T
        d, vecs = np.linalg.eigh(LCL)
        keep = d > d.max() * 1e-10
        d, vecs = d[keep], vecs[:, keep]
        q = int(keep.sum())
        directions = vecs.T @ L  # one contrast per eigen-direction
        lb = directions @ self.beta
        f = float(np.sum(lb * lb / d) / q)
        if self.at_boundary:
            ddf, method = float(self.n - self.rank), "Wald F, residual df n - rank(X) (patient variance estimated at 0)"
        else:
            nus = np.array([self.contrast_df(row)[0] for row in directions])
            ddf, method = _fai_cornelius(nus, q), "Wald F, Satterthwaite (Fai-Cornelius) denominator df"
        p = float(stats.f.sf(f, q, ddf))
        return FTest(f, q, float(ddf), p, method)


def _fai_cornelius(nus: np.ndarray, q: int) -> float:
    if nus.size == 1:
        return float(nus[0])
    if np.allclose(nus, nus[0], rtol=1e-8):
        return float(nus.mean())
    if np.any(nus <= 2):
        return 2.0
    e = float(np.sum(nus / (nus - 2)))
    return 2.0 * e / (e - q)
