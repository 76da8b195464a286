"""SDTM readers: XPT and CSV give the same facts; SDTM days, subject ids and controlled terms follow the IG."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from immunolab_assays.clinical_sdtm import (
    read_dataset,
    read_sdtm,
    study_day_from_dm,
    subject_map_from_dm,
)

from immunolab.clinical.context import ReadContext
from immunolab.errors import InputError
from tests.clinical import factories as fx


@pytest.fixture
def lb_xpt(tmp_path: Path) -> Path:
    return fx.write_xpt(tmp_path / "lb.xpt", fx.sdtm_lb(), "LB")


def test_lb_from_xpt_uses_standard_results_converts_units_and_keeps_unknown_tests(lb_xpt: Path) -> None:
    read = read_sdtm(lb_xpt, fx.context("lb.xpt"))
    res = read.table("clinical_results").to_pandas().set_index("test_code")
    assert (res.loc["LYM", "value"], res.loc["LYM", "unit"], res.loc["LYM", "ref_low"]) == (620.0, "cells/uL", 1100.0)
    assert res.loc["LYM", "flag"] == "L" and res.loc["LYM", "study_day"] == 3
    assert (res.loc["CRP", "value"], res.loc["CRP", "unit_reported"], res.loc["CRP", "flag"]) == (52.0, "mg/dL", "H")
    assert res.loc["CRP", "source_domain"] == "LB" and res.loc["CRP", "patient_id"] == "001"
    assert res.loc["KL6", "value"] == 512.0 and res.loc["KL6", "unit"] == "U/mL"
    assert res.loc["KL6", "study_day"] == 7  # partial LBDTC falls back to LBDY 8 -> day 7
    assert [(s.source_row, s.reason) for s in read.skipped] == [(3, "not done")]


def test_xpt_and_csv_of_the_same_dataset_give_the_same_table(lb_xpt: Path, tmp_path: Path) -> None:
    csv = fx.write_csv(tmp_path / "lb.csv", fx.sdtm_lb())
    a = read_sdtm(lb_xpt, fx.context("lb.xpt")).table("clinical_results").to_pandas()
    b = read_sdtm(csv, fx.context("lb.xpt")).table("clinical_results").to_pandas()
    pd.testing.assert_frame_equal(a, b)


def test_without_a_day0_rule_sdtm_study_days_lose_their_missing_day_zero(lb_xpt: Path) -> None:
    res = read_sdtm(lb_xpt, ReadContext(label="lb.xpt")).table("clinical_results").to_pandas()
    assert dict(zip(res["test_code"], res["study_day"], strict=True)) == {"LYM": 3, "CRP": 0, "KL6": 7}


def test_vital_signs_and_scores_read_with_their_sdtm_codes(tmp_path: Path) -> None:
    vs = pd.DataFrame({"DOMAIN": "VS", "USUBJID": ["X-S1-001", "X-S1-001"], "VSTESTCD": ["OXYSAT", "TEMP"],
                       "VSTEST": ["Oxygen Saturation", "Temperature"], "VSORRES": ["91", "101.3"],
                       "VSORRESU": ["%", "F"], "VSDY": [1, 1]})
    res = read_sdtm(fx.write_csv(tmp_path / "vs.csv", vs)).table("clinical_results").to_pandas().set_index("test_code")
    assert res.loc["SPO2", "value"] == 91.0 and res.loc["TEMP", "value"] == pytest.approx(38.5)
    qs = pd.DataFrame({"DOMAIN": "QS", "USUBJID": ["X-S1-001"] * 2, "QSTESTCD": ["WHOOSCI", "WHOOSCI"],
                       "QSTEST": ["WHO Ordinal Scale"] * 2, "QSORRES": ["5", "3"], "QSDY": [1, 15]})
    res = read_sdtm(fx.write_csv(tmp_path / "qs.csv", qs)).table("clinical_results").to_pandas()
    assert res["unit"].tolist() == ["score", "score"] and res["study_day"].tolist() == [0, 14]


def test_adverse_events_take_ctcae_grade_else_severity(tmp_path: Path) -> None:
    path = fx.write_xpt(tmp_path / "ae.xpt", fx.sdtm_ae(), "AE")
    ae = read_sdtm(path, fx.context("ae.xpt")).table("adverse_events").to_pandas()
    assert ae["patient_id"].tolist() == ["001", "002", "003"]
    assert ae["grade"].tolist() == [1, 5, 2]
    assert ae["grade_source"].tolist()[:2] == ["CTCAE", "CTCAE"] and "MODERATE=2" in ae["grade_source"].iloc[2]
    assert ae["serious"].tolist() == [False, True, False]
    assert ae["related"].tolist()[:2] == [True, False] and ae["related"].isna().iloc[2]
    assert ae["outcome"].tolist()[:2] == ["recovered", "fatal"]
    assert ae["start_day"].tolist() == [1, 9, 0] and ae["end_day"].tolist()[:2] == [2, 12]


def test_disposition_maps_to_outcomes_and_lists_what_is_not_one(tmp_path: Path) -> None:
    read = read_sdtm(fx.write_xpt(tmp_path / "ds.xpt", fx.sdtm_ds(), "DS"), fx.context("ds.xpt"))
    out = read.table("outcomes").to_pandas()
    assert out[["patient_id", "event", "study_day"]].values.tolist() == [
        ["002", "death", 12], ["001", "completed", 180], ["003", "withdrawal", 40]]
    assert out["reported"].iloc[2] == "WITHDRAWAL BY SUBJECT"
    assert sorted(s.reason for s in read.skipped) == ["PROTOCOL MILESTONE: not a patient outcome",
                                                      "screen failure: never randomised, no outcome"]


def test_dm_gives_demographics_deaths_subject_map_and_day0(tmp_path: Path) -> None:
    path = fx.write_xpt(tmp_path / "dm.xpt", fx.sdtm_dm(), "DM")
    _, dm = read_dataset(path)
    assert subject_map_from_dm(dm)["MSC01-S2-002"] == "002"
    ctx = ReadContext(label="dm.xpt", study_day=study_day_from_dm(dm))
    read = read_sdtm(path, ctx)
    demo = read.table("demographics").to_pandas()
    assert demo[["patient_id", "site", "arm", "age", "sex"]].values.tolist()[1] == ["002", "S2", "Control", 61, "F"]
    assert read.table("outcomes").to_pandas()[["patient_id", "event", "study_day"]].values.tolist() == [
        ["002", "death", 12]]


def test_a_dataset_of_another_domain_is_iml_clin_008(lb_xpt: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_sdtm(lb_xpt, domain="AE")
    assert info.value.code == "IML-CLIN-008" and "domain LB, not AE" in info.value.message
    ex = fx.write_csv(tmp_path / "ex.csv", pd.DataFrame({"DOMAIN": ["EX"], "USUBJID": ["A-1"]}))
    with pytest.raises(InputError) as info:
        read_sdtm(ex)
    assert info.value.code == "IML-CLIN-008"


def test_a_missing_sdtm_variable_is_iml_clin_002(tmp_path: Path) -> None:
    path = fx.write_csv(tmp_path / "ae.csv", fx.sdtm_ae().drop(columns=["AETERM"]))
    with pytest.raises(InputError) as info:
        read_sdtm(path, fx.context("ae.csv"))
    assert info.value.code == "IML-CLIN-002" and "AETERM" in info.value.message


def test_a_corrupt_transport_file_is_iml_clin_001(tmp_path: Path) -> None:
    bad = tmp_path / "lb.xpt"
    bad.write_bytes(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!000" + b"\x00" * 40)
    with pytest.raises(InputError) as info:
        read_sdtm(bad)
    assert info.value.code == "IML-CLIN-001" and info.value.path == "lb.xpt"


def test_an_unknown_aerel_word_is_iml_clin_007(tmp_path: Path) -> None:
    frame = fx.sdtm_ae()
    frame.loc[0, "AEREL"] = "PERHAPS"
    with pytest.raises(InputError) as info:
        read_sdtm(fx.write_csv(tmp_path / "ae.csv", frame), fx.context("ae.csv"))
    assert info.value.code == "IML-CLIN-007" and "AEREL" in info.value.message


PILOT = os.environ.get("IMMUNOLAB_CDISC_PILOT")


@pytest.mark.skipif(not PILOT, reason="set IMMUNOLAB_CDISC_PILOT to a folder with the CDISC pilot dm/ae/ds.xpt")
def test_the_cdisc_pilot_study_reads_and_its_deaths_agree_across_dm_ds_and_ae() -> None:
    folder = Path(str(PILOT))
    _, dm = read_dataset(folder / "dm.xpt")
    ctx = ReadContext(label="cdiscpilot01", study_day=study_day_from_dm(dm))
    umap = subject_map_from_dm(dm)
    dm_read = read_sdtm(folder / "dm.xpt", ctx)
    ae = read_sdtm(folder / "ae.xpt", ctx, usubjid_map=umap).table("adverse_events").to_pandas()
    ds = read_sdtm(folder / "ds.xpt", ctx, usubjid_map=umap).table("outcomes").to_pandas()
    assert dm_read.table("demographics").num_rows == 306 and len(ae) == 1191
    dm_dead = set(dm_read.table("outcomes").to_pandas()["patient_id"])
    assert dm_dead == set(ds.loc[ds["event"] == "death", "patient_id"]) == set(ae.loc[ae["outcome"] == "fatal", "patient_id"])
    assert len(dm_dead) == 3 and ae["grade"].between(1, 3).all()
