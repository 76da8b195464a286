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
(weight 1 where ``y == 0``). Other weightings are the recipes of
:mod:`immunolab.cytokine.fit_recipes`, among them ``bioplex`` and ``msd``, which reproduce the
fits of Bio-Plex Manager and MSD Discovery Workbench. The fit is a bounded
:func:`scipy.optimize.least_squares` from several starting points; the best converged solution
wins. A curve fitted again with the same inputs (the refit and instrument derivations of one
plate) is taken from a cache.

Errors: too few usable standards raise ``IML-CYT-006``; a fit that fails (flat or
non-monotone data, no convergence, non-finite parameters) raises ``IML-CYT-005``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from immunolab.cytokine.fit_recipes import RECIPES, FitPoints, FitRecipe, fit_points, point_weights
from immunolab.errors import InconsistentInputError

if TYPE_CHECKING:
    from scipy.optimize import OptimizeResult

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

MODELS: tuple[str, ...] = ("5PL", "4PL")
#: weighting name -> description (the recipes of :mod:`immunolab.cytokine.fit_recipes`)
WEIGHTINGS: dict[str, str] = {name: recipe.description for name, recipe in RECIPES.items()}
#: a standard is "recovered" when its back-calculated concentration is this % of expected
RECOVERY_RANGE: tuple[float, float] = (70.0, 130.0)
_TOL = 1e-12  # xtol = ftol = gtol of a fit


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


def curve_fit_id(
    x: Sequence[float], y: Sequence[float], *, model: str, weighting: str, method: str = "least_squares/v1",
    raw: Sequence[float] | None = None,
) -> str:
    """Return a 16-hex-digit id hashing the fit inputs (concentrations, responses, raw signals) and method."""

    def clean(values: Sequence[float]) -> list[float | None]:
        return [None if not math.isfinite(v) else float(f"{v:.10g}") for v in map(float, values)]

    payload: dict[str, object] = {"x": clean(x), "y": clean(y), "model": model, "weighting": weighting, "method": method}
    if raw is not None:  # only recipes weighting by the raw signal hash it (older ids stay stable)
        payload["raw"] = clean(raw)
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _r_squared(y: np.ndarray, yhat: np.ndarray) -> float:
    ss_res = float(np.sum((y - yhat) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return float("nan") if ss_tot == 0 else 1.0 - ss_res / ss_tot


def _fit_error(code: str, message: str, label: str, hint: str) -> InconsistentInputError:
    return InconsistentInputError(code, message, path=label or None, hint=hint)


@dataclass(frozen=True)
class _Problem:
    """A scaled least-squares problem: log concentrations, scaled responses, sqrt weights, bounds."""

    model: str
    lx: np.ndarray
    yn: np.ndarray
    sw: np.ndarray
    scale: float
    lower: list[float]
    upper: list[float]
    rising: bool


def _problem(points: FitPoints, recipe: FitRecipe, model: str) -> _Problem:
    """Return the scaled problem of ``points`` (parameters a, b scaled; log c; d; [f])."""
    x, y = points.x, points.y
    with np.errstate(divide="ignore"):
        lx = np.log(x)  # -inf for a zero calibrator: the curve is at its zero asymptote there
    lpos = lx[np.isfinite(lx)]
    ymin, ymax = float(y.min()), float(y.max())
    span = ymax - ymin
    corr = np.corrcoef(lpos, y[np.isfinite(lx)])[0, 1] if lpos.size > 1 else 1.0
    rising = bool(corr >= 0) if span > 0 and np.isfinite(corr) else True
    scale = max(abs(ymax), abs(ymin), 1.0)
    spn, lo_n, hi_n = span / scale, ymin / scale, ymax / scale
    d_lo, d_hi = recipe.slope
    far = recipe.asymptote_span * spn
    lower = [lo_n - 2.0 * spn - 1e-6, lo_n, float(lpos.min()) - 7.0, d_lo]
    upper = [hi_n, hi_n + far, float(lpos.max()) + 7.0, d_hi]
    if not rising:  # falling curve (competitive assay): zero-concentration asymptote on top
        lower = [lo_n, lo_n - far, float(lpos.min()) - 7.0, d_lo]
        upper = [hi_n + far, hi_n, float(lpos.max()) + 7.0, d_hi]
    if model == "5PL":
        lower.append(recipe.asymmetry[0])
        upper.append(recipe.asymmetry[1])
    sw = np.sqrt(point_weights(points, recipe))
    return _Problem(model, lx, y / scale, sw, scale, lower, upper, rising)


def _starts(pr: _Problem) -> list[list[float]]:
    """Return the starting points of the multi-start fit (inside the bounds)."""
    finite = np.isfinite(pr.lx)
    lpos = np.sort(pr.lx[finite])
    lo_n, hi_n = float(pr.yn.min()), float(pr.yn.max())
    spn = hi_n - lo_n
    mid = float(np.median(pr.lx[finite]))
    c_starts = sorted({mid, float(lpos[len(lpos) // 4]), float(lpos[(3 * len(lpos)) // 4])})
    a0 = lo_n - 0.01 * spn if pr.rising else hi_n + 0.01 * spn
    b0 = hi_n + 0.2 * spn if pr.rising else lo_n - 0.2 * spn
    f_mid = min(max(1.0, pr.lower[-1]), pr.upper[-1]) if pr.model == "5PL" else 1.0
    shapes = ((-1.0, f_mid), (-2.0, 0.5), (-0.6, 2.0)) if pr.model == "5PL" else ((-1.0, 1.0), (-2.0, 1.0), (-0.6, 1.0))
    starts: list[list[float]] = []
    for lc0 in c_starts:
        for d0, f0 in shapes:
            p = [a0, b0, lc0, d0] + ([f0] if pr.model == "5PL" else [])
            starts.append([min(max(v, lo + 1e-9), hi - 1e-9) for v, lo, hi in zip(p, pr.lower, pr.upper, strict=True)])
    return starts


def _objective(pr: _Problem) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """Return the (residuals, jacobian) functions of the scaled problem."""
    five = pr.model == "5PL"

    def parts(p: np.ndarray) -> tuple[float, float, float, float, float, np.ndarray, np.ndarray]:
        a, b, lc, d = (float(v) for v in p[:4])
        f = float(p[4]) if five else 1.0
        with np.errstate(invalid="ignore"):
            t = d * (pr.lx - lc)
        log_u = np.logaddexp(0.0, t)  # log(1 + (x / C)^D), overflow-free
        return a, b, lc, d, f, t, log_u

    def residuals(p: np.ndarray) -> np.ndarray:
        a, b, _lc, _d, f, _t, log_u = parts(p)
        pred = a + (b - a) * np.exp(-f * log_u)
        r = pr.sw * pr.scale * (pred - pr.yn)
        return np.where(np.isfinite(r), r, 1e12)

    def jacobian(p: np.ndarray) -> np.ndarray:
        a, b, lc, d, f, t, log_u = parts(p)
        g = np.exp(-f * log_u)  # (1 + E)^-F
        with np.errstate(invalid="ignore"):
            h = np.exp(t - (f + 1.0) * log_u)  # E (1 + E)^(-F-1); 0 at a zero calibrator
            cols = [1.0 - g, g, (b - a) * f * d * h, -(b - a) * f * (pr.lx - lc) * h]
        if five:
            cols.append(-(b - a) * log_u * g)
        jac = np.column_stack(cols) * (pr.sw * pr.scale)[:, None]
        return np.where(np.isfinite(jac), jac, 0.0)

    return residuals, jacobian


def _descend(pr: _Problem, p0: Sequence[float], max_nfev: int, tol: float) -> OptimizeResult | None:
    """Return the bounded trust-region fit from ``p0`` (None when it fails or leaves the finite numbers)."""
    from scipy.optimize import least_squares

    residuals, jacobian = _objective(pr)
    try:
        res = least_squares(
            residuals, np.asarray(p0), jac=jacobian, bounds=(pr.lower, pr.upper), method="trf",
            x_scale="jac", max_nfev=max_nfev, xtol=tol, ftol=tol, gtol=tol,
        )
    except (ValueError, FloatingPointError):
        return None
    return res if np.all(np.isfinite(res.x)) else None


def _better(res: OptimizeResult, best: OptimizeResult | None) -> bool:
    """Return True when ``res`` has a lower cost than ``best`` (an earlier start wins a tie)."""
    return best is None or res.cost < best.cost - 1e-15


def _solve(pr: _Problem, max_nfev: int) -> np.ndarray | None:
    """Return the best converged parameter vector of the multi-start bounded fit, or None.

    Every start is fitted to the tight tolerance and the lowest cost wins (an earlier start wins
    a tie); None when that fit did not converge. (Screening the starts with a few loose steps and
    fitting only the best ones was tried: on multi-modal 5PL problems it can miss the optimum.)
    """
    best = None
    for p0 in _starts(pr):
        res = _descend(pr, p0, max_nfev, _TOL)
        if res is not None and _better(res, best):
            best = res
    return None if best is None or best.status <= 0 else np.asarray(best.x)


def fit_standard_curve(
    concentrations: Sequence[float] | np.ndarray,
    responses: Sequence[float] | np.ndarray,
    *,
    model: str = "5PL",
    weighting: str = "1/y^2",
    label: str = "",
    analyte: str = "",
    max_nfev: int = 4000,
    raw_responses: Sequence[float] | np.ndarray | None = None,
) -> StandardCurve:
    """Fit a 5PL (default) or 4PL to standards and return the :class:`StandardCurve`.

    ``concentrations`` are the expected standard concentrations in pg/mL (one per well,
    replicates repeated), ``responses`` their Net MFI; ``raw_responses`` the signal before
    background subtraction (Median / FI), used only by recipes weighting by it (``bioplex``).
    ``weighting`` names a :data:`~immunolab.cytokine.fit_recipes.RECIPES` entry. Points with a
    non-finite value or a concentration <= 0 are ignored (a zero calibrator is kept by recipes
    that fit it, ``msd``). LLOQ/ULOQ are filled by :func:`quantification_limits` from the
    individual standard wells. Raises ``IML-CYT-006`` (too few standards) or ``IML-CYT-005``
    (fit failed); ``label`` names the file in the message and ``analyte`` the curve.
    """
    x_all = np.asarray(concentrations, dtype=float).ravel()
    y_all = np.asarray(responses, dtype=float).ravel()
    raw = None if raw_responses is None else np.asarray(raw_responses, dtype=float).ravel().tobytes()
    curve = _fit_once(x_all.tobytes(), y_all.tobytes(), raw, model, weighting, label, analyte, max_nfev)
    return replace(curve, extras=dict(curve.extras))  # frozen, but ``extras`` is a dict: each caller its own


@functools.lru_cache(maxsize=128)
def _fit_once(x_bytes: bytes, y_bytes: bytes, raw_bytes: bytes | None, model: str, weighting: str, label: str,
              analyte: str, max_nfev: int) -> StandardCurve:
    """Return :func:`fit_standard_curve` of the standards given as float64 bytes; cached, so the
    derivations of one plate (refit and instrument) fit a curve once. A failure is not cached."""
    x_all = np.frombuffer(x_bytes, dtype=float)
    y_all = np.frombuffer(y_bytes, dtype=float)
    raw_responses = None if raw_bytes is None else np.frombuffer(raw_bytes, dtype=float)
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
    if weighting not in RECIPES:
        raise ValueError(f"unknown weighting {weighting!r}; known: {', '.join(WEIGHTINGS)}")
    recipe = RECIPES[weighting]
    raw = None if raw_responses is None or recipe.on != "raw" else np.asarray(raw_responses, dtype=float)
    points = fit_points(x_all, y_all, raw, recipe)
    x, y = points.x, points.y
    n_params = 5 if model == "5PL" else 4
    what = f"the {analyte} standard curve" if analyte else "the standard curve"
    n_levels = len(np.unique(x))
    if n_levels < n_params - 1 or len(x) < n_params or not (x > 0).any():
        raise _fit_error(
            "IML-CYT-006",
            f"{what} has {len(x)} usable standard point(s) at {n_levels} concentration(s); "
            f"a {model} needs at least {n_params} points at {n_params - 1} or more concentrations",
            label, "Check that the standards have expected concentrations and readable MFIs, or "
            "choose --curve-model 4PL.",
        )
    if not float(y.max() - y.min()) > 0:
        raise _fit_error(
            "IML-CYT-005", f"{what} cannot be fitted: every standard has the same MFI", label,
            "The standards were probably not added or the wrong analyte was read; re-run the plate.",
        )
    fit_id = curve_fit_id(x.tolist(), y.tolist(), model=model, weighting=weighting,
                          raw=points.v.tolist() if recipe.on == "raw" else None)
    pr = _problem(points, recipe, model)
    best = _solve(pr, max_nfev)
    if best is None:
        raise _fit_error(
            "IML-CYT-005", f"{what} cannot be fitted with a {model} ({weighting} weighting): no start converged",
            label, "Look at the standard MFIs for swapped or failed wells; exclude them or choose --curve-model 4PL.",
        )
    a, b, lc, d = (float(v) for v in best[:4])
    curve = StandardCurve(
        model=model, a=a * pr.scale, b=b * pr.scale, c=float(math.exp(lc)), d=d,
        f=float(best[4]) if model == "5PL" else 1.0, weighting=weighting, n_points=len(x),
        lowest_standard=float(x[x > 0].min()), highest_standard=float(x.max()),
        converged=True, message="ok", source="immunolab", fit_id=fit_id,
    )
    curve = replace(curve, r_squared=_r_squared(y, curve.predict(x)))
    if not all(math.isfinite(v) for v in curve.params().values()):
        raise _fit_error("IML-CYT-005", f"{what} fit gave non-finite parameters", label,
                         "Look at the standard MFIs for swapped or failed wells.")
    lloq, uloq = quantification_limits(curve, x_all, y_all)
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
