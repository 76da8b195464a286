"""FlowJo 7 (PC .wsp) and 8-9 (Mac .xml) workspaces reproduce FlowJo's own counts.

FlowJo evaluates polygons and ellipses on binned data: exact counts are required for
rectangles, ranges, bifurcates, quadrants and Boolean gates over them when no ancestor is a
polygon or ellipse; otherwise 0.5 % (or 5 events). Measured deviations beyond that are listed
below with their bound and explained in docs/gating.md.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from immunolab.errors import InputError
from immunolab.fcs.reader import read_fcs
from immunolab.flow.flowjo import WorkspaceSample, parse_flowjo_workspace, read_flowjo_workspace
from immunolab.flow.flowjo_legacy import keyword_transforms
from immunolab.flow.gates import (
    BooleanGate,
    EllipsoidGate,
    Gate,
    PolygonGate,
    RectangleGate,
    gate_from_dict,
)
from immunolab.flow.strategy import gate_events
from immunolab.flow.transforms import Linear, Log
from tests.conftest import shared_path

pytestmark = pytest.mark.shared_data

#: (workspace, file, population path) -> largest relative deviation measured and accepted
#: (none left: FlowJo 7.6.5's ellipses, rebuilt from their edge points, are all within 0.5 %)
KNOWN_DEVIATIONS: dict[tuple[str, str, str], float] = {}
#: polygons and their descendants: at most this many events from FlowJo's count (measured: 7.6.5
#: at most 2, 77 of 92 exact; 9.7.2 on grid-cell centres at most 5, 56 of 88 exact)
POLYGON_EVENTS = {"advanced-v7.6.5.wsp": 2, "advanced-v9.7.2.xml": 5}


def _expected(workspace: str) -> list[dict[str, str]]:
    table = shared_path("flow", "flowjo_tutorial", "EXPECTED_flowjo_counts.csv")
    with table.open(newline="", encoding="utf-8") as handle:
        return [r for r in csv.DictReader(handle) if r["workspace"] == workspace]


def _binned(path: str, gates: dict[str, Gate]) -> bool:
    """Return True when the gate or an ancestor (or a Boolean operand) is a polygon or ellipse."""
    while path and path != "/":
        gate = gates.get(path)
        if isinstance(gate, PolygonGate | EllipsoidGate):
            return True
        if isinstance(gate, BooleanGate) and any(_binned(ref, gates) for ref, _ in gate.refs):
            return True
        path = path.rsplit("/", 1)[0] or "/"
    return False


def _ellipse_based(path: str, gates: dict[str, Gate]) -> bool:
    gate = gates.get(path)
    return isinstance(gate, EllipsoidGate) or (
        isinstance(gate, BooleanGate) and any(_ellipse_based(r, gates) for r, _ in gate.refs)
    )


def _compare(workspace: str) -> list[tuple[str, str, str, int, int, float, bool]]:
    """Return (file, path, kind, ours, flowjo, allowed relative deviation, ellipse-based) for every expected row."""
    folder = shared_path("flow", "flowjo_tutorial")
    samples = {s.file_name: s for s in read_flowjo_workspace(folder / workspace)}
    rows = _expected(workspace)
    out = []
    for file_name in sorted({r["fcs_file"] for r in rows}):
        sample: WorkspaceSample = samples[file_name]
        data = read_fcs(folder / file_name)
        masks = gate_events(data.preprocessed(), data.pnn, sample.strategy, label=file_name)
        gates = {p: n.gate for n in sample.strategy.nodes for p in n.population_paths()}
        for r in (r for r in rows if r["fcs_file"] == file_name):
            path = "/" + r["population_path"]
            flowjo = int(r["flowjo_count"])
            allowed = 0.0
            if _binned(path, gates):
                allowed = max(0.005, 5 / max(flowjo, 1))
            allowed = max(allowed, KNOWN_DEVIATIONS.get((workspace, file_name, path), 0.0))
            ellipse = _ellipse_based(path, gates)
            out.append((file_name, path, type(gates[path]).__name__, int(masks[path].sum()), flowjo, allowed, ellipse))
    return out


@pytest.mark.parametrize(("workspace", "n_rows", "n_binned", "n_within"),
                         [("advanced-v7.6.5.wsp", 168, 104, 104), ("advanced-v9.7.2.xml", 164, 100, 100)])
def test_every_flowjo_count_of_the_tutorial_workspace_is_reproduced(workspace: str, n_rows: int, n_binned: int,
                                                                      n_within: int) -> None:
    rows = _compare(workspace)
    assert len(rows) == n_rows
    misses = [r for r in rows if abs(r[3] - r[4]) > r[5] * r[4]]
    assert not misses, misses
    exact = [r for r in rows if r[5] == 0.0]
    assert len(exact) == n_rows - n_binned == 64  # rectangles, quadrants, ranges, bifurcates, Booleans of them
    # polygons, ellipses and their descendants within 0.5 % or 5 events (docs/gating.md)
    within = [r for r in rows if r[5] > 0.0 and abs(r[3] - r[4]) <= max(0.005 * r[4], 5)]
    assert len(within) >= n_within
    polygon_based = [r for r in rows if r[5] > 0.0 and not r[6]]
    assert len(polygon_based) == {"advanced-v7.6.5.wsp": 92, "advanced-v9.7.2.xml": 88}[workspace]
    assert max(abs(r[3] - r[4]) for r in polygon_based) <= POLYGON_EVENTS[workspace]


def test_flowjo_765_reproduces_rectangles_quadrants_bifurcates_and_booleans_exactly() -> None:
    rows = {(f, p): (ours, fj) for f, p, _, ours, fj, allowed, _ in _compare("advanced-v7.6.5.wsp") if allowed == 0.0}
    c02 = "931115-C02- Sample 02.fcs"
    for path in ("/A", "/B", "/A and not B", "/not A and not B", "/A or B", "/bifurcate CD8+", "/bifurcate CD8-",
                 "/OrthSc range", "/Q1: CD4- , CD8+", "/Q4: CD4+ , CD8-"):
        ours, flowjo = rows[(c02, path)]
        assert ours == flowjo, path


V7_HEAD = ('<?xml version="1.0" encoding="UTF-8"?><Workspace version="1.61" flowJoVersion="7.6.5" '
           'xmlns:gating="http://www.isac-net.org/std/Gating-ML/v1.5/gating" '
           'xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v1.5/datatypes"><SampleList><Sample>'
           '<DataSet uri="./tube 1.fcs" sampleID="1"/><Keywords>'
           '<Keyword name="$P1N" value="FL1"/><Keyword name="$P1R" value="512"/><Keyword name="$P1E" value="0,0"/>'
           '<Keyword name="$P2N" value="FL2"/><Keyword name="$P2R" value="512"/><Keyword name="$P2E" value="0,0"/>'
           '</Keywords><SampleNode name="tube 1.fcs" sampleID="1" count="4"><Subpopulations>')


def _v7_ellipse(inside: str, foci: list[tuple[float, float]], edges: list[tuple[float, float]], distance: float) -> bytes:
    def vertices(points: list[tuple[float, float]]) -> str:
        return "".join(f'<gating:vertex><gating:coordinate data-type:value="{x}"/><gating:coordinate '
                       f'data-type:value="{y}"/></gating:vertex>' for x, y in points)

    dims = "".join(f'<gating:dimension><data-type:parameter data-type:name="{n}"/></gating:dimension>' for n in ("FL1", "FL2"))
    gate = (f'<gating:EllipsoidGate gating:distance="{distance}" eventsInside="{inside}">{dims}'
            f"<gating:foci>{vertices(foci)}</gating:foci><gating:edge>{vertices(edges)}</gating:edge></gating:EllipsoidGate>")
    return (V7_HEAD + f'<Population name="E" count="1"><Gate>{gate}</Gate></Population>'
            "</Subpopulations></SampleNode></Sample></SampleList></Workspace>").encode()


def test_flowjo7_ellipses_are_rebuilt_from_their_edge_points_on_a_grid_of_channels_0_to_r_minus_1() -> None:
    """Axes end at the edge points (saved foci are truncated); grid cell 255 shows channel R - 1."""
    import numpy as np

    # semi-axes 30 and 20 around (100, 100); the true foci (100 -/+ 22.36, 100) saved truncated
    edges = [(70.0, 100.0), (130.0, 100.0), (100.0, 80.0), (100.0, 120.0)]
    (sample,) = parse_flowjo_workspace(_v7_ellipse("1", [(77.0, 100.0), (122.0, 100.0)], edges, 60.0), label="v7.wsp")
    gate = sample.strategy.nodes[0].gate
    assert isinstance(gate, EllipsoidGate)
    unit = 511 / (255 * 512)  # keyword-scale value of one grid unit ($PnR = 512)
    assert np.allclose(gate.mean, (100 * unit, 100 * unit), rtol=1e-12)
    assert np.allclose(gate.covariance, ((900 * unit**2, 0.0), (0.0, 400 * unit**2)), rtol=1e-12, atol=1e-18)
    # on channels (linear, $PnR 512: value = channel): centre 200.39, semi-axis 60.12 along FL1
    centre, a = 100 * 511 / 255, 30 * 511 / 255
    events = np.array([[centre + a - 0.05, centre], [centre + a + 0.05, centre], [centre - a + 0.05, centre],
                       [centre, centre + 40 * 511 / 255 + 0.05]])
    assert gate_events(events, ["FL1", "FL2"], sample.strategy)["/E"].tolist() == [True, False, True, False]
    (outside,) = parse_flowjo_workspace(_v7_ellipse("0", [(77.0, 100.0), (122.0, 100.0)], edges, 60.0), label="v7.wsp")
    assert gate_events(events, ["FL1", "FL2"], outside.strategy)["/E"].tolist() == [False, True, False, True]


def test_a_flowjo7_ellipse_on_channels_without_a_saved_range_keeps_the_256_cell_grid() -> None:
    import numpy as np

    edges = [(70.0, 100.0), (130.0, 100.0), (100.0, 80.0), (100.0, 120.0)]
    data = _v7_ellipse("1", [(77.0, 100.0), (122.0, 100.0)], edges, 60.0)
    data = data.replace(b'<Keyword name="$P1R" value="512"/>', b"").replace(b'<Keyword name="$P2R" value="512"/>', b"")
    (sample,) = parse_flowjo_workspace(data, label="v7.wsp")
    gate = sample.strategy.nodes[0].gate
    assert isinstance(gate, EllipsoidGate)
    assert np.allclose(gate.mean, (100 / 256, 100 / 256), rtol=1e-12)


def test_a_flowjo7_ellipse_with_a_collapsed_axis_is_iml_fcs_013() -> None:
    edges = [(70.0, 100.0), (70.0, 100.0), (100.0, 80.0), (100.0, 120.0)]
    with pytest.raises(InputError) as info:
        parse_flowjo_workspace(_v7_ellipse("1", [(99.0, 100.0), (100.0, 100.0)], edges, 1.0), label="v7.wsp")
    assert info.value.code == "IML-FCS-013" and "axis of length 0" in info.value.message


def test_flowjo9_ellipses_keep_only_whole_display_cells_inside() -> None:
    """A 256-grid cell counts only when all of it lies inside; cells the outline crosses are out."""
    import numpy as np

    pops = ('<Population nodeName="E" count="1"><PolygonGate><Ellipse name="E" xAxisName="FL1" yAxisName="FL2"><Polygon>'
            '<Vertex x="200" y="512"/><Vertex x="824" y="512"/><Vertex x="512" y="200"/><Vertex x="512" y="824"/>'
            "</Polygon></Ellipse></PolygonGate></Population>")
    (sample,) = parse_flowjo_workspace(_v9(pops), label="study.xml")
    gate = sample.strategy.nodes[0].gate
    assert isinstance(gate, EllipsoidGate) and gate.whole_bins == 256
    # radius 78 cells around cell corner (128, 128): x = 205.9 is inside the circle but its cell
    # [205, 206] crosses the outline; x = 204.5 lies in cell [204, 205], wholly inside
    cell = 1024 / 256
    events = np.array([[128 * cell, 128 * cell], [205.9 * cell, 128.5 * cell], [204.5 * cell, 128.5 * cell],
                       [207 * cell, 128 * cell]])
    masks = gate_events(events, ["FL1", "FL2"], sample.strategy)
    assert masks["/E"].tolist() == [True, False, True, False]
    assert gate_from_dict(gate.to_dict()) == gate and "whole_bins" not in EllipsoidGate(
        "x", gate.dimensions, gate.mean, gate.covariance, 1.0).to_dict()


def test_flowjo9_ellipse_cells_with_a_corner_on_the_outline_are_inside() -> None:
    """A cell whose corner lies exactly on the outline is wholly inside (closed ellipse), whatever float32 did.

    FlowJo 9 saves ellipse points as float32 data values that sit on the 256-grid within 1e-5
    cell; they are read back onto the grid, so ties are decided exactly (the tutorial's
    "inverted ellipse" passes through 8 grid corners).
    """
    import numpy as np

    # circle of radius 5 cells around cell corner (128, 128) (4 channels a cell), its points pulled
    # 1e-5 cell inwards as float32 might; it passes through grid corner (131, 132) (3-4-5)
    pops = ('<Population nodeName="E" count="1"><PolygonGate><Ellipse name="E" xAxisName="FL1" yAxisName="FL2"><Polygon>'
            '<Vertex x="492.00004" y="512"/><Vertex x="531.99996" y="512"/><Vertex x="512" y="492.00004"/>'
            '<Vertex x="512" y="531.99996"/></Polygon></Ellipse></PolygonGate></Population>')
    (sample,) = parse_flowjo_workspace(_v9(pops), label="study.xml")
    # cell (130, 131): corners (130, 131), (131, 131), (130, 132) inside, (131, 132) on the outline;
    # cell (131, 132): corner (132, 132) outside
    events = np.array([[130.5 * 4, 131.5 * 4], [131.5 * 4, 132.5 * 4]])
    masks = gate_events(events, ["FL1", "FL2"], sample.strategy)
    assert masks["/E"].tolist() == [True, False]


def test_flowjo9_ellipse_points_on_the_grid_are_centred_on_their_integer_midpoint() -> None:
    """Integer grid points give an integer centre (the floor of their mean); points off the grid keep the exact mean.

    The tutorial's CD4/CD8 ellipse has its points' mean at cell (44.25, 43.25): centred there its
    counts are +1 to +12 events above FlowJo 9.7.2's, centred on (44, 43) -3 to +7 (docs/gating.md).
    """
    cells = [(75, 71), (14, 15), (68, 17), (20, 70)]
    vertices = "".join(f'<Vertex x="{4 * x}" y="{4 * y}"/>' for x, y in cells)
    pops = ('<Population nodeName="E" count="1"><PolygonGate><Ellipse name="E" xAxisName="FL1" yAxisName="FL2">'
            f"<Polygon>{vertices}</Polygon></Ellipse></PolygonGate></Population>")
    (sample,) = parse_flowjo_workspace(_v9(pops), label="study.xml")
    gate = sample.strategy.nodes[0].gate
    assert isinstance(gate, EllipsoidGate)
    assert gate.mean == (44 / 256, 43 / 256)
    off = "".join(f'<Vertex x="{4 * x + 1.5}" y="{4 * y}"/>' for x, y in cells)  # x a third of a cell off the grid
    (sample,) = parse_flowjo_workspace(_v9(pops.replace(vertices, off)), label="study.xml")
    gate = sample.strategy.nodes[0].gate
    assert isinstance(gate, EllipsoidGate)
    assert gate.mean == pytest.approx(((44.25 + 1.5 / 4) / 256, 43.25 / 256))


def _v9_polygon(name: str, cells: list[tuple[int, int]]) -> str:
    """Return a FlowJo 9 polygon population; vertices given in 256-grid cells (4 channels each in _v9)."""
    vertices = "".join(f'<Vertex x="{4 * x}" y="{4 * y}"/>' for x, y in cells)
    return (f'<Population nodeName="{name}" count="1"><PolygonGate><Polygon name="{name}" xAxisName="FL1" '
            f'yAxisName="FL2"><Polygon>{vertices}</Polygon></Polygon></PolygonGate></Population>')


def test_flowjo9_polygons_hold_the_display_cells_whose_centre_lies_inside() -> None:
    """An event counts when the centre of its 256-grid cell is inside; a centre on an edge when the polygon is left of it."""
    import numpy as np

    pops = (_v9_polygon("slope", [(10, 10), (30, 10), (10, 20)])  # x + 2y < 50 (cells)
            + _v9_polygon("tie left", [(10, 10), (20, 10), (10, 20)])  # x + y < 30: inside left of the edge
            + _v9_polygon("tie right", [(10, 10), (20, 10), (20, 20)])  # x > y: inside right of the edge
            + _v9_polygon("tiny", [(10.1, 10.1), (10.4, 10.1), (10.1, 10.4)]))  # holds no cell centre
    (sample,) = parse_flowjo_workspace(_v9(pops), label="study.xml")
    gate = sample.strategy.nodes[0].gate
    assert isinstance(gate, PolygonGate)
    cells = np.array(gate.vertices) * 256  # a staircase on the grid (lines on a channel: half a channel down)
    assert np.allclose(cells, np.round(cells * 4 + 0.5) / 4 - 0.125)
    # events (FL1, FL2) on channels; /4 gives their position in cells
    events = np.array([[83.0, 59.0],   # cell (20, 14): centre x + 2y = 49.5 inside, the event (50.25) outside
                       [84.0, 56.0],   # cell (21, 14): centre 50.5 outside, the event (49) inside
                       [48.0, 48.0],   # cell (12, 12): wholly inside every triangle but "tie right"'s edge
                       [59.0, 63.0],   # cell (14, 15): centre on x + y = 30 with the inside to its left
                       [61.0, 60.0]])  # cell (15, 15): centre on y = x with the inside to its right
    masks = gate_events(events, ["FL1", "FL2"], sample.strategy)
    assert masks["/slope"].tolist() == [True, False, True, True, True]
    assert masks["/tie left"].tolist() == [False, False, True, True, False]
    assert masks["/tie right"].tolist() == [False, False, False, False, False]
    assert not masks["/tiny"].any()


def test_legacy_channel_scales_come_from_the_saved_keywords() -> None:
    xf = keyword_transforms({"$P1N": "ForSc", "$P1R": "512", "$P1G": "2.5", "$P1E": "0, 0",
                             "$P2N": "OrthSc", "$P2R": "512", "$P2E": "3.84, 0.2"})
    assert xf["ForSc"] == Linear(t=512 / 2.5)
    assert xf["OrthSc"] == Log(t=0.2 * 10**3.84, m=3.84)


def test_the_flowjo_104_workspace_is_read_and_its_differences_are_visible() -> None:
    """FlowJo 10.4 links sample nodes to other files and saved $P1B=16 for these 9-bit files."""
    path = shared_path("flow", "flowjo_tutorial", "advanced-v10.4.wsp")
    samples = read_flowjo_workspace(path)
    assert len(samples) == 16
    e02 = next(s for s in samples if s.flowjo_counts.get("/A or B"))
    assert e02.flowjo_counts["/Lymphocytes"] < 200  # FlowJo 10.4's own scatter gate count
    data = read_fcs(path.parent / "931115-E02- Sample 04.fcs")
    masks = gate_events(data.preprocessed(), data.pnn, e02.strategy)
    assert masks["/Lymphocytes"].sum() > 5000  # the same gate on correctly decoded events


V9_HEAD = '<?xml version="1.0" encoding="ISO-8859-1"?><Workspace version="3.0" flowJoVersion="9.7.2"><Samples>'


def _v9(populations: str) -> bytes:
    keywords = '<Keywords><Keyword name="$P1N" value="FL1"/><Keyword name="$P1R" value="1024"/><Keyword name="$P1E" value="0,0"/>' \
               '<Keyword name="$P2N" value="FL2"/><Keyword name="$P2R" value="1024"/><Keyword name="$P2E" value="0,0"/></Keywords>'
    return (V9_HEAD + f'<Sample sampleID="7">{keywords}<SampleNode nodeName="tube 1.fcs" count="4">{populations}'
            "</SampleNode></Sample></Samples></Workspace>").encode("latin-1")


def _range(name: str, lo: float, hi: float) -> str:
    return (f'<Population nodeName="{name}" count="1"><PolygonGate><Range name="{name}" xAxisName="FL1"><Polygon>'
            f'<Vertex x="{lo}" y="0.5"/><Vertex x="{hi}" y="0.5"/></Polygon></Range></PolygonGate></Population>')


def test_flowjo9_ranges_hold_channels_min_to_below_max_and_booleans_follow_their_specification() -> None:
    pops = _range("low", 0, 10) + _range("high", 10, 20)
    pops += ('<Population nodeName="high not low" count="1"><BooleanGate specification="G1 &amp; ! G0"><GatePaths>'
             "<StringArray><String>low</String><String>/high</String></StringArray></GatePaths></BooleanGate></Population>")
    (sample,) = parse_flowjo_workspace(_v9(pops), label="study.xml")
    assert sample.file_name == "tube 1.fcs" and sample.flowjo_counts["/low"] == 1
    import numpy as np

    events = np.array([[5.0, 0.0], [10.0, 0.0], [15.0, 0.0], [20.0, 0.0]])
    masks = gate_events(events, ["FL1", "FL2"], sample.strategy)
    # bounds on a channel ($PnR = 1024, linear: channel = value): min <= channel < max, so the
    # divider 10 belongs above it and 20 is outside "high"
    assert masks["/low"].tolist() == [True, False, False, False]
    assert masks["/high"].tolist() == [False, True, True, False]
    assert masks["/high not low"].tolist() == [False, True, True, False]
    assert isinstance(sample.strategy.nodes[0].gate, RectangleGate)


@pytest.mark.parametrize(
    "populations",
    [
        '<Population nodeName="X" count="1"><PolygonGate><Spline name="X" xAxisName="FL1"/></PolygonGate></Population>',
        '<Population nodeName="X" count="1"><BooleanGate specification="G0 &amp; G1"><GatePaths><StringArray>'
        "<String>Ghost</String></StringArray></GatePaths></BooleanGate></Population>",
    ],
)
def test_unsupported_or_broken_flowjo9_gates_are_iml_fcs_013(populations: str) -> None:
    with pytest.raises(InputError) as info:
        parse_flowjo_workspace(_v9(populations), label="study.xml")
    assert info.value.code == "IML-FCS-013" and "study.xml" in str(info.value)


def test_flowjo9_polygons_off_the_grid_parse_quickly_and_a_vertex_at_zero_on_a_log_axis_keeps_its_outline() -> None:
    import time

    import numpy as np

    start = time.perf_counter()
    (far,) = parse_flowjo_workspace(_v9(_v9_polygon("P", [(2, 2), (5000, 2), (2, 5000)])), label="study.xml")
    assert time.perf_counter() - start < 5  # the cell grid is cut to the axis range (it took 17 s uncut)
    events = np.array([[500.0, 500.0], [1023.0, 20.0], [5.0, 5.0]])
    assert gate_events(events, ["FL1", "FL2"], far.strategy)["/P"].tolist() == [True, True, False]
    log_axis = _v9(_v9_polygon("P", [(0, 25), (125, 25), (75, 150)])).replace(b'$P1E" value="0,0"', b'$P1E" value="4,1"')
    (sample,) = parse_flowjo_workspace(log_axis, label="study.xml")  # log10(0): no grid cell, exact outline
    assert isinstance(sample.strategy.nodes[0].gate, PolygonGate)
    broken = _v9(_v9_polygon("P", [(2, 2), (125, 2), (2, 125)])).replace(b'<Vertex x="500" y="8"/>', b'<Vertex x="500"/>')
    with pytest.raises(InputError) as info:
        parse_flowjo_workspace(broken, label="study.xml")
    assert info.value.code == "IML-FCS-013" and "without an x or y coordinate" in info.value.message


def test_a_flowjo6_workspace_is_refused_naming_the_versions_read(tmp_path: Path) -> None:
    data = b'<?xml version="1.0"?><Workspace flowJoVersion="6.4"><SampleList/></Workspace>'
    with pytest.raises(InputError) as info:
        parse_flowjo_workspace(data, label="old.wsp")
    assert info.value.code == "IML-FCS-013" and "7.x PC, 8-9 Mac and 10.x" in info.value.message


#: a FlowJo 9.2 (workspace version 2.0) calibration table: channels 0..8 show data -8..8 in steps of 2
_TABLE = ",".join(f"{c},{-8 + 2 * c}" for c in range(9))


def _v92(populations: str, *, table: str = _TABLE, comp_id: str = "1", extra_tables: str = "") -> bytes:
    """Return a FlowJo 9.2 workspace: float data, a compensation matrix and calibration tables at workspace level."""
    keywords = ('<Keywords><Keyword name="$DATATYPE" value="F"/><Keyword name="$FIL" value="tube 9.fcs"/>'
                '<Keyword name="$P1N" value="FL1"/><Keyword name="$P1R" value="262144"/><Keyword name="$P1E" value="0,0"/>'
                '<Keyword name="$P2N" value="FL2"/><Keyword name="$P2R" value="262144"/><Keyword name="$P2E" value="0,0"/>'
                "</Keywords>")
    parameters = ('<Parameter name="FL1" range="4096" log="1" calibrationIndex="1"/>'
                  '<Parameter name="FL2" range="4096" log="1" highValue="1000" decades="3"/>')
    matrix = ('<CompensationMatrices><CompensationMatrix name="M1" prefix="&lt;" suffix="&gt;">'
              '<Channel name="FL1"><ChannelValue name="FL1" value="1"/><ChannelValue name="FL2" value="0.5"/></Channel>'
              '<Channel name="FL2"><ChannelValue name="FL1" value="0"/><ChannelValue name="FL2" value="1"/></Channel>'
              "</CompensationMatrix></CompensationMatrices>")
    tables = (f'<CalibrationTables><Table name="InputParameterTransform_Gain1_Offset1">{table}</Table>'
              f'<Table name="M1 &lt;FL2&gt;">{table}</Table>{extra_tables}</CalibrationTables>')
    return ('<?xml version="1.0" encoding="ISO-8859-1"?><Workspace version="2.0" flowJoVersion="9.2"><SampleList>'
            f'<Sample sampleID="2" compensationID="{comp_id}">{keywords}{parameters}'
            f'<SampleNode sampleID="2" name="tube 9" count="4">{populations}</SampleNode></Sample></SampleList>'
            f"{matrix}{tables}</Workspace>").encode("latin-1")


def test_a_flowjo92_workspace_reads_its_float_scales_compensation_and_named_populations() -> None:
    """FlowJo 9.2 and earlier list samples under SampleList, name populations by ``name``, keep tables and matrices apart.

    Checked once against a real FlowJo 9.2 workspace (docs/gating.md): 16 of its 18 counts within
    0.5 % or 5 events; the file is not in ../shared/data, so this test pins the rules on a small one.
    """
    import numpy as np

    from immunolab.flow.transforms import CalibrationTable

    pops = ('<Population name="P" count="2"><PolygonGate><Polygon name="P" xAxisName="FL1" yAxisName="&lt;FL2&gt;"><Polygon>'
            '<Vertex x="-1" y="-1"/><Vertex x="3" y="-1"/><Vertex x="3" y="3"/><Vertex x="-1" y="3"/>'
            "</Polygon></Polygon></PolygonGate>"
            '<Population name="R" count="1"><PolygonGate><Range name="R" xAxisName="FL1"><Polygon>'
            '<Vertex x="1" y="0.5"/><Vertex x="5" y="0.5"/></Polygon></Range></PolygonGate></Population></Population>')
    (sample,) = parse_flowjo_workspace(_v92(pops), label="old.xml")
    assert sample.file_name == "tube 9.fcs" and sample.sample_id == "2"
    assert sample.flowjo_counts == {"/P": 2, "/P/R": 1}
    assert list(sample.strategy.matrices) == ["flowjo:M1"]
    scales = sample.strategy.transforms
    assert any(isinstance(x, CalibrationTable) for x in scales.values())
    # FL2 is compensated: FL1 spills 0.5 of itself into FL2. Event 0: FL1 = 2, FL2 = 2 -> <FL2> = 1: inside P;
    # event 1: FL1 = 2, FL2 = 3 -> <FL2> = 2: inside; event 2: FL1 = 4 (x beyond 3): outside;
    # event 3: FL1 = 0, FL2 = 4 -> <FL2> = 4: outside. R (1 <= FL1 < 5) holds events 0 and 1 of P.
    events = np.array([[2.0, 2.0], [2.0, 3.0], [4.0, 3.0], [0.0, 4.0]])
    masks = gate_events(events, ["FL1", "FL2"], sample.strategy)
    assert masks["/P"].tolist() == [True, True, False, False]
    assert masks["/P/R"].tolist() == [True, True, False, False]
    # float data: a range bound is not moved onto a channel (no half-channel shift)
    gate = next(n.gate for n in sample.strategy.nodes if n.gate.name == "R")
    assert isinstance(gate, RectangleGate) and gate.mins[0] == pytest.approx(9 / 16)


def test_a_calibration_table_maps_data_to_channels_and_round_trips() -> None:
    import numpy as np

    from immunolab.flow.transforms import (
        CalibrationTable,
        TransformParameterError,
        transform_from_dict,
    )

    table = CalibrationTable(tuple(-8.0 + 2 * c for c in range(9)), 8)
    assert table.apply(np.array([-8.0, 0.0, 1.0, 8.0, 20.0, -50.0])).tolist() == [0.0, 0.5, 0.5625, 1.0, 1.0, 0.0]
    assert table.inverse(np.array([0.5625])).tolist() == [1.0]
    assert transform_from_dict(table.to_dict()) == table
    with pytest.raises(TransformParameterError):
        CalibrationTable((0.0, 1.0, 1.0), 2)


@pytest.mark.parametrize(("table", "comp_id", "needle"), [
    ("0,1,1,x", "1", "not a number"),
    ("0,1,2,3", "1", "channel, value pairs"),
    ("0,1,1,2,2,2,3,5", "1", "'InputParameterTransform_Gain1_Offset1' does not increase at channel 2"),
    (_TABLE, "3", "compensation matrix 3"),
])
def test_a_broken_flowjo92_table_or_matrix_reference_is_iml_fcs_013(table: str, comp_id: str, needle: str) -> None:
    pops = ('<Population name="R" count="1"><PolygonGate><Range name="R" xAxisName="FL1"><Polygon>'
            '<Vertex x="1" y="0.5"/><Vertex x="5" y="0.5"/></Polygon></Range></PolygonGate></Population>')
    with pytest.raises(InputError) as info:
        parse_flowjo_workspace(_v92(pops, table=table, comp_id=comp_id), label="old.xml")
    assert info.value.code == "IML-FCS-013" and needle in info.value.message


@pytest.mark.parametrize("compensated_first", [False, True])
def test_a_channel_gated_raw_and_compensated_on_two_scales_keeps_both_scales(compensated_first: bool) -> None:
    """FlowJo 9.2: FL1 raw shows on its Parameter's table, <FL1> on its own compensated table: two scales, not one.

    Whichever gate the workspace lists first.
    """
    import numpy as np

    wide = ",".join(f"{c},{-80 + 20 * c}" for c in range(9))  # <FL1>: channels 0..8 show -80..80
    raw = ('<Population name="raw" count="1"><PolygonGate><Range name="raw" xAxisName="FL1"><Polygon>'
           '<Vertex x="1" y="0.5"/><Vertex x="5" y="0.5"/></Polygon></Range></PolygonGate></Population>')
    comp = ('<Population name="comp" count="1"><PolygonGate><Range name="comp" xAxisName="&lt;FL1&gt;"><Polygon>'
            '<Vertex x="1" y="0.5"/><Vertex x="5" y="0.5"/></Polygon></Range></PolygonGate></Population>')
    pops = comp + raw if compensated_first else raw + comp
    (sample,) = parse_flowjo_workspace(_v92(pops, extra_tables=f'<Table name="M1 &lt;FL1&gt;">{wide}</Table>'),
                                       label="old.xml")
    dims = {n.gate.name: n.gate.dimensions[0] for n in sample.strategy.nodes}
    assert dims["raw"].transform != dims["comp"].transform
    scales = sample.strategy.transforms
    assert scales[dims["raw"].transform] != scales[dims["comp"].transform]
    # both ranges hold 1 <= FL1 < 5 in data units whatever the scale (<FL1> = FL1: FL1 spills only into FL2)
    masks = gate_events(np.array([[0.5, 0.0], [3.0, 0.0], [7.0, 0.0]]), ["FL1", "FL2"], sample.strategy)
    assert masks["/comp"].tolist() == masks["/raw"].tolist() == [False, True, False]


def test_a_calibration_index_counts_tables_by_position_even_an_unnamed_one() -> None:
    """calibrationIndex 2 is the second Table element, though the first has no name."""
    import numpy as np

    doubled = ",".join(f"{c},{-16 + 4 * c}" for c in range(9))  # channels 0..8 show -16..16
    data = _v92(_range_v92("R", 1, 5)).replace(b'<Table name="InputParameterTransform_Gain1_Offset1">',
                                               f"<Table>{doubled}</Table><Table>".encode())
    data = data.replace(b'calibrationIndex="1"', b'calibrationIndex="2"')
    (sample,) = parse_flowjo_workspace(data, label="old.xml")
    gate = sample.strategy.nodes[0].gate
    assert isinstance(gate, RectangleGate) and gate.mins[0] == pytest.approx(9 / 16)  # on the second (_TABLE) scale
    masks = gate_events(np.array([[0.5, 0.0], [3.0, 0.0]]), ["FL1", "FL2"], sample.strategy)
    assert masks["/R"].tolist() == [False, True]


def _range_v92(name: str, lo: float, hi: float) -> str:
    return (f'<Population name="{name}" count="1"><PolygonGate><Range name="{name}" xAxisName="FL1"><Polygon>'
            f'<Vertex x="{lo}" y="0.5"/><Vertex x="{hi}" y="0.5"/></Polygon></Range></PolygonGate></Population>')


#: measured on 2026-12-01 (docs/gating.md): FlowJo 9.2's count minus ours, for the populations outside 0.5 % or 5 events
A2004_MISSES = {"/Live/Monocytes": 34, "/Live/Monocytes/IL-12+": 6}


def test_the_flowjo92_a2004_workspace_of_flowworkspacedata_when_present() -> None:
    """A real FlowJo 9.2 workspace (RGLab flowWorkspaceData, not in ../shared/data): 16 of 18 counts within tolerance.

    Set IMMUNOLAB_FLOWWORKSPACEDATA to that package's inst/extdata folder (A2004Analysis.xml and
    a2004_O1T2pb05i_A2_A02.fcs) to run it; the misses are pinned, not hidden.
    """
    import os

    folder = os.environ.get("IMMUNOLAB_FLOWWORKSPACEDATA")
    if not folder or not (Path(folder) / "a2004_O1T2pb05i_A2_A02.fcs").is_file():
        pytest.skip("set IMMUNOLAB_FLOWWORKSPACEDATA to flowWorkspaceData's inst/extdata")
    samples = {s.file_name: s for s in read_flowjo_workspace(Path(folder) / "A2004Analysis.xml")}
    sample = samples["a2004_O1T2pb05i_A2_A02.fcs"]
    data = read_fcs(Path(folder) / "a2004_O1T2pb05i_A2_A02.fcs")
    masks = gate_events(data.preprocessed(), data.pnn, sample.strategy, label="A2")
    assert len(sample.flowjo_counts) == 18
    off = {p: c - int(masks[p].sum()) for p, c in sample.flowjo_counts.items()
           if abs(int(masks[p].sum()) - c) > max(5, 0.005 * c)}
    assert off == A2004_MISSES
