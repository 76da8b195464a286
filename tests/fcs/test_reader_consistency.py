"""Offsets and counts are checked, never assumed: one synthetic defect per test, one code per defect."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from immunolab.errors import ERROR_CODES, InputError
from immunolab.fcs.reader import read_fcs, read_fcs_metadata
from tests.fcs.factories import FcsSpec, base_specs, build_fcs, chain_datasets, encode_data


def _spec(name: str = "f32_le_31", **changes: object) -> FcsSpec:
    return replace(base_specs()[name], **changes)  # type: ignore[arg-type]


def _code(blob: bytes, **options: object) -> str:
    with pytest.raises(InputError) as info:
        read_fcs(blob, label="D7_tube3.fcs", **options)  # type: ignore[arg-type]
    assert info.value.code in ERROR_CODES
    assert info.value.path == "D7_tube3.fcs" and info.value.hint
    return info.value.code


def _header_field(blob: bytes, index: int, value: int) -> bytes:
    start = 10 + 8 * index
    return blob[:start] + f"{value:>8d}".encode() + blob[start + 8 :]


def test_tot_larger_than_data_is_rejected_with_iml_fcs_003() -> None:
    spec = _spec()
    blob = build_fcs(replace(spec, override={"$TOT": str(len(spec.events) + 1)}))
    assert _code(blob) == "IML-FCS-003"
    with pytest.raises(InputError) as info:
        read_fcs(blob, label="D7_tube3.fcs")
    assert "$TOT says 13 events" in info.value.message and "--accept-tot-mismatch" in (info.value.hint or "")


def test_accept_tot_mismatch_reads_the_whole_events_and_records_the_tolerance() -> None:
    spec = _spec()
    blob = build_fcs(replace(spec, override={"$TOT": str(len(spec.events) + 1)}))
    data = read_fcs(blob, accept_tot_mismatch=True)
    assert data.events is not None
    np.testing.assert_array_equal(data.events, spec.events)
    assert data.tolerances == ["accept_tot_mismatch: $TOT 13, DATA holds 12 whole events; read 12"]


def test_data_longer_than_tot_by_more_than_one_byte_is_iml_fcs_003() -> None:
    spec = _spec()
    blob = build_fcs(replace(spec, data_override=encode_data(spec) + b"\x00" * 5))
    assert _code(blob) == "IML-FCS-003"
    data = read_fcs(blob, accept_tot_mismatch=True)
    assert data.n_events == 12 and data.tolerances[0].startswith("accept_tot_mismatch")


def test_data_end_one_byte_too_far_is_recovered_and_recorded() -> None:
    spec = _spec()
    blob = build_fcs(replace(spec, data_override=encode_data(spec) + b"\x00"))
    data = read_fcs(blob)
    assert data.events is not None
    np.testing.assert_array_equal(data.events, spec.events)
    assert [t.split(":")[0] for t in data.tolerances] == ["data_end_off_by_one"]


def test_data_cut_inside_the_last_event_is_iml_fcs_003() -> None:
    spec = _spec()
    assert _code(build_fcs(replace(spec, data_override=encode_data(spec)[:-3]))) == "IML-FCS-003"


def test_file_truncated_inside_data_is_iml_fcs_007_and_whole_events_can_be_rescued() -> None:
    spec = _spec()
    blob = build_fcs(spec)[:-20]
    assert _code(blob) == "IML-FCS-007"
    data = read_fcs(blob, accept_tot_mismatch=True)
    assert data.events is not None
    np.testing.assert_array_equal(data.events, spec.events[:10])


def test_file_truncated_inside_text_is_iml_fcs_016() -> None:
    assert _code(build_fcs(_spec())[:120]) == "IML-FCS-016"


def test_header_and_text_data_offsets_disagreeing_is_iml_fcs_009() -> None:
    blob = build_fcs(_spec())
    moved = _header_field(blob, 2, int(blob[26:34]) - 4)
    assert _code(moved) == "IML-FCS-009"


def test_accept_offset_error_reads_the_offsets_consistent_with_tot() -> None:
    spec = _spec()
    blob = build_fcs(spec)
    moved = _header_field(blob, 3, int(blob[34:42]) + 500)
    data = read_fcs(moved, accept_offset_error=True)
    assert data.events is not None
    np.testing.assert_array_equal(data.events, spec.events)
    assert data.tolerances == ["accept_offset_error: HEADER and TEXT disagree on DATA offsets; TEXT used, HEADER ignored"]


def test_fcs20_text_offsets_are_checked_too() -> None:
    spec = _spec("i16_be_20", offsets_in_text=True)
    blob = build_fcs(spec)
    assert read_fcs(blob).n_events == 12
    assert _code(_header_field(blob, 3, int(blob[34:42]) - 2)) == "IML-FCS-009"


def test_zero_header_data_offsets_of_large_files_use_text_offsets_without_tolerance() -> None:
    spec = _spec()
    blob = build_fcs(replace(spec, header_override={2: b"       0", 3: b"       0"}))
    data = read_fcs(blob)
    assert data.tolerances == [] and data.n_events == 12


def test_fcs31_large_file_offsets_written_by_the_writer_are_read(tmp_path: Path) -> None:
    from immunolab.fcs.writer import build_fcs_bytes

    events = np.arange(24, dtype=np.float32).reshape(8, 3)
    blob = build_fcs_bytes(events, ["A", "B", "C"])
    zeroed = blob[:26] + b"       0       0" + blob[42:]
    data = read_fcs(zeroed)
    assert data.events is not None
    np.testing.assert_array_equal(data.events, events)


def test_data_overlapping_text_is_iml_fcs_002() -> None:
    spec = _spec()
    blob = build_fcs(replace(spec, offsets_in_text=False))
    assert _code(_header_field(blob, 2, 100)) == "IML-FCS-002"


def test_text_offsets_out_of_order_is_iml_fcs_002() -> None:
    blob = build_fcs(_spec())
    assert _code(_header_field(blob, 1, 40)) == "IML-FCS-002"


def test_missing_par_is_iml_fcs_005() -> None:
    assert _code(build_fcs(_spec(drop={"$PAR"}))) == "IML-FCS-005"


def test_missing_tot_is_iml_fcs_005_in_fcs3_but_derived_in_fcs20() -> None:
    assert _code(build_fcs(_spec(drop={"$TOT"}))) == "IML-FCS-005"
    data = read_fcs(build_fcs(_spec("i16_be_20", drop={"$TOT"})))
    assert data.n_events == 12 and any("$TOT is missing" in w for w in data.warnings)


def test_missing_pnn_is_iml_fcs_005_in_fcs3_but_named_in_fcs20() -> None:
    assert _code(build_fcs(_spec(drop={"$P1N"}))) == "IML-FCS-005"
    assert read_fcs(build_fcs(_spec("i16_be_20", drop={"$P1N"}))).pnn[0] == "P1"


@pytest.mark.parametrize(
    ("key", "value"),
    [("$MODE", "C"), ("$BYTEORD", "3,4,1,2"), ("$P1B", "12"), ("$P1B", "64"), ("$DATATYPE", "X")],
)
def test_unsupported_layouts_are_iml_fcs_006(key: str, value: str) -> None:
    spec = _spec()
    assert _code(build_fcs(replace(spec, override={key: value}))) == "IML-FCS-006"


def test_two_fcs3_data_sets_without_a_choice_is_iml_fcs_008() -> None:
    spec = _spec(version="3.0")
    blob = chain_datasets([spec, replace(spec, events=spec.events * 2)])
    assert _code(blob) == "IML-FCS-008"
    second = read_fcs(blob, dataset=1)
    assert second.events is not None and second.dataset_index == 1
    np.testing.assert_array_equal(second.events, spec.events * 2)


def test_broken_nextdata_is_iml_fcs_002_unless_offset_errors_are_accepted() -> None:
    spec = _spec()
    blob = build_fcs(replace(spec, override={"$NEXTDATA": "99999999"}))
    assert _code(blob) == "IML-FCS-002"
    data = read_fcs(blob, accept_offset_error=True)
    assert data.n_datasets == 1 and data.tolerances[0].startswith("accept_offset_error: $NEXTDATA")


def test_zero_events_is_iml_fcs_010_unless_empty_files_are_allowed() -> None:
    spec = _spec()
    blob = build_fcs(replace(spec, events=spec.events[:0]))
    assert _code(blob) == "IML-FCS-010"
    data = read_fcs(blob, allow_empty=True)
    assert data.events is not None and data.events.shape == (0, 3)


def test_non_numeric_ascii_data_is_iml_fcs_017() -> None:
    spec = _spec(datatype="A", bits=4, data_override=b"12 3abcd" + b"1234" * 34)
    assert _code(build_fcs(spec)) == "IML-FCS-017"


def test_fixed_width_ascii_data_is_read() -> None:
    events = np.array([[1, 22, 333], [4444, 5, 66]])
    text = b"".join(f"{v:>4d}".encode() for v in events.ravel())
    spec = FcsSpec(events, version="3.0", datatype="A", bits=32, data_override=text, pnr=["10000"] * 3)
    spec = replace(spec, override={f"$P{j}B": "4" for j in (1, 2, 3)})
    data = read_fcs(build_fcs(spec))
    assert data.events is not None
    np.testing.assert_array_equal(data.events, events)


def test_delimited_ascii_data_is_read() -> None:
    events = np.array([[1.5, 2, 3], [4, 5, 6.25]])
    spec = FcsSpec(events, version="3.0", datatype="A", bits=8, data_override=b"1.5,2,3\r\n4 5\t6.25\n", pnr=["10"] * 3)
    spec = replace(spec, override={f"$P{j}B": "*" for j in (1, 2, 3)})
    data = read_fcs(build_fcs(spec))
    assert data.events is not None
    np.testing.assert_array_equal(data.events, events)


def test_missing_file_is_iml_in_001_and_empty_bytes_iml_in_005(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_fcs(tmp_path / "absent.fcs")
    assert info.value.code == "IML-IN-001"
    assert _code(b"") == "IML-IN-005"


@pytest.mark.parametrize(("pnr", "mask"), [("1024", 1023), ("1000", 1023), ("65536", 65535), ("1e30", 65535), ("3", 3)])
def test_integers_are_masked_to_the_bits_of_pnr(pnr: str, mask: int) -> None:
    events = np.array([[65535, 1024], [1025, 7]])
    spec = FcsSpec(events, version="3.1", datatype="I", bits=16, pnr=[pnr, "65536"])
    data = read_fcs(build_fcs(spec))
    assert data.events is not None
    assert data.events[:, 0].tolist() == [65535 & mask, 1025 & mask]
    assert data.events[:, 1].tolist() == [1024, 7]


@pytest.mark.parametrize("byteord", ["1,2,3,4", "4,3,2,1"])
@pytest.mark.parametrize("bits", [24, 40, 48, 56])
def test_non_standard_integer_widths_are_decoded(bits: int, byteord: str) -> None:
    top = 2**bits - 1
    events = np.array([[0, top, 1], [top // 3, 5, 2**(bits - 1)]], dtype=np.uint64)
    spec = FcsSpec(events, version="3.0", datatype="I", bits=bits, byteord=byteord, pnr=[str(2**bits)] * 3)
    data = read_fcs(build_fcs(spec))
    assert data.events is not None
    np.testing.assert_array_equal(data.events, events)


def test_fcs32_per_channel_datatypes_are_decoded_to_float64() -> None:
    spec = base_specs()["mixed_type_32"]
    data = read_fcs(build_fcs(spec))
    assert data.events is not None and data.events.dtype == np.float64
    np.testing.assert_array_equal(data.events, spec.events)
    assert [c.datatype for c in data.channels] == ["I", "I", "F"]


def test_supplemental_text_adds_keywords_without_overriding_primary() -> None:
    spec = _spec()
    extra = b"/$CYT/SuppCyt/$TOT/999/"
    placeholder: dict[str, str | bytes] = {"$BEGINSTEXT": "00000000", "$ENDSTEXT": "00000000"}
    size = len(build_fcs(replace(spec, override=placeholder)))  # 8-digit values keep TEXT length fixed
    offsets: dict[str, str | bytes] = {"$BEGINSTEXT": f"{size:08d}", "$ENDSTEXT": f"{size + len(extra) - 1:08d}"}
    data = read_fcs(build_fcs(replace(spec, override=offsets)) + extra)
    assert data.keywords["$CYT"] == "SuppCyt" and data.keywords["$TOT"] == "12"
    assert any("supplemental TEXT repeats" in w for w in data.warnings)


def test_supplemental_text_beyond_the_file_is_iml_fcs_002() -> None:
    blob = build_fcs(_spec(override={"$BEGINSTEXT": "99999990", "$ENDSTEXT": "99999999"}))
    assert _code(blob) == "IML-FCS-002"


def test_metadata_reader_returns_counts_without_events() -> None:
    data = read_fcs_metadata(build_fcs(_spec()))
    assert data.events is None and data.n_events == 12 and data.n_channels == 3


def test_preprocessing_undoes_log_amplification_and_gain() -> None:
    spec = base_specs()["i16_be_20"]
    data = read_fcs(build_fcs(spec))
    pre = data.preprocessed()
    raw = spec.events.astype(np.float64)
    np.testing.assert_allclose(pre[:, 2], 10 ** (4 * raw[:, 2] / 1024) * 1)
    np.testing.assert_allclose(pre[:, 1], raw[:, 1] / 2.5)
    np.testing.assert_allclose(pre[:, 0], raw[:, 0])


def test_time_channel_is_scaled_by_timestep_and_never_divided_by_its_gain() -> None:
    events = np.array([[10.0, 100.0], [20.0, 200.0]], dtype=np.float32)
    spec = FcsSpec(events, names=["FSC-A", "Time"], extra=[("$TIMESTEP", "0.01"), ("$P2G", "0.01"), ("$P1G", "2")])
    pre = read_fcs(build_fcs(spec)).preprocessed()
    np.testing.assert_allclose(pre, [[5.0, 1.0], [10.0, 2.0]])


@pytest.mark.parametrize("key", ["$DATATYPE", "$MODE", "$BYTEORD", "$TOT", "$PAR", "$P1B", "$P1R", "$P1E", "$P1G",
                                 "$NEXTDATA", "$BEGINDATA", "$ENDDATA", "$BEGINSTEXT", "$P1DATATYPE"])
def test_error_messages_never_echo_keyword_values(key: str) -> None:
    blob = build_fcs(_spec(override={key: "SMITH JOHN"}))
    with pytest.raises(InputError) as info:
        read_fcs(blob, label="tube.fcs")
    assert "SMITH" not in str(info.value) and "JOHN" not in str(info.value)
