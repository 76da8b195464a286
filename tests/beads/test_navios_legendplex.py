"""Validation against the vendor software: LEGENDplex anti-virus 13-plex standards on a Navios.

16 LMD wells (C0..C7 in duplicate) and the LEGENDplex v7.0 Detail Report's numbers
(``EXPECTED_legendplex_v7_standards.csv``). The report's ``standard`` labels of bead B4 are
shifted (its rows read C0, C3..C8); levels are therefore taken from the expected
concentration. Run ``python -m tests.beads.test_navios_legendplex`` to print the per-analyte
table of ``docs/bead_arrays.md``.
"""

from __future__ import annotations

import csv
import math
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from immunolab.beads.classify import BeadWellResult, classify_fcs_file
from immunolab.beads.kits import BeadKit, load_kit
from immunolab.beads.logcurve import fit_log_response_curve, log_response_concentrations
from immunolab.beads.plate import WellRole, bead_plate, bead_plate_settings
from tests.conftest import shared_path

pytestmark = pytest.mark.shared_data
FOLDER = ("beads", "legendplex_navios")


@lru_cache(maxsize=1)
def _run() -> tuple[BeadKit, list[tuple[int, int, BeadWellResult]], list[dict[str, str]]]:
    """Return the kit, (level, replicate, result) per well, and the report's standard rows."""
    folder = shared_path(*FOLDER)
    kit = load_kit("legendplex_hu_antivirus_13plex")
    files = sorted(folder.glob("LP 13 C*.LMD"), key=lambda p: int(re.search(r"C\d-0*(\d+)", p.name).group(1)))  # type: ignore[union-attr]
    wells, seen = [], {}
    for path in files:
        level = int(re.search(r"LP 13 C(\d)", path.name).group(1))  # type: ignore[union-attr]
        seen[level] = seen.get(level, 0) + 1
        wells.append((level, seen[level], classify_fcs_file(str(path), kit, label=f"C{level}-{seen[level]}")))
    with (folder / "EXPECTED_legendplex_v7_standards.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return kit, wells, rows


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _level_of(kit: BeadKit, analyte: str, expected: float) -> int:
    if expected == 0:
        return 0
    top = kit.standard_concentration(analyte, kit.standards.levels) or 1.0
    return round(kit.standards.levels - math.log(top / expected, kit.standards.dilution_factor or 4))


def _pairs() -> list[tuple[str, int, int, dict[str, str], float]]:
    """Return (analyte, level, replicate, report row, immunolab MFI) for every report row."""
    kit, wells, rows = _run()
    by_bead = {b.bead_id: b.analyte for b in kit.beads}
    lookup = {(lv, rep): res for lv, rep, res in wells}
    out = []
    for row in rows:
        analyte = by_bead[row["bead_id"]]
        level = _level_of(kit, analyte, float(row["expected_pg_ml"]))
        rep = int(row["replicate"])
        out.append((analyte, level, rep, row, lookup[(level, rep)].population(analyte).reporter_mfi))
    return out


def test_every_bead_population_is_found_in_every_well_on_the_right_channels() -> None:
    kit, wells, _ = _run()
    assert len(wells) == 16
    for _level, _rep, res in wells:
        assert res.channels == {"fsc": "FS-A", "ssc": "SS-A", "reporter": "FL2-A", "classifier1": "FL6-A"}
        assert [g.name for g in res.groups] == ["A", "B"] and all(g.found for g in res.groups)
        assert res.groups[0].fsc_median < res.groups[1].fsc_median, "group A holds the smaller beads"
        assert all(p.found and p.n_events >= 100 and not p.flags for p in res.populations), res.label
        for group in kit.groups:
            medians = [res.population(b.analyte).classifier_median[0] for b in group.beads]
            assert medians == sorted(medians), "bead ids follow APC intensity"


def test_reporter_mfi_is_within_5_percent_of_the_vendor_report_for_every_analyte_and_standard() -> None:
    pairs = _pairs()
    assert len(pairs) == 208
    errors = np.array([abs(mine / float(row["mfi"]) - 1.0) * 100 for _a, _l, _r, row, mine in pairs])
    assert errors.max() < 5.0, f"worst {errors.max():.2f} %"
    assert np.median(errors) < 1.0


def _standard_agreement(model: str) -> dict[str, list[tuple[int, float, float, float]]]:
    """Return per analyte (level, expected, report pg/mL, immunolab pg/mL) of numeric report values."""
    kit, wells, _ = _run()
    pairs = _pairs()
    out: dict[str, list[tuple[int, float, float, float]]] = {}
    for analyte in kit.analytes:
        mine = [(lv, kit.standard_concentration(analyte, lv) or 0.0, res.population(analyte).reporter_mfi)
                for lv, _rep, res in wells]
        curve = fit_log_response_curve([m[1] for m in mine], [m[2] for m in mine], model=model, analyte=analyte)
        for a, level, _rep, row, mfi in pairs:
            reported = _number(row["conc_pg_ml"])
            if a != analyte or level == 0 or reported is None:
                continue
            conc, _ = log_response_concentrations(curve, [mfi])
            out.setdefault(analyte, []).append((level, float(row["expected_pg_ml"]), reported, float(conc[0])))
    return out


def _within(rows: list[tuple[int, float, float, float]], tol: float = 0.10) -> int:
    return sum(1 for _lv, _x, rep, mine in rows if math.isfinite(mine) and abs(mine / rep - 1) <= tol)


def test_back_calculated_standards_agree_with_the_report_within_10_percent_on_its_log_mfi_5pl() -> None:
    per = _standard_agreement("5PL")
    rows = [r for v in per.values() for r in v]
    recovered = [r for r in rows if 0.7 <= r[2] / r[1] <= 1.3]  # where the report itself recovers the standard
    assert len(rows) == 167
    assert _within(rows) >= 0.85 * len(rows), f"{_within(rows)} of {len(rows)}"
    assert _within(recovered) >= 0.90 * len(recovered), f"{_within(recovered)} of {len(recovered)}"
    upper = [r for r in rows if r[0] >= 4]  # C4..C7: the steep part of every curve
    assert _within(upper) == len(upper)


def test_the_plate_path_fits_every_analyte_with_the_existing_engine() -> None:
    from immunolab.cytokine.assemble import analyse_plate

    kit, wells, _ = _run()
    plate = bead_plate([w for _l, _r, w in wells], [WellRole.standard(lv) for lv, _r, _w in wells], kit)
    analysis = analyse_plate(plate, plate_id="navios", settings=bead_plate_settings(kit), label="navios run")
    assert plate.quantitative and set(analysis.curve_analytes) == set(kit.analytes)
    assert all(c.converged and c.model == "5PL" and c.weighting == "1/y^2" for c in analysis.curves)
    stds = analysis.wells[(analysis.wells["sample_type"] == "standard") & (analysis.wells["expected_conc"] > 0)]
    high = stds[stds["expected_conc"] >= 150]
    recovery = high["conc"] / high["expected_conc"]
    assert recovery.between(0.7, 1.3).mean() >= 0.95


def test_the_fcs_2_0_copy_in_each_lmd_file_gives_the_same_populations_on_its_log_scale() -> None:
    kit, wells, _ = _run()
    folder = shared_path(*FOLDER)
    path = next(folder.glob("LP 13 C5-011*.LMD"))
    low_res = classify_fcs_file(str(path), kit, dataset=0)
    full = next(res for lv, rep, res in wells if (lv, rep) == (5, 1))
    assert low_res.channels["reporter"] == "FL2 INT LOG" and low_res.channels["classifier1"] == "FL6 INT LOG"
    assert all(p.found for p in low_res.populations)
    mine = np.array([p.reporter_mfi for p in low_res.populations])
    ref = np.array([p.reporter_mfi for p in full.populations])
    assert np.array_equal(np.argsort(mine), np.argsort(ref)), "same MFI order on the 10-bit log copy"
    counts = np.array([p.n_events for p in low_res.populations]) / np.array([p.n_events for p in full.populations])
    assert np.all(np.abs(counts - 1) < 0.15)


def agreement_table() -> str:
    """Return the per-analyte markdown table of docs/bead_arrays.md (MFI and back-calculation)."""
    kit, _wells, _ = _run()
    pairs = _pairs()
    five, four = _standard_agreement("5PL"), _standard_agreement("4PL")
    lines = [
        "| bead | analyte | MFI: max diff % | MFI: median diff % | standards with a report value | within 10 % (5PL on log MFI) | median diff % | within 10 % (4PL on log MFI) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for bead in kit.beads:
        a = bead.analyte
        mfi = [abs(m / float(r["mfi"]) - 1) * 100 for an, _l, _r, r, m in pairs if an == a]
        rows5, rows4 = five.get(a, []), four.get(a, [])
        diffs = [abs(m / rep - 1) * 100 for _lv, _x, rep, m in rows5 if math.isfinite(m)]
        lines.append(
            f"| {bead.bead_id} | {bead.analyte_reported} | {max(mfi):.2f} | {np.median(mfi):.2f} | {len(rows5)} | "
            f"{_within(rows5)} | {np.median(diffs):.1f} | {_within(rows4)} |"
        )
    rows5 = [r for v in five.values() for r in v]
    rows4 = [r for v in four.values() for r in v]
    all_mfi = [abs(m / float(r["mfi"]) - 1) * 100 for _a, _l, _r, r, m in pairs]
    diffs = [abs(m / rep - 1) * 100 for _lv, _x, rep, m in rows5 if math.isfinite(m)]
    lines.append(
        f"| all | 13 analytes | {max(all_mfi):.2f} | {np.median(all_mfi):.2f} | {len(rows5)} | {_within(rows5)} | "
        f"{np.median(diffs):.1f} | {_within(rows4)} |"
    )
    return "\n".join(lines)


def level_table() -> str:
    """Return agreement per standard level: log-MFI 5PL and the plate path's linear 5PL (1/y^2)."""
    from immunolab.cytokine.curves import fit_standard_curve

    kit, wells, _ = _run()
    five = _standard_agreement("5PL")
    linear: dict[int, list[bool]] = {}
    for analyte in kit.analytes:
        x = [kit.standard_concentration(analyte, lv) or 0.0 for lv, _r, _w in wells]
        y = [res.population(analyte).reporter_mfi for _l, _r, res in wells]
        keep = [i for i, v in enumerate(x) if v > 0]
        curve = fit_standard_curve([x[i] for i in keep], [y[i] for i in keep], model="5PL", weighting="1/y^2")
        for a, level, _rep, row, mfi in _pairs():
            reported = _number(row["conc_pg_ml"])
            if a == analyte and level > 0 and reported is not None:
                conc = float(curve.inverse(mfi)[0][0])
                linear.setdefault(level, []).append(math.isfinite(conc) and abs(conc / reported - 1) <= 0.10)
    lines = ["| standard | report values | within 10 % (5PL on log MFI) | within 10 % (5PL on MFI, 1/y^2) |", "|---|---|---|---|"]
    for level in range(1, kit.standards.levels + 1):
        rows = [r for v in five.values() for r in v if r[0] == level]
        lines.append(f"| C{level} | {len(rows)} | {_within(rows)} | {sum(linear.get(level, []))} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(agreement_table())
    print()
    print(level_table())
    print(f"\n(files: {Path(shared_path(*FOLDER))})")


def test_a_legendplex_well_read_with_a_one_group_cba_kit_is_refused_as_another_kits_well() -> None:
    from immunolab.errors import InconsistentInputError

    well = shared_path(*FOLDER) / "LP 13 C7-015 00006749 015.LMD"
    with pytest.raises(InconsistentInputError) as info:
        classify_fcs_file(str(well), load_kit("bd_cba_hu_th1_th2_th17"))
    assert info.value.code == "IML-BEAD-004"
    assert "do not fit kit bd_cba_hu_th1_th2_th17" in info.value.message
    assert "2 groups of beads in forward/side scatter" in info.value.message
