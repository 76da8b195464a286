"""FlowSOM clustering beside gating: labels by marker profile, agreement with gates and experts."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from immunolab.errors import ERROR_CODES, InputError
from immunolab.fcs.reader import read_fcs
from immunolab.flow.clusters import (
    cluster_events,
    events_anndata,
    gate_cluster_agreement,
    label_metaclusters,
)
from immunolab.flow.template import apply_template, load_template, resolve_transform
from tests.conftest import shared_path
from tests.flow.independent_sim import MARKERS, simulate_tube

#: FlowCAP-I GvHD: event-weighted mean F-measure of FlowSOM metaclusters vs the expert labels
#: with 10 metaclusters on a 10x10 map, seed 1. Measured per file (docs/gating.md lists every
#: population): best single metacluster 0.730-0.955, metaclusters merged by majority 0.838-0.976.
GVHD_MIN_BEST_F = 0.70
GVHD_MIN_MERGED_F = 0.83


def test_metaclusters_are_named_by_their_marker_profile() -> None:
    medians = np.array([[0.8, 0.2, 0.7], [0.1, 0.1, 0.75], [0.85, 0.9, 0.1]])
    labels = label_metaclusters(medians, ["CD3", "CD4", "CD8"], {"CD3": 0.5, "CD4": 0.5, "CD8": None})
    assert labels == {0: "CD3+CD4-", 1: "CD3-CD4-", 2: "CD3+CD4+"}


def test_agreement_takes_the_best_cluster_per_population_and_weights_by_size() -> None:
    pop = np.array(["T"] * 6 + ["B"] * 4 + [""] * 2, dtype=object)
    meta = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2])
    rows, mean_f = gate_cluster_agreement(pop, meta)
    by = {r.population: r for r in rows}
    assert by["T"].metacluster == 0 and by["T"].precision == 1.0 and by["T"].recall == pytest.approx(5 / 6)
    assert by["B"].metacluster == 1 and by["B"].recall == 1.0 and by["B"].precision == pytest.approx(4 / 5)
    assert mean_f == pytest.approx((6 * by["T"].f_measure + 4 * by["B"].f_measure) / 10)
    split = np.array([0, 0, 0, 3, 3, 1, 1, 1, 1, 1, 2, 2])  # T split over clusters 0 and 3
    _, split_best = gate_cluster_agreement(pop, split)
    merged_rows, merged_f = gate_cluster_agreement(pop, split, merged=True)
    assert merged_f > split_best
    assert {r.population: r.recall for r in merged_rows}["T"] == pytest.approx(5 / 6)


@pytest.mark.parametrize(
    ("events", "markers"),
    [(np.zeros((500, 3)), ["A", "B"]), (np.full((500, 2), np.nan), ["A", "B"]), (np.zeros((50, 2)), ["A", "B"])],
)
def test_events_that_cannot_be_clustered_are_iml_gate_001(events: np.ndarray, markers: list[str]) -> None:
    with pytest.raises(InputError) as info:
        cluster_events(events, markers, label="tube.fcs")
    assert info.value.code == "IML-GATE-001" and "IML-GATE-001" in ERROR_CODES
    assert info.value.path == "tube.fcs"


@pytest.mark.slow
def test_clusters_recover_the_gated_lineages_of_simulated_blood(tmp_path: object) -> None:
    tube = simulate_tube(np.random.default_rng([97, 1]), n_events=20_000)
    channels = list(zip(tube.pnn, tube.pns, strict=True))
    run = apply_template(tube.raw, channels, (tube.spill_names, tube.spill), load_template())
    cd45 = run.masks["/Lymphocytes/Singlets/CD45+"]
    root = "/Lymphocytes/Singlets/CD45+"
    gate = np.full(len(tube.raw), "", dtype=object)
    for path, name in ((f"{root}/T cells/CD4+ T", "CD4 T"), (f"{root}/T cells/CD8+ T", "CD8 T"),
                       (f"{root}/B cells", "B"), (f"{root}/NK cells", "NK")):
        gate[run.masks[path] & (gate == "")] = name
    comp = tube.raw[:, 3:] @ np.linalg.inv(tube.spill)
    xf = resolve_transform(load_template().transform_specs["fluorescence"], None, comp[:, 0])
    lineage = ["CD3", "CD4", "CD8", "CD19", "CD56"]
    values = np.column_stack([xf.apply(comp[cd45, MARKERS.index(m)]) for m in lineage])
    result = cluster_events(values, lineage, n_metaclusters=8, seed=3)
    again = cluster_events(values, lineage, n_metaclusters=8, seed=3)
    np.testing.assert_array_equal(result.metacluster, again.metacluster)  # fixed seed: same clusters
    rows, mean_f = gate_cluster_agreement(gate[cd45], result.metacluster, cluster_labels=result.labels)
    by = {r.population: r for r in rows}
    assert mean_f > 0.85, rows
    assert by["CD4 T"].cluster_label.startswith("CD3+CD4+"), rows
    assert by["B"].cluster_label.startswith("CD3-") and "CD19+" in by["B"].cluster_label, rows
    adata = events_anndata(values, lineage, gate_label=gate[cd45], result=result)
    assert adata.shape == values.shape and {"gate", "metacluster", "metacluster_label"} <= set(adata.obs)


def _gvhd(name: str) -> tuple[np.ndarray, np.ndarray]:
    data = read_fcs(shared_path("flow", "flowcap_gvhd", "fcs", f"{name}.fcs"))
    with shared_path("flow", "flowcap_gvhd", "labels", f"{name}.csv").open() as handle:
        labels = np.array([int(r[0]) for r in list(csv.reader(handle))[1:]])
    return data.preprocessed() / 1024.0, labels  # flowCore channels 0-1023: already a display scale


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["001", "002", "003", "004", "005", "006"])
def test_flowcap_gvhd_metaclusters_match_the_expert_populations(name: str) -> None:
    values, expert = _gvhd(name)
    assert len(values) == len(expert)
    result = cluster_events(values, ["FSC", "SSC", "FL1", "FL2", "FL3", "FL4"], n_metaclusters=10, seed=1)
    rows, best_f = gate_cluster_agreement(expert, result.metacluster, ignore=(0,))
    _, merged_f = gate_cluster_agreement(expert, result.metacluster, ignore=(0,), merged=True)
    assert len(rows) == len(set(expert.tolist()) - {0})
    assert best_f >= GVHD_MIN_BEST_F, [(r.population, r.events, round(r.f_measure, 3)) for r in rows]
    assert merged_f >= GVHD_MIN_MERGED_F
