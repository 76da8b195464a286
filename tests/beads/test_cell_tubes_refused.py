"""An immune-cell FCS tube is never taken for a bead well: with a bead kit it fails coded, per file."""

from __future__ import annotations

import pytest

from immunolab.beads.classify import classify_fcs_file
from immunolab.beads.kits import load_kit
from immunolab.errors import InputError
from tests.conftest import shared_path

pytestmark = pytest.mark.shared_data

CELL_FILES = [
    *[("flowcap_gvhd", "fcs", f"00{i}.fcs") for i in range(1, 7)],
    ("labkey_treg", "version3_1_spillover.fcs"),
    ("flowcal", "test", "Data001.fcs"), ("flowcal", "test", "Data002.fcs"), ("flowcal", "test", "Data004.fcs"),
    ("flowio", "data", "fcs_files", "data1.fcs"), ("flowio", "data", "fcs_files", "100715.fcs"),
    ("flowio", "data", "fcs_files", "G11.fcs"), ("flowio", "data", "fcs_files", "3FITC_4PE_004.fcs"),
    ("flowio", "data", "fcs_files", "B01 KC-A-W---91-US.fcs"),
]


@pytest.mark.parametrize("parts", CELL_FILES, ids=lambda p: p[-1])
def test_a_cell_tube_classified_with_a_bead_kit_is_iml_bead_003_or_004(parts: tuple[str, ...]) -> None:
    path = shared_path("flow", *parts)
    with pytest.raises(InputError) as info:
        classify_fcs_file(str(path), load_kit("legendplex_hu_inflammation_13plex"))
    assert info.value.code in ("IML-BEAD-003", "IML-BEAD-004")
    assert info.value.path == path.name and info.value.hint
