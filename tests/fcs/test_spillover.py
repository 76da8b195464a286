"""Spillover keyword parsing into channel names and a matrix, with IML-FCS-012 for malformed ones."""

from __future__ import annotations

import numpy as np
import pytest

from immunolab.errors import InputError
from immunolab.fcs.spillover import find_spillover_keyword, parse_spillover


def test_spillover_is_parsed_row_major() -> None:
    spill = parse_spillover("2,FL1-A,FL2-A,1,0.12,0.03,1", keyword="$SPILLOVER")
    assert spill.channels == ["FL1-A", "FL2-A"]
    np.testing.assert_array_equal(spill.matrix, [[1, 0.12], [0.03, 1]])


def test_whitespace_and_one_trailing_comma_are_tolerated() -> None:
    spill = parse_spillover(" 2 , A , B ,1,0,0,1,")
    assert spill.channels == ["A", "B"] and spill.matrix.shape == (2, 2)


def test_channel_names_are_matched_to_pnn_ignoring_case() -> None:
    spill = parse_spillover("2,fl1-a,FL2-A,1,0,0,1", channel_names=["FSC-A", "FL1-A", "FL2-A"])
    assert spill.channels == ["FL1-A", "FL2-A"]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x,A,1",
        "0",
        "-1,A,1",
        "2,A,B,1,0,0",
        "2,A,B,1,0,0,1,9",
        "2,A,A,1,0,0,1",
        "2,A,,1,0,0,1",
        "2,A,B,1,zero,0,1",
        "2,A,B,1,nan,0,1",
        "2,A,B,1,inf,0,1",
        "5000,A",
    ],
)
def test_malformed_spillover_is_iml_fcs_012(value: str) -> None:
    with pytest.raises(InputError) as info:
        parse_spillover(value, label="t.fcs")
    assert info.value.code == "IML-FCS-012" and info.value.path == "t.fcs"


def test_unknown_channel_is_iml_fcs_012_naming_its_position_not_its_text() -> None:
    with pytest.raises(InputError) as info:
        parse_spillover("2,FL1-A,Patient Smith,1,0,0,1", channel_names=["FL1-A", "FL2-A"], label="t.fcs")
    assert info.value.code == "IML-FCS-012"
    assert "positions 2" in info.value.message and "Smith" not in str(info.value)


def test_preferred_keyword_is_spillover_then_spill() -> None:
    assert find_spillover_keyword({"SPILL": "1,A,1", "$SPILLOVER": "1,A,1"}) == "$SPILLOVER"
    assert find_spillover_keyword({"$SPILL": "1,A,1"}) == "$SPILL"
    assert find_spillover_keyword({"SPILL": "  "}) is None
