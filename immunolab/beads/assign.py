"""Match the populations found in a well to the kit's beads by intensity order and ladder.

Positions are the logarithms of the populations' classifier medians (so a gain change is a
shift). With every bead found, one classifier means the rank order (the kit lists beads in
increasing intensity); two classifiers mean the assignment that best fits an affine map per
axis from the beads' ladder ``levels`` to the positions. When beads are missing, the same fit
decides which ones: every order-preserving choice is tried in 1D, iterated Hungarian matching
with refitted axes in 2D. ``reference`` positions (log medians of the same beads in other wells
of the run, see :func:`~immunolab.beads.classify.bead_reference`) replace the ladder when given:
they hold the instrument's real spacing, where the ladder only holds the kit's nominal one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Assignment", "assign_populations"]

_MAX_SUBSETS = 20000


@dataclass(frozen=True)
class Assignment:
    """``bead_of[i]`` is the bead index of found population ``i`` (-1: none); ``inferred`` is True
    when beads were missing and their identity came from the ladder or reference fit."""

    bead_of: tuple[int, ...]
    inferred: bool
    ambiguous: bool


def _affine_sse(pos: np.ndarray, lev: np.ndarray) -> float:
    """Return the residual sum of squares of ``pos ~ a + b * lev`` with ``b > 0`` (inf otherwise)."""
    if pos.size < 2:
        return 0.0
    if np.ptp(lev) == 0:
        return float(np.sum((pos - pos.mean()) ** 2))
    b, a = np.polyfit(lev, pos, 1)
    if b <= 0:
        return math.inf
    return float(np.sum((pos - (a + b * lev)) ** 2))


def _assign_1d(pos: np.ndarray, lev: np.ndarray | None) -> Assignment:
    order = np.argsort(pos)
    n, k = pos.size, (lev.size if lev is not None else 0)
    bead_of = np.full(n, -1, dtype=int)
    if lev is None or n >= k:
        for rank, i in enumerate(order[: k if lev is not None else n]):
            bead_of[i] = rank
        return Assignment(tuple(int(v) for v in bead_of), False, False)
    if math.comb(k, n) > _MAX_SUBSETS or n < 2:
        for rank, i in enumerate(order):
            bead_of[i] = rank
        return Assignment(tuple(int(v) for v in bead_of), True, True)
    sorted_pos = pos[order]
    scored = sorted(
        (_affine_sse(sorted_pos, lev[list(subset)]), subset) for subset in itertools.combinations(range(k), n)
    )
    best_sse, best = scored[0]
    second = scored[1][0] if len(scored) > 1 else math.inf
    for i, b in zip(order, best, strict=True):
        bead_of[i] = b
    ambiguous = second <= 1.5 * best_sse + 1e-12
    return Assignment(tuple(int(v) for v in bead_of), True, bool(ambiguous))


def _unit(a: np.ndarray) -> np.ndarray:
    span = np.ptp(a, axis=0)
    return (a - a.min(axis=0)) / np.where(span > 0, span, 1.0)


def _match_2d(pos: np.ndarray, lev: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Return (rows, cols, SSE) of the best match of points to ladder cells under a per-axis affine map.

    Starts from the match of min-max normalised coordinates, then alternates affine refits and
    Hungarian matching until the match is stable.
    """
    from scipy.optimize import linear_sum_assignment

    cost = ((_unit(pos)[:, None, :] - _unit(lev)[None, :, :]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    sse = math.inf
    for _ in range(10):
        fitted = np.empty(lev.shape)
        for axis in range(2):
            lv, ps = lev[cols, axis], pos[rows, axis]
            if np.ptp(lv) > 0 and len(lv) >= 2:
                b, a = np.polyfit(lv, ps, 1)
                b = max(b, 1e-9)
            else:
                b, a = 1.0, float(np.mean(ps - lv)) if len(lv) else 0.0
            fitted[:, axis] = a + b * lev[:, axis]
        cost = ((pos[:, None, :] - fitted[None, :, :]) ** 2).sum(axis=2)
        new_rows, new_cols = linear_sum_assignment(cost)
        sse = float(cost[new_rows, new_cols].sum())
        if np.array_equal(new_cols, cols) and np.array_equal(new_rows, rows):
            break
        rows, cols = new_rows, new_cols
    return rows, cols, sse


def _assign_2d(pos: np.ndarray, lev: np.ndarray | None) -> Assignment:
    n = pos.shape[0]
    bead_of = np.full(n, -1, dtype=int)
    if lev is None:
        order = np.lexsort((pos[:, 1], pos[:, 0]))
        bead_of[order] = np.arange(n)
        return Assignment(tuple(int(v) for v in bead_of), False, False)
    k = lev.shape[0]
    if n >= k:
        rows, cols, _ = _match_2d(pos, lev)
        bead_of[rows] = cols
        return Assignment(tuple(int(v) for v in bead_of), False, False)
    subsets = list(itertools.combinations(range(k), n))[:_MAX_SUBSETS]
    scored = []
    for subset in subsets:
        idx = np.array(subset)
        rows, cols, sse = _match_2d(pos, lev[idx])
        scored.append((sse, rows, idx[cols]))
    scored.sort(key=lambda s: s[0])
    best_sse, rows, beads = scored[0]
    bead_of[rows] = beads
    ambiguous = len(scored) > 1 and scored[1][0] <= 1.5 * best_sse + 1e-12
    return Assignment(tuple(int(v) for v in bead_of), True, bool(ambiguous))


def assign_populations(
    positions: np.ndarray, levels: Sequence[Sequence[float]] | None, *, n_beads: int
) -> Assignment:
    """Return the :class:`Assignment` of found populations (n x d log positions) to ``n_beads`` beads.

    ``levels`` (n_beads x d) are ladder levels or reference log positions, or None when the
    kit gives neither (rank / lexicographic order then, never inferred).
    """
    pos = np.atleast_2d(np.asarray(positions, dtype=float))
    if pos.shape[0] == 0:
        return Assignment((), n_beads > 0, False)
    lev = None if levels is None else np.atleast_2d(np.asarray(levels, dtype=float))
    if lev is not None and lev.shape[0] != n_beads:
        raise ValueError("levels must give one row per bead")
    if pos.shape[1] == 1:
        if lev is None and pos.shape[0] < n_beads:
            res = _assign_1d(pos[:, 0], None)
            return Assignment(res.bead_of, True, True)
        return _assign_1d(pos[:, 0], None if lev is None else lev[:, 0])
    res = _assign_2d(pos, lev)
    if lev is None and pos.shape[0] < n_beads:
        return Assignment(res.bead_of, True, True)
    return res
