"""Analyse one plate: net MFI, standard curves, back-calculated concentrations, censoring and QC.

The core's curve derivation (:mod:`immunolab.derive.curves`) calls :func:`analyse_plate` on
plates rebuilt from stored facts, whatever instrument wrote them, so results mean the same
thing for xPONENT, Bio-Plex, MSD or a bead array::

    analysis = analyse_plate(plate, plate_id=pid, settings=PlateSettings.from_options(options))

Per plate and analyte:

1. Net MFI = the instrument's printed Net MFI when the export has it; otherwise Median - mean
   Median of the Background (blank) wells (the xPONENT definition); otherwise the Median.
2. The standard curve is refitted (5PL, weights 1/y^2 on the Net MFI of every standard well by
   default: the xPONENT recipe) and, when the export prints its own curve, that one is kept
   too (``source="instrument"``). A curve that cannot be fitted is recorded with
   ``converged=False`` and its error code, and the analyte's results become ``not_available``
   (the plate is not rejected) - unless no analyte of a plate meant to be quantitative gets
   a curve (``Plate.quantitative``), or ``strict_curves`` is set: then the analysis raises
   IML-CYT-005 / IML-CYT-006 and the derivation records the plate's QC as failed.
3. Every well is back-calculated (inverse curve x dilution); unknown samples' replicates are
   averaged, censored against LLOQ / ULOQ and substituted (:mod:`immunolab.cytokine.censoring`).
4. QC (:mod:`immunolab.cytokine.qc`) flags wells, results and the plate.

Units: concentrations are converted to pg/mL when the export prints ng/mL, µg/mL or fg/mL.
A unit cell the export leaves blank is unknown: the unit is stored empty with the flag
``unit_missing`` (the reader warns ``IML-CYT-011``), never assumed pg/mL.
Result rows carry the plate sample's identifier (its ``sample_key`` when rebuilt from the
store) in the private ``_sample_ref`` column.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from immunolab.cytokine.censoring import ABOVE_RULES, BELOW_RULES, censor_replicates
from immunolab.cytokine.curves import (
    MODELS,
    WEIGHTINGS,
    StandardCurve,
    curve_fit_id,
    fit_standard_curve,
    quantification_limits,
    standard_recovery,
)
from immunolab.cytokine.plate import Plate
from immunolab.cytokine.qc import QcThresholds, bead_count_flag, plate_status, replicate_cv
from immunolab.errors import InconsistentInputError, InputError
from immunolab.plugins import SAMPLE_REF

__all__ = [
    "PlateAnalysis",
    "PlateSettings",
    "analyse_plate",
    "unit_factor",
]

_UNIT_FACTORS = {"pg/ml": 1.0, "ng/ml": 1e3, "ug/ml": 1e6, "µg/ml": 1e6, "μg/ml": 1e6, "fg/ml": 1e-3}


def unit_factor(unit: str | None) -> float | None:
    """Return the factor that converts ``unit`` to pg/mL (None when the unit is not a mass/volume).

    ``None`` (the export has no units at all) is pg/mL, the readers' convention; an empty unit
    (the export's unit cell is blank) is unknown, not pg/mL: None.
    """
    if unit is None:
        return 1.0
    key = "".join(unit.lower().split())
    return _UNIT_FACTORS.get(key)


@dataclass(frozen=True)
class PlateSettings:
    """How concentrations are computed: curve model, weighting, substitution rules, QC limits.

    Options (``ctx.options`` keys read by :meth:`from_options`): ``curve_model`` (vendor / 5PL /
    4PL), ``curve_weighting`` (vendor, 1/y^2, 1/y, none, 1/x, 1/x^2, and the vendor recipes
    ``bioplex`` / ``msd`` of :mod:`immunolab.cytokine.fit_recipes`); ``vendor`` (the default)
    refits with the model and weighting of the software that analysed the plate
    (:func:`vendor_fit`), so that a refit reproduces the instrument's numbers, ``curve_source`` (immunolab /
    instrument: which curve gives the concentrations), ``below_rule`` (LLOQ/2 ...),
    ``above_rule`` (ULOQ / none), ``control_ranges`` ({"Control1": {"IL-6": [low, high]}}),
    ``strict_curves`` (true: any curve that cannot be fitted rejects the file with its
    IML-CYT-005/006 error instead of being recorded), and the QC limits of
    :class:`~immunolab.cytokine.qc.QcThresholds` by field name.
    """

    model: str = "vendor"
    weighting: str = "vendor"
    curve_source: str = "immunolab"
    below_rule: str = "LLOQ/2"
    above_rule: str = "ULOQ"
    thresholds: QcThresholds = field(default_factory=QcThresholds)
    control_ranges: Mapping[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    strict_curves: bool = False

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> PlateSettings:
        """Return settings from user options; unknown values raise ValueError naming the choices."""
        opts = dict(options or {})
        model = str(opts.get("curve_model", "vendor"))
        model = model if model == "vendor" else model.upper()
        weighting = str(opts.get("curve_weighting", "vendor"))
        source = str(opts.get("curve_source", "immunolab"))
        below = str(opts.get("below_rule", "LLOQ/2"))
        above = str(opts.get("above_rule", "ULOQ"))
        for value, allowed, what in (
            (model, ("vendor", *MODELS), "curve_model"),
            (weighting, ("vendor", *WEIGHTINGS), "curve_weighting"),
            (source, ("immunolab", "instrument"), "curve_source"),
            (below, BELOW_RULES, "below_rule"),
            (above, ABOVE_RULES, "above_rule"),
        ):
            if value not in allowed:
                raise ValueError(f"{what}={value!r} is not one of {', '.join(allowed)}")
        fields = {k: opts[k] for k in QcThresholds.__dataclass_fields__ if k in opts}
        thresholds = QcThresholds(**fields) if fields else QcThresholds()
        ranges: dict[tuple[str, str], tuple[float, float]] = {}
        raw = opts.get("control_ranges") or {}
        if isinstance(raw, Mapping):
            for ctrl, per in raw.items():
                if isinstance(per, Mapping):
                    for analyte, lohi in per.items():
                        lo, hi = lohi
                        ranges[(str(ctrl), str(analyte))] = (float(lo), float(hi))
        strict = opts.get("strict_curves", False)
        if not isinstance(strict, bool):
            raise ValueError(f"strict_curves={strict!r} is not true or false")
        return cls(model, weighting, source, below, above, thresholds, ranges, strict)


@dataclass
class PlateAnalysis:
    """A plate after net MFI, curves, back-calculation, replicate summaries and QC."""

    plate: Plate
    plate_id: str
    wells: pd.DataFrame
    curves: list[StandardCurve]
    curve_analytes: list[str]
    results: pd.DataFrame
    qc: dict[str, Any]
    status: str
    warnings: list[str] = field(default_factory=list)


def _instrument_fit_id(curve: StandardCurve) -> str:
    blob = json.dumps({"source": "instrument", **{k: f"{v:.10g}" for k, v in curve.params().items()}}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _net_mfi(wells: pd.DataFrame) -> tuple[pd.Series, dict[str, float]]:
    """Return per-row Net MFI and the mean blank Median per analyte.

    The instrument's printed net value wins where present (it is what the instrument's own
    curve used, and only the instrument knows which wells it typed as background: a well
    named ``B`` may be an unknown to xPONENT); otherwise Median - mean Median of the blank
    wells (the xPONENT definition); otherwise the Median itself.
    """
    blanks = wells[(wells["sample_type"] == "blank") & wells["median_mfi"].notna()]
    background = blanks.groupby("analyte")["median_mfi"].mean().to_dict()
    bg = wells["analyte"].map(background)
    computed = (wells["median_mfi"] - bg).where(bg.notna(), wells["median_mfi"])
    net = wells["net_mfi_reported"].where(wells["net_mfi_reported"].notna(), computed)
    return net.astype(float), {str(k): float(v) for k, v in background.items()}


def _failed_curve(analyte: str, exc: InputError, model: str, weighting: str, x: np.ndarray, y: np.ndarray) -> StandardCurve:
    return StandardCurve(
        model=model, a=float("nan"), b=float("nan"), c=float("nan"), d=float("nan"), f=float("nan"),
        weighting=weighting, n_points=int(np.isfinite(y).sum()), converged=False,
        message=f"{exc.code}: {exc.message}", source="immunolab",
        fit_id=curve_fit_id(x.tolist(), y.tolist(), model=model, weighting=weighting),
        lowest_standard=float(np.nanmin(x)) if x.size else None,
        highest_standard=float(np.nanmax(x)) if x.size else None,
    )


def _round(v: float | None, digits: int = 4) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.{digits}g}")


def vendor_fit(plate: Plate, analyte: str, settings: PlateSettings) -> tuple[str, str]:
    """Return the (model, weighting) a refit of ``analyte`` uses under ``settings``.

    ``vendor`` resolves from the plate: the model of the instrument's printed curve (else 4PL
    for MSD, 5PL otherwise) and the recipe of the software that analysed it (``bioplex`` for
    Bio-Plex Manager, ``msd`` for MSD Discovery Workbench, ``1/y^2`` otherwise: xPONENT's
    "Logistic 5P Weighted"). Explicit choices pass through unchanged.
    """
    software = (plate.software or "").lower()
    msd = "msd" in software or "discovery" in software
    model, weighting = settings.model, settings.weighting
    if model == "vendor":
        printed = plate.instrument_curves.get(analyte)
        model = printed.model if printed is not None and printed.model in MODELS else ("4PL" if msd else "5PL")
    if weighting == "vendor":
        weighting = "bioplex" if "bio-plex" in software or "bioplex" in software else ("msd" if msd else "1/y^2")
    return model, weighting


@dataclass
class _PlateWork:
    """What the per-analyte steps of :func:`analyse_plate` add to while one plate is analysed."""

    curves: list[StandardCurve] = field(default_factory=list)
    curve_analytes: list[str] = field(default_factory=list)
    analyte_qc: dict[str, dict[str, Any]] = field(default_factory=dict)
    result_rows: list[dict[str, Any]] = field(default_factory=list)
    controls_qc: list[dict[str, Any]] = field(default_factory=list)
    curve_errors: list[InputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _wells_in_pg_ml(plate: Plate) -> tuple[pd.DataFrame, dict[str, str]]:
    """Return the plate's wells with expected / reported concentrations in pg/mL, and the units not convertible."""
    wells = plate.wells.copy().reset_index(drop=True)
    factors: dict[str, float] = {}
    unit_notes: dict[str, str] = {}
    for analyte in wells["analyte"].unique():
        unit = plate.units.get(analyte)
        f = unit_factor(unit)
        if f is None:
            unit_notes[analyte] = str(unit)
            f = 1.0
        factors[analyte] = f
    fac = wells["analyte"].map(factors).astype(float)
    wells["expected_conc"] = wells["expected_conc"].astype(float) * fac
    wells["reported_conc"] = wells["reported_conc"].astype(float) * fac
    return wells, unit_notes


def _well_flags(wells: pd.DataFrame, th: QcThresholds) -> list[list[str]]:
    """Return each well row's QC flags: bead count, missing MFI, instrument warning."""
    flags_per_row: list[list[str]] = [[] for _ in range(len(wells))]
    warnings = wells.get("instrument_warnings", pd.Series(0, index=wells.index))
    for i, (count, med, warn) in enumerate(zip(wells["bead_count"], wells["median_mfi"], warnings, strict=True)):
        fl = bead_count_flag(None if pd.isna(count) else float(count), th)
        if fl:
            flags_per_row[i].append(fl)
        if pd.isna(med):
            flags_per_row[i].append("mfi_missing")
        if warn and not pd.isna(warn) and int(warn) > 0:
            flags_per_row[i].append("instrument_warning")
    return flags_per_row


def _analyte_info(sub: pd.DataFrame, analyte: str, background: dict[str, float], unit_notes: dict[str, str]) -> dict[str, Any]:
    """Return the QC record an analyte starts with: background, net MFI source, unit and naming flags."""
    info: dict[str, Any] = {
        "flags": [], "background_mfi": _round(background.get(analyte)),
        "net_mfi_source": "instrument" if sub["net_mfi_reported"].notna().any() else "computed",
    }
    if analyte in unit_notes:
        info["flags"].append("unit_not_convertible" if unit_notes[analyte] else "unit_missing")
        info["unit"] = unit_notes[analyte]
    known = bool(sub["analyte_known"].iloc[0]) if "analyte_known" in sub else True
    if not known:
        info["flags"].append("analyte_not_canonical")
    return info


def _refit(plate: Plate, sub: pd.DataFrame, analyte: str, settings: PlateSettings, label: str,
           info: dict[str, Any], work: _PlateWork, x: np.ndarray, y: np.ndarray) -> StandardCurve:
    """Return immunolab's refit of an analyte's standards (a failed curve unless ``strict_curves``)."""
    # a recipe may fit a zero calibrator; standards the instrument flagged as outliers stay out of the fit, as in its own
    outlier = [("outlier" in plate.reader_flags.get((w, a), ())) for w, a in zip(sub["well"], sub["analyte_reported"], strict=True)]
    fit_std = sub[(sub["sample_type"] == "standard") & (sub["expected_conc"] >= 0) & ~np.array(outlier, dtype=bool)]
    model, weighting = vendor_fit(plate, analyte, settings)
    try:
        return fit_standard_curve(
            fit_std["expected_conc"].to_numpy(dtype=float), fit_std["net_mfi"].to_numpy(dtype=float),
            model=model, weighting=weighting, label=label, analyte=analyte,
            raw_responses=fit_std["median_mfi"].to_numpy(dtype=float),
        )
    except InputError as exc:
        if settings.strict_curves:
            raise
        work.curve_errors.append(exc)
        info["flags"].append("curve_failed")
        work.warnings.append(f"plate {plate.plate_index}: {analyte}: {exc.code} {exc.message}")
        return _failed_curve(analyte, exc, model, weighting, x, y)


def _printed_curve(plate: Plate, analyte: str, x: np.ndarray, y: np.ndarray) -> StandardCurve | None:
    """Return the instrument's printed curve of ``analyte`` with its fit id and limits (None if not printed)."""
    printed = plate.instrument_curves.get(analyte)
    if printed is None:
        return None
    printed = replace(printed, fit_id=_instrument_fit_id(printed))
    if printed.c > 0 and x.size:
        lloq, uloq = quantification_limits(printed, x, y)
        printed = replace(
            printed, lloq=lloq, uloq=uloq, n_points=int(np.isfinite(y).sum()),
            lowest_standard=float(x.min()), highest_standard=float(x.max()),
        )
    return printed


def _standards_qc(chosen: StandardCurve, x: np.ndarray, y: np.ndarray, th: QcThresholds, info: dict[str, Any]) -> None:
    """Record per-level recovery and replicate CV of the standards (and their flags) in ``info``."""
    levels, rec = standard_recovery(chosen, x, y)
    std_info = []
    for lv, r in zip(levels, rec, strict=True):
        mfis = y[x == lv]
        cv = replicate_cv(mfis)
        level: dict[str, Any] = {"expected": _round(float(lv)), "recovery_pct": _round(float(r)), "cv_pct": _round(cv), "n": int(mfis.size)}
        if not (math.isfinite(r) and th.recovery_low_pct <= r <= th.recovery_high_pct):
            level["flag"] = "recovery_out_of_range"
        if cv is not None and cv > th.cv_standard_pct:
            level["flag_cv"] = "cv_high"
            if "standard_cv_high" not in info["flags"]:
                info["flags"].append("standard_cv_high")
        std_info.append(level)
    info["standards"] = std_info
    if any("flag" in e for e in std_info):
        info["flags"].append("standard_recovery_out_of_range")
    if chosen.lloq is None:
        info["flags"].append("no_quantification_range")


def _quantify(wells: pd.DataFrame, idx: Any, chosen: StandardCurve, x: np.ndarray, y: np.ndarray,
              th: QcThresholds, info: dict[str, Any]) -> None:
    """Back-calculate the analyte's wells (inverse curve x dilution, pg/mL) and check its curve and standards."""
    info["curve"] = {
        "source": chosen.source, "fit_id": chosen.fit_id, "model": chosen.model,
        "r_squared": _round(chosen.r_squared, 6), "lloq": _round(chosen.lloq), "uloq": _round(chosen.uloq),
        "n_points": chosen.n_points,
    }
    if chosen.r_squared is not None and math.isfinite(chosen.r_squared) and chosen.r_squared < th.r_squared_min:
        info["flags"].append("r_squared_low")
    sub = wells.loc[idx]
    back, censor = chosen.inverse(sub["net_mfi"].to_numpy(dtype=float))
    dil = sub["dilution"].to_numpy(dtype=float)
    dil = np.where(np.isfinite(dil) & (dil > 0), dil, 1.0)
    wells.loc[idx, "conc"] = back * dil
    wells.loc[idx, "well_censor"] = censor
    if x.size:
        _standards_qc(chosen, x, y, th, info)


def _controls_qc(plate: Plate, settings: PlateSettings, current: pd.DataFrame, analyte: str,
                 info: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one record per control of the analyte: mean concentration (pg/mL), CV and its range check."""
    out = []
    ctrl = current[current["sample_type"] == "control"]
    for lbl, g in ctrl.groupby("well_label", sort=True, dropna=False):
        vals = g["conc"].to_numpy(dtype=float)
        conc_mean = float(np.nanmean(vals)) if np.isfinite(vals).any() else None
        rng = plate.control_ranges.get((str(lbl), analyte)) or settings.control_ranges.get((str(lbl), analyte))
        entry: dict[str, Any] = {
            "label": None if pd.isna(lbl) else str(lbl), "analyte": analyte,
            "concentration": _round(conc_mean, 6), "n": len(g), "cv_pct": _round(replicate_cv(vals)),
            "low": _round(rng[0], 6) if rng else None, "high": _round(rng[1], 6) if rng else None,
            "in_range": None,
        }
        if rng is not None and conc_mean is not None:
            lo, hi = rng
            ok = (not math.isfinite(lo) or conc_mean >= lo) and (not math.isfinite(hi) or conc_mean <= hi)
            entry["in_range"] = bool(ok)
            if not ok and "control_out_of_range" not in info["flags"]:
                info["flags"].append("control_out_of_range")
        out.append(entry)
    return out


def _sample_results(current: pd.DataFrame, analyte: str, plate_id: str, chosen: StandardCurve | None,
                    fit_id: str | None, settings: PlateSettings, flags_per_row: list[list[str]],
                    info: dict[str, Any], unit: str) -> tuple[list[dict[str, Any]], int]:
    """Return the result rows of the analyte's unknown samples (replicates censored and substituted) and the CV failures."""
    th = settings.thresholds
    lloq = chosen.lloq if chosen is not None else None
    uloq = chosen.uloq if chosen is not None else None
    if chosen is not None and lloq is None:
        lloq, uloq = chosen.lowest_standard, chosen.highest_standard
    rows: list[dict[str, Any]] = []
    cv_fail = 0
    for sample, g in current[current["sample_type"] == "unknown"].groupby("sample_name", sort=False):
        cv_val = censor_replicates(
            g["conc"].to_numpy(dtype=float), list(g["well_censor"]), g["dilution"].to_numpy(dtype=float),
            lloq=lloq, uloq=uloq, below=settings.below_rule, above=settings.above_rule,
        )
        qflags = list(cv_val.flags)
        for i in g.index:
            for fl in flags_per_row[int(i)]:
                if fl.startswith("bead_count") and fl not in qflags:
                    qflags.append(fl)
        if cv_val.cv_pct is not None and cv_val.cv_pct > th.cv_unknown_pct:
            qflags.append("cv_high")
            cv_fail += 1
        if chosen is None:
            qflags.append("curve_failed")
        else:
            qflags.extend(fl for fl in ("r_squared_low", "no_quantification_range", "analyte_not_canonical",
                                        "unit_not_convertible", "unit_missing") if fl in info["flags"])
        rows.append({
            "plate_id": plate_id, "analyte": analyte, "fit_id": fit_id,
            "concentration": cv_val.concentration, "concentration_raw": cv_val.concentration_raw, "unit": unit,
            "n_replicates": cv_val.n_replicates, "cv_pct": cv_val.cv_pct, "censor": cv_val.censor,
            "substitution_rule": cv_val.substitution_rule, "lloq": cv_val.lloq, "uloq": cv_val.uloq,
            "qc_flags": qflags, SAMPLE_REF: sample,
        })
    return rows, cv_fail


def _analyse_analyte(plate: Plate, wells: pd.DataFrame, idx: Any, analyte: str, *, plate_id: str,
                     settings: PlateSettings, label: str, background: dict[str, float], unit_notes: dict[str, str],
                     flags_per_row: list[list[str]], work: _PlateWork) -> None:
    """Fit, choose and apply the analyte's curve; add its curves, QC, controls and sample results to ``work``."""
    sub = wells.loc[idx]
    info = _analyte_info(sub, analyte, background, unit_notes)
    std = sub[(sub["sample_type"] == "standard") & (sub["expected_conc"] > 0)]
    x = std["expected_conc"].to_numpy(dtype=float)
    y = std["net_mfi"].to_numpy(dtype=float)
    refit = _refit(plate, sub, analyte, settings, label, info, work, x, y) if len(std) else None
    printed = _printed_curve(plate, analyte, x, y)
    for curve in (refit, printed):
        if curve is not None:
            work.curves.append(curve)
            work.curve_analytes.append(analyte)
    chosen: StandardCurve | None = None
    if settings.curve_source == "instrument" and printed is not None:
        chosen = printed
    elif refit is not None and refit.converged:
        chosen = refit
    if refit is None and printed is None:
        info["curve"] = None
        work.analyte_qc[analyte] = info
        return  # nothing to quantify against: MFI-only analyte
    if chosen is not None:
        _quantify(wells, idx, chosen, x, y, settings.thresholds, info)
    else:
        info["curve"] = {"source": "immunolab", "converged": False, "message": refit.message if refit else ""}
    current = wells.loc[idx]
    work.controls_qc.extend(_controls_qc(plate, settings, current, analyte, info))
    fit_id = chosen.fit_id if chosen is not None else (refit.fit_id if refit is not None else None)
    rows, cv_fail = _sample_results(current, analyte, plate_id, chosen, fit_id, settings, flags_per_row, info,
                                    unit_notes.get(analyte, "pg/mL"))
    work.result_rows.extend(rows)
    if cv_fail:
        info["unknown_cv_high"] = cv_fail
        info["flags"].append("unknown_cv_high")
    work.analyte_qc[analyte] = info


def _require_a_curve(plate: Plate, work: _PlateWork, label: str) -> None:
    """Raise when a plate meant to be quantitative got no usable curve (IML-CYT-005 / IML-CYT-006)."""
    if not plate.quantitative or any(c.converged for c in work.curves):
        return
    if work.curve_errors:
        raise work.curve_errors[0]
    raise InconsistentInputError(
        "IML-CYT-006",
        f"plate {plate.plate_index} reports concentrations but no analyte has standards with "
        "expected concentrations",
        path=label or None,
        hint="The standard wells or their expected concentrations are missing; re-export the "
        "plate with its standards, or give them with the standard_concentrations option.",
    )


def _plate_qc(plate: Plate, settings: PlateSettings, wells: pd.DataFrame, flags_per_row: list[list[str]],
              work: _PlateWork) -> tuple[str, dict[str, Any]]:
    """Return the plate's QC status and its QC record (thresholds, settings, bead counts, analytes, controls)."""
    th = settings.thresholds
    n_read = int(wells["bead_count"].notna().sum())
    n_fail = sum(1 for fl in flags_per_row if "bead_count_fail" in fl)
    n_warn = sum(1 for fl in flags_per_row if "bead_count_warn" in fl)
    fail_fraction = (n_fail / n_read) if n_read else 0.0
    status = plate_status(work.analyte_qc, bead_fail_fraction=fail_fraction, thresholds=th)
    if status == "pass" and n_fail + n_warn:
        status = "warn"
    qc = {
        "status": status,
        "thresholds": th.to_dict(),
        "curve_settings": {"model": settings.model, "weighting": settings.weighting, "source": settings.curve_source,
                           "below_rule": settings.below_rule, "above_rule": settings.above_rule},
        "bead_count": {"readings": n_read, "fail": n_fail, "warn": n_warn, "fail_fraction": _round(fail_fraction)},
        "instrument_warnings": int(plate.instrument_warnings),
        "export_crc": plate.export_crc,
        "analytes": work.analyte_qc,
        "controls": work.controls_qc,
    }
    return status, qc


def analyse_plate(plate: Plate, *, plate_id: str, settings: PlateSettings, label: str = "") -> PlateAnalysis:
    """Return the :class:`PlateAnalysis` of one plate (no store tables yet; concentrations in pg/mL)."""
    wells, unit_notes = _wells_in_pg_ml(plate)
    wells["net_mfi"], background = _net_mfi(wells)
    wells["conc"] = np.nan
    wells["well_censor"] = "not_available"
    flags_per_row = _well_flags(wells, settings.thresholds)
    work = _PlateWork()
    for analyte_key, idx in wells.groupby("analyte", sort=False).groups.items():
        _analyse_analyte(plate, wells, idx, str(analyte_key), plate_id=plate_id, settings=settings, label=label,
                         background=background, unit_notes=unit_notes, flags_per_row=flags_per_row, work=work)
    _require_a_curve(plate, work, label)
    wells["qc_flags"] = flags_per_row
    status, qc = _plate_qc(plate, settings, wells, flags_per_row, work)
    results = pd.DataFrame.from_records(work.result_rows)
    return PlateAnalysis(plate, plate_id, wells, work.curves, work.curve_analytes, results, qc, status, work.warnings)


def _clean(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if math.isnan(float(v)) else float(v)
    return v


def _json_safe(obj: Any) -> Any:
    """Return ``obj`` with NaN / numpy scalars replaced by JSON-ready values."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return _clean(obj)
