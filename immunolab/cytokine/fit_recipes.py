"""Name how standards become a curve fit: which points, which weights, which parameter bounds.

A *weighting* selected by ``curve_weighting`` is a :class:`FitRecipe`. The plain weightings
weight each standard well; the vendor recipes reproduce how an instrument's software fits its
standards, measured on real exports (``docs/readers.md``, *Instrument vs refit*):

``1/y^2`` (default; xPONENT "Logistic 5P Weighted")
    every standard well, weights ``1 / y^2`` on the Net MFI (weight 1 where ``y == 0``).
``bioplex`` (Bio-Plex Manager 4.x-6.x)
    the standards are averaged per concentration level (the printed FitProb / ResVar imply
    ``levels - parameters`` degrees of freedom, not ``wells - parameters``); the level means of
    FI - Bkgd are fitted with weights ``1 / FI^1.8`` on the mean *raw* FI (Bio-Plex's "Power Law
    Variance" with B = 1.8, the variance of a bead median growing as FI^1.8); the asymmetry F
    is bounded to [0.1, 10] (the bounds its printed curves stop at) and the slope D reaches
    beyond -10 (printed slopes of -12.2 occur). Levels count equally: the
    shared exports hold two replicates per level throughout, so whether Bio-Plex also weights
    by the number of replicates cannot be told from them.
``msd`` (MSD Discovery Workbench, "4-PL, 1/Y^2")
    calibrators averaged per level, the zero calibrator included (it pins the lower
    asymptote), weights ``1 / mean^2``; the upper asymptote may lie up to 1000 signal ranges
    beyond the top calibrator (Workbench's curves of serology panels that never saturate put it
    500 ranges out; the default bound of 50 cuts them short).

Units: concentrations in the standards' units, responses in MFI / ECL counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RECIPES", "FitPoints", "FitRecipe", "fit_points", "point_weights"]


@dataclass(frozen=True)
class FitRecipe:
    """How a weighting selects, averages and weights standards, and bounds the asymmetry F.

    ``power``: weights are ``1 / |v|^power`` (0: unweighted) with ``v`` the response
    (``on="response"``), the raw signal before background subtraction (``on="raw"``) or the
    concentration (``on="x"``); a zero ``v`` gets weight 1. ``average_replicates`` fits one
    point per concentration level (the mean), ``include_zero`` keeps a zero-concentration
    standard in the fit, ``asymmetry`` bounds F of a 5PL and ``slope`` the slope D (in the rising
    convention, D < 0); the infinite-concentration asymptote may lie at most ``asymptote_span``
    response ranges beyond the highest standard.
    """

    description: str
    power: float = 0.0
    on: str = "response"
    average_replicates: bool = False
    include_zero: bool = False
    asymmetry: tuple[float, float] = (0.05, 20.0)
    slope: tuple[float, float] = (-10.0, -0.05)
    asymptote_span: float = 50.0


RECIPES: dict[str, FitRecipe] = {
    "none": FitRecipe("unweighted least squares"),
    "1/y": FitRecipe("weights 1/|y| (weight 1 where y == 0)", power=1.0),
    "1/y^2": FitRecipe("weights 1/y^2 (weight 1 where y == 0); the xPONENT default", power=2.0),
    "1/x": FitRecipe("weights 1/x (concentration)", power=1.0, on="x"),
    "1/x^2": FitRecipe("weights 1/x^2 (concentration)", power=2.0, on="x"),
    "bioplex": FitRecipe(
        "Bio-Plex Manager: level means of FI - Bkgd, weights 1/FI^1.8 on the raw FI (power-law "
        "variance, B = 1.8), asymmetry F in [0.1, 10]",
        power=1.8, on="raw", average_replicates=True, asymmetry=(0.1, 10.0), slope=(-30.0, -0.05),
    ),
    "msd": FitRecipe(
        "MSD Discovery Workbench: level means incl. the zero calibrator, weights 1/mean^2",
        power=2.0, average_replicates=True, include_zero=True, asymptote_span=1e3,
    ),
}


@dataclass(frozen=True)
class FitPoints:
    """The points a recipe fits: concentrations ``x`` (>= 0), responses ``y``, weight basis ``v``."""

    x: np.ndarray
    y: np.ndarray
    v: np.ndarray


def fit_points(x: np.ndarray, y: np.ndarray, raw: np.ndarray | None, recipe: FitRecipe) -> FitPoints:
    """Return the points ``recipe`` fits from per-well standards (non-finite values dropped).

    ``raw`` is the signal before background subtraction (None: the responses themselves);
    where a raw value is missing the response stands in for it.
    """
    raw_all = y if raw is None else np.where(np.isfinite(raw), raw, y)
    positive = (x > 0) | ((x == 0) & recipe.include_zero)
    keep = np.isfinite(x) & np.isfinite(y) & positive
    xs, ys, rs = x[keep], y[keep], raw_all[keep]
    if recipe.average_replicates and xs.size:
        levels, inverse = np.unique(xs, return_inverse=True)
        counts = np.bincount(inverse).astype(float)
        ys = np.bincount(inverse, weights=ys) / counts
        rs = np.bincount(inverse, weights=rs) / counts
        xs = levels
    basis = {"response": ys, "raw": rs, "x": xs}[recipe.on]
    return FitPoints(xs, ys, basis)


def point_weights(points: FitPoints, recipe: FitRecipe) -> np.ndarray:
    """Return the weight of every point: ``1 / |v|^power`` (1 where ``v == 0`` or unweighted)."""
    w = np.ones_like(points.y, dtype=float)
    if recipe.power == 0:
        return w
    v = np.abs(points.v)
    nz = v > 0
    w[nz] = 1.0 / np.power(v[nz], recipe.power)
    return w
