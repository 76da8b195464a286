"""Plain clinical layouts: results in canonical units with study days; AEs; events; every error coded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from immunolab_assays.clinical_table import (
    detect_layout,
    read_clinical_table,
    read_plain_adverse_events,
    read_plain_events,
    read_plain_results,
)

from immunolab.clinical.context import ReadContext
from immunolab.errors import InputError
from tests.clinical import factories as fx


def _results(tmp_path: Path, frame: pd.DataFrame, **kw: object) -> pd.DataFrame:
    path = fx.write_csv(tmp_path / "labs.csv", frame)
    return read_plain_results(path, fx.context(), **kw).table("clinical_results").to_pandas()  # type: ignore[arg-type]


def test_results_are_in_canonical_units_on_study_days_with_range_flags(tmp_path: Path) -> None:
    out = _results(tmp_path, fx.lab_results_frame()).set_index(["patient_id", "test_code"])
    crp = out.loc[("001", "CRP")]
    assert (crp["study_day"], crp["value"], crp["unit"], crp["ref_high"], crp["flag"]) == (0, 52.0, "mg/L", 5.0, "H")
    assert (crp["value_reported"], crp["unit_reported"]) == ("5.2", "mg/dL")
    lym = out.loc[("001", "LYM")]
    assert (lym["study_day"], lym["value"], lym["ref_low"], lym["flag"]) == (3, 620.0, 1100.0, "L")
    assert out.loc[("002", "LYM"), "flag"] == "N" and out.loc[("002", "LYM"), "study_day"] == 0
    il6 = out.loc[("002", "IL6")]
    assert (il6["value"], il6["censor"], il6["study_day"]) == (1.5, "below_lloq", 6)
    assert out.loc[("003", "DDIMER"), "study_day"] == 14


def test_no_date_name_or_comment_reaches_the_table(tmp_path: Path) -> None:
    out = _results(tmp_path, fx.lab_results_frame())
    text = out.astype(str).to_csv()
    assert "2020-" not in text and "DOE" not in text and "haemolysed" not in text
    assert "date" not in out.columns and "comment" not in out.columns


def test_an_empty_result_is_listed_as_skipped_not_dropped_silently(tmp_path: Path) -> None:
    path = fx.write_csv(tmp_path / "labs.csv", fx.lab_results_frame())
    read = read_plain_results(path, fx.context())
    assert read.table("clinical_results").num_rows == 5
    assert [(s.source_row, s.patient_id, s.reason) for s in read.skipped] == [(6, "003", "empty result")]


def test_the_same_table_as_xlsx_reads_the_same(tmp_path: Path) -> None:
    frame = fx.lab_results_frame()
    csv_out = _results(tmp_path, frame)
    xlsx = tmp_path / "labs.xlsx"
    frame.to_excel(xlsx, index=False)
    xlsx_out = read_plain_results(xlsx, fx.context("labs.xlsx")).table("clinical_results").to_pandas()
    pd.testing.assert_frame_equal(csv_out, xlsx_out)


def test_hospital_numbers_map_to_trial_ids_through_the_subjects_file(tmp_path: Path) -> None:
    frame = fx.lab_results_frame().iloc[:1].assign(patient_id="H-91")
    path = fx.write_csv(tmp_path / "labs.csv", frame)
    out = read_plain_results(path, fx.context(source_column="hospital_no")).table("clinical_results").to_pandas()
    assert out["patient_id"].tolist() == ["001"]


def test_an_unknown_patient_is_iml_clin_006(tmp_path: Path) -> None:
    frame = fx.lab_results_frame().iloc[:1].assign(patient_id="099")
    with pytest.raises(InputError) as info:
        _results(tmp_path, frame)
    assert info.value.code == "IML-CLIN-006" and "'099'" in info.value.message and info.value.path == "labs.csv"


def test_a_date_without_a_day0_rule_is_iml_clin_006(tmp_path: Path) -> None:
    path = fx.write_csv(tmp_path / "labs.csv", fx.lab_results_frame().iloc[:1])
    with pytest.raises(InputError) as info:
        read_plain_results(path, ReadContext(label="labs.csv"))
    assert info.value.code == "IML-CLIN-006" and "Day 0" in info.value.message


def test_a_date_decades_from_day_0_is_refused_without_its_day_or_date(tmp_path: Path) -> None:
    """A 1961 date against a 2020 Day 0 was stored as study day -21483, which gives the date back."""
    frame = fx.lab_results_frame().iloc[:1].assign(date="1961-04-12")
    with pytest.raises(InputError) as info:
        _results(tmp_path, frame)
    text = str(info.value) + (info.value.hint or "")
    assert info.value.code == "IML-CLIN-007" and "outside study days" in text
    assert "1961" not in text and "21483" not in text


@pytest.mark.parametrize("date", ["03/02/2020", "2020-02", "yesterday"])
def test_a_date_that_is_not_full_iso_8601_is_iml_clin_005(tmp_path: Path, date: str) -> None:
    frame = fx.lab_results_frame().iloc[:1].assign(date=date)
    with pytest.raises(InputError) as info:
        _results(tmp_path, frame)
    assert info.value.code == "IML-CLIN-005" and "data row 1" in info.value.message


def test_an_unknown_test_is_iml_clin_003_unless_kept(tmp_path: Path) -> None:
    frame = fx.lab_results_frame().iloc[:2].copy()
    frame.loc[0, "test"] = "Frobnicase"
    with pytest.raises(InputError) as info:
        _results(tmp_path, frame)
    assert info.value.code == "IML-CLIN-003" and "data row(s) 1" in info.value.message
    assert "Frobnicase" not in str(info.value)  # free text from the file (it may hold a name) is never echoed
    assert "--clinical-unknown-tests keep" in (info.value.hint or "")
    kept = _results(tmp_path, frame, unknown_tests="keep").set_index("test_code")
    assert kept.loc["FROBNICASE", "value"] == 5.2 and kept.loc["FROBNICASE", "unit"] == "mg/dL"
    assert "not in immunolab's test table" in kept.loc["FROBNICASE", "note"]


def test_an_unknown_unit_is_iml_clin_004(tmp_path: Path) -> None:
    frame = fx.lab_results_frame().iloc[:1].assign(unit="mg/furlong")
    with pytest.raises(InputError) as info:
        _results(tmp_path, frame)
    assert info.value.code == "IML-CLIN-004" and "CRP" in info.value.message


def test_a_missing_column_is_iml_clin_002_listing_accepted_headers(tmp_path: Path) -> None:
    frame = fx.lab_results_frame().drop(columns=["unit"])
    with pytest.raises(InputError) as info:
        _results(tmp_path, frame)
    assert info.value.code == "IML-CLIN-002" and "'unit'" in info.value.message and "units" in (info.value.hint or "")


def test_an_unreadable_or_empty_file_is_iml_clin_001(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("patient_id,study_day,test,value,unit\n")
    with pytest.raises(InputError) as info:
        read_plain_results(empty, ReadContext(label="empty.csv"))
    assert info.value.code == "IML-CLIN-001"
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(InputError) as info:
        read_plain_results(broken, ReadContext(label="broken.xlsx"))
    assert info.value.code == "IML-CLIN-001" and info.value.path == "broken.xlsx"


def _ae_frame() -> pd.DataFrame:
    return pd.DataFrame([
        {"patient_id": "001", "term": "Fever", "start_date": fx.date_of("001", 1), "end_date": fx.date_of("001", 2),
         "grade": "1", "serious": "N", "related": "Y", "outcome": "RECOVERED/RESOLVED"},
        {"patient_id": "002", "term": "Pneumonia", "start_date": fx.date_of("002", 5), "end_date": "",
         "grade": "Grade 4", "serious": "Y", "related": "N", "outcome": "NOT RECOVERED/NOT RESOLVED"},
        {"patient_id": "003", "term": "Headache", "start_date": fx.date_of("003", 0), "end_date": "",
         "grade": "MODERATE", "serious": "no", "related": "", "outcome": ""},
    ])


def test_adverse_events_keep_grade_seriousness_and_days(tmp_path: Path) -> None:
    path = fx.write_csv(tmp_path / "ae.csv", _ae_frame())
    ae = read_plain_adverse_events(path, fx.context("ae.csv")).table("adverse_events").to_pandas()
    assert ae["start_day"].tolist() == [1, 5, 0]
    assert ae["end_day"].tolist()[0] == 2 and pd.isna(ae["end_day"].iloc[1])
    assert ae["grade"].tolist() == [1, 4, 2] and ae["grade_source"].tolist()[:2] == ["CTCAE", "CTCAE"]
    assert "not CTCAE" in ae["grade_source"].iloc[2]
    assert ae["serious"].tolist() == [False, True, False]
    assert ae["related"].tolist()[:2] == [True, False] and ae["related"].isna().iloc[2]
    assert ae["outcome"].tolist()[:2] == ["recovered", "not_recovered"]


@pytest.mark.parametrize(("column", "value"), [("grade", "7"), ("serious", "maybe"), ("outcome", "better")])
def test_a_bad_controlled_value_is_iml_clin_007(tmp_path: Path, column: str, value: str) -> None:
    frame = _ae_frame()
    frame.loc[1, column] = value
    path = fx.write_csv(tmp_path / "ae.csv", frame)
    with pytest.raises(InputError) as info:
        read_plain_adverse_events(path, fx.context("ae.csv"))
    assert info.value.code == "IML-CLIN-007" and "data row 2" in info.value.message and info.value.hint


def test_events_become_canonical_outcomes_and_the_layout_is_detected(tmp_path: Path) -> None:
    frame = pd.DataFrame({"patient_id": ["001", "002", "003"], "event": ["Died", "discharged", "clinical improvement"],
                          "date": [fx.date_of("001", 12), "", ""], "study_day": ["", "20", "9"]})
    path = fx.write_csv(tmp_path / "events.csv", frame)
    assert detect_layout(path) == "events"
    out = read_clinical_table(path, fx.context("events.csv")).table("outcomes").to_pandas()
    assert out[["event", "study_day"]].values.tolist() == [["death", 12], ["discharge", 20], ["clinical_improvement", 9]]
    bad = fx.write_csv(tmp_path / "bad.csv", frame.assign(event="transferred"))
    with pytest.raises(InputError) as info:
        read_plain_events(bad, fx.context("bad.csv"))
    assert info.value.code == "IML-CLIN-007"


def test_a_table_of_no_known_layout_is_iml_clin_002(tmp_path: Path) -> None:
    path = fx.write_csv(tmp_path / "x.csv", pd.DataFrame({"a": [1], "b": [2]}))
    with pytest.raises(InputError) as info:
        read_clinical_table(path)
    assert info.value.code == "IML-CLIN-002"


def test_a_name_in_the_patient_column_is_never_echoed_in_the_error(tmp_path: Path) -> None:
    frame = fx.lab_results_frame().iloc[:1].assign(patient_id="Jane DOE")
    with pytest.raises(InputError) as info:
        _results(tmp_path, frame)
    assert info.value.code == "IML-CLIN-006" and "DOE" not in str(info.value) and "not shown" in str(info.value)


@pytest.mark.parametrize(("column", "value"), [("grade", "ZZCANARY-GRADE"), ("outcome", "ZZCANARY-AEOUTCOME"),
                                               ("start_day", "1961-04-12"), ("serious", "SMITH JOHN")])
def test_a_bad_adverse_event_cell_is_named_by_column_row_and_shape_never_by_its_text(
        tmp_path: Path, column: str, value: str) -> None:
    frame = _ae_frame().assign(start_day="")
    frame.loc[1, column] = value
    _refused_by_shape(read_plain_adverse_events, fx.write_csv(tmp_path / "ae.csv", frame))


def _refused_by_shape(read: Callable[..., object], path: Path) -> None:
    """Assert that reading ``path`` is IML-CLIN-007 naming data row 2 by its shape, never the planted text."""
    with pytest.raises(InputError) as info:
        read(path, fx.context(path.name))
    text = str(info.value)
    assert info.value.code == "IML-CLIN-007" and "data row 2" in text and "written as" in text
    assert "ZZCANARY" not in text and "SMITH" not in text and "1961" not in text


@pytest.mark.parametrize(("column", "value"), [("event", "ZZCANARY-EVENT-SMITHJOHN"), ("study_day", "1961-04-12")])
def test_a_bad_event_cell_is_named_by_column_row_and_shape_never_by_its_text(
        tmp_path: Path, column: str, value: str) -> None:
    frame = pd.DataFrame({"patient_id": ["001", "002"], "event": ["Died", "discharged"], "study_day": ["12", "20"]})
    frame.loc[1, column] = value
    _refused_by_shape(read_plain_events, fx.write_csv(tmp_path / "events.csv", frame))
