"""The screened multi-start fit finds the optimum the exhaustive multi-start fit finds.

``_solve`` descends every start a few steps and fits only the two best to the tight tolerance
(all starts only when those two disagree); ``_solve_exhaustive`` fits every start to the tight
tolerance. On every curve of the real xPONENT 4.2 (CDC), Bio-Plex Manager and MSD exports, on
the LEGENDplex report's standards (the bead-array log-response fit) and on the independent
standards simulator (``recipe_sim``), the screened answer must have the same parameters (1e-6 relative) or a cost no worse (floating-point noise aside), and fail where the
exhaustive fit fails. The derivations of one plate (refit and instrument) fit each curve once.
"""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path

import numpy as np
import pytest
from immunolab_assays.bioplex.workbook import read_bioplex_workbook
from immunolab_assays.luminex_xponent.reader import parse_xponent_bytes
from immunolab_assays.msd.workbench import read_workbench_csv

import immunolab.cytokine.curves as curves
from immunolab.beads.logcurve import fit_log_response_curve
from immunolab.cytokine.assemble import PlateSettings, analyse_plate
from immunolab.cytokine.plate import Plate
from immunolab.derive import curves as derive_curves
from immunolab.errors import InputError
from tests.conftest import shared_path

from . import recipe_sim
from .factories import PlateSpec, plate_text

BIOPLEX = [("labkey", "01-11A12-IgA-Biotin.xls"), ("labkey", "pnLINCO20070302A.xls"),
           ("labkey_iga", "02-14A22-IgA-Biotin.xls"), ("labkey_iga", "03-31A82-IgA-Biotin.xls")]


def _cost(pr: curves._Problem, p: np.ndarray) -> float:
    residuals, _jac = curves._objective(pr)
    r = residuals(np.asarray(p))
    return 0.5 * float(r @ r)


def _problems(monkeypatch: pytest.MonkeyPatch, fit: object) -> list[tuple[curves._Problem, int]]:
    """Return the problems ``fit()`` hands to the multi-start solver."""
    seen: list[tuple[curves._Problem, int]] = []

    def spy(pr: curves._Problem, max_nfev: int) -> None:
        seen.append((pr, max_nfev))  # the fit itself is not needed: record "no start converged"

    curves._fit_once.cache_clear()
    with monkeypatch.context() as m:
        m.setattr(curves, "_solve", spy)
        fit()  # type: ignore[operator]
    curves._fit_once.cache_clear()
    return seen


def _assert_screened_equals_exhaustive(problems: list[tuple[curves._Problem, int]]) -> None:
    assert problems
    for k, (pr, max_nfev) in enumerate(problems):
        fast = curves._solve(pr, max_nfev)
        full = curves._solve_exhaustive(pr, max_nfev)
        assert (fast is None) == (full is None), k
        if fast is None or full is None:
            continue
        same = np.allclose(fast, full, rtol=1e-6, atol=0.0)
        assert same or _cost(pr, fast) <= _cost(pr, full) * (1.0 + 1e-12), (k, fast, full)


def _real_plates() -> list[Plate]:
    plates: list[Plate] = []
    for i in range(1, 17):
        path = Path(shared_path("cytokine", "luminex_xponent", "cdc_flexmap3d", "plates", f"plate {i}.csv"))
        plates += parse_xponent_bytes(path.read_bytes(), label=path.name)
    for folder, name in BIOPLEX:
        path = Path(shared_path("cytokine", "bioplex_manager", folder, name))
        plates += read_bioplex_workbook(path, name)
    path = Path(shared_path("cytokine", "msd", "labkey_3plate", "3plateMSD.csv"))
    return plates + read_workbench_csv(path, path.name)


@pytest.mark.shared_data
def test_screened_fit_equals_the_exhaustive_fit_on_every_real_plate_curve(monkeypatch: pytest.MonkeyPatch) -> None:
    plates = _real_plates()

    def fit_all() -> None:
        for plate in plates:  # the vendor's model and recipe, as ingest fits them
            with contextlib.suppress(InputError):  # every curve "fails" while recorded
                analyse_plate(plate, plate_id="p", settings=PlateSettings())

    problems = _problems(monkeypatch, fit_all)
    assert len(problems) >= 80  # 48 CDC, Bio-Plex and MSD curves
    _assert_screened_equals_exhaustive(problems)


@pytest.mark.shared_data
def test_screened_fit_equals_the_exhaustive_fit_on_the_legendplex_report_standards(
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = Path(shared_path("beads", "legendplex_navios", "EXPECTED_legendplex_v7_standards.csv"))
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))

    def fit_all() -> None:  # the bead-array path: ln(MFI) against pg/mL, unweighted
        for analyte in sorted({r["analyte"] for r in rows}):
            mine = [r for r in rows if r["analyte"] == analyte]
            for model in ("5PL", "4PL"):
                with contextlib.suppress(InputError):
                    fit_log_response_curve([float(r["expected_pg_ml"]) for r in mine], [float(r["mfi"]) for r in mine],
                                           model=model)

    problems = _problems(monkeypatch, fit_all)
    assert len(problems) == 26  # 13 analytes x 2 models
    _assert_screened_equals_exhaustive(problems)


@pytest.mark.parametrize("recipe", ["bioplex", "msd", "1/y^2"])
def test_screened_fit_equals_the_exhaustive_fit_on_independent_simulator_standards(
        monkeypatch: pytest.MonkeyPatch, recipe: str) -> None:
    def fit_all() -> None:
        for seed in range(4):
            for sim in (recipe_sim.bead_standards(seed), recipe_sim.ecl_standards(seed)):
                for model in ("5PL", "4PL"):
                    with contextlib.suppress(InputError):
                        curves.fit_standard_curve(sim.conc, sim.net, raw_responses=sim.raw, model=model, weighting=recipe)

    _assert_screened_equals_exhaustive(_problems(monkeypatch, fit_all))


def test_the_refit_and_instrument_derivations_of_a_plate_fit_each_curve_once(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = PlateSpec(noise=0.02)
    plate = parse_xponent_bytes(plate_text(spec, seed=3).encode(), label="plate.csv")[0]
    assert derive_curves.has_instrument_results(plate)
    solved = []
    solve = curves._solve

    def counting(pr: curves._Problem, max_nfev: int) -> np.ndarray | None:
        solved.append(pr)
        return solve(pr, max_nfev)

    curves._fit_once.cache_clear()
    monkeypatch.setattr(curves, "_solve", counting)
    for kind in ("refit", derive_curves.INSTRUMENT):
        derive_curves.derive_plate(plate, sha="0" * 64, plate_id="P1", settings=PlateSettings(), kind=kind)
    assert len(solved) == len(spec.analytes)


def test_instrument_limits_are_computed_once_per_analyte(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = PlateSpec()
    plate = parse_xponent_bytes(plate_text(spec).encode(), label="plate.csv")[0]
    calls: list[str] = []
    limits = derive_curves._instrument_limits

    def counting(plate: Plate, an: object, analyte: str) -> tuple[float | None, float | None]:
        calls.append(analyte)
        return limits(plate, an, analyte)  # type: ignore[arg-type]

    monkeypatch.setattr(derive_curves, "_instrument_limits", counting)
    rows, _status = derive_curves.derive_plate(plate, sha="0" * 64, plate_id="P1", settings=PlateSettings(),
                                               kind=derive_curves.INSTRUMENT)
    assert len(rows["cytokine_results"]) == len(spec.analytes) * len(spec.sample_names)
    assert sorted(calls) == sorted(set(calls)) and len(calls) == len(spec.analytes)
