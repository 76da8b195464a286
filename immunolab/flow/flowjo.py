"""Import FlowJo workspaces into one immunolab :class:`Strategy` per sample (10.x here; 7-9 in flowjo_legacy).

FlowJo stores, per sample, the channel transforms (``linear``, ``log``, ``biex``, ``logicle``,
``fasinh``), an optional spillover matrix (gate dimensions named with its prefix, e.g.
``Comp-FITC-A``, are compensated by it) and the population tree with Gating-ML shaped gates:

- rectangle and polygon coordinates are in data units; they are mapped through the channel's
  transform so gating happens on FlowJo's display scale (FlowJo biex: channels 0-4096), which
  reproduces FlowJo's clipping at the ends of the biex table;
- FlowJo ellipses give two foci and four edge points (ends of both axes) on the 256-bin display
  grid; they become an exact ellipse on the display scale (FlowKit uses a 128-gon instead);
- quadrant gates are stored by FlowJo as four rectangles; ``AndNode`` / ``OrNode`` /
  ``NotNode`` become boolean gates (dependents are '/'-paths from the sample root);
- ``eventsInside="0"`` selects the outside of a gate.

FlowJo evaluates polygons and ellipses on binned data, so its counts differ from an exact
evaluation by a fraction of a percent for those shapes; rectangles and quadrants match exactly.
The counts FlowJo saved are returned as ``flowjo_counts`` (they may be stale: FlowJo writes them
when the workspace was last recalculated). Unsupported content raises ``IML-FCS-013``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
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
    RectangleGate,
)
from immunolab.flow.gatingml import DATATYPES_NS, GATING_NS, TRANSFORMS_NS
from immunolab.flow.strategy import GateNode, Strategy, child_path
from immunolab.flow.transforms import (
    Asinh,
    FlowJoBiex,
    FlowJoLog,
    Linear,
    Logicle,
    Transform,
    TransformParameterError,
)

__all__ = ["WorkspaceSample", "parse_flowjo_workspace", "read_flowjo_workspace"]

_G = f"{{{GATING_NS}}}"
_T = f"{{{TRANSFORMS_NS}}}"
_D = f"{{{DATATYPES_NS}}}"

#: FlowJo draws every plot on a 256 x 256 display grid; ellipse coordinates are in its bins.
_DISPLAY_BINS = 256.0


class _Bad(Exception):
    """Internal: a workspace problem, converted to IML-FCS-013 with the file label."""


@dataclass(frozen=True)
class WorkspaceSample:
    """One sample of a workspace: its FlowJo id, data file name, strategy, saved counts and sample name."""

    sample_id: str
    file_name: str
    strategy: Strategy
    flowjo_counts: dict[str, int] = field(default_factory=dict)
    #: the name FlowJo shows for the sample (``SampleNode name``); may hold a patient name, so never echoed
    sample_name: str = ""


def _line(el: Any) -> str:
    return f" (line {el.sourceline})" if getattr(el, "sourceline", None) else ""


def _local(tag: Any) -> str:
    return str(tag).rpartition("}")[2]


def _num(el: Any, key: str) -> float:
    text = el.get(key)
    if text is None:
        raise _Bad(f"<{_local(el.tag)}> lacks {_local(key)!r}{_line(el)}")
    try:
        return float(text)
    except ValueError:
        raise _Bad(f"{_local(key)!r} of <{_local(el.tag)}> is not a number{_line(el)}") from None


def _opt_num(el: Any, key: str) -> float | None:
    return None if el.get(key) is None else _num(el, key)


# --- transforms and compensation -------------------------------------------------------------


def _parse_transform(el: Any) -> Transform:
    kind = _local(el.tag)
    try:
        if kind == "linear":
            lo = _opt_num(el, _T + "minRange") or 0.0
            return Linear(t=_num(el, _T + "maxRange"), a=-lo)
        if kind == "log":
            return FlowJoLog(offset=_num(el, _T + "offset"), decades=_num(el, _T + "decades"))
        if kind == "biex":
            return FlowJoBiex(
                negative=_num(el, _T + "neg"),
                width=_num(el, _T + "width"),
                positive=_num(el, _T + "pos"),
                max_value=_num(el, _T + "maxRange"),
            )
        if kind == "logicle":
            return Logicle(t=_num(el, _T + "T"), w=_num(el, _T + "W"), m=_num(el, _T + "M"), a=_num(el, _T + "A"))
        if kind == "fasinh":
            return Asinh(t=_num(el, _T + "T"), m=_num(el, _T + "M"), a=_num(el, _T + "A"))
    except TransformParameterError as exc:
        raise _Bad(f"{kind} transform: {exc}{_line(el)}") from None
    raise _Bad(
        f"FlowJo transform {kind!r} is not supported{_line(el)}; save the channel scales in FlowJo as "
        "linear, log, biex, logicle or arcsinh"
    )


def _parse_transforms(sample_el: Any) -> dict[str, Transform]:
    out: dict[str, Transform] = {}
    holder = sample_el.find("Transformations")
    for el in holder if holder is not None else ():
        if not isinstance(el.tag, str):
            continue
        param = el.find(_D + "parameter")
        if param is None or param.get(_D + "name") is None:
            raise _Bad(f"transform without a channel name{_line(el)}")
        out[str(param.get(_D + "name"))] = _parse_transform(el)
    return out


@dataclass(frozen=True)
class _Comp:
    matrix_id: str
    matrix: SpilloverMatrix
    prefix: str
    suffix: str


def _parse_matrix(sample_el: Any) -> _Comp | None:
    els = sample_el.findall(_T + "spilloverMatrix")
    if not els:
        return None
    if len(els) > 1:
        raise _Bad(f"a sample holds several spillover matrices{_line(els[1])}")
    el = els[0]
    if el.get("spectral") == "1":
        raise _Bad(f"spectral (unmixing) matrices are not supported{_line(el)}")
    params = el.find(_D + "parameters")
    detectors = [str(p.get(_D + "name")) for p in (params if params is not None else ()) if isinstance(p.tag, str)]
    rows: dict[str, dict[str, float]] = {}
    for spill in el.findall(_T + "spillover"):
        row = str(spill.get(_D + "parameter"))
        rows[row] = {str(c.get(_D + "parameter")): _num(c, _T + "value") for c in spill.findall(_T + "coefficient")}
    try:
        values = np.array([[rows[r][c] for c in detectors] for r in detectors], dtype=np.float64)
    except KeyError as exc:
        raise _Bad(f"spillover matrix lacks a coefficient for {exc.args[0]!r}{_line(el)}") from None
    name = str(el.get("name") or el.get("id") or "matrix")
    matrix_id = f"flowjo:{name}"
    return _Comp(matrix_id, SpilloverMatrix(tuple(detectors), values, source=matrix_id), el.get("prefix") or "", el.get("suffix") or "")


# --- gates -----------------------------------------------------------------------------------


@dataclass
class _Context:
    transforms: dict[str, Transform]
    comp: _Comp | None
    used_transforms: dict[str, Transform] = field(default_factory=dict)
    #: FlowJo 7-9 rectangles hold min < v <= max: an event on a bound belongs below it
    lower_half_owns_divider: bool = False
    #: FlowJo 7 (PC): each channel's ``$PnR``; its ellipses come from their edge points on a
    #: display grid that draws channels 0 .. R-1 over cells 0 .. 255 (see :func:`_v7_ellipse`)
    v7_channel_ranges: dict[str, float] | None = None

    def dimension(self, raw_name: str) -> tuple[Dimension, Transform | None]:
        """Return the engine dimension of a FlowJo gate axis and its transform."""
        name = raw_name
        comp_ref = UNCOMPENSATED
        if self.comp is not None:
            stripped = name
            if self.comp.prefix and stripped.startswith(self.comp.prefix):
                stripped = stripped[len(self.comp.prefix) :]
            if self.comp.suffix and stripped.endswith(self.comp.suffix):
                stripped = stripped[: -len(self.comp.suffix)]
            if stripped in self.comp.matrix.channels:
                name, comp_ref = stripped, self.comp.matrix_id
        shown, plain = self.transforms.get(raw_name), self.transforms.get(name)
        xform = shown or plain
        xform_id = None
        if xform is not None:
            # a compensated channel with a scale of its own (FlowJo 9.2 calibration tables) is named by its
            # shown name, whatever gate is parsed first; otherwise the channel's name as before
            own = raw_name != name and shown is not None and plain is not None and shown != plain
            xform_id = f"{raw_name if own else name}:{xform.kind}"
            self.used_transforms[xform_id] = xform
        return Dimension(name, comp_ref, xform_id), xform


def _map(xform: Transform | None, value: float) -> float:
    return float(value) if xform is None else float(xform.apply(np.array([value], dtype=np.float64))[0])


def _axis_names(gate_el: Any) -> list[str]:
    names = []
    for dim in gate_el.findall(_G + "dimension"):
        fcs = dim.find(_D + "fcs-dimension")
        if fcs is None:  # FlowJo 7 (Gating-ML 1.5 shaped) names the channel <data-type:parameter>
            fcs = dim.find(_D + "parameter")
        if fcs is None or fcs.get(_D + "name") is None:
            raise _Bad(f"gate dimension without a channel name{_line(dim)}")
        names.append(str(fcs.get(_D + "name")))
    return names


def _coords(vertex: Any) -> list[float]:
    return [_num(c, _D + "value") for c in vertex.findall(_G + "coordinate")]


def _display_scale(xform: Transform | None) -> float:
    """Return transformed units per display bin (biex is in channels 0-4096, others 0-1)."""
    if isinstance(xform, FlowJoBiex):
        return float(xform.channel_range) / _DISPLAY_BINS
    return 1.0 / _DISPLAY_BINS


def _ellipse(name: str, gate_el: Any, dims: list[Dimension], xforms: list[Transform | None],
             complement: bool = False) -> Gate:
    if len(dims) != 2:
        raise _Bad(f"ellipse {name!r} must have 2 dimensions{_line(gate_el)}")
    foci_el = gate_el.find(_G + "foci")
    edge_el = gate_el.find(_G + "edge")
    if foci_el is None or edge_el is None:
        raise _Bad(f"ellipse {name!r} lacks foci or edge points{_line(gate_el)}")
    foci = np.array([_coords(v) for v in foci_el.findall(_G + "vertex")], dtype=np.float64)
    edges = np.array([_coords(v) for v in edge_el.findall(_G + "vertex")], dtype=np.float64)
    if foci.shape != (2, 2) or edges.shape != (4, 2):
        raise _Bad(f"ellipse {name!r} needs 2 foci and 4 edge points in 2 dimensions{_line(gate_el)}")
    centre = foci.mean(axis=0)
    half_focal = foci[1] - centre
    c = float(np.hypot(*half_focal))
    if c > 0:
        major_dir = half_focal / c
    else:  # a circle: take the axis through the first edge point
        offset = edges[0] - centre
        major_dir = offset / float(np.hypot(*offset))
    rel = edges - centre
    a = float(np.abs(rel @ major_dir).max())
    if a <= c:
        raise _Bad(f"ellipse {name!r} has edge points inside its foci{_line(gate_el)}")
    b = math.sqrt(a * a - c * c)
    scale = np.array([_display_scale(x) for x in xforms])
    return _axes_ellipse(name, dims, centre, major_dir, a, b, scale, complement)


def _axes_ellipse(name: str, dims: list[Dimension], centre: np.ndarray, major_dir: np.ndarray, a: float, b: float,
                  scale: np.ndarray, complement: bool) -> EllipsoidGate:
    """Return the ellipse with semi-axes ``a`` (along unit ``major_dir``) and ``b`` around ``centre``.

    Centre and axes are in display-grid units; ``scale`` (per dimension) maps a grid unit to the
    gate's transformed scale.
    """
    rot = np.column_stack([major_dir, [-major_dir[1], major_dir[0]]])
    cov = (rot @ np.diag([a * a, b * b]) @ rot.T) * np.outer(scale, scale)
    mean = centre * scale
    return EllipsoidGate(name, (dims[0], dims[1]), (float(mean[0]), float(mean[1])),
                         tuple(tuple(float(v) for v in r) for r in cov), 1.0, complement)


def _v7_ellipse(name: str, gate_el: Any, dims: list[Dimension], ranges: dict[str, float],
                complement: bool = False) -> Gate:
    """Return a FlowJo 7 ellipse: the one whose axes end at its four edge points.

    FlowJo 7 saves the ends of the two axes (``edge``, pairs 1-2 and 3-4) and foci derived from
    them, truncated to whole grid units, so the ellipse is rebuilt from the edge points: centre
    their mean, semi-axes half the length of each pair, major axis along the first pair. The
    grid shows channel ``c`` of a ``$PnR = R`` channel at ``c x 255 / (R - 1)`` (channel 0 and
    channel R-1 on the first and the last of the 256 cells); on the keyword scale, where channel
    ``c`` is ``c / R``, one grid unit is ``(R - 1) / (255 R)`` (measured on R = 512 only; a
    channel whose ``$PnR`` the workspace did not save keeps the ``1 / 256`` grid of the other
    readers). Evidence in docs/gating.md.
    """
    if len(dims) != 2:
        raise _Bad(f"ellipse {name!r} must have 2 dimensions{_line(gate_el)}")
    edge_el = gate_el.find(_G + "edge")
    edges = np.array([_coords(v) for v in edge_el.findall(_G + "vertex")] if edge_el is not None else [],
                     dtype=np.float64)
    if edges.shape != (4, 2):
        raise _Bad(f"ellipse {name!r} needs 4 edge points in 2 dimensions{_line(gate_el)}")
    major, minor = edges[1] - edges[0], edges[3] - edges[2]
    a, b = float(np.hypot(*major)) / 2, float(np.hypot(*minor)) / 2
    if a == 0 or b == 0:
        raise _Bad(f"ellipse {name!r} has an axis of length 0{_line(gate_el)}")
    scale = np.array([(ranges[d.channel] - 1) / (255.0 * ranges[d.channel]) if ranges.get(d.channel, 0.0) > 1
                      else 1.0 / _DISPLAY_BINS for d in dims])
    return _axes_ellipse(name, dims, edges.mean(axis=0), major / (2 * a), a, b, scale, complement)


def _population_gate(name: str, pop_el: Any, ctx: _Context) -> Gate:
    gate_holder = pop_el.find("Gate")
    shapes = [c for c in (gate_holder if gate_holder is not None else ()) if isinstance(c.tag, str)]
    if len(shapes) != 1:
        raise _Bad(f"population {name!r} must hold exactly one gate{_line(pop_el)}")
    gate_el = shapes[0]
    kind = _local(gate_el.tag)
    complement = gate_el.get("eventsInside", "1") == "0"
    axes = [ctx.dimension(n) for n in _axis_names(gate_el)]
    dims = [d for d, _ in axes]
    xforms = [x for _, x in axes]
    if kind == "RectangleGate":
        mins: list[float | None] = []
        maxs: list[float | None] = []
        for dim_el, xform in zip(gate_el.findall(_G + "dimension"), xforms, strict=True):
            lo = _opt_num(dim_el, _G + "min")
            hi = _opt_num(dim_el, _G + "max")
            mins.append(None if lo is None else _map(xform, lo))
            maxs.append(None if hi is None else _map(xform, hi))
        if ctx.lower_half_owns_divider:  # FlowJo <= 9: min < v <= max (events on a bound go below it)
            mins = [None if v is None else float(np.nextafter(v, np.inf)) for v in mins]
            maxs = [None if v is None else float(np.nextafter(v, np.inf)) for v in maxs]
        return RectangleGate(name, tuple(dims), tuple(mins), tuple(maxs), complement)
    if kind == "PolygonGate":
        if len(dims) != 2:
            raise _Bad(f"polygon {name!r} must have 2 dimensions{_line(gate_el)}")
        vertices = []
        for v in gate_el.findall(_G + "vertex"):
            xy = _coords(v)
            if len(xy) != 2:
                raise _Bad(f"polygon {name!r} vertex must have 2 coordinates{_line(v)}")
            vertices.append((_map(xforms[0], xy[0]), _map(xforms[1], xy[1])))
        return PolygonGate(name, (dims[0], dims[1]), tuple(vertices), complement)
    if kind == "EllipsoidGate":
        if ctx.v7_channel_ranges is not None:
            return _v7_ellipse(name, gate_el, dims, ctx.v7_channel_ranges, complement)
        return _ellipse(name, gate_el, dims, xforms, complement)
    raise _Bad(f"FlowJo gate type {kind!r} of population {name!r} is not supported{_line(gate_el)}")


_BOOLEAN_TAGS = {"AndNode": "and", "OrNode": "or", "NotNode": "not"}


def _clean_name(el: Any) -> str:
    name = (el.get("name") or "").strip()
    if not name or "/" in name:
        raise _Bad(f"population name {name!r} is empty or holds '/'{_line(el)}")
    return name


def _walk(
    holder: Any, parent: str, ctx: _Context, nodes: list[GateNode], counts: dict[str, int], pending: list[tuple[str, Any, str]]
) -> None:
    for el in holder:
        if not isinstance(el.tag, str):
            continue
        if el.tag == "Population":
            name = _clean_name(el)
            nodes.append(GateNode(parent, _population_gate(name, el, ctx)))
        elif el.tag in _BOOLEAN_TAGS:
            name = _clean_name(el)
            pending.append((parent, el, name))
            nodes.append(GateNode(parent, BooleanGate(name, "not", (("/", False),))))  # placeholder, resolved below
        else:
            continue
        path = child_path(parent, name)
        count_text = (el.get("count") or "").strip()
        if count_text.lstrip("-").isdigit():
            counts[path] = int(count_text)
        for sub in el.findall("Subpopulations"):
            _walk(sub, path, ctx, nodes, counts, pending)


def _resolve_booleans(nodes: list[GateNode], pending: list[tuple[str, Any, str]]) -> list[GateNode]:
    known = {p for n in nodes for p in n.population_paths()}
    resolved: dict[str, Gate] = {}
    for parent, el, name in pending:
        refs = []
        deps = el.find("Dependents")
        for dep in deps.findall("Dependent") if deps is not None else ():
            rel = (dep.get("name") or "").strip("/")
            candidates = ["/" + rel, child_path(parent, rel)]
            path = next((c for c in candidates if c in known), None)
            if path is None:
                raise _Bad(f"boolean population {name!r} depends on unknown population {rel!r}{_line(dep)}")
            refs.append((path, False))
        if not refs:
            raise _Bad(f"boolean population {name!r} has no dependents{_line(el)}")
        resolved[child_path(parent, name)] = BooleanGate(name, _BOOLEAN_TAGS[el.tag], tuple(refs))
    out = [GateNode(n.parent, resolved.get(n.population_paths()[0], n.gate)) for n in nodes]
    # boolean gates may refer to populations defined later in the tree: order dependants last
    ordered: list[GateNode] = []
    defined = {"/"}
    rest = out
    while rest:
        later = []
        for node in rest:
            needs = {node.parent} | ({p for p, _ in node.gate.refs} if isinstance(node.gate, BooleanGate) else set())
            if needs <= defined:
                ordered.append(node)
                defined.update(node.population_paths())
            else:
                later.append(node)
        if len(later) == len(rest):
            raise _Bad("boolean populations depend on each other in a cycle")
        rest = later
    return ordered


def _parse_sample(sample_el: Any, name: str, label: str, *, transforms: dict[str, Transform] | None = None,
                  comp: _Comp | None = None, legacy: bool = False,
                  v7_channel_ranges: dict[str, float] | None = None) -> WorkspaceSample:
    dataset = sample_el.find("DataSet")
    node = sample_el.find("SampleNode")
    if dataset is None or node is None:
        raise _Bad(f"sample lacks DataSet or SampleNode{_line(sample_el)}")
    uri = dataset.get("uri") or ""
    file_name = re.split(r"[/\\]", uri)[-1].replace("%20", " ")
    sample_id = str(dataset.get("sampleID") or node.get("sampleID") or "")
    ctx = _Context(_parse_transforms(sample_el) if transforms is None else transforms,
                   _parse_matrix(sample_el) if comp is None else comp, lower_half_owns_divider=legacy,
                   v7_channel_ranges=v7_channel_ranges)
    nodes: list[GateNode] = []
    counts: dict[str, int] = {}
    pending: list[tuple[str, Any, str]] = []
    for sub in node.findall("Subpopulations"):
        _walk(sub, "/", ctx, nodes, counts, pending)
    ordered = _resolve_booleans(nodes, pending)
    matrices = {ctx.comp.matrix_id: ctx.comp.matrix} if ctx.comp is not None else {}
    strategy = Strategy(name, tuple(ordered), ctx.used_transforms, matrices, label=label)
    return WorkspaceSample(sample_id, file_name, strategy, counts, str(node.get("name") or ""))


def parse_flowjo_workspace(data: bytes, *, name: str = "flowjo", label: str | None = None) -> list[WorkspaceSample]:
    """Return one :class:`WorkspaceSample` per sample of a FlowJo workspace given as bytes.

    FlowJo 10.x ``.wsp`` is read here; FlowJo 7.x PC ``.wsp`` and Mac 8-9 ``.xml`` by
    :mod:`immunolab.flow.flowjo_legacy`.
    """
    from lxml import etree

    from immunolab.flow import flowjo_legacy

    shown = label or name
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError as exc:
        raise MalformedInputError(
            "IML-FCS-013", f"workspace is not well-formed XML (line {exc.lineno})", path=shown,
            hint="Save the workspace again in FlowJo.",
        ) from None
    version = root.get("flowJoVersion") or ""
    major = version.split(".")[0]
    known = root.tag == "Workspace" and major.isdigit()
    pc7 = known and int(major) in (7, 8) and b"Gating-ML/v1.5" in data[:4096]
    listed = root.find("SampleList")  # FlowJo 9.2 and earlier (Mac): samples with their SampleNode
    mac = known and not pc7 and (root.find("Samples") is not None or (
        int(major) in (8, 9) and listed is not None and listed.find("Sample/SampleNode") is not None))
    if not known or not (int(major) >= 10 or mac or pc7):
        raise MalformedInputError(
            "IML-FCS-013", f"not a FlowJo workspace this version reads (root {_local(root.tag)!r}, "
            f"version {version or 'absent'}); FlowJo 7.x PC, 8-9 Mac and 10.x are read",
            path=shown, hint="Open and save the workspace in FlowJo 10, or export the strategy as Gating-ML 2.0.",
        )
    try:
        if mac:
            samples = flowjo_legacy.parse_v9(root, name, shown)
        elif pc7:
            samples = flowjo_legacy.parse_v7(data, name, shown)
        else:
            samples = [_parse_sample(el, name, shown) for el in root.iter("Sample") if el.getparent().tag == "SampleList"]
    except (_Bad, ValueError, np.linalg.LinAlgError) as exc:
        raise MalformedInputError(
            "IML-FCS-013", f"workspace cannot be imported: {exc}", path=shown,
            hint="Fix the gate in FlowJo (or export the strategy as Gating-ML 2.0).",
        ) from None
    if not samples:
        raise MalformedInputError("IML-FCS-013", "workspace lists no samples", path=shown, hint="Add the FCS files to the workspace in FlowJo.")
    return samples


def read_flowjo_workspace(path: str | Path, *, name: str | None = None, label: str | None = None) -> list[WorkspaceSample]:
    """Read a FlowJo workspace (10.x / 7.x ``.wsp``, 8-9 ``.xml``); strategies are named after the file stem unless ``name``."""
    p = Path(path)
    shown = label or p.name
    try:
        data = p.read_bytes()
    except OSError:
        raise MalformedInputError("IML-FCS-013", "workspace file cannot be read", path=shown, hint="Check the path and permissions.") from None
    return parse_flowjo_workspace(data, name=name or p.stem, label=shown)
