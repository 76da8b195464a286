"""Gating-ML 2.0 import: structure of the imported strategy and IML-FCS-013 on bad documents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from immunolab.errors import InputError
from immunolab.flow.gates import BooleanGate, QuadrantGate, RectangleGate
from immunolab.flow.gatingml import parse_gatingml, read_gatingml
from immunolab.flow.transforms import Logicle
from tests.flow import test_gatingml_factory as gml

FSC = ("FSC-A", "uncompensated", None)
SSC = ("SSC-A", "uncompensated", None)


def test_paths_follow_parent_ids_even_when_children_come_first() -> None:
    doc = gml.document(
        gml.rectangle("Child", [(SSC, 1.0, None)], parent="Parent"),
        gml.rectangle("Parent", [(FSC, 0.0, 10.0)]),
    )
    strategy = parse_gatingml(doc, name="panel")
    assert strategy.population_paths() == ["/Parent", "/Parent/Child"]
    assert strategy.name == "panel"


def test_transform_parameters_and_compensation_refs_are_kept() -> None:
    doc = gml.document(
        gml.transform("L", "logicle", T=10000, W=0.7, M=4.2, A=0.1),
        gml.spectrum_matrix("M", ["FITC", "PE"], ["FL1-A", "FL2-A"], np.array([[1.0, 0.2], [0.1, 1.0]])),
        gml.rectangle("R", [(("FL1-A", "M", "L"), 0.2, None)]),
    )
    strategy = parse_gatingml(doc)
    assert strategy.transforms["L"] == Logicle(t=10000, w=0.7, m=4.2, a=0.1)
    matrix = strategy.matrices["M"]
    assert matrix.channels == ("FL1-A", "FL2-A") and matrix.fluorochromes == ("FITC", "PE")
    gate = strategy.nodes[0].gate
    assert isinstance(gate, RectangleGate)
    assert gate.dimensions[0].compensation == "M" and gate.dimensions[0].transform == "L"


def test_quadrant_with_several_divider_values_finds_the_bracketing_range() -> None:
    doc = gml.document(
        gml.quadrant(
            "Q",
            [("d", FSC, [10.0, 5.0]), ("e", SSC, [0.0])],
            [("Mid", [("d", 7.0), ("e", 1.0)]), ("Low", [("d", 1.0), ("e", -1.0)]), ("High", [("d", 10.0), ("e", 1.0)])],
        ),
        gml.rectangle("InMid", [(FSC, 6.0, None)], parent="Mid"),
    )
    strategy = parse_gatingml(doc)
    gate = strategy.nodes[0].gate
    assert isinstance(gate, QuadrantGate)
    ranges = {q.id: q.ranges for q in gate.quadrants}
    assert ranges["Mid"] == (("d", 5.0, 10.0), ("e", 0.0, None))
    assert ranges["Low"] == (("d", None, 5.0), ("e", None, 0.0))
    assert ranges["High"] == (("d", 10.0, None), ("e", 0.0, None))
    assert "/Mid/InMid" in strategy.population_paths()


def test_boolean_references_resolve_to_population_paths() -> None:
    doc = gml.document(
        gml.rectangle("A", [(FSC, 0.0, None)]),
        gml.rectangle("B", [(SSC, 0.0, None)], parent="A"),
        gml.boolean("NotB", "and", [("A", False), ("B", True)]),
    )
    gate = parse_gatingml(doc).nodes[-1].gate
    assert isinstance(gate, BooleanGate)
    assert gate.refs == (("/A", False), ("/A/B", True))


BAD_DOCUMENTS = {
    "not xml": "<gating:Gating-ML",
    "wrong root": "<root/>",
    "no gates": gml.document(),
    "unknown parent": gml.document(gml.rectangle("R", [(FSC, 0.0, None)], parent="Ghost")),
    "bad number": gml.document(gml.rectangle("R", [(FSC, 0.0, None)]).replace('"0.0"', '"zero"')),
    "unknown transform ref": gml.document(gml.rectangle("R", [(("FSC-A", "uncompensated", "Nope"), 0.0, None)])),
    "unsupported transform": gml.document(gml.transform("T", "fwhatever", T=1.0)),
    "bad logicle": gml.document(gml.transform("T", "logicle", T=262144, W=4, M=4.5, A=0)),
    "boolean cycle": gml.document(gml.boolean("A", "not", [("B", False)]), gml.boolean("B", "not", [("A", False)])),
    "parent cycle": gml.document(gml.rectangle("A", [(FSC, 0.0, None)], parent="B"), gml.rectangle("B", [(FSC, 0.0, None)], parent="A")),
    "duplicate id": gml.document(gml.rectangle("A", [(FSC, 0.0, None)]), gml.rectangle("A", [(SSC, 0.0, None)])),
    "two-vertex polygon": gml.document(gml.polygon("P", (FSC, SSC), [(0.0, 0.0), (1.0, 1.0)])),
    "non-square matrix": gml.document(gml.spectrum_matrix("M", ["a"], ["FL1", "FL2"], np.array([[1.0, 0.1]]))),
    "singular ellipse": gml.document(gml.ellipsoid("E", [FSC, SSC], [0.0, 0.0], [[1.0, 1.0], [1.0, 1.0]], 1.0)),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_bad_documents_are_iml_fcs_013_naming_the_file(case: str) -> None:
    with pytest.raises(InputError) as info:
        parse_gatingml(BAD_DOCUMENTS[case], label="strategy.xml")
    assert info.value.code == "IML-FCS-013"
    assert "strategy.xml" in str(info.value)


def test_unreadable_file_is_iml_fcs_013(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_gatingml(tmp_path / "missing.xml")
    assert info.value.code == "IML-FCS-013"


def test_read_gatingml_names_the_strategy_after_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tcell_panel.xml"
    path.write_text(gml.document(gml.rectangle("R", [(FSC, 0.0, None)])))
    assert read_gatingml(path).name == "tcell_panel"
