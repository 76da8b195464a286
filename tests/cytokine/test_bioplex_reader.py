"""Bio-Plex Manager readers on the shared real exports: values, tokens, printed curves, accuracy."""

from __future__ import annotations

import csv
import math
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from immunolab_assays.bioplex.curve import PrintedCurve, inverse_printed_curve, parse_std_curve
from immunolab_assays.bioplex.workbook import read_bioplex_workbook
from immunolab_assays.bioplex.xml_export import read_bioplex_xml

from immunolab.cytokine.analytes import resolve_analyte
from immunolab.cytokine.curves import back_calculate
from tests.conftest import shared_path
from tests.cytokine.helpers import readings_of

pytestmark = pytest.mark.shared_data

LABKEY = ("cytokine", "bioplex_manager", "labkey")


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _expected_rows() -> dict[str, list[dict[str, str]]]:
    path = shared_path(*LABKEY, "EXPECTED_bioplex_obsconc_long.csv")
    by_file: dict[str, list[dict[str, str]]] = defaultdict(list)
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            by_file[row["file"]].append(row)
    return by_file


@pytest.mark.parametrize("name", ["pnLINCO20070302A.xls", "01-11A12-IgA-Biotin.xls", "WithIndices.xls"])
def test_every_expected_obs_conc_row_is_read_with_its_fi_dilution_and_tokens(name: str) -> None:
    expected = _expected_rows()[name]
    plate = read_bioplex_workbook(shared_path(*LABKEY, name), name)[0]
    got = {(r.analyte_reported, r.well): r for r in readings_of(plate)}
    assert len(got) == len(expected)
    for e in expected:
        r = got[(e["analyte"], e["well"].replace(" ", ""))]
        for value, want in (
            (r.signal, _float(e["FI"])),
            (r.net_signal, _float(e["FI_bkgd"])),
            (r.reported.value, _float(e["obs_conc_value"])),
            (r.dilution, _float(e["dilution"])),
            (r.expected_conc, _float(e["exp_conc"]) or None),  # Bio-Plex 0 = never entered
            (r.bead_count, _float(e["bead_count"])),
        ):
            assert (value is None) == (want is None), (e, r)
            if want is not None:
                assert value == pytest.approx(want, rel=1e-12)
        raw = e["obs_conc_raw"]
        if _float(raw) is None:
            assert (r.reported.text or "") == raw  # tokens verbatim: "OOR <", "*404.19889"
        else:
            assert float(r.reported.text or "nan") == float(raw)


def test_tokens_become_flags_beside_the_verbatim_text() -> None:
    plate = read_bioplex_workbook(shared_path(*LABKEY, "01-11A12-IgA-Biotin.xls"), "x.xls")[0]
    flags = Counter(r.reported.flag for r in readings_of(plate))
    assert flags["OOR<"] == 24 and flags["OOR>"] == 12 and flags["extrapolated"] == 2
    extrapolated = [r for r in readings_of(plate) if r.reported.flag == "extrapolated"]
    assert {r.reported.text for r in extrapolated} == {"*404.19889", "*530.66932"}
    assert sorted(r.reported.value or 0.0 for r in extrapolated) == [404.19889, 530.66932]
    assert all(r.reported.value is None for r in readings_of(plate) if r.reported.flag in ("OOR<", "OOR>"))


def test_outlier_rows_of_the_4x_summary_layout_keep_no_signal_and_an_outlier_flag() -> None:
    plate = read_bioplex_workbook(shared_path(*LABKEY, "pnLINCO20070302A.xls"), "x.xls")[0]
    assert plate.layout == "summary"
    outliers = [r for r in readings_of(plate) if "outlier" in r.qc_flags]
    assert len(outliers) == 5
    il4_s5 = next(r for r in readings_of(plate) if r.analyte_reported == "IL-4 (9)" and r.well_label == "Standard5")
    assert il4_s5.signal is None and "outlier" in il4_s5.qc_flags


def test_xls_and_xlsx_of_the_same_export_give_the_same_readings() -> None:
    a = read_bioplex_workbook(shared_path(*LABKEY, "pnLINCO20070302A.xls"), "a.xls")[0]
    b = read_bioplex_workbook(shared_path(*LABKEY, "pnLINCO20070302A.xlsx"), "b.xlsx")[0]
    assert [(r.well, r.analyte_reported, r.signal, r.reported) for r in readings_of(a)] == [
        (r.well, r.analyte_reported, r.signal, r.reported) for r in readings_of(b)
    ]
    assert (a.software_version, set(a.units.values()), a.kit) == ("4.1", {"pg/ml"}, "HSCYTO-60SK")


def test_raw_and_summary_sheets_keep_per_well_rows_and_drop_the_covered_summaries() -> None:
    plate = read_bioplex_workbook(shared_path(*LABKEY, "RawAndSummary.xlsx"), "r.xlsx")[0]
    assert plate.facts["summary_rows_superseded_by_wells"] == 36
    assert not any(r.replicate_group for r in readings_of(plate))
    assert len(readings_of(plate)) == 3 * 24
    assert all(r.bead_count is not None for r in readings_of(plate))
    h1 = next(r for r in readings_of(plate) if r.analyte_reported == "Analyte1 (1)" and r.well == "H1")
    assert (h1.reported.text, h1.reported.value, h1.reported.flag) == ("*510.67373", 510.67373, "extrapolated")


def test_wide_single_sheet_layout_reads_fi_and_bead_count_per_analyte_column() -> None:
    path = shared_path("cytokine", "bioplex_manager", "serolyzer", "synthetic_bioplex.xlsx")
    plate = read_bioplex_workbook(path, "s.xlsx")[0]
    assert plate.layout == "wide"
    assert list(dict.fromkeys(plate.wells["analyte_reported"])) == ["AN1 (33)", "AN2 (44)"]
    b2 = {r.analyte_reported: r for r in readings_of(plate) if r.well == "B2"}
    assert (b2["AN1 (33)"].signal, b2["AN1 (33)"].bead_count) == (947.35, 91)
    assert (b2["AN2 (44)"].signal, b2["AN2 (44)"].bead_count) == (947.35, 100)
    assert any("'N'" in w for w in plate.warnings)  # N codes are read as unknowns, and said so


def test_printed_curves_match_the_expected_curve_table() -> None:
    path = shared_path(*LABKEY, "EXPECTED_bioplex_curves.csv")
    with open(path, newline="") as fh:
        expected = list(csv.DictReader(fh))
    plates = {n: read_bioplex_workbook(shared_path(*LABKEY, n), n)[0] for n in {e["file"] for e in expected}}
    for e in expected:
        curve = plates[e["file"]].instrument_curves[resolve_analyte(e["sheet"]).canonical]
        assert curve.model == ("5PL" if "5PL" in e["regression"] else "4PL")
        assert curve.source == "instrument"
        assert parse_std_curve(e["equation"]) == pytest.approx(
            (curve.a, curve.b, curve.c, curve.d, curve.f)
        )
        assert (curve.a, curve.b, curve.c, curve.d, curve.f) == pytest.approx(
            tuple(float(e[k]) for k in ("d_min", "a_max", "c_inflection", "b_slope", "g_asym"))
        )


def _relative_differences() -> list[float]:
    """Back-calculate every numeric Obs Conc from the printed curve at FI - Bkgd, times Dilution."""
    diffs: list[float] = []
    for name in ("pnLINCO20070302A.xls", "01-11A12-IgA-Biotin.xls", "WithIndices.xls"):
        plate = read_bioplex_workbook(shared_path(*LABKEY, name), name)[0]
        wells = plate.wells
        for analyte, group in wells.groupby("analyte"):
            curve = plate.instrument_curves[str(analyte)]
            ok = group["reported_conc"].notna() & group["net_mfi_reported"].notna()
            sub = group[ok]
            calc = back_calculate(curve, sub["net_mfi_reported"].to_numpy(), sub["dilution"].to_numpy())
            for got, want in zip(calc.concentration, sub["reported_conc"], strict=True):
                assert math.isfinite(got), (name, analyte)
                diffs.append(abs(got - want) / abs(want))
    return diffs


def test_back_calculation_from_the_printed_curve_matches_obs_conc_within_0_1_percent_median() -> None:
    diffs = _relative_differences()
    assert len(diffs) == 1227  # every numeric Obs Conc of the three exports
    median = statistics.median(diffs)
    assert median < 1e-3, f"median relative difference {median:.2e}"
    # the large differences come only from 4.x values printed with two decimals (0.01 ...)
    assert float(np.quantile(diffs, 0.9)) < 5e-3


def test_inverse_of_the_printed_curve_agrees_with_the_shared_curve_inverse() -> None:
    plate = read_bioplex_workbook(shared_path(*LABKEY, "01-11A12-IgA-Biotin.xls"), "x.xls")[0]
    shared = plate.instrument_curves["ENV1"]
    printed = PrintedCurve("ENV1 (31)", "Logistic - 5PL", shared.a, shared.b, shared.c, shared.d, shared.f)
    for y in (5.0, 80.0, 547.0, 4899.0, 28746.0):
        x, censor = shared.inverse(y)
        assert censor[0] == "none"
        assert x[0] == pytest.approx(inverse_printed_curve(printed, y), rel=1e-12)


def test_xml_export_reads_member_wells_blank_subtracted_and_invalid_power_law_curves() -> None:
    path = shared_path("cytokine", "bioplex_manager", "allotropy_xml", "bio-rad_bio-plex_manager_example_01.xml")
    plate = read_bioplex_xml(Path(path), "x.xml")
    assert plate.software_version == "6.2.0.175"
    assert len(readings_of(plate)) == 96 * 15
    assert Counter(r.sample_type for r in readings_of(plate)) == {
        "unknown": 960, "standard": 330, "control": 120, "blank": 30,
    }
    c1 = next(r for r in readings_of(plate) if r.well == "C1" and r.analyte_reported == "alpha")
    assert (c1.signal, c1.net_signal) == (291.0, 291.0 - 62.0)  # minus the mean of the blank wells
    assert c1.reported.flag == "not_available" and c1.reported.value is None
    assert len(plate.instrument_curves) == 15
    assert all(
        not c.converged and c.weighting == "Power Law Variance A=0.01 B=1.8" for c in plate.instrument_curves.values()
    )
    a1 = next(r for r in readings_of(plate) if r.well == "A1" and r.analyte_reported == "delta")
    assert a1.bead_count == 60  # from the <Well> BeadRegion RegionCount
