"""FlowJo 10 workspaces: imported strategies reproduce FlowJo's counts on the shared example files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from immunolab.errors import InputError
from immunolab.flow.flowjo import parse_flowjo_workspace, read_flowjo_workspace
from immunolab.flow.gates import EllipsoidGate, PolygonGate, RectangleGate
from immunolab.flow.strategy import gate_events
from immunolab.flow.transforms import Asinh, FlowJoBiex, Linear
from tests.conftest import shared_path


def _read_events(path: Path) -> tuple[np.ndarray, list[str]]:
    try:
        from immunolab.fcs.reader import read_fcs
    except ImportError:  # the in-house reader is optional here
        flowio = pytest.importorskip("flowio")
        data = flowio.FlowData(str(path))
        return np.reshape(data.events, (-1, data.channel_count)).astype(np.float64), list(data.pnn_labels)
    fcs = read_fcs(path)
    return fcs.preprocessed(), fcs.pnn


def _expected_rows() -> list[dict[str, str]]:
    table = shared_path("flow", "flowkit", "EXPECTED_wsp_flowjo_counts_derived.csv")
    with table.open(newline="") as handle:
        return [r for r in csv.DictReader(handle) if r["gate_path"] != "root"]


def _expected_count(row: dict[str, str]) -> int:
    """Return FlowJo's count, or FlowKit's where the XML count is stale (-1 unknown, 0 not recalculated)."""
    flowjo = int(row["flowjo_count"])
    flowkit = row["flowkit_1.3.2_count"]
    if flowjo <= 0 and flowkit and int(flowkit) != flowjo:
        return int(flowkit)
    return flowjo


def _gate_counts(wsp: Path, sample_file: str) -> tuple[dict[str, int], dict[str, object]]:
    samples = read_flowjo_workspace(wsp)
    sample = next(s for s in samples if s.file_name == sample_file)
    events, names = _read_events(wsp.parent / sample_file)
    masks = gate_events(events, names, sample.strategy, label=sample_file)
    gates = {p: n.gate for n in sample.strategy.nodes for p in n.population_paths()}
    return {p: int(m.sum()) for p, m in masks.items()}, gates


def test_every_expected_flowjo_count_is_reproduced() -> None:
    rows = _expected_rows()
    assert len(rows) >= 11
    base = shared_path("flow")
    checked = 0
    cache: dict[str, tuple[dict[str, int], dict[str, object]]] = {}
    for row in rows:
        if row["wsp"] not in cache:
            cache[row["wsp"]] = _gate_counts(base / row["wsp"], row["sample_id"])
        counts, gates = cache[row["wsp"]]
        path = row["gate_path"].replace("root", "", 1)
        expected = _expected_count(row)
        ours = counts[path]
        if isinstance(gates[path], PolygonGate | EllipsoidGate):
            assert abs(ours - expected) <= max(0.005 * expected, 0), (row["wsp"], path, ours, expected)
        else:
            assert ours == expected, (row["wsp"], path, ours, expected)
        checked += 1
    assert checked == len(rows)


def test_biex_rectangle_is_gated_on_flowjo_channels() -> None:
    wsp = shared_path("flow", "flowkit", "data", "simple_diamond_example", "test_data_diamond_biex_rect.wsp")
    (sample,) = read_flowjo_workspace(wsp)
    gate = sample.strategy.nodes[0].gate
    assert isinstance(gate, RectangleGate)
    xform = sample.strategy.transforms[gate.dimensions[0].transform or ""]
    assert xform == FlowJoBiex(negative=0.0, width=-10.0, positive=4.418539922, max_value=262144.0)
    assert 0 < gate.mins[0] < gate.maxs[0] <= 4096  # type: ignore[operator]
    assert sample.flowjo_counts["/upper_right"] == 50605


def test_sample_level_gate_wins_over_the_group_template() -> None:
    # the group gate holds 50605 events, the sample's own edited gate 50559 (FlowJo's count)
    wsp = shared_path("flow", "flowkit", "data", "simple_diamond_example", "test_data_diamond_asinh_rect.wsp")
    counts, _ = _gate_counts(wsp, "test_data_diamond_01.fcs")
    assert counts["/upper_right"] == 50559
    (sample,) = read_flowjo_workspace(wsp)
    assert isinstance(next(iter(sample.strategy.transforms.values())), Asinh)


def test_flowjo_ellipse_becomes_an_exact_ellipse_on_the_display_scale() -> None:
    wsp = shared_path("flow", "flowkit", "data", "simple_line_example", "single_ellipse_51_events.wsp")
    (sample,) = read_flowjo_workspace(wsp)
    gate = sample.strategy.nodes[0].gate
    assert isinstance(gate, EllipsoidGate)
    # foci (62.77, 157.40) and (94.23, 93.60) on the 256-bin grid, linear 0-262144 scale
    assert gate.mean == pytest.approx((78.5 / 256, 125.5 / 256))
    assert isinstance(next(iter(sample.strategy.transforms.values())), Linear)


WSP_HEAD = '<?xml version="1.0"?><Workspace flowJoVersion="10.7.1" xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating" xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations" xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">'


def _workspace(populations: str, extra: str = "") -> bytes:
    return (
        WSP_HEAD
        + '<SampleList><Sample><DataSet uri="file:/x/tube%201.fcs" sampleID="3"/>'
        + extra
        + f'<SampleNode name="tube 1.fcs" sampleID="3"><Subpopulations>{populations}</Subpopulations></SampleNode>'
        + "</Sample></SampleList></Workspace>"
    ).encode()


def _rect(name: str, channel: str, lo: float, inside: str = "1", children: str = "") -> str:
    return (
        f'<Population name="{name}" count="7"><Gate><gating:RectangleGate eventsInside="{inside}">'
        f'<gating:dimension gating:min="{lo}"><data-type:fcs-dimension data-type:name="{channel}"/></gating:dimension>'
        f"</gating:RectangleGate></Gate>{children}</Population>"
    )


MATRIX = (
    '<transforms:spilloverMatrix name="Comp" prefix="Comp-" suffix="" id="m1">'
    '<data-type:parameters><data-type:parameter data-type:name="FL1"/><data-type:parameter data-type:name="FL2"/></data-type:parameters>'
    '<transforms:spillover data-type:parameter="FL1"><transforms:coefficient data-type:parameter="FL1" transforms:value="1"/>'
    '<transforms:coefficient data-type:parameter="FL2" transforms:value="0.5"/></transforms:spillover>'
    '<transforms:spillover data-type:parameter="FL2"><transforms:coefficient data-type:parameter="FL1" transforms:value="0"/>'
    '<transforms:coefficient data-type:parameter="FL2" transforms:value="1"/></transforms:spillover>'
    "</transforms:spilloverMatrix>"
)


def test_comp_prefixed_dimensions_are_compensated_with_the_workspace_matrix() -> None:
    (sample,) = parse_flowjo_workspace(_workspace(_rect("FL2pos", "Comp-FL2", 1.0), MATRIX))
    assert sample.file_name == "tube 1.fcs" and sample.sample_id == "3"
    gate = sample.strategy.nodes[0].gate
    assert isinstance(gate, RectangleGate)
    assert gate.dimensions[0].channel == "FL2" and gate.dimensions[0].compensation == "flowjo:Comp"
    # raw FL2 = true FL2 + 0.5 FL1: the first event's true FL2 is 0.5
    events = np.array([[2.0, 1.5], [2.0, 3.0]])
    assert gate_events(events, ["FL1", "FL2"], sample.strategy)["/FL2pos"].tolist() == [False, True]


def test_boolean_nodes_and_outside_gates_are_imported() -> None:
    pops = _rect("A", "FL1", 1.0) + _rect("B", "FL2", 1.0, inside="0")
    pops += '<AndNode name="AandB" count="1"><Dependents><Dependent name="A"/><Dependent name="B"/></Dependents></AndNode>'
    (sample,) = parse_flowjo_workspace(_workspace(pops))
    masks = gate_events(np.array([[2.0, 0.0], [2.0, 2.0], [0.0, 0.0]]), ["FL1", "FL2"], sample.strategy)
    assert masks["/B"].tolist() == [True, False, True]
    assert masks["/AandB"].tolist() == [True, False, False]
    assert sample.flowjo_counts["/A"] == 7


@pytest.mark.parametrize(
    "data",
    [
        b"<Workspace",
        b'<Workspace flowJoVersion="9.9"><SampleList/></Workspace>',
        (WSP_HEAD + "<SampleList/></Workspace>").encode(),
        _workspace('<Population name="X"><Gate><gating:CurlyQuad/></Gate></Population>'),
        _workspace('<AndNode name="C"><Dependents><Dependent name="Ghost"/></Dependents></AndNode>'),
        _workspace(_rect("A", "FL1", 1.0), "<Transformations><transforms:miltenyi><data-type:parameter data-type:name='FL1'/></transforms:miltenyi></Transformations>"),
    ],
)
def test_unsupported_or_broken_workspaces_are_iml_fcs_013(data: bytes) -> None:
    with pytest.raises(InputError) as info:
        parse_flowjo_workspace(data, label="study.wsp")
    assert info.value.code == "IML-FCS-013"
    assert "study.wsp" in str(info.value)


def _loaded(data: bytes) -> object:
    from immunolab.flow.pipeline import LoadedStrategy

    return LoadedStrategy("flowjo", "study", workspace=tuple(parse_flowjo_workspace(data, label="study.wsp")))


def _renamed(sample_name: str) -> bytes:
    return _workspace(_rect("A", "FL1", 1.0)).replace(b'SampleNode name="tube 1.fcs"',
                                                      f'SampleNode name="{sample_name}"'.encode())


@pytest.mark.parametrize(("data", "fil", "warned"), [
    (_workspace(_rect("A", "FL1", 1.0)), "tube 1.fcs", False),  # sample, data file and $FIL agree
    (_workspace(_rect("A", "FL1", 1.0)), None, False),  # no $FIL: nothing to check against
    (_workspace(_rect("A", "FL1", 1.0)), "Smith John 1961-04-12.fcs", True),  # the only sample is another file
    (_renamed("Smith John 1961-04-12.fcs"), "tube 1.fcs", True),  # matched by data file, named otherwise
])
def test_a_workspace_sample_named_otherwise_than_the_file_it_gates_is_warned_iml_fcs_019(
        data: bytes, fil: str | None, warned: bool) -> None:
    from types import SimpleNamespace

    from immunolab.flow.pipeline import _workspace_strategy

    fcs = SimpleNamespace(keywords={"$FIL": fil} if fil else {})
    strategy, warnings = _workspace_strategy(_loaded(data), fcs, "tube")  # type: ignore[arg-type]
    assert strategy.nodes  # the sample's gates are used either way
    assert [w.split()[0] for w in warnings] == (["IML-FCS-019"] if warned else [])
    for w in warnings:
        assert "study.wsp" in w and "Smith" not in w and "1961" not in w  # names by shape only


def test_flow_gate_warns_when_the_v10_sample_matched_by_data_file_bears_another_samples_name() -> None:
    from click.testing import CliRunner

    from immunolab.cli import main

    folder = shared_path("flow", "flowjo_tutorial")
    # in this FlowJo 10.4 workspace the sample whose data file is C01 is named "931115-D07- Sample 03.fcs"
    res = CliRunner().invoke(main, ["flow", "gate", str(folder / "931115-C01- Sample 02.fcs"),
                                    "--strategy", str(folder / "advanced-v10.4.wsp")])
    assert res.exit_code == 0, res.output
    warn = [line for line in res.stderr.splitlines() if line.startswith("WARN IML-FCS-019")]
    assert len(warn) == 1 and "931115-C01- Sample 02.fcs: FlowJo workspace advanced-v10.4.wsp" in warn[0]
    assert "D07" not in warn[0]
