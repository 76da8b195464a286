"""Clinical files through ``immunolab ingest``: detection, identity, study days, the measurements view.

Clinical files hold many patients each, so they need no manifest row: the ids in the file are
resolved through the subjects file and dates become study days from each patient's Day 0. The
rows reach ``measurements`` as assay ``clinical`` at the nearest protocol visit within its
window; a later export of the same results replaces the earlier one's values.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from immunolab_assays.clinical_sdtm.plugin import SdtmPlugin
from immunolab_assays.clinical_table.plugin import ClinicalTablePlugin

import immunolab
from immunolab.derive.views import visit_of_day, visit_window, visit_window_bounds
from immunolab.ingest import ingest_paths
from immunolab.plugins import get_registry
from tests.clinical.factories import DAY0, date_of, sdtm_ae, sdtm_dm, sdtm_ds, write_xpt

SUBJECTS = "patient_id,arm,site,age,sex,day0_date,severity\n" + "\n".join(
    f"{p},{arm},{site},{age},{sex},{DAY0[p]},{sev}" for p, arm, site, age, sex, sev in
    [("001", "MSC", "S1", 50, "M", "WHO5"), ("002", "control", "S2", 61, "F", "WHO6"), ("003", "MSC", "S1", 44, "M", "WHO4")]
) + "\n"


def _labs(rows: list[tuple[str, int, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"patient_id": p, "date": date_of(p, d), "test": t, "value": v, "unit": u,
                          "comment": "phoned Dr DOE"} for p, d, t, v, u in rows])


@pytest.fixture
def study(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "subjects.csv").write_text(SUBJECTS)
    (tmp_path / "manifest.csv").write_text("file,sample_id,patient_id,visit_day,specimen,panel\n")
    (tmp_path / "in").mkdir()
    return {"root": tmp_path, "store": tmp_path / "store", "subjects": tmp_path / "subjects.csv",
            "manifest": tmp_path / "manifest.csv", "in": tmp_path / "in"}


def _ingest(study: dict[str, Path], *paths: Path, **kw):  # type: ignore[no-untyped-def]
    return ingest_paths(paths, store=study["store"], manifest=study["manifest"], subjects=study["subjects"], **kw)


def test_the_plain_header_rows_are_recognised_and_instrument_exports_are_not() -> None:
    plugin = ClinicalTablePlugin()
    assert plugin.detect(b"patient_id,date,test,value,unit\n001,2020-02-03,CRP,5,mg/L\n", "labs.csv").format == "plain_results"
    assert plugin.detect(b"\xef\xbb\xbfSubject;AE term;start_day\n", "ae.csv").format == "plain_adverse_events"
    assert plugin.detect(b"patient\tevent\tstudy_day\n", "ev.tsv").format == "plain_events"
    assert plugin.detect(b"Sample,Analyte,MFI\nS1,IL-6,100\n", "plate.csv") is None  # no patient column
    assert plugin.detect(b"patient_id,arm,site,age,sex\n", "subjects.csv") is None  # the subjects file is not clinical data
    assert plugin.detect(b"PK\x03\x04...", "labs.xlsx") is None  # workbooks are routed with --assay
    sdtm = SdtmPlugin()
    assert sdtm.detect(b"STUDYID,DOMAIN,USUBJID,LBTESTCD\n", "lb.csv").format == "sdtm_csv"
    assert sdtm.detect(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!000", "lb.xpt").format == "sdtm_xpt"
    assert plugin.detect(b"STUDYID,DOMAIN,USUBJID,LBTESTCD\n", "lb.csv") is None  # exactly one plugin claims it
    assert {"clinical_table", "clinical_sdtm"} <= set(get_registry().plugins)


def test_visits_take_results_within_their_window() -> None:
    assert [visit_window(d) for d in (0, 3, 14, 28, 90, 180)] == [1, 1, 1, 2, 9, 18]
    assert visit_of_day(2) == 3 and visit_of_day(-1) == 0 and visit_of_day(8) is None
    assert visit_of_day(30) == 28 and visit_of_day(31) is None and visit_of_day(170) == 180


def test_the_day_0_window_is_pre_dose_and_ends_on_day_0() -> None:
    """A result of Day 1 (after the first infusion on Day 0) was placed at Day 0 and became the baseline."""
    assert visit_window_bounds(0) == (-1, 0) and visit_window_bounds(3) == (2, 4) and visit_window_bounds(28) == (26, 30)
    assert visit_of_day(0) == 0 and visit_of_day(-1) == 0 and visit_of_day(1) is None and visit_of_day(2) == 3
    assert visit_of_day(1, (0, 2, 6)) == 2  # the next visit takes it when its window holds it


def test_a_lab_table_needs_no_manifest_row_and_reaches_measurements_without_dates_or_comments(study: dict[str, Path]) -> None:
    labs = _labs([("001", 0, "CRP", "5.2", "mg/dL"), ("001", 2, "Lymphocyte count", "0.62", "10^9/L"),
                  ("002", 0, "IL-6", "<1.5", "pg/mL"), ("003", 8, "CRP", "12", "mg/L"),
                  ("003", 14, "CRP", "3", "mg/L")])
    path = study["in"] / "labs.csv"
    labs.to_csv(path, index=False)
    report = _ingest(study, path)
    assert [o.status for o in report.outcomes] == ["OK"]
    store = immunolab.open_store(study["store"])
    res = store.to_pandas("clinical_results")
    assert sorted(res["patient_id"]) == ["001", "001", "002", "003", "003"]
    crp = res[(res["patient_id"] == "001") & (res["test_code"] == "CRP")].iloc[0]
    assert (crp["value"], crp["unit"], crp["study_day"]) == (52.0, "mg/L", 0)  # mg/dL -> mg/L
    m = store.to_pandas("measurements")
    assert set(m["assay"]) == {"clinical"}
    got = {(r.patient_id, r.visit_day, r.feature): (r.value, r.censor) for r in m.itertuples()}
    assert got[("001", 0, "CRP")] == (52.0, "none")
    assert got[("001", 3, "LYM")] == (620.0, "none")  # day 2 is in the Day 3 window; 10^9/L -> cells/uL
    day = {(r.patient_id, r.visit_day, r.feature): r.collection_day for r in m.itertuples()}
    assert day[("001", 3, "LYM")] == 2 and day[("003", 14, "CRP")] == 14  # the result's own study day (ADaM's ADY)
    assert str(store.table("measurements").schema.field("collection_day").type) == "int32"  # nullable, as visit_day
    assert got[("002", 0, "IL6")] == (1.5, "below_lloq")
    assert got[("003", 14, "CRP")] == (3.0, "none")
    assert not any(k[0] == "003" and k[1] in (6, 10) for k in got)  # day 8 is no protocol visit's
    assert set(m.loc[m["patient_id"] == "002", "arm"]) == {"control"}
    assert set(m.loc[m["patient_id"] == "002", "severity"]) == {"WHO6"}
    text = "\n".join(p.read_bytes().decode("latin-1") for p in study["store"].rglob("*") if p.is_file()
                     and "raw" not in p.parts)
    assert "2020-02" not in text and "DOE" not in text


def test_a_patient_the_subjects_file_does_not_know_refuses_the_file_and_stores_nothing(study: dict[str, Path]) -> None:
    path = study["in"] / "labs.csv"
    _labs([("001", 0, "CRP", "5.2", "mg/dL")]).assign(patient_id=["042"]).to_csv(path, index=False)
    report = _ingest(study, path)
    (outcome,) = report.outcomes
    assert outcome.status == "FAIL" and outcome.code == "IML-CLIN-006"
    assert "042" in outcome.message or "subjects" in outcome.message
    assert not (study["store"] / "clinical_results").exists() or immunolab.open_store(study["store"]).to_pandas(
        "clinical_results").empty


def test_a_patient_id_written_without_its_leading_zeros_is_refused_with_the_manifests_hint(
    study: dict[str, Path],
) -> None:
    path = study["in"] / "labs.csv"
    labs = _labs([("001", 0, "CRP", "5.2", "mg/dL"), ("003", 0, "CRP", "3", "mg/L")])
    labs.loc[1, "patient_id"] = "3"  # a spreadsheet dropped the leading zeros
    labs.to_csv(path, index=False)
    (outcome,) = _ingest(study, path).outcomes
    assert outcome.status == "FAIL" and outcome.code == "IML-CLIN-006"
    assert "Did you mean 003?" in (outcome.hint or "") and "data row 2" in (outcome.message or "")
    assert not (study["store"] / "clinical_results").exists() or immunolab.open_store(study["store"]).to_pandas(
        "clinical_results").empty


def test_results_that_are_not_numbers_are_kept_as_text_with_a_coded_warning_naming_tests_and_rows(
    study: dict[str, Path],
) -> None:
    path = study["in"] / "labs.csv"
    _labs([("001", 0, "CRP", "12..5", "mg/L"), ("001", 0, "IL-6", "7.1", "pg/mL"),
           ("002", 0, "Lymphocyte count", "see comment", "10^9/L")]).to_csv(path, index=False)
    (outcome,) = _ingest(study, path).outcomes
    assert outcome.status == "OK"
    (warning,) = [w for w in outcome.warnings if w.startswith("IML-CLIN-009")]
    assert "2 result(s) are not numbers (CRP row 1, LYM row 3)" in warning
    assert "12..5" not in warning and "see comment" not in warning and "001" not in warning
    res = immunolab.open_store(study["store"]).to_pandas("clinical_results").set_index("test_code")
    assert res.loc["CRP", "value_reported"] == "12..5" and pd.isna(res.loc["CRP", "value"])
    assert res.loc["LYM", "value_reported"] == "see comment"


def test_the_text_result_warning_never_spells_a_kept_unlisted_test_name(study: dict[str, Path]) -> None:
    """With --clinical-unknown-tests keep, a test's code is built from its name as written (review)."""
    path = study["in"] / "labs.csv"
    _labs([("001", 0, "CRP Jane Doe", "pending", "mg/L"), ("001", 0, "CRP", "n/a?", "mg/L")]).to_csv(path, index=False)
    (outcome,) = _ingest(study, path, plugin_options={"clinical_unknown_tests": "keep"}).outcomes
    (warning,) = [w for w in outcome.warnings if w.startswith("IML-CLIN-009")]
    assert "test row 1" in warning and "CRP row 2" in warning and "JANE" not in warning.upper()


def _workbook(path: Path) -> Path:
    _labs([("001", 0, "CRP", "5.2", "mg/dL")]).drop(columns="comment").to_excel(path, index=False)
    return path


def test_a_workbook_named_with_a_clinical_profile_is_ignored_with_the_assay_option_that_reads_it(
    study: dict[str, Path],
) -> None:
    path = _workbook(study["in"] / "labs.xlsx")
    (outcome,) = _ingest(study, path, plugin_options={"clinical_profile": "tjh"}).outcomes
    assert outcome.status == "IGNORED"
    assert "--clinical-profile is an option of clinical_table" in (outcome.message or "")
    assert "ingest this file on its own with --assay clinical_table" in (outcome.message or "")
    assert "manifest row" in (outcome.message or "")  # --assay routes every unrouted file of a run


def test_an_unclaimed_workbook_is_ignored_with_the_plugins_that_read_workbooks(study: dict[str, Path]) -> None:
    (outcome,) = _ingest(study, _workbook(study["in"] / "labs.xlsx")).outcomes
    assert outcome.status == "IGNORED" and "--assay NAME" in (outcome.message or "")
    assert "clinical_table" in (outcome.message or "")


def test_a_stray_csv_gets_no_routing_hint_from_another_plugins_option(study: dict[str, Path]) -> None:
    """With --accept-missing-crc given, every ignored .csv was told to try the xPONENT plugin (review)."""
    path = study["in"] / "notes.csv"
    path.write_text("minutes,of,the,meeting\n")
    (outcome,) = _ingest(study, path, plugin_options={"accept_missing_crc": True}).outcomes
    assert outcome.status == "IGNORED" and "--assay" not in (outcome.message or "")


def test_an_unrelated_file_stays_plainly_ignored_even_with_a_clinical_profile(study: dict[str, Path]) -> None:
    path = study["in"] / "notes.bin"
    path.write_bytes(b"\x00\x01 lab notes")
    (outcome,) = _ingest(study, path, plugin_options={"clinical_profile": "tjh"}).outcomes
    assert outcome.status == "IGNORED" and "--assay" not in (outcome.message or "")


def test_a_later_cumulative_export_replaces_the_values_it_repeats(
    study: dict[str, Path], caplog: pytest.LogCaptureFixture,
) -> None:
    first = study["in"] / "labs_jan.csv"
    _labs([("001", 0, "CRP", "5.2", "mg/L"), ("002", 0, "CRP", "40", "mg/L")]).to_csv(first, index=False)
    _ingest(study, first)
    second = study["in"] / "labs_feb.csv"  # the hospital corrected 002's CRP and added Day 3
    _labs([("001", 0, "CRP", "5.2", "mg/L"), ("002", 0, "CRP", "4.0", "mg/L"),
           ("002", 3, "CRP", "3.1", "mg/L")]).to_csv(second, index=False)
    _ingest(study, second)
    store = immunolab.open_store(study["store"])
    assert len(store.to_pandas("clinical_results")) == 5  # both exports stay facts
    m = store.to_pandas("measurements").set_index(["patient_id", "visit_day", "feature"])["value"]
    assert m[("002", 0, "CRP")] == 4.0 and m[("002", 3, "CRP")] == 3.1 and m[("001", 0, "CRP")] == 5.2
    assert len(m) == 3
    (replaced,) = [r for r in caplog.records if getattr(r, "code", None) == "IML-CLIN-011"]
    assert replaced.getMessage().startswith("1 clinical_results value(s)")  # 002's corrected CRP; 001's repeat is equal
    assert "40" not in replaced.getMessage() and "002" not in replaced.getMessage()


def test_results_outside_every_visit_window_are_counted_at_ingest_and_by_the_view(
    study: dict[str, Path], caplog: pytest.LogCaptureFixture,
) -> None:
    """Study days 20 and 45 fall in no window: they vanished from measurements with no notice."""
    path = study["in"] / "labs.csv"
    _labs([("001", 20, "CRP", "12.5", "mg/L"), ("001", 45, "CRP", "3.1", "mg/L"),
           ("001", 14, "CRP", "9.9", "mg/L")]).to_csv(path, index=False)
    (outcome,) = _ingest(study, path).outcomes
    (warning,) = [w for w in outcome.warnings if w.startswith("IML-CLIN-010")]
    assert warning.startswith("IML-CLIN-010 2 result(s) on study days outside every protocol visit window")
    assert "20" not in warning and "45" not in warning
    m = immunolab.open_store(study["store"]).to_pandas("measurements")
    assert m["visit_day"].tolist() == [14]
    (logged,) = [r for r in caplog.records if getattr(r, "code", None) == "IML-CLIN-010"]
    assert logged.getMessage().startswith("2 clinical_results row(s) on study days outside")


def test_sdtm_transport_files_give_adverse_events_deaths_and_demographics(study: dict[str, Path]) -> None:
    ae = write_xpt(study["in"] / "ae.xpt", sdtm_ae(), "AE")
    dm = write_xpt(study["in"] / "dm.xpt", sdtm_dm(), "DM")
    ds = sdtm_ds()
    ds = ds[ds["USUBJID"] != "MSC01-S1-004"]  # the screen failure is no trial patient
    ds_path = study["in"] / "ds.csv"
    ds.to_csv(ds_path, index=False)
    report = _ingest(study, ae, dm, ds_path)
    assert sorted(o.plugin for o in report.outcomes) == ["clinical_sdtm"] * 3
    assert [o.status for o in report.outcomes] == ["OK"] * 3
    store = immunolab.open_store(study["store"])
    events = store.to_pandas("adverse_events")
    assert sorted(events["grade"].dropna().astype(int)) == [1, 2, 5]  # nausea: AESEV MODERATE -> grade 2
    assert events.set_index("term").loc["NAUSEA", "grade_source"] != events.set_index("term").loc["FEVER", "grade_source"]
    fatal = events[events["grade"] == 5].iloc[0]
    assert fatal["patient_id"] == "002" and fatal["outcome"] == "fatal" and bool(fatal["serious"])
    outcomes = store.to_pandas("outcomes")
    deaths = outcomes[outcomes["event"] == "death"]
    assert set(deaths["patient_id"]) == {"002"} and set(deaths["study_day"]) == {12}
    assert set(store.to_pandas("demographics")["patient_id"]) == {"001", "002", "003"}


def test_a_workbook_is_read_when_routed_to_the_plugin(study: dict[str, Path]) -> None:
    path = study["in"] / "labs.xlsx"
    _labs([("001", 0, "CRP", "5.2", "mg/L")]).to_excel(path, index=False)
    (ignored,) = _ingest(study, path).outcomes
    assert ignored.status == "IGNORED"  # a workbook says nothing about itself in its first bytes
    (ok,) = _ingest(study, path, assay="clinical_table").outcomes
    assert ok.status == "OK" and ok.plugin == "clinical_table"


def test_the_date_rule_uses_each_patients_own_day0(study: dict[str, Path]) -> None:
    same_date = dt.date.fromisoformat(DAY0["002"]).isoformat()  # Day 0 of 002 is Day 7 of 001
    path = study["in"] / "labs.csv"
    pd.DataFrame([{"patient_id": "001", "date": same_date, "test": "CRP", "value": "1", "unit": "mg/L"},
                  {"patient_id": "002", "date": same_date, "test": "CRP", "value": "2", "unit": "mg/L"}]).to_csv(path, index=False)
    _ingest(study, path)
    res = immunolab.open_store(study["store"]).to_pandas("clinical_results").set_index("patient_id")["study_day"]
    assert (res["001"], res["002"]) == (7, 0)


def test_outcomes_and_adam_commands_read_the_ingested_clinical_files(study: dict[str, Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from immunolab.cli import main

    inbox = study["in"]
    pd.DataFrame([{"patient_id": "002", "event": "death", "study_day": 12},
                  {"patient_id": "001", "event": "discharge", "study_day": 9},
                  {"patient_id": "003", "event": "discharge", "study_day": 15}]).to_csv(inbox / "events.csv", index=False)
    pd.DataFrame([{"patient_id": "002", "term": "Respiratory failure", "start_day": 10, "grade": 5, "serious": "Y"},
                  {"patient_id": "001", "term": "Headache", "start_day": 1, "grade": 1, "serious": "N"},
                  {"patient_id": "001", "term": "Rash", "start_day": 2, "grade": 2, "serious": "N"}]
                 ).to_csv(inbox / "ae.csv", index=False)
    scores = [(p, d, "WHO ordinal scale", s, "") for p, d, s in
              (("001", 0, 5), ("001", 6, 3), ("002", 0, 6), ("002", 6, 7), ("003", 0, 4), ("003", 14, 2))]
    _labs(scores).drop(columns=["unit"]).assign(unit="score").to_csv(inbox / "who.csv", index=False)
    report = _ingest(study, inbox)
    assert sorted(o.status for o in report.outcomes) == ["OK"] * 3
    runner = CliRunner()
    out = tmp_path / "outcomes"
    res = runner.invoke(main, ["outcomes", "--store", str(study["store"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "28-day mortality: MSC 0/2 vs control 1/1" in res.output
    mortality = pd.read_csv(out / "mortality.csv").iloc[0]
    assert (mortality["deaths_treated"], mortality["deaths_reference"]) == (0, 1)
    ae = pd.read_csv(out / "adverse_events.csv").set_index("category")
    assert ae.loc["any adverse event", "patients_treated"] == 1 and ae.loc["grade >= 3", "patients_reference"] == 1
    improvement = pd.read_csv(out / "improvement_logrank.csv").iloc[0]
    assert (improvement["events_treated"], improvement["events_reference"]) == (2, 0)  # 001 and 003 fell 2 points
    assert (out / "survival_km.png").stat().st_size > 1000
    again = runner.invoke(main, ["outcomes", "--store", str(study["store"]), "--out", str(out), "--version", "1"])
    assert again.exit_code == 0, again.output  # its own folder, at a locked version
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("kept")
    refused = runner.invoke(main, ["outcomes", "--store", str(study["store"]), "--out", str(foreign)])
    assert refused.exit_code == 1 and "IML-IN-010" in refused.output and [p.name for p in foreign.iterdir()] == ["mine.txt"]
    import json

    settings = json.loads((out / "settings.json").read_text())  # which store version the endpoints come from
    assert settings["store_version"] == immunolab.open_store(study["store"]).version == 1
    assert settings["immunolab_version"] == immunolab.__version__ and settings["day"] == 28
    adam_dir = tmp_path / "adam"
    res = runner.invoke(main, ["export", "adam", "--store", str(study["store"]), "--out", str(adam_dir), "--studyid", "T1"])
    assert res.exit_code == 0, res.output
    adsl = pd.read_parquet(adam_dir / "adsl.parquet").set_index("SUBJID")
    assert adsl.loc["002", "DTHFL"] == "Y" and adsl.loc["002", "DTHDY"] == 12 and adsl.loc["002", "SEVERITY"] == "WHO6"
    assert adsl.loc["001", "AENUM"] == 2 and adsl.loc["002", "AEGR3FL"] == "Y"
    adlb = pd.read_parquet(adam_dir / "adlb.parquet")
    who = adlb[(adlb["SUBJID"] == "001") & (adlb["PARAM"].str.contains("WHOOSCI"))].set_index("AVISITN")
    assert who.loc[6, "CHG"] == -2 and who.loc[0, "ABLFL"] == "Y"


def test_store_info_counts_the_patients_of_a_clinical_only_store(study: dict[str, Path]) -> None:
    """It said `patients: 0` for a store holding only hospital results (they have no samples)."""
    import json

    from click.testing import CliRunner

    from immunolab.cli import main

    path = study["in"] / "labs.csv"
    _labs([("001", 0, "CRP", "5.2", "mg/L"), ("002", 0, "CRP", "40", "mg/L")]).to_csv(path, index=False)
    assert _ingest(study, path).outcomes[0].status == "OK"
    info = json.loads(CliRunner().invoke(main, ["store", "info", "--store", str(study["store"]), "--json"]).output)
    assert info["samples"] == 0 and info["patients"] == 2


def test_a_clinical_file_excluded_by_qc_leaves_the_trial_tables(study: dict[str, Path]) -> None:
    """`qc exclude --file` on an adverse-events export was accepted and changed nothing (trial finding)."""
    from immunolab.analysis.trial_tables import trial_adverse_events, trial_outcomes
    from immunolab.derive.decisions import decide

    inbox = study["in"]
    pd.DataFrame([{"patient_id": "001", "term": "Headache", "start_day": 1, "grade": 1, "serious": "N"}]
                 ).to_csv(inbox / "ae_jan.csv", index=False)
    _ingest(study, inbox / "ae_jan.csv")
    pd.DataFrame([{"patient_id": "001", "term": "Headache", "start_day": 1, "grade": 2, "serious": "N"},
                  {"patient_id": "002", "term": "Rash", "start_day": 2, "grade": 1, "serious": "N"}]
                 ).to_csv(inbox / "ae_feb.csv", index=False)
    pd.DataFrame([{"patient_id": "002", "event": "death", "study_day": 12}]).to_csv(inbox / "events.csv", index=False)
    _ingest(study, inbox / "ae_feb.csv", inbox / "events.csv")
    store = immunolab.open_store(study["store"])
    assert sorted(trial_adverse_events(store)["grade"]) == [1, 2]  # 001's grade from the later export, 002's rash
    src = store.to_pandas("sources", columns=["ingest_id", "source_sha256"])
    feb = store.to_pandas("adverse_events").query("patient_id == '002'")["source_sha256"].iloc[0]
    events = set(store.to_pandas("outcomes")["source_sha256"])
    decide(store, action="exclude", kind="file", target=src.set_index("source_sha256").loc[feb, "ingest_id"],
           analyte=None, reason="sent to the wrong trial")
    decide(immunolab.open_store(study["store"]), action="exclude", kind="file",
           target=src.set_index("source_sha256").loc[next(iter(events)), "ingest_id"], analyte=None, reason="draft")
    store = immunolab.open_store(study["store"])
    ae = trial_adverse_events(store)
    assert ae[["patient_id", "grade"]].values.tolist() == [["001", 1]]  # the earlier export counts again
    assert trial_outcomes(store).empty
    assert len(store.to_pandas("adverse_events")) == 3  # the facts stay; only the analysis leaves them out


def test_rows_a_later_cumulative_export_dropped_are_named_by_their_earlier_file(
    study: dict[str, Path], caplog: pytest.LogCaptureFixture,
) -> None:
    """A later export without 001's Day 0 lymphocytes and without an AE kept them, with no note (trial finding)."""
    from immunolab.analysis.trial_tables import trial_adverse_events

    inbox = study["in"]
    _labs([("001", 0, "CRP", "5.2", "mg/L"), ("001", 0, "LYM", "610", "/uL"), ("002", 0, "CRP", "40", "mg/L")]
          ).to_csv(inbox / "labs_jan.csv", index=False)
    pd.DataFrame([{"patient_id": "001", "term": "Rash", "start_day": 2, "grade": 1, "serious": "N"},
                  {"patient_id": "001", "term": "Hypoxia", "start_day": 3, "grade": 3, "serious": "Y"}]
                 ).to_csv(inbox / "ae_jan.csv", index=False)
    first = _ingest(study, inbox / "labs_jan.csv", inbox / "ae_jan.csv")
    jan = {Path(o.path).name: o.ingest_id for o in first.outcomes}
    (inbox / "feb").mkdir()
    _labs([("001", 0, "CRP", "5.2", "mg/L"), ("002", 0, "CRP", "40", "mg/L"), ("002", 3, "CRP", "9", "mg/L")]
          ).to_csv(inbox / "feb" / "labs_feb.csv", index=False)
    pd.DataFrame([{"patient_id": "001", "term": "Rash", "start_day": 2, "grade": 2, "serious": "N"}]
                 ).to_csv(inbox / "feb" / "ae_feb.csv", index=False)
    _ingest(study, inbox / "feb" / "labs_feb.csv", inbox / "feb" / "ae_feb.csv")
    store = immunolab.open_store(study["store"])
    caplog.clear()
    m = store.to_pandas("measurements").set_index(["patient_id", "visit_day", "feature"])["value"]
    assert m[("001", 0, "LYM")] == 610  # still counted
    ae = trial_adverse_events(store).set_index("term")["grade"]
    assert ae.to_dict() == {"Rash": 2, "Hypoxia": 3}
    absent = [r.getMessage() for r in caplog.records if getattr(r, "code", None) == "IML-CLIN-012"]
    assert len(absent) == 2
    (labs,) = [a for a in absent if "clinical_results" in a]
    assert labs.startswith("1 clinical_results row(s)") and jan["labs_jan.csv"] in labs
    (aes,) = [a for a in absent if "adverse_events" in a]
    assert aes.startswith("1 adverse_events row(s)") and jan["ae_jan.csv"] in aes
    assert "610" not in labs and "Hypoxia" not in aes


def test_an_incremental_export_that_repeats_nothing_is_not_reported_as_dropping_rows(
    study: dict[str, Path], caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = study["in"]
    _labs([("001", 0, "CRP", "5.2", "mg/L")]).to_csv(inbox / "labs_jan.csv", index=False)
    _ingest(study, inbox / "labs_jan.csv")
    (inbox / "feb").mkdir()
    _labs([("001", 3, "CRP", "3.0", "mg/L")]).to_csv(inbox / "feb" / "labs_feb.csv", index=False)
    _ingest(study, inbox / "feb" / "labs_feb.csv")
    caplog.clear()
    assert len(immunolab.open_store(study["store"]).to_pandas("measurements")) == 2
    assert not [r for r in caplog.records if getattr(r, "code", None) == "IML-CLIN-012"]


def test_outcomes_past_a_patients_last_contact_censor_there_and_warn_iml_ana_012(study: dict[str, Path],
                                                                                   tmp_path: Path) -> None:
    """`outcomes --day 180` counted patients without follow-up after Day 90 as alive and censored at Day 180."""
    from click.testing import CliRunner

    from immunolab.cli import main

    inbox = study["in"]
    pd.DataFrame([{"patient_id": "002", "event": "death", "study_day": 12},
                  {"patient_id": "003", "event": "discharge", "study_day": 15}]).to_csv(inbox / "events.csv", index=False)
    _labs([("001", 0, "CRP", "50", "mg/L"), ("001", 90, "CRP", "3", "mg/L"), ("003", 28, "CRP", "4", "mg/L")]
          ).to_csv(inbox / "labs.csv", index=False)
    assert sorted(o.status for o in _ingest(study, inbox).outcomes) == ["OK"] * 2
    out = tmp_path / "outcomes"
    res = CliRunner().invoke(main, ["outcomes", "--store", str(study["store"]), "--out", str(out), "--day", "180"])
    assert res.exit_code == 0, res.output
    assert "WARN IML-ANA-012" in res.output and "last contact of 2 patient(s)" in res.output
    assert "1/1; risk difference" in res.output and "2 patient(s) censored before day 180" in res.output
    assert pd.read_csv(out / "mortality.csv").iloc[0]["n_censored_before_day"] == 2
    km = pd.read_csv(out / "survival_km.csv")
    assert km.loc[km["arm"] == "MSC", "time"].tolist() == [0.0, 28.0, 90.0]  # 003 at Day 28, 001 at Day 90
    assert km.loc[km["arm"] == "MSC", "censored"].sum() == 2
    res = CliRunner().invoke(main, ["outcomes", "--store", str(study["store"]), "--out", str(out), "--day", "28"])
    assert res.exit_code == 0 and "IML-ANA-012" not in res.output  # everyone alive was seen on or after Day 28
