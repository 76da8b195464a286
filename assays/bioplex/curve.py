"""Read the standard curve Bio-Plex Manager prints under each analyte sheet, and invert it.

Bio-Plex Manager prints, for example::

    Regression Type: Logistic - 5PL
    Std. Curve: FI = 1.7229 + (32617.8 - 1.7229) / ((1 + (Conc / 12.6918)^-4.65357))^0.248174
    FitProb. = 0.4606, ResVar. = 0.9291

that is ``FI = d + (a - d) / (1 + (Conc / c)^b)^g`` (``g`` = 1 for 4PL). With immunolab's
curve form ``y = A + (B - A) / (1 + (x / C)^D)^F`` the mapping is exact, sign included:
``A = d``, ``B = a``, ``C = c``, ``D = b`` (negative in Bio-Plex prints), ``F = g``.
``y`` is the background-subtracted signal (``FI - Bkgd``) and ``x`` the concentration in the
well (before multiplying by the dilution).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass

from immunolab.cytokine.curves import StandardCurve

__all__ = [
    "PrintedCurve",
    "instrument_curve",
    "inverse_printed_curve",
    "parse_fit_statistics",
    "parse_std_curve",
]

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CURVE = re.compile(
    rf"FI\s*=\s*(?P<d>{_NUM})\s*\+\s*\(\s*(?P<a>{_NUM})\s*(?P<sign>[-+])\s*(?P<d2>{_NUM})\s*\)"
    rf"\s*/\s*\(*\s*1\s*\+\s*\(\s*Conc\s*/\s*(?P<c>{_NUM})\s*\)\s*\^\s*(?P<b>{_NUM})\s*\)*"
    rf"(?:\s*\^\s*(?P<g>{_NUM}))?\s*$",
    re.IGNORECASE,
)
_FIT_STAT = re.compile(rf"(?P<key>FitProb|ResVar)\.?\s*=\s*(?P<value>{_NUM})", re.IGNORECASE)


@dataclass(frozen=True)
class PrintedCurve:
    """A standard curve as printed by the instrument software (immunolab parameter names)."""

    analyte_reported: str
    regression: str | None
    a: float | None  # A: signal at zero concentration (Bio-Plex d)
    b: float | None  # B: signal at infinite concentration (Bio-Plex a)
    c: float | None  # C: inflection concentration
    d: float | None  # D: slope (Bio-Plex b, negative)
    f: float | None  # F: asymmetry (Bio-Plex g; 1 for 4PL)
    fit_prob: float | None = None
    res_var: float | None = None
    weighting: str | None = None
    valid: bool = True
    message: str | None = None

    @property
    def model(self) -> str:
        """Return ``5PL``, ``4PL`` or the regression name as printed (non-logistic curves)."""
        text = (self.regression or "").upper()
        if "5PL" in text:
            return "5PL"
        if "4PL" in text:
            return "4PL"
        return self.regression or "unknown"

    @property
    def has_parameters(self) -> bool:
        """Return True when all five logistic parameters are known."""
        return None not in (self.a, self.b, self.c, self.d, self.f)


def parse_std_curve(text: str) -> tuple[float, float, float, float, float] | None:
    """Return (A, B, C, D, F) from a ``Std. Curve: FI = ...`` line, or None if it is not logistic.

    The repeated lower asymptote must agree with itself (``a - d`` printed as ``a + |d|`` when
    ``d`` is negative); a line where it does not is treated as unreadable (None).
    """
    body = text.split(":", 1)[1] if ":" in text else text
    m = _CURVE.search(body.strip())
    if not m:
        return None
    lower = float(m.group("d"))
    repeated = float(m.group("d2")) * (1.0 if m.group("sign") == "-" else -1.0)
    if not math.isclose(lower, repeated, rel_tol=1e-6, abs_tol=1e-9):
        return None
    upper = float(m.group("a"))
    inflection = float(m.group("c"))
    slope = float(m.group("b"))
    asym = float(m.group("g")) if m.group("g") is not None else 1.0
    return lower, upper, inflection, slope, asym


def parse_fit_statistics(text: str) -> tuple[float | None, float | None]:
    """Return (FitProb, ResVar) from a ``FitProb. = 0.46, ResVar. = 0.93`` line."""
    found = {m.group("key").lower(): float(m.group("value")) for m in _FIT_STAT.finditer(text)}
    return found.get("fitprob"), found.get("resvar")


def inverse_printed_curve(curve: PrintedCurve, signal: float) -> float | None:
    """Return the concentration whose curve signal is ``signal`` (units of the standards).

    Returns None when the signal lies outside the open interval between the asymptotes or the
    curve has no logistic parameters. Uses ``x = C * (((B - A) / (y - A))^(1/F) - 1)^(1/D)``.
    """
    if not curve.has_parameters:
        return None
    a, b, c, d, f = curve.a, curve.b, curve.c, curve.d, curve.f
    assert a is not None and b is not None and c is not None and d is not None and f is not None
    if d == 0 or f == 0 or c <= 0:
        return None
    lo, hi = min(a, b), max(a, b)
    if not lo < signal < hi:
        return None
    ratio = (b - a) / (signal - a)
    inner = ratio ** (1.0 / f) - 1.0
    if inner <= 0:
        return None
    return c * inner ** (1.0 / d)


def instrument_curve(curve: PrintedCurve, analyte: str) -> StandardCurve:
    """Return the printed curve as a :class:`StandardCurve` (``source="instrument"``)."""
    payload = json.dumps(
        {"analyte": analyte, "params": [curve.a, curve.b, curve.c, curve.d, curve.f],
         "regression": curve.regression, "weighting": curve.weighting, "source": "instrument"},
        sort_keys=True,
    ).encode()
    fit_id = hashlib.sha256(payload).hexdigest()[:16]
    nan = float("nan")
    params = [curve.a, curve.b, curve.c, curve.d, curve.f]
    usable = curve.valid and all(p is not None and math.isfinite(p) for p in params)
    extras: dict[str, float] = {}
    if curve.fit_prob is not None:
        extras["fit_prob"] = curve.fit_prob
    if curve.res_var is not None:
        extras["res_var"] = curve.res_var
    return StandardCurve(
        model=curve.model,
        a=curve.a if usable and curve.a is not None else nan,
        b=curve.b if usable and curve.b is not None else nan,
        c=curve.c if usable and curve.c is not None else nan,
        d=curve.d if usable and curve.d is not None else nan,
        f=curve.f if usable and curve.f is not None else nan,
        weighting=curve.weighting or "printed (weighting not stated)",
        converged=usable,
        message=(curve.message or "printed by the instrument software") if usable else (curve.message or "no usable curve"),
        source="instrument",
        fit_id=fit_id,
        extras=extras,
    )
