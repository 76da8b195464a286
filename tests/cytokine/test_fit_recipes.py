"""The vendor refit recipes fit exactly what they say, on an independent simulator.

``bioplex``: level means of the net signal, weights 1/(raw signal)^1.8, asymmetry in [0.1, 10].
``msd``: level means including the zero calibrator, weights 1/mean^2 (4PL). Each is checked
against a reference fitter written from the recipe's definition (``tests/cytokine/recipe_sim``),
and each of its ingredients is shown to matter.
"""

from __future__ import annotations

import numpy as np
import pytest

from immunolab.cytokine.curves import WEIGHTINGS, fit_standard_curve
from immunolab.cytokine.fit_recipes import RECIPES
from tests.cytokine.recipe_sim import bead_standards, ecl_standards, inverse, reference_fit

PROBES_BEAD = np.array([60.0, 400.0, 2500.0, 9000.0, 20000.0])
PROBES_ECL = np.array([400.0, 3000.0, 40000.0, 600000.0])


def _max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


@pytest.mark.parametrize("seed", [3, 17, 29])
def test_bioplex_recipe_equals_the_reference_fit_of_its_definition(seed: int) -> None:
    plate = bead_standards(seed)
    curve = fit_standard_curve(plate.conc, plate.net, raw_responses=plate.raw, model="5PL", weighting="bioplex")
    ref = reference_fit(plate, "bioplex", five=True)
    got, _ = curve.inverse(PROBES_BEAD)
    assert _max_rel(got, inverse(PROBES_BEAD, *ref)) < 1e-4
    assert 0.1 <= curve.f <= 10.0 and curve.n_points == 9  # one point per level


@pytest.mark.parametrize("seed", [5, 11])
def test_msd_recipe_equals_the_reference_fit_and_uses_the_zero_calibrator(seed: int) -> None:
    plate = ecl_standards(seed)
    curve = fit_standard_curve(plate.conc, plate.net, model="4PL", weighting="msd")
    ref = reference_fit(plate, "msd", five=False)
    got, _ = curve.inverse(PROBES_ECL)
    assert _max_rel(got, inverse(PROBES_ECL, *ref)) < 1e-4
    assert curve.n_points == 8 and curve.lowest_standard == pytest.approx(60.0 / 4.0**6)
    # the zero calibrator pins the lower asymptote: moving it moves the msd fit only
    moved = plate.net.copy()
    moved[plate.conc == 0] *= 1.3
    msd_moved = fit_standard_curve(plate.conc, moved, model="4PL", weighting="msd")
    plain = fit_standard_curve(plate.conc, plate.net, model="4PL", weighting="1/y^2")
    plain_moved = fit_standard_curve(plate.conc, moved, model="4PL", weighting="1/y^2")
    assert abs(msd_moved.a - curve.a) / curve.a > 0.05
    assert plain_moved.params() == pytest.approx(plain.params(), rel=1e-9)


def test_bioplex_fit_depends_on_level_means_only() -> None:
    plate = bead_standards(41)
    base = fit_standard_curve(plate.conc, plate.net, raw_responses=plate.raw, model="5PL", weighting="bioplex")
    # triple every replicate's deviation from its level mean: same means, different wells
    net, raw = plate.net.copy(), plate.raw.copy()
    for lv in np.unique(plate.conc):
        idx = np.flatnonzero(plate.conc == lv)
        net[idx] = net[idx].mean() + 3.0 * (net[idx] - net[idx].mean())
        raw[idx] = raw[idx].mean() + 3.0 * (raw[idx] - raw[idx].mean())
    mirrored = fit_standard_curve(plate.conc, net, raw_responses=raw, model="5PL", weighting="bioplex")
    assert mirrored.params() == pytest.approx(base.params(), rel=1e-7)
    per_well = fit_standard_curve(plate.conc, plate.net, model="5PL", weighting="1/y^2")
    per_well_mirrored = fit_standard_curve(plate.conc, net, model="5PL", weighting="1/y^2")
    assert per_well_mirrored.params() != pytest.approx(per_well.params(), rel=1e-4)


def test_bioplex_weights_come_from_the_raw_signal_not_the_background_subtracted_one() -> None:
    plate = bead_standards(7)
    low_bg = fit_standard_curve(plate.conc, plate.net, raw_responses=plate.net + 5.0, model="5PL", weighting="bioplex")
    high_bg = fit_standard_curve(plate.conc, plate.net, raw_responses=plate.net + 80.0, model="5PL", weighting="bioplex")
    assert abs(low_bg.inverse(60.0)[0][0] / high_bg.inverse(60.0)[0][0] - 1.0) > 0.01
    # without raw signals the net signal stands in (the fit still runs)
    fallback = fit_standard_curve(plate.conc, plate.net, model="5PL", weighting="bioplex")
    assert fallback.converged and fallback.weighting == "bioplex"


def test_the_default_weighting_is_unchanged_and_every_recipe_is_selectable_by_name() -> None:
    assert set(WEIGHTINGS) == set(RECIPES) >= {"1/y^2", "none", "1/y", "1/x", "1/x^2", "bioplex", "msd"}
    plate = bead_standards(2)
    default = fit_standard_curve(plate.conc, plate.net)
    assert default.weighting == "1/y^2" and default.n_points == plate.conc.size  # every well, not averaged
    with pytest.raises(ValueError, match="unknown weighting"):
        fit_standard_curve(plate.conc, plate.net, weighting="1/y^3")


def test_fit_ids_differ_by_recipe_and_by_raw_signal() -> None:
    plate = bead_standards(13)
    ids = {fit_standard_curve(plate.conc, plate.net, raw_responses=plate.raw, weighting=w).fit_id for w in ("1/y^2", "bioplex")}
    assert len(ids) == 2
    a = fit_standard_curve(plate.conc, plate.net, raw_responses=plate.raw, weighting="bioplex").fit_id
    b = fit_standard_curve(plate.conc, plate.net, raw_responses=plate.raw + 1.0, weighting="bioplex").fit_id
    assert a != b
