"""Malformed xPONENT exports: every variant is rejected with a coded InputError, never a traceback."""

from __future__ import annotations

from collections import Counter

import pytest
from immunolab_assays.luminex_xponent.reader import parse_xponent_bytes

from immunolab.cytokine.assemble import PlateSettings, analyse_plate
from immunolab.cytokine.parsed import parsed_assay_from_plates
from immunolab.errors import ERROR_CODES, InputError
from immunolab.plugins import ParseContext

from .factories import malformed_exports, plate_text
from .helpers import derive


def _ingest_like(data: bytes) -> None:
    """Parse the facts, then derive concentrations as the core does (curve failures are derivation errors)."""
    ctx = ParseContext(label="plate_07.csv")
    plates = parse_xponent_bytes(data, label=ctx.label)
    parsed_assay_from_plates(plates, data=data, ctx=ctx, export_format="xponent")
    for plate in plates:
        analyse_plate(plate, plate_id=f"p{plate.plate_index}", settings=PlateSettings(), label=ctx.label)


def test_the_malformed_factory_yields_at_least_150_distinct_variants() -> None:
    names = [name for name, _ in malformed_exports()]
    assert len(names) >= 150
    assert len(set(names)) == len(names)


def test_every_malformed_variant_is_a_coded_input_error_and_nothing_else() -> None:
    codes: Counter[str] = Counter()
    other: list[str] = []
    silent: list[str] = []
    for name, data in malformed_exports():
        try:
            _ingest_like(data)
        except InputError as exc:
            assert exc.code in ERROR_CODES, exc.code
            assert exc.path == "plate_07.csv"
            assert exc.hint
            codes[exc.code] += 1
        except Exception as exc:  # the property under test: no non-immunolab exception
            other.append(f"{name}: {type(exc).__name__}: {exc}")
        else:
            silent.append(name)
    assert other == []
    assert silent == []
    for code in ("IML-CYT-001", "IML-CYT-002", "IML-CYT-003", "IML-CYT-004", "IML-CYT-005", "IML-CYT-006", "IML-IN-005"):
        assert codes[code] > 0, f"no variant raised {code}"


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
        ("flat_standards", "IML-CYT-005"),
        ("no_standard_wells", "IML-CYT-006"),
        ("no_expected_concentrations", "IML-CYT-006"),
        ("empty", "IML-IN-005"),
    ],
)
def test_each_kind_of_damage_has_its_own_code(variant: str, code: str) -> None:
    found = {name: data for name, data in malformed_exports()}
    key = variant if variant in found else next(k for k in found if k.startswith(variant))
    with pytest.raises(InputError) as exc:
        _ingest_like(found[key])
    assert exc.value.code == code


def test_messages_never_quote_sample_names_from_the_file() -> None:
    for name, data in malformed_exports():
        try:
            _ingest_like(data)
        except InputError as exc:
            text = exc.format()
            assert "S0001" not in text and "S0002" not in text, name


def test_missing_trailer_is_accepted_when_asked_for() -> None:
    text = plate_text()
    cut = "\r\n".join(ln for ln in text.splitlines() if not ln.startswith(("-- CRC --", "CRC32"))) + "\r\n"
    with pytest.raises(InputError):
        parse_xponent_bytes(cut.encode(), label="p.csv")
    plates = parse_xponent_bytes(cut.encode(), label="p.csv", options={"accept_missing_crc": True})
    assert plates[0].export_crc == "absent"


def test_the_missing_trailer_hint_names_an_ingest_flag_that_exists() -> None:
    """The hint used to name an option no command offered (a new user tried `--accept-missing-crc`)."""
    from click.testing import CliRunner

    from immunolab.cli import main

    cut = "\r\n".join(ln for ln in plate_text().splitlines() if not ln.startswith(("-- CRC --", "CRC32"))) + "\r\n"
    with pytest.raises(InputError) as info:
        parse_xponent_bytes(cut.encode(), label="p.csv")
    assert "--accept-missing-crc" in (info.value.hint or "")
    help_text = CliRunner().invoke(main, ["ingest", "--help"], terminal_width=200).output
    assert "--accept-missing-crc" in help_text


def test_a_blank_units_row_is_an_empty_unit_with_iml_cyt_011_not_pg_per_ml() -> None:
    text = plate_text().replace('"Units:","pg/mL","pg/mL","pg/mL"', '"Units:","","",""')
    data = text.encode("utf-8")
    ctx = ParseContext(label="plate 3.csv")
    plates = parse_xponent_bytes(data, label=ctx.label)
    parsed = parsed_assay_from_plates(plates, data=data, ctx=ctx, export_format="xponent")
    (warning,) = [w for w in parsed.warnings if w.startswith("IML-CYT-011")]
    assert "3 analyte(s)" in warning and "IL-6" in warning and "not assumed pg/mL" in warning
    results = analyse_plate(plates[0], plate_id="p1", settings=PlateSettings(), label=ctx.label).results
    assert set(results["unit"]) == {""}
    assert all("unit_missing" in flags for flags in results["qc_flags"])
    stored = derive(parsed)["cytokine_results"].to_pandas()  # the rows ingest commits, both derivations
    assert len(stored) and set(stored["unit"]) == {""}


def test_a_plate_with_units_keeps_them_and_warns_nothing_about_units() -> None:
    data = plate_text().encode("utf-8")
    plates = parse_xponent_bytes(data, label="p.csv")
    parsed = parsed_assay_from_plates(plates, data=data, ctx=ParseContext(label="p.csv"), export_format="xponent")
    assert not [w for w in parsed.warnings if "IML-CYT-011" in w]
    results = analyse_plate(plates[0], plate_id="p1", settings=PlateSettings(), label="p.csv").results
    assert set(results["unit"]) == {"pg/mL"}
