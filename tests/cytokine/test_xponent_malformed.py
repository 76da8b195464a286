"""Malformed xPONENT exports: every variant is a coded error, never a traceback, never silent.

A damaged file is rejected at parse with a coded InputError. A readable plate whose standards
cannot give any curve (flat standards, no standard wells, no expected concentrations) is not
rejected: its facts are ingested and the curve derivation records the coded failure in the
plate's QC (status ``fail``), as ingest does.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from immunolab_assays.luminex_xponent.reader import parse_xponent_bytes

from immunolab.cytokine.parsed import parsed_assay_from_plates
from immunolab.derive.preview import derive_plates
from immunolab.errors import ERROR_CODES, InputError
from immunolab.plugins import ParseContext

from .factories import malformed_exports, plate_text

CURVE_CODES = ("IML-CYT-005", "IML-CYT-006")


def _ingest_like(data: bytes) -> list[dict[str, object]]:
    """Parse ``data`` and derive its curves as ingest does; return the plate QC of the refit."""
    ctx = ParseContext(label="plate_07.csv")
    plates = parse_xponent_bytes(data, label=ctx.label)
    parsed = parsed_assay_from_plates(plates, data=data, ctx=ctx, export_format="xponent")
    derived = derive_plates(parsed, kinds=("refit",), label=ctx.label)
    return [json.loads(r["qc_json"]) for r in derived["plate_qc"].to_pylist()]


def _recorded_error(qcs: list[dict[str, object]]) -> dict[str, str] | None:
    """Return the coded error a failed plate QC records, or None when no plate recorded one."""
    for qc in qcs:
        if qc["status"] == "fail" and isinstance(qc.get("error"), dict):
            return qc["error"]  # type: ignore[return-value]
    return None


def test_the_malformed_factory_yields_at_least_150_distinct_variants() -> None:
    names = [name for name, _ in malformed_exports()]
    assert len(names) >= 150
    assert len(set(names)) == len(names)


def test_every_malformed_variant_is_a_coded_input_error_or_a_coded_plate_qc_failure_and_nothing_else() -> None:
    codes: Counter[str] = Counter()
    recorded: Counter[str] = Counter()
    other: list[str] = []
    silent: list[str] = []
    for name, data in malformed_exports():
        try:
            qcs = _ingest_like(data)
        except InputError as exc:
            assert exc.code in ERROR_CODES, exc.code
            assert exc.path == "plate_07.csv"
            assert exc.hint
            codes[exc.code] += 1
        except Exception as exc:  # the property under test: no non-immunolab exception
            other.append(f"{name}: {type(exc).__name__}: {exc}")
        else:
            error = _recorded_error(qcs)
            if error is None:
                silent.append(name)
            else:
                assert error["code"] in ERROR_CODES and error["message"], (name, error)
                recorded[error["code"]] += 1
    assert other == []
    assert silent == []
    for code in ("IML-CYT-001", "IML-CYT-002", "IML-CYT-003", "IML-CYT-004", "IML-IN-005"):
        assert codes[code] > 0, f"no variant raised {code}"
    for code in CURVE_CODES:
        assert recorded[code] > 0 and codes[code] == 0, f"{code}: recorded {recorded[code]}, raised {codes[code]}"


@pytest.mark.parametrize(
    ("variant", "code"),
    [
        ("cut_at_20_of_41", "IML-CYT-001"),
        ("trailer_removed", "IML-CYT-001"),
        ("row_missing_Count", "IML-CYT-001"),
        ("median_section_missing", "IML-CYT-002"),
        ("header_row_missing_Median", "IML-CYT-002"),
        ("bad_number_Median_12a", "IML-CYT-003"),
        ("impossible_Dilution Factor_0", "IML-CYT-003"),
        ("duplicate_row_Median", "IML-CYT-004"),
        ("duplicate_section_Median", "IML-CYT-004"),
        ("duplicate_analyte_2_3", "IML-CYT-004"),
        ("empty", "IML-IN-005"),
    ],
)
def test_each_kind_of_damage_has_its_own_code(variant: str, code: str) -> None:
    found = {name: data for name, data in malformed_exports()}
    key = variant if variant in found else next(k for k in found if k.startswith(variant))
    with pytest.raises(InputError) as exc:
        _ingest_like(found[key])
    assert exc.value.code == code


@pytest.mark.parametrize(
    ("variant", "code"),
    [
        ("flat_standards", "IML-CYT-005"),
        ("no_standard_wells", "IML-CYT-006"),
        ("no_expected_concentrations", "IML-CYT-006"),
    ],
)
def test_a_plate_without_any_curve_is_kept_as_facts_and_its_plate_qc_fails_with_its_code(variant: str, code: str) -> None:
    found = {name: data for name, data in malformed_exports()}
    key = variant if variant in found else next(k for k in found if k.startswith(variant))
    qcs = _ingest_like(found[key])
    error = _recorded_error(qcs)
    assert error is not None and error["code"] == code
    assert all(qc["status"] == "fail" for qc in qcs)


def test_messages_never_quote_sample_names_from_the_file() -> None:
    for name, data in malformed_exports():
        try:
            qcs = _ingest_like(data)
        except InputError as exc:
            text = exc.format()
        else:
            text = json.dumps(qcs)
        assert "S0001" not in text and "S0002" not in text, name


def test_missing_trailer_is_accepted_when_asked_for() -> None:
    text = plate_text()
    cut = "\r\n".join(ln for ln in text.splitlines() if not ln.startswith(("-- CRC --", "CRC32"))) + "\r\n"
    with pytest.raises(InputError):
        parse_xponent_bytes(cut.encode(), label="p.csv")
    plates = parse_xponent_bytes(cut.encode(), label="p.csv", options={"accept_missing_crc": True})
    assert plates[0].export_crc == "absent"
