"""An independent standards simulator and reference fitter for the vendor refit recipes.

Shares no code or constants with the demo generator (``immunolab.demo``) nor with
``immunolab.cytokine``: its own logistic, its own noise model (a bead median's variance growing
as a power of the signal, Bio-Plex's "Power Law Variance"; an ECL signal with a constant CV for
MSD) and a reference fitter that minimises each recipe's objective, written out from its
definition, with a derivative-free optimiser (``scipy.optimize.minimize``, Nelder-Mead then
Powell) instead of immunolab's bounded trust-region least squares with an analytic Jacobian.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def rising_logistic(x: np.ndarray, low: float, high: float, mid: float, hill: float, skew: float) -> np.ndarray:
    """Return low + (high - low) / (1 + (mid / x)^hill)^skew (x > 0); ``low`` where x == 0."""
    x = np.asarray(x, dtype=float)
    out = np.full(x.shape, low, dtype=float)
    pos = x > 0
    out[pos] = low + (high - low) / (1.0 + (mid / x[pos]) ** hill) ** skew
    return out


@dataclass(frozen=True)
class SimPlate:
    """Simulated standards: per well concentration, net signal, raw signal (net + background)."""

    conc: np.ndarray
    net: np.ndarray
    raw: np.ndarray
    truth: tuple[float, float, float, float, float]


def bead_standards(seed: int, *, levels: int = 9, reps: int = 2, top: float = 2500.0, fold: float = 4.0,
                   background: float = 23.0, var_coef: float = 0.02, var_power: float = 1.8) -> SimPlate:
    """Return bead-array standards whose FI has variance ``var_coef * FI^var_power`` (FI = net + background)."""
    rng = np.random.default_rng(seed)
    truth = (1.5, 28000.0, 180.0, 1.15, 0.7)
    conc = np.repeat(top / fold ** np.arange(levels), reps)
    fi_true = rising_logistic(conc, *truth) + background
    fi = fi_true + rng.normal(0.0, np.sqrt(var_coef * fi_true**var_power))
    blanks = background + rng.normal(0.0, math.sqrt(var_coef * background**var_power), size=reps)
    return SimPlate(conc, fi - blanks.mean(), fi, truth)


def ecl_standards(seed: int, *, levels: int = 7, reps: int = 3, top: float = 60.0, fold: float = 4.0,
                  cv: float = 0.06) -> SimPlate:
    """Return ECL calibrators (7 levels and a zero calibrator) with a constant CV, 4PL truth."""
    rng = np.random.default_rng(seed)
    truth = (180.0, 4.0e7, 900.0, 1.02, 1.0)
    conc = np.repeat(np.append(top / fold ** np.arange(levels), 0.0), reps)
    true = rising_logistic(conc, *truth)
    signal = true * (1.0 + rng.normal(0.0, cv, size=conc.size))
    return SimPlate(conc, signal, signal, truth)


def _level_means(conc: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, ...]:
    levels = np.unique(conc)
    return (levels, *(np.array([v[conc == lv].mean() for lv in levels]) for v in values))


def reference_fit(plate: SimPlate, recipe: str, *, five: bool) -> tuple[float, float, float, float, float]:
    """Return (low, high, mid, hill, skew) minimising the recipe's weighted squared error.

    ``bioplex``: level means of net signal, weights 1 / (mean raw)^1.8, skew in [0.1, 10];
    ``msd``: level means including the zero calibrator, weights 1 / mean^2, skew 1, the upper
    asymptote at most 1000 signal ranges above the highest mean.
    """
    from scipy.optimize import minimize

    if recipe == "bioplex":
        x, y, raw = _level_means(plate.conc, plate.net, plate.raw)
        w = 1.0 / np.abs(raw) ** 1.8
    elif recipe == "msd":
        x, y = _level_means(plate.conc, plate.net)
        w = 1.0 / y**2
    else:
        raise ValueError(recipe)
    scale = float(np.max(np.abs(y)))
    cap = float(y.max() + 1000.0 * (y.max() - y.min())) if recipe == "msd" else math.inf

    def unpack(p: np.ndarray) -> tuple[float, float, float, float, float]:
        skew = min(max(math.exp(p[4]), 0.1), 10.0) if five else 1.0
        return p[0] * scale, min(p[1] * scale, cap), math.exp(p[2]), p[3], skew

    def loss(p: np.ndarray) -> float:
        pred = rising_logistic(x, *unpack(p))
        value = float(np.sum(w * (pred - y) ** 2))
        return value if math.isfinite(value) else 1e300

    t = plate.truth
    p0 = np.array([t[0] / scale, min(t[1], cap) / scale, math.log(t[2]), t[3], math.log(t[4])])
    best = minimize(loss, p0, method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-16, "maxiter": 40000, "maxfev": 40000})
    for _ in range(3):
        best = minimize(loss, best.x, method="Powell", options={"xtol": 1e-12, "ftol": 1e-16, "maxiter": 40000})
        best = minimize(loss, best.x, method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-16, "maxiter": 40000, "maxfev": 40000})
    return unpack(best.x)


def inverse(y: np.ndarray, low: float, high: float, mid: float, hill: float, skew: float) -> np.ndarray:
    """Return the concentration of signals ``y`` on :func:`rising_logistic` (NaN outside the asymptotes)."""
    with np.errstate(all="ignore"):
        return mid / (((high - low) / (np.asarray(y, dtype=float) - low)) ** (1.0 / skew) - 1.0) ** (1.0 / hill)
