"""Benchmark per-sample gating: immunolab ``gate_events`` against FlowKit's ``Session`` on identical gates.

Plain script (not a test): builds a synthetic sample (default 50,000 events, 4 spilled
fluorescence channels), one Gating-ML 2.0 strategy with FCS compensation, logicle and linear
scales and rectangle, polygon, ellipse, quadrant and boolean gates, then times

- FlowKit: ``Session(gating_strategy=xml, fcs_samples=[Sample]).analyze_samples(use_mp=False)``
  (gating only; the Sample is loaded once outside the timer);
- immunolab: ``gate_events(raw events, PnN, parse_gatingml(xml), spillover)``,

and prints per-gate counts of both, the largest relative count difference and the speed ratio.
Run: ``python benchmarks/bench_gating.py [n_events] [repeats]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from immunolab.flow.compensation import parse_spill_keyword  # noqa: E402
from immunolab.flow.gatingml import parse_gatingml  # noqa: E402
from immunolab.flow.strategy import gate_events  # noqa: E402
from tests.flow import test_gatingml_factory as gml  # noqa: E402


def _document() -> str:
    lin_fsc = ("FSC-A", "uncompensated", "Lin")
    lin_ssc = ("SSC-A", "uncompensated", "Lin")
    fitc = ("FITC-A", "FCS", "Logicle")
    pe = ("PE-A", "FCS", "Logicle")
    apc = ("APC-A", "FCS", "Logicle")
    percp = ("PerCP-A", "FCS", "Logicle")
    return gml.document(
        gml.transform("Logicle", "logicle", T=262144, W=0.5, M=4.5, A=0),
        gml.transform("Lin", "flin", T=262144, A=0),
        gml.rectangle("Cells", [(lin_fsc, 0.1, 0.9), (lin_ssc, 0.05, 0.8)]),
        gml.polygon("Lymph", (lin_fsc, lin_ssc), [(0.12, 0.05), (0.5, 0.06), (0.55, 0.35), (0.3, 0.45), (0.15, 0.3)], parent="Cells"),
        gml.ellipsoid("Ell", [fitc, pe], [0.62, 0.55], [[0.01, 0.002], [0.002, 0.012]], 1.5, parent="Lymph"),
        gml.quadrant(
            "Quad",
            [("dFITC", fitc, [0.45]), ("dAPC", apc, [0.5])],
            [
                ("FITCpAPCp", [("dFITC", 0.8), ("dAPC", 0.8)]),
                ("FITCpAPCn", [("dFITC", 0.8), ("dAPC", 0.1)]),
                ("FITCnAPCp", [("dFITC", 0.1), ("dAPC", 0.8)]),
                ("FITCnAPCn", [("dFITC", 0.1), ("dAPC", 0.1)]),
            ],
            parent="Lymph",
        ),
        gml.rectangle("PerCPpos", [(percp, 0.5, None)], parent="FITCpAPCp"),
        gml.boolean("EllAndNotPP", "and", [("Ell", False), ("FITCpAPCp", True)], parent="Lymph"),
        gml.boolean("NotEll", "not", [("Ell", False)], parent="Lymph"),
    )


def measure(n_events: int = 50_000, repeats: int = 5) -> dict[str, object]:
    """Time both engines on identical gates; return times, per-gate counts and the worst difference."""
    warnings.simplefilter("ignore")
    import flowkit as fk

    doc = _document()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fcs = gml.write_sample(folder / "bench.fcs", gml.synthetic_events(n_events))
        xml = folder / "bench.xml"
        xml.write_text(doc)
        sample = fk.Sample(str(fcs))
        raw = sample.get_events(source="raw")
        names = list(sample.pnn_labels)

        fk_times = []
        session = None
        for _ in range(repeats):
            start = time.perf_counter()
            session = fk.Session(gating_strategy=str(xml), fcs_samples=[sample])
            session.analyze_samples(use_mp=False)
            fk_times.append(time.perf_counter() - start)
        assert session is not None
        report = session.get_analysis_report()

        spill = parse_spill_keyword(gml.spill_keyword())
        ours_times = []
        masks: dict[str, np.ndarray] = {}
        for _ in range(repeats):
            start = time.perf_counter()
            strategy = parse_gatingml(doc, name="bench")
            masks = gate_events(raw, names, strategy, spill)
            ours_times.append(time.perf_counter() - start)

    fk_counts = {str(r.gate_name): int(r["count"]) for _, r in report.iterrows()}
    worst = 0.0
    counts = {}
    for path, mask in masks.items():
        name = path.rsplit("/", 1)[-1]
        ours, theirs = int(mask.sum()), fk_counts[name]
        worst = max(worst, abs(ours - theirs) / max(theirs, 1))
        counts[path] = (ours, theirs)
    return {"flowkit_s": min(fk_times), "immunolab_s": min(ours_times), "counts": counts, "worst": worst,
            "n_events": n_events}


def main(n_events: int = 50_000, repeats: int = 5) -> None:
    """Time both engines and print counts and the speed ratio."""
    m = measure(n_events, repeats)
    print(f"{'population':40s} {'immunolab':>10s} {'FlowKit':>10s}")
    for path, (ours, theirs) in m["counts"].items():  # type: ignore[attr-defined]
        print(f"{path:40s} {ours:10d} {theirs:10d}")
    t_fk, t_ours = m["flowkit_s"], m["immunolab_s"]
    print(f"events: {n_events}, repeats: {repeats} (best of)")
    print(f"FlowKit Session.analyze_samples: {t_fk * 1e3:8.1f} ms")
    print(f"immunolab parse + gate_events:   {t_ours * 1e3:8.1f} ms")
    print(f"speed ratio (FlowKit / immunolab): {t_fk / t_ours:.1f}x; largest relative count difference: {m['worst']:.2e}")


def run(work: Path) -> dict[str, object]:
    """(b) Per-sample pipeline vs FlowKit Session on identical gates (benchmarks.run entry)."""
    m = measure(200_000, 3)
    ratio = m["flowkit_s"] / m["immunolab_s"]  # type: ignore[operator]
    ok_counts = m["worst"] <= 1e-4  # type: ignore[operator]
    return {
        "title": "(b) per-sample pipeline vs FlowKit (200k events, comp + logicle + 9 gates)",
        "ours": f"{m['immunolab_s'] * 1e3:.1f} ms",  # type: ignore[operator]
        "anchor": f"FlowKit Session {m['flowkit_s'] * 1e3:.0f} ms",  # type: ignore[operator]
        "ratio": ratio,
        "ratio_text": f"{ratio:.1f}x faster; worst count difference {m['worst']:.1e}",
        "target": ">= 3x faster, counts within 0.01 %",
        "met": ratio >= 3 and ok_counts,
        "lines": [f"{p}: {o} vs FlowKit {t}" for p, (o, t) in m["counts"].items()],  # type: ignore[attr-defined]
    }


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)
