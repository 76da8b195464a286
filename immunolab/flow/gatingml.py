"""Import Gating-ML 2.0 documents into an immunolab :class:`~immunolab.flow.strategy.Strategy`.

Supported (ISAC Gating-ML 2.0): ``RectangleGate``, ``PolygonGate``, ``EllipsoidGate``,
``QuadrantGate`` (each ``Quadrant`` becomes a population under the gate's parent),
``BooleanGate`` (``and`` / ``or`` / ``not`` with ``use-as-complement``); transformations
``flin``, ``flog``, ``fasinh``, ``logicle``, ``hyperlog`` and ``fratio`` (a new dimension from two
channels); compensation references ``uncompensated``, ``FCS`` and square ``spectrumMatrix``
elements (rows = fluorochromes, columns = detectors). Gate ids become population names, so a
population's path is the chain of ``parent_id`` s from the root; a name in the gate's
``custom_info`` (``<immunolab:population name="CD4+"/>``, written by
:mod:`immunolab.interop.gatingml_write` because ids must be ``xs:ID``) takes precedence.

Problems raise ``IML-FCS-013`` naming the file label and the XML line; nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from immunolab.errors import MalformedInputError
from immunolab.flow.compensation import SpilloverMatrix
from immunolab.flow.gates import (
    UNCOMPENSATED,
    BooleanGate,
    Dimension,
    EllipsoidGate,
    Gate,
    PolygonGate,
    Quadrant,
    QuadrantDivider,
    QuadrantGate,
    RectangleGate,
)
from immunolab.flow.strategy import GateNode, Strategy, child_path
from immunolab.flow.transforms import (
    Asinh,
    Hyperlog,
    Linear,
    Log,
    Logicle,
    Ratio,
    Transform,
    TransformParameterError,
)

__all__ = ["DATATYPES_NS", "GATING_NS", "TRANSFORMS_NS", "parse_gatingml", "read_gatingml"]

GATING_NS = "http://www.isac-net.org/std/Gating-ML/v2.0/gating"
TRANSFORMS_NS = "http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
DATATYPES_NS = "http://www.isac-net.org/std/Gating-ML/v2.0/datatypes"
#: namespace of immunolab's custom-info elements holding population names (ids must be xs:ID)
NAMES_NS = "urn:immunolab:gating-ml:names:1"

_G = f"{{{GATING_NS}}}"
_T = f"{{{TRANSFORMS_NS}}}"
_D = f"{{{DATATYPES_NS}}}"
_NAMES = f"{{{NAMES_NS}}}"

_GATE_TAGS = ("RectangleGate", "PolygonGate", "EllipsoidGate", "QuadrantGate", "BooleanGate")


class _Bad(Exception):
    """Internal: a document problem, converted to IML-FCS-013 with the file label."""


def _line(el: Any) -> str:
    return f" (line {el.sourceline})" if getattr(el, "sourceline", None) else ""


def _attr(el: Any, ns: str, name: str, *, required: bool = False) -> str | None:
    value = el.get(ns + name)
    if value is None and required:
        raise _Bad(f"<{_local(el.tag)}> lacks the attribute {name!r}{_line(el)}")
    return value


def _float(el: Any, ns: str, name: str, *, required: bool = True) -> float | None:
    text = _attr(el, ns, name, required=required)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise _Bad(f"attribute {name!r} of <{_local(el.tag)}> is not a number{_line(el)}") from None


def _req_float(el: Any, ns: str, name: str) -> float:
    value = _float(el, ns, name)
    assert value is not None
    return value


def _local(tag: Any) -> str:
    return str(tag).rpartition("}")[2]


@dataclass
class _RatioDef:
    ratio: Ratio
    numerator: str
    denominator: str


def _parse_transform(el: Any) -> tuple[str, Transform | _RatioDef]:
    tid = _attr(el, _T, "id", required=True)
    assert tid is not None
    children = [c for c in el if isinstance(c.tag, str)]
    if len(children) != 1:
        raise _Bad(f"transformation {tid!r} must hold exactly one transform{_line(el)}")
    body = children[0]
    kind = _local(body.tag)
    f = _req_float
    try:
        if kind == "flin":
            return tid, Linear(t=f(body, _T, "T"), a=f(body, _T, "A"))
        if kind == "flog":
            return tid, Log(t=f(body, _T, "T"), m=f(body, _T, "M"))
        if kind == "fasinh":
            return tid, Asinh(t=f(body, _T, "T"), m=f(body, _T, "M"), a=f(body, _T, "A"))
        if kind == "logicle":
            return tid, Logicle(t=f(body, _T, "T"), w=f(body, _T, "W"), m=f(body, _T, "M"), a=f(body, _T, "A"))
        if kind == "hyperlog":
            return tid, Hyperlog(t=f(body, _T, "T"), w=f(body, _T, "W"), m=f(body, _T, "M"), a=f(body, _T, "A"))
        if kind == "fratio":
            dims = [_attr(d, _D, "name", required=True) for d in body.iter(_D + "fcs-dimension")]
            if len(dims) != 2:
                raise _Bad(f"fratio {tid!r} must name exactly two fcs-dimensions{_line(body)}")
            ratio = Ratio(a=f(body, _T, "A"), b=f(body, _T, "B"), c=f(body, _T, "C"))
            return tid, _RatioDef(ratio, str(dims[0]), str(dims[1]))
    except TransformParameterError as exc:
        raise _Bad(f"transformation {tid!r}: {exc}{_line(body)}") from None
    raise _Bad(f"transformation {tid!r} is of unsupported kind {kind!r}{_line(body)}")


def _names(parent: Any, tag: str) -> list[str]:
    holder = parent.find(_T + tag)
    if holder is None:
        raise _Bad(f"spectrumMatrix lacks <{tag}>{_line(parent)}")
    return [str(_attr(d, _D, "name", required=True)) for d in holder.findall(_D + "fcs-dimension")]


def _parse_matrix(el: Any) -> tuple[str, SpilloverMatrix]:
    mid = str(_attr(el, _T, "id", required=True))
    fluoros = _names(el, "fluorochromes")
    detectors = _names(el, "detectors")
    rows = [[_req_float(c, _T, "value") for c in spec.findall(_T + "coefficient")] for spec in el.findall(_T + "spectrum")]
    n = len(detectors)
    if len(fluoros) != n or len(rows) != n or any(len(r) != n for r in rows):
        raise _Bad(
            f"spectrumMatrix {mid!r} is not square over its {n} detectors; spectral unmixing "
            f"matrices are not supported{_line(el)}"
        )
    values: np.ndarray = np.array(rows, dtype=np.float64)
    if (_attr(el, _T, "matrix-inverted-already") or "false").strip().lower() == "true":
        values = np.asarray(np.linalg.inv(values), dtype=np.float64)
    return mid, SpilloverMatrix(tuple(detectors), values, source=f"gatingml:{mid}", fluorochromes=tuple(fluoros))


def _dimension(el: Any, ratios: dict[str, _RatioDef]) -> Dimension:
    comp = _attr(el, _G, "compensation-ref") or UNCOMPENSATED
    xform = _attr(el, _G, "transformation-ref")
    fcs = el.find(_D + "fcs-dimension")
    if fcs is not None:
        return Dimension(str(_attr(fcs, _D, "name", required=True)), comp, xform)
    new = el.find(_D + "new-dimension")
    if new is None:
        raise _Bad(f"dimension holds neither fcs-dimension nor new-dimension{_line(el)}")
    ref = str(_attr(new, _D, "transformation-ref", required=True))
    if ref not in ratios:
        raise _Bad(f"new-dimension refers to {ref!r}, which is not an fratio transformation{_line(new)}")
    r = ratios[ref]
    return Dimension(r.numerator, comp, xform, ratio=ref, denominator=r.denominator)


def _rectangle(gid: str, el: Any, ratios: dict[str, _RatioDef]) -> Gate:
    dim_els = el.findall(_G + "dimension")
    dims = tuple(_dimension(d, ratios) for d in dim_els)
    mins = tuple(_float(d, _G, "min", required=False) for d in dim_els)
    maxs = tuple(_float(d, _G, "max", required=False) for d in dim_els)
    return RectangleGate(gid, dims, mins, maxs)


def _polygon(gid: str, el: Any, ratios: dict[str, _RatioDef]) -> Gate:
    dims = tuple(_dimension(d, ratios) for d in el.findall(_G + "dimension"))
    vertices = []
    for v in el.findall(_G + "vertex"):
        coords = [_req_float(c, _D, "value") for c in v.findall(_G + "coordinate")]
        if len(coords) != 2:
            raise _Bad(f"polygon vertex must have 2 coordinates{_line(v)}")
        vertices.append((coords[0], coords[1]))
    if len(dims) != 2:
        raise _Bad(f"polygon gate {gid!r} must have 2 dimensions{_line(el)}")
    return PolygonGate(gid, (dims[0], dims[1]), tuple(vertices))


def _ellipsoid(gid: str, el: Any, ratios: dict[str, _RatioDef]) -> Gate:
    dims = tuple(_dimension(d, ratios) for d in el.findall(_G + "dimension"))
    mean_el = el.find(_G + "mean")
    cov_el = el.find(_G + "covarianceMatrix")
    dist_el = el.find(_G + "distanceSquare")
    if mean_el is None or cov_el is None or dist_el is None:
        raise _Bad(f"ellipsoid gate {gid!r} needs mean, covarianceMatrix and distanceSquare{_line(el)}")
    mean = tuple(_req_float(c, _D, "value") for c in mean_el.findall(_G + "coordinate"))
    cov = tuple(
        tuple(_req_float(e, _D, "value") for e in row.findall(_G + "entry")) for row in cov_el.findall(_G + "row")
    )
    return EllipsoidGate(gid, dims, mean, cov, _req_float(dist_el, _D, "value"))


def _quadrant(gid: str, el: Any, ratios: dict[str, _RatioDef]) -> Gate:
    dividers = []
    for d in el.findall(_G + "divider"):
        did = str(_attr(d, _G, "id", required=True))
        values = []
        for v in d.findall(_G + "value"):
            try:
                values.append(float((v.text or "").strip()))
            except ValueError:
                raise _Bad(f"divider {did!r} value is not a number{_line(v)}") from None
        dividers.append(QuadrantDivider(did, _dimension(d, ratios), tuple(sorted(values))))
    by_id = {d.id: d for d in dividers}
    quadrants = []
    for q in el.findall(_G + "Quadrant"):
        qid = str(_attr(q, _G, "id", required=True))
        ranges = []
        for pos in q.findall(_G + "position"):
            ref = str(_attr(pos, _G, "divider_ref", required=True))
            if ref not in by_id:
                raise _Bad(f"quadrant {qid!r} refers to unknown divider {ref!r}{_line(pos)}")
            location = _req_float(pos, _G, "location")
            lo = max((v for v in by_id[ref].values if v <= location), default=None)
            hi = min((v for v in by_id[ref].values if v > location), default=None)
            ranges.append((ref, lo, hi))
        quadrants.append(Quadrant(qid, tuple(ranges)))
    return QuadrantGate(gid, tuple(dividers), tuple(quadrants))


_BUILDERS: dict[str, Callable[[str, Any, dict[str, _RatioDef]], Gate]] = {
    "RectangleGate": _rectangle,
    "PolygonGate": _polygon,
    "EllipsoidGate": _ellipsoid,
    "QuadrantGate": _quadrant,
}


def _boolean_refs(gid: str, el: Any) -> tuple[str, list[tuple[str, bool]]]:
    for op in ("and", "or", "not"):
        op_el = el.find(_G + op)
        if op_el is not None:
            refs = []
            for r in op_el.findall(_G + "gateReference"):
                complement = (_attr(r, _G, "use-as-complement") or "false").strip().lower() == "true"
                refs.append((str(_attr(r, _G, "ref", required=True)), complement))
            return op, refs
    raise _Bad(f"boolean gate {gid!r} holds none of and, or, not{_line(el)}")


def _custom_names(gate_els: dict[str, Any]) -> dict[str, str]:
    """Return {gate or quadrant id: population name} from ``custom_info`` (written by immunolab's exporter)."""
    names: dict[str, str] = {}
    for gid, el in gate_els.items():
        info = el.find(_D + "custom_info")
        if info is None:
            continue
        for item in info:
            if not isinstance(item.tag, str) or not item.tag.startswith(_NAMES):
                continue
            if _local(item.tag) == "population" and item.get("name"):
                names[gid] = str(item.get("name"))
            elif _local(item.tag) == "quadrant" and item.get("id") and item.get("name"):
                names[str(item.get("id"))] = str(item.get("name"))
    return names


def _renamed(gate: Gate, names: dict[str, str]) -> Gate:
    """Return ``gate`` with its population name(s) taken from ``names`` (ids stay where absent)."""
    if isinstance(gate, QuadrantGate):
        quadrants = tuple(replace(q, id=names.get(q.id, q.id)) for q in gate.quadrants)
        return replace(gate, name=names.get(gate.name, gate.name), quadrants=quadrants)
    return replace(gate, name=names.get(gate.name, gate.name))  # type: ignore[type-var]


def _transforms_of(root: Any) -> tuple[dict[str, Transform], dict[str, _RatioDef]]:
    """Return the document's transformations by id, and its ratio definitions."""
    transforms: dict[str, Transform] = {}
    ratios: dict[str, _RatioDef] = {}
    for el in root.iter(_T + "transformation"):
        tid, parsed = _parse_transform(el)
        if isinstance(parsed, _RatioDef):
            ratios[tid] = parsed
            transforms[tid] = parsed.ratio
        else:
            transforms[tid] = parsed
    return transforms, ratios


def _gate_elements(root: Any) -> tuple[dict[str, Any], list[str]]:
    """Return the top-level gate elements by id and their document order (ids unique, at least one)."""
    gate_els: dict[str, Any] = {}
    order: list[str] = []
    for el in root:
        if not isinstance(el.tag, str) or _local(el.tag) not in _GATE_TAGS or not el.tag.startswith(_G):
            continue
        gid = str(_attr(el, _G, "id", required=True))
        if gid in gate_els:
            raise _Bad(f"gate id {gid!r} is used twice{_line(el)}")
        gate_els[gid] = el
        order.append(gid)
    if not gate_els:
        raise _Bad("the document holds no gates")
    return gate_els, order


def _in_dependency_order(nodes: list[GateNode]) -> list[GateNode]:
    """Return ``nodes`` with parents (and boolean references) before their dependants; a cycle is an error."""
    ordered: list[GateNode] = []
    defined = {"/"}
    pending = list(nodes)
    while pending:
        progressed = False
        rest = []
        for node in pending:
            needs = {node.parent}
            if isinstance(node.gate, BooleanGate):
                needs |= {p for p, _ in node.gate.refs}
            if needs <= defined:
                ordered.append(node)
                defined.update(node.population_paths())
                progressed = True
            else:
                rest.append(node)
        if not progressed:
            raise _Bad(f"boolean gates refer to each other in a cycle: {', '.join(n.gate.name for n in rest)}")
        pending = rest
    return ordered


def _build(root: Any, name: str, label: str | None) -> Strategy:
    transforms, ratios = _transforms_of(root)
    matrices = dict(_parse_matrix(el) for el in root.iter(_T + "spectrumMatrix"))
    gate_els, order = _gate_elements(root)

    # quadrant ids are populations too: map them to their quadrant gate
    quadrant_owner: dict[str, str] = {}
    for gid, el in gate_els.items():
        if _local(el.tag) == "QuadrantGate":
            for q in el.findall(_G + "Quadrant"):
                quadrant_owner[str(_attr(q, _G, "id", required=True))] = gid
    names = _custom_names(gate_els)

    parents: dict[str, str] = {}  # gate id -> parent path
    visiting: set[str] = set()

    def gate_parent_path(gid: str) -> str:
        if gid in parents:
            return parents[gid]
        if gid in visiting:
            raise _Bad(f"gate {gid!r} is its own ancestor{_line(gate_els[gid])}")
        visiting.add(gid)
        parent_id = _attr(gate_els[gid], _G, "parent_id")
        parents[gid] = "/" if parent_id is None else population_path(parent_id, gate_els[gid])
        visiting.discard(gid)
        return parents[gid]

    def population_path(pid: str, referrer: Any) -> str:
        if pid in quadrant_owner:
            return child_path(gate_parent_path(quadrant_owner[pid]), names.get(pid, pid))
        if pid in gate_els:
            return child_path(gate_parent_path(pid), names.get(pid, pid))
        raise _Bad(f"reference to unknown gate {pid!r}{_line(referrer)}")

    nodes: list[GateNode] = []
    for gid in order:
        el = gate_els[gid]
        parent = gate_parent_path(gid)
        kind = _local(el.tag)
        if kind == "BooleanGate":
            op, refs = _boolean_refs(gid, el)
            gate: Gate = BooleanGate(gid, op, tuple((population_path(r, el), c) for r, c in refs))
        else:
            gate = _renamed(_BUILDERS[kind](gid, el, ratios), names)
        if isinstance(gate, BooleanGate):
            gate = replace(gate, name=names.get(gid, gid))
        nodes.append(GateNode(parent, gate))
    return Strategy(name, tuple(_in_dependency_order(nodes)), transforms, matrices, label=label)


def parse_gatingml(source: bytes | str, *, name: str = "gatingml", label: str | None = None) -> Strategy:
    """Return the strategy of a Gating-ML 2.0 document given as bytes or text."""
    from lxml import etree

    data = source.encode("utf-8") if isinstance(source, str) else source
    shown = label or name
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise MalformedInputError(
            "IML-FCS-013",
            f"gating strategy is not well-formed XML (line {exc.lineno})",
            path=shown,
            hint="Re-export the Gating-ML file from the analysis software.",
        ) from None
    if root.tag != _G + "Gating-ML":
        raise MalformedInputError(
            "IML-FCS-013",
            "gating strategy is not a Gating-ML 2.0 document (root element or namespace differs)",
            path=shown,
            hint=f"The root must be <Gating-ML> in namespace {GATING_NS}.",
        )
    try:
        return _build(root, name, label=shown)
    except (_Bad, ValueError, np.linalg.LinAlgError) as exc:
        raise MalformedInputError(
            "IML-FCS-013",
            f"gating strategy is invalid: {exc}",
            path=shown,
            hint="Fix the Gating-ML file or re-export it from the analysis software.",
        ) from None


def read_gatingml(path: str | Path, *, name: str | None = None, label: str | None = None) -> Strategy:
    """Read a Gating-ML 2.0 file; the strategy name defaults to the file stem."""
    p = Path(path)
    shown = label or p.name
    try:
        data = p.read_bytes()
    except OSError:
        raise MalformedInputError(
            "IML-FCS-013",
            "gating strategy file cannot be read",
            path=shown,
            hint="Check the path and permissions.",
        ) from None
    return parse_gatingml(data, name=name or p.stem, label=shown)
