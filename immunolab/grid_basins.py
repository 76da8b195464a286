"""Steepest-ascent basins of a 2-D density grid, shared by flow gating and bead classification.

Every bin steps to its highest 8-neighbour when that is strictly higher (of equal highest
neighbours the first in :data:`NEIGHBOURS` order; the grid's outside is -inf), and pointer
jumping takes every bin to the top of its path: the bins of one basin share its root.
"""

from __future__ import annotations

import numpy as np

__all__ = ["NEIGHBOURS", "ascent_steps", "steepest_ascent"]

#: the 8 neighbours of a grid cell, in the order steepest ascent tries them (ties keep the first)
NEIGHBOURS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))


def _raise_to(best: np.ndarray, code: np.ndarray, val: np.ndarray, k: int | np.ndarray, better: np.ndarray) -> None:
    """Set ``best`` to ``val`` and ``code`` to ``k`` where ``val`` is strictly higher (of equals the first stays)."""
    np.greater(val, best, out=better)
    np.maximum(best, val, out=best)
    if isinstance(k, np.ndarray):
        np.copyto(code, k, where=better)
    else:
        np.putmask(code, better, k)


def ascent_steps(grid: np.ndarray) -> np.ndarray:
    """Return, per bin (flat), its steepest-ascent step: 0 stays (no higher neighbour), k the k-th of :data:`NEIGHBOURS`.

    Of equal highest neighbours the first in :data:`NEIGHBOURS` order is taken; the grid's
    outside is -inf. The neighbours come in three rows (above: 1-3, left/right: 4-5, below:
    6-8); the first highest of three side-by-side bins serves the row above and the row below
    it, so it is found once per row.
    """
    padded = np.pad(grid, 1, constant_values=-np.inf)
    row_best = padded[:, :-2].copy()  # per padded row and column: first highest of (left, centre, right)
    row_code = np.zeros(row_best.shape, dtype=np.int8)
    better = np.empty(row_best.shape, dtype=bool)
    _raise_to(row_best, row_code, padded[:, 1:-1], 1, better)
    _raise_to(row_best, row_code, padded[:, 2:], 2, better)
    best = row_best[:-2].copy()
    code = row_code[:-2] + np.int8(1)
    inner = better[1:-1]
    _raise_to(best, code, padded[1:-1, :-2], 4, inner)
    _raise_to(best, code, padded[1:-1, 2:], 5, inner)
    _raise_to(best, code, row_best[2:], row_code[2:] + np.int8(6), inner)
    code[best <= grid] = 0
    return code.ravel()


def steepest_ascent(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (root bin per bin, step code per bin) of ``grid``; both flat, code 0 marks a root."""
    ny, nx = grid.shape
    code = ascent_steps(grid)
    steps = np.array([0, *(dy * nx + dx for dy, dx in NEIGHBOURS)], dtype=np.intp)
    parent = np.arange(ny * nx) + np.take(steps, code)
    # doubling: after k rounds every bin points 2**k steps up its path; a root points to itself,
    # so rounds past the top change nothing and the first four need no convergence test
    for _ in range(4):
        parent = parent.take(parent)
    for _ in range(ny + nx):
        nxt = parent.take(parent)
        if (nxt == parent).all():
            break
        parent = nxt
    return parent, code
