"""Quality control of multiplex plates: bead counts, replicate CVs, standard recovery, controls.

Rules (defaults in :class:`QcThresholds`, all overridable per ingest):

- bead count per well x analyte: < 35 fails (``bead_count_fail``), < 50 warns
  (``bead_count_warn``);
- replicate CV (sample SD, ddof = 1, over mean, in %): > 15 % for unknowns, > 20 % for standards;
- standard recovery (back-calculated / expected, %) outside 70-130 % flags the level;
- curve R^2 below 0.98 flags the analyte; a curve that could not be fitted fails it;
- controls: mean back-calculated concentration outside the expected (low, high) range, when
  a range is known (from the export or the ``control_ranges`` option).

:func:`plate_status` turns the per-analyte findings into the plate's ``qc_status``
(``pass`` / ``warn`` / ``fail``) stored with the JSON summary in ``cytokine_plates``;
:func:`levey_jennings` turns the controls of many plates into a tidy frame with Westgard flags.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "QcThresholds",
    "bead_count_flag",
    "levey_jennings",
    "plate_status",
    "replicate_cv",
    "westgard_flags",
]


@dataclass(frozen=True)
class QcThresholds:
    """Acceptance limits for plate QC (bead counts in beads, CVs and recoveries in %)."""

    bead_fail: int = 35
    bead_warn: int = 50
    cv_unknown_pct: float = 15.0
    cv_standard_pct: float = 20.0
    recovery_low_pct: float = 70.0
    recovery_high_pct: float = 130.0
    r_squared_min: float = 0.98
    #: a plate fails when this fraction of well x analyte readings has a failing bead count
    bead_fail_fraction: float = 0.25

    def to_dict(self) -> dict[str, float]:
        """Return the thresholds as a JSON-ready dict."""
        return {k: float(v) for k, v in asdict(self).items()}


def bead_count_flag(count: float | None, thresholds: QcThresholds = QcThresholds()) -> str | None:
    """Return ``bead_count_fail`` (< 35), ``bead_count_warn`` (< 50) or None for a bead count."""
    if count is None or not math.isfinite(count):
        return None
    if count < thresholds.bead_fail:
        return "bead_count_fail"
    if count < thresholds.bead_warn:
        return "bead_count_warn"
    return None


def replicate_cv(values: Sequence[float] | np.ndarray) -> float | None:
    """Return the replicate CV in % (sample SD with ddof = 1 over the mean); None for < 2 values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return None
    mean = float(v.mean())
    if mean == 0:
        return None
    return float(100.0 * v.std(ddof=1) / abs(mean))


def plate_status(analytes: dict[str, dict[str, Any]], *, bead_fail_fraction: float, thresholds: QcThresholds) -> str:
    """Return ``fail`` / ``warn`` / ``pass`` for a plate from its per-analyte QC findings.

    ``fail``: a curve could not be fitted, any R^2 below the minimum, a control out of range,
    or too many failing bead counts. ``warn``: any other flag. ``pass``: nothing flagged.
    """
    if bead_fail_fraction >= thresholds.bead_fail_fraction:
        return "fail"
    worst = "pass"
    for info in analytes.values():
        flags = set(info.get("flags", []))
        if flags & {"curve_failed", "r_squared_low", "control_out_of_range"}:
            return "fail"
        if flags:
            worst = "warn"
    return worst


def _finite(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def westgard_flags(z: Sequence[float]) -> list[list[str]]:
    """Return the Westgard rules each run violates, given z-scores of one control in run order.

    Rules: ``1_2s`` (warning), ``1_3s``, ``2_2s`` (this and the previous run beyond 2 SD on the
    same side), ``R_4s`` (this and the previous run differ by more than 4 SD), ``4_1s`` (four
    runs beyond 1 SD on the same side), ``10_x`` (ten runs on the same side of the mean).
    """
    out: list[list[str]] = []
    zs = [float(v) if v is not None and math.isfinite(float(v)) else float("nan") for v in z]
    for i, v in enumerate(zs):
        flags: list[str] = []
        if math.isnan(v):
            out.append(flags)
            continue
        if abs(v) > 3:
            flags.append("1_3s")
        elif abs(v) > 2:
            flags.append("1_2s")
        if i >= 1 and not math.isnan(zs[i - 1]):
            p = zs[i - 1]
            if (v > 2 and p > 2) or (v < -2 and p < -2):
                flags.append("2_2s")
            if abs(v - p) > 4:
                flags.append("R_4s")
        if i >= 3:
            last = zs[i - 3 : i + 1]
            if all(x > 1 for x in last) or all(x < -1 for x in last):
                flags.append("4_1s")
        if i >= 9:
            last = zs[i - 9 : i + 1]
            if all(x > 0 for x in last) or all(x < 0 for x in last):
                flags.append("10_x")
        out.append(flags)
    return out


def levey_jennings(plates: pd.DataFrame | Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Return a tidy Levey-Jennings frame for the controls of many plates.

    ``plates`` is the ``cytokine_plates`` table (a DataFrame or records) with at least
    ``plate_id``, ``run_study_day`` and ``qc_json``. Columns of the result: ``plate_id``,
    ``run_study_day``, ``run_order``, ``control``, ``analyte``, ``concentration`` (pg/mL, mean
    of replicates), ``n_replicates``, ``cv_pct``, ``expected_low``, ``expected_high``,
    ``in_range``, ``mean`` and ``sd`` (of that control x analyte over all plates), ``z_score``
    and ``westgard`` (rules violated, comma-separated, empty when none).
    """
    frame = plates if isinstance(plates, pd.DataFrame) else pd.DataFrame(list(plates))
    rows: list[dict[str, Any]] = []
    for rec in frame.to_dict("records"):
        try:
            qc = json.loads(rec.get("qc_json") or "{}")
        except (TypeError, ValueError):
            continue
        for c in qc.get("controls", []):
            rows.append(
                {
                    "plate_id": rec.get("plate_id"),
                    "run_study_day": rec.get("run_study_day"),
                    "control": c.get("label"),
                    "analyte": c.get("analyte"),
                    "concentration": _finite(c.get("concentration")),
                    "n_replicates": c.get("n"),
                    "cv_pct": _finite(c.get("cv_pct")),
                    "expected_low": _finite(c.get("low")),
                    "expected_high": _finite(c.get("high")),
                    "in_range": c.get("in_range"),
                }
            )
    cols = [
        "plate_id", "run_study_day", "run_order", "control", "analyte", "concentration",
        "n_replicates", "cv_pct", "expected_low", "expected_high", "in_range", "mean", "sd",
        "z_score", "westgard",
    ]
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    df = pd.DataFrame(rows)
    df["_day"] = pd.to_numeric(df["run_study_day"], errors="coerce")
    df = df.sort_values(["control", "analyte", "_day", "plate_id"], na_position="last", kind="stable")
    parts = []
    for _key, g in df.groupby(["control", "analyte"], sort=True, dropna=False):
        g = g.copy()
        g["run_order"] = np.arange(1, len(g) + 1)
        conc = g["concentration"].astype(float)
        mean = float(conc.mean()) if conc.notna().any() else float("nan")
        sd = float(conc.std(ddof=1)) if conc.notna().sum() >= 2 else float("nan")
        g["mean"] = mean
        g["sd"] = sd
        g["z_score"] = (conc - mean) / sd if sd and math.isfinite(sd) and sd > 0 else float("nan")
        g["westgard"] = [",".join(f) for f in westgard_flags(g["z_score"].tolist())]
        parts.append(g)
    out = pd.concat(parts, ignore_index=True).drop(columns=["_day"])
    return out[cols]
