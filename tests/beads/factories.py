"""Build classified wells by hand (no events) for plate and plot tests: known MFIs per analyte."""

from __future__ import annotations

import math
from collections.abc import Mapping

from immunolab.beads.classify import BeadPopulation, BeadWellResult, ScatterGroup
from immunolab.beads.kits import BeadKit

# a rising 4PL per analyte, MFI = bottom + (top - bottom) / (1 + (ec50 / x) ** slope); not the demo's numbers
BOTTOM, TOP, EC50, SLOPE = 180.0, 320000.0, 2500.0, 1.05


def mfi_of(conc: float) -> float:
    """Return the MFI of a bead at ``conc`` pg/mL on the factory's curve."""
    if conc <= 0:
        return BOTTOM
    return BOTTOM + (TOP - BOTTOM) / (1.0 + (EC50 / conc) ** SLOPE)


def conc_of(mfi: float) -> float:
    """Return the concentration (pg/mL) the factory's curve gives an MFI."""
    return EC50 / ((TOP - BOTTOM) / (mfi - BOTTOM) - 1.0) ** (1.0 / SLOPE)


def well(kit: BeadKit, conc: Mapping[str, float], *, label: str = "well", missing: tuple[str, ...] = (),
         count: int = 300) -> BeadWellResult:
    """Return a classified well whose analytes sit at ``conc`` (pg/mL in the well)."""
    pops = []
    for bead in kit.beads:
        if bead.analyte in missing:
            pops.append(BeadPopulation(bead.analyte, bead.analyte_reported, bead.bead_id, bead.group, 0,
                                       math.nan, math.nan, (), ("bead_not_found",)))
            continue
        pops.append(BeadPopulation(bead.analyte, bead.analyte_reported, bead.bead_id, bead.group, count,
                                   mfi_of(conc.get(bead.analyte, 0.0)), 20.0, (1000.0,)))
    groups = [ScatterGroup(g.name, True, count * len(g.beads), 1e5, 2e5) for g in kit.groups]
    return BeadWellResult(label, kit.kit_id, {"fsc": "FSC-A", "ssc": "SSC-A", "reporter": "PE-A"}, pops, groups,
                          count * len(kit.beads), 0)
