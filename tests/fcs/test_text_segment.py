"""TEXT segment parsing: delimiters, doubled delimiters, empty values, padding, encodings."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from immunolab.errors import InputError
from immunolab.fcs.reader import read_fcs
from immunolab.fcs.segments import parse_header, parse_text
from tests.fcs.factories import base_specs, build_fcs


def _kw(raw: bytes) -> dict[str, str]:
    return parse_text(raw, label="t.fcs").keywords


@pytest.mark.parametrize("delim", [b"/", b"\\", b"|", b"\x0c", b"+", b"(", b"[", b"?", b",", b"*", b" ", b"\x01", b"\xfe"])
def test_odd_but_legal_delimiters_read_the_same_events(delim: bytes) -> None:
    spec = base_specs()["f32_le_31"]
    data = read_fcs(build_fcs(replace(spec, delimiter=delim)))
    assert data.events is not None
    np.testing.assert_array_equal(data.events, spec.events)


def test_doubled_delimiter_inside_a_value_is_one_literal_delimiter() -> None:
    assert _kw(b"/$FIL/a//b.fcs/$TOT/3/") == {"$FIL": "a/b.fcs", "$TOT": "3"}


def test_value_ending_with_a_delimiter_keeps_it() -> None:
    assert _kw(b"/$COM/ends///$TOT/3/") == {"$COM": "ends/", "$TOT": "3"}


def test_value_starting_with_a_delimiter_is_read_when_keys_stay_clean() -> None:
    assert _kw(b"/$COM///lead/$TOT/3/") == {"$COM": "/lead", "$TOT": "3"}


def test_double_delimiter_after_a_keyword_is_an_empty_value() -> None:
    parsed = parse_text(b"/$P1S//$P1N/FSC/$TOT/3/", label="t.fcs")
    assert parsed.keywords == {"$P1S": "", "$P1N": "FSC", "$TOT": "3"}
    assert any("empty value" in w for w in parsed.warnings)


def test_empty_value_at_the_end_of_text() -> None:
    assert _kw(b"/$TOT/3/$COM//") == {"$TOT": "3", "$COM": ""}


def test_padding_after_the_final_delimiter_is_ignored() -> None:
    assert _kw(b"/$TOT/3/   \x00\x00\r\n") == {"$TOT": "3"}


def test_missing_final_delimiter_is_tolerated_with_a_warning() -> None:
    parsed = parse_text(b"/$TOT/3/$PAR/2", label="t.fcs")
    assert parsed.keywords == {"$TOT": "3", "$PAR": "2"}
    assert parsed.warnings


def test_keywords_are_upper_cased_and_stripped() -> None:
    assert _kw(b"/ $p1n /FSC-A/\n$tot/3/") == {"$P1N": "FSC-A", "$TOT": "3"}


def test_non_utf8_values_fall_back_to_latin1_and_the_warning_names_only_the_keyword() -> None:
    parsed = parse_text(b"/$OP/J\xe9r\xf4me/$TOT/3/", label="t.fcs")
    assert parsed.keywords["$OP"] == "Jérôme"
    assert parsed.warnings == ["TEXT values of $OP are not UTF-8; read as Latin-1"]


def test_odd_number_of_fields_is_iml_fcs_004() -> None:
    with pytest.raises(InputError) as info:
        parse_text(b"/$TOT/3/$PAR/", label="t.fcs")
    assert info.value.code == "IML-FCS-004"


def test_nul_delimiter_is_iml_fcs_004() -> None:
    with pytest.raises(InputError) as info:
        parse_text(b"\x00$TOT\x003\x00", label="t.fcs")
    assert info.value.code == "IML-FCS-004"


def test_repeated_keyword_with_a_different_value_is_reported_not_silently_overwritten() -> None:
    parsed = parse_text(b"/$COM/a/$COM/b/", label="t.fcs")
    assert parsed.keywords["$COM"] == "a" and parsed.conflicting == ["$COM"]


def test_repeated_decoding_keyword_with_a_different_value_is_iml_fcs_004() -> None:
    spec = base_specs()["f32_le_31"]
    blob = build_fcs(replace(spec, extra=[("$TOT", "13")]))
    with pytest.raises(InputError) as info:
        read_fcs(blob)
    assert info.value.code == "IML-FCS-004"


@pytest.mark.parametrize("delim", [b"$", b"0", b"A", b"T"])
def test_delimiters_that_also_edge_keywords_are_rejected_as_ambiguous_iml_fcs_004(delim: bytes) -> None:
    spec = base_specs()["f32_le_31"]
    with pytest.raises(InputError) as info:
        read_fcs(build_fcs(replace(spec, delimiter=delim)))
    assert info.value.code == "IML-FCS-004"


def test_header_accepts_zero_padded_and_blank_analysis_offsets() -> None:
    raw = b"FCS3.0    000000740000608000006081000061880000000000000000"
    head = parse_header(raw, label="t.fcs")
    assert (head.text_begin, head.text_end, head.data_begin, head.data_end) == (74, 6080, 6081, 6188)
    blank = b"FCS2.0         256    2905    8192  297952                "
    assert parse_header(blank, label="t.fcs").analysis_begin == 0


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"FCS1.0    " + b"       0" * 6, "IML-FCS-001"),
        (b"NOT AN FCS FILE AT ALL" + b" " * 40, "IML-FCS-001"),
        (b"FCS3.1    " + b"      58", "IML-FCS-016"),
        (b"FCS3.1    " + b"     -58" + b"       0" * 5, "IML-FCS-002"),
        (b"FCS3.1    " + b"      58" + b"  12x456" + b"       0" * 4, "IML-FCS-002"),
    ],
)
def test_bad_headers_have_their_own_codes(raw: bytes, code: str) -> None:
    with pytest.raises(InputError) as info:
        parse_header(raw, label="t.fcs")
    assert info.value.code == code
