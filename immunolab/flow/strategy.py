"""Gating strategies (a tree of gates with their transforms and matrices) and their evaluation.

A :class:`Strategy` is what every gating route produces (built-in template, Gating-ML 2.0,
FlowJo workspace): gate nodes in parent-before-child order, each hanging under a population
path (``/`` = all events; paths follow :mod:`immunolab.flow.populations`), plus the transforms
and compensation matrices its dimensions refer to by id. ``strategy_id`` is the first 16 hex
digits of the sha256 of the canonical JSON of the content (gates, transforms, matrices; the
name is a label and is not hashed), so a derived result can be keyed by the exact gates used.

:func:`gate_events` evaluates a strategy on one sample's events matrix and returns
``{gate_path: bool mask}`` with parent membership included; the work is done by
:mod:`immunolab.flow.engine` (block by block, each gate on its parent's events, each channel
compensated and transformed only where a gate reads it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from immunolab.errors import InconsistentInputError, InputError
from immunolab.flow.compensation import SpilloverMatrix, as_spillover_matrix
from immunolab.flow.gates import (
    UNCOMPENSATED,
    BooleanGate,
    Dimension,
    Gate,
    QuadrantGate,
    gate_from_dict,
)
from immunolab.flow.populations import population_stats, stats_table
from immunolab.flow.transforms import Ratio, Transform, transform_from_dict

if TYPE_CHECKING:
    import pyarrow as pa

    from immunolab.flow.engine import Preprocess

__all__ = [
    "FCS_COMPENSATION",
    "GateNode",
    "SpilloverLike",
    "SpilloverSource",
    "Strategy",
    "child_path",
    "gate_events",
    "gate_population_table",
]

#: Compensation reference meaning "the spillover matrix stored in the FCS file".
FCS_COMPENSATION = "FCS"


def child_path(parent: str, name: str) -> str:
    """Return the population path of ``name`` under ``parent`` (``/`` is all events)."""
    return ("" if parent == "/" else parent.rstrip("/")) + "/" + name


@dataclass(frozen=True)
class GateNode:
    """A gate hanging under the population ``parent`` (a gate path, ``/`` for all events)."""

    parent: str
    gate: Gate

    def population_paths(self) -> list[str]:
        """Return the paths of the populations this node defines (one per quadrant for quadrant gates)."""
        if isinstance(self.gate, QuadrantGate):
            return [child_path(self.parent, q.id) for q in self.gate.quadrants]
        return [child_path(self.parent, self.gate.name)]


def _invalid(message: str, label: str | None) -> InconsistentInputError:
    return InconsistentInputError(
        "IML-FCS-013",
        message,
        path=label,
        hint="Fix the gating strategy file (or re-export it from the analysis software).",
    )


@dataclass(frozen=True, eq=False)
class Strategy:
    """A named gating strategy: gate nodes (parents first), transforms and matrices by id."""

    name: str
    nodes: tuple[GateNode, ...]
    transforms: Mapping[str, Transform] = field(default_factory=dict)
    matrices: Mapping[str, SpilloverMatrix] = field(default_factory=dict)
    label: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "transforms", dict(self.transforms))
        object.__setattr__(self, "matrices", dict(self.matrices))
        self._validate()

    def _validate(self) -> None:
        known = {"/"}
        for node in self.nodes:
            if node.parent not in known:
                raise _invalid(
                    f"gate {node.gate.name!r} hangs under {node.parent!r}, which is not defined before it",
                    self.label,
                )
            if isinstance(node.gate, BooleanGate):
                for ref, _ in node.gate.refs:
                    if ref not in known or ref == "/":
                        raise _invalid(f"boolean gate {node.gate.name!r} refers to unknown population {ref!r}", self.label)
            for dim in node.gate.dims:
                self._check_dimension(node.gate.name, dim)
            gate = node.gate
            names = [q.id for q in gate.quadrants] if isinstance(gate, QuadrantGate) else [gate.name]
            for name in names:
                if not name or "/" in name or name != name.strip():
                    raise _invalid(f"population name {name!r} is empty, padded or holds '/'", self.label)
            for path in node.population_paths():
                if path in known:
                    raise _invalid(f"population {path!r} is defined twice", self.label)
                known.add(path)

    def _check_dimension(self, gate_name: str, dim: Dimension) -> None:
        if dim.transform is not None and dim.transform not in self.transforms:
            raise _invalid(f"gate {gate_name!r} uses undefined transform {dim.transform!r}", self.label)
        if dim.compensation not in (UNCOMPENSATED, FCS_COMPENSATION) and dim.compensation not in self.matrices:
            raise _invalid(f"gate {gate_name!r} uses undefined compensation {dim.compensation!r}", self.label)
        if dim.ratio is not None and (
            dim.denominator is None or not isinstance(self.transforms.get(dim.ratio), Ratio)
        ):
            raise _invalid(f"gate {gate_name!r} uses ratio {dim.ratio!r}, which is not a defined ratio", self.label)

    # --- identity --------------------------------------------------------------------------

    def content_dict(self) -> dict[str, Any]:
        """Return the hashed content: nodes, transforms and matrices (JSON-ready)."""
        return {
            "nodes": [{"parent": n.parent, "gate": n.gate.to_dict()} for n in self.nodes],
            "transforms": {k: self.transforms[k].to_dict() for k in sorted(self.transforms)},
            "matrices": {k: self.matrices[k].to_dict() for k in sorted(self.matrices)},
        }

    def canonical_json(self) -> str:
        """Return the content as canonical JSON (sorted keys, no spaces)."""
        return json.dumps(self.content_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @property
    def strategy_id(self) -> str:
        """Return the 16-hex-digit content hash (sha256 of :meth:`canonical_json`)."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """Return name, strategy id and content (JSON-ready)."""
        return {"name": self.name, "strategy_id": self.strategy_id, **self.content_dict()}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Strategy:
        """Rebuild a strategy from :meth:`to_dict` output."""
        nodes = tuple(GateNode(n["parent"], gate_from_dict(n["gate"])) for n in record["nodes"])
        transforms = {k: transform_from_dict(v) for k, v in record.get("transforms", {}).items()}
        matrices = {k: SpilloverMatrix.from_dict(v) for k, v in record.get("matrices", {}).items()}
        return cls(str(record["name"]), nodes, transforms, matrices)

    # --- structure -------------------------------------------------------------------------

    def population_paths(self) -> list[str]:
        """Return every population path, parents before children."""
        return [p for node in self.nodes for p in node.population_paths()]

    def dimensions(self) -> list[Dimension]:
        """Return the distinct dimensions read by the gates, in first-use order."""
        seen: dict[Dimension, None] = {}
        for node in self.nodes:
            for dim in node.gate.dims:
                seen.setdefault(dim, None)
        return list(seen)


class SpilloverLike(Protocol):
    """Anything with ``channels`` and ``matrix`` (e.g. the FCS reader's ``Spillover``)."""

    channels: Sequence[str]
    matrix: np.ndarray


SpilloverSource = SpilloverMatrix | SpilloverLike | tuple[Sequence[str], np.ndarray] | None


def gate_events(
    events: np.ndarray,
    channel_names: Sequence[str],
    strategy: Strategy,
    spillover: SpilloverSource = None,
    *,
    channel_labels: Sequence[str | None] | None = None,
    label: str | None = None,
    preprocess: Preprocess | None = None,
) -> dict[str, np.ndarray]:
    """Return ``{gate_path: membership}`` of every population of ``strategy`` over ``events``.

    ``events`` is n_events x n_channels in data units (raw, uncompensated), ``channel_names``
    the PnN names, ``spillover`` the file's own matrix (a :class:`SpilloverMatrix`, the FCS
    reader's ``Spillover`` or a ``(names, matrix)`` pair) used by dimensions compensated with ``"FCS"``; without it such
    dimensions are read uncompensated, as Gating-ML 2.0 specifies. ``channel_labels`` (PnS)
    lets dimensions name a channel by its stain. Masks include parent membership.
    ``preprocess`` (``FcsData.preprocess_block``) turns raw values into data units for the
    columns the gates read, so the raw float32 events of a file can be passed without a copy.
    Evaluation: :mod:`immunolab.flow.engine` (block-wise, each gate on its parent's events).
    """
    data = np.asarray(events)
    if data.ndim != 2 or data.shape[1] != len(channel_names):
        raise InconsistentInputError(
            "IML-FCS-011",
            f"events are shaped {data.shape} but {len(channel_names)} channel names were given",
            path=label,
            hint="Pass the events matrix with one column per named channel.",
        )
    from immunolab.flow.engine import evaluate_strategy

    try:
        return evaluate_strategy(data, channel_names, strategy, as_spillover_matrix(spillover),
                                 channel_labels=channel_labels, label=label, preprocess=preprocess)
    except InputError as exc:
        raise exc.with_path(label) if label and not exc.path else exc from None


def gate_population_table(
    events: np.ndarray,
    channel_names: Sequence[str],
    strategy: Strategy,
    spillover: SpilloverSource = None,
    *,
    lymphocyte_path: str | None = None,
    channel_labels: Sequence[str | None] | None = None,
    label: str | None = None,
) -> pa.Table:
    """Gate ``events`` and return the ``flow_populations`` rows (counts and percentages)."""
    masks = gate_events(events, channel_names, strategy, spillover, channel_labels=channel_labels, label=label)
    stats = population_stats(masks, n_total=int(np.asarray(events).shape[0]), lymphocyte_path=lymphocyte_path)
    return stats_table(stats, strategy_id=strategy.strategy_id, strategy_name=strategy.name)
