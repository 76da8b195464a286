"""Gating-ML 2.0 import + gate engine agree event by event with FlowKit on the same document and file."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from immunolab.flow.compensation import parse_spill_keyword
from immunolab.flow.gatingml import parse_gatingml
from immunolab.flow.strategy import Strategy, gate_events
from tests.flow import test_gatingml_factory as gml

fk = pytest.importorskip("flowkit")

LOGICLE = gml.transform("Logicle", "logicle", T=262144, W=0.5, M=4.5, A=0)
LIN = gml.transform("Lin", "flin", T=262144, A=0)
ASINH = gml.transform("Asinh", "fasinh", T=262144, M=4.5, A=0.5)
HYPER = gml.transform("Hyper", "hyperlog", T=262144, W=0.5, M=4.5, A=0)
LOG = gml.transform("Log", "flog", T=262144, M=4.5)

FSC = ("FSC-A", "uncompensated", "Lin")
SSC = ("SSC-A", "uncompensated", "Lin")


def _fk_masks(doc: str, fcs: Path, tmp_path: Path) -> tuple[object, object]:
    xml = tmp_path / "strategy.xml"
    xml.write_text(doc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        strategy = fk.parse_gating_xml(str(xml))
        sample = fk.Sample(str(fcs))
        results = strategy.gate_sample(sample)
    return sample, results


def _compare(doc: str, tmp_path: Path, events: np.ndarray, *, spill: bool = True) -> tuple[Strategy, dict[str, np.ndarray]]:
    fcs = gml.write_sample(tmp_path / "sample.fcs", events, spill=spill)
    sample, results = _fk_masks(doc, fcs, tmp_path)
    strategy = parse_gatingml(doc, name="test")
    raw = sample.get_events(source="raw")
    spillover = parse_spill_keyword(gml.spill_keyword()) if spill else None
    ours = gate_events(raw, sample.pnn_labels, strategy, spillover)
    assert set(ours) == set(strategy.population_paths())
    for path, mask in ours.items():
        name = path.rsplit("/", 1)[-1]
        theirs = results.get_gate_membership(name)  # type: ignore[attr-defined]
        differing = int(np.count_nonzero(mask != theirs))
        assert differing == 0, f"{path}: {differing} events differ (ours {mask.sum()}, FlowKit {theirs.sum()})"
    _check_with_inhouse_reader(fcs, strategy, ours)
    return strategy, ours


def _check_with_inhouse_reader(fcs: Path, strategy: Strategy, expected: dict[str, np.ndarray]) -> None:
    """Gate again from immunolab's own FCS reader (when present) and expect the same masks."""
    try:
        from immunolab.fcs.reader import read_fcs
    except ImportError:
        return
    data = read_fcs(fcs)
    again = gate_events(data.preprocessed(), data.pnn, strategy, data.spillover())
    for path, mask in expected.items():
        assert np.array_equal(again[path], mask), path


@pytest.fixture(scope="module")
def events() -> np.ndarray:
    return gml.synthetic_events(50_000)


def test_full_strategy_with_compensation_logicle_and_every_gate_type_matches_flowkit(tmp_path: Path, events: np.ndarray) -> None:
    fitc = ("FITC-A", "FCS", "Logicle")
    pe = ("PE-A", "FCS", "Logicle")
    apc = ("APC-A", "FCS", "Logicle")
    doc = gml.document(
        LOGICLE,
        LIN,
        gml.rectangle("Cells", [(FSC, 0.1, 0.9), (SSC, 0.05, 0.8)]),
        gml.polygon("Lymph", (FSC, SSC), [(0.12, 0.05), (0.5, 0.06), (0.55, 0.35), (0.3, 0.45), (0.15, 0.3)], parent="Cells"),
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
        gml.boolean("EllAndNotPP", "and", [("Ell", False), ("FITCpAPCp", True)], parent="Lymph"),
        gml.boolean("EllOrNN", "or", [("Ell", False), ("FITCnAPCn", False)], parent="Lymph"),
        gml.boolean("NotEll", "not", [("Ell", False)], parent="Lymph"),
        gml.rectangle("PEhigh", [(pe, 0.6, None)], parent="FITCpAPCp"),
    )
    strategy, ours = _compare(doc, tmp_path, events)
    counts = {p: int(m.sum()) for p, m in ours.items()}
    # every population is non-trivial, so the comparison means something
    assert all(0 < c < len(events) for c in counts.values()), counts
    assert counts["/Cells/Lymph/NotEll"] == counts["/Cells/Lymph"] - counts["/Cells/Lymph/Ell"]
    assert sum(counts[f"/Cells/Lymph/{q}"] for q in ("FITCpAPCp", "FITCpAPCn", "FITCnAPCp", "FITCnAPCn")) == counts["/Cells/Lymph"]
    assert "/Cells/Lymph/FITCpAPCp/PEhigh" in ours
    assert len(strategy.strategy_id) == 16


@pytest.mark.parametrize(
    ("xform", "lo", "hi"),
    [("Logicle", 0.45, 0.9), ("Asinh", 0.4, 0.9), ("Hyper", 0.45, 0.9), ("Log", 0.5, None), ("Lin", None, 0.02), (None, 1500.0, 40000.0)],
)
def test_each_transform_gives_flowkit_membership(tmp_path: Path, events: np.ndarray, xform: str | None, lo: float | None, hi: float | None) -> None:
    doc = gml.document(LOGICLE, LIN, ASINH, HYPER, LOG, gml.rectangle("R", [(("PE-A", "FCS", xform), lo, hi)]))
    _, ours = _compare(doc, tmp_path, events)
    assert 0 < ours["/R"].sum() < len(events)


def test_spectrum_matrix_compensation_by_fluorochrome_names_matches_flowkit(tmp_path: Path, events: np.ndarray) -> None:
    matrix = gml.SPILL * np.array([1.0, 1.1, 0.9, 1.0])[None, :]
    np.fill_diagonal(matrix, 1.0)
    doc = gml.document(
        LOGICLE,
        gml.spectrum_matrix("M1", gml.FLUORO, gml.FLUORO, matrix),
        gml.rectangle("R", [(("FITC-A", "M1", "Logicle"), 0.4, None), (("PerCP-A", "M1", "Logicle"), None, 0.5)]),
        gml.polygon("P", (("APC-A", "M1", "Logicle"), ("PE-A", "M1", "Logicle")), [(0.3, 0.3), (0.9, 0.3), (0.9, 0.9), (0.6, 0.95), (0.3, 0.9)], parent="R"),
    )
    _, ours = _compare(doc, tmp_path, events, spill=False)
    assert 0 < ours["/R/P"].sum() < ours["/R"].sum()


def test_fcs_reference_without_spillover_reads_uncompensated_like_flowkit(tmp_path: Path, events: np.ndarray) -> None:
    doc = gml.document(LOGICLE, gml.rectangle("R", [(("PE-A", "FCS", "Logicle"), 0.5, None)]))
    _, ours = _compare(doc, tmp_path, events, spill=False)
    assert ours["/R"].any()


def test_ratio_dimension_matches_flowkit(tmp_path: Path, events: np.ndarray) -> None:
    doc = gml.document(
        LOGICLE,
        gml.ratio("FITCoverPE", "FITC-A", "PE-A", a=1.0, b=0.0, c=-1000.0),
        gml.rectangle("Ratio", [(("ratio:FITCoverPE", "uncompensated", None), 0.2, 3.0)]),
    )
    _, ours = _compare(doc, tmp_path, events)
    assert 0 < ours["/Ratio"].sum() < len(events)


def test_self_crossing_polygon_and_three_dimensional_ellipsoid_match_flowkit(tmp_path: Path, events: np.ndarray) -> None:
    lg = "Logicle"
    doc = gml.document(
        LOGICLE,
        LIN,
        gml.polygon("Bowtie", (FSC, SSC), [(0.1, 0.05), (0.6, 0.5), (0.6, 0.05), (0.1, 0.5)]),
        gml.ellipsoid(
            "Ell3",
            [("FITC-A", "FCS", lg), ("PE-A", "FCS", lg), ("APC-A", "FCS", lg)],
            [0.5, 0.5, 0.5],
            [[0.02, 0.001, 0.0], [0.001, 0.02, 0.002], [0.0, 0.002, 0.03]],
            3.0,
        ),
    )
    _, ours = _compare(doc, tmp_path, events)
    assert ours["/Bowtie"].sum() > 0
    assert ours["/Ell3"].sum() > 0


def test_events_exactly_on_gate_boundaries_match_flowkit(tmp_path: Path) -> None:
    grid = np.arange(0.0, 11.0, 0.5)
    xx, yy = np.meshgrid(grid, grid)
    n = xx.size
    events = np.zeros((n, 7))
    events[:, 0] = xx.ravel()
    events[:, 1] = yy.ravel()
    fsc = ("FSC-A", "uncompensated", None)
    ssc = ("SSC-A", "uncompensated", None)
    doc = gml.document(
        gml.rectangle("Rect", [(fsc, 2.0, 6.0), (ssc, 3.0, 8.0)]),
        gml.polygon("Tri", (fsc, ssc), [(1.0, 1.0), (9.0, 1.0), (5.0, 9.0)]),
        gml.polygon("Square", (fsc, ssc), [(2.0, 2.0), (6.0, 2.0), (6.0, 6.0), (2.0, 6.0)]),
        gml.ellipsoid("Circle", [fsc, ssc], [5.0, 5.0], [[4.0, 0.0], [0.0, 4.0]], 1.0),
        gml.quadrant(
            "Q", [("dx", fsc, [5.0]), ("dy", ssc, [5.0])],
            [("XpYp", [("dx", 7.0), ("dy", 7.0)]), ("XnYn", [("dx", 1.0), ("dy", 1.0)])],
        ),
    )
    _, ours = _compare(doc, tmp_path, events, spill=False)
    on = lambda x, y: int(np.flatnonzero((events[:, 0] == x) & (events[:, 1] == y))[0])  # noqa: E731
    # rectangles: min inclusive, max exclusive
    assert ours["/Rect"][on(2.0, 3.0)] and not ours["/Rect"][on(6.0, 5.0)] and not ours["/Rect"][on(4.0, 8.0)]
    # circle of radius 2 (Mahalanobis 1 with variance 4): boundary inclusive
    assert ours["/Circle"][on(7.0, 5.0)] and not ours["/Circle"][on(7.5, 5.0)]
    # quadrants: lower bound inclusive
    assert ours["/XpYp"][on(5.0, 5.0)] and not ours["/XnYn"][on(5.0, 5.0)]
