"""Point-in-polygon membership through a lookup grid: the exact test runs only near the boundary.

A polygon gate's bounding box (widened by a margin) is cut into ``GRID_CELLS`` x ``GRID_CELLS``
cells. A cell that no edge of the polygon touches (the cell widened by the margin and a
rounding allowance) lies wholly inside or wholly outside, so every event in it gets the
answer of the cell's centre: two multiplications and one table lookup per event instead of
one crossing test per edge. Events in a cell an edge touches (a few percent of those in the
box) get the exact even-odd test of :func:`immunolab.flow.gates.points_in_polygon`, so the
membership is the exact test's, event by event.

``margin`` (display units) lets a caller classify approximate coordinates: an event whose
coordinates are known to within ``margin`` is classified for certain unless its cell is
flagged, and the caller recomputes exact coordinates of the flagged ones only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["GRID_CELLS", "NEAR", "PolygonGrid", "polygon_grid"]

#: cells per axis of the grid over the polygon's bounding box
GRID_CELLS = 256
#: cell code of a cell the polygon's boundary passes near (0 = outside, 1 = inside)
NEAR = 2


@dataclass(frozen=True)
class PolygonGrid:
    """Cell codes over a polygon's widened bounding box (row-major, ``ny`` rows of ``nx`` cells)."""

    x0: float
    y0: float
    sx: float  # cells per display unit along x
    sy: float
    nx: int
    ny: int
    codes: np.ndarray  # uint8: 0 outside, 1 inside, NEAR

    def lookup(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (inside, rows near the boundary) of events ``(x, y)``.

        ``inside`` is True for events certainly inside; events outside the grid, and events
        with a NaN coordinate, are outside. Work is elementwise over all events (no index
        arrays but the few near rows), which is what numpy does fastest.
        """
        fx = x - self.x0
        fx *= self.sx
        fy = y - self.y0
        fy *= self.sy
        ok = fx >= 0
        ok &= fx < self.nx
        ok &= fy >= 0
        ok &= fy < self.ny
        with np.errstate(invalid="ignore"):
            cell = fy.astype(np.int32)  # meaningless where not ok; masked below
            cell *= self.nx
            cell += fx.astype(np.int32)
        code = self.codes.take(cell, mode="clip")
        code *= ok
        return code == 1, np.flatnonzero(code == NEAR)


def _near_cells(vx: np.ndarray, vy: np.ndarray, x0: float, y0: float, w: float, h: float, n: int,
                reach: float) -> np.ndarray:
    """Return an n x n bool array: True where an edge passes within ``reach`` of the cell (row = y)."""
    marks = np.zeros((n + 1, n), dtype=np.int32)
    k = vx.size
    for i in range(k):
        ax, ay, bx, by = vx[i], vy[i], vx[(i + 1) % k], vy[(i + 1) % k]
        xlo, xhi = min(ax, bx), max(ax, bx)
        first = max(int(np.floor((xlo - reach - x0) / w)) - 1, 0)
        last = min(int(np.floor((xhi + reach - x0) / w)) + 1, n - 1)
        if last < first:
            continue
        cols = np.arange(first, last + 1)
        left = np.maximum(x0 + cols * w - reach, xlo)
        right = np.minimum(x0 + (cols + 1) * w + reach, xhi)
        hit = left <= right
        cols, left, right = cols[hit], left[hit], right[hit]
        if ax == bx:
            ya = np.full(cols.size, min(ay, by))
            yb = np.full(cols.size, max(ay, by))
        else:
            slope = (by - ay) / (bx - ax)
            ya, yb = ay + (left - ax) * slope, ay + (right - ax) * slope
        lo = np.minimum(ya, yb) - reach
        hi = np.maximum(ya, yb) + reach
        rlo = np.clip(np.floor((lo - y0) / h).astype(np.intp) - 1, 0, n)
        rhi = np.clip(np.floor((hi - y0) / h).astype(np.intp) + 2, 0, n)
        np.add.at(marks, (rlo, cols), 1)
        np.add.at(marks, (rhi, cols), -1)
    return np.cumsum(marks, axis=0)[:n] > 0


@lru_cache(maxsize=256)
def polygon_grid(vertices: tuple[tuple[float, float], ...], margin: float = 0.0) -> PolygonGrid:
    """Return the lookup grid of a polygon (vertices in display units) for coordinates known to ``margin``."""
    from immunolab.flow.gates import points_in_polygon

    v = np.asarray(vertices, dtype=np.float64)
    vx, vy = v[:, 0], v[:, 1]
    extent = max(float(vx.max() - vx.min()), float(vy.max() - vy.min()), 1e-300)
    # rounding of (x - x0) * sx is ~1e-16 of the extent; the allowance is far beyond it
    reach = margin + 1e-9 * extent
    pad = reach * 2 + 1e-9 * extent
    x0, y0 = float(vx.min()) - pad, float(vy.min()) - pad
    n = GRID_CELLS
    w = (float(vx.max()) + pad - x0) / n
    h = (float(vy.max()) + pad - y0) / n
    near = _near_cells(vx, vy, x0, y0, w, h, n, reach)
    centres = np.arange(n) + 0.5
    cx = np.tile(x0 + centres * w, n)
    cy = np.repeat(y0 + centres * h, n)
    inside = points_in_polygon(cx, cy, v, grid=False)
    codes = np.where(near.ravel(), NEAR, inside.astype(np.uint8)).astype(np.uint8)
    codes.flags.writeable = False
    return PolygonGrid(x0, y0, 1.0 / w, 1.0 / h, n, n, codes)
