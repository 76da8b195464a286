"""Gating-ML export: valid xs:ID ids for any name, names restored on reading, coded refusals."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import immunolab
from immunolab.cli import main
from immunolab.errors import ERROR_CODES, InputError
from immunolab.flow.gates import Dimension, EllipsoidGate, RectangleGate
from immunolab.flow.gatingml import parse_gatingml
from immunolab.flow.strategy import GateNode, Strategy
from immunolab.flow.transforms import FlowJoBiex, Linear
from immunolab.interop import gatingml_bytes, to_flowkit, write_gatingml
from immunolab.interop.gatingml_write import xml_id
from tests.flow import independent_sim
from tests.interop.helpers import one_file_store


def _scatter_strategy(name: str, hi: float, *, children: tuple[str, ...] = ()) -> Strategy:
    fsc = Dimension("FSC-A", "uncompensated", "lin")
    nodes = [GateNode("/", RectangleGate(name, (fsc,), (0.0,), (hi,)))]
    nodes += [GateNode(f"/{name}", RectangleGate(c, (Dimension("SSC-A"),), (0.0,), (None,))) for c in children]
    return Strategy("scatter", tuple(nodes), {"lin": Linear(t=262144.0)})


def test_ids_are_xml_names_unique_across_the_document() -> None:
    taken: set[str] = set()
    ids = [xml_id(n, taken) for n in ("CD4+", "CD4_pos", "1st gate", "T cells", "CD4+", "+", "a/b")]
    assert ids == ["CD4_pos", "CD4_pos_2", "g_1st_gate", "T_cells", "CD4_pos_3", "pos", "a_b"]


def test_the_same_name_under_two_parents_round_trips_with_its_paths() -> None:
    fsc, ssc = Dimension("FSC-A"), Dimension("SSC-A")
    nodes = (GateNode("/", RectangleGate("A", (fsc,), (0.0,), (10.0,))),
             GateNode("/", RectangleGate("B", (fsc,), (10.0,), (None,))),
             GateNode("/A", RectangleGate("CD4+", (ssc,), (0.0,), (5.0,))),
             GateNode("/B", RectangleGate("CD4+", (ssc,), (0.0,), (5.0,))))
    s = Strategy("dup", nodes)
    back = parse_gatingml(gatingml_bytes(s), name="dup")
    assert back.population_paths() == ["/A", "/B", "/A/CD4+", "/B/CD4+"] and back.strategy_id == s.strategy_id


def test_what_gatingml_cannot_express_is_refused_with_iml_int_001(tmp_path: Path) -> None:
    biex = Strategy("wsp", (GateNode("/", RectangleGate("Cells", (Dimension("FSC-A", transform="b"),), (0.0,), (9.0,))),),
                    {"b": FlowJoBiex()})
    inverted = Strategy("inv", (GateNode("/", RectangleGate("Out", (Dimension("FSC-A"),), (0.0,), (9.0,), complement=True)),))
    binned = Strategy("fj9", (GateNode("/", EllipsoidGate("E", (Dimension("FSC-A"), Dimension("SSC-A")), (0.5, 0.5),
                                                          ((0.01, 0.0), (0.0, 0.01)), 1.0, whole_bins=256)),))
    for s, word in ((biex, "flowjo_biex"), (inverted, "inverted"), (binned, "whole display-grid cells")):
        with pytest.raises(InputError) as err:
            write_gatingml(s, tmp_path / "x.xml", label="panel P")
        assert err.value.code == "IML-INT-001" and word in err.value.message and err.value.path == "panel P"
    assert "IML-INT-001" in ERROR_CODES and not (tmp_path / "x.xml").exists()


def _tube(tmp: Path, seed: int, name: str) -> tuple[Path, independent_sim.Tube]:
    tube = independent_sim.simulate_tube(np.random.default_rng(seed), 5_000)
    tube.pnn[0], tube.pnn[1] = "FSC-A", "SSC-A"  # the strategies below gate on these detectors
    return independent_sim.write_tube(tmp / name, tube), tube


def test_per_sample_gate_trees_export_one_sample_at_a_time_iml_int_006(tmp_path: Path) -> None:
    from immunolab.ingest import ingest_paths

    a, _ = _tube(tmp_path, 1, "a.fcs")
    b, _ = _tube(tmp_path, 2, "b.fcs")
    manifest = tmp_path / "m.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "sample_id", "patient_id", "visit_day", "specimen", "panel"])
        w.writerows([["a.fcs", "SA", "001", 0, "PBMC", "P"], ["b.fcs", "SB", "002", 0, "PBMC", "P"]])
    subjects = tmp_path / "s.csv"
    subjects.write_text("patient_id,arm,age,sex\n001,MSC,40,F\n002,control,41,M\n")
    store = tmp_path / "store"
    for fcs, hi in ((a, 0.5), (b, 0.7)):  # each file gated at ingest with its own gates, as from a workspace
        xml = write_gatingml(_scatter_strategy("Cells", hi, children=("CD4+",)), tmp_path / f"{fcs.stem}.xml")
        rep = ingest_paths([fcs], store=store, manifest=manifest, subjects=subjects, strategy=str(xml))
        assert rep.counts["OK"] == 1
    run = CliRunner().invoke(main, ["flow", "export-strategy", "--store", str(store), "--panel", "P", "--out",
                                    str(tmp_path / "p.xml")])
    assert run.exit_code == 1 and "IML-INT-006" in run.output and "--sample" in run.output
    ok = CliRunner().invoke(main, ["flow", "export-strategy", "--store", str(store), "--panel", "P", "--sample", "SB",
                                   "--out", str(tmp_path / "sb.xml"), "--json"])
    assert ok.exit_code == 0, ok.output
    back = parse_gatingml((tmp_path / "sb.xml").read_bytes())
    assert back.population_paths() == ["/Cells", "/Cells/CD4+"]
    assert back.nodes[0].gate.maxs == (0.7,)  # type: ignore[attr-defined]


def test_a_matrix_file_the_store_does_not_keep_must_be_passed_again_iml_int_004(tmp_path: Path) -> None:
    fcs, tube = _tube(tmp_path, 3, "t.fcs")
    matrix = tmp_path / "comp.csv"
    with matrix.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(tube.spill_names)
        w.writerows(tube.spill.tolist())
    xml = write_gatingml(_scatter_strategy("Cells", 0.6), tmp_path / "s.xml")
    store = one_file_store(tmp_path, fcs, sample_id="S4", strategy=str(xml), comp=str(matrix))
    s = immunolab.open_store(store)
    with pytest.raises(InputError) as err:
        to_flowkit(s, "S4")
    assert err.value.code == "IML-INT-004" and "comp=" in (err.value.hint or "")
    sample, strategy = to_flowkit(s, "S4", comp=matrix)
    assert np.allclose(sample.compensation.matrix, tube.spill)
    assert [g for g, _ in strategy.get_gate_ids()] == ["Cells"]


def test_export_strategy_overwrites_its_own_file_but_refuses_another_without_force_iml_in_010(tmp_path: Path) -> None:
    fcs, _ = _tube(tmp_path, 4, "t.fcs")
    xml = write_gatingml(_scatter_strategy("Cells", 0.6), tmp_path / "gates.xml")
    store = one_file_store(tmp_path, fcs, sample_id="S5", panel="P", strategy=str(xml))

    def export(out: Path, *extra: str):
        return CliRunner().invoke(main, ["flow", "export-strategy", "--store", str(store), "--panel", "P",
                                         "--out", str(out), *extra])

    mine = tmp_path / "p.xml"
    assert export(mine).exit_code == 0 and export(mine).exit_code == 0  # immunolab wrote it: written again
    notes = tmp_path / "notes.xml"
    notes.write_text("<notes>the lab's own file</notes>\n")
    refused = export(notes)
    assert refused.exit_code == 1 and f"IML-IN-010 {notes}:" in refused.output and "--force" in refused.output
    assert notes.read_text() == "<notes>the lab's own file</notes>\n"
    assert export(notes, "--force").exit_code == 0
    assert parse_gatingml(notes.read_bytes()).population_paths() == ["/Cells"]
