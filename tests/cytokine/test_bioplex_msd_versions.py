"""Every Bio-Plex Manager and MSD software version's layout is read; tokens, locales and gaps are handled.

Fixtures: :mod:`tests.cytokine.factories_bioplex_msd` (built in code from the real layouts).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from immunolab_assays.bioplex.workbook import read_bioplex_workbook
from immunolab_assays.bioplex.xml_export import read_bioplex_xml
from immunolab_assays.msd.methodical import read_reader_text
from immunolab_assays.msd.workbench import read_workbench_csv, read_workbench_xlsx

from immunolab.cytokine.facts import plate_fact_tables
from immunolab.cytokine.plate import Plate
from immunolab.errors import ERROR_CODES, InputError
from tests.cytokine.factories_bioplex_msd import (
    BACKGROUND,
    FIVE_PL,
    FOUR_PL,
    LEVELS_4_1,
    MSD_LEVELS,
    bioplex_manager_4_1_summary,
    bioplex_manager_6_2_xml,
    bioplex_manager_6_per_well,
    concentration,
    discovery_workbench_4_experiment_table,
    discovery_workbench_4_plate_blocks,
    discovery_workbench_4_xlsx,
    msd_reader_mmpr_text,
    project_template,
    response,
    write_workbook,
)

LABEL = "fixture-label"


def _bioplex(tmp_path: Path, sheets: dict[str, list[list[object]]]) -> Plate:
    return read_bioplex_workbook(write_workbook(tmp_path / "bp.xlsx", sheets), LABEL)[0]


def _rows(plate: Plate, analyte: str) -> dict[str, dict[str, object]]:
    return {str(r["well"]): r for r in plate.wells[plate.wells["analyte"] == analyte].to_dict("records")}


def _refused(call: object) -> InputError:
    with pytest.raises(InputError) as info:
        call()  # type: ignore[operator]
    assert info.value.code in ERROR_CODES and info.value.path == LABEL and info.value.hint
    return info.value


def test_bioplex_template_free_text_reaches_the_plates_table_without_dates(tmp_path: Path) -> None:
    """CATALOG (kit), STDLOT (lot) and the WEIGHTED note are typed by the lab: any date in them is redacted."""
    template = [*project_template(weighted="SMITH JOHN April 12, 1961"),
                [11, "Catalog Number", "CATALOG", "Character", 20, "Kit of Apr-12-1961"],
                [12, "Standard Lot", "STDLOT", "Character", 20, "LOT 12 April 1961"]]
    plate = _bioplex(tmp_path, {"Project Template": template, "IL-6 (12)": bioplex_manager_4_1_summary()})
    row = plate_fact_tables([plate], source_id="x" * 64, export_format="bioplex")["cytokine_plates"].to_pylist()[0]
    assert (row["kit"], row["lot"]) == ("Kit of [date]", "LOT [date]")
    assert "template_weighted: SMITH JOHN [date]" in row["notes"] and "1961" not in str(row)


# --- Bio-Plex Manager 4.1 (summary, one row per replicate group) ---------------------------------

def test_bioplex_4_1_summary_reads_groups_the_printed_4pl_and_every_token(tmp_path: Path) -> None:
    plate = _bioplex(tmp_path, {"Project Template": project_template(), "IL-6 (12)": bioplex_manager_4_1_summary()})
    assert plate.layout == "summary" and plate.software_version == "4.1" and plate.units == {"IL-6": "pg/ml"}
    curve = plate.instrument_curves["IL-6"]
    assert curve.model == "4PL" and (curve.a, curve.b, curve.c, curve.d) == pytest.approx(FOUR_PL[:4], rel=1e-4)
    assert curve.weighting == "printed (weighting not stated)"  # the template's WEIGHTED=N is not Bio-Plex's
    rows = _rows(plate, "IL-6")
    s1 = rows["A1,B1"]
    assert (s1["sample_type"], s1["standard_level"], s1["expected_conc"]) == ("standard", 1, pytest.approx(0.13))
    assert plate.reader_flags[("A1,B1", "IL-6 (12)")] == ["replicate_mean"]
    outlier = next(r for r in rows.values() if r["standard_level"] == 5)
    assert math.isnan(outlier["median_mfi"]) and "outlier" in plate.reader_flags[(outlier["well"], "IL-6 (12)")]
    by_text = {r["reported_conc_text"]: r for r in rows.values() if r["sample_type"] == "unknown"}
    assert by_text["OOR <"]["reported_flag"] == "OOR<" and by_text["OOR >"]["reported_flag"] == "OOR>"
    assert by_text["***"]["reported_flag"] == "not_available" and by_text["NaN"]["reported_flag"] == "not_available"
    star = next(r for t, r in by_text.items() if t.startswith("*") and t != "***")
    assert star["reported_flag"] == "extrapolated" and star["reported_conc"] == pytest.approx(2600.0, rel=0.01)


def test_bioplex_4_1_text_numbers_with_decimal_commas_read_as_numbers(tmp_path: Path) -> None:
    plate = _bioplex(tmp_path, {"IL-6 (12)": bioplex_manager_4_1_summary(mark=",")})
    rows = _rows(plate, "IL-6")
    top = next(r for r in rows.values() if r["standard_level"] == 7)
    assert top["expected_conc"] == pytest.approx(LEVELS_4_1[6]) and top["median_mfi"] == pytest.approx(response(LEVELS_4_1[6], FOUR_PL), abs=0.05)
    star = next(r for r in rows.values() if r["reported_flag"] == "extrapolated")
    assert "," in str(star["reported_conc_text"]) and star["reported_conc"] == pytest.approx(2600.0, rel=0.01)


def test_bioplex_unknown_sheets_and_columns_are_named_in_warnings_not_dropped_silently(tmp_path: Path) -> None:
    sheets = {"IL-6 (12)": bioplex_manager_4_1_summary(extra_column="Lab Remark"), "Chart": [["a chart title"], [1, 2]]}
    plate = _bioplex(tmp_path, sheets)
    assert any("'Chart'" in w for w in plate.warnings) and any("'lab remark'" in w for w in plate.warnings)
    assert len(plate.wells) > 0


def test_bioplex_standards_that_are_no_dilution_series_are_refused_with_iml_cyt_010(tmp_path: Path) -> None:
    bad = bioplex_manager_4_1_summary(exp_conc=lambda level, conc: 77.0 if level == 3 else round(conc, 2), outlier_level=None)
    path = write_workbook(tmp_path / "bp.xlsx", {"IL-6 (12)": bad})
    assert _refused(lambda: read_bioplex_workbook(path, LABEL)).code == "IML-CYT-010"


def test_bioplex_lost_decimal_separators_are_repaired_from_the_obs_conc(tmp_path: Path) -> None:
    lost = bioplex_manager_4_1_summary(exp_conc=lambda level, conc: round(conc, 2) * (100 if level in (2, 4) else 1),
                                       outlier_level=None)
    plate = _bioplex(tmp_path, {"IL-6 (12)": lost})
    levels = sorted({(int(r["standard_level"]), round(float(r["expected_conc"]), 2)) for r in _rows(plate, "IL-6").values()
                     if r["sample_type"] == "standard"})
    assert [v for _, v in levels] == pytest.approx([round(c, 2) for c in LEVELS_4_1])
    assert "IL-6" in plate.standards_repair and any("decimal separators" in w for w in plate.warnings)


def test_bioplex_sheet_without_an_fi_column_is_refused_with_iml_cyt_002(tmp_path: Path) -> None:
    rows = [[c if c != "FI" else "Fluor" for c in r] if r and r[0] == "Analyte" else r for r in bioplex_manager_4_1_summary()]
    path = write_workbook(tmp_path / "bp.xlsx", {"IL-6 (12)": rows})
    assert _refused(lambda: read_bioplex_workbook(path, LABEL)).code == "IML-CYT-002"


# --- Bio-Plex Manager 5/6 (per well, Bead Count) ----------------------------------------------------

def test_bioplex_6_per_well_reads_bead_counts_sampling_errors_tokens_and_the_5pl(tmp_path: Path) -> None:
    plate = _bioplex(tmp_path, {"ENV1 (31)": bioplex_manager_6_per_well()})
    assert plate.layout == "per_well" and plate.instrument_serial == "LX10000000002"
    curve = plate.instrument_curves["ENV1"]
    assert curve.model == "5PL" and (curve.c, curve.f) == pytest.approx(FIVE_PL[2::2])
    assert curve.extras == {"fit_prob": pytest.approx(0.7123), "res_var": pytest.approx(0.4012)}
    rows = _rows(plate, "ENV1")
    assert rows["G1"]["bead_count"] == 121 and rows["G12"]["sample_type"] == "blank"
    assert rows["G1"]["net_mfi_reported"] == pytest.approx(rows["G1"]["median_mfi"] - BACKGROUND)
    assert rows["A2"]["reported_flag"] == "extrapolated" and rows["A3"]["reported_flag"] == "not_available"
    assert plate.reader_flags[("A3", "ENV1 (31)")] == ["low_bead_count"]
    assert {r["reported_flag"] for r in rows.values() if r["sample_type"] == "standard"} >= {"OOR<", None}
    assert not any("Some Operator" in w for w in plate.warnings) and "Signed" not in str(plate.facts)


def test_bioplex_6_text_numbers_with_thousands_separators_read_as_numbers(tmp_path: Path) -> None:
    plain = _rows(_bioplex(tmp_path, {"ENV1 (31)": bioplex_manager_6_per_well()}), "ENV1")
    grouped = _rows(_bioplex(tmp_path, {"ENV1 (31)": bioplex_manager_6_per_well(thousands=True)}), "ENV1")
    assert grouped["G1"]["median_mfi"] == plain["G1"]["median_mfi"] > 1000


# --- Bio-Plex Manager 6.2 XML -----------------------------------------------------------------------

def _xml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bp.xml"
    path.write_text(text)
    return path


def test_bioplex_6_2_xml_reads_member_wells_expected_concentrations_and_the_weighting(tmp_path: Path) -> None:
    plate = read_bioplex_xml(_xml(tmp_path, bioplex_manager_6_2_xml()), LABEL)
    assert plate.layout == "xml" and plate.software_version == "6.2.0.175" and plate.instrument_serial == "LX1234"
    rows = _rows(plate, "IL-6")
    assert len(rows) == 10 and {r["sample_type"] for r in rows.values()} == {"blank", "standard", "unknown"}
    std = [r for r in rows.values() if r["sample_type"] == "standard"]
    assert sorted(r["expected_conc"] for r in std) == pytest.approx(sorted(10000.0 / 4**k for k in range(6)))
    assert all(r["net_mfi_reported"] == pytest.approx(r["median_mfi"] - BACKGROUND) for r in rows.values())
    assert all(r["bead_count"] == 61 for r in rows.values())
    assert plate.instrument_curves["IL-6"].weighting == "Power Law Variance A=0.01 B=1.8"
    assert next(r for r in rows.values() if r["sample_type"] == "blank")["reported_flag"] == "not_available"


def test_bioplex_6_2_xml_unknown_section_is_a_warning_and_missing_samples_a_refusal(tmp_path: Path) -> None:
    plate = read_bioplex_xml(_xml(tmp_path, bioplex_manager_6_2_xml(extra_section="AuditTrail")), LABEL)
    assert any("<AuditTrail>" in w for w in plate.warnings)
    no_samples = _xml(tmp_path, bioplex_manager_6_2_xml(samples=False))
    assert _refused(lambda: read_bioplex_xml(no_samples, LABEL)).code == "IML-CYT-002"


# --- MSD Discovery Workbench 4 ----------------------------------------------------------------------

def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "msd.csv"
    path.write_bytes(text.encode("utf-8"))
    return path


def test_workbench_4_plate_blocks_give_one_plate_per_block_with_calibrators_controls_and_tokens(tmp_path: Path) -> None:
    plates = read_workbench_csv(_csv(tmp_path, discovery_workbench_4_plate_blocks()), LABEL)
    assert [p.facts["barcode"] for p in plates] == ["AB12CD", "EF34GH"]
    rows = plates[0].wells
    cal = rows[rows["sample_type"] == "standard"]
    assert sorted(cal["standard_level"].unique()) == list(range(1, 9))
    assert sorted(cal["expected_conc"].unique()) == pytest.approx(sorted(set(MSD_LEVELS)), rel=1e-5)
    ctrl = rows[rows["sample_type"] == "control"]
    assert set(ctrl["well_label"]) == {"Control1"} and ctrl["expected_conc"].iloc[0] == 16.7
    nan = rows[rows["reported_conc_text"] == "NaN"]
    assert len(nan) and set(nan["reported_flag"]) == {"not_available"}
    sample = rows[rows["sample_name"] == "Sample 7"].iloc[0]
    assert sample["reported_conc"] == pytest.approx(2.5, rel=1e-6) and sample["dilution"] == 500


def test_workbench_4_semicolon_csv_with_decimal_commas_reads_the_same_numbers(tmp_path: Path) -> None:
    dot = read_workbench_csv(_csv(tmp_path, discovery_workbench_4_plate_blocks()), LABEL)[0].wells
    comma = read_workbench_csv(_csv(tmp_path, discovery_workbench_4_plate_blocks(delimiter=";", mark=",")), LABEL)[0].wells
    assert comma["expected_conc"].fillna(-1).tolist() == pytest.approx(dot["expected_conc"].fillna(-1).tolist())
    assert comma["reported_conc"].fillna(-1).tolist() == pytest.approx(dot["reported_conc"].fillna(-1).tolist())


def test_workbench_4_thousands_separators_in_quoted_cells_read(tmp_path: Path) -> None:
    text = discovery_workbench_4_plate_blocks()
    first = next(line for line in text.splitlines() if line.startswith("CAL1,"))
    cells = first.split(",")
    signal = int(cells[6])
    cells[6] = f'"{signal:,}"'
    plate = read_workbench_csv(_csv(tmp_path, text.replace(first, ",".join(cells), 1)), LABEL)[0]
    assert plate.wells.iloc[0]["median_mfi"] == signal > 1000


def test_workbench_4_experiment_table_splits_plates_by_plate_name_and_names_unknown_columns(tmp_path: Path) -> None:
    plates = read_workbench_csv(_csv(tmp_path, discovery_workbench_4_experiment_table(extra_column="Operator Note")), LABEL)
    assert [p.facts["barcode"] for p in plates] == ["1AA", "1BB", "1CC"]
    assert all(p.facts["experiment_table"] and len(p.wells) == 20 for p in plates)
    assert all(any("'operator note'" in w for w in p.warnings) for p in plates)


def test_workbench_4_kit_control_without_a_concentration_on_one_spot_stays_a_control_on_every_spot(
        tmp_path: Path) -> None:
    """MSD 1.2 has a known concentration on the calibrated spot but none on BSA: it is one sample, a control."""
    kit = (("MSD 1.1", 16.7), ("MSD 1.2", 4.13))
    text = discovery_workbench_4_experiment_table(plates=("Plate_1AA",), blocking_spot=True, kit_controls=kit)
    wells = read_workbench_csv(_csv(tmp_path, text), LABEL)[0].wells
    roles = wells.groupby("sample_name")["sample_type"].agg(set).to_dict()
    assert roles["MSD 1.1"] == roles["MSD 1.2"] == {"control"}
    assert {name for name, kinds in roles.items() if "unknown" in kinds} == {"Sample 7", "Sample 8"}
    msd_1_2 = wells[wells["sample_name"] == "MSD 1.2"].set_index("analyte_reported")
    assert msd_1_2.loc["SARS-CoV-2 S", "expected_conc"] == pytest.approx(4.13)
    assert math.isnan(msd_1_2.loc["BSA", "expected_conc"])  # no concentration is made up for the BSA spot
    assert msd_1_2["well_label"].nunique() == 1  # one control label (C2) on both spots


def test_workbench_4_xlsx_reads_the_table_sheet_and_the_reader_facts(tmp_path: Path) -> None:
    plate = read_workbench_xlsx(discovery_workbench_4_xlsx(tmp_path / "msd.xlsx"), LABEL)[0]
    assert (plate.instrument_serial, plate.software_version, plate.facts["plate_type"]) == ("1201", "MMPR 2.0.10", "384 4-Spot")
    assert plate.run_date is not None and plate.run_date.isoformat() == "2020-09-01"
    assert set(plate.wells["sample_type"]) == {"standard", "control", "unknown", "blank"}


def test_workbench_4_without_a_signal_column_or_with_a_broken_series_is_refused(tmp_path: Path) -> None:
    no_signal = discovery_workbench_4_plate_blocks().replace(",Signal,", ",Light,")
    assert _refused(lambda: read_workbench_csv(_csv(tmp_path, no_signal), LABEL)).code == "IML-CYT-002"
    text = discovery_workbench_4_plate_blocks()
    broken = text.replace(f",{70 / 16:g},", ",9.5,")  # CAL3 4.375 -> 9.5, no results to confirm it
    broken = "\r\n".join(line if not line.startswith("CAL") else ",".join(c if i != 13 else "" for i, c in enumerate(line.split(",")))
                         for line in broken.split("\r\n"))
    assert _refused(lambda: read_workbench_csv(_csv(tmp_path, broken), LABEL)).code == "IML-CYT-010"


def test_workbench_4_calibrator_results_are_consistent_with_the_msd_curve(tmp_path: Path) -> None:
    plate = read_workbench_csv(_csv(tmp_path, discovery_workbench_4_plate_blocks()), LABEL)[0]
    cal = plate.wells[(plate.wells["sample_type"] == "standard") & plate.wells["reported_conc"].notna()]
    back = [concentration(s, (150.0, 3.0e7, 700.0, -1.01, 1.0)) for s in cal["median_mfi"]]
    assert back == pytest.approx(cal["reported_conc"].tolist(), rel=1e-3)


# --- MSD reader (MMPR) text -------------------------------------------------------------------------

def _txt(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reader.txt"
    path.write_text(text)
    return path


def test_msd_reader_text_reads_one_grid_per_spot_and_names_unknown_sections(tmp_path: Path) -> None:
    plate = read_reader_text(_txt(tmp_path, msd_reader_mmpr_text(unknown_section="Calibration Check")), LABEL)[0]
    assert plate.facts["barcode"] == "MSD0042" and plate.instrument == "MSD QuickPlex SQ 120"
    assert len(plate.wells) == 2 * 96 and set(plate.wells["analyte_reported"]) == {"Spot 1", "Spot 2"}
    c3 = plate.wells[(plate.wells["well"] == "C3") & (plate.wells["bead_region"] == 2)].iloc[0]
    assert c3["median_mfi"] == 200 + 20 + 3
    assert any("'Calibration Check'" in w for w in plate.warnings)
    assert not any("someone" in w for w in plate.warnings)


def test_msd_reader_text_without_data_grids_is_refused_with_iml_cyt_002(tmp_path: Path) -> None:
    assert _refused(lambda: read_reader_text(_txt(tmp_path, msd_reader_mmpr_text(data=False)), LABEL)).code == "IML-CYT-002"
