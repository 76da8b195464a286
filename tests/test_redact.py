"""What a message or the store may show of a hand-written value (:mod:`immunolab.redact`)."""

from __future__ import annotations

import pytest

from immunolab.redact import contains_date, redact_free_text, shown_day, shown_id, value_shape


@pytest.mark.parametrize("pid", ["001", "P-017", "MSC.12"])
def test_a_study_code_is_shown_as_written(pid: str) -> None:
    assert shown_id(pid) == repr(pid)


@pytest.mark.parametrize("pid", ["SMITH JOHN", "ZZCANARY-PID-SMITHJOHN", "1961-04-12", "12/04/1961", "19610412"])
def test_a_name_or_a_date_in_an_id_column_is_never_shown(pid: str) -> None:
    assert "not shown" in shown_id(pid) and pid not in shown_id(pid)


def test_a_study_day_is_shown_and_a_year_or_a_date_only_by_its_shape() -> None:
    assert (shown_day(14), shown_day("-3"), shown_day(1961), shown_day("1961-04-12")) == \
        ("14", "-3", "(written as NNNN)", "(written as NNNN-NN-NN)")
    assert value_shape("SMITH JOHN 1961") == "AAAAA AAAA NNNN"


@pytest.mark.parametrize("text", ["Run April 12, 1961", "Run Apr-12-1961", "Run 12-Apr-1961", "Run 1961-04-12",
                                  "Run 12/04/1961", "Run 19610412", "Run Apr. 12th 1961"])
def test_every_written_date_style_in_free_text_becomes_date(text: str) -> None:
    assert redact_free_text(text) == "Run [date]"


@pytest.mark.parametrize("text", ["MILLIPLEX MAP Human Cytokine 27-plex", "HCYTA-60K-PX38", "Lot 3356721", "Marker 12"])
def test_kit_names_and_lots_without_a_date_are_kept(text: str) -> None:
    assert redact_free_text(text) == text


@pytest.mark.parametrize("text", ["S/N 12-34-56", "Lot 12-34-5678", "Lot 1/2/345", "22-10-001", "V1.0.23",
                                  "xPONENT 4.2.1509", "Bio-Plex Manager 6.2.0.175", "CytExpert 2.4.0.28",
                                  "Lot 12345678", "TBNK-Treg", "FL1-A", "CD4-APC-H7"])
def test_version_numbers_serials_and_lots_that_cannot_be_dates_are_kept(text: str) -> None:
    """'Bio-Plex Manager 6.2.0.175' was stored as 'Bio-Plex Manager 6.[date]' and 'S/N 12-34-56' as 'S/N [date]'."""
    assert redact_free_text(text) == text and not contains_date(text)


def test_one_date_rule_for_subjects_cells_and_free_text() -> None:
    """The subjects-covariate check had its own pattern: it kept 'Apr-12-1961' and dropped a covariate 123456."""
    from immunolab.identity.files import looks_like_date

    for text in ("Apr-12-1961", "12th April 1961", "DOB19610412", "on 03.04.2020."):
        assert looks_like_date(text) and contains_date(text), text
    for text in ("123456", "262144", "1234511", "WHO5"):
        assert not looks_like_date(text), text


def test_clean_reason_replaces_dates_record_numbers_and_titled_names() -> None:
    from immunolab.redact import clean_reason

    assert clean_reason("Mr ROBIN ROE (DOB 1961-04-12, MRN 4471123) withdrew consent") == (
        "[name] (DOB [date], MRN [number]) withdrew consent", ["date", "name", "number"])
    assert clean_reason("patient Mrs. Smith asked") == ("patient [name] asked", ["name"])
    for kept in ("Treg gate holds 26 events", "bead aggregate, 12 beads", "Dr said re-run", "12000 events only",
                 "4PL 1/y per SAP", "lot 1234567.5", "1,234,567 beads"):
        assert clean_reason(kept) == (kept, [])
    assert clean_reason(None) == (None, [])


def test_a_record_number_at_the_end_of_a_sentence_or_before_a_comma_is_replaced() -> None:
    from immunolab.redact import clean_reason

    assert clean_reason("tube of MRN 1234567.") == ("tube of MRN [number].", ["number"])
    assert clean_reason("MRN 12345678, see CRF") == ("MRN [number], see CRF", ["number"])
    assert clean_reason("MRNs 1234567,7654321") == ("MRNs [number],[number]", ["number"])
    assert clean_reason("1234567,5 units") == ("1234567,5 units", [])  # a decimal comma



def test_the_api_records_a_cleaned_reason_and_warns_as_the_cli_does(tmp_path) -> None:
    """Only the CLI's --reason was cleaned: `immunolab.ingest(..., reason=...)` and `decide()` stored it as typed.

    Run in a fresh interpreter, as a user's script: `immunolab.ingest` is called twice there (the second
    call raised "'module' object is not callable": importing immunolab.ingest rebound the name).
    """
    import subprocess
    import sys

    import pandas as pd

    import immunolab

    (tmp_path / "subjects.csv").write_text("patient_id,arm,site,age,sex\n001,MSC,A,40,F\n")
    (tmp_path / "manifest.csv").write_text("file,sample_id,patient_id,visit_day,specimen,panel\n")
    pd.DataFrame([{"patient_id": "001", "study_day": 0, "test": "CRP", "value": "5", "unit": "mg/L"}]
                 ).to_csv(tmp_path / "labs.csv", index=False)
    script = f"""
import immunolab
from immunolab.derive.decisions import decide
typed = "Mr ROBIN ROE (DOB 1961-04-12, MRN 4471123) asked"
kw = dict(store={str(tmp_path / "store")!r}, manifest={str(tmp_path / "manifest.csv")!r},
          subjects={str(tmp_path / "subjects.csv")!r})
immunolab.ingest([{str(tmp_path / "labs.csv")!r}], reason=typed, **kw)
again = immunolab.ingest([{str(tmp_path / "labs.csv")!r}], **kw)
print("second call", again.counts["SKIP"])
s = immunolab.open_store(kw["store"])
decide(s, action="exclude", kind="file", target=s.to_pandas("sources")["ingest_id"].iloc[0], analyte=None, reason=typed)
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "second call 1" in res.stdout
    s = immunolab.open_store(tmp_path / "store")
    recorded = [v.reason or "" for v in s.versions()] + list(s.to_pandas("qc_decisions")["reason"])
    assert "[name] (DOB [date], MRN [number]) asked" in recorded
    assert not any(t in " ".join(recorded) + res.stderr for t in ("ROBIN", "1961", "4471123"))
