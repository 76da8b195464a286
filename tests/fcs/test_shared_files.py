"""Every real FCS file in ../shared/data/flow is read with its expected values, or rejected with a named code."""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import numpy as np
import pytest

from immunolab.errors import ERROR_CODES, InputError
from immunolab.fcs.reader import read_fcs
from tests.conftest import SHARED_DATA, shared_path

pytestmark = pytest.mark.shared_data

FLOWIO = ("flow", "flowio", "data", "fcs_files")
TRUTH = ("flow", "flowio", "data", "truth")
FLOWKIT = ("flow", "flowkit", "data")

#: relative path under flow/ -> (outcome, detail): ("read", (n_events, n_channels)) or ("reject", code)
EXPECTED: dict[str, tuple[str, object]] = {
    "flowio/data/fcs_files/3FITC_4PE_004.fcs": ("read", (94569, 4)),
    "flowio/data/fcs_files/100715.fcs": ("read", (65016, 16)),
    "flowio/data/fcs_files/data1.fcs": ("read", (13367, 8)),
    "flowio/data/fcs_files/B01 KC-A-W---91-US.fcs": ("read", (1589, 14)),
    "flowio/data/fcs_files/G11.fcs": ("read", (5785, 12)),
    "flowio/data/fcs_files/variable_int_example.fcs": ("read", (2, 26)),
    "flowio/data/fcs_files/coulter.lmd": ("read", (18110, 8)),
    "flowio/data/fcs_files/data_start_offset_discrepancy_example.fcs": ("reject", "IML-FCS-009"),
    "flowio/data/fcs_files/data_stop_offset_discrepancy_example.fcs": ("reject", "IML-FCS-009"),
    "flowkit/data/100715.fcs": ("read", (65016, 16)),
    "flowkit/data/test_comp_example.fcs": ("read", (10703, 18)),
    "flowkit/data/test_data_2d_01.fcs": ("read", (10000, 2)),
    "flowkit/data/index_sorted/index_sorted_example.fcs": ("read", (384, 13)),
    "flowkit/data/multi_dataset_fcs/coulter.lmd": ("read", (18110, 8)),
    "flowkit/data/noncompliant/data_start_offset_discrepancy_example.fcs": ("reject", "IML-FCS-009"),
    "flowkit/data/noncompliant/data_stop_offset_discrepancy_example.fcs": ("reject", "IML-FCS-009"),
    "flowkit/data/simple_diamond_example/test_data_diamond_01.fcs": ("read", (200000, 2)),
    "flowkit/data/simple_line_example/data_set_simple_line_100.fcs": ("read", (100, 2)),
    "flowkit/data_historical/4_color_beads/Compensation Controls_Blue B Stained Control_005.fcs": ("read", (5000, 11)),
    "flowkit/data_historical/4_color_beads/Compensation Controls_Green A Stained Control_006.fcs": ("read", (5000, 11)),
    "flowkit/data_historical/4_color_beads/Compensation Controls_Red A Stained Control_004.fcs": ("read", (5000, 11)),
    "flowkit/data_historical/4_color_beads/Compensation Controls_Red B Stained Control_003.fcs": ("read", (5000, 11)),
    "flowcal/test/Data001.fcs": ("read", (20949, 6)),
    "flowcal/test/Data002.fcs": ("read", (20000, 9)),
    "flowcal/test/Data003.fcs": ("read", (25000, 8)),
    "flowcal/test/Data004.fcs": ("read", (50000, 14)),
    "flowcap_gvhd/fcs/001.fcs": ("read", (13831, 6)),
    "flowcap_gvhd/fcs/002.fcs": ("read", (14936, 6)),
    "flowcap_gvhd/fcs/003.fcs": ("read", (15227, 6)),
    "flowcap_gvhd/fcs/004.fcs": ("read", (12751, 6)),
    "flowcap_gvhd/fcs/005.fcs": ("read", (17008, 6)),
    "flowcap_gvhd/fcs/006.fcs": ("read", (14806, 6)),
    "labkey_treg/version3_1_spillover.fcs": ("read", (43750, 14)),
    "flowjo_tutorial/931115-B01- Sample 01.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-B02- Sample 01.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-B07- Sample 01.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-B08- Sample 01.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-C01- Sample 02.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-C02- Sample 02.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-C07- Sample 02.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-C08- Sample 02.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-D01- Sample 03.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-D02- Sample 03.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-D07- Sample 03.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-D08- Sample 03.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-E01- Sample 04.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-E02- Sample 04.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-E07- Sample 04.fcs": ("read", (10000, 5)),
    "flowjo_tutorial/931115-E08- Sample 04.fcs": ("read", (10000, 5)),
}


def _flow_files() -> list[str]:
    root = SHARED_DATA / "flow"
    if not root.exists():
        return []
    found = [p for p in root.rglob("*") if p.suffix.lower() in (".fcs", ".lmd")]
    return sorted(str(p.relative_to(root)) for p in found)


def test_every_shared_flow_file_has_an_expectation() -> None:
    files = _flow_files()
    if not files:
        pytest.skip("shared instrument data not available")
    assert sorted(EXPECTED) == files


@pytest.mark.parametrize("relpath", sorted(EXPECTED))
def test_shared_file_reads_with_expected_shape_or_is_rejected_with_its_code(relpath: str) -> None:
    path = shared_path("flow", *relpath.split("/"))
    outcome, detail = EXPECTED[relpath]
    if outcome == "read":
        data = read_fcs(path)
        assert data.events is not None
        assert data.events.shape == detail
        assert data.n_events == int(data.keywords["$TOT"].strip())
        assert all(c.pnn for c in data.channels)
    else:
        with pytest.raises(InputError) as info:
            read_fcs(path)
        assert info.value.code == detail
        assert info.value.code in ERROR_CODES
        assert path.name in str(info.value)


def test_flowcal_shapes_match_expected_csv() -> None:
    table = shared_path("flow", "flowcal", "EXPECTED_flowcal_tests.csv")
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    for row in rows:
        data = read_fcs(shared_path("flow", "flowcal", "test", row["file"]))
        n, p = (int(x) for x in row["expected_shape_events_x_channels"].split("x"))
        assert data.events is not None and data.events.shape == (n, p)
        assert data.version == row["fcs_version"]


def test_data1_raw_events_equal_truth_and_preprocessed_match_flowio() -> None:
    data = read_fcs(shared_path(*FLOWIO, "data1.fcs"))
    raw = np.load(shared_path(*TRUTH, "data1_original_events.npy"))
    pre = np.load(shared_path(*TRUTH, "data1_preprocessed.npy"))
    assert data.events is not None
    np.testing.assert_array_equal(data.events, raw)
    np.testing.assert_allclose(data.preprocessed(), pre, rtol=1e-12, atol=1e-9)


def test_data1_empty_keyword_values_are_read_as_empty_strings() -> None:
    data = read_fcs(shared_path(*FLOWIO, "data1.fcs"), events=False)
    empty = [k for k, v in data.keywords.items() if v == ""]
    assert len(empty) == 4
    assert data.keywords["$TOT"] == "13367"


def test_accuri_b01_preprocessed_applies_timestep_and_equals_truth() -> None:
    data = read_fcs(shared_path(*FLOWIO, "B01 KC-A-W---91-US.fcs"))
    truth = np.load(shared_path(*TRUTH, "B01 KC-A-W---91-US_preprocessed_events.npy"))
    assert data.time_index == 13 and data.timestep == pytest.approx(0.1)
    np.testing.assert_allclose(data.preprocessed(), truth, rtol=1e-12, atol=0)


def test_variable_int_example_reads_two_events_masked_by_pnr() -> None:
    path = shared_path(*FLOWIO, "variable_int_example.fcs")
    data = read_fcs(path)
    assert data.events is not None and data.events.shape == (2, 26)
    assert [c.bits for c in data.channels] == [16] * 25 + [32]
    blob = path.read_bytes()
    fmt = "<" + "H" * 25 + "I"
    rows = [struct.unpack_from(fmt, blob, 6081 + 54 * i) for i in range(2)]
    expected = np.array(rows, dtype=np.uint64)
    expected[:, 25] &= (1 << 24) - 1  # $P26R = 11209599 -> 24 bits
    np.testing.assert_array_equal(data.events, expected)
    assert any("$TIMESTEP" in w for w in data.warnings)
    assert data.preprocessed().shape == (2, 26)


def test_coulter_lmd_defaults_to_the_fcs30_data_set_and_says_so() -> None:
    path = shared_path(*FLOWIO, "coulter.lmd")
    data = read_fcs(path)
    assert (data.n_datasets, data.dataset_index, data.version) == (2, 1, "3.0")
    assert any("2 data sets" in w for w in data.warnings)
    assert [c.bits for c in data.channels] == [32] * 8


def test_coulter_lmd_first_data_set_is_chosen_explicitly_and_has_an_off_by_one_end() -> None:
    data = read_fcs(shared_path(*FLOWIO, "coulter.lmd"), dataset=0)
    assert (data.dataset_index, data.version) == (0, "2.0")
    assert data.events is not None and data.events.shape == (18110, 8)
    assert any(t.startswith("data_end_off_by_one") for t in data.tolerances)


def test_coulter_lmd_unknown_data_set_is_iml_fcs_008() -> None:
    with pytest.raises(InputError) as info:
        read_fcs(shared_path(*FLOWIO, "coulter.lmd"), dataset=2)
    assert info.value.code == "IML-FCS-008"


@pytest.mark.parametrize("name", ["data_start_offset_discrepancy_example.fcs", "data_stop_offset_discrepancy_example.fcs"])
def test_noncompliant_offsets_read_only_with_accept_offset_error_and_record_it(name: str) -> None:
    path = shared_path(*FLOWKIT, "noncompliant", name)
    data = read_fcs(path, accept_offset_error=True)
    reference = read_fcs(shared_path(*FLOWIO, "variable_int_example.fcs"))
    assert data.events is not None and reference.events is not None
    np.testing.assert_array_equal(data.events, reference.events)
    assert len(data.tolerances) == 1 and data.tolerances[0].startswith("accept_offset_error")
    assert "TEXT used" in data.tolerances[0]


def test_test_comp_example_off_by_one_end_is_recovered_and_recorded() -> None:
    data = read_fcs(shared_path(*FLOWKIT, "test_comp_example.fcs"))
    assert data.tolerances == ["data_end_off_by_one: DATA end offset is one byte past the last event; extra byte ignored"]
    comp_csv = shared_path(*FLOWKIT, "comp_complete_example.csv")
    header = comp_csv.read_text().splitlines()[0].split(",")
    spill = data.spillover()
    assert spill is not None and spill.keyword == "SPILL"
    assert spill.channels == header
    assert spill.matrix.shape == (14, 14)


def test_data003_24_bit_integers_are_decoded_big_endian() -> None:
    path = shared_path("flow", "flowcal", "test", "Data003.fcs")
    data = read_fcs(path)
    assert [c.bits for c in data.channels] == [24] * 8
    blob = path.read_bytes()
    first = [int.from_bytes(blob[4096 + 3 * j : 4099 + 3 * j], "big") for j in range(8)]
    last_at = 4096 + 24 * 24999
    last = [int.from_bytes(blob[last_at + 3 * j : last_at + 3 + 3 * j], "big") & 1023 for j in range(1, 8)]
    assert data.events is not None
    assert data.events[0].tolist() == [first[0]] + [v & 1023 for v in first[1:]]
    assert data.events[-1, 1:].tolist() == last


@pytest.mark.parametrize(
    ("relpath", "keyword", "n"),
    [
        ("flowio/data/fcs_files/100715.fcs", "SPILL", 13),
        ("flowio/data/fcs_files/G11.fcs", "$SPILLOVER", 5),
        ("flowio/data/fcs_files/B01 KC-A-W---91-US.fcs", "$SPILLOVER", 8),
        ("flowkit/data_historical/4_color_beads/Compensation Controls_Red A Stained Control_004.fcs", "SPILL", 4),
    ],
)
def test_embedded_spillover_parses_onto_pnn_channels(relpath: str, keyword: str, n: int) -> None:
    data = read_fcs(shared_path("flow", *relpath.split("/")), events=False)
    spill = data.spillover()
    assert spill is not None and spill.keyword == keyword
    assert len(spill.channels) == n and set(spill.channels) <= set(data.pnn)
    assert spill.matrix.shape == (n, n)


def test_metadata_read_does_not_load_events_but_checks_sizes() -> None:
    data = read_fcs(shared_path(*FLOWIO, "G11.fcs"), events=False)
    assert data.events is None and data.n_events == 5785


def test_labels_replace_file_names_in_messages() -> None:
    path = shared_path(*FLOWKIT, "noncompliant", "data_stop_offset_discrepancy_example.fcs")
    with pytest.raises(InputError) as info:
        read_fcs(path, label="tube-7")
    assert info.value.path == "tube-7"
    assert Path(path).name not in str(info.value)
