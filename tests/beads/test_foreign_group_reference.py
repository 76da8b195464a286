"""The foreign-kit check (one scatter group more than the kit) equals its exhaustive form on real and simulated wells.

The check passes over a scatter mode with too few events outside the kit's groups before
taking its robust core (a subset of the mode). The reference below takes every mode's core
first, as :func:`~immunolab.beads.gating.find_scatter_groups` does, and then decides.
"""

from __future__ import annotations

import numpy as np
import pytest

from immunolab.beads import classify
from immunolab.beads.classify import classify_bead_well, classify_fcs_file
from immunolab.beads.gating import ScatterScan, find_populations, find_scatter_groups
from immunolab.beads.kits import BeadKit, load_kit
from immunolab.errors import InconsistentInputError
from tests.conftest import shared_path


def reference_foreign_group(members_of: list[np.ndarray], classifiers: np.ndarray, kit: BeadKit,
                            scan: ScatterScan) -> tuple[int, int] | None:
    """Return what the foreign-kit check returns, from the robust cores of all kit + 1 scatter groups."""
    n = len(scan.usable)
    scatter = find_scatter_groups(np.zeros(n), np.zeros(n), scan.usable, len(kit.groups) + 1, scan=scan)
    if scatter.centers.shape[0] <= len(kit.groups):
        return None
    ours = np.zeros(n, dtype=bool)
    for m in members_of:
        ours[m] = True
    smallest = min((int(m.size) for m in members_of if m.size), default=0)
    for k in range(scatter.centers.shape[0]):
        extra = np.flatnonzero((scatter.labels == k) & ~ours)
        if extra.size < max(classify._MIN_EVENTS, classify._FOREIGN_GROUP_SHARE * smallest):
            continue
        pops, _ = find_populations(classifiers, extra, max(len(g.beads) for g in kit.groups))
        if len(pops) >= 2 and sum(p.events.size for p in pops) >= classify._MIN_BEAD_SHARE * extra.size:
            return int(extra.size), len(pops)
    return None


def _compare_every_check(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int] | None]:
    checked: list[tuple[int, int] | None] = []
    fast = classify._foreign_group

    def both(members_of: list[np.ndarray], classifiers: np.ndarray, kit: BeadKit,
             scan: ScatterScan) -> tuple[int, int] | None:
        got = fast(members_of, classifiers, kit, scan)
        assert got == reference_foreign_group(members_of, classifiers, kit, scan)
        checked.append(got)
        return got

    monkeypatch.setattr(classify, "_foreign_group", both)
    return checked


@pytest.mark.shared_data
def test_the_foreign_kit_check_equals_its_exhaustive_form_on_real_wells(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = _compare_every_check(monkeypatch)
    folder = shared_path("beads", "legendplex_navios")
    for path in sorted(folder.glob("LP 13 C[0257]-*.LMD")):
        classify_fcs_file(str(path), load_kit("legendplex_hu_antivirus_13plex"))
    k2 = shared_path("cytokine", "legendplex", "beadplexr", "K2-C07-A7.fcs")
    classify_fcs_file(str(k2), load_kit("legendplex_hu_th_cytokine_13plex"))
    with pytest.raises(InconsistentInputError):  # a LEGENDplex well read with a one-group CBA kit
        classify_fcs_file(str(folder / "LP 13 C7-015 00006749 015.LMD"), load_kit("bd_cba_hu_th1_th2_th17"))
    assert len(checked) >= 9 and checked[-1] is not None and checked[:-1].count(None) == len(checked) - 1


def test_the_foreign_kit_check_equals_its_exhaustive_form_on_independent_simulated_wells(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.beads.independent_sim import simulate_well

    checked = _compare_every_check(monkeypatch)
    for seed in range(6):
        for two_d in (False, True):
            sim = simulate_well(100 + seed, two_d=two_d)
            classify_bead_well(sim.events, sim.channels, sim.kit, label=f"sim-{seed}")
    assert len(checked) == 12
