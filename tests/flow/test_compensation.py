"""Compensation: FlowJo matrix CSVs, FCS spill keywords, coded errors, agreement with FlowKit."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from immunolab.errors import InputError
from immunolab.flow.compensation import (
    SpilloverMatrix,
    compensate,
    compensate_columns,
    parse_spill_keyword,
    read_matrix_csv,
)
from tests.conftest import shared_path

CHANNELS = ["FSC-A", "SSC-A", "FITC-A", "PE-A", "APC-A", "Time"]
SPILL = np.array([[1.0, 0.20, 0.01], [0.05, 1.0, 0.10], [0.0, 0.02, 1.0]])


def _events(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true = rng.gamma(2.0, 2000.0, size=(n, 3))
    observed = true @ SPILL
    scatter = rng.uniform(0, 2e5, size=(n, 2))
    time = np.arange(n, dtype=float)[:, None]
    return np.hstack([scatter, observed, time]), true


def test_compensation_recovers_true_signal_and_leaves_other_channels() -> None:
    events, true = _events()
    out = compensate(events, CHANNELS, ["FITC-A", "PE-A", "APC-A"], SPILL)
    np.testing.assert_allclose(out[:, 2:5], true, rtol=1e-10)
    np.testing.assert_array_equal(out[:, [0, 1, 5]], events[:, [0, 1, 5]])
    assert out is not events


def test_matrix_channel_order_may_differ_from_file_order() -> None:
    events, true = _events()
    perm = [2, 0, 1]
    names = [["FITC-A", "PE-A", "APC-A"][i] for i in perm]
    out = compensate(events, CHANNELS, names, SPILL[np.ix_(perm, perm)])
    np.testing.assert_allclose(out[:, 2:5], true, rtol=1e-10)


def test_compensate_columns_returns_only_needed_channels() -> None:
    events, true = _events()
    spill = SpilloverMatrix(("FITC-A", "PE-A", "APC-A"), SPILL)
    cols = compensate_columns(events, CHANNELS, spill, ["PE-A", "FSC-A"])
    assert list(cols) == ["PE-A"]
    np.testing.assert_allclose(cols["PE-A"], true[:, 1], rtol=1e-10)


def test_float32_compensation_is_close_to_float64() -> None:
    events, _ = _events()
    out32 = compensate(events, CHANNELS, ["FITC-A", "PE-A", "APC-A"], SPILL, dtype=np.float32)
    out64 = compensate(events, CHANNELS, ["FITC-A", "PE-A", "APC-A"], SPILL)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-5, atol=1e-2)


def test_matrix_naming_a_channel_absent_from_the_sample_is_iml_fcs_012() -> None:
    events, _ = _events()
    with pytest.raises(InputError) as info:
        compensate(events, CHANNELS, ["FITC-A", "PE-A", "BV421-A"], SPILL, label="D3_tube1.fcs")
    assert info.value.code == "IML-FCS-012"
    assert "BV421-A" in str(info.value) and "D3_tube1.fcs" in str(info.value)


def test_singular_or_non_square_matrix_is_iml_fcs_012() -> None:
    events, _ = _events()
    with pytest.raises(InputError) as info:
        compensate(events, CHANNELS, ["FITC-A", "PE-A", "APC-A"], np.ones((3, 3)))
    assert info.value.code == "IML-FCS-012"
    with pytest.raises(InputError) as info:
        SpilloverMatrix(("FITC-A", "PE-A"), SPILL)
    assert info.value.code == "IML-FCS-012"


def test_spill_keyword_is_parsed_and_bad_counts_are_rejected() -> None:
    spill = parse_spill_keyword("2,FITC-A,PE-A,1,0.1,0.02,1")
    assert spill.channels == ("FITC-A", "PE-A")
    np.testing.assert_array_equal(spill.matrix, [[1, 0.1], [0.02, 1]])
    with pytest.raises(InputError) as info:
        parse_spill_keyword("2,FITC-A,PE-A,1,0.1,0.02", label="x.fcs")
    assert info.value.code == "IML-FCS-012"
    with pytest.raises(InputError):
        parse_spill_keyword("2,FITC-A,PE-A,1,0.1,abc,1")


def _write(tmp_path: Path, text: str, name: str = "comp.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_flowjo_matrix_csv_with_and_without_row_labels(tmp_path: Path) -> None:
    plain = read_matrix_csv(_write(tmp_path, "FITC-A,PE-A\n1,0.1\n0.02,1\n"))
    labelled = read_matrix_csv(_write(tmp_path, "#\tFITC-A\tPE-A\nFITC-A\t1\t0.1\nPE-A\t0.02\t1\n", "c.tsv"))
    assert plain.channels == labelled.channels == ("FITC-A", "PE-A")
    np.testing.assert_array_equal(plain.matrix, labelled.matrix)
    assert plain.source == "csv"


@pytest.mark.parametrize(
    "text",
    ["", "1,2\n3,4\n", "FITC-A,PE-A\n1,0.1\n", "FITC-A,PE-A\n1,0.1\n0.02,x\n", "FITC-A,PE-A\n1,0.1,3\n0.02,1\n"],
)
def test_unreadable_matrix_csv_is_iml_fcs_015(tmp_path: Path, text: str) -> None:
    with pytest.raises(InputError) as info:
        read_matrix_csv(_write(tmp_path, text), label="comp.csv")
    assert info.value.code == "IML-FCS-015"
    assert "comp.csv" in str(info.value)


def test_matrix_round_trips_through_dict_and_has_stable_digest() -> None:
    spill = SpilloverMatrix(("FITC-A", "PE-A", "APC-A"), SPILL)
    again = SpilloverMatrix.from_dict(spill.to_dict())
    assert again.digest() == spill.digest()
    np.testing.assert_array_equal(again.matrix, spill.matrix)


def test_flowjo_matrix_csv_compensates_like_flowkit() -> None:
    data = shared_path("flow", "flowkit", "data")
    fk = pytest.importorskip("flowkit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sample = fk.Sample(str(data / "test_comp_example.fcs"), ignore_offset_error=True)
    sample.apply_compensation(str(data / "comp_complete_example.csv"))
    expected = sample.get_events(source="comp")
    raw = sample.get_events(source="raw")
    spill = read_matrix_csv(data / "comp_complete_example.csv")
    assert len(spill.channels) == 14
    ours = compensate(raw, sample.pnn_labels, spill.channels, spill.matrix)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-8)
    keyword = parse_spill_keyword(sample.metadata["spill"])
    assert keyword.channels == spill.channels
