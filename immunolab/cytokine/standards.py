"""Check that the standards' expected concentrations form the kit's dilution series; repair or refuse.

A kit's standards are a serial dilution: level ``n + 1`` is level ``n`` divided by a constant
factor ``R`` (2-, 3-, 4- or 5-fold ...), so ``log10(conc)`` falls on a straight line against the
level number. Two export accidents break that and are caught here:

* **a lost decimal separator** (a locale that drops it: ``215625`` printed for ``215.625``):
  each value is multiplied by its own power of ten, so the digits (the mantissa) are right but
  the exponents are not. The mantissas still fix the series' shape: for a step ratio below 10,
  ``(mantissa_n - mantissa_n+1) mod 1`` is ``log10(R)`` for every step. Lost separators only make
  numbers larger, so every repaired value is the printed one divided by ``10^k`` with ``k >= 0``.
* **a constant power of ten** (the whole series in the wrong unit or scale): the series shape is
  intact and only a second source can reveal it: the instrument's own results for the standard
  wells, which were computed from the correct expected values (recovery near 100 %).

A series that is not geometric at all (a linear 1:1, 1:2, 1:3 ... dilution) is kept when the
instrument's results of the standards agree with every printed value (status ``confirmed``,
with a warning): the numbers are then what the instrument used, not an export accident.

The repair is applied only when it is unique: the step ratio is consistent and the
instrument's results of the standards pin the scale. Without results the digits alone cannot
tell ``2505`` (250.5 with a lost separator) from an intact ``2505``, so a broken series is
refused with ``IML-CYT-010`` (give the concentrations with the ``standard_concentrations``
option), and a series shifted by a constant power of ten is undetectable (it is still a
dilution series). Concentrations are in the
units of the standards (pg/mL, AU/mL ...); nothing is converted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from immunolab.errors import InconsistentInputError

__all__ = ["STEP_TOLERANCE", "SeriesCheck", "check_plate_standards", "check_series"]

#: largest deviation (log10 units) of one dilution step from the series' step: 0.1 = x1.26
STEP_TOLERANCE = 0.1
#: largest deviation (log10 units) of the instrument's recovery from a power of ten
_SCALE_TOLERANCE = 0.15


@dataclass(frozen=True)
class SeriesCheck:
    """Outcome of :func:`check_series` for one analyte.

    ``status`` is ``ok``, ``repaired`` (``values`` hold the repaired series, ``note`` says how),
    ``confirmed`` (not a dilution series, but the instrument's results of the standards agree
    with the printed values, which are kept) or ``refused`` (``note`` says why). ``ratio`` is the
    dilution factor between levels.
    """

    status: str
    values: dict[int, float]
    ratio: float | None
    note: str = ""


def _fit_step(levels: np.ndarray, logs: np.ndarray) -> tuple[float, float, float]:
    """Return (intercept, step, worst residual) of ``logs = intercept - step * (level - 1)``."""
    if len(levels) < 2:
        return float(logs[0]) if len(logs) else 0.0, 0.0, 0.0
    pairs = [(logs[i] - logs[j]) / (levels[j] - levels[i]) for i in range(len(levels)) for j in range(i + 1, len(levels))]
    step = float(np.median(pairs))
    intercept = float(np.median(logs + step * (levels - 1)))
    worst = float(np.max(np.abs(logs - (intercept - step * (levels - 1)))))
    return intercept, step, worst


def _mantissa_series(levels: np.ndarray, logs: np.ndarray, *, ascending: bool) -> tuple[float, float] | None:
    """Return (signed step, worst residual) of the series the mantissas alone imply, or None.

    The step is in log10 units per level, positive when concentrations fall as the level number
    rises (xPONENT, Bio-Plex 5/6) and negative for an ascending numbering (Bio-Plex 4.x kits).
    """
    mant = logs - np.floor(logs)
    steps = []
    for i in range(len(levels) - 1):
        gap = levels[i + 1] - levels[i]
        diff = (mant[i + 1] - mant[i]) if ascending else (mant[i] - mant[i + 1])
        steps.append((diff % 1.0) / gap)
    step = float(np.median(steps))
    if step <= 0.02 or step >= 0.98:  # ratio near 1 or 10: the mantissas cannot tell
        return None
    signed = -step if ascending else step
    ideal = mant[0] - signed * (levels - levels[0])
    resid = (mant - ideal + 0.5) % 1.0 - 0.5
    return signed, float(np.max(np.abs(resid)))


def _scale_from_results(items: list[tuple[int, float]], reported: Mapping[int, float] | None) -> int | None:
    """Return k when the instrument's results of the standards are 10^-k x the printed series."""
    if not reported:
        return None
    logs = [math.log10(reported[lv] / v) for lv, v in items if reported.get(lv) and reported[lv] > 0]
    if len(logs) < 3:
        return None
    k = round(float(np.median(logs)))
    # the shift must hold level by level (a curve fitted to noise, as a blank bead's, agrees
    # with a power of ten at a few levels only)
    agree = sum(abs(v - k) <= _SCALE_TOLERANCE for v in logs)
    return -k if agree >= max(3, math.ceil(0.8 * len(logs))) else None


def _confirmed_by_results(items: list[tuple[int, float]], reported: Mapping[int, float] | None) -> bool:
    """Return True when the instrument's results of at least three levels, and of every level
    they cover, lie within 10^0.15 (x1.41) of the printed expected concentrations."""
    if not reported:
        return False
    ratios = [abs(math.log10(reported[lv] / v)) for lv, v in items if reported.get(lv) and reported[lv] > 0]
    return len(ratios) >= max(3, len(items) // 2) and max(ratios) <= _SCALE_TOLERANCE


def _candidates(levels: np.ndarray, logs: np.ndarray, step: float) -> list[tuple[np.ndarray, int]]:
    """Return (true log10 values, number of unchanged values) of every repair lost separators allow."""
    base = logs[0] - np.floor(logs[0])
    out = []
    for e in range(int(np.floor(logs.min())) - 12, int(np.ceil(logs.max())) + 2):
        true_logs = base + e - step * (levels - levels[0])
        k = np.round(logs - true_logs)
        if np.any(k < 0) or np.any(np.abs(logs - true_logs - k) > STEP_TOLERANCE):
            continue
        out.append((true_logs, int(np.sum(k == 0))))
    return out


def check_series(expected: Mapping[int, float], *, reported: Mapping[int, float] | None = None) -> SeriesCheck:
    """Return whether ``expected`` (standard level -> concentration) is a dilution series.

    ``reported`` (standard level -> the instrument's result for that standard, dilution
    removed) is given when the export prints results. Level 1 is the most concentrated
    standard (xPONENT, Bio-Plex); an ascending numbering works the same way.
    """
    items = sorted((int(k), float(v)) for k, v in expected.items() if v is not None and math.isfinite(v) and v > 0)
    if len(items) < 3:
        return SeriesCheck("ok", dict(items), None, "fewer than three standards: nothing to check")
    levels = np.array([k for k, _ in items], dtype=float)
    logs = np.log10([v for _, v in items])
    _b, step, worst = _fit_step(levels, logs)
    if worst <= STEP_TOLERANCE:
        scale = _scale_from_results(items, reported)
        if not scale:
            return SeriesCheck("ok", dict(items), 10 ** abs(step))
        return SeriesCheck(
            "repaired", {k: v / 10**scale for k, v in items}, 10 ** abs(step),
            f"every expected concentration was 10^{scale} times what the instrument's results of the "
            f"standards imply; divided by {10 ** scale:g}",
        )
    if _confirmed_by_results(items, reported):
        return SeriesCheck(
            "confirmed", dict(items), None,
            "the expected concentrations are not a serial dilution, but the instrument's results of the "
            "standards agree with every one of them; kept as printed",
        )
    shape = _mantissa_series(levels, logs, ascending=step < 0)
    if shape is None or shape[1] > STEP_TOLERANCE:
        return SeriesCheck(
            "refused", dict(items), None,
            "the expected concentrations are not a serial dilution (no constant ratio between levels, "
            "even allowing for lost decimal separators)",
        )
    candidates = _candidates(levels, logs, shape[0])
    ratio = 10 ** abs(shape[0])
    chosen: np.ndarray | None = None
    evidence = ""
    if reported:
        ref = {lv: math.log10(r) for lv, r in reported.items() if r and r > 0}
        scored = [
            (float(np.median([abs(t - ref[lv]) for lv, t in zip(levels.astype(int), tl, strict=True) if lv in ref] or [9.0])), tl)
            for tl, _n in candidates
        ]
        if scored and min(scored, key=lambda x: x[0])[0] < 0.3:
            chosen, evidence = min(scored, key=lambda x: x[0])[1], "the instrument's results of the standards"
    if chosen is None:
        return SeriesCheck(
            "refused", dict(items), ratio,
            f"the expected concentrations have the digits of a {ratio:.3g}-fold dilution series but "
            "their decimal separators were lost and nothing in the file fixes the scale uniquely",
        )
    fixed = {lv: float(10**tl) for (lv, _v), tl in zip(items, chosen, strict=True)}
    # keep the printed digits: the repair moves the decimal point, it never rounds
    fixed = {lv: v / 10 ** round(math.log10(v / fixed[lv])) for lv, v in items}
    return SeriesCheck("repaired", fixed, ratio, _repair_note(items, fixed, evidence))


def _repair_note(items: list[tuple[int, float]], fixed: Mapping[int, float], evidence: str) -> str:
    changed = [lv for lv, v in items if not math.isclose(fixed[lv], v, rel_tol=1e-6)]
    return (
        f"decimal separators were lost in {len(changed)} of {len(items)} expected concentrations "
        f"(e.g. level {changed[0]}: {items[[lv for lv, _ in items].index(changed[0])][1]:g} read as {fixed[changed[0]]:g}); "
        f"the scale was fixed by {evidence}"
    ) if changed else "no change"


def _reported_per_level(std: pd.DataFrame) -> dict[int, float] | None:
    """Return {standard level: median instrument result / dilution} of the standard wells, if printed."""
    if "reported_conc" not in std or not std["reported_conc"].notna().any():
        return None
    dil = std["dilution"].where(std["dilution"].notna() & (std["dilution"] > 0), 1.0) if "dilution" in std else 1.0
    values = (std["reported_conc"] / dil).where(lambda x: np.isfinite(x) & (x > 0))
    per_level = values.groupby(std["standard_level"]).median().dropna()
    return {int(str(k)): float(v) for k, v in per_level.items()} or None


def check_plate_standards(wells: pd.DataFrame, *, label: str, plate: int = 1) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """Return (wells with repaired ``expected_conc``, {analyte: repair note}, warnings) for one plate.

    Raises ``IML-CYT-010`` naming the analyte when a standard series is not a dilution series
    and cannot be repaired uniquely. Only standard wells with a level number are checked.
    """
    std_mask = (wells["sample_type"] == "standard") & wells["standard_level"].notna() & wells["expected_conc"].notna()
    if not std_mask.any():
        return wells, {}, []
    out = wells.copy()
    repairs: dict[str, str] = {}
    warnings: list[str] = []
    for analyte, std in wells[std_mask].groupby("analyte", sort=True):
        per_level = std.groupby("standard_level")["expected_conc"].first()
        expected = {int(str(k)): float(v) for k, v in per_level.items()}
        result = check_series(expected, reported=_reported_per_level(std))
        if result.status == "refused":
            raise InconsistentInputError(
                "IML-CYT-010",
                f"plate {plate}, {analyte}: {result.note} ({len(expected)} standards)",
                path=label,
                hint="Correct the standard concentrations in the instrument protocol (check the decimal "
                "separator of the computer's locale) and re-export, or give them with the "
                "standard_concentrations option.",
            )
        if result.status == "confirmed":
            warnings.append(f"{analyte}: {result.note}")
        if result.status == "repaired":
            fixed = [result.values.get(int(lv), float("nan")) for lv in std["standard_level"]]
            out.loc[std.index, "expected_conc"] = fixed
            repairs[str(analyte)] = result.note
            warnings.append(f"{analyte}: standard concentrations repaired: {result.note}")
    return out, repairs, warnings
