"""Unit table: each conversion matches a hand calculation; unknown or foreign units are coded errors."""

from __future__ import annotations

import re

import pytest

from immunolab.clinical.units import TESTS, UNITS, converter, get_test, lookup_test, normalise_unit
from immunolab.errors import ERROR_CODES, InputError


@pytest.mark.parametrize(
    ("test", "unit", "value", "expected"),
    [
        ("CRP", "mg/dL", 5.2, 52.0),  # 1 mg/dL = 10 mg/L
        ("CRP", "mg/L", 12.0, 12.0),
        ("LYM", "10^9/L", 0.8, 800.0),  # 10^9 cells per 10^6 uL
        ("LYM", "x10E9/L", 1.25, 1250.0),
        ("LYM", "/uL", 640.0, 640.0),
        ("LYM", "cells/µL", 640.0, 640.0),
        ("LYM", "10^3/uL", 0.9, 900.0),
        ("RBC", "10^6/uL", 4.5, 4.5),  # 10^6/uL = 10^12/L
        ("DDIMER", "ug/mL FEU", 2.155, 2.155),
        ("DDIMER", "ng/mL FEU", 550.0, 0.55),
        ("FERRITIN", "ng/mL", 711.0, 711.0),  # ng/mL = ug/L
        ("IL6", "ng/L", 19.3, 19.3),  # pg/mL = ng/L
        ("HGB", "g/dL", 12.5, 125.0),
        ("GLUC", "mg/dL", 90.08, 5.0),  # M(glucose) = 180.16 g/mol
        ("CREAT", "mg/dL", 1.0, 88.40),  # M(creatinine) = 113.12 g/mol
        ("CA", "mEq/L", 5.0, 2.5),  # calcium is divalent
        ("SODIUM", "mEq/L", 140.0, 140.0),
        ("LDH", "ukat/L", 5.0, 300.0),  # 1 ukat = 60 U
        ("TEMP", "°F", 98.6, 37.0),
        ("TEMP", "F", 212.0, 100.0),
        ("PAO2", "kPa", 13.3, 99.76),
        ("FIO2", "fraction", 0.21, 21.0),
        ("INR", None, 1.1, 1.1),
    ],
)
def test_conversion_to_the_canonical_unit_matches_the_hand_calculation(test: str, unit: str | None, value: float,
                                                                       expected: float) -> None:
    conv = converter(get_test(test), unit)
    assert conv(value) == pytest.approx(expected, rel=1e-3)
    assert conv.unit == get_test(test).unit


def test_a_bare_mass_unit_for_d_dimer_is_taken_as_feu_and_says_so() -> None:
    conv = converter(get_test("DDIMER"), "mg/L")
    assert conv(0.5) == 0.5 and conv.note is not None and "FEU assumed" in conv.note


def test_d_dimer_in_ddu_is_refused_because_the_factor_is_assay_specific() -> None:
    with pytest.raises(InputError) as info:
        converter(get_test("DDIMER"), "ng/mL DDU", label="labs.csv")
    assert info.value.code == "IML-CLIN-004" and "DDIMER" in str(info.value) and "labs.csv" in str(info.value)


@pytest.mark.parametrize(("test", "unit", "shown"), [("CRP", "furlongs", "(written as AAAAAAAA)"),
                                                     ("LYM", "mg/L", "'mg/L'"), ("CRP", None, "(no unit)"),
                                                     ("GLUC", "U/L", "'U/L'")])
def test_an_unknown_or_foreign_unit_is_a_coded_error_naming_the_test_and_the_unit(
        test: str, unit: str | None, shown: str) -> None:
    """A unit of the unit table is named as written; any other text only by its shape (it may be a name)."""
    with pytest.raises(InputError) as info:
        converter(get_test(test), unit, label="labs.csv")
    err = info.value
    assert err.code == "IML-CLIN-004" and "IML-CLIN-004" in ERROR_CODES
    assert test in err.message and shown in err.message
    assert err.hint


def test_a_unit_that_is_not_in_the_unit_table_is_never_repeated() -> None:
    with pytest.raises(InputError) as info:
        converter(get_test("CRP"), "ZZCANARY-UNIT SMITH JOHN", label="labs.csv")
    assert "ZZCANARY" not in str(info.value) and "SMITH" not in str(info.value)


def test_tests_are_found_by_code_name_english_synonym_and_tongji_column() -> None:
    for name, code in [("LYM", "LYM"), ("lymphocyte count", "LYM"), ("(%)lymphocyte", "LYMPCT"),
                       ("High sensitivity C-reactive protein", "CRP"), ("hs-crp", "CRP"), ("IL 6", "IL6"),
                       ("Interleukin 6", "IL6"), ("D-D dimer", "DDIMER"), ("ferritin", "FERRITIN"),
                       ("Interleukin 1β", "IL1B"), ("Tumor necrosis factorα", "TNFA"), ("OXYSAT", "SPO2"),
                       ("Red blood cell distribution width ", "RDW"), ("PaO2/FiO2", "PAO2FIO2")]:
        found = lookup_test(name)
        assert found is not None and found.code == code, name
    assert lookup_test("frobnicase") is None


def test_every_test_code_is_an_sdtm_style_code_and_every_canonical_unit_is_in_the_table() -> None:
    codes = [t.code for t in TESTS]
    assert len(codes) == len(set(codes))
    for t in TESTS:
        assert re.fullmatch(r"[A-Z][A-Z0-9]{0,7}", t.code), t.code
        assert t.unit in UNITS, t.code
        assert t.category in {"lab", "vital", "score"}


def test_unit_spellings_normalise_to_one_symbol() -> None:
    assert normalise_unit("x10^9/L") == normalise_unit("10*9/l") == "10^9/L"
    assert normalise_unit("µmol/L") == "umol/L"
    assert normalise_unit("IU/L") == "U/L"
    assert normalise_unit("G/L (giga)") is None
