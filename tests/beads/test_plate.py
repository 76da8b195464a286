"""bead_plate: a run of classified wells becomes a cytokine Plate the existing engine fits like any plate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from immunolab.beads.kits import load_kit
from immunolab.beads.plate import WellRole, bead_plate, bead_plate_settings, plate_well_name
from immunolab.cytokine.assemble import analyse_plate
from immunolab.cytokine.facts import plate_fact_tables
from immunolab.derive.preview import derive_plates
from immunolab.errors import ERROR_CODES, InputError
from immunolab.plugins import ParsedAssay
from tests.beads.factories import conc_of, mfi_of, well

KIT = load_kit("legendplex_hu_inflammation_13plex")
SAMPLES = {"S-001": 35.0, "S-002": 410.0, "S-003": 2900.0}  # in-well pg/mL of every analyte


def _run(background: str = "keep", missing: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    wells, roles = [], []
    for level in range(8):
        for rep in (1, 2):
            conc = {a: KIT.standard_concentration(a, level) or 0.0 for a in KIT.analytes}
            wells.append(well(KIT, conc, label=f"C{level}-{rep}"))
            roles.append(WellRole.standard(level, replicate=rep))
    for ref, c in SAMPLES.items():
        for rep in (1, 2):
            wells.append(well(KIT, dict.fromkeys(KIT.analytes, c), label=f"{ref}-{rep}",
                              missing=missing if ref == "S-002" and rep == 1 else ()))
            roles.append(WellRole.sample(ref, dilution=2.0, replicate=rep))
    return bead_plate(wells, roles, KIT, background=background)


def test_the_factory_curve_inverts_exactly() -> None:
    assert conc_of(mfi_of(123.0)) == pytest.approx(123.0)


def test_a_run_becomes_one_row_per_well_and_analyte_in_the_plate_convention() -> None:
    plate = _run()
    w = plate.wells
    assert len(w) == (16 + 6) * 13 and plate.quantitative and plate.kit == KIT.name
    assert list(w["well"].iloc[[0, 13, 16 * 13]]) == ["A1", "B1", "A3"]
    c7 = w[w["well_label"] == "C7"]
    assert set(c7["standard_level"]) == {1} and set(c7.loc[c7["analyte"] == "IL-33", "expected_conc"]) == {50000.0}
    c0 = w[w["well_label"] == "C0"]
    assert set(c0["sample_type"]) == {"standard"} and set(c0["expected_conc"]) == {0.0}
    unk = w[w["sample_type"] == "unknown"]
    assert set(unk["sample_name"]) == set(SAMPLES) and set(unk["dilution"]) == {2.0}
    assert plate.units["IL-6"] == "pg/mL" and plate.min_bead_count == KIT.min_bead_count


def test_the_engine_recovers_the_samples_and_keeps_the_blank_in_the_curve() -> None:
    plate = _run()
    analysis = analyse_plate(plate, plate_id="run1", settings=bead_plate_settings(KIT))
    assert all(c.converged for c in analysis.curves)
    w = analysis.wells
    assert np.allclose(w["net_mfi"], w["median_mfi"]), "background kept: C0 is the bottom of the curve, not subtracted"
    res = analysis.results
    for ref, conc in SAMPLES.items():
        got = res[(res["_sample_ref"] == ref) & (res["analyte"] == "IL-6")]["concentration"].iloc[0]
        assert got == pytest.approx(2.0 * conc, rel=0.03), ref
    # the same run as store facts and the refit derivation ingest computes from them
    facts = plate_fact_tables([plate], source_id="ab" * 32, export_format="bead_array")
    assert facts["cytokine_wells"].num_rows == len(plate.wells)
    derived = derive_plates(ParsedAssay(tables=facts), settings=bead_plate_settings(KIT), kinds=("refit",))
    stored = derived["cytokine_results"].to_pandas().set_index(["sample_key", "analyte"])
    assert len(stored) == 3 * 13
    direct = res.set_index(["_sample_ref", "analyte"])["concentration"]
    assert np.allclose(stored.loc[direct.index, "concentration"], direct, rtol=1e-9)


def test_background_subtract_types_c0_as_blank_wells() -> None:
    plate = _run(background="subtract")
    w = plate.wells
    assert set(w.loc[w["well_label"] == "C0", "sample_type"]) == {"blank"}
    analysis = analyse_plate(plate, plate_id="run1", settings=bead_plate_settings(KIT))
    blank = analysis.wells[analysis.wells["well_label"] == "C0"]
    assert np.allclose(blank["net_mfi"], 0.0)


def test_a_missing_bead_is_a_failing_bead_count_of_that_reading_not_a_failed_plate() -> None:
    plate = _run(missing=("IL-6",))
    row = plate.wells[(plate.wells["sample_name"] == "S-002") & (plate.wells["analyte"] == "IL-6")].iloc[0]
    assert row["bead_count"] == 0 and math.isnan(row["median_mfi"]) and "bead_not_found" in row["bead_flags"]
    analysis = analyse_plate(plate, plate_id="run1", settings=bead_plate_settings(KIT))
    assert analysis.status != "fail" and analysis.qc["bead_count"]["fail"] == 1
    res = analysis.results
    il6 = res[(res["_sample_ref"] == "S-002") & (res["analyte"] == "IL-6")].iloc[0]
    assert il6["n_replicates"] == 2 and "bead_count_fail" in il6["qc_flags"]
    assert il6["concentration"] == pytest.approx(2 * SAMPLES["S-002"], rel=0.03), "the other replicate carries it"


def test_kit_curve_settings_can_be_overridden() -> None:
    assert bead_plate_settings(KIT).model == "5PL" and bead_plate_settings(KIT).weighting == "1/y^2"
    assert bead_plate_settings(KIT, {"curve_model": "4PL"}).model == "4PL"


def _bad(wells, roles, kit=KIT) -> InputError:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as info:
        bead_plate(wells, roles, kit, label="run 7")
    assert info.value.code == "IML-BEAD-005" and "IML-BEAD-005" in ERROR_CODES and info.value.hint
    return info.value


def test_roles_that_do_not_fit_the_wells_or_the_kit_are_iml_bead_005() -> None:
    w = well(KIT, {}, label="C0-1")
    assert "2 well roles" in _bad([w], [WellRole.standard(0), WellRole.standard(0)]).message
    assert "C9" in _bad([w], [WellRole.standard(9)]).message
    assert "more than one well" in _bad([w, w], [WellRole.standard(0, well="A1"), WellRole.standard(1, well="A1")]).message
    assert "sample reference" in _bad([w], [WellRole("sample")]).message
    assert "dilution" in _bad([w], [WellRole.sample("S-1", dilution=0.0)]).message
    macs = load_kit("macsplex_cytokine_12")
    assert "kit legendplex" in _bad([w], [WellRole.standard(1)], kit=macs).message
    mw = well(macs, {}, label="M-1")
    err = _bad([mw], [WellRole.standard(3)], kit=macs)
    assert "no standard concentrations" in err.message and err.path == "M-1"


def test_plate_positions_follow_column_order() -> None:
    assert [plate_well_name(i) for i in (0, 7, 8, 95)] == ["A1", "H1", "A2", "H12"]
