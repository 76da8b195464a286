"""Builders of Gating-ML 2.0 documents and synthetic FCS samples for the gating tests (no tests here)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from immunolab.fcs.writer import write_fcs

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating" '
    'xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations" '
    'xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
)

#: A dimension spec: (channel, compensation-ref, transformation-ref or None).
Dim = tuple[str, str, str | None]


def document(*parts: str) -> str:
    """Return a Gating-ML document holding ``parts`` (transforms, matrices, gates)."""
    return HEAD + "\n".join(parts) + "\n</gating:Gating-ML>\n"


def transform(tid: str, kind: str, **params: float) -> str:
    """Return a transformation element, e.g. ``transform("L", "logicle", T=262144, W=0.5, M=4.5, A=0)``."""
    attrs = " ".join(f'transforms:{k}="{v}"' for k, v in params.items())
    return f'<transforms:transformation transforms:id="{tid}"><transforms:{kind} {attrs}/></transforms:transformation>'


def ratio(tid: str, numerator: str, denominator: str, a: float = 1.0, b: float = 0.0, c: float = 0.0) -> str:
    """Return an fratio transformation of two channels."""
    return (
        f'<transforms:transformation transforms:id="{tid}">'
        f'<transforms:fratio transforms:A="{a}" transforms:B="{b}" transforms:C="{c}">'
        f'<data-type:fcs-dimension data-type:name="{numerator}"/>'
        f'<data-type:fcs-dimension data-type:name="{denominator}"/>'
        "</transforms:fratio></transforms:transformation>"
    )


def spectrum_matrix(mid: str, fluorochromes: Sequence[str], detectors: Sequence[str], matrix: np.ndarray) -> str:
    """Return a spectrumMatrix element (rows = fluorochromes, columns = detectors)."""
    fl = "".join(f'<data-type:fcs-dimension data-type:name="{f}"/>' for f in fluorochromes)
    de = "".join(f'<data-type:fcs-dimension data-type:name="{d}"/>' for d in detectors)
    rows = "".join(
        "<transforms:spectrum>"
        + "".join(f'<transforms:coefficient transforms:value="{v!r}"/>' for v in row)
        + "</transforms:spectrum>"
        for row in np.asarray(matrix, dtype=float).tolist()
    )
    return (
        f'<transforms:spectrumMatrix transforms:id="{mid}">'
        f"<transforms:fluorochromes>{fl}</transforms:fluorochromes>"
        f"<transforms:detectors>{de}</transforms:detectors>{rows}</transforms:spectrumMatrix>"
    )


def _parent(parent: str | None) -> str:
    return f' gating:parent_id="{parent}"' if parent else ""


def _dim_attrs(dim: Dim) -> str:
    _, comp, xform = dim
    out = f' gating:compensation-ref="{comp}"'
    if xform:
        out += f' gating:transformation-ref="{xform}"'
    return out


def _dim_body(channel: str) -> str:
    if channel.startswith("ratio:"):
        return f'<data-type:new-dimension data-type:transformation-ref="{channel[6:]}"/>'
    return f'<data-type:fcs-dimension data-type:name="{channel}"/>'


def rectangle(gid: str, dims: Sequence[tuple[Dim, float | None, float | None]], parent: str | None = None) -> str:
    """Return a RectangleGate; each entry is (dimension, min or None, max or None)."""
    body = ""
    for dim, lo, hi in dims:
        bounds = (f' gating:min="{lo!r}"' if lo is not None else "") + (f' gating:max="{hi!r}"' if hi is not None else "")
        body += f"<gating:dimension{_dim_attrs(dim)}{bounds}>{_dim_body(dim[0])}</gating:dimension>"
    return f'<gating:RectangleGate gating:id="{gid}"{_parent(parent)}>{body}</gating:RectangleGate>'


def polygon(gid: str, dims: tuple[Dim, Dim], vertices: Sequence[tuple[float, float]], parent: str | None = None) -> str:
    """Return a PolygonGate."""
    body = "".join(f"<gating:dimension{_dim_attrs(d)}>{_dim_body(d[0])}</gating:dimension>" for d in dims)
    body += "".join(
        f'<gating:vertex><gating:coordinate data-type:value="{x!r}"/><gating:coordinate data-type:value="{y!r}"/></gating:vertex>'
        for x, y in vertices
    )
    return f'<gating:PolygonGate gating:id="{gid}"{_parent(parent)}>{body}</gating:PolygonGate>'


def ellipsoid(
    gid: str, dims: Sequence[Dim], mean: Sequence[float], cov: Sequence[Sequence[float]], d2: float, parent: str | None = None
) -> str:
    """Return an EllipsoidGate."""
    body = "".join(f"<gating:dimension{_dim_attrs(d)}>{_dim_body(d[0])}</gating:dimension>" for d in dims)
    body += "<gating:mean>" + "".join(f'<gating:coordinate data-type:value="{v!r}"/>' for v in mean) + "</gating:mean>"
    body += "<gating:covarianceMatrix>" + "".join(
        "<gating:row>" + "".join(f'<gating:entry data-type:value="{v!r}"/>' for v in row) + "</gating:row>" for row in cov
    ) + "</gating:covarianceMatrix>"
    body += f'<gating:distanceSquare data-type:value="{d2!r}"/>'
    return f'<gating:EllipsoidGate gating:id="{gid}"{_parent(parent)}>{body}</gating:EllipsoidGate>'


def quadrant(
    gid: str,
    dividers: Sequence[tuple[str, Dim, Sequence[float]]],
    quadrants: Sequence[tuple[str, Sequence[tuple[str, float]]]],
    parent: str | None = None,
) -> str:
    """Return a QuadrantGate: dividers (id, dimension, values), quadrants (id, [(divider, location)])."""
    body = ""
    for did, dim, values in dividers:
        vals = "".join(f"<gating:value>{v!r}</gating:value>" for v in values)
        body += f'<gating:divider gating:id="{did}"{_dim_attrs(dim)}>{_dim_body(dim[0])}{vals}</gating:divider>'
    for qid, positions in quadrants:
        pos = "".join(f'<gating:position gating:divider_ref="{d}" gating:location="{loc!r}"/>' for d, loc in positions)
        body += f'<gating:Quadrant gating:id="{qid}">{pos}</gating:Quadrant>'
    return f'<gating:QuadrantGate gating:id="{gid}"{_parent(parent)}>{body}</gating:QuadrantGate>'


def boolean(gid: str, op: str, refs: Sequence[tuple[str, bool]], parent: str | None = None) -> str:
    """Return a BooleanGate over gate ids (``(ref, use_as_complement)``)."""
    body = "".join(
        f'<gating:gateReference gating:ref="{r}"' + (' gating:use-as-complement="true"' if c else "") + "/>" for r, c in refs
    )
    return f'<gating:BooleanGate gating:id="{gid}"{_parent(parent)}><gating:{op}>{body}</gating:{op}></gating:BooleanGate>'


CHANNELS = ["FSC-A", "SSC-A", "FITC-A", "PE-A", "APC-A", "PerCP-A", "Time"]
FLUORO = ["FITC-A", "PE-A", "APC-A", "PerCP-A"]
SPILL = np.array(
    [
        [1.0, 0.22, 0.01, 0.03],
        [0.04, 1.0, 0.02, 0.15],
        [0.0, 0.01, 1.0, 0.08],
        [0.0, 0.02, 0.12, 1.0],
    ]
)


def synthetic_events(n: int = 50_000, seed: int = 7) -> np.ndarray:
    """Return n x 7 raw events: scatter clusters, four spilled fluorescence channels, time."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 4, n)
    centres = np.array([[60e3, 30e3], [110e3, 70e3], [160e3, 140e3], [40e3, 15e3]])
    scatter = centres[k] + rng.normal(0, 1, (n, 2)) * np.array([15e3, 12e3])
    pos = rng.random((n, 4)) < np.array([0.4, 0.3, 0.5, 0.2])
    true = np.where(pos, rng.lognormal(8.5, 0.9, (n, 4)), rng.normal(0, 150, (n, 4)))
    observed = true @ SPILL + rng.normal(0, 30, (n, 4))
    time = np.sort(rng.uniform(0, 1000, n))[:, None]
    return np.hstack([scatter, observed, time]).astype(np.float32).astype(np.float64)


def spill_keyword(channels: Sequence[str] = tuple(FLUORO), matrix: np.ndarray = SPILL) -> str:
    """Return the $SPILLOVER text of ``matrix``."""
    vals = ",".join(repr(float(v)) for v in np.asarray(matrix).ravel())
    return f"{len(channels)},{','.join(channels)},{vals}"


def write_sample(path: Path, events: np.ndarray, *, spill: bool = True) -> Path:
    """Write ``events`` (float32) as an FCS 3.1 file with $SPILLOVER when ``spill``."""
    keywords = {"$SPILLOVER": spill_keyword()} if spill else {}
    return write_fcs(path, events.astype(np.float32), CHANNELS, pnr=[262144.0] * len(CHANNELS), keywords=keywords)
