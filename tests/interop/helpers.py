"""Builders for the interop tests: one-file stores and a FlowKit strategy made in FlowKit's own API (no tests here)."""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: population names that are not XML ids, as labs write them
NAMES = ("Cells", "Lymphocytes", "CD3+ T", "CD4+ T", "CD8+ T", "CD4+CD8+ T", "CD4-CD8- T", "not CD4+ T")


def one_file_store(tmp: Path, fcs: Path, *, sample_id: str, panel: str = "TCELL", patient: str = "001",
                   visit: int = 0, arm: str = "MSC", **ingest: Any) -> Path:
    """Ingest ``fcs`` alone into ``tmp/store`` with a manifest row; return the store path."""
    from immunolab.ingest import ingest_paths

    manifest = tmp / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "sample_id", "patient_id", "visit_day", "specimen", "panel"])
        w.writerow([fcs.name, sample_id, patient, visit, "PBMC", panel])
    subjects = tmp / "subjects.csv"
    subjects.write_text(f"patient_id,arm,age,sex\n{patient},{arm},50,F\n")
    report = ingest_paths([fcs], store=tmp / "store", manifest=manifest, subjects=subjects, **ingest)
    assert report.counts["OK"] == 1, [o.message for o in report.outcomes]
    return tmp / "store"


def display_quantile(sample_values: np.ndarray, q: float) -> float:
    """Return a threshold near the ``q`` quantile, in the middle of the widest gap between nearby events.

    No event lies near the threshold, so two correct implementations of a transform that differ
    by rounding (FlowKit's flowutils, immunolab's tabulated logicle) put every event on the same side.
    """
    v = np.unique(np.asarray(sample_values, dtype=float)[np.isfinite(sample_values)])
    k = int(q * (v.size - 1))
    lo, hi = max(k - 50, 0), min(k + 50, v.size - 1)
    gaps = np.diff(v[lo:hi + 1])
    i = lo + int(np.argmax(gaps))
    return float((v[i] + v[i + 1]) / 2.0)


def flowkit_strategy(fcs: Path, scatter: Sequence[str], cd3: str, cd4: str, cd8: str) -> Any:
    """Build, with FlowKit's API, a strategy of every Gating-ML gate type named like a lab would.

    Thresholds are quantiles of the file's own compensated logicle values, so every population
    holds events whatever the file.
    """
    import flowkit as fk

    fsc, ssc = scatter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sample = fk.Sample(str(fcs))
    top = float(max(sample.get_channel_events(fsc, source="raw").max(), 1.0)) * 1.01
    logicle = fk.transforms.LogicleTransform(param_t=262144.0, param_w=0.5, param_m=4.5, param_a=0.0)
    lin = fk.transforms.LinearTransform(param_t=top, param_a=0.0)
    spill = sample.metadata.get("spill") or sample.metadata.get("spillover")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sample.apply_compensation(spill)
    comp = {ch: logicle.apply(sample.get_channel_events(ch, source="comp"))
            for ch in (cd3, cd4, cd8)}
    fsc_v = lin.apply(sample.get_channel_events(fsc, source="raw"))
    ssc_v = lin.apply(sample.get_channel_events(ssc, source="raw"))
    gs = fk.GatingStrategy()
    gs.add_transform("logicle", logicle)
    gs.add_transform("scatter_lin", lin)
    d = fk.Dimension
    cells = fk.gates.RectangleGate("Cells", [
        d(fsc, "uncompensated", "scatter_lin", display_quantile(fsc_v, 0.02), display_quantile(fsc_v, 0.995)),
        d(ssc, "uncompensated", "scatter_lin", None, display_quantile(ssc_v, 0.99))])
    gs.add_gate(cells, ("root",))
    x0, x1 = display_quantile(fsc_v, 0.05), display_quantile(fsc_v, 0.9)
    y0, y1 = display_quantile(ssc_v, 0.01), display_quantile(ssc_v, 0.7)
    poly = fk.gates.PolygonGate("Lymphocytes", [d(fsc, "uncompensated", "scatter_lin"), d(ssc, "uncompensated", "scatter_lin")],
                                [[x0, y0], [x1, y0], [x1, y1], [(x0 + x1) / 2, y1 * 1.1], [x0, y1]])
    gs.add_gate(poly, ("root", "Cells"))
    t = fk.gates.RectangleGate("CD3+ T", [d(cd3, "FCS", "logicle", display_quantile(comp[cd3], 0.4), None)])
    gs.add_gate(t, ("root", "Cells", "Lymphocytes"))
    c4, c8 = display_quantile(comp[cd4], 0.5), display_quantile(comp[cd8], 0.6)
    dividers = [fk.QuadrantDivider("d4", cd4, "FCS", [c4], "logicle"), fk.QuadrantDivider("d8", cd8, "FCS", [c8], "logicle")]
    quads = [fk.gates.Quadrant("CD4+ T", ["d4", "d8"], [[c4, None], [None, c8]]),
             fk.gates.Quadrant("CD8+ T", ["d4", "d8"], [[None, c4], [c8, None]]),
             fk.gates.Quadrant("CD4+CD8+ T", ["d4", "d8"], [[c4, None], [c8, None]]),
             fk.gates.Quadrant("CD4-CD8- T", ["d4", "d8"], [[None, c4], [None, c8]])]
    tpath = ("root", "Cells", "Lymphocytes", "CD3+ T")
    gs.add_gate(fk.gates.QuadrantGate("CD4 x CD8", dividers, quads), tpath)
    ref = {"ref": "CD4+ T", "path": (*tpath, "CD4 x CD8"), "complement": False}
    gs.add_gate(fk.gates.BooleanGate("not CD4+ T", "not", [ref]), tpath)
    return gs


def flowkit_counts(gs: Any, sample: Any) -> dict[str, int]:
    """Return {gate name: event count} of FlowKit gating ``sample`` with ``gs``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gs.gate_sample(sample)
    rep = res.report
    return {str(n): int(c) for n, c in zip(rep["gate_name"], rep["count"], strict=True)}


def store_counts(store: Path) -> dict[str, int]:
    """Return {population name: count} of the active flow derivation of a one-file store."""
    import immunolab

    s = immunolab.open_store(store)
    m = s.to_pandas("measurements")
    m = m[(m["assay"] == "flow") & (m["measure"] == "count")]
    return {str(f): int(v) for f, v in zip(m["feature"], m["value"], strict=True)}
