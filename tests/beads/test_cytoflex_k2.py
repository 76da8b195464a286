"""The beadplexr LEGENDplex well K2-C07-A7 on a CytoFLEX: groups A/B by FSC/SSC, beads by APC, PE reporter."""

from __future__ import annotations

import pytest

from immunolab.beads.classify import classify_fcs_file
from immunolab.beads.kits import load_kit
from tests.conftest import shared_path

pytestmark = pytest.mark.shared_data


def test_the_cytoflex_well_has_two_scatter_groups_and_thirteen_apc_populations() -> None:
    path = shared_path("cytokine", "legendplex", "beadplexr", "K2-C07-A7.fcs")
    kit = load_kit("legendplex_hu_th_cytokine_13plex")  # every LEGENDplex 13-plex shares the A4..B9 layout
    res = classify_fcs_file(str(path), kit)
    assert res.channels == {"fsc": "FSC-A", "ssc": "SSC-A", "reporter": "FL2-A", "classifier1": "FL6-A"}
    a, b = res.groups
    assert a.found and b.found and a.fsc_median < b.fsc_median and a.ssc_median < b.ssc_median
    assert [len(g.beads) for g in kit.groups] == [6, 7]
    assert all(p.found and p.n_events >= 150 and not p.flags for p in res.populations)
    for group in kit.groups:
        apc = [res.population(bead.analyte).classifier_median[0] for bead in group.beads]
        assert apc == sorted(apc) and apc[-1] / apc[0] > 5
    in_beads = sum(p.n_events for p in res.populations)
    assert in_beads >= 0.7 * (a.n_events + b.n_events)
    assert res.n_events - in_beads > 500, "the well's debris is left out, not forced into beads"
