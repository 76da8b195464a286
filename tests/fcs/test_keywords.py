"""Keyword allowlist, de-identification by name only, and FCS date parsing."""

from __future__ import annotations

from datetime import date

import pytest

from immunolab.fcs.keywords import (
    acquisition_date,
    deidentify,
    dropped_name,
    is_allowed,
    parse_fcs_date,
)

PHI_KEYWORDS = ["$FIL", "$SRC", "$OP", "$INST", "$COM", "$PROJ", "$SMNO", "$CELLS", "$EXP", "$LAST_MODIFIER",
                "$DATE", "$BTIM", "$ETIM", "$LAST_MODIFIED", "$PLATENAME", "$WELLID", "@SAMPLEID1", "TUBE NAME",
                "EXPERIMENT NAME", "PATIENT ID", "$P1X"]


@pytest.mark.parametrize("key", ["$CYT", "$CYTSN", "$P1N", "$P12S", "$P3R", "$P3E", "$P3G", "$P3B", "$P3V",
                                 "$DATATYPE", "$BYTEORD", "$MODE", "$TOT", "$PAR", "$TIMESTEP", "$VOL",
                                 "$SPILLOVER", "$SPILL", "SPILL", "$P2DATATYPE"])
def test_acquisition_keywords_are_allowed(key: str) -> None:
    assert is_allowed(key)


@pytest.mark.parametrize("key", PHI_KEYWORDS)
def test_identifying_free_text_and_date_keywords_never_pass(key: str) -> None:
    assert not is_allowed(key)


def test_deidentify_drops_by_name_and_never_logs_a_value() -> None:
    keywords = {"$FIL": "SMITH_JOHN_D7.fcs", "$OP": "Dr. Jane Roe", "$CYT": "FACSCanto II", "$P1N": "FSC-A",
                "@SAMPLEID1": "John Smith", "P1DETECTORNAME": "FSC", "P2DETECTORNAME": "SSC",
                "$DATE": "25-NOV-2026"}
    logged: list[str] = []
    result = deidentify(keywords, study_day=lambda d: (d - date(2026, 11, 20)).days, deid_log=logged.append)
    assert result.kept == {"$CYT": "FACSCanto II", "$P1N": "FSC-A"}
    assert sorted(result.dropped) == sorted(["$FIL", "$OP", "@SAMPLEID1", "PnDETECTORNAME", "$DATE"])
    assert logged == result.dropped
    everything = " ".join(logged + result.dropped + result.warnings)
    for secret in ("SMITH", "Jane", "John", "2026"):
        assert secret not in everything
    assert result.study_day == 5 and result.date_source == "$DATE"


def test_dropped_names_are_printable_and_short() -> None:
    assert dropped_name("\x00\xffKEY" + "X" * 200) == "??KEY" + "X" * 59
    assert dropped_name("@P12GAIN") == "@PnGAIN"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25-NOV-2026", date(2026, 11, 25)),
        ("25-Nov-26", date(2026, 11, 25)),
        ("18-May-05", date(2005, 5, 18)),
        ("2026-Nov-25", date(2026, 11, 25)),
        ("2026-11-25", date(2026, 11, 25)),
        ("2015-06-30T15:20:47+02:00", date(2015, 6, 30)),
        ("2026/11/25", date(2026, 11, 25)),
        ("20091111", date(2009, 11, 11)),
        ("11/25/2026", date(2026, 11, 25)),
        ("25/11/2026", date(2026, 11, 25)),
        ("25.11.2026", date(2026, 11, 25)),
        ("Nov 25, 2026", date(2026, 11, 25)),
        ("25 November 2026", date(2026, 11, 25)),
        ("Wed Nov 25 10:11:12 2026", date(2026, 11, 25)),
        ("25-NOV-2026 10:11:12.50", date(2026, 11, 25)),
        ("16:50:29", None),
        ("31-FEB-2026", None),
        ("garbage", None),
        ("", None),
    ],
)
def test_fcs_date_styles_are_parsed(text: str, expected: date | None) -> None:
    assert parse_fcs_date(text) == expected


def test_btim_with_a_date_is_used_when_date_is_absent() -> None:
    found, source, _ = acquisition_date({"$BTIM": "2026-11-25T10:00:00"})
    assert (found, source) == (date(2026, 11, 25), "$BTIM")


def test_last_modified_is_only_a_fallback_and_says_so() -> None:
    found, source, warnings = acquisition_date({"$LAST_MODIFIED": "26-NOV-2026 10:00:00"})
    assert (found, source) == (date(2026, 11, 26), "$LAST_MODIFIED")
    assert warnings and "2026" not in warnings[0]
    found, source, _ = acquisition_date({"$LAST_MODIFIED": "26-NOV-2026", "$DATE": "25-NOV-2026"})
    assert source == "$DATE"


def test_unparseable_date_is_a_warning_naming_the_keyword_only() -> None:
    found, source, warnings = acquisition_date({"$DATE": "Mrs Smith's day"})
    assert found is None and source is None
    assert warnings == ["$DATE is not a recognised date"]


def test_custom_beckman_date_keyword_is_used() -> None:
    assert acquisition_date({"@Y2KDATE": "20091111"})[:2] == (date(2009, 11, 11), "@Y2KDATE")


def test_missing_study_anchor_leaves_the_study_day_empty_with_a_warning() -> None:
    result = deidentify({"$DATE": "25-NOV-2026"})
    assert result.study_day is None and result.warnings


@pytest.mark.parametrize(("name", "stored"), [("DOB 1961-04-12", "DOB NNNN-NN-NN"), ("BIRTH12APR1961", "BIRTHNNAAANNNN"),
                                              ("VISIT 04/12/1961", "VISIT NN/NN/NNNN"), ("@SAMPLEID1", "@SAMPLEID1"),
                                              ("$P12X", "$PnX"), ("CST SETUP DATE", "CST SETUP DATE")])
def test_a_dropped_keyword_name_keeps_only_the_shape_of_a_date(name: str, stored: str) -> None:
    """fcs_files.dropped_keywords stored a custom keyword's name verbatim, date included."""
    assert dropped_name(name) == stored


@pytest.mark.parametrize(("key", "value"), [("$P1O", "20"), ("$P1O", "1.5E1"), ("$P1L", "405,488"), ("$P1P", "50"),
                                            ("$P1D", "Linear,0,262144"), ("$P1D", "logarithmic,4,1"), ("$P1B", "*"),
                                            ("$TR", "FSC-A,5000"), ("$ABRT", "0"), ("$TIMESTEP", "0.01"),
                                            ("$FLOWRATE", "Medium"), ("$ORIGINALITY", "DataModified"),
                                            ("$SPILLOVER", "2,FSC-A,FL1-A,1,0.1,0,1"), ("$COMP", "1,1"),
                                            ("$P1S", "CD45RA PE-Cy7"), ("$CYT", "LSRFortessa X-20")])
def test_standard_keyword_values_are_kept_as_written(key: str, value: str) -> None:
    result = deidentify({"$P1N": "FSC-A", "$P2N": "FL1-A", key: value})
    assert result.kept[key] == value and not any(w.startswith("IML-FCS-043") for w in result.warnings)


@pytest.mark.parametrize(("written", "day"), [("12-APR-1961", None), ("01-JAN-2031", None), ("05-FEB-2020", 0),
                                              ("05-FEB-2019", -365), ("05-FEB-2021", 366)])
def test_an_acquisition_date_far_outside_the_trial_gives_no_study_day(written: str, day: int | None) -> None:
    """A planted $DATE of 1961 against a 2020 Day 0 was stored as acquisition_study_day -21483: the date itself."""
    result = deidentify({"$DATE": written}, study_day=lambda d: (d - date(2020, 2, 5)).days)
    assert result.study_day == day
    warned = [w for w in result.warnings if w.startswith("IML-IN-011")]
    assert bool(warned) == (day is None)
    assert not any(part in " ".join(warned) for part in ("1961", "2031", "APR", "JAN"))
