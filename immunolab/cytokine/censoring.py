"""Turn replicate well concentrations into one censored, substituted value per sample x analyte.

Censor flags (column ``censor`` of ``cytokine_results``):

================  ==========================================================================
``none``          mean of replicates within [LLOQ, ULOQ]
``below_lloq``    numeric mean below LLOQ (extrapolated below the quantification range)
``above_uloq``    numeric mean above ULOQ
``below_curve``   every replicate at/below the curve's zero-concentration asymptote (``< x``)
``above_curve``   every replicate at/above the upper asymptote (``> x``)
``not_available`` no usable reading (missing MFI, no curve, mixed below and above the curve)
================  ==========================================================================

LLOQ / ULOQ are given in assay (well) concentration and scaled by the replicates' mean
dilution factor, so they are in the same sample units as the concentration.

Substitution (never silent: the rule is written beside every value in
``substitution_rule``; the unsubstituted mean stays in ``concentration_raw``):

- below (``below_lloq`` / ``below_curve``): ``LLOQ/2`` (default), ``LLOQ/sqrt2``, ``LLOQ``,
  ``zero`` or ``none`` (keep the raw value, which is NaN for ``below_curve``);
- above (``above_uloq`` / ``above_curve``): ``ULOQ`` (default) or ``none``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from immunolab.cytokine.qc import replicate_cv

__all__ = [
    "ABOVE_RULES",
    "BELOW_RULES",
    "CENSOR_FLAGS",
    "CensoredValue",
    "censor_replicates",
    "substitute",
]

CENSOR_FLAGS = ("none", "below_lloq", "above_uloq", "below_curve", "above_curve", "not_available")
BELOW_RULES = ("LLOQ/2", "LLOQ/sqrt2", "LLOQ", "zero", "none")
ABOVE_RULES = ("ULOQ", "none")


@dataclass(frozen=True)
class CensoredValue:
    """One sample x analyte value (pg/mL) with its censoring, substitution and replicate facts."""

    concentration: float | None
    concentration_raw: float | None
    censor: str
    substitution_rule: str
    n_replicates: int
    cv_pct: float | None
    lloq: float | None
    uloq: float | None
    flags: tuple[str, ...] = ()


def substitute(censor: str, raw: float | None, lloq: float | None, uloq: float | None, *, below: str = "LLOQ/2", above: str = "ULOQ") -> tuple[float | None, str]:
    """Return (value to analyse, rule applied) for a censored value (pg/mL)."""
    if below not in BELOW_RULES:
        raise ValueError(f"unknown below-range rule {below!r}; known: {', '.join(BELOW_RULES)}")
    if above not in ABOVE_RULES:
        raise ValueError(f"unknown above-range rule {above!r}; known: {', '.join(ABOVE_RULES)}")
    if censor in ("below_lloq", "below_curve"):
        if below == "none" or lloq is None:
            return raw, "none"
        factor = {"LLOQ/2": 0.5, "LLOQ/sqrt2": 1 / math.sqrt(2.0), "LLOQ": 1.0, "zero": 0.0}[below]
        return lloq * factor, below
    if censor in ("above_uloq", "above_curve"):
        if above == "none" or uloq is None:
            return raw, "none"
        return uloq, above
    return raw, "none"


def censor_replicates(
    concentrations: Sequence[float] | np.ndarray,
    well_censors: Sequence[str],
    dilutions: Sequence[float] | np.ndarray,
    *,
    lloq: float | None,
    uloq: float | None,
    below: str = "LLOQ/2",
    above: str = "ULOQ",
) -> CensoredValue:
    """Return the :class:`CensoredValue` of one sample's replicate wells.

    ``concentrations`` are per-well back-calculated values (pg/mL, dilution applied; NaN beyond
    the curve), ``well_censors`` the per-well codes of :func:`~immunolab.cytokine.curves.logistic_inverse`,
    ``dilutions`` the wells' dilution factors (NaN = 1), ``lloq``/``uloq`` in assay units.
    ``n_replicates`` counts every well of the sample; the CV uses the numeric ones.
    """
    conc = np.asarray(concentrations, dtype=float)
    dil = np.asarray(dilutions, dtype=float)
    dil = np.where(np.isfinite(dil) & (dil > 0), dil, 1.0)
    censors = list(well_censors)
    numeric = np.isfinite(conc)
    flags: list[str] = []
    mean_dil = float(dil[numeric].mean()) if numeric.any() else float(dil.mean()) if dil.size else 1.0
    lloq_s = lloq * mean_dil if lloq is not None else None
    uloq_s = uloq * mean_dil if uloq is not None else None
    if numeric.any():
        raw: float | None = float(conc[numeric].mean())
        cv = replicate_cv(conc[numeric])
        if int(numeric.sum()) < len(censors):
            flags.append("replicate_beyond_curve" if any(c in ("below_curve", "above_curve") for c in censors) else "replicate_missing")
        if lloq_s is not None and raw is not None and raw < lloq_s:
            censor = "below_lloq"
        elif uloq_s is not None and raw is not None and raw > uloq_s:
            censor = "above_uloq"
        else:
            censor = "none"
    else:
        raw, cv = None, None
        kinds = {c for c in censors if c in ("below_curve", "above_curve")}
        censor = next(iter(kinds)) if len(kinds) == 1 else "not_available"
        if len(kinds) == 2:
            flags.append("replicates_on_both_sides_of_curve")
    value, rule = substitute(censor, raw, lloq_s, uloq_s, below=below, above=above)
    return CensoredValue(
        concentration=value,
        concentration_raw=raw,
        censor=censor,
        substitution_rule=rule,
        n_replicates=len(censors),
        cv_pct=cv,
        lloq=lloq_s,
        uloq=uloq_s,
        flags=tuple(flags),
    )
