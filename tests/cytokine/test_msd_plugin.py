"""The msd plugin end to end: Workbench and reader-text exports become the cytokine fact tables.

Concentrations are derived by the core (:func:`analyse_plate`) from the reader's plates.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from pathlib import Path

import pytest
from immunolab_assays.msd import MsdPlugin
from immunolab_assays.msd.workbench import read_workbench_csv

from immunolab.cytokine.assemble import PlateSettings, analyse_plate
from immunolab.plugins import SAMPLE_REF, ParseContext
from tests.conftest import shared_path
from tests.cytokine.test_bioplex_factories import (
    BACKGROUND,
    UNKNOWN_TRUE,
    make_reader_text,
    make_workbench_csv,
    reader_text_lines,
)
from tests.cytokine.test_bioplex_plugin import _all_text, _conforms


def _ctx(label: str, **options: object) -> ParseContext:
    return ParseContext(label=label, study_day=lambda d: (d - datetime.date(2023, 9, 1)).days, options=options)


def test_workbench_csv_signal_goes_to_median_mfi_and_the_spot_to_bead_region(tmp_path: Path) -> None:
    parsed = MsdPlugin().parse(make_workbench_csv(tmp_path), _ctx("msd.csv"))
    _conforms(parsed)
    assert set(parsed.tables) == {"cytokine_plates", "cytokine_wells"}  # Workbench prints no curve
    wells = parsed.tables["cytokine_wells"].to_pylist()
    s1 = next(w for w in wells if w["well"] == "A1")
    assert s1["sample_type"] == "standard" and s1["well_label"] == "Standard1"
    assert s1["bead_region"] == 1 and s1["bead_count"] is None
    assert s1["net_mfi_reported"] == pytest.approx(s1["median_mfi"] - BACKGROUND)  # the Adjusted Signal
    blank = next(w for w in wells if w["well"] == "A8")
    assert (blank["sample_type"], blank["reported_conc_text"], blank["reported_flag"]) == ("blank", "NaN", "OOR<")
    assert parsed.metadata["format"] == "msd_workbench_csv"
    for name in UNKNOWN_TRUE:
        assert name not in _all_text(parsed)


@pytest.mark.parametrize("weighting", ["1/y^2", "msd"])
def test_derived_workbench_results_recover_the_true_concentrations(tmp_path: Path, weighting: str) -> None:
    plate = read_workbench_csv(make_workbench_csv(tmp_path), "msd.csv")[0]
    results = analyse_plate(plate, plate_id="p1", settings=PlateSettings(model="5PL", weighting=weighting)).results  # the fixture's truth is a 5PL
    by_ref = {r[SAMPLE_REF]: r for r in results.to_dict("records")}
    assert set(by_ref) == set(UNKNOWN_TRUE)
    for name, truth in UNKNOWN_TRUE.items():
        assert by_ref[name]["concentration_raw"] == pytest.approx(truth, rel=0.03)


def test_reader_text_wells_are_unknowns_named_by_well_and_keep_no_user(tmp_path: Path) -> None:
    parsed = MsdPlugin().parse(make_reader_text(tmp_path, reader_text_lines(spots=(1, 4))), _ctx("r.txt"))
    _conforms(parsed)
    wells = parsed.tables["cytokine_wells"].to_pylist()
    assert len(wells) == 2 * 96
    assert {w["analyte_reported"] for w in wells} == {"Spot 1", "Spot 4"}
    c3 = next(w for w in wells if w["well"] == "C3" and w["bead_region"] == 4)
    assert c3["median_mfi"] == 4000 + 20 + 3 and c3[SAMPLE_REF] == "SYN0001-C3"
    plate = parsed.tables["cytokine_plates"].to_pylist()[0]
    assert plate["run_study_day"] == 7 and plate["instrument_serial"] == "42"
    text = _all_text(parsed)
    assert "jdoe" not in text and "someone" not in text


SHARED = [
    ("allotropy_workbench/msd_workbench_test_1.csv", 4),
    ("allotropy_workbench/msd_workbench_test_2.csv", 48),
    ("allotropy_workbench/test_msd_workbench_xlsx.xlsx", 24),
    ("allotropy_methodical_mind/methodical_mind_384_wells.txt", 384),
    ("allotropy_methodical_mind/methodical_test_1.txt", 192),
    ("allotropy_methodical_mind/methodical_test_5_mulitple_spot_tables.txt", 384),
    ("labkey_3plate/3plateMSD.csv", 3 * 1512),
]


@pytest.mark.shared_data
@pytest.mark.parametrize(("rel", "n_wells"), SHARED)
def test_every_shared_msd_export_parses_into_valid_tables(rel: str, n_wells: int) -> None:
    path = shared_path("cytokine", "msd", *rel.split("/"))
    parsed = MsdPlugin().parse(path, _ctx(path.name))
    _conforms(parsed)
    assert parsed.tables["cytokine_wells"].num_rows == n_wells
    assert parsed.metadata["plugin"] == "msd"
    text = json.dumps(parsed.metadata) + "\n".join(parsed.warnings)
    assert "dmc" not in text and "yehs" not in text and "user1" not in text


@pytest.mark.shared_data
def test_real_kit_controls_without_a_bsa_concentration_are_controls_and_need_no_manifest_row() -> None:
    """3plateMSD.csv: MSD 1.2 / 1.3 print no Concentration on the BSA spot; they were refused as unknown samples."""
    path = shared_path("cytokine", "msd", "labkey_3plate", "3plateMSD.csv")
    wells = MsdPlugin().parse(path, _ctx(path.name)).tables["cytokine_wells"].to_pylist()
    refs = {w[SAMPLE_REF] for w in wells} - {None}
    assert refs == {f"Sample {n}" for n in range(1, 21)} | {"SARS-COV2-POS-3"}  # what the manifest must list
    plates = list(dict.fromkeys(w["plate_id"] for w in wells))
    assert len(plates) == 3
    for plate in plates:
        mine = [w for w in wells if w["plate_id"] == plate]
        assert Counter(w["sample_type"] for w in mine) == {"unknown": 1344, "control": 84, "standard": 72, "blank": 12}
        kit = [w for w in mine if w["well"][0] in "JKL" and w["well"][1:] in ("1", "2", "3")]  # MSD 1.1, 1.2, 1.3
        assert len(kit) == 3 * 3 * 4 and {w["sample_type"] for w in kit} == {"control"}
        labels = {(w["well"][0], w["well_label"]) for w in kit}
        assert len(labels) == 3  # one control label per kit control, on every spot
        bsa = {w["well"]: w["expected_conc"] for w in kit if w["analyte_reported"] == "BSA"}
        assert (bsa["J1"], bsa["K1"], bsa["L1"]) == (17.6, None, None)  # as printed: none is made up


def test_a_plate_run_date_far_outside_the_trial_gives_no_study_day(tmp_path: Path) -> None:
    """A run date decades from Day 0 was stored as run_study_day (e.g. -21483): the date itself."""
    ctx = ParseContext(label="r.txt", study_day=lambda d: (d - datetime.date(2063, 9, 1)).days, options={})
    parsed = MsdPlugin().parse(make_reader_text(tmp_path, reader_text_lines(spots=(1, 4))), ctx)
    assert parsed.tables["cytokine_plates"].to_pylist()[0]["run_study_day"] is None
    (warning,) = [w for w in parsed.warnings if w.startswith("IML-IN-011")]
    assert "run_study_day is left empty" in warning and "2023" not in warning
