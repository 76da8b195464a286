"""MSD readers on the shared exports: Workbench CSV/XLSX (vs allotropy's JSON) and reader text."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from immunolab_assays.msd.methodical import read_reader_text
from immunolab_assays.msd.workbench import (
    msd_sample_type,
    read_workbench_csv,
    read_workbench_xlsx,
)

from tests.conftest import shared_path
from tests.cytokine.helpers import readings_of

WORKBENCH = ("cytokine", "msd", "allotropy_workbench")
READER = ("cytokine", "msd", "allotropy_methodical_mind")


@pytest.mark.shared_data
def test_workbench_csv_matches_allotropy_measurements() -> None:
    expected = json.loads(shared_path(*WORKBENCH, "EXPECTED_allotropy_msd_workbench_test_1.json").read_text())
    docs = [
        m
        for well_doc in expected["plate reader aggregate document"]["plate reader document"]
        for m in well_doc["measurement aggregate document"]["measurement document"]
    ]
    plates = read_workbench_csv(shared_path(*WORKBENCH, "msd_workbench_test_1.csv"), "w.csv")
    assert len(plates) == 1 and plates[0].facts["barcode"] == "2BO40AW287"
    got = {(r.well, r.spot): r for r in readings_of(plates[0])}
    assert len(got) == len(docs) == 4
    for doc in docs:
        sample = doc["sample document"]
        well = sample["well location identifier"]
        r = got[(f"{well[0]}{int(well[1:])}", int(sample["location identifier"]))]
        assert r.signal == doc["luminescence"]["value"]
        assert r.expected_conc == sample["mass concentration"]["value"]
        assert r.sample_type == "standard"  # allotropy: standard sample role
        assert r.analyte_reported == doc["custom information document"]["assay identifier"]
        assert sample["well plate identifier"] == plates[0].facts["barcode"]


@pytest.mark.shared_data
def test_workbench_detection_range_becomes_a_flag_beside_the_calc_concentration() -> None:
    plate = read_workbench_csv(shared_path(*WORKBENCH, "msd_workbench_test_1.csv"), "w.csv")[0]
    by = {(r.well, r.spot): r.reported for r in readings_of(plate)}
    assert by[("A2", 2)].flag == "above_detection_range" and by[("A2", 2)].value == pytest.approx(53.20256476)
    assert by[("A1", 1)].flag == "OOR>" and by[("A1", 1)].value is None and by[("A1", 1)].text == "NaN"


@pytest.mark.shared_data
def test_workbench_second_csv_separates_calibrators_from_unknown_samples() -> None:
    plate = read_workbench_csv(shared_path(*WORKBENCH, "msd_workbench_test_2.csv"), "w.csv")[0]
    assert Counter(r.sample_type for r in readings_of(plate)) == {"unknown": 32, "standard": 16}
    u1 = [r for r in readings_of(plate) if r.sample_name == "U001"]
    assert [(r.well, r.signal, r.reported.value) for r in u1] == [("A3", 2000.0, 200.0), ("A4", 2020.0, 202.0)]


@pytest.mark.shared_data
def test_workbench_xlsx_reads_the_data_sheet_and_the_reader_facts() -> None:
    plates = read_workbench_xlsx(shared_path(*WORKBENCH, "test_msd_workbench_xlsx.xlsx"), "w.xlsx")
    plate = plates[0]
    assert plate.facts["barcode"] == "TEST_PLATE_001"
    assert (plate.instrument_serial, plate.software_version) == ("1234567890", "MMPR 2.0.10")
    assert plate.run_date is not None and plate.run_date.isoformat() == "2024-01-15"
    assert Counter(r.sample_type for r in readings_of(plate)) == {"standard": 8, "unknown": 16}
    first = readings_of(plate)[0]
    assert (first.well, first.signal, first.expected_conc, first.reported.value) == ("A1", 18789.0, 2000.0, 2038.74)


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "n_plates", "n_wells", "spots"),
    [
        ("methodical_mind_384_wells.txt", 1, 384, ["Spot all"]),
        ("methodical_test_1.txt", 2, 96, ["Spot 1"]),
        ("methodical_test_5_mulitple_spot_tables.txt", 1, 96, ["Spot 1", "Spot 3", "Spot 8", "Spot 10"]),
    ],
)
def test_reader_text_gives_one_plate_per_plate_number_and_one_analyte_per_spot(
    name: str, n_plates: int, n_wells: int, spots: list[str]
) -> None:
    plates = read_reader_text(shared_path(*READER, name), name)
    assert len(plates) == n_plates
    for plate in plates:
        assert plate.wells["well"].nunique() == n_wells
        assert list(dict.fromkeys(plate.wells["analyte_reported"])) == spots
        assert len(readings_of(plate)) == n_wells * len(spots)
        prefix = plate.facts["barcode"]
        assert all(r.sample_type == "unknown" and r.sample_name == f"{prefix}-{r.well}" for r in readings_of(plate))
        assert plate.run_date is not None


@pytest.mark.shared_data
def test_reader_text_signals_land_on_the_right_wells() -> None:
    plates = read_reader_text(shared_path(*READER, "methodical_test_1.txt"), "m.txt")
    first, second = ({r.well: r.signal for r in readings_of(p)} for p in plates)
    assert (first["A1"], first["H12"], first["C9"]) == (12895.0, 997.0, 10160.0)
    assert (second["A1"], second["H12"]) == (12233.0, 6043.0)
    assert plates[1].instrument_serial == "1201140625150"
    p384 = read_reader_text(shared_path(*READER, "methodical_mind_384_wells.txt"), "m.txt")[0]
    sig = {r.well: r.signal for r in readings_of(p384)}
    assert (sig["A1"], sig["P24"], sig["B2"]) == (958910.0, 227.0, 27.0)


@pytest.mark.parametrize(
    ("name", "conc", "kind"),
    [
        ("S001", None, "standard"),
        ("Calibrator 3", None, "standard"),
        ("SAMPLE_001", 2000.0, "standard"),
        ("C1", None, "control"),
        ("QC-high", None, "control"),
        ("Blank", None, "blank"),
        ("U001", None, "unknown"),
        ("PT-0123 D7", None, "unknown"),
    ],
)
def test_msd_sample_type_rules(name: str, conc: float | None, kind: str) -> None:
    assert msd_sample_type(name, conc) == kind
