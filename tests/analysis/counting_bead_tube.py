"""A generated single-platform tube: lymphocytes, CD4+ T cells and counting beads at known concentrations.

Independent of the demo simulator: its own channels, populations and constants. Events are
drawn for a tube of ``sample_volume_ul`` of blood with ``beads_per_test`` beads, of which the
cytometer acquires a fraction; the population concentrations are the truth to recover.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from immunolab.fcs.writer import write_fcs

CHANNELS = ["FSC-A", "SSC-A", "CD3-FITC", "CD4-APC", "BEAD-PE"]


@dataclass(frozen=True)
class TubeTruth:
    """Concentrations (cells/uL) and event counts written into the tube."""

    lymphocytes_per_ul: float
    cd4_per_ul: float
    beads_per_test: float
    sample_volume_ul: float
    n_lymphocytes: int
    n_cd4: int
    n_beads: int


def _cloud(rng: np.random.Generator, n: int, means: list[float], sd: float = 0.08) -> np.ndarray:
    return np.exp(rng.normal(np.log(means), sd, size=(n, len(means))))


def write_tube(path: Path, rng: np.random.Generator, *, lymphocytes_per_ul: float = 1200.0, cd4_fraction: float = 0.4,
               beads_per_test: float = 50_000.0, sample_volume_ul: float = 50.0, acquired: float = 0.3,
               poisson: bool = True) -> TubeTruth:
    """Write the tube and return its truth; ``poisson=False`` makes counts exactly proportional."""
    expected_lym = acquired * lymphocytes_per_ul * sample_volume_ul
    expected_beads = acquired * beads_per_test
    n_lym = int(rng.poisson(expected_lym)) if poisson else round(expected_lym)
    n_beads = int(rng.poisson(expected_beads)) if poisson else round(expected_beads)
    n_cd4 = int(rng.binomial(n_lym, cd4_fraction)) if poisson else round(n_lym * cd4_fraction)
    n_debris = int(rng.integers(2_000, 4_000))
    cd4 = _cloud(rng, n_cd4, [40_000, 12_000, 8_000, 6_000, 150])
    other = _cloud(rng, n_lym - n_cd4, [42_000, 11_000, 300, 200, 150])
    beads = _cloud(rng, n_beads, [15_000, 9_000, 20_000, 9_000, 180_000], sd=0.04)
    debris = _cloud(rng, n_debris, [3_000, 2_000, 100, 100, 100], sd=0.3)
    events = np.vstack([cd4, other, beads, debris])
    events = events[rng.permutation(len(events))].astype(np.float32)
    write_fcs(path, events, CHANNELS)
    return TubeTruth(lymphocytes_per_ul, lymphocytes_per_ul * cd4_fraction, beads_per_test, sample_volume_ul,
                     n_lym, n_cd4, n_beads)
