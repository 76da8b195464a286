"""Steepest-ascent basins (immunolab.grid_basins), shared by flow gating and bead classification.

Checked against the formulation flow gating used before sharing it: an argmax over the bin and
its 8 neighbours with the bin first (so a tie keeps the bin), followed by pointer jumping.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from immunolab.grid_basins import steepest_ascent


def _argmax_reference(grid: np.ndarray) -> np.ndarray:
    ny, nx = grid.shape
    padded = np.pad(grid, 1, constant_values=-np.inf)
    offsets = [(0, 0)] + [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    best = np.argmax(np.stack([padded[1 + dy : 1 + dy + ny, 1 + dx : 1 + dx + nx] for dy, dx in offsets]), axis=0)
    iy, ix = np.indices((ny, nx))
    pointer = ((iy + np.array([o[0] for o in offsets])[best]) * nx + ix + np.array([o[1] for o in offsets])[best]).ravel()
    while not np.array_equal(pointer[pointer], pointer):
        pointer = pointer[pointer]
    return pointer


def _grid(kind: str, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    if kind == "ties":
        return rng.integers(0, 3, shape).astype(float)
    if kind == "uniform":
        return rng.random(shape)
    if kind == "flat":
        return np.zeros(shape)
    return gaussian_filter(rng.poisson(2, shape).astype(float), 1.5, mode="constant")


@pytest.mark.parametrize("kind", ["ties", "uniform", "flat", "smoothed counts"])
def test_every_bin_reaches_the_root_the_argmax_formulation_reaches(kind: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(60):
        grid = _grid(kind, rng, (int(rng.integers(1, 30)), int(rng.integers(1, 30))))
        parent, code = steepest_ascent(grid)
        assert np.array_equal(parent, _argmax_reference(grid))
        assert np.array_equal(code == 0, parent == np.arange(grid.size))  # a root steps nowhere
