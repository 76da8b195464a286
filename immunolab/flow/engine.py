"""Evaluate a gating strategy on one sample a block of events at a time, near the floor of the work.

:func:`evaluate_strategy` is the engine behind :func:`immunolab.flow.strategy.gate_events`.
Per block of :data:`ROW_BLOCK` events (the float64 temporaries stay in cache and no large
short-lived array is allocated: fresh memory costs page faults) it walks the gate tree parents
first, with every mask written straight into the output arrays:

- only the events columns the gates read are converted to float64 (and preprocessed: $PnE,
  $PnG, $TIMESTEP through ``preprocess``); the float32 events as read are never copied whole;
- compensation computes only the compensated columns the gates read: the matrix's detectors
  of the block times those columns of inv(S), one small product per matrix and block;
- range and quadrant thresholds on a logicle or hyperlog scale are moved to data units once
  (:func:`data_space_gate`): such gates compare compensated values, no transform is computed;
- a gate whose parent holds few of the block's events (< :data:`COMPACT_BELOW`) is evaluated on
  the parent's rows only, so a channel read deep in the tree is transformed on those rows only
  (e.g. CD4 and CD8 on CD3+ events); other gates run elementwise over the block and are ANDed
  with their parent (cheaper than gathering);
- polygons are classified through a lookup grid (:mod:`immunolab.flow.polygon_grid`); on
  logicle/hyperlog axes from float32 display values (``apply_float32``, within FLOAT32_ERROR of
  exact), the few events that close to an edge being recomputed in float64 and tested exactly;
- freed block memory stays in the process heap (:mod:`immunolab.flow.heap`), so blocks do not
  fault their temporaries in again.

Arithmetic per event is the whole-matrix float64 arithmetic, so the masks are those of
compensating and transforming the whole matrix (and FlowKit's; the tests check every event).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from immunolab.errors import InconsistentInputError
from immunolab.flow.compensation import SpilloverMatrix, blockwise_matmul
from immunolab.flow.gates import (
    UNCOMPENSATED,
    BooleanGate,
    Dimension,
    Gate,
    PolygonGate,
    Quadrant,
    QuadrantDivider,
    QuadrantGate,
    RectangleGate,
    points_in_polygon,
)
from immunolab.flow.polygon_grid import polygon_grid
from immunolab.flow.transforms import FLOAT32_ERROR, Hyperlog, Logicle, Ratio, Transform

if TYPE_CHECKING:
    from immunolab.flow.strategy import Strategy

__all__ = ["COMPACT_BELOW", "POLYGON_FLOAT32", "ROW_BLOCK", "Preprocess", "data_space_gate", "evaluate_strategy"]

#: events per block: the few float64 columns of a block stay in the processor's cache and
#: below the allocator's threshold for fresh memory (page faults), and a 1,000,000-event sample
#: is 31 blocks, so the per-block Python work stays small
ROW_BLOCK = 32768
#: a gate whose parent holds less than this share of a block is evaluated on the parent's rows
#: only (gathered once); above it, on the whole block and ANDed with the parent (cheaper than
#: gathering when the transforms to skip are few)
COMPACT_BELOW = 0.6

#: polygon gates on logicle/hyperlog axes classify float32 display values (within
#: FLOAT32_ERROR of exact) and recompute exactly the events that close to an edge
POLYGON_FLOAT32 = True

#: ``preprocess(block, columns)``: undo $PnE / $PnG / $TIMESTEP in place in a float64 block
#: whose column k holds events column ``columns[k]`` (``FcsData.preprocess_block``)
Preprocess = Callable[[np.ndarray, Sequence[int]], None]

#: compensation reference meaning "the spillover matrix stored in the FCS file"
_FCS = "FCS"


@dataclass(frozen=True)
class _Base:
    """One events column as read through one compensation (``UNCOMPENSATED``: raw)."""

    ref: str
    column: int


def _data_bound(transform: Transform, value: float | None) -> float | None:
    return None if value is None else float(transform.inverse(np.array(float(value))))


def _data_dim(dim: Dimension, transforms: Mapping[str, Transform]) -> Transform | None:
    """Return the tabulated monotone transform of ``dim`` whose thresholds map to data units, or None."""
    t = transforms.get(dim.transform) if dim.transform is not None and dim.ratio is None else None
    return t if isinstance(t, Logicle | Hyperlog) else None


def data_space_gate(gate: Gate, transforms: Mapping[str, Transform]) -> Gate:
    """Return ``gate`` with its logicle/hyperlog thresholds moved to data units (same membership).

    Logicle and hyperlog are strictly increasing and their inverses are explicit, so
    ``logicle(x) >= t`` exactly when ``x >= logicle^-1(t)``: a range or quadrant gate on such a
    scale needs no transform of the events at all, and the comparison is that of the exact
    transform (the tabulated forward transform is within 1e-8 of it).
    """
    if isinstance(gate, RectangleGate):
        dims, mins, maxs = [], [], []
        for dim, lo, hi in zip(gate.dimensions, gate.mins, gate.maxs, strict=True):
            t = _data_dim(dim, transforms)
            if t is not None:
                dim, lo, hi = replace(dim, transform=None), _data_bound(t, lo), _data_bound(t, hi)
            dims.append(dim)
            mins.append(lo)
            maxs.append(hi)
        return RectangleGate(gate.name, tuple(dims), tuple(mins), tuple(maxs), gate.complement)
    if isinstance(gate, QuadrantGate):
        scale: dict[str, Transform | None] = {d.id: _data_dim(d.dimension, transforms) for d in gate.dividers}
        dividers = []
        for d in gate.dividers:
            t = scale[d.id]
            if t is None:
                dividers.append(d)
            else:
                dividers.append(QuadrantDivider(d.id, replace(d.dimension, transform=None),
                                                tuple(float(t.inverse(np.array(v))) for v in d.values)))
        quadrants = []
        for q in gate.quadrants:
            ranges = []
            for div_id, lo, hi in q.ranges:
                t = scale.get(div_id)
                ranges.append((div_id, lo, hi) if t is None else (div_id, _data_bound(t, lo), _data_bound(t, hi)))
            quadrants.append(Quadrant(q.id, tuple(ranges)))
        return QuadrantGate(gate.name, tuple(dividers), tuple(quadrants))
    return gate


class _Plan:
    """What a strategy reads from a sample: the gates to evaluate, resolved columns, compensations."""

    def __init__(self, names: Sequence[str], strategy: Strategy, spillover: SpilloverMatrix | None,
                 channel_labels: Sequence[str | None] | None, label: str | None) -> None:
        self.names = list(names)
        self.strategy = strategy
        self.spillover = spillover
        self.label = label
        self.index: dict[str, int] = {}
        for i, name in enumerate(self.names):
            self.index.setdefault(name, i)
        for i, pns in enumerate(channel_labels or ()):
            if pns:
                self.index.setdefault(pns, i)
        for i, name in enumerate(self.names):
            self.index.setdefault(name.replace("/", "_"), i)
        self.nodes = [(node.parent, data_space_gate(node.gate, strategy.transforms)) for node in strategy.nodes]
        self.dim_bases: dict[Dimension, tuple[_Base, ...]] = {}
        for _parent, gate in self.nodes:
            for dim in gate.dims:
                if dim not in self.dim_bases:
                    two = dim.ratio is not None and dim.denominator is not None
                    channels = [dim.channel, str(dim.denominator)] if two else [dim.channel]
                    self.dim_bases[dim] = tuple(self._base(c, dim.compensation) for c in channels)
        # per matrix: the columns of inv(S) the gates need, computed together by one product per block
        self.groups: dict[str, list[_Base]] = {}
        for bases in self.dim_bases.values():
            for base in bases:
                group = self.groups.setdefault(base.ref, []) if base.ref != UNCOMPENSATED else None
                if group is not None and base not in group:
                    group.append(base)
        self.detectors: dict[str, list[int]] = {}
        self.inverse: dict[str, np.ndarray] = {}
        for ref, group in self.groups.items():
            matrix = self.matrix(ref)
            assert matrix is not None
            self.detectors[ref] = matrix.channel_indices(self.names, label=label)
            wanted = [matrix.channels.index(self.names[b.column]) for b in group]
            self.inverse[ref] = np.ascontiguousarray(matrix.inverse()[:, wanted].T)

    def matrix(self, ref: str) -> SpilloverMatrix | None:
        """Return the matrix a compensation reference names (None: uncompensated)."""
        if ref == UNCOMPENSATED:
            return None
        if ref == _FCS:
            return self.spillover  # Gating-ML 2.0: no spillover in the file means uncompensated
        return self.strategy.matrices[ref]

    def resolve(self, channel: str, comp_ref: str) -> int:
        """Return the events column a dimension's channel names (``IML-FCS-011`` if none)."""
        if channel in self.index:
            return self.index[channel]
        matrix = self.matrix(comp_ref)
        if matrix is not None and channel in matrix.fluorochromes:
            detector = matrix.channels[matrix.fluorochromes.index(channel)]
            if detector in self.index:
                return self.index[detector]
        raise InconsistentInputError(
            "IML-FCS-011",
            f"gating strategy {self.strategy.name!r} reads channel {channel!r}, which the sample lacks; "
            f"its channels are {', '.join(self.names)}",
            path=self.label,
            hint="The strategy was probably made for another panel: use a strategy for this panel, "
            "or check the channel names ($PnN) of the file.",
        )

    def _base(self, channel: str, comp_ref: str) -> _Base:
        column = self.resolve(channel, comp_ref)
        matrix = self.matrix(comp_ref)
        if matrix is not None and self.names[column] in matrix.channels:
            return _Base(comp_ref, column)
        return _Base(UNCOMPENSATED, column)


class _Block:
    """Masks and channel values of one block of events."""

    def __init__(self, plan: _Plan, raw: np.ndarray, masks: dict[str, np.ndarray],
                 preprocess: Preprocess | None) -> None:
        self.plan = plan
        self.raw = raw
        self.n = int(raw.shape[0])
        self.masks = masks  # views of the output masks, filled parents first
        self.preprocess = preprocess
        self._rows: dict[str, np.ndarray] = {}
        self._bases: dict[_Base, np.ndarray] = {}
        self._values: dict[tuple[Dimension, str], np.ndarray] = {}

    def rows(self, path: str) -> np.ndarray:
        """Return the block rows of population ``path``."""
        rows = self._rows.get(path)
        if rows is None:
            rows = np.flatnonzero(self.masks[path])
            self._rows[path] = rows
        return rows

    def _columns(self, columns: list[int]) -> np.ndarray:
        """Return float64, preprocessed values of events ``columns`` (n x len(columns))."""
        lo, hi = min(columns), max(columns) + 1
        picked = self.raw[:, lo:hi] if columns == list(range(lo, hi)) else self.raw[:, columns]
        values = picked.astype(np.float64)
        if self.preprocess is not None:
            self.preprocess(values, columns)
        return values

    def base(self, base: _Base) -> np.ndarray:
        """Return the (compensated) data values of ``base`` for the whole block."""
        values = self._bases.get(base)
        if values is not None:
            return values
        if base.ref == UNCOMPENSATED:
            values = self._columns([base.column])[:, 0]
            self._bases[base] = values
            return values
        observed = self._columns(self.plan.detectors[base.ref])
        # (columns x events): each compensated column comes out contiguous
        product = blockwise_matmul(observed, self.plan.inverse[base.ref].T).T
        for k, b in enumerate(self.plan.groups[base.ref]):
            self._bases[b] = np.ascontiguousarray(product[k])
        return self._bases[base]

    def values(self, dim: Dimension, frame: str) -> np.ndarray:
        """Return the display values of ``dim`` on ``frame`` (``/``: the block; else a population's rows)."""
        key = (dim, frame)
        values = self._values.get(key)
        if values is not None:
            return values
        strategy = self.plan.strategy
        parts = [self.base(b) for b in self.plan.dim_bases[dim]]
        if frame != "/":
            rows = self.rows(frame)
            parts = [p.take(rows) for p in parts]
        if len(parts) == 2:
            ratio = strategy.transforms[str(dim.ratio)]
            assert isinstance(ratio, Ratio)
            values = ratio.apply_pair(parts[0], parts[1])
        else:
            values = parts[0]
        if dim.transform is not None:
            values = strategy.transforms[dim.transform].apply(values)
        self._values[key] = values
        return values

    def _frame_parts(self, dim: Dimension, frame: str, rows: np.ndarray | None = None) -> list[np.ndarray]:
        """Return the data values of ``dim``'s channels on ``frame`` (at ``rows`` of the frame when given)."""
        parts = [self.base(b) for b in self.plan.dim_bases[dim]]
        if frame != "/":
            where = self.rows(frame) if rows is None else self.rows(frame)[rows]
            return [p.take(where) for p in parts]
        return parts if rows is None else [p.take(rows) for p in parts]

    def _float32(self, dim: Dimension) -> Logicle | Hyperlog | None:
        t = _data_dim(dim, self.plan.strategy.transforms) if POLYGON_FLOAT32 else None
        return t if isinstance(t, Logicle | Hyperlog) else None

    def _polygon(self, gate: PolygonGate, frame: str) -> np.ndarray:
        """Return polygon membership on ``frame``: float32 display values where the error budget allows it.

        Events whose float32 coordinates put them within :data:`FLOAT32_ERROR` (doubled for the
        float32 arithmetic of the lookup) of an edge are recomputed in float64 and tested
        exactly, so the membership is that of the float64 values event by event.
        """
        coords: list[np.ndarray] = []
        margin = 0.0
        for dim in gate.dimensions:
            t = self._float32(dim)
            if t is None:
                coords.append(self.values(dim, frame))
            else:
                key = (dim, frame + "\0float32")
                approx = self._values.get(key)
                if approx is None:
                    approx = t.apply_float32(self._frame_parts(dim, frame)[0])
                    self._values[key] = approx
                coords.append(approx)
                margin = 2.0 * FLOAT32_ERROR
        vertices = tuple((float(a), float(b)) for a, b in gate.vertices)
        inside, near = polygon_grid(vertices, margin).lookup(coords[0], coords[1])
        if near.size:
            exact = []
            for dim in gate.dimensions:
                t = self._float32(dim)
                exact.append(self.values(dim, frame)[near] if t is None else t.apply(self._frame_parts(dim, frame, near)[0]))
            inside[near] = points_in_polygon(exact[0], exact[1], np.asarray(vertices), grid=False)
        return ~inside if gate.complement else inside

    def evaluate(self) -> None:
        """Fill the block mask of every population, parents first."""
        for parent, gate in self.plan.nodes:
            parent_mask = None if parent == "/" else self.masks[parent]
            if isinstance(gate, BooleanGate):
                combined = gate.combine(self.masks)
                target = self.masks[_child(parent, gate.name)]
                if parent_mask is None:
                    target[...] = combined
                else:
                    np.logical_and(combined, parent_mask, out=target)
                continue
            children = ([_child(parent, q.id) for q in gate.quadrants] if isinstance(gate, QuadrantGate)
                        else [_child(parent, gate.name)])
            count = self.n if parent_mask is None else int(np.count_nonzero(parent_mask))
            if count == 0:
                for child in children:
                    self.masks[child][...] = False
                continue
            frame = "/" if parent == "/" or count >= COMPACT_BELOW * self.n else parent
            size = self.n if frame == "/" else count

            def column(dim: Dimension, f: str = frame) -> np.ndarray:
                return self.values(dim, f)

            if isinstance(gate, QuadrantGate):
                inside = gate.evaluate_quadrants(column, size)
                results = [inside[q.id] for q in gate.quadrants]
            elif isinstance(gate, PolygonGate):
                results = [self._polygon(gate, frame)]
            else:
                results = [gate.evaluate(column, size)]  # type: ignore[attr-defined]
            for child, member in zip(children, results, strict=True):
                self._store(self.masks[child], member, frame, parent_mask)

    def _store(self, target: np.ndarray, member: np.ndarray, frame: str, parent_mask: np.ndarray | None) -> None:
        """Write a membership computed on ``frame`` into a block mask (parent applied)."""
        if frame != "/":
            target[...] = False
            target[self.rows(frame)] = member
        elif parent_mask is None:
            target[...] = member
        else:
            np.logical_and(member, parent_mask, out=target)


def _child(parent: str, name: str) -> str:
    return ("" if parent == "/" else parent.rstrip("/")) + "/" + name


def evaluate_strategy(
    events: np.ndarray,
    channel_names: Sequence[str],
    strategy: Strategy,
    spillover: SpilloverMatrix | None,
    *,
    channel_labels: Sequence[str | None] | None = None,
    label: str | None = None,
    preprocess: Preprocess | None = None,
) -> dict[str, np.ndarray]:
    """Return ``{gate_path: membership}`` of every population of ``strategy`` (see the module doc).

    ``events``: n_events x n_channels raw values (any real dtype; float32 as read is not copied);
    ``preprocess`` turns a float64 block of raw values into data values (None: they are).
    """
    from immunolab.flow.heap import retain_freed_memory

    retain_freed_memory()
    plan = _Plan(channel_names, strategy, spillover, channel_labels, label)
    n = int(events.shape[0])
    out = {path: np.empty(n, dtype=bool) for path in strategy.population_paths()}
    for start in range(0, n, ROW_BLOCK):
        stop = min(start + ROW_BLOCK, n)
        views = {path: mask[start:stop] for path, mask in out.items()}
        _Block(plan, events[start:stop], views, preprocess).evaluate()
    return out
