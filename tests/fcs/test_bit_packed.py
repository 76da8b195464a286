"""FCS 2.0 bit-packed integers ($PnB not a multiple of 8) decode like any other integer data."""

from __future__ import annotations

import numpy as np
import pytest

from immunolab.errors import InputError
from immunolab.fcs.reader import read_fcs
from tests.conftest import shared_path
from tests.fcs.factories import FcsSpec, build_fcs, pack_bits


def _packed(events: np.ndarray, bits: int | list[int], **changes: object) -> bytes:
    spec = FcsSpec(events=events, version="2.0", datatype="I", bits=bits, byteord="4,3,2,1")
    for key, value in changes.items():
        setattr(spec, key, value)
    return build_fcs(spec)


def test_nine_bit_values_are_read_from_a_least_significant_bit_first_stream() -> None:
    events = np.array([[1, 511, 256], [0, 2, 300], [85, 170, 5]], dtype=np.uint16)
    data = read_fcs(_packed(events, 9))
    assert data.events is not None
    np.testing.assert_array_equal(data.events, events)
    assert data.events.dtype == np.uint16


def test_the_stream_layout_is_the_one_a_hand_packed_byte_shows() -> None:
    # two 4-bit values 0x3 and 0xA pack into the single byte 0xA3 (first value in the low bits)
    assert pack_bits(np.array([[3, 10]]), [4, 4]) == bytes([0xA3])
    assert read_fcs(_packed(np.array([[3, 10]]), 4)).events.tolist() == [[3, 10]]  # type: ignore[union-attr]


@pytest.mark.parametrize("widths", [[9, 12, 3, 16], [1, 7, 10, 31], [11, 11, 11, 11]])
def test_mixed_packed_widths_round_trip_over_many_events(widths: list[int]) -> None:
    rng = np.random.default_rng(sum(widths))
    events = np.column_stack([rng.integers(0, 2**b, 40_000, dtype=np.uint64) for b in widths])
    data = read_fcs(_packed(events, widths, pnr=[str(2**b) for b in widths]))
    assert data.events is not None
    np.testing.assert_array_equal(data.events.astype(np.uint64), events)


def test_packed_values_beyond_pnr_are_masked() -> None:
    events = np.array([[1023, 5]], dtype=np.uint16)  # 10-bit field, range says 9 bits
    data = read_fcs(_packed(events, 10, pnr=["512", "1024"]))
    assert data.events is not None and data.events.tolist() == [[511, 5]]


def test_packed_data_shorter_than_tot_is_iml_fcs_003_counted_in_bits() -> None:
    events = np.arange(30, dtype=np.uint16).reshape(10, 3)
    blob = _packed(events, 9, override={"$TOT": "12"})
    with pytest.raises(InputError) as info:
        read_fcs(blob, label="tube.fcs")
    assert info.value.code == "IML-FCS-003"
    assert "27 bits per event" in info.value.message


def test_fcs2_unreadable_begindata_falls_back_to_header_offsets_with_a_warning() -> None:
    events = np.arange(12, dtype=np.uint16).reshape(4, 3)
    blob = _packed(events, 9, override={"$BEGINDATA": "768I"})
    data = read_fcs(blob)
    assert data.events is not None and data.events.tolist() == events.tolist()
    assert any("HEADER DATA offsets used" in w for w in data.warnings)


def test_fcs3_unreadable_begindata_is_still_iml_fcs_005() -> None:
    events = np.arange(12, dtype=np.uint16).reshape(4, 3)
    spec = FcsSpec(events=events, version="3.1", datatype="I", bits=16, override={"$BEGINDATA": "768I"})
    with pytest.raises(InputError) as info:
        read_fcs(build_fcs(spec))
    assert info.value.code == "IML-FCS-005"


@pytest.mark.shared_data
def test_flowjo_tutorial_decoding_reproduces_flowjo_765_quadrant_counts_exactly() -> None:
    """FlowJo's own counts are the truth for these files (FlowIO cannot decode them)."""
    path = shared_path("flow", "flowjo_tutorial", "931115-C02- Sample 02.fcs")
    data = read_fcs(path)
    values = data.preprocessed()  # $PnE "3.84, 0.2": 0.2 x 10^(3.84 x channel / 512)
    cd4, cd8 = values[:, 4], values[:, 3]
    x, y = 9.744777583364296, 10.263183561133864  # quadrant centre saved by FlowJo 7.6.5
    counts = [
        int(((cd4 < x) & (cd8 >= y)).sum()),
        int(((cd4 >= x) & (cd8 >= y)).sum()),
        int(((cd4 < x) & (cd8 < y)).sum()),
        int(((cd4 >= x) & (cd8 < y)).sum()),
    ]
    assert counts == [3952, 240, 2380, 3428]
