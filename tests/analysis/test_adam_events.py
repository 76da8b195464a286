"""ADaM ADTTE and ADAE, ADSL treatment codes and the ADLB / XPT conventions a trial statistician expects."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from immunolab.analysis.adam import (
    add_treatment_variables,
    build_adlb,
    build_adsl,
    covariate_labels,
    finish_adlb,
    treatment_codes,
    write_adam,
)
from immunolab.analysis.adam_events import build_adae, build_adtte
from immunolab.analysis.measurements_view import measurements_view
from immunolab.errors import InputError

ARMS = {f"{i:03d}": ("MSC" if i <= 10 else "control") for i in range(1, 21)}
DEATHS = {"003": 20, "011": 4, "012": 9, "013": 15, "014": 27, "016": 40}
DISCHARGES = {"001": 9, "002": 12, "004": 14, "005": 21, "006": 25, "015": 18, "017": 26}


def _subjects() -> pd.DataFrame:
    return pd.DataFrame({"patient_id": list(ARMS), "arm": list(ARMS.values()), "site": "S1", "age": 55, "sex": "F",
                         "day0_date": "2020-04-01", "baseline_severity": 5})


def _outcomes() -> pd.DataFrame:
    rows = [(p, "death", d) for p, d in DEATHS.items()] + [(p, "discharge", d) for p, d in DISCHARGES.items()]
    rows.append(("007", "withdrawal", 10))
    return pd.DataFrame(rows, columns=["patient_id", "event", "study_day"])


def _scores() -> pd.DataFrame:
    rows = []
    for i, pid in enumerate(ARMS):
        rows += [(pid, 0, 5.0), (pid, 6, 5.0 - (i % 3)), (pid, 14, 5.0 - (i % 4))]
    return pd.DataFrame(rows, columns=["patient_id", "study_day", "value"]).assign(test_code="WHOOSCI")


def _ae() -> pd.DataFrame:
    return pd.DataFrame([
        {"patient_id": "001", "term": "Headache", "decod": "Headache", "body_system": "Nervous system disorders",
         "start_day": -1, "end_day": 0, "grade": 1, "grade_source": "CTCAE", "serious": False, "related": None,
         "outcome": "recovered", "source_row": 1},
        {"patient_id": "001", "term": "Rash seen 2020-04-03", "decod": None, "body_system": None, "start_day": 2,
         "end_day": None, "grade": 2, "grade_source": "severity (MILD=1, MODERATE=2, SEVERE=3; not CTCAE)",
         "serious": False, "related": True, "outcome": "recovering", "source_row": 2},
        {"patient_id": "011", "term": "Respiratory failure", "decod": "Respiratory failure", "body_system": None,
         "start_day": 0, "end_day": 4, "grade": 5, "grade_source": "CTCAE", "serious": True, "related": False,
         "outcome": "fatal", "source_row": 3},
        {"patient_id": "012", "term": "Fever", "decod": None, "body_system": None, "start_day": None,
         "end_day": None, "grade": None, "grade_source": None, "serious": None, "related": None, "outcome": None,
         "source_row": 4},
    ])


def _adsl() -> pd.DataFrame:
    return add_treatment_variables(build_adsl(_subjects(), _outcomes(), _ae(), studyid="T1"))


def test_adsl_codes_the_treatment_and_arm_and_takes_actual_treatment_as_planned() -> None:
    adsl = _adsl().set_index("SUBJID")
    assert adsl.loc["001", ["ARM", "ARMCD", "TRT01P", "TRT01PN", "TRT01A", "TRT01AN"]].tolist() == [
        "MSC", "MSC", "MSC", 1, "MSC", 1]
    assert adsl.loc["020", ["ARMCD", "TRT01PN", "TRT01AN"]].tolist() == ["CONTROL", 0, 0]
    cols = list(adsl.columns)
    assert cols[cols.index("ARM"):cols.index("ARM") + 6] == ["ARM", "ARMCD", "TRT01P", "TRT01PN", "TRT01A", "TRT01AN"]
    assert treatment_codes(["B", "A", "Placebo"]) == {"Placebo": 0, "A": 1, "B": 2}
    assert treatment_codes(["high dose", "low dose"]) == {"high dose": 1, "low dose": 2}


def test_two_arms_that_shorten_to_one_armcd_are_iml_ana_009() -> None:
    subj = _subjects().assign(arm=["MSC-1"] * 10 + ["MSC 1"] * 10)
    with pytest.raises(InputError) as info:
        add_treatment_variables(build_adsl(subj, _outcomes(), _ae()))
    assert info.value.code == "IML-ANA-009" and "ARMCD MSC1" in info.value.message


def test_adtte_time_to_death_is_adsl_ttdth28_and_cnsdth28_with_event_and_censoring_descriptions() -> None:
    adsl = _adsl()
    adtte = build_adtte(adsl, _subjects(), _outcomes(), _scores())
    death = adtte[adtte["PARAMCD"] == "TTDTH28"].set_index("SUBJID")
    both = adsl.set_index("SUBJID")
    assert death["AVAL"].tolist() == both.loc[death.index, "TTDTH28"].tolist()
    assert death["CNSR"].tolist() == both.loc[death.index, "CNSDTH28"].tolist()
    assert death.loc["011", ["AVAL", "CNSR", "ADY", "STARTDY", "EVNTDESC", "CNSDTDSC"]].tolist() == [
        4.0, 0, 5.0, 0, "DEATH", ""]
    assert death.loc["016", ["AVAL", "CNSR", "CNSDTDSC"]].tolist() == [28.0, 1, "END OF FOLLOW-UP (DAY 28)"]
    assert death.loc["007", ["AVAL", "CNSR", "CNSDTDSC"]].tolist() == [10.0, 1, "WITHDRAWAL"]
    assert set(adtte["PARAMCD"]) == {"TTDTH28", "TTIMP28"} and len(adtte) == 40
    assert set(adtte["TRT01P"]) == {"MSC", "control"} and set(adtte["ITTFL"]) == {"Y"} and "SAFFL" in adtte
    imp = adtte[adtte["PARAMCD"] == "TTIMP28"].set_index("SUBJID")
    assert imp.loc["011", ["CNSR", "CNSDTDSC"]].tolist() == [1, "DEATH BEFORE IMPROVEMENT (AT DAY 28)"]
    assert (adtte["AVALU"] == "DAYS").all() and adtte.groupby("PARAMCD")["PARAM"].nunique().max() == 1


def test_adtte_keeps_the_true_censoring_and_says_a_missing_baseline_score_apart() -> None:
    """A patient last seen on Day 14 without a baseline score had CNSDTDSC "NO BASELINE SCORE (AT DAY 28)"."""
    subjects = pd.DataFrame({"patient_id": ["001", "002"], "arm": ["MSC", "control"]})
    adsl = add_treatment_variables(build_adsl(subjects, studyid="T1"))
    scores = pd.DataFrame({"patient_id": ["001", "002"], "study_day": [6, 6], "value": [5.0, 5.0],
                           "test_code": "WHOOSCI"})
    adtte = build_adtte(adsl, subjects, None, scores, last_contact={"001": 14, "002": 28})
    imp = adtte[adtte["PARAMCD"] == "TTIMP28"].set_index("SUBJID")
    assert imp.loc["001", ["AVAL", "CNSR", "CNSDTDSC"]].tolist() == [14.0, 1, "LAST CONTACT; NO BASELINE SCORE"]
    assert imp.loc["002", ["AVAL", "CNSR", "CNSDTDSC"]].tolist() == [28.0, 1, "NO BASELINE SCORE (AT DAY 28)"]


def test_adtte_has_no_improvement_parameter_without_who_scores() -> None:
    adtte = build_adtte(_adsl(), _subjects(), _outcomes(), None)
    assert set(adtte["PARAMCD"]) == {"TTDTH28"}


def test_adae_has_one_record_per_event_with_grade_days_and_treatment_emergence() -> None:
    adae = build_adae(_ae(), _adsl())
    assert len(adae) == 4 and adae.groupby("USUBJID")["ASEQ"].apply(list).to_dict()["T1-001"] == [1, 2]
    head = adae[adae["AETERM"] == "Headache"].iloc[0]
    assert head[["ASTDY", "AENDY", "TRTEMFL", "AETOXGR", "AESEV", "AESER", "AEREL", "AEOUT"]].tolist() == [
        -1.0, 1.0, "N", "1", "", "N", "", "RECOVERED/RESOLVED"]  # the day before the first infusion
    rash = adae[adae["SUBJID"] == "001"].iloc[1]
    assert rash["AETERM"] == "Rash seen [date]" and rash["AESEV"] == "MODERATE" and rash["AETOXGR"] == ""
    assert rash[["ASTDY", "TRTEMFL", "AEREL"]].tolist() == [3.0, "Y", "Y"]
    fatal = adae[adae["SUBJID"] == "011"].iloc[0]
    assert fatal[["ASTDY", "TRTEMFL", "AETOXGR", "AESER", "AEOUT"]].tolist() == [1.0, "Y", "5", "Y", "FATAL"]
    fever = adae[adae["SUBJID"] == "012"].iloc[0]
    assert fever["TRTEMFL"] == "Y" and np.isnan(fever["ASTDY"])  # onset unknown: treatment-emergent (conservative)
    assert set(adae["SAFFL"]) == {"Y"} and set(adae["ANL01FL"]) == {"Y"}
    assert adae.set_index("SUBJID").loc["011", ["TRT01P", "TRT01PN", "TRT01A", "TRT01AN"]].tolist() == [
        "control", 0, "control", 0]


def test_adae_keeps_qc_excluded_events_only_when_asked_with_the_analysis_flag_blank() -> None:
    excluded = _ae().iloc[[0]].assign(term="Nausea", source_row=9)
    adae = build_adae(_ae(), _adsl(), excluded)
    assert len(adae) == 5 and adae.loc[adae["AETERM"] == "Nausea", "ANL01FL"].tolist() == [""]
    assert (adae.loc[adae["AETERM"] != "Nausea", "ANL01FL"] == "Y").all()


def test_adae_of_a_patient_not_in_the_subjects_is_iml_ana_008() -> None:
    with pytest.raises(InputError) as info:
        build_adae(_ae().assign(patient_id="099"), _adsl())
    assert info.value.code == "IML-ANA-008" and "'099'" not in info.value.message and "099" in info.value.message


def _view() -> pd.DataFrame:
    rows = [{"patient_id": "001", "visit_day": d, "arm": "MSC", "assay": "cytokine", "feature": "IL-6",
             "measure": "concentration", "value": v, "unit": "pg/mL", "censor": c}
            for d, v, c in ((0, 40.0, "none"), (6, 10.0, "none"), (14, 2.0, "below_lloq"), (28, 900.0, "above_uloq"))]
    return measurements_view(pd.DataFrame(rows))


def test_adlb_leaves_change_empty_on_baseline_and_flags_substituted_values_in_criteria_not_dtype() -> None:
    adlb = finish_adlb(build_adlb(_view(), _subjects())).set_index("AVISITN")
    assert adlb.loc[0, "ABLFL"] == "Y" and adlb.loc[0, "BASE"] == 40.0
    assert np.isnan(adlb.loc[0, "CHG"]) and np.isnan(adlb.loc[0, "PCHG"])
    assert adlb.loc[6, ["CHG", "PCHG"]].tolist() == [-30.0, -75.0]
    assert "DTYPE" not in adlb.columns
    assert adlb["CRIT1FL"].tolist() == ["N", "N", "Y", "N"] and adlb["CRIT2FL"].tolist() == ["N", "N", "N", "Y"]
    assert adlb["CRIT1"].iloc[0].startswith("Below LLOQ") and adlb["CRIT2"].iloc[0].startswith("Above ULOQ")


def test_adlb_flags_as_baseline_the_last_record_with_a_value_in_the_day_0_window() -> None:
    """ABLFL sat on a Day 0 record without a value, so BASE and CHG were empty on every later visit."""
    rows = [{"patient_id": pid, "visit_day": d, "arm": "MSC", "assay": "cytokine", "feature": "IL-6",
             "measure": "concentration", "value": v, "unit": "pg/mL", "censor": c}
            for pid, d, v, c in (("001", -1, 50.0, "none"), ("001", 0, np.nan, "not_available"), ("001", 6, 10.0, "none"),
                                 ("002", -3, 70.0, "none"), ("002", 0, np.nan, "not_available"), ("002", 6, 10.0, "none"))]
    adlb = finish_adlb(build_adlb(measurements_view(pd.DataFrame(rows)), _subjects())).set_index(["SUBJID", "AVISITN"])
    assert adlb["ABLFL"].to_dict() == {("001", -1): "Y", ("001", 0): "", ("001", 6): "", ("002", -3): "",
                                       ("002", 0): "", ("002", 6): ""}  # Day -3 is before the Day 0 window
    assert adlb.loc[("001", 6), ["BASE", "CHG", "PCHG"]].tolist() == [50.0, -40.0, -80.0]
    assert adlb.loc["002", ["BASE", "CHG"]].isna().all().all()


def test_xpt_files_carry_dataset_labels_and_real_variable_labels(tmp_path: Path) -> None:
    adsl = _adsl()
    more = {"adtte": build_adtte(adsl, _subjects(), _outcomes(), _scores()), "adae": build_adae(_ae(), adsl)}
    write_adam(tmp_path, adsl, finish_adlb(build_adlb(_view(), _subjects())), more=more,
               labels=covariate_labels(adsl, _subjects()))
    expected = {"adsl": "Subject-Level Analysis Dataset", "adlb": "Laboratory Analysis Dataset",
                "adtte": "Time-to-Event Analysis Dataset", "adae": "Adverse Events Analysis Dataset"}
    for name, label in expected.items():
        with pd.read_sas(tmp_path / f"{name}.xpt", format="xport", encoding="utf-8", iterator=True) as reader:
            assert reader.member_info["label"] == label
            labels = {f["name"].decode().strip(): f["label"].decode().strip() for f in reader.fields}
            data = reader.read()
        assert all(lab and lab != var for var, lab in labels.items()), labels
        assert len(data) == len(pd.read_parquet(tmp_path / f"{name}.parquet"))
    with pd.read_sas(tmp_path / "adsl.xpt", format="xport", iterator=True) as reader:
        names = {f["name"].decode().strip(): f["label"].decode().strip() for f in reader.fields}
    assert names["BASELINE"] == "Subjects column baseline_severity" and names["TRT01PN"].endswith("(N)")
    assert covariate_labels(adsl.assign(SPECIMEN="PBMC"))["SPECIMEN"] == "Specimen of the Flow Samples"
    back = pd.read_sas(tmp_path / "adtte.xpt", format="xport", encoding="utf-8")
    # pandas reads an XPORT 0 (all bytes zero, as SAS writes it) as 5.4e-79 (pandas-dev/pandas#50670)
    assert back["CNSR"].tolist() == pytest.approx(more["adtte"]["CNSR"].tolist(), abs=1e-70)


def test_a_variable_without_a_label_is_iml_ana_009(tmp_path: Path) -> None:
    adsl = _adsl()
    with pytest.raises(InputError) as info:
        write_adam(tmp_path, adsl, build_adlb(_view()), more={"adae": build_adae(_ae(), adsl).assign(EXTRA=1)})
    assert info.value.code == "IML-ANA-009" and "EXTRA" in info.value.message and "no label" in info.value.message


def test_a_store_without_subjects_exports_the_four_datasets_empty(tmp_path: Path) -> None:
    """ARMCD / TRT01PN made `export adam` fail with a KeyError on a store that has no subjects yet."""
    from immunolab.analysis.adam import export_adam

    none = pd.DataFrame(columns=["patient_id", "arm", "site", "sex", "age", "severity"])
    export_adam(tmp_path, _view().iloc[0:0], none, None, None, xpt=False)
    for name in ("adsl", "adlb", "adtte", "adae"):
        assert pd.read_parquet(tmp_path / f"{name}.parquet").empty
    assert "CNSR" in pd.read_parquet(tmp_path / "adtte.parquet").columns


# --------------------------------------------------------- through the store: outcomes vs ADTTE


@pytest.fixture(scope="module")
def trial_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from immunolab.ingest import ingest_paths

    root = tmp_path_factory.mktemp("adam_events")
    _subjects().to_csv(root / "subjects.csv", index=False)
    (root / "manifest.csv").write_text("file,sample_id,patient_id,visit_day,specimen,panel\n")
    inbox = root / "in"
    inbox.mkdir()
    _outcomes().to_csv(inbox / "events.csv", index=False)
    scores = _scores().rename(columns={"test_code": "test"}).assign(test="WHO ordinal scale", unit="score")
    scores.to_csv(inbox / "who.csv", index=False)
    ae = _ae()[["patient_id", "term", "start_day", "grade", "serious"]].assign(
        grade=["1", "moderate", "5", ""], serious=["N", "N", "Y", ""])
    ae.to_csv(inbox / "ae.csv", index=False)
    report = ingest_paths([inbox], store=root / "store", manifest=root / "manifest.csv",
                          subjects=root / "subjects.csv")
    assert sorted(o.status for o in report.outcomes) == ["OK"] * 3, [o.message for o in report.outcomes]
    (root / "ae_ingest_id").write_text(next(o.ingest_id for o in report.outcomes if o.path.endswith("ae.csv")) or "")
    yield root


def test_kaplan_meier_on_adtte_reproduces_what_immunolab_outcomes_prints(trial_store: Path, tmp_path: Path) -> None:
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import logrank_test

    from immunolab.cli import main

    runner = CliRunner()
    res = runner.invoke(main, ["outcomes", "--store", str(trial_store / "store"), "--out", str(tmp_path / "o"),
                               "--no-plots"])
    assert res.exit_code == 0, res.output
    printed = {"TTDTH28": re.search(r"survival to day 28: log-rank chi2 = \S+, p = (\S+)", res.output),
               "TTIMP28": re.search(r"clinical improvement: .*log-rank p = (\S+)", res.output)}
    res = runner.invoke(main, ["export", "adam", "--store", str(trial_store / "store"), "--out", str(tmp_path / "a"),
                               "--no-xpt"])
    assert res.exit_code == 0, res.output
    adtte = pd.read_parquet(tmp_path / "a" / "adtte.parquet")
    tables = {"TTDTH28": ("survival_logrank", "survival_km"), "TTIMP28": ("improvement_logrank", "improvement_km")}
    for paramcd, (lr_name, km_name) in tables.items():
        d = adtte[adtte["PARAMCD"] == paramcd]
        t, r = d[d["TRT01P"] == "MSC"], d[d["TRT01P"] == "control"]
        test = logrank_test(t["AVAL"], r["AVAL"], event_observed_A=1 - t["CNSR"], event_observed_B=1 - r["CNSR"])
        match = printed[paramcd]
        assert match is not None and f"{test.p_value:.3g}" == match.group(1).rstrip(",")
        assert test.p_value == pytest.approx(pd.read_parquet(tmp_path / "o" / f"{lr_name}.parquet")["p"].iloc[0])
        km = pd.read_parquet(tmp_path / "o" / f"{km_name}.parquet")
        for arm, g in d.groupby("TRT01P"):
            fit = KaplanMeierFitter().fit(g["AVAL"], 1 - g["CNSR"])
            mine = km[km["arm"] == arm]
            assert fit.survival_function_.iloc[:, 0].tolist() == pytest.approx(mine["survival"].tolist())


def test_export_adam_leaves_out_adverse_events_of_an_excluded_file_and_says_so(trial_store: Path,
                                                                               tmp_path: Path) -> None:
    import json
    import shutil

    from immunolab.cli import main

    store = tmp_path / "store"
    shutil.copytree(trial_store / "store", store)
    runner = CliRunner()
    res = runner.invoke(main, ["qc", "exclude", "--store", str(store), "--file",
                               (trial_store / "ae_ingest_id").read_text(), "--reason", "wrong study export"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["export", "adam", "--store", str(store), "--out", str(tmp_path / "a"), "--no-xpt"])
    assert res.exit_code == 0 and "left out 4 adverse event(s) of files excluded by QC decisions" in res.output
    assert pd.read_parquet(tmp_path / "a" / "adae.parquet").empty
    res = runner.invoke(main, ["export", "adam", "--store", str(store), "--out", str(tmp_path / "b"), "--no-xpt",
                               "--include-excluded", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["qc_excluded_adverse_events"] == 0
    adae = pd.read_parquet(tmp_path / "b" / "adae.parquet")
    assert len(adae) == 4 and set(adae["ANL01FL"]) == {""}
    assert "adae" in json.loads(res.output)["datasets"]


def test_adtte_on_the_375_tongji_patients_counts_the_deaths_by_day_28_a_plain_count_finds() -> None:
    """Real outcomes (Yan et al. 2020; Day 0 = admission here, arms = sex): data this code was not shaped on."""
    from tests.conftest import shared_path

    pts = pd.read_csv(shared_path("clinical", "tjh_covid19", "EXPECTED_tjh_patients.csv"), dtype={"PATIENT_ID": str})
    day = (pd.to_datetime(pts["discharge"]) - pd.to_datetime(pts["admission"])).dt.days
    subjects = pd.DataFrame({"patient_id": pts["PATIENT_ID"], "arm": np.where(pts["gender"] == 1, "male", "female")})
    outcomes = pd.DataFrame({"patient_id": pts["PATIENT_ID"], "study_day": day,
                             "event": np.where(pts["outcome"] == 1, "death", "discharge")})
    adsl = add_treatment_variables(build_adsl(subjects, outcomes))
    adtte = build_adtte(adsl, subjects, outcomes).set_index("SUBJID")
    assert len(adtte) == 375 and int((pts["outcome"] == 1).sum()) == 174  # the paper's deaths, all follow-up
    died28 = pts.loc[(pts["outcome"] == 1) & (day <= 28), "PATIENT_ID"]
    assert set(adtte.index[adtte["CNSR"] == 0]) == set(died28)
    assert adtte.loc[died28, "AVAL"].tolist() == day[died28.index].astype(float).tolist()
