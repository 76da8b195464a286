"""The gating case of issue 19: a 12-channel tube, 1,000,000 events, 7 Gating-ML 2.0 gates.

The file is a simulated TBNK-Treg tube of the demo's event model (FSC-A, SSC-A, nine spilled
fluorescence detectors, Time; float32, FCS 3.1 with ``$SPILLOVER``). The strategy compensates
with the file's matrix (``compensation-ref="FCS"``), shows scatter on ``flin`` and fluorescence on
``logicle`` and holds rectangles and polygons::

    Cells (rect FSC/SSC) > Lymphocytes (polygon FSC/SSC) > CD45pos (range) > CD3pos (range)
      > CD4pos (polygon CD4 x CD8) > Treg (polygon CD25 x CD127)
      > CD8pos (polygon CD4 x CD8)

Used by the in-process and the whole-process gating benchmarks (FlowKit is the anchor) and by
the 10,000,000-event scaling run; files are written once into the benchmark work folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_EVENTS = 1_000_000
LIN = ("Lin", "flin", {"T": 262144, "A": 0})
LOGICLE = ("Logicle", "logicle", {"T": 262144, "W": 0.5, "M": 4.5, "A": 0})
#: detectors ($PnN) of the markers the gates use (the demo panel's assignment)
CD45, CD3, CD4, CD8, CD25, CD127 = "PerCP-Cy5-5-A", "BV421-A", "APC-H7-A", "FITC-A", "PE-A", "APC-A"


def write_case_fcs(path: Path, n_events: int = N_EVENTS, *, seed: int = 19) -> Path:
    """Write (once) the case's FCS file of ``n_events`` events x 12 channels; return its path.

    Large files are simulated in slices of 1,000,000 events with consecutive seeds, so memory
    stays near one float32 copy of the matrix.
    """
    if path.exists():
        return path
    from immunolab.demo.flow_sim import (
        SampleSpec,
        channel_names,
        simulate_events,
        spillover_keyword,
    )
    from immunolab.demo.tubes import TYPICAL_PROPORTIONS
    from immunolab.fcs.writer import write_fcs

    pnn, pns = channel_names()
    keep = [i for i, name in enumerate(pnn) if name != "FSC-H"]
    out = np.empty((n_events, len(keep)), dtype=np.float32)
    step = 1_000_000
    for k, start in enumerate(range(0, n_events, step)):
        n = min(step, n_events - start)
        spec = SampleSpec.from_proportions(n, "PBMC", TYPICAL_PROPORTIONS)
        sample = simulate_events(spec, np.random.default_rng(seed + k))
        out[start : start + n] = sample.raw[:, keep]
    out[:, -1] = np.arange(n_events, dtype=np.float32) / max(n_events / 1000.0, 1.0)  # Time, 0-1000 s
    names = [pnn[i] for i in keep]
    labels = [pns[i] for i in keep]
    pnr = [262144.0] * (len(names) - 1) + [1024.0]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    write_fcs(tmp, out, names, pns=labels, pnr=pnr, keywords={"$CYT": "LSRFortessa", "$SPILLOVER": spillover_keyword()})
    tmp.replace(path)
    return path


def _dim(channel: str, comp: str, xform: str) -> str:
    return (f'<gating:dimension gating:compensation-ref="{comp}" gating:transformation-ref="{xform}">'
            f'<data-type:fcs-dimension data-type:name="{channel}"/></gating:dimension>')


def _transform(tid: str, kind: str, params: dict[str, float]) -> str:
    attrs = " ".join(f'transforms:{k}="{v}"' for k, v in params.items())
    return f'<transforms:transformation transforms:id="{tid}"><transforms:{kind} {attrs}/></transforms:transformation>'


def _rect(gid: str, parent: str | None, dims: list[tuple[str, str, str, float | None, float | None]]) -> str:
    body = ""
    for channel, comp, xform, lo, hi in dims:
        bounds = (f' gating:min="{lo}"' if lo is not None else "") + (f' gating:max="{hi}"' if hi is not None else "")
        body += _dim(channel, comp, xform).replace("<gating:dimension ", f"<gating:dimension{bounds} ", 1)
    parent_attr = f' gating:parent_id="{parent}"' if parent else ""
    return f'<gating:RectangleGate gating:id="{gid}"{parent_attr}>{body}</gating:RectangleGate>'


def _poly(gid: str, parent: str, x: tuple[str, str, str], y: tuple[str, str, str],
          vertices: list[tuple[float, float]]) -> str:
    body = _dim(*x) + _dim(*y) + "".join(
        f'<gating:vertex><gating:coordinate data-type:value="{a}"/><gating:coordinate data-type:value="{b}"/>'
        "</gating:vertex>" for a, b in vertices)
    return f'<gating:PolygonGate gating:id="{gid}" gating:parent_id="{parent}">{body}</gating:PolygonGate>'


def gatingml_document() -> str:
    """Return the case's Gating-ML 2.0 document (7 gates, FCS compensation, flin and logicle)."""
    fsc, ssc = ("FSC-A", "uncompensated", "Lin"), ("SSC-A", "uncompensated", "Lin")
    fl = {name: (name, "FCS", "Logicle") for name in (CD45, CD3, CD4, CD8, CD25, CD127)}
    parts = [
        _transform(*LIN),
        _transform(*LOGICLE),
        _rect("Cells", None, [(*fsc, 0.08, 0.95), (*ssc, 0.0, 0.9)]),
        _poly("Lymphocytes", "Cells", fsc, ssc,
              [(0.15, 0.03), (0.22, 0.025), (0.26, 0.05), (0.25, 0.085), (0.18, 0.09), (0.15, 0.06)]),
        _rect("CD45pos", "Lymphocytes", [(*fl[CD45], 0.45, None)]),
        _rect("CD3pos", "CD45pos", [(*fl[CD3], 0.45, None)]),
        _poly("CD4pos", "CD3pos", fl[CD4], fl[CD8], [(0.45, 0.0), (1.0, 0.0), (1.0, 0.42), (0.45, 0.42)]),
        _poly("CD8pos", "CD3pos", fl[CD4], fl[CD8], [(0.0, 0.45), (0.42, 0.45), (0.42, 1.0), (0.0, 1.0)]),
        _poly("Treg", "CD4pos", fl[CD25], fl[CD127],
              [(0.5, 0.0), (1.0, 0.0), (1.0, 0.4), (0.6, 0.45), (0.5, 0.3)]),
    ]
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating" '
            'xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations" '
            'xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n')
    return head + "\n".join(parts) + "\n</gating:Gating-ML>\n"


def write_case(folder: Path, n_events: int = N_EVENTS) -> tuple[Path, Path]:
    """Write (once) the case's FCS file and Gating-ML document into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    xml = folder / "case19.xml"
    doc = gatingml_document()
    if not xml.exists() or xml.read_text() != doc:
        xml.write_text(doc)
    suffix = f"{n_events // 1_000_000}M" if n_events % 1_000_000 == 0 else str(n_events)
    return write_case_fcs(folder / f"case19_{suffix}.fcs", n_events), xml
