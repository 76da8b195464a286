"""Gate engine: hand-computed memberships, parent membership, strategy identity and coded errors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from immunolab.errors import InputError
from immunolab.flow.compensation import SpilloverMatrix
from immunolab.flow.gates import (
    BooleanGate,
    Dimension,
    EllipsoidGate,
    PolygonGate,
    Quadrant,
    QuadrantDivider,
    QuadrantGate,
    RectangleGate,
    points_in_polygon,
)
from immunolab.flow.strategy import GateNode, Strategy, gate_events, gate_population_table
from immunolab.flow.transforms import Linear, Logicle, Ratio

X = Dimension("X")
Y = Dimension("Y")
NAMES = ["X", "Y", "Z"]


def _events(points: list[tuple[float, float]]) -> np.ndarray:
    arr = np.array(points, dtype=float)
    return np.column_stack([arr, np.zeros(len(arr))])


def test_rectangle_is_min_inclusive_and_max_exclusive() -> None:
    gate = RectangleGate("R", (X, Y), (1.0, None), (2.0, 5.0))
    ev = _events([(1.0, 0.0), (2.0, 0.0), (1.5, 5.0), (1.5, -1e9), (0.999, 1.0), (np.nan, 1.0)])
    masks = gate_events(ev, NAMES, Strategy("s", (GateNode("/", gate),)))
    assert masks["/R"].tolist() == [True, False, False, True, False, False]


def test_rectangle_complement_selects_the_outside() -> None:
    gate = RectangleGate("Out", (X,), (1.0,), (2.0,), complement=True)
    masks = gate_events(_events([(0.5, 0), (1.5, 0), (2.0, 0)]), NAMES, Strategy("s", (GateNode("/", gate),)))
    assert masks["/Out"].tolist() == [True, False, True]


def test_polygon_even_odd_rule_on_square_edges_and_vertices() -> None:
    square = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]])
    x = np.array([2.0, 0.0, 4.0, 2.0, 2.0, 0.0, 4.0, 5.0, -0.1])
    y = np.array([2.0, 2.0, 2.0, 0.0, 4.0, 0.0, 4.0, 2.0, 2.0])
    # half-open in y and strict crossings: the left and bottom edges are inside, right and top outside
    assert points_in_polygon(x, y, square).tolist() == [True, True, False, True, False, True, False, False, False]


def test_polygon_self_crossing_bowtie_uses_parity() -> None:
    bowtie = np.array([[0.0, 0.0], [4.0, 4.0], [4.0, 0.0], [0.0, 4.0]])
    x = np.array([1.0, 3.0, 2.0, 2.0])
    y = np.array([2.0, 2.0, 0.5, 3.5])
    assert points_in_polygon(x, y, bowtie).tolist() == [True, True, False, False]


def test_polygon_concave_notch_excludes_the_notch() -> None:
    u_shape = np.array([[0, 0], [6, 0], [6, 6], [4, 6], [4, 2], [2, 2], [2, 6], [0, 6]], dtype=float)
    x = np.array([1.0, 3.0, 5.0, 3.0])
    y = np.array([4.0, 4.0, 4.0, 1.0])
    assert points_in_polygon(x, y, u_shape).tolist() == [True, False, True, True]


def test_ellipse_boundary_is_inclusive_and_rotation_is_honoured() -> None:
    circle = EllipsoidGate("C", (X, Y), (0.0, 0.0), ((4.0, 0.0), (0.0, 1.0)), 1.0)
    ev = _events([(2.0, 0.0), (0.0, 1.0), (2.01, 0.0), (0.0, 1.01), (1.4, 0.7)])
    masks = gate_events(ev, NAMES, Strategy("s", (GateNode("/", circle),)))
    assert masks["/C"].tolist() == [True, True, False, False, True]
    tilted = EllipsoidGate("T", (X, Y), (0.0, 0.0), ((1.0, 0.9), (0.9, 1.0)), 1.0)
    ev = _events([(0.7, 0.7), (0.7, -0.7)])
    assert gate_events(ev, NAMES, Strategy("s", (GateNode("/", tilted),)))["/T"].tolist() == [True, False]


def _quad() -> QuadrantGate:
    return QuadrantGate(
        "Q",
        (QuadrantDivider("dx", X, (0.0,)), QuadrantDivider("dy", Y, (0.0,))),
        (
            Quadrant("PP", (("dx", 0.0, None), ("dy", 0.0, None))),
            Quadrant("PN", (("dx", 0.0, None), ("dy", None, 0.0))),
            Quadrant("NP", (("dx", None, 0.0), ("dy", 0.0, None))),
            Quadrant("NN", (("dx", None, 0.0), ("dy", None, 0.0))),
        ),
    )


def test_quadrants_partition_the_parent_and_hang_under_it() -> None:
    parent = RectangleGate("Cells", (X,), (-5.0,), (5.0,))
    strategy = Strategy("s", (GateNode("/", parent), GateNode("/Cells", _quad())))
    ev = _events([(1, 1), (1, -1), (-1, 1), (-1, -1), (0, 0), (9, 9)])
    masks = gate_events(ev, NAMES, strategy)
    assert strategy.population_paths() == ["/Cells", "/Cells/PP", "/Cells/PN", "/Cells/NP", "/Cells/NN"]
    assert masks["/Cells/PP"].tolist() == [True, False, False, False, True, False]
    assert masks["/Cells/NN"].tolist() == [False, False, False, True, False, False]
    total = sum(masks[f"/Cells/{q}"].astype(int) for q in ("PP", "PN", "NP", "NN"))
    assert (total == masks["/Cells"]).all()


def test_boolean_gates_combine_populations_and_respect_their_parent() -> None:
    nodes = (
        GateNode("/", RectangleGate("A", (X,), (0.0,), (None,))),
        GateNode("/", RectangleGate("B", (Y,), (0.0,), (None,))),
        GateNode("/", BooleanGate("AandNotB", "and", (("/A", False), ("/B", True)))),
        GateNode("/", BooleanGate("AorB", "or", (("/A", False), ("/B", False)))),
        GateNode("/", BooleanGate("NotA", "not", (("/A", False),))),
        GateNode("/A", BooleanGate("BinA", "and", (("/B", False),))),
    )
    ev = _events([(1, 1), (1, -1), (-1, 1), (-1, -1)])
    masks = gate_events(ev, NAMES, Strategy("s", nodes))
    assert masks["/AandNotB"].tolist() == [False, True, False, False]
    assert masks["/AorB"].tolist() == [True, True, True, False]
    assert masks["/NotA"].tolist() == [False, False, True, True]
    assert masks["/A/BinA"].tolist() == [True, False, False, False]


def test_children_include_parent_membership() -> None:
    nodes = (
        GateNode("/", RectangleGate("A", (X,), (0.0,), (None,))),
        GateNode("/A", RectangleGate("B", (Y,), (0.0,), (None,))),
    )
    masks = gate_events(_events([(1, 1), (-1, 1)]), NAMES, Strategy("s", nodes))
    assert masks["/A/B"].tolist() == [True, False]


def test_transformed_and_compensated_dimensions_are_read_through_their_references() -> None:
    spill = SpilloverMatrix(("X", "Y"), np.array([[1.0, 0.5], [0.0, 1.0]]))
    dim = Dimension("Y", "FCS", "lin")
    gate = RectangleGate("R", (dim,), (0.1,), (None,))
    strategy = Strategy("s", (GateNode("/", gate),), transforms={"lin": Linear(t=10.0, a=0.0)})
    # raw Y = true Y + 0.5 * X; true Y of the first event is 0.5 (0.05 on the 0-10 scale)
    ev = _events([(2.0, 1.5), (2.0, 3.0)])
    assert gate_events(ev, NAMES, strategy, spill)["/R"].tolist() == [False, True]
    assert gate_events(ev, NAMES, strategy, None)["/R"].tolist() == [True, True]
    assert gate_events(ev, NAMES, strategy, (["X", "Y"], spill.matrix))["/R"].tolist() == [False, True]
    reader_like = SimpleNamespace(channels=["X", "Y"], matrix=spill.matrix)
    assert gate_events(ev, NAMES, strategy, reader_like)["/R"].tolist() == [False, True]  # type: ignore[arg-type]


def test_ratio_dimension_divides_two_channels() -> None:
    dim = Dimension("X", ratio="r", denominator="Y")
    gate = RectangleGate("R", (dim,), (2.0,), (None,))
    strategy = Strategy("s", (GateNode("/", gate),), transforms={"r": Ratio(a=1.0, b=0.0, c=0.0)})
    assert gate_events(_events([(4.0, 1.0), (1.0, 4.0)]), NAMES, strategy)["/R"].tolist() == [True, False]


def test_dimension_may_name_a_channel_by_its_stain() -> None:
    gate = RectangleGate("CD3", (Dimension("CD3 FITC"),), (1.0,), (None,))
    masks = gate_events(_events([(2.0, 0.0)]), NAMES, Strategy("s", (GateNode("/", gate),)), channel_labels=["CD3 FITC", None, None])
    assert masks["/CD3"].tolist() == [True]


def test_missing_channel_is_iml_fcs_011_naming_the_file() -> None:
    gate = RectangleGate("R", (Dimension("BV421-A"),), (0.0,), (None,))
    with pytest.raises(InputError) as info:
        gate_events(_events([(0, 0)]), NAMES, Strategy("s", (GateNode("/", gate),)), label="D0_tube2.fcs")
    assert info.value.code == "IML-FCS-011"
    assert "BV421-A" in str(info.value) and "D0_tube2.fcs" in str(info.value)


@pytest.mark.parametrize(
    "nodes",
    [
        (GateNode("/Nope", RectangleGate("R", (X,), (0.0,), (None,))),),
        (GateNode("/", RectangleGate("R", (X,), (0.0,), (None,))), GateNode("/", RectangleGate("R", (Y,), (0.0,), (None,)))),
        (GateNode("/", BooleanGate("B", "not", (("/Missing", False),))),),
        (GateNode("/", RectangleGate("R", (Dimension("X", transform="undefined"),), (0.0,), (None,))),),
        (GateNode("/", RectangleGate("R", (Dimension("X", compensation="M9"),), (0.0,), (None,))),),
        (GateNode("/", RectangleGate("a/b", (X,), (0.0,), (None,))),),
    ],
)
def test_inconsistent_strategies_are_iml_fcs_013(nodes: tuple[GateNode, ...]) -> None:
    with pytest.raises(InputError) as info:
        Strategy("s", nodes)
    assert info.value.code == "IML-FCS-013"


def _strategy(name: str = "panel", top: float = 262144.0) -> Strategy:
    nodes = (
        GateNode("/", PolygonGate("P", (Dimension("X", transform="lg"), Y), ((0, 0), (1, 0), (1, 1)))),
        GateNode("/P", _quad()),
        GateNode("/", EllipsoidGate("E", (X, Y), (0.0, 0.0), ((1.0, 0.0), (0.0, 1.0)), 2.0)),
    )
    spill = SpilloverMatrix(("X", "Y"), np.array([[1.0, 0.1], [0.0, 1.0]]))
    return Strategy(name, nodes, transforms={"lg": Logicle(t=top)}, matrices={"m": spill})


def test_strategy_id_is_a_stable_content_hash_independent_of_the_name() -> None:
    a, b = _strategy("panel"), _strategy("renamed")
    assert a.strategy_id == b.strategy_id
    assert len(a.strategy_id) == 16 and int(a.strategy_id, 16) >= 0
    assert _strategy(top=10000.0).strategy_id != a.strategy_id


def test_strategy_round_trips_through_its_dict() -> None:
    original = _strategy()
    again = Strategy.from_dict(original.to_dict())
    assert again.strategy_id == original.strategy_id
    assert again.population_paths() == original.population_paths()
    assert again.name == "panel"


def test_population_table_reports_counts_and_parent_percentages() -> None:
    nodes = (
        GateNode("/", RectangleGate("A", (X,), (0.0,), (None,))),
        GateNode("/A", RectangleGate("B", (Y,), (0.0,), (None,))),
    )
    strategy = Strategy("s", nodes)
    table = gate_population_table(_events([(1, 1), (1, -1), (-1, 1), (-1, -1)]), NAMES, strategy)
    rows = {r["gate_path"]: r for r in table.to_pylist()}
    assert rows["/A"]["count"] == 2 and rows["/A"]["pct_total"] == 50.0
    assert rows["/A/B"]["count"] == 1 and rows["/A/B"]["pct_parent"] == 50.0
    assert set(table.column("strategy_id").to_pylist()) == {strategy.strategy_id}


def test_polygon_and_ellipse_tests_equal_flowutils_on_grid_points_with_many_boundary_hits() -> None:
    gating = pytest.importorskip("flowutils.gating")
    rng = np.random.default_rng(11)
    grid = np.array([(x, y) for x in range(-1, 12) for y in range(-1, 12)], dtype=float)
    for _ in range(60):
        k = int(rng.integers(3, 9))
        vertices = rng.integers(0, 11, size=(k, 2)).astype(float)
        ours = points_in_polygon(grid[:, 0], grid[:, 1], vertices)
        theirs = gating.points_in_polygon(vertices, grid)
        assert np.array_equal(ours, theirs), vertices.tolist()
    for _ in range(30):
        a = rng.normal(size=(2, 2))
        cov = a @ a.T + np.eye(2) * 0.5
        mean = rng.uniform(2, 8, 2)
        d2 = float(rng.uniform(1, 20))
        gate = EllipsoidGate("E", (X, Y), tuple(mean), tuple(map(tuple, cov)), d2)
        ours = gate_events(np.column_stack([grid, np.zeros(len(grid))]), NAMES, Strategy("s", (GateNode("/", gate),)))["/E"]
        assert np.array_equal(ours, gating.points_in_ellipsoid(cov, mean, d2, grid))
