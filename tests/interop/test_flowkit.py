"""FlowKit both ways: a strategy built in FlowKit gates the store, and the store hands sample + strategy back.

Counts must be identical event for event whichever tool gates: on a real FACSAria file of the
shared data (100715.fcs, $SPILL) and on a file of the tests' independent simulator.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import immunolab
from immunolab.cli import main
from immunolab.derive.run import derive_gating
from immunolab.errors import ERROR_CODES, InputError
from immunolab.flow.gatingml import read_gatingml
from immunolab.interop import from_flowkit, to_flowkit
from tests.conftest import shared_path
from tests.flow import independent_sim
from tests.interop.helpers import (
    NAMES,
    flowkit_counts,
    flowkit_strategy,
    one_file_store,
    store_counts,
)

fk = pytest.importorskip("flowkit")


def _real(tmp: Path) -> tuple[Path, Path, object]:
    fcs = shared_path("flow", "flowio", "data", "fcs_files", "100715.fcs")
    gs = flowkit_strategy(fcs, ("FSC-A", "SSC-A"), "R780-A", "V655-A", "V800-A")
    return fcs, one_file_store(tmp, fcs, sample_id="S-REAL"), gs


def _simulated(tmp: Path) -> tuple[Path, Path, object]:
    tube = independent_sim.simulate_tube(np.random.default_rng(7), 20_000)
    fcs = independent_sim.write_tube(tmp / "tube.fcs", tube)
    det = {m: p for p, m in zip(tube.pnn, tube.pns, strict=True) if m}
    scatter = [p for p in tube.pnn if p.upper().startswith(("FSC", "SSC"))][:2]
    gs = flowkit_strategy(fcs, scatter, det["CD3"], det["CD4"], det["CD8"])
    return fcs, one_file_store(tmp, fcs, sample_id="S-SIM"), gs


SOURCES = {"shared_100715": _real, "independent_simulator": _simulated}


@pytest.fixture(params=sorted(SOURCES))
def gated(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path, object, str]:
    fcs, store, gs = SOURCES[request.param](tmp_path)
    sid = "S-REAL" if request.param == "shared_100715" else "S-SIM"
    rep = derive_gating(immunolab.open_store(store), panel="TCELL", strategy=gs, activate=True,
                        reason="expert gates drawn in FlowKit")
    assert rep.computed == 1 and not rep.failed
    return fcs, store, gs, sid


def test_a_flowkit_strategy_object_gates_the_store_with_flowkits_own_counts(gated) -> None:
    fcs, store, gs, _sid = gated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = flowkit_counts(gs, fk.Sample(str(fcs)))
    ours = store_counts(store)
    assert set(ours) == set(NAMES)
    assert all(0 < ours[n] < 65_016 for n in NAMES), ours  # every population is non-trivial
    assert {n: theirs[n] for n in NAMES} == ours


def test_to_flowkit_returns_the_stored_sample_and_active_strategy_with_identical_counts(gated) -> None:
    _fcs, store, _gs, sid = gated
    sample, strategy = to_flowkit(immunolab.open_store(store), sid)
    assert sample.id == sid and sample.compensation is not None  # the file's $SPILL, as the store used
    assert {g for g, _ in strategy.get_gate_ids()} == {*NAMES, "CD4 x CD8"}  # names, not XML ids
    assert flowkit_counts(strategy, sample) == {**store_counts(store), **_quadrant_gate(strategy, sample)}
    assert not any(k in sample.metadata for k in ("fil", "src", "date", "btim", "op"))  # allowlist only


def _quadrant_gate(strategy: object, sample: object) -> dict[str, int]:
    counts = flowkit_counts(strategy, sample)
    return {"CD4 x CD8": counts["CD4 x CD8"]} if "CD4 x CD8" in counts else {}


def test_export_strategy_writes_schema_valid_gatingml_that_derive_gating_reads_back_losslessly(gated, tmp_path: Path) -> None:
    from flowkit._resources import gml_schema
    from lxml import etree

    _fcs, store, _gs, sid = gated
    out = tmp_path / "strategy.xml"
    res = CliRunner().invoke(main, ["flow", "export-strategy", "--store", str(store), "--panel", "TCELL", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "8 gates" in res.output or "gates" in res.output
    assert gml_schema.validate(etree.parse(str(out)))  # xs:ID ids even for CD4+ / CD3+ T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = fk.parse_gating_xml(str(out))
    sample, _ = to_flowkit(immunolab.open_store(store), sid)
    counts = flowkit_counts(parsed, sample)
    assert sorted(counts.values()) == sorted([*store_counts(store).values(), *_quadrant_gate(parsed, sample).values()])
    # the same gates, names included: derive gating finds the derivation already stored
    active = immunolab.open_store(store).to_pandas("derivation_choices")["derivation_id"].iloc[-1]
    assert read_gatingml(out).strategy_id == active
    again = derive_gating(immunolab.open_store(store), panel="TCELL", strategy=str(out))
    assert (again.derivation_id, again.computed, again.reused) == (active, 0, 1)


def test_flowkits_own_gatingml_export_is_schema_invalid_for_cd4_plus_but_immunolab_reads_it(tmp_path: Path) -> None:
    from flowkit._resources import gml_schema
    from lxml import etree

    fcs = shared_path("flow", "flowio", "data", "fcs_files", "100715.fcs")
    gs = flowkit_strategy(fcs, ("FSC-A", "SSC-A"), "R780-A", "V655-A", "V800-A")
    buf = io.BytesIO()
    fk.export_gatingml(gs, buf)
    assert not gml_schema.validate(etree.fromstring(buf.getvalue()).getroottree())  # FlowKit's bug
    path = tmp_path / "flowkit_export.xml"
    path.write_bytes(buf.getvalue())
    assert read_gatingml(path).strategy_id == from_flowkit(gs).strategy_id
    assert {p.rsplit("/", 1)[-1] for p in read_gatingml(path).population_paths()} == set(NAMES)


def test_a_template_gated_panel_has_no_fixed_gates_iml_int_002(tmp_path: Path) -> None:
    tube = independent_sim.simulate_tube(np.random.default_rng(3), 20_000)
    store = one_file_store(tmp_path, independent_sim.write_tube(tmp_path / "t.fcs", tube), sample_id="S1")
    s = immunolab.open_store(store)
    if s.to_pandas("flow_gating")["status"].iloc[0] != "ok":
        pytest.skip("the built-in template did not gate this simulated tube")
    with pytest.raises(InputError) as err:
        to_flowkit(s, "S1")
    assert err.value.code == "IML-INT-002" and "IML-INT-002" in ERROR_CODES and "template" in err.value.message
    sample, strategy = to_flowkit(s, "S1", strategy=False)
    assert strategy is None and sample.event_count == 20_000
    res = CliRunner().invoke(main, ["flow", "export-strategy", "--store", str(store), "--panel", "TCELL",
                                    "--out", str(tmp_path / "x.xml")])
    assert res.exit_code == 1 and "IML-INT-002" in res.output and "Traceback" not in res.output


def test_an_unknown_sample_is_iml_int_003_and_lists_stored_ones(gated) -> None:
    _fcs, store, _gs, sid = gated
    with pytest.raises(InputError) as err:
        to_flowkit(immunolab.open_store(store), "NOPE")
    assert err.value.code == "IML-INT-003" and sid in (err.value.hint or "")


def test_a_gate_name_used_under_two_parents_cannot_leave_flowkit_iml_int_005() -> None:
    gs = fk.GatingStrategy()
    for parent in ("A", "B"):
        gs.add_gate(fk.gates.RectangleGate(parent, [fk.Dimension("FSC-A", range_min=0.0)]), ("root",))
        gs.add_gate(fk.gates.RectangleGate("CD4+", [fk.Dimension("SSC-A", range_min=0.0)]), ("root", parent))
    with pytest.raises(InputError) as err:
        from_flowkit(gs)
    assert err.value.code == "IML-INT-005" and "CD4+" in err.value.message
    with pytest.raises(InputError) as err2:
        from_flowkit("not a strategy")
    assert err2.value.code == "IML-INT-005"
