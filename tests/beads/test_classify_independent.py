"""Classification on an independent simulator: random names, scales, ladders, debris, doublets.

The simulator (``independent_sim``) shares nothing with ``immunolab.demo``; each seed draws a
new instrument. Accuracy is asserted per well on the simulator's truth.
"""

from __future__ import annotations

import numpy as np
import pytest

from immunolab.beads.classify import bead_reference, classify_bead_well
from immunolab.errors import ERROR_CODES, InputError
from immunolab.fcs.channels import preprocess_events
from tests.beads.independent_sim import SCALES, STYLES, simulate_well

SEEDS = range(16)


def _truth_mfi(sim, result) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Return each bead's median reporter over its true events, decoded like any reader would."""
    col = [c.pnn for c in sim.channels].index(result.channels["reporter"])
    decoded = preprocess_events(sim.events, sim.channels, {})[:, col]
    return {b.analyte: float(np.median(decoded[sim.truth_bead == i])) for i, b in enumerate(sim.kit.beads)
            if (sim.truth_bead == i).any()}


@pytest.mark.parametrize("seed", SEEDS)
def test_every_simulated_instrument_is_classified_event_by_event(seed: int) -> None:
    sim = simulate_well(seed)
    result = classify_bead_well(sim.events, sim.channels, sim.kit, label=f"sim-{seed}.fcs")
    assert result.events is not None
    singles = sim.truth_bead >= 0
    assigned = result.events.bead[singles]
    assert (assigned == sim.truth_bead[singles]).mean() >= 0.95, "most bead events land in their population"
    assert ((assigned >= 0) & (assigned != sim.truth_bead[singles])).mean() <= 0.005, "almost none in another"
    assert all(p.found for p in result.populations)
    truth = _truth_mfi(sim, result)
    for p in result.populations:
        assert p.reporter_mfi == pytest.approx(truth[p.analyte], rel=0.02), p.analyte
    assert result.channels["classifier1"] == sim.role_names["cls1"], "the classifier, not its spill-over channel"


def test_the_simulated_wells_cover_every_scale_naming_style_and_layout() -> None:
    drawn = [simulate_well(s) for s in SEEDS]
    assert {w.scale for w in drawn} == set(SCALES)
    assert {w.style for w in drawn} == set(STYLES)
    assert {len(w.kit.classifiers) for w in drawn} == {1, 2} and {len(w.kit.groups) for w in drawn} == {1, 2}


@pytest.mark.parametrize(("seed", "two_d"), [(s, d) for s in range(100, 110) for d in (False, True)])
def test_a_missing_bead_population_is_flagged_with_its_analyte_and_the_others_stay_right(seed: int, two_d: bool) -> None:
    n_beads = len(simulate_well(seed, two_d=two_d).kit.beads)
    gone = int(np.random.default_rng(seed).integers(0, n_beads))
    sim = simulate_well(seed, two_d=two_d, missing=(gone,))
    result = classify_bead_well(sim.events, sim.channels, sim.kit, label="sim.fcs")
    not_found = [p.analyte for p in result.populations if not p.found]
    assert not_found == list(sim.missing)
    missing = result.population(sim.missing[0])
    assert "bead_not_found" in missing.flags and np.isnan(missing.reporter_mfi) and missing.n_events == 0
    assert result.events is not None
    singles = sim.truth_bead >= 0
    assigned = result.events.bead[singles]
    assert ((assigned >= 0) & (assigned != sim.truth_bead[singles])).mean() <= 0.005
    same_group = [p for p in result.populations if p.group == missing.group and p.found]
    assert all("bead_map_inferred" in p.flags for p in same_group)


def test_a_run_reference_identifies_a_missing_bead_without_the_ladder() -> None:
    good = simulate_well(7, two_d=False, n_groups=1)
    ref = bead_reference([classify_bead_well(good.events, good.channels, good.kit, label="std.fcs")])
    assert set(ref.positions) == {b.bead_id for b in good.kit.beads}
    sim = simulate_well(7, two_d=False, n_groups=1, missing=(1,))
    result = classify_bead_well(sim.events, sim.channels, sim.kit, label="s.fcs", reference=ref)
    assert [p.analyte for p in result.populations if not p.found] == list(sim.missing)


def test_a_well_with_too_few_events_is_iml_bead_004() -> None:
    sim = simulate_well(3)
    with pytest.raises(InputError) as info:
        classify_bead_well(sim.events[:30], sim.channels, sim.kit, label="empty well.fcs")
    assert info.value.code == "IML-BEAD-004" and "IML-BEAD-004" in ERROR_CODES
    assert info.value.path == "empty well.fcs" and "30 usable events" in info.value.message


def test_a_well_of_debris_only_is_refused_not_reported_as_missing_analytes() -> None:
    for seed in range(20):
        sim = simulate_well(seed)
        debris = sim.events[sim.truth_kind == 1]
        if len(debris) < 200:
            continue
        with pytest.raises(InputError) as info:
            classify_bead_well(debris, sim.channels, sim.kit, label="debris.fcs")
        assert info.value.code == "IML-BEAD-004", seed
