"""The explicit rules of the template's gate methods for what real files produce."""

from __future__ import annotations

import numpy as np

from immunolab.flow.density_gates import split_above_lowest, two_gaussian_mixture
from immunolab.flow.template import METHODS
from immunolab.flow.template_rules import MIN_PARENT_EVENTS, gate_population


def _args(method: str, **extra: object) -> dict[str, object]:
    return {**METHODS[method].defaults, **extra}


def _no_file_cut(k: int) -> float | None:
    return None


def test_a_positive_by_definition_marker_without_negatives_keeps_every_event_and_is_flagged() -> None:
    cd45 = np.random.default_rng(0).normal(0.8, 0.03, 5000).astype(np.float32)
    out = gate_population("mindensity", ["CD45"], [cd45], _args("mindensity", positive_by_definition=True), _no_file_cut)
    assert out.mask.all() and out.status == "keep_all"
    assert out.flag and "positive by definition" in out.flag


def test_a_dim_positive_population_without_negatives_is_not_cut_away_when_positive_by_definition() -> None:
    r = np.random.default_rng(1)
    cd45 = np.concatenate([r.normal(0.62, 0.025, 800), r.normal(0.82, 0.025, 4200)]).astype(np.float32)
    out = gate_population("mindensity", ["CD45"], [cd45], _args("mindensity", positive_by_definition=True),
                          lambda k: 0.35)  # the file's own CD45 cut lies far below the dim population
    assert out.mask.all() and out.status == "keep_all"


def test_one_population_of_a_marker_not_positive_by_definition_is_judged_against_the_file_cut() -> None:
    v = np.random.default_rng(2).normal(0.3, 0.03, 4000).astype(np.float32)
    negative = gate_population("mindensity", ["CD19"], [v], _args("mindensity"), lambda k: 0.5)
    positive = gate_population("mindensity", ["CD19"], [v], _args("mindensity"), lambda k: 0.2)
    nothing = gate_population("mindensity", ["CD19"], [v], _args("mindensity"), _no_file_cut)
    assert (negative.status, int(negative.mask.sum())) == ("all_negative", 0)
    assert (positive.status, int(positive.mask.sum())) == ("all_positive", 4000)
    assert (nothing.status, int(nothing.mask.sum())) == ("all_negative", 0)
    assert all(o.flag and "CD19" in o.flag for o in (negative, positive, nothing))


def test_a_parent_with_too_few_events_is_reported_empty_and_flagged() -> None:
    v = np.linspace(0, 1, MIN_PARENT_EVENTS - 1).astype(np.float32)
    out = gate_population("mindensity", ["CD3"], [v], _args("mindensity"), _no_file_cut)
    assert out.status == "too_few_events" and not out.mask.any()
    assert out.flag and str(MIN_PARENT_EVENTS) in out.flag


def test_overlapping_populations_without_a_valley_are_split_where_a_mixture_crosses() -> None:
    r = np.random.default_rng(3)
    x = np.concatenate([r.normal(0.40, 0.05, 7000), r.normal(0.58, 0.05, 3000)])
    mix = two_gaussian_mixture(x)
    assert mix is not None and mix.separation > 2
    split = split_above_lowest(x, min_mass=0.004)
    assert split.how == "mixture" and 0.45 < split.cut < 0.56
    truth = np.r_[np.zeros(7000, bool), np.ones(3000, bool)]
    assert ((x > split.cut) == truth).mean() > 0.93


def test_the_negative_population_is_the_lowest_even_when_a_bright_and_a_dim_one_outnumber_it() -> None:
    r = np.random.default_rng(4)
    x = np.concatenate([r.normal(0.1, 0.03, 1000), r.normal(0.5, 0.03, 4000), r.normal(0.8, 0.03, 5000)])
    assert 0.2 < split_above_lowest(x).cut < 0.4


def test_off_main_cluster_falls_back_to_the_quadrant_of_1d_cuts_and_flags_it() -> None:
    r = np.random.default_rng(5)
    n = 6000
    x = np.concatenate([r.normal(0.6, 0.03, n), r.normal(0.3, 0.03, 300)])  # CD127
    y = np.concatenate([r.normal(0.2, 0.03, n), r.normal(0.2, 0.03, 300)])  # CD25: no separate positive
    out = gate_population("off_main_cluster", ["CD127", "CD25"], [x, y], _args("off_main_cluster"), lambda k: 0.45)
    assert out.status == "quadrant_fallback"
    assert out.flag and "no separate 2-D cluster" in out.flag
    assert not out.mask.any()  # CD25 has one population, negative against the file's cut


def test_a_subnormal_area_gives_no_numpy_warning_and_counts_as_a_singlet() -> None:
    import warnings

    r = np.random.default_rng(3)
    area = r.normal(50_000, 5_000, 5000).astype(np.float32)
    height = (area * r.normal(0.9, 0.02, 5000)).astype(np.float32)
    area[:3] = np.float32(1e-42)  # height / area overflows float32 (the LabKey Treg file holds such events)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = gate_population("singlet_ratio", ["FSC-A", "FSC-H"], [area, height], _args("singlet_ratio"), _no_file_cut)
    assert out.mask[:3].all()
    assert 4000 < int(out.mask.sum()) <= 5000
