"""Accuracy of the built-in template against the demo trial's simulated truth (within 2 pp)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from immunolab.demo.cohort import draw_subjects, draw_visits
from immunolab.demo.flow_sim import (
    FLUOROCHROMES,
    SPILLOVER,
    SampleSpec,
    channel_names,
    population_truth,
    simulate_events,
)
from immunolab.demo.truth_model import draw_truth_model
from immunolab.flow.template import gate_fcs_file, gate_sample, load_template
from tests.demo.trial_fixture import demo_trial  # noqa: F401  (session fixture)

TOLERANCE_PP = 2.0


def test_every_population_of_every_demo_file_is_within_2pp_of_truth(demo_trial: Path) -> None:  # noqa: F811
    manifest = pd.read_csv(demo_trial / "manifest.csv", dtype=str, keep_default_na=False)
    flow = manifest[manifest["panel"] == "TBNK-Treg"]
    truth = pd.read_csv(demo_trial / "truth.csv", dtype={"patient_id": str})
    truth = truth[(truth["assay"] == "flow") & (truth["measure"] == "pct_parent")]
    expected = {
        (str(p), int(d), str(f)): float(v)
        for p, d, f, v in zip(truth["patient_id"], truth["visit_day"], truth["feature"], truth["value"], strict=True)
    }
    template = load_template()
    errors: list[tuple[float, str, str]] = []
    for name, pid, day in zip(flow["file"], flow["patient_id"], flow["visit_day"], strict=True):
        _, stats = gate_fcs_file(demo_trial / "flow" / str(name), template)
        assert len(stats) == 11
        for s in stats:
            errors.append((s.pct_parent - expected[(str(pid), int(day), s.population)], str(name), s.population))
    assert len(flow) >= 140
    worst = max(errors, key=lambda e: abs(e[0]))
    assert abs(worst[0]) <= TOLERANCE_PP, f"worst error {worst[0]:+.2f} pp on {worst[1]} / {worst[2]}"


@pytest.mark.parametrize("seed", [101, 202, 303])
def test_the_template_stays_within_2pp_on_other_seeds(seed: int) -> None:
    """Simulate the cohorts of other seeds in memory at four visits spanning the trajectories."""
    rng = np.random.default_rng([seed, 0])
    subjects = draw_subjects(rng)
    visits = [v for v in draw_visits(rng, subjects) if v.visit_day in (0, 3, 14, 180)]
    model = draw_truth_model(np.random.default_rng([seed, 1]), subjects, seed)
    pnn, pns = channel_names()
    channels = list(zip(pnn, pns, strict=True))
    spill = ([f for f, _ in FLUOROCHROMES], SPILLOVER)
    template = load_template()
    worst = (0.0, "", "")
    for visit in visits:
        pid = visit.subject.patient_id
        tube_rng = np.random.default_rng([seed, 2, int(pid), visit.visit_day])
        n_events = int(tube_rng.integers(20_000, 50_001))
        spec = SampleSpec.from_proportions(n_events, visit.subject.specimen, model.proportions[(pid, visit.visit_day)])
        sample = simulate_events(spec, tube_rng)
        truth = population_truth(sample)
        _, stats = gate_sample(sample.raw, channels, spill, template, label=visit.sample_id)
        for s in stats:
            _, count, parent = truth[s.population]
            err = s.pct_parent - 100.0 * count / parent
            if abs(err) > abs(worst[0]):
                worst = (err, visit.sample_id, s.population)
    assert abs(worst[0]) <= TOLERANCE_PP, f"seed {seed}: worst error {worst[0]:+.2f} pp on {worst[1]} / {worst[2]}"
