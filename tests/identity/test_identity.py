"""Identity specifications: subjects and manifest are checked with clear, coded errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from immunolab.errors import IdentityError
from immunolab.identity import load_identity

SUBJECTS = "patient_id,arm,site,age,sex,day0_date\n001,MSC,A,40,F,2026-03-01\n002,control,A,70,M,\n"
MANIFEST = "file,sample_id,patient_id,visit_day,specimen,panel\n"


def write(tmp: Path, subjects: str = SUBJECTS, manifest_rows: str = "") -> Path:
    (tmp / "subjects.csv").write_text(subjects)
    (tmp / "manifest.csv").write_text(MANIFEST + manifest_rows)
    return tmp / "manifest.csv"


def code_of(tmp: Path, **kw) -> str:
    """Return the code of the (single) problem of the files; every problem is collected, none raised early."""
    with pytest.raises(IdentityError) as exc:
        load_identity(write(tmp, **kw)).check()
    return exc.value.code


def test_valid_files_resolve_file_and_plate_samples(tmp_path: Path) -> None:
    m = write(tmp_path, manifest_rows="a.fcs,001-D0,001,0,PBMC,T\nplate.csv,,,,,cyto\n,S1,002,3,serum,\n")
    ident = load_identity(m)
    e = ident.require_file(tmp_path / "sub" / "a.fcs", "label")
    assert (e.patient_id, e.visit_day, e.sample_id) == ("001", 0, "001-D0")
    assert ident.resolve_sample_refs(["S1"], "plate")["S1"].patient_id == "002"
    assert ident.study_day_for(e)(date(2026, 3, 15)) == 14


def test_ids_stay_strings_with_leading_zeros(tmp_path: Path) -> None:
    ident = load_identity(write(tmp_path, manifest_rows="a.fcs,,001,0,,\n"))
    assert "001" in ident.subjects
    assert ident.require_file(tmp_path / "a.fcs", "x").sample_id == "001-D000-row2"


def test_unknown_patient_is_iml_id_004(tmp_path: Path) -> None:
    assert code_of(tmp_path, manifest_rows="a.fcs,,007,0,,\n") == "IML-ID-004"


def test_duplicate_manifest_file_is_iml_id_003(tmp_path: Path) -> None:
    assert code_of(tmp_path, manifest_rows="a.fcs,,001,0,,\na.fcs,,001,3,,\n") == "IML-ID-003"


def test_duplicate_sample_id_is_iml_id_003(tmp_path: Path) -> None:
    assert code_of(tmp_path, manifest_rows="a.fcs,X1,001,0,,\nb.fcs,X1,001,3,,\n") == "IML-ID-003"


def test_duplicate_subject_is_iml_id_003(tmp_path: Path) -> None:
    assert code_of(tmp_path, subjects=SUBJECTS + "001,MSC,A,41,F,\n") == "IML-ID-003"


def test_visit_outside_protocol_is_iml_id_005(tmp_path: Path) -> None:
    assert code_of(tmp_path, manifest_rows="a.fcs,,001,7,,\n") == "IML-ID-005"


@pytest.mark.parametrize("age", ["17", "71", "5"])
def test_patient_outside_inclusion_ages_is_iml_id_006(tmp_path: Path, age: str) -> None:
    assert code_of(tmp_path, subjects=f"patient_id,arm,site,age,sex\n001,MSC,A,{age},F\n") == "IML-ID-006"


def test_missing_columns_is_iml_id_002(tmp_path: Path) -> None:
    assert code_of(tmp_path, subjects="patient_id,arm\n001,MSC\n") == "IML-ID-002"


@pytest.mark.parametrize("row", ["001,placebo,A,40,F", "001,MSC,A,forty,F", "001,MSC,A,40,Q", "John Smith,MSC,A,40,F"])
def test_bad_subject_values_are_iml_id_007(tmp_path: Path, row: str) -> None:
    assert code_of(tmp_path, subjects=f"patient_id,arm,site,age,sex\n{row}\n") == "IML-ID-007"


def test_missing_subjects_file_is_iml_id_009(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text(MANIFEST)
    with pytest.raises(IdentityError) as exc:
        load_identity(tmp_path / "manifest.csv")
    assert exc.value.code == "IML-ID-009"


def test_filename_rule_is_opt_in_and_checked(tmp_path: Path) -> None:
    m = write(tmp_path)
    ident = load_identity(m, filename_rule=r"(?P<patient_id>\d{3})_D(?P<visit_day>\d+)")
    assert ident.entry_for_file(tmp_path / "001_D14_tube.fcs").visit_day == 14
    with pytest.raises(IdentityError) as bad_visit:
        ident.require_file(tmp_path / "001_D15_tube.fcs", "file:abc")
    assert bad_visit.value.code == "IML-ID-005"
    with pytest.raises(IdentityError) as bad_patient:
        ident.require_file(tmp_path / "099_D14_tube.fcs", "file:abc")
    assert bad_patient.value.code == "IML-ID-004" and "099" in bad_patient.value.message
    assert load_identity(m).entry_for_file(tmp_path / "001_D14_tube.fcs") is None
    with pytest.raises(IdentityError) as exc:
        load_identity(m, filename_rule=r"(?P<patient_id>\d+)")
    assert exc.value.code == "IML-ID-010"


def test_error_message_names_line_but_not_file_cell(tmp_path: Path) -> None:
    ident = load_identity(write(tmp_path, manifest_rows="Jane_Roe_D0.fcs,,009,0,,\n"))
    with pytest.raises(IdentityError) as exc:
        ident.require_file(tmp_path / "Jane_Roe_D0.fcs", "file:123")
    assert "line 2" in exc.value.message and "Jane" not in exc.value.format()


def test_plate_names_with_spaces_map_through_sample_name_and_are_not_stored(tmp_path: Path) -> None:
    m = write(tmp_path, manifest_rows=",S-7,001,14,serum,\n")
    (tmp_path / "manifest.csv").write_text(
        "file,sample_id,patient_id,visit_day,specimen,panel,sample_name\n,S-7,001,14,serum,,PT-001 D14 | serum\n")
    ident = load_identity(m)
    e = ident.resolve_sample_refs(["PT-001 D14 | serum"], "plate")["PT-001 D14 | serum"]
    assert (e.sample_id, e.patient_id, e.visit_day) == ("S-7", "001", 14)


def test_duplicate_sample_names_are_iml_id_003(tmp_path: Path) -> None:
    (tmp_path / "subjects.csv").write_text(SUBJECTS)
    (tmp_path / "manifest.csv").write_text(
        "file,sample_id,patient_id,visit_day,specimen,panel,sample_name\n,S1,001,0,,,A\n,S2,001,3,,,A\n")
    with pytest.raises(IdentityError) as exc:
        load_identity(tmp_path / "manifest.csv").check()
    assert exc.value.code == "IML-ID-003"
    assert "line 2" in exc.value.message and "line 3" in exc.value.message


def test_every_problem_of_both_files_is_reported_at_once_line_by_line(tmp_path: Path) -> None:
    subjects = SUBJECTS + "003,placebo,A,40,F\n004,MSC,A,12,F\n"
    rows = "a.fcs,,001,7,,\nb.fcs,,077,0,,\nc.fcs,,002,3,,\n"
    ident = load_identity(write(tmp_path, subjects=subjects, manifest_rows=rows))
    with pytest.raises(IdentityError) as exc:
        ident.check()
    msg = exc.value.message
    assert exc.value.code == "IML-ID-011"
    for expected in ("subjects line 4", "subjects line 5", "manifest line 2", "manifest line 3"):
        assert expected in msg, expected
    assert ident.require_file(tmp_path / "c.fcs", "x").patient_id == "002"  # a good row is still usable


def test_header_spellings_of_spreadsheets_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "subjects.csv").write_text("Patient ID,Arm,Site,Age,Sex\n001,MSC,A,40,F\n")
    (tmp_path / "manifest.csv").write_text("File,Sample ID,Patient ID,Visit Day,Specimen,Panel\na.fcs,S1,001,14,PBMC,T\n")
    ident = load_identity(tmp_path / "manifest.csv")
    ident.check()
    assert ident.require_file(tmp_path / "a.fcs", "x").visit_day == 14


def test_a_patient_id_that_lost_its_leading_zeros_gets_a_hint(tmp_path: Path) -> None:
    ident = load_identity(write(tmp_path, manifest_rows="a.fcs,,1,0,,\n"))
    with pytest.raises(IdentityError) as exc:
        ident.require_file(tmp_path / "a.fcs", "x")
    assert exc.value.code == "IML-ID-004" and "Did you mean 001" in (exc.value.hint or "")


@pytest.mark.parametrize("value", ["05/02/2020", "5.2.2020", "05-02-20"])
def test_an_ambiguous_date_is_refused_with_the_iso_hint(tmp_path: Path, value: str) -> None:
    subjects = f"patient_id,arm,site,age,sex,day0_date\n001,MSC,A,40,F,{value}\n"
    with pytest.raises(IdentityError) as exc:
        load_identity(write(tmp_path, subjects=subjects)).check()
    assert exc.value.code == "IML-ID-007" and "YYYY-MM-DD" in (exc.value.hint or "")
    assert "ambiguous" in exc.value.message


@pytest.mark.parametrize("value", ["2020-02-05", "05-Feb-2020", "2020/02/05"])
def test_unambiguous_dates_are_read(tmp_path: Path, value: str) -> None:
    subjects = f"patient_id,arm,site,age,sex,day0_date\n001,MSC,A,40,F,{value}\n"
    ident = load_identity(write(tmp_path, subjects=subjects))
    assert ident.subjects["001"].day0_date == date(2020, 2, 5)


def test_a_bad_line_about_a_file_not_in_this_run_does_not_stop_the_run(tmp_path: Path) -> None:
    from immunolab.ingest import ingest_paths
    from immunolab.plugins import get_registry, reset_registry
    from tests.store.toy_plugin import ToyPlugin

    reset_registry()
    get_registry([ToyPlugin()])
    try:
        m = write(tmp_path, manifest_rows="good.toy,S1,001,0,PBMC,T\nother.toy,S2,001,7,PBMC,T\n")
        (tmp_path / "good.toy").write_text("TOYASSAY v1\nLymphocytes,10\n")
        report = ingest_paths([tmp_path / "good.toy"], store=tmp_path / "store", manifest=m)
        assert [o.status for o in report.outcomes] == ["OK"]
    finally:
        reset_registry()


@pytest.mark.parametrize("value", ["3.9", "3e0", "2.6", "3.01"])
def test_a_fractional_visit_day_in_the_manifest_is_refused(tmp_path: Path, value: str) -> None:
    ident = load_identity(write(tmp_path, manifest_rows=f"a.fcs,S1,001,{value},PBMC,T\n"))
    with pytest.raises(IdentityError) as exc:
        ident.require_file(tmp_path / "a.fcs", "S1")
    assert exc.value.code == "IML-ID-007"
    assert "manifest line 2" in exc.value.message and repr(value) in exc.value.message
    assert "visit day 2" not in exc.value.message and "visit day 3" not in exc.value.message


@pytest.mark.parametrize(("value", "day"), [("3", 3), ("003", 3), ("+3", 3), ("D14", 14), ("3.0", 3), ("14.00", 14)])
def test_a_whole_visit_day_is_read_as_written(tmp_path: Path, value: str, day: int) -> None:
    ident = load_identity(write(tmp_path, manifest_rows=f"a.fcs,S1,001,{value},PBMC,T\n"))
    assert ident.require_file(tmp_path / "a.fcs", "S1").visit_day == day


def test_a_file_listed_with_other_letter_case_gets_a_hint_naming_the_manifest_line(tmp_path: Path) -> None:
    ident = load_identity(write(tmp_path, manifest_rows="b.fcs,S2,001,3,PBMC,T\nPatient_A.FCS,S1,001,0,PBMC,T\n"))
    with pytest.raises(IdentityError) as exc:
        ident.require_file(tmp_path / "patient_a.fcs", "file:abc")
    assert exc.value.code == "IML-ID-001" and "line 3" in (exc.value.hint or "") and "case" in (exc.value.hint or "")
    assert "patient_a" not in str(exc.value).lower()


@pytest.mark.parametrize("value", ["2020-02-08", "08/02/2020", "8.2.2020", "Feb 8 2020", "08/02"])
def test_a_date_written_as_visit_day_is_refused_without_repeating_the_date(tmp_path: Path, value: str) -> None:
    """A date in the manifest's visit_day was echoed in the FAIL line and the audit record."""
    ident = load_identity(write(tmp_path, manifest_rows=f'a.fcs,S1,001,"{value}",PBMC,T\n'))
    with pytest.raises(IdentityError) as exc:
        ident.require_file(tmp_path / "a.fcs", "S1")
    text = str(exc.value)
    assert exc.value.code == "IML-ID-007" and "calendar date" in text and "not the date of the visit" in text
    assert "2020" not in text and "08" not in text.replace("NN", "")


@pytest.mark.parametrize("value", ["three", "Jane Doe", "day three"])
def test_text_written_as_visit_day_is_named_by_its_shape_only(tmp_path: Path, value: str) -> None:
    ident = load_identity(write(tmp_path, manifest_rows=f"a.fcs,S1,001,{value},PBMC,T\n"))
    with pytest.raises(IdentityError) as exc:
        ident.require_file(tmp_path / "a.fcs", "S1")
    assert exc.value.code == "IML-ID-007" and "written as A" in str(exc.value) and value not in str(exc.value)


def _subjects_with(column: str, values: list[str]) -> str:
    rows = [f"00{i},MSC,A,4{i},F,2026-03-0{i},WHO{4 + i % 2},{v}" for i, v in enumerate(values, start=1)]
    return f"patient_id,arm,site,age,sex,day0_date,baseline_severity,{column}\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize(("column", "values", "why"), [
    ("Patient Name", ["ZZCANARY-A", "ZZCANARY-A"], "its name says"),
    ("initials", ["ZZ", "ZZ"], "its name says"),
    ("DOB", ["ZZ", "ZZ"], "its name says"),
    ("hospital_number", ["7", "7"], "its name says"),
    ("MRN", ["7", "7"], "its name says"),
    ("e-mail", ["x", "x"], "its name says"),
    ("notes", ["mild", "mild"], "its name says"),
    ("visit", ["1961-04-12", "x"], "calendar date"),
    ("seen", ["x", "12/04/1961"], "calendar date"),
    ("seen", ["12 Apr 1961", "x"], "calendar date"),
    ("seen", ["19610412", "x"], "calendar date"),
    ("code", ["QX1", "QX2", "QX3", "QX4", "QX5"], "differs for every patient (5 patients)"),
])
def test_a_subjects_column_that_identifies_is_not_kept_and_named_without_its_values(
        tmp_path: Path, column: str, values: list[str], why: str) -> None:
    """Extra subjects columns were kept verbatim as covariates: a name or a birth date reached the store."""
    ident = load_identity(write(tmp_path, subjects=_subjects_with(column, values)))
    assert all(set(s.covariate_dict()) == {"baseline_severity"} for s in ident.subjects.values())
    (warning,) = ident.subject_warnings
    assert warning.code == "IML-ID-016" and why in warning.message
    assert not any(v in warning.text() for v in values if len(v) > 1)
    assert ident.subjects["001"].day0_date == date(2026, 3, 1)  # Day 0 is read as before, never a covariate


@pytest.mark.parametrize(("column", "values"), [
    ("bmi", ["21.5", "22.5", "23.5", "24.5", "25.5"]),  # numbers differ per patient: a measurement
    ("specimen", ["PB", "WB", "PB", "WB", "PB"]),  # text that groups patients
    ("diabetes", ["yes", "no", "no", "yes", "no"]),
    ("comorbidity", ["a", "b", "c", "d"]),  # distinct, but fewer than five patients
])
def test_covariates_that_group_patients_are_kept(tmp_path: Path, column: str, values: list[str]) -> None:
    ident = load_identity(write(tmp_path, subjects=_subjects_with(column, values)))
    assert not ident.subject_warnings
    assert [s.covariate_dict()[column] for s in ident.subjects.values()] == values
    assert "day0_date" not in ident.subjects["001"].covariate_dict()


def test_a_covariate_change_line_names_columns_never_values() -> None:
    """`identity apply` printed `covariates_json - -> {"name": ...}` and kept it in the audit record."""
    import pyarrow as pa

    from immunolab.identity.model import Subject
    from immunolab.identity.records import diff_subjects, subject_record

    stored = subject_record(Subject("001", "MSC", "A", 40, "F", covariates=(("name", "ZZCANARY-SUBJNAME-001"),
                                                                            ("severity_grade", "2"))),
                            subjects_sha256=None, reason=None)
    new = Subject("001", "MSC", "A", 40, "F", covariates=(("baseline_severity", "WHO5"), ("severity_grade", "3")))
    plan = diff_subjects(pa.Table.from_pylist([stored]), [new], subjects_sha256=None, reason="x")
    (line,) = plan.lines()
    assert line == "SUBJECT 001 covariates added baseline_severity; removed name; changed severity_grade"


@pytest.mark.parametrize(("specimen", "panel"), [("PBMC 1961-04-12", "T"), ("PBMC", "T April 12, 1961"),
                                                 ("serum 12/04/1961", "T")])
def test_a_date_in_specimen_or_panel_is_refused_without_repeating_it(tmp_path: Path, specimen: str, panel: str) -> None:
    """specimen and panel are kept in identity_samples: free text (``whole blood``) but never a date."""
    ident = load_identity(write(tmp_path, manifest_rows=f'a.fcs,S1,001,0,"{specimen}","{panel}"\n'))
    with pytest.raises(IdentityError) as exc:
        ident.require_file(tmp_path / "a.fcs", "S1")
    assert exc.value.code == "IML-ID-007" and "holds a date" in str(exc.value) and "1961" not in str(exc.value)


def test_a_specimen_written_in_words_is_kept(tmp_path: Path) -> None:
    ident = load_identity(write(tmp_path, manifest_rows='a.fcs,S1,001,0,"whole blood",TBNK-Treg\n'))
    assert ident.require_file(tmp_path / "a.fcs", "S1").specimen == "whole blood"


@pytest.mark.parametrize("sample_id", ["1961-04-12", "19610412"])
def test_a_sample_id_shaped_like_a_date_is_refused_without_repeating_it(tmp_path: Path, sample_id: str) -> None:
    """A date-shaped id passed the code rule, so it was stored in identity_samples and exported."""
    ident = load_identity(write(tmp_path, manifest_rows=f"a.fcs,{sample_id},001,0,PBMC,T\n"))
    with pytest.raises(IdentityError) as exc:
        ident.check()
    assert exc.value.code == "IML-ID-007" and "1961" not in str(exc.value)
