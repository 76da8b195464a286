"""Write an immunolab :class:`~immunolab.flow.strategy.Strategy` as a schema-valid Gating-ML 2.0 document.

Gating-ML ids (``gating:id``, ``transforms:id``, divider and quadrant ids) are ``xs:ID`` values:
XML names, unique across the whole document. Population names such as ``CD4+``, ``T cells`` or
``1st gate`` are not, and the same name may hang under two parents, so every population, divider,
transform and matrix gets a derived id (:func:`xml_id`: ``CD4+`` -> ``CD4_pos``, deduplicated
with a suffix) and the real name travels in the gate's ``data-type:custom_info`` as
``<immunolab:population name="CD4+"/>`` (quadrant names in the quadrant gate's custom info).
:func:`immunolab.flow.gatingml.parse_gatingml` reads those names back, so a round trip keeps
every population path; FlowKit validates the document against the Gating-ML 2.0 schema and
sees the ids as gate names (:func:`immunolab.interop.to_flowkit` renames them back).

What Gating-ML 2.0 cannot express raises ``IML-INT-001`` naming the gate or transform: a
complemented (inverted) geometric gate, an ellipse evaluated on whole display-grid cells
(FlowJo 8-9), FlowJo's lookup-table transforms (``flowjo_biex``, ``calibration_table``,
``flowjo_log``), an identity transform is simply omitted (data units).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from immunolab.errors import InconsistentInputError
from immunolab.flow.compensation import SpilloverMatrix
from immunolab.flow.gates import (
    BooleanGate,
    Dimension,
    EllipsoidGate,
    Gate,
    PolygonGate,
    QuadrantGate,
    RectangleGate,
)
from immunolab.flow.gatingml import DATATYPES_NS, GATING_NS, NAMES_NS, TRANSFORMS_NS
from immunolab.flow.strategy import FCS_COMPENSATION, Strategy, child_path
from immunolab.flow.transforms import (
    Asinh,
    Hyperlog,
    Identity,
    Linear,
    Log,
    Logicle,
    Ratio,
    Transform,
)

__all__ = ["IMMUNOLAB_NS", "gatingml_bytes", "write_gatingml", "xml_id"]

#: namespace of the custom-info elements that carry population names
IMMUNOLAB_NS = NAMES_NS

_G = f"{{{GATING_NS}}}"
_T = f"{{{TRANSFORMS_NS}}}"
_D = f"{{{DATATYPES_NS}}}"
_I = f"{{{IMMUNOLAB_NS}}}"
_NSMAP = {"gating": GATING_NS, "transforms": TRANSFORMS_NS, "data-type": DATATYPES_NS, "immunolab": IMMUNOLAB_NS}
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")


def _unsupported(what: str, label: str | None) -> InconsistentInputError:
    return InconsistentInputError(
        "IML-INT-001",
        f"the gating strategy cannot be written as Gating-ML 2.0: {what}",
        path=label,
        hint="Gating-ML 2.0 has no equivalent; redraw that gate in FlowKit or FlowJo with a Gating-ML "
        "transform (logicle, asinh, hyperlog, log, linear) and no inversion, then export again.",
    )


def xml_id(name: str, taken: set[str]) -> str:
    """Return a valid, unused ``xs:ID`` for ``name`` (``+`` -> ``_pos``; other symbols -> ``_``) and reserve it."""
    base = _NOT_NAME.sub("_", name.replace("+", "_pos")).strip("_.-") or "gate"
    if not (base[0].isalpha() or base[0] == "_"):
        base = "g_" + base
    candidate, k = base, 2
    while candidate in taken:
        candidate, k = f"{base}_{k}", k + 1
    taken.add(candidate)
    return candidate


def _num(value: float) -> str:
    return repr(float(value))


class _Writer:
    """One document under construction: the id maps and the element tree."""

    def __init__(self, strategy: Strategy, label: str | None) -> None:
        from lxml import etree

        self.etree = etree
        self.strategy = strategy
        self.label = label
        self.taken: set[str] = set()
        self.transform_ids = {k: xml_id(k, self.taken) for k in strategy.transforms}
        self.matrix_ids = {k: xml_id(k, self.taken) for k in strategy.matrices}
        self.population_ids: dict[str, str] = {}
        self.parent = "/"
        self.quadrant_gate_ids: dict[tuple[str, str], str] = {}
        self.root = etree.Element(_G + "Gating-ML", nsmap=_NSMAP)

    def sub(self, parent: Any, tag: str, attrs: dict[str, str] | None = None) -> Any:
        el = self.etree.SubElement(parent, tag)
        for key, value in (attrs or {}).items():
            el.set(key, value)
        return el

    # --- transforms and matrices -------------------------------------------------------

    def transforms(self) -> None:
        for key, xform in self.strategy.transforms.items():
            if isinstance(xform, Identity):
                continue
            el = self.sub(self.root, _T + "transformation", {_T + "id": self.transform_ids[key]})
            self._transform_body(el, key, xform)

    def _transform_body(self, el: Any, key: str, xform: Transform) -> None:
        params: dict[str, float]
        if isinstance(xform, Linear):
            tag, params = "flin", {"T": xform.t, "A": xform.a}
        elif isinstance(xform, Log):
            tag, params = "flog", {"T": xform.t, "M": xform.m}
        elif isinstance(xform, Asinh):
            tag, params = "fasinh", {"T": xform.t, "M": xform.m, "A": xform.a}
        elif isinstance(xform, Logicle | Hyperlog):
            tag = "logicle" if isinstance(xform, Logicle) else "hyperlog"
            params = {"T": xform.t, "W": xform.w, "M": xform.m, "A": xform.a}
        elif isinstance(xform, Ratio):
            tag, params = "fratio", {"A": xform.a, "B": xform.b, "C": xform.c}
        else:
            raise _unsupported(f"transform {key!r} is of kind {xform.kind!r}", self.label)
        body = self.sub(el, _T + tag, {_T + k: _num(v) for k, v in params.items()})
        if isinstance(xform, Ratio):
            num, den = self._ratio_channels(key)
            for channel in (num, den):
                self.sub(body, _D + "fcs-dimension", {_D + "name": channel})

    def _ratio_channels(self, key: str) -> tuple[str, str]:
        for node in self.strategy.nodes:
            for dim in _all_dims(node.gate):
                if dim.ratio == key and dim.denominator is not None:
                    return dim.channel, dim.denominator
        raise _unsupported(f"ratio transform {key!r} is not used by any gate, so its channels are unknown", self.label)

    def matrices(self) -> None:
        for key, matrix in self.strategy.matrices.items():
            self._matrix(key, matrix)

    def _matrix(self, key: str, matrix: SpilloverMatrix) -> None:
        el = self.sub(self.root, _T + "spectrumMatrix", {_T + "id": self.matrix_ids[key]})
        fluoros = matrix.fluorochromes or matrix.channels
        for tag, names in (("fluorochromes", fluoros), ("detectors", matrix.channels)):
            holder = self.sub(el, _T + tag)
            for name in names:
                self.sub(holder, _D + "fcs-dimension", {_D + "name": name})
        for row in matrix.matrix:
            spectrum = self.sub(el, _T + "spectrum")
            for value in row:
                self.sub(spectrum, _T + "coefficient", {_T + "value": _num(value)})

    # --- gates ---------------------------------------------------------------------------

    def dimension(self, parent: Any, tag: str, dim: Dimension, attrs: dict[str, str] | None = None) -> Any:
        comp = dim.compensation
        ref = comp if comp in ("uncompensated", FCS_COMPENSATION) else self.matrix_ids[comp]
        el = self.sub(parent, _G + tag, {**(attrs or {}), _G + "compensation-ref": ref})
        if dim.transform is not None and not isinstance(self.strategy.transforms[dim.transform], Identity):
            el.set(_G + "transformation-ref", self.transform_ids[dim.transform])
        if dim.ratio is not None:
            self.sub(el, _D + "new-dimension", {_D + "transformation-ref": self.transform_ids[dim.ratio]})
        else:
            self.sub(el, _D + "fcs-dimension", {_D + "name": dim.channel})
        return el

    def gates(self) -> None:
        for node in self.strategy.nodes:
            gate = node.gate
            if getattr(gate, "complement", False):
                raise _unsupported(f"gate {gate.name!r} is inverted (its outside is the population)", self.label)
            if getattr(gate, "whole_bins", 0):
                raise _unsupported(f"gate {gate.name!r} is evaluated on whole display-grid cells (FlowJo 8-9 ellipse)",
                                   self.label)
            paths = node.population_paths()
            if isinstance(gate, QuadrantGate):
                for q, path in zip(gate.quadrants, paths, strict=True):
                    self.population_ids[path] = xml_id(q.id, self.taken)
                gate_id = xml_id(gate.name, self.taken)
                self.quadrant_gate_ids[node.parent, gate.name] = gate_id
            else:
                gate_id = xml_id(gate.name, self.taken)
                self.population_ids[paths[0]] = gate_id
            self.parent = node.parent
            attrs = {_G + "id": gate_id}
            if node.parent != "/":
                attrs[_G + "parent_id"] = self.population_ids[node.parent]
            el = self.sub(self.root, _G + _TAGS[type(gate)], attrs)
            info = self.sub(el, _D + "custom_info")
            self.sub(info, _I + "population", {"name": gate.name})
            if isinstance(gate, QuadrantGate):
                for q, path in zip(gate.quadrants, paths, strict=True):
                    self.sub(info, _I + "quadrant", {"id": self.population_ids[path], "name": q.id})
            _BODIES[type(gate)](self, el, gate)


def _all_dims(gate: Gate) -> Iterable[Dimension]:
    return gate.dims


def _rectangle(w: _Writer, el: Any, gate: RectangleGate) -> None:
    for dim, lo, hi in zip(gate.dimensions, gate.mins, gate.maxs, strict=True):
        attrs = {}
        if lo is not None:
            attrs[_G + "min"] = _num(lo)
        if hi is not None:
            attrs[_G + "max"] = _num(hi)
        w.dimension(el, "dimension", dim, attrs)


def _polygon(w: _Writer, el: Any, gate: PolygonGate) -> None:
    for dim in gate.dimensions:
        w.dimension(el, "dimension", dim)
    for x, y in gate.vertices:
        vertex = w.sub(el, _G + "vertex")
        for value in (x, y):
            w.sub(vertex, _G + "coordinate", {_D + "value": _num(value)})


def _ellipsoid(w: _Writer, el: Any, gate: EllipsoidGate) -> None:
    for dim in gate.dimensions:
        w.dimension(el, "dimension", dim)
    mean = w.sub(el, _G + "mean")
    for value in gate.mean:
        w.sub(mean, _G + "coordinate", {_D + "value": _num(value)})
    cov = w.sub(el, _G + "covarianceMatrix")
    for row in gate.covariance:
        row_el = w.sub(cov, _G + "row")
        for value in row:
            w.sub(row_el, _G + "entry", {_D + "value": _num(value)})
    w.sub(el, _G + "distanceSquare", {_D + "value": _num(gate.distance_square)})


def _location(lo: float | None, hi: float | None, where: str, label: str | None) -> float:
    """Return a point strictly inside [lo, hi) that the Gating-ML reader maps back to the same range."""
    if lo is not None and hi is not None:
        return (lo + hi) / 2.0
    if lo is not None:
        return lo + max(1.0, abs(lo))
    if hi is not None:
        return hi - max(1.0, abs(hi))
    raise _unsupported(f"{where} is unbounded on a divider (Gating-ML quadrants need a position)", label)


def _quadrant(w: _Writer, el: Any, gate: QuadrantGate) -> None:
    divider_ids = {d.id: xml_id(d.id, w.taken) for d in gate.dividers}
    for d in gate.dividers:
        div = w.dimension(el, "divider", d.dimension, {_G + "id": divider_ids[d.id]})
        for value in d.values:
            w.sub(div, _G + "value").text = _num(value)
    for q in gate.quadrants:
        path = child_path(w.parent, q.id)
        q_el = w.sub(el, _G + "Quadrant", {_G + "id": w.population_ids[path]})
        for div_id, lo, hi in q.ranges:
            location = _location(lo, hi, f"quadrant {q.id!r}", w.label)
            w.sub(q_el, _G + "position", {_G + "divider_ref": divider_ids[div_id], _G + "location": _num(location)})


def _boolean(w: _Writer, el: Any, gate: BooleanGate) -> None:
    op = w.sub(el, _G + gate.op)
    for path, complement in gate.refs:
        attrs = {_G + "ref": w.population_ids[path]}
        if complement:
            attrs[_G + "use-as-complement"] = "true"
        w.sub(op, _G + "gateReference", attrs)


_TAGS: dict[type, str] = {RectangleGate: "RectangleGate", PolygonGate: "PolygonGate", EllipsoidGate: "EllipsoidGate",
                          QuadrantGate: "QuadrantGate", BooleanGate: "BooleanGate"}
_BODIES: dict[type, Any] = {RectangleGate: _rectangle, PolygonGate: _polygon, EllipsoidGate: _ellipsoid,
                            QuadrantGate: _quadrant, BooleanGate: _boolean}


def gatingml_bytes(strategy: Strategy, *, label: str | None = None) -> bytes:
    """Return ``strategy`` as a Gating-ML 2.0 document (UTF-8 bytes, schema-valid ids)."""
    w = _Writer(strategy, label)
    w.matrices()
    w.transforms()
    w.gates()
    out: bytes = w.etree.tostring(w.root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return out


def write_gatingml(strategy: Strategy, path: str | Path, *, label: str | None = None) -> Path:
    """Write ``strategy`` to ``path`` as Gating-ML 2.0 and return the path (see module doc)."""
    p = Path(path)
    data = gatingml_bytes(strategy, label=label)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p
