"""Kit definitions: the six shipped kits load with the facts their sources give; bad files fail coded."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from immunolab.beads.kits import available_kits, load_kit, parse_kit
from immunolab.errors import ERROR_CODES, InputError

SHIPPED = (
    "bd_cba_hu_inflammatory_cytokines",
    "bd_cba_hu_th1_th2_th17",
    "legendplex_hu_antivirus_13plex",
    "legendplex_hu_inflammation_13plex",
    "legendplex_hu_th_cytokine_13plex",
    "macsplex_cytokine_12",
)


def _minimal() -> dict:
    return {
        "format": "immunolab-bead-kit/1", "kit_id": "lab_kit", "name": "Lab kit", "vendor": "lab", "platform": "x",
        "channels": {"scatter": {"fsc": ["FSC"], "ssc": ["SSC"]},
                     "classifiers": [{"name": "APC", "hints": ["APC"]}], "reporter": {"name": "PE", "hints": ["PE"]}},
        "bead_groups": [{"name": "A", "beads": [{"id": "A1", "analyte": "IL-6"}, {"id": "A2", "analyte": "IL-10"}]}],
        "standards": {"levels": 7, "top_concentration": 10000, "dilution_factor": 4},
    }


def test_the_six_kits_named_in_the_issue_are_shipped() -> None:
    assert tuple(available_kits()) == SHIPPED
    for kit_id in SHIPPED:
        kit = load_kit(kit_id)
        assert kit.kit_id == kit_id and kit.beads and kit.sources


def test_legendplex_inflammation_panel_has_the_beadplexr_bead_map_and_standards() -> None:
    kit = load_kit("legendplex_hu_inflammation_13plex")
    assert [g.name for g in kit.groups] == ["A", "B"]
    assert [(b.bead_id, b.analyte) for b in kit.beads] == [
        ("A4", "IL-1b"), ("A5", "IFN-a2"), ("A6", "IFN-g"), ("A7", "TNF-a"), ("A8", "MCP-1"), ("A10", "IL-6"),
        ("B2", "IL-8"), ("B3", "IL-10"), ("B4", "IL-12p70"), ("B5", "IL-17A"), ("B6", "IL-18"), ("B7", "IL-23"),
        ("B9", "IL-33"),
    ]
    assert kit.standard_concentration("IL-6", 7) == 10000.0
    assert kit.standard_concentration("IL-6", 1) == pytest.approx(2.44140625)
    assert kit.standard_concentration("IL-33", 7) == 50000.0
    assert kit.standard_concentration("IL-6", 0) == 0.0
    assert kit.reporter.name == "PE" and kit.classifiers[0].name == "APC" and kit.bead_map_verified


def test_antivirus_panel_converts_its_ng_per_ml_standards_to_pg_per_ml() -> None:
    kit = load_kit("legendplex_hu_antivirus_13plex")
    assert kit.standard_concentration("IL-1b", 7) == 10000.0
    assert kit.standard_concentration("IL-28A/B", 7) == 50000.0
    assert kit.standard_concentration("IL-28A/B", 1) == pytest.approx(12.20703125)


def test_kits_whose_bead_order_is_not_public_say_so() -> None:
    for kit_id in ("bd_cba_hu_inflammatory_cytokines", "bd_cba_hu_th1_th2_th17", "macsplex_cytokine_12"):
        kit = load_kit(kit_id)
        assert not kit.bead_map_verified and kit.notes
    macs = load_kit("macsplex_cytokine_12")
    assert len(macs.classifiers) == 2 and macs.reporter.name == "APC"
    assert not macs.standards.known and macs.standard_concentration("IL-6", 3) is None
    cba = load_kit("bd_cba_hu_inflammatory_cytokines")
    assert cba.catalog == "551811" and len(cba.groups) == 1 and len(cba.beads) == 6


def test_a_lab_written_kit_file_loads_from_its_path(tmp_path: Path) -> None:
    path = tmp_path / "my_kit.yaml"
    path.write_text(yaml.safe_dump(_minimal()), "utf-8")
    kit = load_kit(path)
    assert kit.kit_id == "lab_kit" and kit.analytes == ("IL-6", "IL-10") and kit.source == "my_kit.yaml"
    assert not kit.bead_map_verified  # not claimed by the file


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.update(format="v0"), "'format'"),
        (lambda d: d.update(kit_id="Bad Id"), "kit_id"),
        (lambda d: d["bead_groups"][0]["beads"].append({"id": "A1", "analyte": "TNF"}), "A1"),
        (lambda d: d["bead_groups"][0]["beads"][0].update(levels=[1, 2]), "level"),
        (lambda d: d["standards"].update(dilution_factor=1), "dilution_factor"),
        (lambda d: d.update(units="mg/dl"), "units"),
        (lambda d: d["channels"].update(classifiers=[]), "classifiers"),
        (lambda d: d.pop("standards"), "standards"),
    ],
)
def test_an_invalid_kit_definition_is_iml_bead_001_naming_the_problem(edit, needle: str) -> None:
    data = _minimal()
    edit(data)
    with pytest.raises(InputError) as info:
        parse_kit(data, source="lab.yaml")
    assert info.value.code == "IML-BEAD-001" and "IML-BEAD-001" in ERROR_CODES
    assert info.value.path == "lab.yaml" and needle in info.value.message and info.value.hint


def test_a_kit_file_that_is_not_yaml_is_iml_bead_001_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("format: immunolab-bead-kit/1\nkit_id: [unclosed\n", "utf-8")
    with pytest.raises(InputError) as info:
        load_kit(path)
    assert info.value.code == "IML-BEAD-001" and "line" in info.value.message


def test_an_unknown_kit_name_is_iml_bead_002_listing_the_shipped_kits() -> None:
    with pytest.raises(InputError) as info:
        load_kit("legendplex_mouse_everything")
    assert info.value.code == "IML-BEAD-002" and "IML-BEAD-002" in ERROR_CODES
    assert "legendplex_hu_inflammation_13plex" in (info.value.hint or "")


def test_a_kit_file_that_does_not_exist_is_iml_bead_001_naming_the_path_as_typed(tmp_path: Path) -> None:
    typed = str(tmp_path / "nonexist.yaml")
    with pytest.raises(InputError) as info:
        load_kit(typed)
    assert info.value.code == "IML-BEAD-001"
    assert f"the bead kit file {typed} does not exist" in info.value.message
    assert "FileNotFoundError" not in str(info.value) and "Fix the file" not in (info.value.hint or "")
