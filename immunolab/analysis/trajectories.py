"""Summarise trajectories per arm and visit, and compute per-patient areas under the curve.

Inputs are the long view of :func:`immunolab.analysis.measurements_view.measurements_view`.

Summary statistics (:func:`trajectory_summary`) are computed per assay x feature x measure x arm
x visit on one column of the view (``value`` by default, or ``change``, ``pct_change``,
``log10_value``, ``log10_change``): n, number censored, median, quartiles (q1, q3; linear
interpolation), mean, SD (ddof 1) and the geometric mean (``10 ** mean(log10_value)``, only
for ``value``). Rows whose value is NaN (``not_available``) are counted in ``n_unavailable``
and left out of the statistics.

AUC rule (:func:`patient_auc`): the trapezoid rule over the patient's *observed* visits inside
the window ``[start, end]`` (days, inclusive). The patient must have a value at the window's
start (baseline) and at its end; otherwise the AUC is NaN and ``auc_status`` says which end is
missing. Missing intermediate visits are bridged by a straight line between the neighbouring
observed visits (``missing_visits`` lists them). Units: ``auc`` in measure units x days,
``auc_mean`` = ``auc / (end - start)`` (the time-averaged value, measure units), ``auc_change``
= AUC of the change from the start value (measure units x days).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from immunolab.errors import InputError

__all__ = [
    "FEATURE_KEYS",
    "check_window",
    "nearest_window",
    "parse_window",
    "patient_auc",
    "trajectory_summary",
]

FEATURE_KEYS = ["assay", "feature", "measure"]
_SUMMARY_COLUMNS = [
    *FEATURE_KEYS, "unit", "statistic_of", "arm", "visit_day", "n", "n_censored", "n_unavailable",
    "median", "q1", "q3", "mean", "sd", "gmean",
]


def trajectory_summary(view: pd.DataFrame, *, value: str = "value") -> pd.DataFrame:
    """Return n, median, IQR, mean, SD (and geometric mean) per feature x measure x arm x visit."""
    if value not in view.columns:
        raise InputError("IML-ANA-005", f"the measurements view has no column {value!r}",
                         hint="Build it with immunolab.analysis.measurements_view(...).")
    if view.empty:
        return pd.DataFrame(columns=_SUMMARY_COLUMNS)
    keys = [*FEATURE_KEYS, "arm", "visit_day"]
    rows = []
    for key, g in view.groupby(keys, sort=True, dropna=False):
        x = g[value].to_numpy(dtype=float)
        ok = np.isfinite(x)
        xs = x[ok]
        n = int(xs.size)
        logs = g["log10_value"].to_numpy(dtype=float)[ok] if value == "value" else np.array([])
        rows.append({
            **dict(zip(keys, key, strict=True)),
            "unit": _unit(g, value),
            "statistic_of": value,
            "n": n,
            "n_censored": int(g.loc[ok, "censored"].sum()) if "censored" in g else 0,
            "n_unavailable": int((~ok).sum()),
            "median": float(np.median(xs)) if n else np.nan,
            "q1": float(np.quantile(xs, 0.25)) if n else np.nan,
            "q3": float(np.quantile(xs, 0.75)) if n else np.nan,
            "mean": float(xs.mean()) if n else np.nan,
            "sd": float(xs.std(ddof=1)) if n > 1 else np.nan,
            "gmean": float(10 ** np.nanmean(logs)) if logs.size and np.isfinite(logs).any() else np.nan,
        })
    return pd.DataFrame(rows, columns=_SUMMARY_COLUMNS)


def _unit(g: pd.DataFrame, value: str) -> str | None:
    unit = g["unit"].dropna().iloc[0] if "unit" in g and g["unit"].notna().any() else None
    if value == "pct_change":
        return "%"
    if value in ("log10_value", "log10_change"):
        return f"log10({unit})" if unit else "log10"
    return unit


def parse_window(text: str) -> tuple[int, int]:
    """Parse ``"0-28"`` into ``(0, 28)`` (days); raise IML-ANA-003 on anything else."""
    parts = text.replace(" ", "").split("-")
    try:
        if len(parts) != 2:
            raise ValueError
        start, end = int(parts[0]), int(parts[1])
    except ValueError:
        raise InputError("IML-ANA-003", f"window {text!r} is not START-END in days",
                         hint="Write it like 0-28 (both ends are visit days).") from None
    if start >= end:
        raise InputError("IML-ANA-003", f"window {text!r} does not start before it ends",
                         hint="Write it like 0-28 (start < end).")
    return start, end


def check_window(view: pd.DataFrame, window: tuple[int, int]) -> None:
    """Raise IML-ANA-003 unless both ends of ``window`` are visit days present in ``view``."""
    start, end = window
    days = sorted({int(d) for d in view["visit_day"].unique()}) if not view.empty else []
    if start >= end or start not in days or end not in days:
        fit = nearest_window(days, window)
        example = f"e.g. --window {fit[0]}-{fit[1]}." if fit else "a window needs two visit days with values."
        raise InputError(
            "IML-ANA-003",
            f"AUC window {start}-{end} must start before it ends and both ends must be visit days in the data",
            hint=f"Visit days present: {', '.join(map(str, days)) or 'none'}; {example}",
        )


def nearest_window(days: Sequence[int], window: tuple[int, int]) -> tuple[int, int] | None:
    """Return the window of present visit days closest to ``window`` (start at or before, end at or after), or None.

    Used to suggest a window that fits the data: days 0, 3 and a requested 0-28 give 0-3.
    """
    present = sorted(set(days))
    if len(present) < 2:
        return None
    start, end = min(window), max(window)
    first = max((d for d in present if d <= start), default=present[0])
    after = [d for d in present if d > first]
    if not after:  # the window starts at or after the last visit: the last two visits present
        return present[-2], present[-1]
    reaching = [d for d in after if d >= end]
    return first, (min(reaching) if reaching else after[-1])


def _auc_one(days: np.ndarray, values: np.ndarray, start: int, end: int, protocol: Sequence[int]) -> dict[str, object]:
    inside = (days >= start) & (days <= end) & np.isfinite(values)
    d, v = days[inside], values[inside]
    order = np.argsort(d)
    d, v = d[order], v[order]
    missing = [int(x) for x in protocol if start <= x <= end and x not in set(d.tolist())]
    out: dict[str, object] = {
        "n_visits": int(d.size),
        "visits_used": ",".join(str(int(x)) for x in d),
        "missing_visits": ",".join(map(str, missing)),
    }
    reasons = []
    if start not in d:
        reasons.append(f"no Day {start} value")
    if end not in d:
        reasons.append(f"no Day {end} value")
    if reasons:
        out.update(auc=np.nan, auc_mean=np.nan, auc_change=np.nan, auc_status="NaN: " + " and ".join(reasons))
        return out
    area = float(np.sum((v[1:] + v[:-1]) * np.diff(d)) / 2.0)
    base = float(v[0])
    out.update(
        auc=area,
        auc_mean=area / (end - start),
        auc_change=area - base * (end - start),
        auc_status="ok" if not missing else "ok (missing visits bridged linearly)",
    )
    return out


def patient_auc(view: pd.DataFrame, window: tuple[int, int] = (0, 28), *, value: str = "value") -> pd.DataFrame:
    """Return one AUC row per patient x feature x measure over ``window`` (days; rule in module doc)."""
    check_window(view, window)
    start, end = window
    protocol = sorted({int(d) for d in view["visit_day"].unique()})
    rows = []
    keys = [*FEATURE_KEYS, "arm", "patient_id"]
    for key, g in view.groupby(keys, sort=True, dropna=False):
        res = _auc_one(g["visit_day"].to_numpy(dtype=float), g[value].to_numpy(dtype=float), start, end, protocol)
        rows.append({**dict(zip(keys, key, strict=True)), "unit": _unit(g, value), "auc_of": value,
                     "window_start": start, "window_end": end, **res})
    cols = [*keys, "unit", "auc_of", "window_start", "window_end", "auc", "auc_mean", "auc_change",
            "auc_status", "n_visits", "visits_used", "missing_visits"]
    return pd.DataFrame(rows, columns=cols)
