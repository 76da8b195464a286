"""A lab's own YAML template on real data: FlowJo tutorial tube 02 (CD3/CD8/CD4) vs two experts.

The expert truth is the FlowJo 7.6.5 and 9.7.2 analyses of the same files (hand-drawn gates);
every population of the automatic template is compared as a share of its parent.
"""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from immunolab.fcs.reader import read_fcs
from immunolab.flow.populations import population_stats
from immunolab.flow.template import apply_template, load_template
from tests.conftest import shared_path

pytestmark = pytest.mark.shared_data

TUBE_02 = ["931115-B02- Sample 01.fcs", "931115-C02- Sample 02.fcs", "931115-D02- Sample 03.fcs", "931115-E02- Sample 04.fcs"]
#: template population -> the experts' population path (7.6.5 spells "T cells", 9.7.2 "T Cells")
EXPERT_PATH = {
    "Lymphocytes": "Lymphocytes",
    "T cells": "Lymphocytes/T cells",
    "CD4 T": "Lymphocytes/T cells/CD4 T",
    "CD8 T": "Lymphocytes/T cells/CD8 T",
    "Double Negative T": "Lymphocytes/T cells/Double Negative T",
}
TOLERANCE_PP = 3.0


def _expert_counts() -> dict[tuple[str, str, str], int]:
    table = shared_path("flow", "flowjo_tutorial", "EXPECTED_flowjo_counts.csv")
    with table.open(newline="", encoding="utf-8") as handle:
        return {(r["flowjo_version"], r["fcs_file"], r["population_path"].replace("T Cells", "T cells")): int(r["flowjo_count"])
                for r in csv.DictReader(handle)}


def test_the_tcell_template_matches_both_flowjo_experts_on_tube_02_within_3_points() -> None:
    template = load_template(str(resources.files("immunolab.flow").joinpath("templates/tcell_tube.yaml")))
    experts = _expert_counts()
    compared = 0
    for file_name in TUBE_02:
        data = read_fcs(shared_path("flow", "flowjo_tutorial", file_name))
        assert data.events is not None
        run = apply_template(data.events, data.channels, None, template, label=file_name, preprocess=data.preprocess_block)
        assert set(run.status.values()) == {"found"}
        stats = {s.population: s for s in population_stats(run.masks, n_total=len(data.events))}
        for name, path in EXPERT_PATH.items():
            parent = path.rsplit("/", 1)[0] if "/" in path else None
            for version in ("7.6.5", "9.7.2"):
                count = experts[(version, file_name, path)]
                parent_count = experts[(version, file_name, parent)] if parent else len(data.events)
                expert_pct = 100.0 * count / parent_count
                assert abs(stats[name].pct_parent - expert_pct) <= TOLERANCE_PP, (file_name, name, version)
                compared += 1
    assert compared == 4 * 5 * 2
