"""Summarise plate QC (cytokine plates and wells) and gating QC (flow populations) as tables.

Plate QC reads ``cytokine_plates.qc_status`` / ``qc_json`` and ``cytokine_wells.qc_flags``;
the JSON is read defensively (any missing key is shown as blank), so plates written by older
or third-party plugins still render. Gating QC reads ``flow_populations``: events acquired per
sample (``total_count``), samples with few events, and the populations of each strategy.
Samples are named ``patient|Dday`` (pseudonymous), never by file or plate sample name.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "LOW_EVENTS_FRACTION",
    "events_per_sample",
    "gating_visit_summary",
    "low_event_samples",
    "plate_qc_table",
    "populations_per_strategy",
    "well_flag_table",
]

#: a flow sample is "low" when it holds fewer events than this fraction of the median sample
LOW_EVENTS_FRACTION = 0.5


def _qc(text: Any) -> dict[str, Any]:
    try:
        out = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def plate_qc_table(plates: pd.DataFrame) -> pd.DataFrame:
    """Return one row per plate: status, bead-count failures, curve and control checks."""
    rows = []
    for rec in plates.to_dict("records"):
        qc = _qc(rec.get("qc_json"))
        beads: dict[str, Any] = qc["bead_count"] if isinstance(qc.get("bead_count"), dict) else {}
        analytes: dict[str, Any] = qc["analytes"] if isinstance(qc.get("analytes"), dict) else {}
        flagged = sorted(a for a, info in analytes.items() if isinstance(info, dict) and info.get("flags"))
        r2 = [info.get("curve", {}).get("r_squared") for info in analytes.values()
              if isinstance(info, dict) and isinstance(info.get("curve"), dict)]
        r2 = [float(v) for v in r2 if isinstance(v, int | float)]
        not_conv = sorted(a for a, info in analytes.items() if isinstance(info, dict)
                          and isinstance(info.get("curve"), dict) and info["curve"].get("converged") is False)
        controls = [c for c in qc.get("controls", []) if isinstance(c, dict)]
        judged = [c for c in controls if c.get("in_range") is not None]
        rows.append({
            "plate_id": rec.get("plate_id"),
            "run_study_day": rec.get("run_study_day"),
            "instrument": rec.get("instrument"),
            "kit": rec.get("kit"),
            "wells": rec.get("n_wells"),
            "analytes": rec.get("n_analytes"),
            "qc_status": rec.get("qc_status") or qc.get("status") or "",
            "bead_count_fail": beads.get("fail"),
            "bead_count_warn": beads.get("warn"),
            "instrument_warnings": qc.get("instrument_warnings"),
            "min_curve_r2": min(r2) if r2 else np.nan,
            "curves_not_converged": ", ".join(not_conv),
            "analytes_flagged": ", ".join(flagged),
            "controls_in_range": f"{sum(bool(c['in_range']) for c in judged)}/{len(judged)}" if judged else "",
        })
    return pd.DataFrame(rows)


def well_flag_table(wells: pd.DataFrame) -> pd.DataFrame:
    """Return the number of well x analyte readings carrying each QC flag, per plate."""
    if wells.empty or "qc_flags" not in wells:
        return pd.DataFrame(columns=["plate_id", "flag", "readings"])
    w = wells[["plate_id", "qc_flags"]].copy()
    w["qc_flags"] = w["qc_flags"].map(lambda f: list(f) if f is not None and len(f) else [])
    w = w.explode("qc_flags").dropna(subset=["qc_flags"])
    if w.empty:
        return pd.DataFrame(columns=["plate_id", "flag", "readings"])
    out = w.groupby(["plate_id", "qc_flags"]).size().reset_index(name="readings")
    return out.rename(columns={"qc_flags": "flag"}).sort_values(["plate_id", "readings"], ascending=[True, False])


def events_per_sample(populations: pd.DataFrame, arms: dict[str, str] | None = None) -> pd.DataFrame:
    """Return one row per flow sample and strategy: patient|visit name, arm, total and lymphocyte-gate events."""
    if populations.empty:
        return pd.DataFrame(columns=["sample", "patient_id", "visit_day", "arm", "strategy_id", "total_count",
                                     "top_gate", "top_gate_count"])
    rows = []
    for (_sid, strat), g in populations.groupby(["sample_id", "strategy_id"], sort=True):
        depth = g["gate_path"].str.count("/")
        top = g[depth == depth.min()].sort_values("count", ascending=False).iloc[0]
        pid, day = str(top["patient_id"]), int(top["visit_day"])
        rows.append({"sample": f"{pid}|D{day}", "patient_id": pid, "visit_day": day,
                     "arm": (arms or {}).get(pid, ""), "strategy_id": strat,
                     "total_count": int(g["total_count"].max()), "top_gate": str(top["population"]),
                     "top_gate_count": int(top["count"])})
    out = pd.DataFrame(rows).sort_values(["visit_day", "patient_id"]).reset_index(drop=True)
    # several tubes of one visit keep distinct names
    dup = out.duplicated(["sample", "strategy_id"], keep=False)
    if dup.any():
        out.loc[dup, "sample"] = out.loc[dup, "sample"] + "#" + (out[dup].groupby(["sample", "strategy_id"]).cumcount() + 1).astype(str)
    return out


def gating_visit_summary(per_sample: pd.DataFrame) -> pd.DataFrame:
    """Return per visit: flow samples, and min / median / max of events per sample."""
    if per_sample.empty:
        return pd.DataFrame(columns=["visit_day", "samples", "events_min", "events_median", "events_max"])
    return per_sample.groupby("visit_day").agg(
        samples=("sample", "count"), events_min=("total_count", "min"),
        events_median=("total_count", "median"), events_max=("total_count", "max"),
    ).reset_index()


def low_event_samples(per_sample: pd.DataFrame, fraction: float = LOW_EVENTS_FRACTION) -> pd.DataFrame:
    """Return the samples with fewer events than ``fraction`` x the median sample."""
    if per_sample.empty:
        return per_sample
    limit = fraction * float(per_sample["total_count"].median())
    return per_sample[per_sample["total_count"] < limit].reset_index(drop=True)


def populations_per_strategy(populations: pd.DataFrame) -> pd.DataFrame:
    """Return per gating strategy: name, number of populations and samples, and the gate paths."""
    if populations.empty:
        return pd.DataFrame(columns=["strategy_id", "strategy_name", "populations", "samples", "gate_paths"])
    rows = []
    for strat, g in populations.groupby("strategy_id", sort=True):
        paths = sorted(set(g["gate_path"]))
        rows.append({"strategy_id": strat, "strategy_name": str(g["strategy_name"].dropna().iloc[0])
                     if g["strategy_name"].notna().any() else "",
                     "populations": len(paths), "samples": int(g["sample_id"].nunique()),
                     "gate_paths": "; ".join(paths)})
    return pd.DataFrame(rows)
