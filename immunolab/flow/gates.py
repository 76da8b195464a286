"""Gate shapes of a gating strategy and their vectorised membership tests (numpy only).

A gate is drawn over one or more :class:`Dimension` s; each dimension names a channel, the
compensation it is read through and the transform (display scale) its coordinates are in. The
shapes follow Gating-ML 2.0 semantics, checked event by event against FlowKit:

- rectangle / range: ``min <= v < max`` on every bounded dimension (min-inclusive,
  max-exclusive); an open side is unbounded; ``complement`` selects the outside;
- polygon: even-odd rule of a horizontal ray crossing test, an edge counting when
  ``min(y_a, y_b) <= y < max(y_a, y_b)`` and the crossing lies strictly right of the event
  (the parity of FlowKit's winding count, so self-crossing polygons agree too);
- ellipsoid: squared Mahalanobis distance ``(v - mean) inv(C) (v - mean)' <= distance_square``;
  with ``whole_bins = n`` (FlowJo 8-9 ellipses, not Gating-ML) an event counts when the whole
  cell of the ``n x n`` display grid (over the 0-1 display scale) holding it lies inside;
- quadrant: each quadrant is a population bounded by divider values, ``lo <= v < hi``;
- boolean: ``and`` / ``or`` / ``not`` of other populations (each may be complemented).

Membership returned by a gate does not include the parent; the strategy evaluator ANDs it.
Events with NaN coordinates are outside every shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from immunolab.flow.compensation import blockwise_matmul

__all__ = [
    "UNCOMPENSATED",
    "BooleanGate",
    "Dimension",
    "EllipsoidGate",
    "Gate",
    "PolygonGate",
    "Quadrant",
    "QuadrantDivider",
    "QuadrantGate",
    "RectangleGate",
    "gate_from_dict",
    "points_in_ellipsoid",
    "points_in_polygon",
]

#: Compensation reference of a dimension read from the raw (uncompensated) events.
UNCOMPENSATED = "uncompensated"

#: A function returning the display-scale values (float64, one per event) of a dimension.
ColumnSource = Callable[["Dimension"], np.ndarray]


@dataclass(frozen=True)
class Dimension:
    """One axis of a gate: a channel, its compensation and its display transform.

    ``channel``: PnN name (a PnS name or a matrix fluorochrome name is resolved too);
    ``compensation``: ``"uncompensated"``, ``"FCS"`` (the file's own spillover) or the id of a
    matrix of the strategy; ``transform``: id of a transform of the strategy, None for data
    units. A ratio dimension (Gating-ML ``fratio``) sets ``ratio`` to the id of a
    :class:`~immunolab.flow.transforms.Ratio` and ``denominator`` to the second channel.
    """

    channel: str
    compensation: str = UNCOMPENSATED
    transform: str | None = None
    ratio: str | None = None
    denominator: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready record (unset optional fields omitted)."""
        out: dict[str, Any] = {"channel": self.channel, "compensation": self.compensation}
        for key in ("transform", "ratio", "denominator"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Dimension:
        """Rebuild a dimension from :meth:`to_dict` output."""
        return cls(**dict(record))


#: samples at least this large are classified through a lookup grid (same result, fewer operations)
GRID_MIN_EVENTS = 4096


def points_in_polygon(x: np.ndarray, y: np.ndarray, vertices: np.ndarray, *, grid: bool = True) -> np.ndarray:
    """Return True for events (x, y) inside the polygon ``vertices`` (k x 2) by the even-odd rule.

    Large samples go through :mod:`immunolab.flow.polygon_grid`: events far from the boundary
    take their cell's answer and only those near it get the crossing test below, which gives
    the same membership event by event.
    """
    if grid and x.shape[0] >= GRID_MIN_EVENTS:
        from immunolab.flow.polygon_grid import polygon_grid

        lookup = polygon_grid(tuple((float(a), float(b)) for a, b in np.asarray(vertices).tolist()))
        inside, near = lookup.lookup(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        if near.size:
            inside[near] = points_in_polygon(x[near], y[near], vertices, grid=False)
        return inside
    vx = np.asarray(vertices[:, 0], dtype=np.float64)
    vy = np.asarray(vertices[:, 1], dtype=np.float64)
    inside = np.zeros(x.shape[0], dtype=bool)
    box = (x >= vx.min()) & (x <= vx.max()) & (y >= vy.min()) & (y <= vy.max())
    idx = np.flatnonzero(box)
    if idx.size == 0:
        return inside
    px = x[idx]
    py = y[idx]
    odd = np.zeros(idx.size, dtype=bool)
    k = vx.size
    for i in range(k):
        ax, ay = vx[i], vy[i]
        bx, by = vx[(i + 1) % k], vy[(i + 1) % k]
        if ay == by:
            continue
        lo, hi = (ay, by) if ay < by else (by, ay)
        band = np.flatnonzero((py >= lo) & (py < hi))
        if band.size == 0:
            continue
        # same expression and order as Sunday's is_left, so ties resolve identically
        is_left = (bx - ax) * (py[band] - ay) - (px[band] - ax) * (by - ay)
        crosses = is_left > 0 if ay < by else is_left < 0
        odd[band[crosses]] ^= True
    inside[idx] = odd
    return inside


#: tolerance (in grid cells) for an event exactly on a display-grid line: see EllipsoidGate.whole_bins
_GRID_GUARD = 1e-6


def _in_ellipse_2d(points: np.ndarray, mean: np.ndarray, cov: np.ndarray, distance_square: float) -> np.ndarray:
    """Return True for rows of ``points`` (n x 2) inside or on the ellipse, without inverting ``cov``.

    ``w' adj(cov) w <= d * det(cov)`` holds the same points as ``w' cov^-1 w <= d``. For an ellipse
    given on a power-of-two display grid (mean, covariance and cell corners dyadic fractions with
    small numerators, as FlowJo 8-9 ellipses snapped to their 256-grid) every product and sum
    below is exact in float64, so a corner on the outline counts as inside whatever the rounding.
    """
    wx = points[:, 0] - mean[0]
    wy = points[:, 1] - mean[1]
    form = wx * wx * cov[1, 1] - 2.0 * cov[0, 1] * wx * wy + wy * wy * cov[0, 0]
    return np.asarray(form <= distance_square * (cov[0, 0] * cov[1, 1] - cov[0, 1] * cov[1, 0]))


def points_in_ellipsoid(
    points: np.ndarray, mean: np.ndarray, covariance: np.ndarray, distance_square: float
) -> np.ndarray:
    """Return True for rows of ``points`` (n x d) within squared Mahalanobis distance (inclusive)."""
    centred = points - mean
    rotated = blockwise_matmul(centred, np.linalg.inv(covariance))
    rotated *= centred
    if rotated.shape[1] > 8:
        return rotated.sum(axis=1) <= distance_square
    # a left-to-right sum equals numpy's row sum for <= 8 terms, and is faster on short rows
    total = rotated[:, 0].copy()
    for j in range(1, rotated.shape[1]):
        total += rotated[:, j]
    return total <= distance_square


class Gate:
    """Base of every gate: a population ``name`` and its ``dimensions``."""

    kind: str = ""
    name: str

    @property
    def dims(self) -> tuple[Dimension, ...]:
        """Return the dimensions whose values the gate reads (none for boolean gates)."""
        return ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready record with ``kind``."""
        raise NotImplementedError


def _bound(value: float | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class RectangleGate(Gate):
    """Range (1-D), rectangle (2-D) or hyper-rectangle: ``min <= v < max`` per dimension."""

    name: str
    dimensions: tuple[Dimension, ...]
    mins: tuple[float | None, ...]
    maxs: tuple[float | None, ...]
    complement: bool = False
    kind = "rectangle"

    def __post_init__(self) -> None:
        if not (len(self.dimensions) == len(self.mins) == len(self.maxs)) or not self.dimensions:
            raise ValueError(f"rectangle gate {self.name!r} needs one min and max per dimension")
        for lo, hi in zip(self.mins, self.maxs, strict=True):
            if lo is None and hi is None:
                raise ValueError(f"rectangle gate {self.name!r} has a dimension with neither min nor max")

    @property
    def dims(self) -> tuple[Dimension, ...]:
        """Return the gate's dimensions."""
        return self.dimensions

    def evaluate(self, column: ColumnSource, n_events: int) -> np.ndarray:
        """Return membership (parent not applied) of every event."""
        mask = np.ones(n_events, dtype=bool)
        for dim, lo, hi in zip(self.dimensions, self.mins, self.maxs, strict=True):
            values = column(dim)
            if lo is not None:
                mask &= values >= lo
            if hi is not None:
                mask &= values < hi
        return ~mask if self.complement else mask

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready record."""
        return {
            "kind": self.kind,
            "name": self.name,
            "dimensions": [d.to_dict() for d in self.dimensions],
            "mins": [_bound(v) for v in self.mins],
            "maxs": [_bound(v) for v in self.maxs],
            "complement": self.complement,
        }


@dataclass(frozen=True)
class PolygonGate(Gate):
    """Polygon over two dimensions (vertices in display-scale units), even-odd interior."""

    name: str
    dimensions: tuple[Dimension, Dimension]
    vertices: tuple[tuple[float, float], ...]
    complement: bool = False
    kind = "polygon"

    def __post_init__(self) -> None:
        if len(self.dimensions) != 2 or len(self.vertices) < 3:
            raise ValueError(f"polygon gate {self.name!r} needs 2 dimensions and at least 3 vertices")

    @property
    def dims(self) -> tuple[Dimension, ...]:
        """Return the gate's two dimensions."""
        return self.dimensions

    def evaluate(self, column: ColumnSource, n_events: int) -> np.ndarray:
        """Return membership (parent not applied) of every event."""
        x = column(self.dimensions[0])
        y = column(self.dimensions[1])
        mask = points_in_polygon(x, y, np.asarray(self.vertices, dtype=np.float64))
        return ~mask if self.complement else mask

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready record."""
        return {
            "kind": self.kind,
            "name": self.name,
            "dimensions": [d.to_dict() for d in self.dimensions],
            "vertices": [[float(a), float(b)] for a, b in self.vertices],
            "complement": self.complement,
        }


@dataclass(frozen=True)
class EllipsoidGate(Gate):
    """Ellipse/ellipsoid: squared Mahalanobis distance from ``mean`` under ``covariance``.

    ``complement`` selects the outside (FlowJo's inverted ellipse; not part of Gating-ML 2.0).
    ``whole_bins = n`` (> 0; FlowJo 8-9 ellipses, not part of Gating-ML 2.0) evaluates the
    shape on the ``n``-per-axis display grid: an event is inside when the whole grid cell that
    holds it (``floor(v * n) / n`` to ``+ 1 / n`` on every dimension's 0-1 display scale) lies
    inside, i.e. when every corner of the cell lies inside or on the outline (the shape is
    convex). Cells the boundary crosses are outside. A corner exactly on the outline of an
    ellipse given on the grid is decided exactly (:func:`_in_ellipse_2d`), not by rounding.
    """

    name: str
    dimensions: tuple[Dimension, ...]
    mean: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]
    distance_square: float
    complement: bool = False
    whole_bins: int = 0
    kind = "ellipsoid"

    def __post_init__(self) -> None:
        d = len(self.dimensions)
        if d < 2 or len(self.mean) != d or len(self.covariance) != d or any(len(r) != d for r in self.covariance):
            raise ValueError(f"ellipsoid gate {self.name!r} needs >= 2 dimensions, a mean and a square covariance")
        if np.linalg.matrix_rank(np.asarray(self.covariance, dtype=np.float64)) < d:
            raise ValueError(f"ellipsoid gate {self.name!r} has a singular covariance matrix")
        if self.whole_bins < 0 or (self.whole_bins and d != 2):
            raise ValueError(f"ellipsoid gate {self.name!r}: whole_bins needs 2 dimensions and a positive grid size")

    @property
    def dims(self) -> tuple[Dimension, ...]:
        """Return the gate's dimensions."""
        return self.dimensions

    def evaluate(self, column: ColumnSource, n_events: int) -> np.ndarray:
        """Return membership (parent not applied) of every event."""
        points = np.column_stack([column(d) for d in self.dimensions])
        mean = np.asarray(self.mean, dtype=np.float64)
        cov = np.asarray(self.covariance, dtype=np.float64)
        if self.whole_bins:
            n = float(self.whole_bins)
            with np.errstate(invalid="ignore"):
                # an event on a grid line (a channel the grid divides evenly) belongs to the cell
                # above it; the guard absorbs the rounding of the display transform (~1e-13)
                cell = np.floor(points * n + _GRID_GUARD)
            inside: np.ndarray = np.asarray(np.isfinite(cell).all(axis=1))
            for corner in ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)):
                inside[inside] &= _in_ellipse_2d((cell[inside] + corner) / n, mean, cov, float(self.distance_square))
        else:
            inside = points_in_ellipsoid(points, mean, cov, float(self.distance_square))
        if self.complement:
            return ~inside & np.isfinite(points).all(axis=1)
        return inside

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready record (``complement``, ``whole_bins`` only when set: older ids stay)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "dimensions": [d.to_dict() for d in self.dimensions],
            "mean": [float(v) for v in self.mean],
            "covariance": [[float(v) for v in row] for row in self.covariance],
            "distance_square": float(self.distance_square),
        }
        if self.complement:
            out["complement"] = True
        if self.whole_bins:
            out["whole_bins"] = int(self.whole_bins)
        return out


@dataclass(frozen=True)
class QuadrantDivider:
    """A divider of a quadrant gate: a dimension cut at one or more values."""

    id: str
    dimension: Dimension
    values: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready record."""
        return {"id": self.id, "dimension": self.dimension.to_dict(), "values": [float(v) for v in self.values]}


@dataclass(frozen=True)
class Quadrant:
    """One region of a quadrant gate: ``(lo, hi)`` per divider id (None = unbounded)."""

    id: str
    ranges: tuple[tuple[str, float | None, float | None], ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready record."""
        return {"id": self.id, "ranges": [[d, _bound(lo), _bound(hi)] for d, lo, hi in self.ranges]}


@dataclass(frozen=True)
class QuadrantGate(Gate):
    """Quadrant gate: dividers split the plane; each :class:`Quadrant` is its own population.

    The quadrant populations hang directly under the gate's parent (the gate itself is not a
    population), as in FlowJo and FlowKit reports.
    """

    name: str
    dividers: tuple[QuadrantDivider, ...]
    quadrants: tuple[Quadrant, ...]
    kind = "quadrant"

    def __post_init__(self) -> None:
        ids = {d.id for d in self.dividers}
        if not self.dividers or not self.quadrants:
            raise ValueError(f"quadrant gate {self.name!r} needs dividers and quadrants")
        for q in self.quadrants:
            for div_id, _, _ in q.ranges:
                if div_id not in ids:
                    raise ValueError(f"quadrant {q.id!r} of {self.name!r} names unknown divider {div_id!r}")

    @property
    def dims(self) -> tuple[Dimension, ...]:
        """Return the dividers' dimensions."""
        return tuple(d.dimension for d in self.dividers)

    def evaluate_quadrants(self, column: ColumnSource, n_events: int) -> dict[str, np.ndarray]:
        """Return ``{quadrant id: membership}`` (parent not applied)."""
        by_id = {d.id: d.dimension for d in self.dividers}
        out: dict[str, np.ndarray] = {}
        for q in self.quadrants:
            mask = np.ones(n_events, dtype=bool)
            for div_id, lo, hi in q.ranges:
                values = column(by_id[div_id])
                if lo is not None:
                    mask &= values >= lo
                if hi is not None:
                    mask &= values < hi
            out[q.id] = mask
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready record."""
        return {
            "kind": self.kind,
            "name": self.name,
            "dividers": [d.to_dict() for d in self.dividers],
            "quadrants": [q.to_dict() for q in self.quadrants],
        }


@dataclass(frozen=True)
class BooleanGate(Gate):
    """``and`` / ``or`` / ``not`` of other populations, named by gate path; each may be complemented."""

    name: str
    op: str
    refs: tuple[tuple[str, bool], ...]
    kind = "boolean"

    def __post_init__(self) -> None:
        if self.op not in ("and", "or", "not"):
            raise ValueError(f"boolean gate {self.name!r} has operator {self.op!r}; use and, or, not")
        if not self.refs or (self.op == "not" and len(self.refs) != 1):
            raise ValueError(f"boolean gate {self.name!r} needs one reference for 'not', at least one otherwise")

    def combine(self, masks: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return the boolean combination of the referenced populations' masks."""
        parts = [~masks[path] if complement else masks[path] for path, complement in self.refs]
        if self.op == "not":
            return ~parts[0]
        reducer = np.logical_and if self.op == "and" else np.logical_or
        return reducer.reduce(parts) if len(parts) > 1 else parts[0].copy()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready record."""
        return {"kind": self.kind, "name": self.name, "op": self.op, "refs": [[p, bool(c)] for p, c in self.refs]}


def _dims(records: Sequence[Mapping[str, Any]]) -> tuple[Dimension, ...]:
    return tuple(Dimension.from_dict(r) for r in records)


def gate_from_dict(record: Mapping[str, Any]) -> Gate:
    """Rebuild a gate from its ``to_dict`` record (ValueError on unknown kinds)."""
    kind = record.get("kind")
    if kind == "rectangle":
        return RectangleGate(record["name"], _dims(record["dimensions"]), tuple(record["mins"]), tuple(record["maxs"]), bool(record.get("complement", False)))
    if kind == "polygon":
        d = _dims(record["dimensions"])
        return PolygonGate(record["name"], (d[0], d[1]), tuple((float(a), float(b)) for a, b in record["vertices"]), bool(record.get("complement", False)))
    if kind == "ellipsoid":
        return EllipsoidGate(record["name"], _dims(record["dimensions"]), tuple(record["mean"]), tuple(tuple(r) for r in record["covariance"]), float(record["distance_square"]), bool(record.get("complement", False)), int(record.get("whole_bins", 0)))
    if kind == "quadrant":
        dividers = tuple(QuadrantDivider(d["id"], Dimension.from_dict(d["dimension"]), tuple(d["values"])) for d in record["dividers"])
        quadrants = tuple(Quadrant(q["id"], tuple((r[0], r[1], r[2]) for r in q["ranges"])) for q in record["quadrants"])
        return QuadrantGate(record["name"], dividers, quadrants)
    if kind == "boolean":
        return BooleanGate(record["name"], record["op"], tuple((p, bool(c)) for p, c in record["refs"]))
    raise ValueError(f"unknown gate kind {kind!r}")
