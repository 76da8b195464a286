"""The instrument's own numbers are read as facts, and a refit with its model reproduces them.

Real exports that carry the instrument's results: the 16 CDC xPONENT 4.2 FLEXMAP 3D plates
(``Result``, ``Analysis Coefficients``, ``Standard Expected Concentration`` as reagent tables).
Each number read must equal the ``EXPECTED_xponent_*.csv`` tables derived from the files; a
5PL refit weighted 1/y^2 (the instrument's "Logistic 5P Weighted") of the standards' Net MFI
must reproduce the instrument's ``Result`` within 0.5 % (median over each file).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from immunolab_assays.luminex_xponent.reader import parse_xponent_bytes

from immunolab.cytokine.analytes import resolve_analyte
from immunolab.cytokine.curves import fit_standard_curve
from immunolab.cytokine.plate import Plate
from tests.conftest import shared_path

pytestmark = pytest.mark.shared_data

CDC = ("cytokine", "luminex_xponent", "cdc_flexmap3d")
PLATES = [f"plate {i}.csv" for i in range(1, 17)]


def _plate(name: str) -> Plate:
    path = shared_path(*CDC, "plates", name)
    return parse_xponent_bytes(Path(path).read_bytes(), label=name)[0]


def _rows(name: str) -> list[dict[str, str]]:
    with open(shared_path(*CDC, name), newline="") as fh:
        return list(csv.DictReader(fh))


def _num(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def refit_differences(plate: Plate) -> dict[str, np.ndarray]:
    """Return {analyte: |refit - instrument| / instrument} over the wells with a numeric Result."""
    out: dict[str, np.ndarray] = {}
    for analyte, group in plate.wells.groupby("analyte"):
        printed = plate.instrument_curves[str(analyte)]
        std = group[(group["sample_type"] == "standard") & group["expected_conc"].notna() & group["net_mfi_reported"].notna()]
        curve = fit_standard_curve(std["expected_conc"], std["net_mfi_reported"], model=printed.model, weighting=printed.weighting)
        ok = group["reported_conc"].notna() & group["net_mfi_reported"].notna()
        x, _censor = curve.inverse(group.loc[ok, "net_mfi_reported"].to_numpy())
        conc = x * group.loc[ok, "dilution"].fillna(1.0).to_numpy()
        reported = group.loc[ok, "reported_conc"].to_numpy()
        diff = np.abs(conc - reported) / np.abs(reported)
        out[str(analyte)] = np.where(np.isfinite(diff), diff, np.inf)  # outside the refit's range: a miss
    return out


@pytest.mark.parametrize("name", PLATES)
def test_cdc_plate_numbers_read_equal_the_expected_wells_table(name: str) -> None:
    plate = _plate(name)
    got = {(r["well"], r["analyte_reported"]): r for r in plate.wells.to_dict("records")}
    rows = [r for r in _rows("EXPECTED_xponent_wells_long.csv") if r["file"] == name]
    assert len(rows) == len(got) > 0
    for e in rows:
        g = got[(e["well"], e["analyte"])]
        assert g["median_mfi"] == pytest.approx(float(e["Median"]))
        assert g["net_mfi_reported"] == pytest.approx(float(e["Net MFI"]))
        assert g["bead_count"] == pytest.approx(float(e["Count"]))
        want = _num(e["Result"])
        if want is None:
            assert g["reported_conc_text"] == (e["Result"] or None)
        else:
            assert g["reported_conc"] == pytest.approx(want, rel=1e-9)
        dil = _num(e["Dilution Factor"])
        assert (g["dilution"] if not math.isnan(g["dilution"]) else None) == dil


@pytest.mark.parametrize("name", PLATES)
def test_cdc_standards_and_printed_curves_equal_the_expected_tables(name: str) -> None:
    plate = _plate(name)
    assert plate.layout == "xponent_reagent_tables" and plate.standards_repair == {}
    # plate 2's well A9 was changed after the analysis (tests/cytokine/test_vendor_agreement.py)
    edited = {"plate 2.csv": ["ANTIGEN 1: standard well(s) A9", "ANTIGEN 2: standard well(s) A9", "ANTIGEN 3: standard well(s) A9"]}
    assert [w[: len("ANTIGEN 1: standard well(s) A9")] for w in plate.warnings] == edited.get(name, [])
    std = plate.wells[plate.wells["sample_type"] == "standard"]
    by_label = {(r["well_label"], r["analyte"]): r["expected_conc"] for r in std.to_dict("records")}
    for e in (r for r in _rows("EXPECTED_xponent_standards.csv") if r["file"] == name):
        key = (e["reagent"], resolve_analyte(e["analyte"]).canonical)
        if key in by_label:  # a reagent row may name a standard no well carries
            assert by_label[key] == pytest.approx(float(e["expected_conc"]), rel=1e-6)
    curves = [r for r in _rows("EXPECTED_xponent_curves.csv") if r["file"] == name]
    assert len(curves) == len(plate.instrument_curves)
    for e in curves:
        c = plate.instrument_curves[resolve_analyte(e["analyte"]).canonical]
        assert (c.model, c.weighting, c.source) == ("5PL", "1/y^2", "instrument")
        assert (c.a, c.b, c.c, c.d, c.f) == pytest.approx(tuple(float(e[k]) for k in "ABCDF"), rel=1e-6)
        assert c.r_squared == pytest.approx(float(e["R2"]), rel=1e-6)


def test_a_refit_with_the_instruments_model_and_weighting_reproduces_its_results() -> None:
    """Per file median |refit - Result| / Result (measured: 15 of 16 plates < 0.5 %, most < 1e-6)."""
    medians: dict[str, float] = {}
    all_diffs: list[float] = []
    per_analyte: dict[str, list[float]] = defaultdict(list)
    for name in PLATES:
        diffs = refit_differences(_plate(name))
        joined = np.concatenate(list(diffs.values()))
        medians[name] = float(np.median(joined))
        all_diffs.extend(joined.tolist())
        for analyte, d in diffs.items():
            per_analyte[analyte].extend(d.tolist())
    # plate 2 (re-saved by Excel) is the one plate whose refit lands elsewhere (median ~19 %):
    # its well A9 (Standard9) holds Medians 27-215 MFI below what the instrument fitted; with
    # A9's Net MFI taken from its own Result the refit agrees to 1e-8 (test_vendor_agreement.py).
    within = [n for n, m in medians.items() if m < 0.005]
    assert len(within) >= 15, medians
    assert float(np.median(all_diffs)) < 1e-4
    assert set(per_analyte) == {"ANTIGEN 1", "ANTIGEN 2", "ANTIGEN 3"}
