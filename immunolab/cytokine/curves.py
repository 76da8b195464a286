"""Fit 4PL / 5PL standard curves, back-calculate concentrations and derive LLOQ / ULOQ.

Parameterisation (the letters xPONENT and Bio-Plex print; concentrations x in pg/mL,
responses y in MFI)::

    y = A + (B - A) / (1 + (x / C)^D)^F

``A`` is the response at zero concentration, ``B`` the response at infinite concentration,
``C`` (> 0, pg/mL) the inflection concentration, ``D`` the slope and ``F`` (> 0) the asymmetry;
the 4PL is the special case ``F = 1``. For a rising immunoassay curve ``A < B`` and ``D < 0``
(the xPONENT sign convention). Curves printed with the opposite convention (``D > 0`` and the
asymptotes swapped) describe the same function and are handled by every function here:
"below the curve" always means a response at or beyond the zero-concentration asymptote.

The default fit reproduces xPONENT (see ``/work/shared/data/README.md``): 5PL on the Net MFI
of every individual standard well (replicates are not averaged) with weights ``1 / y^2``
(weight 1 where ``y == 0``). The fit is a bounded :func:`scipy.optimize.least_squares` from
several starting points; the best converged solution wins.

Errors: too few usable standards raise ``IML-CYT-006``; a fit that fails (flat or
non-monotone data, no convergence, non-finite parameters) raises ``IML-CYT-005``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from immunolab.errors import InconsistentInputError

__all__ = [
    "MODELS",
    "WEIGHTINGS",
    "BackCalculation",
    "StandardCurve",
    "back_calculate",
    "curve_fit_id",
    "fit_standard_curve",
    "logistic",
    "logistic_inverse",
    "quantification_limits",
    "standard_recovery",
]

Model = Literal["5PL", "4PL"]
MODELS: tuple[str, ...] = ("5PL", "4PL")
#: weighting name -> description; weights multiply squared residuals
WEIGHTINGS: dict[str, str] = {
    "none": "unweighted least squares",
    "1/y": "weights 1/|y| (weight 1 where y == 0)",
    "1/y^2": "weights 1/y^2 (weight 1 where y == 0); the xPONENT default",
    "1/x": "weights 1/x (concentration)",
    "1/x^2": "weights 1/x^2 (concentration)",
}
#: a standard is "recovered" when its back-calculated concentration is this % of expected
RECOVERY_RANGE: tuple[float, float] = (70.0, 130.0)

Censor = Literal["none", "below_curve", "above_curve", "not_available"]


def logistic(x: np.ndarray | float, a: float, b: float, c: float, d: float, f: float = 1.0) -> np.ndarray:
    """Return y = A + (B - A) / (1 + (x / C)^D)^F for concentrations ``x`` (pg/mL >= 0)."""
    xs = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        ratio = np.where(xs > 0, xs / c, 0.0)
        powd = np.where(xs > 0, np.power(ratio, d), np.inf if d < 0 else 0.0)
        out = a + (b - a) / np.power(1.0 + powd, f)
    return np.asarray(out, dtype=float)


def _zero_and_infinite_asymptotes(a: float, b: float, d: float) -> tuple[float, float]:
    """Return (response at x -> 0, response at x -> infinity)."""
    return (a, b) if d < 0 else (b, a)


def logistic_inverse(
    y: np.ndarray | float, a: float, b: float, c: float, d: float, f: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Return (x in pg/mL, censor code) for responses ``y`` on the curve.

    ``x`` is NaN where ``y`` lies at or beyond an asymptote; the censor array then says
    ``below_curve`` (at/beyond the zero-concentration asymptote) or ``above_curve``
    (at/beyond the infinite-concentration asymptote); NaN responses give ``not_available``.
    """
    ys = np.atleast_1d(np.asarray(y, dtype=float))
    y0, yinf = _zero_and_infinite_asymptotes(a, b, d)
    rising = yinf > y0
    censor = np.full(ys.shape, "none", dtype=object)
    x = np.full(ys.shape, np.nan)
    nan = ~np.isfinite(ys)
    below = ~nan & ((ys <= y0) if rising else (ys >= y0))
    above = ~nan & ((ys >= yinf) if rising else (ys <= yinf))
    censor[nan] = "not_available"
    censor[below] = "below_curve"
    censor[above & ~below] = "above_curve"
    ok = ~(nan | below | above)
    if ok.any():
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            inner = np.power((b - a) / (ys[ok] - a), 1.0 / f) - 1.0
            xv = c * np.power(inner, 1.0 / d)
        bad = ~np.isfinite(xv) | (xv < 0)
        if bad.any():  # numerically at an asymptote: censor on the nearer side
            yb = ys[ok][bad]
            sub = censor[ok]
            sub[bad] = np.where(np.abs(yb - y0) <= np.abs(yb - yinf), "below_curve", "above_curve")
            censor[ok] = sub
            xv[bad] = np.nan
        x[ok] = xv
    return x, censor


@dataclass(frozen=True)
class StandardCurve:
    """A fitted or instrument-printed standard curve and its quantification range (pg/mL)."""

    model: str
    a: float
    b: float
    c: float
    d: float
    f: float
    weighting: str = "1/y^2"
    r_squared: float | None = None
    n_points: int = 0
    lowest_standard: float | None = None
    highest_standard: float | None = None
    lloq: float | None = None
    uloq: float | None = None
    converged: bool = True
    message: str = ""
    source: str = "immunolab"
    fit_id: str = ""
    extras: dict[str, float] = field(default_factory=dict)

    def predict(self, x: np.ndarray | float) -> np.ndarray:
        """Return the expected response (MFI) at concentrations ``x`` (pg/mL)."""
        return logistic(x, self.a, self.b, self.c, self.d, self.f)

    def inverse(self, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Return (concentration pg/mL, censor code) for responses ``y``; see :func:`logistic_inverse`."""
        return logistic_inverse(y, self.a, self.b, self.c, self.d, self.f)

    @property
    def zero_asymptote(self) -> float:
        """Return the response (MFI) at zero concentration."""
        return _zero_and_infinite_asymptotes(self.a, self.b, self.d)[0]

    @property
    def infinite_asymptote(self) -> float:
        """Return the response (MFI) at infinite concentration."""
        return _zero_and_infinite_asymptotes(self.a, self.b, self.d)[1]

    def params(self) -> dict[str, float]:
        """Return the parameters by their letters."""
        return {"a": self.a, "b": self.b, "c": self.c, "d": self.d, "f": self.f}


def _weights(x: np.ndarray, y: np.ndarray, weighting: str) -> np.ndarray:
    if weighting == "none":
        return np.ones_like(y)
    if weighting in ("1/y", "1/y^2"):
        power = 1.0 if weighting == "1/y" else 2.0
        w = np.ones_like(y)
        nz = y != 0
        w[nz] = 1.0 / np.power(np.abs(y[nz]), power)
        return w
    if weighting in ("1/x", "1/x^2"):
        power = 1.0 if weighting == "1/x" else 2.0
        return 1.0 / np.power(np.maximum(x, np.finfo(float).tiny), power)
    raise ValueError(f"unknown weighting {weighting!r}; known: {', '.join(WEIGHTINGS)}")


def curve_fit_id(x: Sequence[float], y: Sequence[float], *, model: str, weighting: str, method: str = "least_squares/v1") -> str:
    """Return a 16-hex-digit id hashing the fit inputs (concentrations, responses) and method."""
    payload = {
        "x": [None if not math.isfinite(v) else float(f"{v:.10g}") for v in map(float, x)],
        "y": [None if not math.isfinite(v) else float(f"{v:.10g}") for v in map(float, y)],
        "model": model,
        "weighting": weighting,
        "method": method,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _r_squared(y: np.ndarray, yhat: np.ndarray) -> float:
    ss_res = float(np.sum((y - yhat) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return float("nan") if ss_tot == 0 else 1.0 - ss_res / ss_tot


def fit_standard_curve(
    concentrations: Sequence[float] | np.ndarray,
    responses: Sequence[float] | np.ndarray,
    *,
    model: str = "5PL",
    weighting: str = "1/y^2",
    label: str = "",
    analyte: str = "",
    max_nfev: int = 4000,
) -> StandardCurve:
    """Fit a 5PL (default) or 4PL to standards and return the :class:`StandardCurve`.

    ``concentrations`` are the expected standard concentrations in pg/mL (one per well,
    replicates repeated), ``responses`` their Net MFI. Points with a non-finite value or a
    concentration <= 0 are ignored. LLOQ/ULOQ are filled by :func:`quantification_limits`.
    Raises ``IML-CYT-006`` (too few standards) or ``IML-CYT-005`` (fit failed); ``label``
    names the file in the message and ``analyte`` the curve.
    """
    from scipy.optimize import least_squares

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; known: {', '.join(WEIGHTINGS)}")
    x_all = np.asarray(concentrations, dtype=float)
    y_all = np.asarray(responses, dtype=float)
    keep = np.isfinite(x_all) & np.isfinite(y_all) & (x_all > 0)
    x, y = x_all[keep], y_all[keep]
    n_params = 5 if model == "5PL" else 4
    what = f"the {analyte} standard curve" if analyte else "the standard curve"
    n_levels = len(np.unique(x))
    if n_levels < n_params - 1 or len(x) < n_params:
        raise InconsistentInputError(
            "IML-CYT-006",
            f"{what} has {len(x)} usable standard well(s) at {n_levels} concentration(s); "
            f"a {model} needs at least {n_params} wells at {n_params - 1} or more concentrations",
            path=label or None,
            hint="Check that the standards have expected concentrations and readable MFIs, or "
            "choose --curve-model 4PL.",
        )
    fit_id = curve_fit_id(x, y, model=model, weighting=weighting)
    w = _weights(x, y, weighting)
    sw = np.sqrt(w)
    lx = np.log(x)
    ymin, ymax = float(y.min()), float(y.max())
    span = ymax - ymin
    order = np.argsort(x)
    rising = np.corrcoef(lx, y)[0, 1] >= 0 if span > 0 else True
    if span <= 0 or not np.isfinite(span):
        raise InconsistentInputError(
            "IML-CYT-005",
            f"{what} cannot be fitted: every standard has the same MFI",
            path=label or None,
            hint="The standards were probably not added or the wrong analyte was read; "
            "re-run the plate.",
        )
    scale = max(abs(ymax), abs(ymin), 1.0)
    yn = y / scale
    spn = span / scale
    lo_n, hi_n = ymin / scale, ymax / scale
    # parameters: a, b (scaled MFI), log c, d, [f]
    lower = [lo_n - 2.0 * spn - 1e-6, lo_n, float(lx.min()) - 7.0, -10.0]
    upper = [hi_n, hi_n + 50.0 * spn, float(lx.max()) + 7.0, -0.05]
    if not rising:  # falling curve (competitive assay): zero-concentration asymptote on top
        lower = [lo_n, lo_n - 2.0 * spn - 1e-6, float(lx.min()) - 7.0, -10.0]
        upper = [hi_n + 50.0 * spn, hi_n, float(lx.max()) + 7.0, -0.05]
    if model == "5PL":
        lower.append(0.05)
        upper.append(20.0)

    def _parts(p: np.ndarray) -> tuple[float, float, float, float, float, np.ndarray, np.ndarray]:
        a, b, lc, d = (float(v) for v in p[:4])
        f = float(p[4]) if model == "5PL" else 1.0
        t = d * (lx - lc)
        log_u = np.logaddexp(0.0, t)  # log(1 + (x / C)^D), overflow-free
        return a, b, lc, d, f, t, log_u

    def residuals(p: np.ndarray) -> np.ndarray:
        a, b, _lc, _d, f, _t, log_u = _parts(p)
        pred = a + (b - a) * np.exp(-f * log_u)
        r = sw * scale * (pred - yn)
        return np.where(np.isfinite(r), r, 1e12)

    def jacobian(p: np.ndarray) -> np.ndarray:
        a, b, lc, d, f, t, log_u = _parts(p)
        g = np.exp(-f * log_u)  # (1 + E)^-F
        h = np.exp(t - (f + 1.0) * log_u)  # E (1 + E)^(-F-1)
        cols = [1.0 - g, g, (b - a) * f * d * h, -(b - a) * f * (lx - lc) * h]
        if model == "5PL":
            cols.append(-(b - a) * log_u * g)
        jac = np.column_stack(cols) * (sw * scale)[:, None]
        return np.where(np.isfinite(jac), jac, 0.0)

    mid = float(np.median(lx))
    c_starts = sorted({mid, float(lx[order][len(x) // 4]), float(lx[order][(3 * len(x)) // 4])})
    starts: list[list[float]] = []
    a0 = lo_n - 0.01 * spn if rising else hi_n + 0.01 * spn
    b0 = hi_n + 0.2 * spn if rising else lo_n - 0.2 * spn
    shapes = ((-1.0, 1.0), (-2.0, 0.5), (-0.6, 2.0)) if model == "5PL" else ((-1.0, 1.0), (-2.0, 1.0), (-0.6, 1.0))
    for lc0 in c_starts:
        for d0, f0 in shapes:
            p = [a0, b0, lc0, d0] + ([f0] if model == "5PL" else [])
            starts.append([min(max(v, lo + 1e-9), hi - 1e-9) for v, lo, hi in zip(p, lower, upper, strict=True)])
    best = None
    for p0 in starts:
        try:
            res = least_squares(
                residuals, np.asarray(p0), jac=jacobian, bounds=(lower, upper), method="trf",
                x_scale="jac", max_nfev=max_nfev, xtol=1e-12, ftol=1e-12, gtol=1e-12,
            )
        except (ValueError, FloatingPointError):
            continue
        if not np.all(np.isfinite(res.x)):
            continue
        if best is None or res.cost < best.cost - 1e-15:
            best = res
    if best is None or best.status <= 0:
        raise InconsistentInputError(
            "IML-CYT-005",
            f"{what} cannot be fitted with a {model} ({weighting} weighting): no start converged",
            path=label or None,
            hint="Look at the standard MFIs for swapped or failed wells; exclude them or "
            "choose --curve-model 4PL.",
        )
    a, b, lc, d = (float(v) for v in best.x[:4])
    f = float(best.x[4]) if model == "5PL" else 1.0
    curve = StandardCurve(
        model=model,
        a=a * scale,
        b=b * scale,
        c=float(math.exp(lc)),
        d=d,
        f=f,
        weighting=weighting,
        n_points=len(x),
        lowest_standard=float(x.min()),
        highest_standard=float(x.max()),
        converged=True,
        message="ok",
        source="immunolab",
        fit_id=fit_id,
    )
    yhat = curve.predict(x)
    curve = replace(curve, r_squared=_r_squared(y, yhat))
    if not all(math.isfinite(v) for v in curve.params().values()):
        raise InconsistentInputError(
            "IML-CYT-005",
            f"{what} fit gave non-finite parameters",
            path=label or None,
            hint="Look at the standard MFIs for swapped or failed wells.",
        )
    lloq, uloq = quantification_limits(curve, x, y)
    return replace(curve, lloq=lloq, uloq=uloq)


def standard_recovery(curve: StandardCurve, concentrations: np.ndarray, responses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (distinct expected concentrations, mean recovery % of back-calculated standards).

    Recovery = 100 x mean back-calculated concentration / expected; NaN where every replicate
    of a level is beyond an asymptote.
    """
    x = np.asarray(concentrations, dtype=float)
    y = np.asarray(responses, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[keep], y[keep]
    back, _ = curve.inverse(y)
    levels = np.unique(x)
    rec = np.full(levels.shape, np.nan)
    for i, lv in enumerate(levels):
        vals = back[x == lv]
        vals = vals[np.isfinite(vals)]
        if vals.size:
            rec[i] = 100.0 * float(vals.mean()) / lv
    return levels, rec


def quantification_limits(
    curve: StandardCurve,
    concentrations: np.ndarray,
    responses: np.ndarray,
    *,
    recovery_range: tuple[float, float] = RECOVERY_RANGE,
) -> tuple[float | None, float | None]:
    """Return (LLOQ, ULOQ) in pg/mL: the widest run of consecutive standard levels recovering 70-130 %.

    Levels are sorted by concentration; the run with the most levels wins (ties: the lower run).
    Returns (None, None) when no standard level recovers within range.
    """
    levels, rec = standard_recovery(curve, concentrations, responses)
    lo, hi = recovery_range
    good = np.isfinite(rec) & (rec >= lo) & (rec <= hi)
    best: tuple[int, int] | None = None
    i = 0
    while i < len(levels):
        if not good[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(levels) and good[j + 1]:
            j += 1
        if best is None or (j - i) > (best[1] - best[0]):
            best = (i, j)
        i = j + 1
    if best is None:
        return None, None
    return float(levels[best[0]]), float(levels[best[1]])


@dataclass(frozen=True)
class BackCalculation:
    """Per-well back-calculated concentrations (pg/mL, dilution applied) and instrument-style text."""

    concentration: np.ndarray
    censor: np.ndarray
    text: list[str]


def _fmt(v: float) -> str:
    return f"{v:.2f}"


def back_calculate(
    curve: StandardCurve,
    net_mfi: Sequence[float] | np.ndarray,
    dilution: Sequence[float] | np.ndarray | float = 1.0,
) -> BackCalculation:
    """Return concentrations the xPONENT way: inverse curve x the well's dilution factor.

    Beyond the zero-concentration asymptote the value is NaN, the censor ``below_curve`` and
    the text ``< x`` with x the lowest standard concentration (not multiplied by dilution);
    beyond the other asymptote ``above_curve`` and ``> x`` with the highest standard.
    Missing MFI gives ``not_available`` and the text ``NaN``.
    """
    y = np.asarray(net_mfi, dtype=float)
    dil = np.broadcast_to(np.asarray(dilution, dtype=float), y.shape).copy()
    dil[~np.isfinite(dil) | (dil <= 0)] = 1.0
    x, censor = curve.inverse(y)
    conc = x * dil
    texts: list[str] = []
    low = curve.lowest_standard if curve.lowest_standard is not None else float("nan")
    high = curve.highest_standard if curve.highest_standard is not None else float("nan")
    for v, cz in zip(conc, censor, strict=True):
        if cz == "below_curve":
            texts.append(f"< {_fmt(low)}")
        elif cz == "above_curve":
            texts.append(f"> {_fmt(high)}")
        elif cz == "not_available" or not math.isfinite(v):
            texts.append("NaN")
        else:
            texts.append(_fmt(float(v)))
    return BackCalculation(conc, censor, texts)
