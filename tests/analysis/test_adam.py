"""ADaM export: ADSL and ADLB variables follow the rules; Parquet, CSV and XPT v5 round-trip (ADTTE, ADAE: test_adam_events.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from immunolab.analysis.adam import (
    build_adlb,
    build_adsl,
    export_adam,
    neutralise_csv_cell,
    write_adam,
    xpt_name,
)
from immunolab.analysis.measurements_view import measurements_view
from immunolab.errors import InputError


def _subjects() -> pd.DataFrame:
    return pd.DataFrame({"patient_id": ["001", "002", "003", "004"], "arm": ["MSC", "control", "MSC", "control"],
                         "site": ["A", "B", "A", "B"], "age": [50, 61, 44, 38], "sex": ["M", "F", "M", "F"],
                         "day0_date": ["2020-02-03"] * 4, "baseline_severity": [5, 6, 5, 4],
                         "specimen": ["whole blood", "PBMC", "whole blood", "PBMC"]})


def _outcomes() -> pd.DataFrame:
    return pd.DataFrame({"patient_id": ["002", "001", "004"], "event": ["death", "discharge", "death"],
                         "study_day": [12, 9, 40]})


def _ae() -> pd.DataFrame:
    return pd.DataFrame({"patient_id": ["001", "002", "002"], "grade": [1, 3, 5], "serious": [False, False, True],
                         "term": ["Fever", "Hypoxia", "Respiratory failure"]})


def _view() -> pd.DataFrame:
    rows = []
    for pid, arm in (("001", "MSC"), ("002", "control")):
        for day, il6, cd4 in ((0, 40.0, 20.0), (6, 10.0, 30.0), (14, 2.0, 35.0)):
            rows.append({"patient_id": pid, "visit_day": day, "arm": arm, "assay": "cytokine", "feature": "IL-6",
                         "measure": "concentration", "value": il6, "unit": "pg/mL",
                         "censor": "below_lloq" if il6 == 2.0 else "none"})
            rows.append({"patient_id": pid, "visit_day": day, "arm": arm, "assay": "flow", "feature": "CD4+ T",
                         "measure": "pct_parent", "value": cd4, "unit": "%", "censor": "none"})
            rows.append({"patient_id": pid, "visit_day": day, "arm": arm, "assay": "flow", "feature": "CD4+ T",
                         "measure": "pct_lymphocytes", "value": cd4 / 2, "unit": "%", "censor": "none"})
    return measurements_view(pd.DataFrame(rows))


def test_adsl_has_one_row_per_subject_with_covariates_death_time_to_event_and_aes() -> None:
    adsl = build_adsl(_subjects(), _outcomes(), _ae(), studyid="MSC01").set_index("SUBJID")
    assert len(adsl) == 4 and adsl.loc["002", "USUBJID"] == "MSC01-002"
    assert adsl.loc["002", ["DTHFL", "DTHDY", "DTH28FL", "TTDTH28", "CNSDTH28"]].tolist() == ["Y", 12.0, "Y", 12.0, 0]
    assert adsl.loc["004", ["DTHFL", "DTH28FL", "TTDTH28", "CNSDTH28"]].tolist() == ["Y", "N", 28.0, 1]
    assert adsl.loc["001", ["DISCHFL", "DISCHDY", "AENUM", "AEMAXGR", "AEGR3FL"]].tolist() == ["Y", 9.0, 1, 1.0, "N"]
    assert adsl.loc["002", ["AENUM", "AEMAXGR", "AEGR3FL", "SAEFL"]].tolist() == [2, 5.0, "Y", "Y"]
    assert adsl.loc["003", ["AENUM", "AEGR3FL"]].tolist() == [0, "N"]
    assert adsl.loc["001", "BASELINE"] == 5 and adsl.loc["002", "SPECIMEN"] == "PBMC"  # extra subjects columns
    assert "day0_date" not in adsl.columns and "DAY0DATE" not in adsl.columns


def test_adsl_counts_only_treatment_emergent_adverse_events() -> None:
    before = pd.DataFrame([{"patient_id": "003", "grade": 4, "serious": True, "start_day": -2, "term": "x"},
                           {"patient_id": "003", "grade": 1, "serious": False, "start_day": 3, "term": "y"}])
    adsl = build_adsl(_subjects(), _outcomes(), pd.concat([_ae(), before], ignore_index=True)).set_index("SUBJID")
    assert adsl.loc["003", ["AENUM", "AEMAXGR", "AEGR3FL", "SAEFL"]].tolist() == [1, 1.0, "N", "N"]


def test_adlb_carries_baseline_change_visits_flags_and_censoring_type() -> None:
    adlb = build_adlb(_view(), _subjects(), studyid="MSC01")
    assert adlb["PARAMCD"].str.len().max() <= 8
    assert adlb.groupby("PARAMCD")["PARAM"].nunique().max() == 1 and adlb["PARAMCD"].nunique() == 3
    il6 = adlb[(adlb["PARAM"].str.startswith("IL-6")) & (adlb["SUBJID"] == "001")].set_index("AVISITN")
    assert il6.loc[6, ["AVAL", "BASE", "CHG", "PCHG"]].tolist() == [10.0, 40.0, -30.0, -75.0]
    assert il6.loc[0, "ABLFL"] == "Y" and il6.loc[6, "ABLFL"] == ""
    assert il6.loc[14, "DTYPE"] == "BLQ" and il6.loc[6, "DTYPE"] == ""
    assert il6.loc[14, ["AVISIT", "ADY"]].tolist() == ["Day 14", 15] and il6.loc[0, "ADY"] == 1
    assert (adlb["ANL01FL"] == "Y").all() and set(adlb["SITEID"]) == {"A", "B"}


def test_ady_is_the_cdisc_day_of_collection_not_of_the_planned_visit() -> None:
    """ADY was AVISITN + 1 for every row, also for a CRP drawn on Day 5 for visit Day 6."""
    from immunolab.clinical.to_measurements import clinical_measurements

    res = pd.DataFrame({"patient_id": ["001"] * 4, "study_day": [-1, 5, 14, 29], "test_code": ["CRP"] * 4,
                        "value": [50.0, 30.0, 10.0, 4.0], "unit": ["mg/L"] * 4, "censor": ["none"] * 4})
    rows, _ = clinical_measurements(res, _subjects(), visit_days=(0, 6, 14, 28))
    il6 = pd.DataFrame([{"patient_id": "001", "visit_day": day, "arm": "MSC", "assay": "cytokine", "feature": "IL-6",
                         "measure": "concentration", "value": 5.0, "unit": "pg/mL", "censor": "none",
                         "lineage_table": "cytokine_results", "lineage_key": f"P1:S{day}"} for day in (0, 6, 14)])
    view = measurements_view(pd.concat([rows, il6], ignore_index=True))
    adlb = build_adlb(view, _subjects())
    crp = adlb[adlb["PARCAT1"] == "clinical"].set_index("AVISITN")
    assert crp["ADY"].to_dict() == {0: -1, 6: 6, 14: 15, 28: 30}  # CDISC: no day 0, Day -1 stays -1
    assert crp.loc[0, "ABLFL"] == "Y"
    cyto = adlb[adlb["PARCAT1"] == "cytokine"].set_index("AVISITN")
    assert cyto["ADY"].to_dict() == {0: 1, 6: 7, 14: 15}  # a sample: its manifest visit day


def test_ady_is_read_from_the_views_collection_day_not_from_the_layout_of_lineage_key() -> None:
    """ADY parsed the study day out of ``lineage_key``: a key of another layout silently gave the visit day."""
    crp = pd.DataFrame([{"patient_id": "001", "visit_day": 6, "arm": "MSC", "assay": "clinical", "feature": "CRP",
                         "measure": "result", "value": 30.0, "unit": "mg/L", "censor": "none",
                         "lineage_table": "clinical_results", "lineage_key": "CRP|day5", "collection_day": 5}])
    assert build_adlb(measurements_view(crp), _subjects())["ADY"].tolist() == [6]  # Day 5: ADY 6


def test_a_view_without_collection_day_still_reads_the_day_from_lineage_key() -> None:
    """A measurements table written before ``collection_day`` existed (or a row missing it) keeps its ADY."""
    rows = pd.DataFrame([{"patient_id": "001", "visit_day": 6, "arm": "MSC", "assay": "clinical", "feature": "CRP",
                          "measure": "result", "value": 30.0, "unit": "mg/L", "censor": "none",
                          "lineage_table": "clinical_results", "lineage_key": "CRP:5"}])
    old = measurements_view(rows)
    assert "collection_day" not in old and build_adlb(old, _subjects())["ADY"].tolist() == [6]
    missing = measurements_view(rows.assign(collection_day=[None]))
    assert build_adlb(missing, _subjects())["ADY"].tolist() == [6]


def test_one_analyte_measured_by_two_assays_gets_one_param_text_per_paramcd() -> None:
    """IL-6 by Luminex and by bead array had two PARAMCDs under one PARAM text, so a table by PARAM mixed them."""
    luminex = _view().reset_index(drop=True)
    beads = luminex[luminex["feature"] == "IL-6"].assign(assay="legendplex", value=lambda d: d["value"] * 2)
    adlb = build_adlb(pd.concat([luminex, beads], ignore_index=True), _subjects(), studyid="MSC01")
    pairs = adlb[["PARAMCD", "PARAM"]].drop_duplicates()
    assert pairs["PARAMCD"].is_unique and pairs["PARAM"].is_unique and len(pairs) == 4
    assert set(pairs["PARAM"][pairs["PARAM"].str.startswith("IL-6")]) == {
        "IL-6 (concentration, pg/mL) [cytokine]", "IL-6 (concentration, pg/mL) [legendplex]"}
    assert "CD4+ T (pct_parent, %)" in set(pairs["PARAM"])  # measured by one assay: no suffix


def test_a_value_stored_without_a_unit_does_not_give_its_paramcd_a_second_param() -> None:
    view = _view().reset_index(drop=True)
    view.loc[(view["feature"] == "IL-6") & (view["visit_day"] == 14), "unit"] = ""
    pairs = build_adlb(view, _subjects(), studyid="MSC01")[["PARAMCD", "PARAM"]].drop_duplicates()
    assert pairs["PARAMCD"].is_unique and "IL-6 (concentration, pg/mL)" in set(pairs["PARAM"])


def test_paramcd_depends_on_its_parameter_alone_not_on_what_else_is_exported() -> None:
    """Bead-array IL-6 was IL61 beside Luminex plates and IL6 without them: one code, two meanings."""
    luminex = _view().reset_index(drop=True)
    beads = luminex[luminex["feature"] == "IL-6"].assign(assay="cytokine_bead_array")
    both = build_adlb(pd.concat([luminex, beads], ignore_index=True), _subjects(), studyid="MSC01")
    alone = build_adlb(beads, _subjects(), studyid="MSC01")
    code = both.drop_duplicates("PARCAT1").set_index("PARCAT1")["PARAMCD"]
    assert code["cytokine_bead_array"] == set(alone["PARAMCD"]).pop() == "IL6B" and code["cytokine"] == "IL6"


def test_an_excluded_baseline_kept_with_include_excluded_is_neither_baseline_nor_base() -> None:
    """With --include-excluded the QC-excluded Day 0 value had ABLFL = Y and was BASE of every analysed visit."""
    raw = _view().reset_index(drop=True)[["patient_id", "visit_day", "arm", "assay", "feature", "measure", "value",
                                          "unit", "censor"]]
    raw["excluded"] = (raw["patient_id"] == "001") & (raw["visit_day"] == 0) & (raw["feature"] == "IL-6")
    adlb = build_adlb(measurements_view(raw, include_excluded=True), _subjects(), studyid="MSC01")
    il6 = adlb[(adlb["SUBJID"] == "001") & adlb["PARAM"].str.startswith("IL-6")].set_index("AVISITN")
    assert il6.loc[0, ["ABLFL", "ANL01FL"]].tolist() == ["", ""]
    assert il6.loc[6, "ANL01FL"] == "Y" and np.isnan(il6.loc[6, "BASE"]) and np.isnan(il6.loc[6, "CHG"])
    other = adlb[(adlb["SUBJID"] == "002") & adlb["PARAM"].str.startswith("IL-6")].set_index("AVISITN")
    assert other.loc[0, "ABLFL"] == "Y" and other.loc[6, "BASE"] == 40.0  # the other patient keeps its baseline


def test_a_qc_excluded_value_kept_in_adlb_is_not_flagged_for_analysis() -> None:
    """With --include-excluded every record had ANL01FL = Y, so a filter on it used QC-rejected values."""
    raw = _view().reset_index(drop=True)
    raw["excluded"] = (raw["patient_id"] == "001") & (raw["visit_day"] == 6)
    adlb = build_adlb(raw, _subjects(), studyid="MSC01")
    flagged = adlb.set_index(["SUBJID", "AVISITN"])["ANL01FL"]
    assert set(flagged.loc[("001", 6)]) == {""} and set(flagged.drop(index=("001", 6))) == {"Y"}


def test_csv_cells_that_could_run_as_formulas_are_neutralised() -> None:
    assert neutralise_csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert neutralise_csv_cell("@SUM(A1)") == "'@SUM(A1)" and neutralise_csv_cell("+1+1") == "'+1+1"
    assert neutralise_csv_cell("-3.5") == "-3.5" and neutralise_csv_cell("+4") == "+4"
    assert neutralise_csv_cell("\tx") == "'\tx" and neutralise_csv_cell(-2.0) == -2.0
    assert neutralise_csv_cell("CD4+ T") == "CD4+ T"


def test_write_adam_round_trips_through_parquet_csv_and_xpt_v5(tmp_path: Path) -> None:
    import pyreadstat

    subj = _subjects()
    subj.loc[0, "specimen"] = "=cmd|' /C calc'!A0"
    adsl, adlb = build_adsl(subj, _outcomes(), _ae()), build_adlb(_view(), subj)
    paths = write_adam(tmp_path, adsl, adlb)
    assert sorted(p.name for p in paths) == sorted(f"{n}.{e}" for n in ("adsl", "adlb") for e in ("parquet", "csv", "xpt"))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "adlb.parquet"), adlb)
    back, meta = pyreadstat.read_xport(str(tmp_path / "adlb.xpt"))
    assert list(back.columns) == list(adlb.columns) and len(back) == len(adlb)
    assert back["AVAL"].to_numpy() == pytest.approx(adlb["AVAL"].to_numpy())
    assert back["PARAMCD"].tolist() == adlb["PARAMCD"].tolist()
    assert meta.column_names_to_labels["ANL01FL"] == "Analysis Flag 01"
    sl, _ = pyreadstat.read_xport(str(tmp_path / "adsl.xpt"))
    assert sl["SUBJID"].tolist() == adsl["SUBJID"].tolist() and sl["TTDTH28"].tolist() == adsl["TTDTH28"].tolist()
    assert pd.read_sas(tmp_path / "adsl.xpt", format="xport", encoding="utf-8")["DTHFL"].tolist() == adsl["DTHFL"].tolist()
    csv = pd.read_csv(tmp_path / "adsl.csv", dtype=str)
    assert csv.loc[0, "SPECIMEN"].startswith("'=")


@pytest.mark.parametrize("studyid", ["", "  ", "MSC COVID"])
def test_an_empty_or_spaced_study_id_is_iml_ana_009(tmp_path: Path, studyid: str) -> None:
    """--studyid "" wrote STUDYID blank and USUBJID '-001'."""
    with pytest.raises(InputError) as info:
        export_adam(tmp_path / "adam", _view(), _subjects(), _outcomes(), _ae(), studyid=studyid, xpt=False)
    assert info.value.code == "IML-ANA-009" and "--studyid" in (info.value.hint or "")
    assert not (tmp_path / "adam").exists()


def test_names_or_values_that_break_xpt_v5_are_iml_ana_009(tmp_path: Path) -> None:
    assert xpt_name("baseline severity") == "BASELINE" and xpt_name("7day") == "V7DAY"
    subj = _subjects().assign(baseline_sofa=[1, 2, 3, 4])
    with pytest.raises(InputError) as info:
        build_adsl(subj, _outcomes(), _ae())
    assert info.value.code == "IML-ANA-009" and "BASELINE" in info.value.message
    adsl = build_adsl(_subjects(), _outcomes(), _ae())
    with pytest.raises(InputError) as info:
        write_adam(tmp_path, adsl.assign(TOOLONGNAME=1), build_adlb(_view()))
    assert info.value.code == "IML-ANA-009" and "TOOLONGNAME" in info.value.message
    with pytest.raises(InputError) as info:
        write_adam(tmp_path, adsl.assign(SEX="x" * 201), build_adlb(_view()))
    assert info.value.code == "IML-ANA-009" and "200 bytes" in info.value.message
    assert not np.isnan(adsl["TTDTH28"]).any()


def test_export_adam_writes_the_four_datasets_from_the_trial_tables(tmp_path: Path) -> None:
    from immunolab.analysis.adam import export_adam

    paths = export_adam(tmp_path, _view(), _subjects(), _outcomes(), _ae(), studyid="MSC01", xpt=False)
    assert sorted(p.name for p in paths) == sorted(f"{n}.{e}" for n in ("adae", "adlb", "adsl", "adtte")
                                                   for e in ("csv", "parquet"))
    assert pd.read_parquet(tmp_path / "adsl.parquet")["USUBJID"].tolist()[0] == "MSC01-001"
