"""The block-wise gating engine gives the masks of the plain float64 evaluation, event by event.

Its shortcuts each carry a check here: the float32 logicle against the exact transform (its
error budget), polygon lookup grids against the crossing test, logicle thresholds moved to
data units against the transformed comparison, and block size / parent-row evaluation against
whole-sample evaluation. FlowKit agreement is in test_gatingml_vs_flowkit.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from immunolab.flow import engine
from immunolab.flow.gates import (
    UNCOMPENSATED,
    Dimension,
    PolygonGate,
    Quadrant,
    QuadrantDivider,
    QuadrantGate,
    RectangleGate,
    points_in_polygon,
)
from immunolab.flow.polygon_grid import NEAR, polygon_grid
from immunolab.flow.strategy import GateNode, Strategy, gate_events
from immunolab.flow.transforms import FLOAT32_ERROR, Hyperlog, Linear, Logicle
from tests.flow import test_gatingml_factory as gml

LOGICLES = [Logicle(), Logicle(t=262144, w=1.0, m=4.5, a=0.5), Logicle(t=10000, w=0.0, m=4, a=0),
            Logicle(t=1024, w=0.2, m=3, a=1.0), Logicle(t=1e6, w=2, m=6, a=2), Hyperlog(),
            Hyperlog(t=10000, w=1, m=4, a=0.5)]


def _sweep() -> np.ndarray:
    """Return data values across every regime of the scales: negatives, the linear zone, decades, beyond the table."""
    return np.concatenate([-np.logspace(-4, 10, 200_001), np.linspace(-3000, 3000, 200_001),
                           np.logspace(-4, 10, 200_001)])


@pytest.mark.parametrize("scale", LOGICLES, ids=repr)
def test_float32_logicle_stays_within_its_error_budget_of_the_exact_transform(scale: Logicle | Hyperlog) -> None:
    x = _sweep()
    approx = scale.apply_float32(x)
    assert approx.dtype == np.float32
    worst = float(np.max(np.abs(approx.astype(np.float64) - scale.apply_exact(x))))
    assert worst <= FLOAT32_ERROR, f"float32 {type(scale).__name__} is {worst:.2e} off the exact transform"


def test_float32_logicle_keeps_nan_and_infinities() -> None:
    out = Logicle().apply_float32(np.array([np.nan, np.inf, -np.inf, 0.0]))
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == -np.inf
    assert out[3] == pytest.approx(Logicle().apply_exact(np.array([0.0]))[0], abs=FLOAT32_ERROR)


def _edge_hugging_points(vertices: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return points on, and within 1e-9..1e-2 of, the polygon's edges and vertices, plus uniform ones."""
    rng = np.random.default_rng(seed)
    k = len(vertices)
    i = rng.integers(0, k, n)
    t = rng.random(n)
    a, b = vertices[i], vertices[(i + 1) % k]
    on = a + (b - a) * t[:, None]
    offset = rng.normal(size=(n, 2)) * 10.0 ** rng.uniform(-9, -2, (n, 1))
    near = on + offset
    lo, hi = vertices.min(0) - 0.1, vertices.max(0) + 0.1
    uniform = rng.uniform(lo, hi, (n, 2))
    pts = np.vstack([near, on, vertices, uniform, [[np.nan, 0.5], [0.5, np.nan]]])
    return pts[:, 0].copy(), pts[:, 1].copy()


POLYGONS = {
    "hexagon": [(0.15, 0.03), (0.22, 0.025), (0.26, 0.05), (0.25, 0.085), (0.18, 0.09), (0.15, 0.06)],
    "bowtie": [(0.0, 0.0), (2.0, 2.0), (2.0, 0.0), (0.0, 2.0)],
    "notched": [(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (2.0, 1.0), (0.0, 4.0)],
    "flowjo_channels": [(100.0, 200.0), (3900.0, 150.0), (2000.0, 4000.0)],
}


@pytest.mark.parametrize("name", sorted(POLYGONS))
def test_polygon_lookup_grid_gives_the_crossing_test_event_by_event(name: str) -> None:
    vertices = np.asarray(POLYGONS[name])
    x, y = _edge_hugging_points(vertices, 40_000, seed=len(name))
    fast = points_in_polygon(x, y, vertices)
    exact = points_in_polygon(x, y, vertices, grid=False)
    assert x.size >= 4096  # the grid path is taken
    assert np.array_equal(fast, exact), f"{int(np.count_nonzero(fast != exact))} events differ"


def test_polygon_grid_flags_every_cell_an_edge_passes_near() -> None:
    vertices = ((0.0, 0.0), (1.0, 0.0), (0.5, 1.0))
    grid = polygon_grid(vertices, margin=0.01)
    rng = np.random.default_rng(3)
    x, y = rng.random(50_000), rng.random(50_000)
    inside, near = grid.lookup(x, y)
    exact = points_in_polygon(x, y, np.asarray(vertices), grid=False)
    certain = np.ones(x.size, dtype=bool)
    certain[near] = False
    assert np.array_equal(inside[certain], exact[certain])
    # every point within the margin of the boundary is flagged, never decided from its cell
    for dx, dy in ((0.009, 0.0), (-0.009, 0.0), (0.0, 0.009), (0.0, -0.009)):
        moved = points_in_polygon(x + dx, y + dy, np.asarray(vertices), grid=False)
        assert not np.any((moved != exact) & certain)
    assert (grid.codes == NEAR).any() and (grid.codes == 1).any() and (grid.codes == 0).any()


def _strategy(*nodes: GateNode, **transforms: object) -> Strategy:
    return Strategy("t", tuple(nodes), transforms)  # type: ignore[arg-type]


def _panel(n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    x = np.where(rng.random((n, 2)) < 0.5, rng.lognormal(7, 1.5, (n, 2)), rng.normal(0, 200, (n, 2)))
    return np.column_stack([x, rng.uniform(0, 262144, (n, 1))]), ["FL1-A", "FL2-A", "FSC-A"]


def test_logicle_thresholds_in_data_units_select_what_the_exact_transform_selects() -> None:
    events, names = _panel(200_000, seed=5)
    log = Logicle()
    fl1 = Dimension("FL1-A", UNCOMPENSATED, "L")
    thresholds = (0.2, 0.35, 0.5, 0.71)
    strategy = _strategy(GateNode("/", RectangleGate("R", (fl1,), (thresholds[0],), (thresholds[2],))),
                         GateNode("/", RectangleGate("Hi", (fl1,), (thresholds[3],), (None,))), L=log)
    # events exactly on the data-unit thresholds: min inclusive, max exclusive
    on = log.inverse(np.array(thresholds))
    events = np.vstack([events, np.column_stack([on, on, on])])
    masks = gate_events(events, names, strategy)
    exact = log.apply_exact(events[:, 0])
    far = np.min(np.abs(exact[:, None] - np.array(thresholds)[None, :]), axis=1) > 1e-12
    assert np.array_equal(masks["/R"][far], ((exact >= 0.2) & (exact < 0.5))[far])
    assert np.array_equal(masks["/Hi"][far], (exact >= 0.71)[far])
    k = len(events) - len(thresholds)
    assert masks["/R"][k] and not masks["/R"][k + 2] and masks["/Hi"][k + 3]


def test_quadrant_thresholds_on_a_logicle_scale_move_to_data_units() -> None:
    events, names = _panel(50_000, seed=6)
    log = Logicle()
    d1, d2 = Dimension("FL1-A", UNCOMPENSATED, "L"), Dimension("FL2-A", UNCOMPENSATED, "L")
    quad = QuadrantGate("Q", (QuadrantDivider("a", d1, (0.45,)), QuadrantDivider("b", d2, (0.5,))),
                        (Quadrant("PP", (("a", 0.45, None), ("b", 0.5, None))),
                         Quadrant("NN", (("a", None, 0.45), ("b", None, 0.5)))))
    moved = engine.data_space_gate(quad, {"L": log})
    assert isinstance(moved, QuadrantGate) and all(d.dimension.transform is None for d in moved.dividers)
    masks = gate_events(events, names, _strategy(GateNode("/", quad), L=log))
    a, b = log.apply_exact(events[:, 0]), log.apply_exact(events[:, 1])
    assert np.array_equal(masks["/PP"], (a >= 0.45) & (b >= 0.5))
    assert np.array_equal(masks["/NN"], (a < 0.45) & (b < 0.5))


def _deep_strategy() -> Strategy:
    lin = Dimension("FSC-A", UNCOMPENSATED, "Lin")
    fl1, fl2 = Dimension("FL1-A", "FCS", "L"), Dimension("FL2-A", "FCS", "L")
    square = ((0.42, 0.0), (1.0, 0.0), (1.0, 0.45), (0.42, 0.45))
    return _strategy(
        GateNode("/", RectangleGate("Big", (lin,), (0.05,), (0.95,))),
        GateNode("/Big", RectangleGate("Pos", (fl1,), (0.3,), (None,))),
        GateNode("/Big/Pos", PolygonGate("Corner", (fl1, fl2), square)),
        GateNode("/Big/Pos", PolygonGate("NotCorner", (fl1, fl2), square, complement=True)),
        GateNode("/Big/Pos/Corner", RectangleGate("Deep", (fl2,), (None,), (0.2,))),
        L=Logicle(), Lin=Linear(),
    )


def _spill() -> tuple[list[str], np.ndarray]:
    return ["FL1-A", "FL2-A"], np.array([[1.0, 0.15], [0.05, 1.0]])


def test_block_size_and_parent_row_evaluation_do_not_change_any_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    events, names = _panel(120_000, seed=7)
    strategy = _deep_strategy()
    reference = gate_events(events, names, strategy, _spill())
    for block, compact, float32 in ((1000, 0.0, True), (7, 1.0, False), (1 << 20, 0.6, False), (4096, 1.0, True)):
        monkeypatch.setattr(engine, "ROW_BLOCK", block)
        monkeypatch.setattr(engine, "COMPACT_BELOW", compact)
        monkeypatch.setattr(engine, "POLYGON_FLOAT32", float32)
        masks = gate_events(events, names, strategy, _spill())
        for path, mask in reference.items():
            assert np.array_equal(masks[path], mask), (path, block, compact, float32)
    assert reference["/Big/Pos/Corner/Deep"].any() and reference["/Big/Pos/NotCorner"].any()


def test_float32_polygons_recompute_events_at_the_edge_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    log = Logicle()
    fl1, fl2 = Dimension("FL1-A", UNCOMPENSATED, "L"), Dimension("FL2-A", UNCOMPENSATED, "L")
    vertices = np.array([(0.42, 0.1), (0.9, 0.15), (0.8, 0.7), (0.45, 0.6)])
    # display coordinates on and within 1e-9..1e-2 of the edges, mapped back to data units
    dx, dy = _edge_hugging_points(vertices, 30_000, seed=11)
    keep = np.isfinite(dx) & np.isfinite(dy)
    events = np.column_stack([log.inverse(dx[keep]), log.inverse(dy[keep]), np.zeros(int(keep.sum()))])
    strategy = _strategy(GateNode("/", PolygonGate("P", (fl1, fl2), tuple(map(tuple, vertices)))), L=log)
    fast = gate_events(events, ["FL1-A", "FL2-A", "FSC-A"], strategy)["/P"]
    monkeypatch.setattr(engine, "POLYGON_FLOAT32", False)
    exact = gate_events(events, ["FL1-A", "FL2-A", "FSC-A"], strategy)["/P"]
    assert np.array_equal(fast, exact), f"{int(np.count_nonzero(fast != exact))} events differ"
    assert 0 < int(fast.sum()) < fast.size


def test_gain_preprocessing_through_blocks_equals_gating_the_preprocessed_matrix(tmp_path: Path) -> None:
    from immunolab.fcs.reader import read_fcs
    from immunolab.flow.pipeline import LoadedStrategy, gate_fcs

    events = gml.synthetic_events(30_000, seed=3)
    events[:, 2] *= 2.0  # FITC stored with amplifier gain 2
    path = tmp_path / "gain.fcs"
    from immunolab.fcs.writer import write_fcs

    write_fcs(path, events.astype(np.float32), gml.CHANNELS, pnr=[262144.0] * 7,
              keywords={"$SPILLOVER": gml.spill_keyword(), "$P3G": "2.0"})
    fcs = read_fcs(path)
    assert fcs.needs_preprocessing()
    fitc = Dimension("FITC-A", "FCS", "L")
    strategy = _strategy(GateNode("/", RectangleGate("F", (fitc,), (0.5,), (None,))),
                         GateNode("/F", PolygonGate("G", (fitc, Dimension("PE-A", "FCS", "L")),
                                                    ((0.5, 0.0), (1.0, 0.0), (1.0, 0.5), (0.5, 0.5)))), L=Logicle())
    via_blocks = gate_fcs(fcs, LoadedStrategy("gatingml", "t", strategy=strategy), label="gain.fcs").masks
    whole = gate_events(fcs.preprocessed(), fcs.pnn, strategy, fcs.spillover())
    for p, mask in whole.items():
        assert np.array_equal(via_blocks[p], mask), p
    assert whole["/F/G"].any()


def test_freed_memory_is_kept_in_the_heap_unless_switched_off() -> None:
    code = "from immunolab.flow.heap import retain_freed_memory as r; print(r(), r())"
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "IMMUNOLAB_RETAIN_HEAP": "0"}).stdout.split()
    assert off == ["False", "False"]
    if sys.platform.startswith("linux") and "glibc" in " ".join(__import__("platform").libc_ver()):
        assert on == ["True", "True"]
