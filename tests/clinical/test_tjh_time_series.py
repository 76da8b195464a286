"""Tongji Hospital COVID-19 lab time series (real file): the reader reproduces the EXPECTED tables exactly."""

from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import pytest
from immunolab_assays.clinical_table import read_lab_time_series

from immunolab.clinical.parsed import ClinicalRead
from immunolab.errors import InputError
from tests.conftest import shared_path

pytestmark = pytest.mark.shared_data
FOLDER = ("clinical", "tjh_covid19")


@pytest.fixture(scope="module")
def tjh() -> tuple[ClinicalRead, float]:
    path = shared_path(*FOLDER, "time_series_375_prerpocess_en.xlsx")
    start = time.perf_counter()
    read = read_lab_time_series(path)
    return read, time.perf_counter() - start


@pytest.fixture(scope="module")
def expected_patients() -> pd.DataFrame:
    return pd.read_csv(shared_path(*FOLDER, "EXPECTED_tjh_patients.csv"), dtype={"PATIENT_ID": str})


def test_reading_the_whole_cohort_takes_seconds(tjh: tuple[ClinicalRead, float]) -> None:
    assert tjh[1] < 30.0


def test_per_patient_rows_deaths_and_counts_match_expected(tjh: tuple[ClinicalRead, float],
                                                           expected_patients: pd.DataFrame) -> None:
    read = tjh[0]
    res = read.table("clinical_results").to_pandas()
    exp = expected_patients.set_index("PATIENT_ID")
    assert len(exp) == 375
    result_rows = res.groupby("patient_id")["source_row"].nunique()
    empty_rows = pd.Series([s.patient_id for s in read.skipped]).value_counts()
    n_rows = result_rows.add(empty_rows, fill_value=0).astype(int)
    assert n_rows.reindex(exp.index).tolist() == exp["n_rows"].tolist()
    for code, column in (("IL6", "n_il6"), ("LYM", "n_lymph_count"), ("CRP", "n_hscrp")):
        counts = res[res["test_code"] == code].groupby("patient_id").size()
        assert counts.reindex(exp.index, fill_value=0).tolist() == exp[column].tolist(), code
    outcomes = read.table("outcomes").to_pandas().set_index("patient_id")
    assert (outcomes["event"] == "death").sum() == 174 == int(exp["outcome"].sum())
    assert ((outcomes["event"] == "death").astype(int).reindex(exp.index) == exp["outcome"]).all()
    demo = read.table("demographics").to_pandas().set_index("patient_id").reindex(exp.index)
    assert demo["age"].tolist() == exp["age"].tolist()
    assert demo["sex"].tolist() == exp["gender"].map({1: "M", 2: "F"}).tolist()


def test_discharge_or_death_day_is_counted_in_calendar_days_from_admission(
        tjh: tuple[ClinicalRead, float], expected_patients: pd.DataFrame) -> None:
    exp = expected_patients.set_index("PATIENT_ID")

    def days(row: pd.Series) -> int:
        a = dt.datetime.fromisoformat(row["admission"]).date()
        return (dt.datetime.fromisoformat(row["discharge"]).date() - a).days

    outcomes = tjh[0].table("outcomes").to_pandas().set_index("patient_id").reindex(exp.index)
    assert outcomes["study_day"].tolist() == exp.apply(days, axis=1).tolist()


def test_per_analyte_counts_and_medians_match_expected(tjh: tuple[ClinicalRead, float]) -> None:
    exp = pd.read_csv(shared_path(*FOLDER, "EXPECTED_tjh_analyte_summary.csv"), float_precision="round_trip")
    res = tjh[0].table("clinical_results").to_pandas()
    res["reported_number"] = res["value_reported"].astype(float)
    got = res.groupby("test_reported").agg(n_results=("reported_number", "size"),
                                           n_patients=("patient_id", "nunique"),
                                           median=("reported_number", "median"))
    assert sorted(got.index) == sorted(exp["analyte"])
    got = got.reindex(exp["analyte"])
    assert got["n_results"].tolist() == exp["n_results"].tolist()
    assert got["n_patients"].tolist() == exp["n_patients"].tolist()
    assert got["median"].to_numpy() == pytest.approx(exp["median"].to_numpy(), rel=1e-12)


def test_values_are_converted_to_canonical_units_and_no_date_is_kept(tjh: tuple[ClinicalRead, float]) -> None:
    res = tjh[0].table("clinical_results").to_pandas()
    lym = res[res["test_code"] == "LYM"]
    assert set(lym["unit"]) == {"cells/uL"} and lym["value"].median() == pytest.approx(800.0)
    assert (lym["value"] == lym["value_reported"].astype(float) * 1000).all()
    assert res["test_code"].nunique() == 74 and res["study_day"].min() >= 0
    assert not any(isinstance(v, (dt.date, pd.Timestamp)) for v in res.to_numpy().ravel())
    assert not any("2020-" in str(v) for v in res.to_numpy().ravel())


def test_the_chinese_header_original_is_refused_with_the_missing_profile_columns_named() -> None:
    original = shared_path(*FOLDER, "time_series_375_prerpocess.xlsx")
    with pytest.raises(InputError) as info:
        read_lab_time_series(original)
    assert info.value.code == "IML-CLIN-002" and "'Admission time'" in info.value.message
    assert info.value.path == "time_series_375_prerpocess.xlsx"


def test_dual_platform_formula_reproduces_the_hospital_lymphocyte_count(tjh: tuple[ClinicalRead, float]) -> None:
    """On real data: lymphocytes/uL = (% lymphocytes of WBC) / 100 x WBC/uL, matched on the same study day."""
    from immunolab.analysis.absolute_counts import dual_platform_counts

    res = tjh[0].table("clinical_results").to_pandas()
    res = res[res["test_code"].isin(["WBC", "LYM", "LYMPCT"]) & res["study_day"].notna()]
    per_day = res.groupby(["patient_id", "study_day", "test_code"]).size().unstack(fill_value=0)
    single = per_day[(per_day[["WBC", "LYM", "LYMPCT"]] == 1).all(axis=1)].index
    res = res.set_index(["patient_id", "study_day"]).loc[single].reset_index()
    pct = res[res["test_code"] == "LYMPCT"].rename(columns={"study_day": "visit_day", "value": "pct_lymphocytes"})
    pct = pct.assign(sample_id=pct["patient_id"] + "-" + pct["visit_day"].astype(str), feature="Lymphocytes")
    predicted = dual_platform_counts(pct, res, window_days=0, lymphocyte_code="WBC")
    measured = res[res["test_code"] == "LYM"].set_index(["patient_id", "study_day"])["value"]
    got = predicted.set_index(["patient_id", "visit_day"])["value"]
    both = pd.concat([got.rename("predicted"), measured.rename("measured")], axis=1).dropna()
    both = both[both["measured"] >= 200]  # 0.2 x 10^9/L: below, the 2-digit rounding dominates
    assert len(both) > 500
    rel = (both["predicted"] / both["measured"] - 1).abs()
    assert rel.median() < 0.01 and (rel < 0.05).mean() > 0.98
