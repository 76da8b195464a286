"""Import FlowJo 7 (PC ``.wsp``) and FlowJo 8-9 (Mac ``.xml``) workspaces.

Both return the :class:`~immunolab.flow.flowjo.WorkspaceSample` structures of the FlowJo 10
reader, so the same gating engine applies them.

- **FlowJo 7.x** writes Gating-ML 1.5 shaped gates (``gating:RectangleGate``, ``PolygonGate``,
  ``EllipsoidGate`` with foci and edge points on a 256-cell display grid; ``NotNode`` /
  ``AndNode`` / ``OrNode`` with ``Dependents``). Its namespaces are mapped to Gating-ML 2.0 and
  the FlowJo 10 parser reads the tree. Its compensation matrix (``comp:spilloverMatrix`` in
  the compensation editor) applies to gate dimensions named with its prefix (``Comp-FL1``).
- **FlowJo 8-9 (Mac)** nests ``Population`` elements; a gate is a ``PolygonGate`` holding one
  shape: ``PolyRect`` (a rectangle drawn as 4 vertices: quadrants too), ``Polygon``, ``Range``
  (1-D, bifurcate halves too) or ``Ellipse`` (end points of two conjugate diameters, in data
  units; see below); a
  ``BooleanGate`` combines ``GatePaths`` by a ``specification`` such as ``G1 & ! G0``.

Neither version stores channel scales: the display scale of a channel comes from the keywords
the workspace saved for the sample (``$PnE`` log amplification: log over its decades, as FlowJo
shows FCS 2.0 log data; otherwise linear over ``$PnR / $PnG``). Polygons and ellipses are
evaluated on that scale. FlowJo 7 rectangles, ranges and bifurcates hold ``min < v <= max``
(an event exactly on a bound belongs below it; FlowJo 7.6.5's counts on gates whose bounds fall
on a channel of the 9-bit data show it), where Gating-ML and FlowJo 10 hold ``min <= v < max``.
FlowJo 8-9 save rectangle and range bounds as float32 data values, mostly on a channel of the
data (a channel ``c`` shows at ``c / $PnR`` on the keyword scale); such a bound is moved half a
channel down so that ``min <= channel < max`` holds whatever way float32 rounded the value.
Evidence (FlowJo 9.7.2 tutorial): comparing the float32 bound with the float64 channel value
put events on a bound channel on either side by rounding (``CD8 T/M2`` on C08: 11 events at
Fluor channel 204, 571 vs FlowJo's 582); with the bound on the channel 13 of the 14 counts that
change move to FlowJo's (8 to the exact count, one moves by 1 event away), the 64 exact
populations stay exact, and the populations within 0.5 % go from 93 to 95 of 100.
Compensation matrices of FlowJo 8-9 workspaces are not read (``Comp-`` dimensions then fail
with ``IML-FCS-011``).

FlowJo 8-9 draw gates on a 256 x 256 grid over the display scale (the saved polygon vertices
and ellipse points are integers on it within float32 rounding, < 1e-5 cell) and evaluate
polygons and ellipses on its cells, each event taking the cell that holds it:

- a **polygon** holds the cells whose centre lies inside it; a centre on an edge is held when
  the polygon lies to its left (a crossing at the centre counts). The parser saves the outline
  of those cells (a staircase polygon, grid lines on a data channel moved half a channel down
  as for rectangles), so the ordinary even-odd test of the exact event values gives FlowJo's
  membership. Evidence (FlowJo 9.7.2 tutorial, 9-bit data: a grid cell is 2 channels; 88
  polygon-based populations): against the exact saved outline 86 were within 0.5 % and 34
  exact (219 events off in total; ``Monocytes`` 5-15 events below FlowJo in all 4 files, C01
  -0.62 % and its child ``Mono`` -1.22 %); with cell centres all 88 are within, 46 exact (79
  events), and with the tie rule 56 exact (59 events, at most 5 off, C01 ``Monocytes`` and
  ``Mono`` exact); testing centres on an edge as belonging to the right gives 46. Events moved
  to their channel's centre (``(c + 0.5) / $PnR``: 37 exact, 127 events), uniformly dithered
  within their channel (the same on average) or at the grid cell's corner (88 of 100
  populations within) do worse. The rectangle rule above is the same picture on the
  channel grid: an event at the centre of its channel compared with bounds on channels.
- an **ellipse** holds the cells that lie wholly inside it (``EllipsoidGate.whole_bins = 256``),
  so cells the outline crosses are left out. Evidence (2 ellipses x 4 files): the four saved
  points are exact grid integers (e.g. ``(75, 71) (14, 15) (68, 17) (20, 70)``); read as an
  exact ellipse through them the counts are 1.5-3.9 % above FlowJo's (mean +3.0 %), with cell
  centres as for polygons +1.2 to +3.2 %, with events dithered within their channel +1.3 to
  +3.3 %; other outlines (perpendicular axes, centre of the first pair, inscribed 8- to
  128-gons; 8- to 64-gons with or without vertices rounded to the grid, tested at cell
  centres) stay 1-4 % off or scatter both ways (12-gons: 4 of 8 within), and whole cells of a 128-, 512- or
  1024-cell grid are 0.6-4.5 % off. Whole 256-grid cells give -0.70 to +0.64 % (mean
  +0.14 %; 5 of 8 within 0.5 %, and 9 of the 12 ellipse-based populations).
  A cell corner exactly on the outline is inside (the ellipse is closed). The saved points are
  read back onto the grid (within 1e-4 cell) and the test is exact there, so such a tie does
  not depend on how float32 rounded the points: the tutorial's ``inverted ellipse`` passes
  through 8 grid corners (its 4 points and their mirror images through the centre), which the
  rounding had put outside (C02 -0.70 %); held inside, the 8 ellipses are -0.41 to +0.64 % (6
  of 8 within 0.5 %, 10 of the 12 ellipse-based populations); left outside exactly, 5 of 8.
  Points on the grid are integers, and the ellipse is centred on their integer midpoint (the
  floor of their mean, as integer arithmetic gives it): the tutorial's CD4/CD8 ellipse has its
  mean at cell (44.25, 43.25); centred on (44, 43) its 4 counts go from +1..+12 to -3..+7 events
  and all 8 ellipses are within 0.5 % (-0.41 to +0.34 %). Chosen after those counts were known
  and resting on that one off-grid ellipse (docs/gating.md weighs it).

FlowJo 7 gates are evaluated on the exact outline at the events' channel values: its polygons
then reproduce FlowJo 7.6.5 within 2 events (77 of 92 polygon-based populations exact). Its
ellipses are rebuilt from their four edge points (the saved foci are truncated derivatives) on
a grid that draws channels 0 .. R-1 over cells 0 .. 255 (``flowjo._v7_ellipse``): all 8 tutorial
ellipse counts within 0.5 % (-0.09 to +0.41 %), where the foci on a 1/256 grid left the two
outside ellipses at -0.73 and -0.67 %; the 256-grid cell rules above, channel centres and
dithering do not help them (measured in docs/gating.md).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from immunolab.flow.compensation import SpilloverMatrix
from immunolab.flow.flowjo import (
    WorkspaceSample,
    _Bad,
    _Comp,
    _Context,
    _line,
    _parse_sample,
    _resolve_booleans,
)
from immunolab.flow.gates import (
    UNCOMPENSATED,
    BooleanGate,
    Dimension,
    EllipsoidGate,
    Gate,
    PolygonGate,
    RectangleGate,
    points_in_polygon,
)
from immunolab.flow.strategy import GateNode, Strategy, child_path
from immunolab.flow.transforms import CalibrationTable, Linear, Log, Transform

__all__ = ["keyword_transforms", "parse_v7", "parse_v9"]

_V15 = "http://www.isac-net.org/std/Gating-ML/v1.5/"
_V20 = "http://www.isac-net.org/std/Gating-ML/v2.0/"


def keyword_transforms(keywords: dict[str, str]) -> dict[str, Transform]:
    """Return each channel's ($PnN) display scale from its FCS keywords (see the module doc)."""
    out: dict[str, Transform] = {}
    n = 1
    while f"$P{n}N" in keywords:
        name = keywords[f"$P{n}N"].strip()
        try:
            rng = float(keywords.get(f"$P{n}R", "0") or 0)
            gain = float(keywords.get(f"$P{n}G", "1") or 1) or 1.0
            parts = [float(p) for p in keywords.get(f"$P{n}E", "0,0").split(",")]
        except ValueError:
            raise _Bad(f"keywords of channel {name!r} ($P{n}R/$P{n}G/$P{n}E) are not numbers") from None
        decades, log_zero = [*parts, 0.0, 0.0][:2]
        if decades > 0:
            out[name] = Log(t=(log_zero or 1.0) * 10.0**decades, m=decades)
        elif rng > 0:
            out[name] = Linear(t=rng / gain)
        n += 1
    return out


def _keywords(sample_el: Any) -> dict[str, str]:
    holder = sample_el.find("Keywords")
    return {str(k.get("name")): str(k.get("value") or "") for k in (holder if holder is not None else ()) if k.get("name")}


# --- FlowJo 7 ---------------------------------------------------------------------------------


def _v7_matrix(root: Any) -> _Comp | None:
    """Return the first compensation matrix of a FlowJo 7 workspace, or None."""
    ns = _V15 + "compensation"
    el = next(root.iter(f"{{{ns}}}spilloverMatrix"), None)
    if el is None:
        return None
    rows: dict[str, dict[str, float]] = {}
    for spill in el.findall(f"{{{ns}}}spillover"):
        row = str(spill.get(f"{{{ns}}}parameter"))
        rows[row] = {str(c.get(f"{{{ns}}}parameter")): float(c.get(f"{{{ns}}}value") or 0)
                     for c in spill.findall(f"{{{ns}}}coefficient")}
    names = list(rows)
    try:
        values = np.array([[rows[r][c] for c in names] for r in names], dtype=np.float64)
    except KeyError as exc:
        raise _Bad(f"compensation matrix lacks a coefficient for {exc.args[0]!r}{_line(el)}") from None
    matrix_id = f"flowjo:{el.get(f'{{{ns}}}id') or 'matrix'}"
    return _Comp(matrix_id, SpilloverMatrix(tuple(names), values, source=matrix_id), el.get("prefix") or "", el.get("suffix") or "")


def parse_v7(data: bytes, name: str, label: str) -> list[WorkspaceSample]:
    """Return the samples of a FlowJo 7 (PC) workspace given as bytes."""
    from lxml import etree

    mapped = data.replace(_V15.encode() + b"gating", _V20.encode() + b"gating")
    mapped = mapped.replace(_V15.encode() + b"transformations", _V20.encode() + b"transformations")
    mapped = mapped.replace(_V15.encode() + b"datatypes", _V20.encode() + b"datatypes")
    root = etree.fromstring(mapped, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    comp = _v7_matrix(root)
    samples = []
    for el in root.iter("Sample"):
        if el.getparent().tag != "SampleList":
            continue
        keywords = _keywords(el)
        samples.append(_parse_sample(el, name, label, transforms=keyword_transforms(keywords),
                                     comp=comp, legacy=True, v7_channel_ranges=_channel_ranges(keywords)))
    return samples


# --- FlowJo 8-9 (Mac) -------------------------------------------------------------------------


def _vertices(shape: Any) -> np.ndarray:
    poly = shape.find("Polygon")
    points = [(float(v.get("x")), float(v.get("y") or "nan")) for v in (poly.findall("Vertex") if poly is not None else ())]
    if not points:
        raise _Bad(f"gate {shape.get('name')!r} has no vertices{_line(shape)}")
    return np.array(points, dtype=np.float64)


#: FlowJo 8-9 evaluate an ellipse on whole cells of its 256 x 256 display grid (module doc)
V9_ELLIPSE_GRID = 256
#: a saved ellipse point closer than this (in cells) to a grid line lies on it: the float32 error
#: of the tutorial's points is < 1e-5 cell
_ON_GRID = 1e-4


def _ellipse_from_axes(name: str, dims: tuple[Any, Any], pts: np.ndarray, *, grid: bool = True) -> EllipsoidGate:
    """Return the ellipse with conjugate diameters between points 0-1 and 2-3 (display units).

    It is evaluated on whole cells of FlowJo's display grid (:data:`V9_ELLIPSE_GRID`).

    With semi-diameters ``p = (v0 - v1) / 2`` and ``q = (v2 - v3) / 2`` the ellipse is
    ``c + p cos t + q sin t``: inside means ``|M^-1 (v - c)| <= 1`` with ``M = [p q]``, i.e. a
    covariance of ``M M'`` at squared distance 1 (the axes' end points when ``p`` and ``q`` are
    perpendicular).
    """
    if pts.shape != (4, 2):
        raise ValueError(f"ellipse {name!r} needs 4 points")
    cells = pts * V9_ELLIPSE_GRID
    on_grid = np.abs(cells - np.rint(cells)) < _ON_GRID
    pts = np.where(on_grid, np.rint(cells) / V9_ELLIPSE_GRID, pts)  # float32 values back on the grid (module doc)
    centre = pts.mean(axis=0)
    if on_grid.all():  # integer points: the centre is their integer midpoint (module doc)
        centre = np.floor(np.rint(cells).mean(axis=0)) / V9_ELLIPSE_GRID
    m = np.column_stack([(pts[0] - pts[1]) / 2, (pts[2] - pts[3]) / 2])
    if abs(float(np.linalg.det(m))) < 1e-12:
        raise ValueError(f"ellipse {name!r} has collinear diameters")
    cov = m @ m.T
    return EllipsoidGate(name, dims, (float(centre[0]), float(centre[1])), tuple(tuple(float(v) for v in r) for r in cov), 1.0,
                         whole_bins=V9_ELLIPSE_GRID if grid else 0)


#: FlowJo 8-9 draw and evaluate polygons on a 256 x 256 grid over the display scale (module doc)
V9_GRID = 256
#: a cell centre on a polygon's edge is tested this far (in cells) left of it (module doc); larger
#: than the float32 error of saved vertices on the grid (< 1e-5 cells), far below a cell
_TIE = 1e-4


def _grid_cells(vertices: np.ndarray, n: int) -> tuple[np.ndarray, int, int]:
    """Return which cells of the ``n``-grid have their centre inside the polygon, and the first cell's (x, y).

    The cells span the polygon's bounding box and one more on every side, cut to one cell around
    the grid (events lie on it).
    A centre on an edge is held when the polygon lies left of it (a crossing at the centre
    counts): the centre is tested :data:`_TIE` to the left.
    """
    cells = vertices * n
    # events lie on the grid (channel c of R shows at c / R in [0, 1)): cells more than one cell
    # beyond it hold none, so a vertex far off the axis does not grow the grid (nor the parse time)
    x0, y0 = (max(int(v) - 1, -1) for v in np.floor(cells.min(axis=0)))
    x1, y1 = (min(int(v) + 1, n + 1) for v in np.ceil(cells.max(axis=0)))
    cx, cy = np.meshgrid(np.arange(x0, x1) + 0.5 - _TIE, np.arange(y0, y1) + 0.5)
    inside = points_in_polygon(cx.ravel(), cy.ravel(), cells, grid=False).reshape(cx.shape)
    return inside, x0, y0


def _cell_edges(inside: np.ndarray) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """Return the edges between held and other cells, corner to corner with the held cell on the left."""
    pad = np.pad(inside, 1)
    out: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for j, i in zip(*np.nonzero(inside), strict=True):
        j, i = int(j), int(i)
        for free, start, end in ((pad[j, i + 1], (i, j), (i + 1, j)), (pad[j + 1, i + 2], (i + 1, j), (i + 1, j + 1)),
                                 (pad[j + 2, i + 1], (i + 1, j + 1), (i, j + 1)), (pad[j + 1, i], (i, j + 1), (i, j))):
            if not free:
                out.setdefault(start, []).append(end)
    return out


def _rings(edges: dict[tuple[int, int], list[tuple[int, int]]]) -> list[list[tuple[int, int]]]:
    """Return the closed rings the edges form, without corners where the ring runs straight on."""
    rings = []
    while edges:
        start = next(iter(edges))
        ring, corner = [start], start
        while True:
            ends = edges[corner]
            corner = ends.pop()
            if not ends:
                del edges[ring[-1]]
            if corner == start:
                break
            ring.append(corner)
        turns = [b for a, b, c in zip(ring[-1:] + ring[:-1], ring, ring[1:] + ring[:1], strict=True)
                 if not (a[0] == b[0] == c[0] or a[1] == b[1] == c[1])]
        rings.append(turns)
    return rings


def _grid_outline(vertices: np.ndarray, n: int) -> np.ndarray:
    """Return the outline of the ``n``-grid cells whose centre the polygon holds (display units).

    Several rings (separate islands, holes) become one ring joined by axis-parallel bridges
    walked out and back: under the even-odd rule a bridge crosses a ray twice or never, so the
    outline holds exactly the cells. A polygon holding no cell gives such a bridge alone (one
    cell's corner out to the opposite corner and back), which holds nothing.
    """
    inside, x0, y0 = _grid_cells(vertices, n)
    rings = _rings(_cell_edges(inside)) or [[(0, 0), (1, 0), (1, 1), (1, 0)]]
    first = rings[0][0]
    joined = [*rings[0], first]
    for ring in rings[1:]:
        elbow = (ring[0][0], first[1])
        joined += [elbow, *ring, ring[0], elbow, first]
    dedup = [p for k, p in enumerate(joined) if p != joined[k - 1]]
    return (np.array(dedup, dtype=np.float64) + np.array([x0, y0])) / n


#: a FlowJo 8-9 bound closer than this (in channels) to a channel of the data lies on it
_ON_CHANNEL = 1e-4


def _channel_ranges(keywords: dict[str, str]) -> dict[str, float]:
    """Return each channel's ($PnN) ``$PnR``: on its keyword scale, channel ``c`` shows at ``c / $PnR``."""
    out: dict[str, float] = {}
    n = 1
    while f"$P{n}N" in keywords:
        try:
            rng = float(keywords.get(f"$P{n}R", "0") or 0)
        except ValueError:
            rng = 0.0
        if rng > 0:
            out[keywords[f"$P{n}N"].strip()] = rng
        n += 1
    return out


def _on_channels(shown: np.ndarray, dims: list[Dimension], xforms: list[Transform | None],
                 ranges: dict[str, float]) -> np.ndarray:
    """Return rectangle/range bounds with those on a data channel moved half a channel down.

    A bound on channel ``k`` then keeps ``k`` above it (``min <= channel < max``) whatever the
    rounding of the float32 value FlowJo saved against the value the keywords give the channel.
    """
    out = shown.copy()
    for k, (dim, xform) in enumerate(zip(dims, xforms, strict=True)):
        rng = ranges.get(dim.channel)
        if xform is None or rng is None or dim.compensation != "uncompensated" or dim.ratio is not None:
            continue
        chan = shown[:, k] * rng
        nearest = np.rint(chan)
        on = np.abs(chan - nearest) < _ON_CHANNEL
        out[on, k] = (nearest[on] - 0.5) / rng
    return out


def _v9_gate(pop_name: str, holder: Any, ctx: _Context, ranges: dict[str, float], *, grid: bool = True) -> Gate:
    shapes = [c for c in holder if isinstance(c.tag, str) and c.tag in ("PolyRect", "Polygon", "Range", "Ellipse", "Rect")]
    if len(shapes) != 1:
        kinds = [c.tag for c in holder if isinstance(c.tag, str) and c.tag not in ("ParameterNames", "GraphInformation")]
        raise _Bad(f"FlowJo 9 gate of population {pop_name!r} is not supported ({kinds}){_line(holder)}")
    shape = shapes[0]
    axes = [shape.get("xAxisName")] + ([shape.get("yAxisName")] if shape.tag != "Range" else [])
    if not all(axes):
        raise _Bad(f"gate of population {pop_name!r} lacks an axis name{_line(shape)}")
    resolved = [ctx.dimension(str(a)) for a in axes]
    dims = [d for d, _ in resolved]
    xforms = [x for _, x in resolved]
    pts = _vertices(shape)
    if shape.tag != "Range" and np.isnan(pts).any():
        raise _Bad(f"gate of population {pop_name!r} has a vertex without an x or y coordinate{_line(shape)}")
    shown = np.column_stack([pts[:, k] if x is None else x.apply(pts[:, k]) for k, x in enumerate(xforms)])
    if shape.tag in ("Range", "PolyRect", "Rect"):
        bounds = _on_channels(shown, dims, xforms, ranges)  # min <= channel < max (module doc)
        return RectangleGate(pop_name, tuple(dims), tuple(float(v) for v in bounds.min(axis=0)),
                             tuple(float(v) for v in bounds.max(axis=0)))
    if shape.tag == "Ellipse":
        return _ellipse_from_axes(pop_name, (dims[0], dims[1]), shown, grid=grid)
    finite = bool(np.isfinite(shown).all())  # a vertex at 0 on a log axis has no cell: keep the exact outline
    if grid and finite and all(x is not None and d.compensation == UNCOMPENSATED and d.ratio is None
                       for d, x in zip(dims, xforms, strict=True)):
        shown = _on_channels(_grid_outline(shown, V9_GRID), dims, xforms, ranges)  # cell centres (module doc)
    return PolygonGate(pop_name, (dims[0], dims[1]), tuple((float(x), float(y)) for x, y in shown))


_SPEC = re.compile(r"^\s*(!\s*)?G(\d+)\s*$")


def _v9_boolean(pop_name: str, el: Any, parent: str, known: set[str]) -> BooleanGate:
    spec = str(el.get("specification") or "")
    strings = [str(s.text or "").strip() for s in el.iter("String")]
    op = "or" if "|" in spec else "and"
    refs = []
    for term in re.split(r"[&|]", spec):
        m = _SPEC.match(term)
        if not m or int(m.group(2)) >= len(strings):
            raise _Bad(f"boolean gate {pop_name!r} has a specification {spec!r} that cannot be read{_line(el)}")
        rel = strings[int(m.group(2))]
        candidates = ["/" + rel.strip("/"), child_path(parent, rel.strip("/"))]
        path = next((c for c in candidates if c in known), None)
        if path is None:
            raise _Bad(f"boolean gate {pop_name!r} depends on unknown population {rel!r}{_line(el)}")
        refs.append((path, m.group(1) is not None))
    if len(refs) == 1 and refs[0][1]:
        return BooleanGate(pop_name, "not", ((refs[0][0], False),))
    return BooleanGate(pop_name, op, tuple(refs))


def _v9_walk(el: Any, parent: str, ctx: _Context, found: list[tuple[str, str, Any]], counts: dict[str, int]) -> None:
    for pop in el.findall("Population"):
        name = (pop.get("nodeName") or pop.get("name") or "").strip()  # FlowJo 9.2 and earlier: name
        if not name or "/" in name:
            raise _Bad(f"population name {name!r} is empty or holds '/'{_line(pop)}")
        path = child_path(parent, name)
        found.append((parent, name, pop))
        if (pop.get("count") or "").isdigit():
            counts[path] = int(pop.get("count") or 0)
        _v9_walk(pop, path, ctx, found, counts)


def _v9_tables(root: Any) -> list[tuple[str, tuple[float, ...]]]:
    """Return the ``CalibrationTables`` of a FlowJo 8-9.2 workspace in order: (name, data value per channel 0..N).

    In order because a ``Parameter``'s ``calibrationIndex`` counts tables by position (1-based).
    """
    out: list[tuple[str, tuple[float, ...]]] = []
    holder = root.find("CalibrationTables")
    for table in holder if holder is not None else ():
        if not isinstance(table.tag, str):
            continue
        name = str(table.get("name") or f"table {len(out) + 1}")
        try:
            pairs = np.array([float(v) for v in str(table.text or "").replace("\n", ",").split(",") if v.strip()])
        except ValueError:
            raise _Bad(f"calibration table {name!r} holds a value that is not a number{_line(table)}") from None
        if pairs.size < 4 or pairs.size % 2 or not np.array_equal(pairs[0::2], np.arange(pairs.size // 2)):
            raise _Bad(f"calibration table {name!r} is not a list of channel, value pairs 0..N{_line(table)}")
        values = pairs[1::2]
        flat = np.flatnonzero(~(np.diff(values) > 0))
        if flat.size:
            raise _Bad(f"calibration table {name!r} does not increase at channel {int(flat[0]) + 1} (a display "
                       f"scale must map every data value to one channel){_line(table)}")
        out.append((name, tuple(float(v) for v in values)))
    return out


def _v9_matrices(root: Any) -> list[tuple[str, _Comp]]:
    """Return the ``CompensationMatrices`` of a FlowJo 8-9.2 workspace in order, as (name, matrix)."""
    out: list[tuple[str, _Comp]] = []
    holder = root.find("CompensationMatrices")
    for el in holder.findall("CompensationMatrix") if holder is not None else ():
        rows = {str(ch.get("name")): {str(v.get("name")): float(v.get("value") or 0) for v in ch.findall("ChannelValue")}
                for ch in el.findall("Channel")}
        names = list(rows)
        try:
            values = np.array([[rows[r][c] for c in names] for r in names], dtype=np.float64)
        except (KeyError, ValueError) as exc:
            raise _Bad(f"compensation matrix {el.get('name')!r} lacks a coefficient for {exc.args[0]!r}{_line(el)}") from None
        matrix_name = str(el.get("name") or f"matrix {len(out) + 1}")
        matrix_id = f"flowjo:{matrix_name}"
        out.append((matrix_name, _Comp(matrix_id, SpilloverMatrix(tuple(names), values, source=matrix_id),
                                       el.get("prefix") or "", el.get("suffix") or "")))
    return out


def _v9_scales(sample_el: Any, keywords: dict[str, str], tables: list[tuple[str, tuple[float, ...]]],
               comp: tuple[str, _Comp] | None, *, float_data: bool) -> dict[str, Transform]:
    """Return the display scale of every channel of a FlowJo 8-9 sample (module doc).

    Integer data: from the keywords. Float data (``$DATATYPE`` F or D; from the sample's
    ``Parameter`` elements): a channel with a ``calibrationIndex`` shows on that calibration table (1-based),
    a compensated channel on the table named after its matrix and prefixed name, another log
    channel over its ``decades`` up to ``highValue``.
    """
    out = keyword_transforms(keywords)
    if not float_data:
        return out  # integer data shows on its keyword scale (the tutorial's 9-bit files); Parameter is not read
    by_name = dict(tables)
    for par in sample_el.findall("Parameter"):
        channel = str(par.get("name") or "").strip()
        index = str(par.get("calibrationIndex") or "")
        if index.isdigit() and 1 <= int(index) <= len(tables):
            table = tables[int(index) - 1][1]
            out[channel] = CalibrationTable(table, len(table) - 1)
        elif par.get("log") == "1":
            try:
                top, decades = float(par.get("highValue") or 0), float(par.get("decades") or 0)
            except ValueError:
                raise _Bad(f"parameter {channel!r} has a highValue or decades that is not a number{_line(par)}") from None
            if top > 0 and decades > 0:
                out[channel] = Log(t=top, m=decades)
    if comp is not None:
        matrix_name, matrix = comp
        for channel in matrix.matrix.channels:
            shown = f"{matrix.prefix}{channel}{matrix.suffix}"
            named = by_name.get(f"{matrix_name} {shown}")
            if named is not None:
                out[shown] = CalibrationTable(named, len(named) - 1)
    return out


def _v9_sample(sample_el: Any, name: str, label: str, tables: list[tuple[str, tuple[float, ...]]] | None = None,
               matrices: list[tuple[str, _Comp]] | None = None) -> WorkspaceSample:
    node = sample_el.find("SampleNode")
    if node is None:
        raise _Bad(f"sample lacks a SampleNode{_line(sample_el)}")
    keywords = _keywords(sample_el)
    comp: tuple[str, _Comp] | None = None
    comp_id = str(sample_el.get("compensationID") or "")
    if comp_id.isdigit() and int(comp_id) > 0 and matrices:
        if int(comp_id) > len(matrices):
            raise _Bad(f"sample names compensation matrix {comp_id}, the workspace holds {len(matrices)}{_line(sample_el)}")
        comp = matrices[int(comp_id) - 1]
    float_data = keywords.get("$DATATYPE", "I").strip().upper() in ("F", "D")
    ctx = _Context(_v9_scales(sample_el, keywords, tables or [], comp, float_data=float_data),
                   comp[1] if comp else None, lower_half_owns_divider=True)
    ranges = {} if float_data else _channel_ranges(keywords)  # float data has no channels to snap bounds to
    found: list[tuple[str, str, Any]] = []
    counts: dict[str, int] = {}
    _v9_walk(node, "/", ctx, found, counts)
    known = {child_path(p, n) for p, n, _ in found}
    nodes = []
    for parent, pop_name, pop in found:
        boolean = pop.find("BooleanGate")
        if boolean is not None:
            nodes.append(GateNode(parent, _v9_boolean(pop_name, boolean, parent, known)))
            continue
        holder = pop.find("PolygonGate")
        if holder is None:
            raise _Bad(f"population {pop_name!r} has no gate{_line(pop)}")
        nodes.append(GateNode(parent, _v9_gate(pop_name, holder, ctx, ranges, grid=not float_data)))
    ordered = _resolve_booleans(nodes, [])
    strategy_matrices = {comp[1].matrix_id: comp[1].matrix} if comp is not None else {}
    strategy = Strategy(name, tuple(ordered), ctx.used_transforms, strategy_matrices, label=label)
    file_name = str(node.get("nodeName") or "").strip()
    if not file_name:  # FlowJo 9.2 and earlier: the node shows the name without .fcs; $FIL holds the file's
        file_name = (keywords.get("$FIL") or str(node.get("name") or "")).strip()
    return WorkspaceSample(str(sample_el.get("sampleID") or node.get("sampleID") or ""), file_name, strategy, counts)


def parse_v9(root: Any, name: str, label: str) -> list[WorkspaceSample]:
    """Return the samples of a FlowJo 8-9 (Mac) workspace parsed with lxml.

    FlowJo 9.3 and later list them under ``Samples``; 9.2 and earlier under ``SampleList``, with
    the compensation matrices and display tables of float data at workspace level.
    """
    holder = root.find("Samples")
    if holder is None:
        holder = root.find("SampleList")
    tables, matrices = _v9_tables(root), _v9_matrices(root)
    return [_v9_sample(el, name, label, tables, matrices) for el in (holder if holder is not None else ())
            if el.tag == "Sample"]
