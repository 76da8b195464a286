"""Fit a standard curve on log MFI with the existing engine: the LEGENDplex software's "5-P.log".

The LEGENDplex v7.0 report prints every curve as ``5-P.log`` with five coefficients whose
first two are the natural logs of the asymptotic MFIs (about 5.7 = ln 300 at the bottom, 13-16
at the top): the vendor fits a logistic to ln(MFI) against concentration, so every standard
weighs by its *relative* error. :func:`immunolab.cytokine.curves.fit_standard_curve` fits
``y = A + (B - A) / (1 + (x / C)^D)^F``; given ``y = ln MFI`` with no weighting it fits the
same kind of curve. On the shared Navios run (anti-virus 13-plex, 16 standard wells) this
reproduces the report's back-calculated standards with a median difference of about 2 %,
against about 6 % for the 5PL on linear MFI with weights 1/y^2 (figures in
``docs/bead_arrays.md``). The vendor's exact parameterisation and bounds could not be
identified (its printed coefficients do not reproduce its own back-calculations in any
standard 5PL form we tried), so agreement is close but not exact, and worst on the flat
bottom of the curve (C1, C2), where a 1 % MFI difference moves the concentration by 10 %.

These helpers return ordinary :class:`~immunolab.cytokine.curves.StandardCurve` objects whose
A and B are log-MFI; use :func:`log_response_concentrations` (not ``curve.inverse`` on raw MFI)
to back-calculate. Wiring a ``response_scale="log"`` option into
:func:`immunolab.cytokine.assemble.analyse_plate` is the core's decision (see the report of
issue 16); until then plates are fitted on linear MFI by the kit's ``curve`` settings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from immunolab.cytokine.curves import StandardCurve, fit_standard_curve

__all__ = ["fit_log_response_curve", "log_response_concentrations"]


def fit_log_response_curve(
    concentrations: Sequence[float] | np.ndarray,
    mfi: Sequence[float] | np.ndarray,
    *,
    model: str = "5PL",
    label: str = "",
    analyte: str = "",
) -> StandardCurve:
    """Return the engine's fit of ln(MFI) against concentration (pg/mL), unweighted.

    Wells with MFI <= 0 or concentration <= 0 (the blank) are left out. Raises the engine's
    IML-CYT-005 / IML-CYT-006 like any curve fit.
    """
    x = np.asarray(concentrations, dtype=float)
    y = np.asarray(mfi, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (y > 0) & (x > 0)
    return fit_standard_curve(x[keep], np.log(y[keep]), model=model, weighting="none", label=label, analyte=analyte)


def log_response_concentrations(
    curve: StandardCurve, mfi: Sequence[float] | np.ndarray, dilution: Sequence[float] | np.ndarray | float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Return (concentration pg/mL x dilution, censor code) for MFIs on a log-response curve."""
    y = np.asarray(mfi, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logy = np.where(y > 0, np.log(np.where(y > 0, y, 1.0)), -np.inf)
    conc, censor = curve.inverse(logy)
    return conc * np.asarray(dilution, dtype=float), censor
