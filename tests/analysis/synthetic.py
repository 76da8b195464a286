"""A synthetic two-arm trial with known effects, as store fact tables (flow + cytokine).

10 + 10 patients, visits 0, 3, 6, 10, 14, 28, 90, 180, some visits missed (Day 0 never; patient
``003`` always misses Day 28 so AUC rules are exercised). Every feature is log-normal:

    log10(y) = log10(base) + b_patient + time(day) + [arm == MSC] * effect * bump(day) + e

with ``b_patient ~ N(0, patient_sd)``, ``e ~ N(0, visit_sd)``, a time trend common to both arms
and, for features with an arm x time effect, an MSC-only bump that is zero at Day 0 (randomised
trial), peaks around Day 10-28 and fades by Day 180. Cytokines below their LLOQ are censored
and substituted by LLOQ/2 exactly as the cytokine plugins do; IL-10's LLOQ is high so most of
its values are censored (the Fisher path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

VISITS = (0, 3, 6, 10, 14, 28, 90, 180)
ARMS = ("MSC", "control")
STRATEGY = "strat0123456789ab"


@dataclass(frozen=True)
class Feature:
    """One simulated feature: flow population (pct of parent) or cytokine (pg/mL)."""

    name: str
    assay: str
    base: float
    effect: float  # peak MSC-minus-control difference on log10 scale
    time_slope: float = 0.0  # common time trend, log10 units per log1p(day)
    patient_sd: float = 0.15
    visit_sd: float = 0.08
    parent: str = "/Lymphocytes"
    lloq: float | None = None

    @property
    def has_arm_effect(self) -> bool:
        return self.effect != 0.0


FEATURES: tuple[Feature, ...] = (
    Feature("Lymphocytes", "flow", 20.0, 0.0, time_slope=0.05, parent="/"),
    Feature("T cells", "flow", 40.0, 0.0, time_slope=0.02),
    Feature("Treg", "flow", 5.0, 0.30, parent="/Lymphocytes/T cells"),
    Feature("HLA-DR+ T", "flow", 12.0, -0.30, time_slope=-0.03, parent="/Lymphocytes/T cells"),
    Feature("B cells", "flow", 12.0, 0.0, time_slope=0.04),
    Feature("NK cells", "flow", 15.0, 0.0),
    Feature("IL-6", "cytokine", 40.0, -0.35, time_slope=-0.08, patient_sd=0.2, visit_sd=0.1, lloq=2.0),
    Feature("IFN-g", "cytokine", 15.0, 0.0, patient_sd=0.2, visit_sd=0.1, lloq=1.0),
    Feature("IL-12/IL-23p40", "cytokine", 80.0, 0.0, time_slope=-0.03, patient_sd=0.2, visit_sd=0.1, lloq=3.0),
    Feature("IL-10", "cytokine", 3.0, 0.0, patient_sd=0.2, visit_sd=0.15, lloq=5.0),
)
EFFECT_FEATURES = tuple(f.name for f in FEATURES if f.has_arm_effect)
NULL_FEATURES = tuple(f.name for f in FEATURES if not f.has_arm_effect and f.name != "Lymphocytes")


def bump(day: float) -> float:
    """Return the MSC effect profile over days: 0 at Day 0, ~1 around Day 10-28, fading by 180."""
    return float((1 - np.exp(-day / 4.0)) * np.exp(-day / 120.0))


def patients(n_per_arm: int = 10) -> list[tuple[str, str]]:
    """Return (patient_id, arm) pairs: MSC and control interleaved, IDs zero-padded strings."""
    return [(f"{i + 1:03d}", ARMS[i % 2]) for i in range(2 * n_per_arm)]


def simulate(seed: int, n_per_arm: int = 10, *, missing: float = 0.08) -> pd.DataFrame:
    """Return the true values: one row per patient x visit x feature (columns listed below).

    Columns: patient_id, arm, visit_day, feature, assay, value (pct or pg/mL), raw_value
    (before censoring), censor, lloq, parent.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for pid, arm in patients(n_per_arm):
        attended = [d for d in VISITS if d == 0 or rng.random() > (missing * (2.0 if d >= 90 else 1.0))]
        if pid == "003" and 28 in attended:
            attended.remove(28)
        b = {f.name: rng.normal(0.0, f.patient_sd) for f in FEATURES}
        for day in attended:
            for f in FEATURES:
                mu = np.log10(f.base) + f.time_slope * np.log1p(day) + (arm == "MSC") * f.effect * bump(day)
                y = 10 ** (mu + b[f.name] + rng.normal(0.0, f.visit_sd))
                if f.assay == "flow":
                    y = min(y, 95.0)
                censor, value = "none", y
                if f.lloq is not None and y < f.lloq:
                    censor, value = "below_lloq", f.lloq / 2
                rows.append({"patient_id": pid, "arm": arm, "visit_day": day, "feature": f.name, "assay": f.assay,
                             "value": value, "raw_value": y, "censor": censor, "lloq": f.lloq, "parent": f.parent})
    return pd.DataFrame(rows)


def _keys(df: pd.DataFrame, ingest_id: str, suffix: str) -> dict[str, list[object]]:
    return {
        "patient_id": df["patient_id"].tolist(),
        "visit_day": df["visit_day"].tolist(),
        "sample_id": [f"{p}-D{d:03d}-{suffix}" for p, d in zip(df["patient_id"], df["visit_day"], strict=True)],
        "source_sha256": ["0" * 64] * len(df),
        "ingest_id": [ingest_id] * len(df),
    }


def flow_populations(truth: pd.DataFrame, *, with_keys: bool = True, total: int = 50_000) -> pa.Table:
    """Return a ``flow_populations``-shaped table with counts consistent with the percentages."""
    flow = truth[truth["assay"] == "flow"].copy()
    recs = []
    for (_pid, _day), g in flow.groupby(["patient_id", "visit_day"], sort=True):
        counts = {"/": total}
        for _, r in g.sort_values("parent", key=lambda s: s.str.count("/")).iterrows():
            path = (r["parent"].rstrip("/") + "/" + r["feature"])
            parent_count = counts.get(r["parent"], total)
            count = round(parent_count * r["value"] / 100.0)
            counts[path] = count
            rec = r.to_dict()
            rec.update(gate_path=path, count=count, parent_count=parent_count, total_count=total,
                       pct_parent=100.0 * count / parent_count if parent_count else np.nan,
                       pct_total=100.0 * count / total)
            recs.append(rec)
    df = pd.DataFrame(recs)
    lymph = df[df["gate_path"] == "/Lymphocytes"].set_index(["patient_id", "visit_day"])["count"]
    lc = df.set_index(["patient_id", "visit_day"]).index.map(lymph)
    cols: dict[str, object] = _keys(df, "ing-20260101T000000-flow0001", "FLOW") if with_keys else {
        "_sample_ref": [f"{p}-D{d:03d}-FLOW" for p, d in zip(df["patient_id"], df["visit_day"], strict=True)]}
    cols.update({
        "strategy_id": [STRATEGY] * len(df),
        "strategy_name": ["synthetic"] * len(df),
        "gate_path": df["gate_path"].tolist(),
        "population": df["feature"].tolist(),
        "parent": df["parent"].tolist(),
        "count": df["count"].astype("int64").tolist(),
        "parent_count": df["parent_count"].astype("int64").tolist(),
        "total_count": df["total_count"].astype("int64").tolist(),
        "pct_parent": df["pct_parent"].tolist(),
        "pct_total": df["pct_total"].tolist(),
        "pct_lymphocytes": (100.0 * df["count"] / np.asarray(lc, dtype=float)).tolist(),
    })
    return pa.table(cols)


def cytokine_results(truth: pd.DataFrame, *, with_keys: bool = True, plate_id: str = "plate-synth-1") -> pa.Table:
    """Return a ``cytokine_results``-shaped table (pg/mL, censored values substituted by LLOQ/2)."""
    cyt = truth[truth["assay"] == "cytokine"].reset_index(drop=True)
    cols: dict[str, object] = _keys(cyt, "ing-20260101T000000-cyto0001", "SER") if with_keys else {
        "_sample_ref": [f"{p}-D{d:03d}-SER" for p, d in zip(cyt["patient_id"], cyt["visit_day"], strict=True)]}
    n = len(cyt)
    cols.update({
        "plate_id": [plate_id] * n,
        "analyte": cyt["feature"].tolist(),
        "fit_id": ["fit-" + a for a in cyt["feature"]],
        "concentration": cyt["value"].tolist(),
        "concentration_raw": cyt["raw_value"].tolist(),
        "unit": ["pg/mL"] * n,
        "n_replicates": [2] * n,
        "cv_pct": [5.0] * n,
        "censor": cyt["censor"].tolist(),
        "substitution_rule": ["LLOQ/2" if c != "none" else "none" for c in cyt["censor"]],
        "lloq": cyt["lloq"].tolist(),
        "uloq": [5000.0] * n,
    })
    return pa.table(cols)


def measurements(seed: int, n_per_arm: int = 10, **kwargs: float) -> pd.DataFrame:
    """Return the long ``measurements`` rows a store would show for the simulated fact tables."""
    truth = simulate(seed, n_per_arm, **kwargs)
    arm_of = dict(patients(n_per_arm))
    parts = []
    flow = flow_populations(truth).to_pandas()
    for column, measure, unit in (("pct_parent", "pct_parent", "%"), ("pct_lymphocytes", "pct_lymphocytes", "%"),
                                  ("pct_total", "pct_total", "%"), ("count", "count", "events")):
        parts.append(pd.DataFrame({
            "patient_id": flow["patient_id"], "visit_day": flow["visit_day"], "sample_id": flow["sample_id"],
            "source_sha256": flow["source_sha256"], "ingest_id": flow["ingest_id"],
            "arm": flow["patient_id"].map(arm_of), "assay": "flow", "feature": flow["population"],
            "measure": measure, "value": flow[column].astype(float), "unit": unit, "censor": "none",
            "lineage_table": "flow_populations", "lineage_key": flow["strategy_id"] + ":" + flow["gate_path"],
            "derivation_id": flow["strategy_id"]}))
    cyt = cytokine_results(truth).to_pandas()
    parts.append(pd.DataFrame({
        "patient_id": cyt["patient_id"], "visit_day": cyt["visit_day"], "sample_id": cyt["sample_id"],
        "source_sha256": cyt["source_sha256"], "ingest_id": cyt["ingest_id"], "arm": cyt["patient_id"].map(arm_of),
        "assay": "cytokine", "feature": cyt["analyte"], "measure": "concentration", "value": cyt["concentration"],
        "unit": cyt["unit"], "censor": cyt["censor"], "lineage_table": "cytokine_results",
        "lineage_key": cyt["plate_id"] + ":" + cyt["analyte"] + ":" + cyt["sample_id"], "derivation_id": cyt["fit_id"]}))
    out = pd.concat(parts, ignore_index=True)
    return out[out["value"].notna() | (out["censor"] != "none")].reset_index(drop=True)
