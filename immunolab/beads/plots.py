"""Draw the QC figures of a bead-array run: per-well classification and per-analyte standard curves.

Pure functions returning matplotlib Figures (non-GUI Agg backend; matplotlib is imported inside
them) and :func:`figure_png` for PNG bytes. Intensities use an ``asinh`` axis whose linear part
is the data's own low end, so debris near zero and beads at 10^5 share one readable axis.
Colours follow the kit's bead order (tab20); events outside every population are light grey.
Labels name beads and analytes only: no file name, sample name or keyword reaches a figure.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from immunolab.beads.classify import BeadWellResult
from immunolab.beads.kits import BeadKit
from immunolab.plotting import png_bytes, pyplot

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from immunolab.cytokine.assemble import PlateAnalysis

__all__ = ["figure_png", "standard_curve_figure", "well_classification_figure"]

_GREY = "#c8c8c8"


def _new_figure(**kw: Any) -> Figure:
    """Return a Figure not registered with pyplot (the report holds many at once; each is freed
    with its last reference, so pyplot's open-figure limit and its warning never apply)."""
    pyplot()  # the Agg backend, as for every figure of the package
    from matplotlib.figure import Figure

    return Figure(**kw)


def _asinh_axis(ax: Axes, axis: str, values: np.ndarray) -> None:
    pos = values[np.isfinite(values) & (values > 0)]
    width = float(np.quantile(pos, 0.02)) if pos.size else 1.0
    if axis == "x":
        ax.set_xscale("asinh", linear_width=max(width, 1e-9))
    else:
        ax.set_yscale("asinh", linear_width=max(width, 1e-9))


def _scatter_panel(ax: Axes, result: BeadWellResult, kit: BeadKit) -> None:
    ev = result.events
    assert ev is not None
    grey = ev.group < 0
    ax.scatter(ev.fsc[grey], ev.ssc[grey], s=2, c=_GREY, linewidths=0, rasterized=True)
    colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7"]
    for gi, g in enumerate(kit.groups):
        m = ev.group == gi
        ax.scatter(ev.fsc[m], ev.ssc[m], s=2, c=colours[gi % len(colours)], linewidths=0, rasterized=True,
                   label=f"{g.name} ({int(m.sum())})")
    _asinh_axis(ax, "x", ev.fsc)
    _asinh_axis(ax, "y", ev.ssc)
    ax.set_xlabel(f"{result.channels['fsc']} (forward scatter)")
    ax.set_ylabel(f"{result.channels['ssc']} (side scatter)")
    ax.set_title("Bead groups")
    ax.legend(loc="upper left", fontsize=7, markerscale=4, frameon=False)


def _group_panel(ax: Axes, result: BeadWellResult, kit: BeadKit, gi: int, first: int) -> None:
    import matplotlib as mpl

    ev = result.events
    assert ev is not None
    group = kit.groups[gi]
    cmap = mpl.colormaps["tab20"]
    two = ev.classifiers.shape[1] == 2
    xs = ev.classifiers[:, 0]
    ys = ev.classifiers[:, 1] if two else ev.reporter
    in_group = ev.group == gi
    rest = in_group & (ev.bead < 0)
    ax.scatter(xs[rest], ys[rest], s=2, c=_GREY, linewidths=0, rasterized=True)
    missing = []
    for bi, bead in enumerate(group.beads):
        m = ev.bead == first + bi
        if not m.any():
            missing.append(bead.bead_id)
            continue
        colour = cmap((first + bi) % 20)
        ax.scatter(xs[m], ys[m], s=3, color=colour, linewidths=0, rasterized=True)
        above = bi % 2 == 0  # alternate above / below so that neighbours' labels do not overlap
        ax.annotate(f"{bead.bead_id} {bead.analyte}",
                    (float(np.median(xs[m])), float(np.quantile(ys[m], 0.98 if above else 0.02))),
                    fontsize=6, ha="center", va="bottom" if above else "top", color=colour)
    _asinh_axis(ax, "x", xs[in_group] if in_group.any() else xs)
    _asinh_axis(ax, "y", ys[in_group] if in_group.any() else ys)
    ax.set_xlabel(f"{result.channels['classifier1']} (classifier)")
    ax.set_ylabel(f"{result.channels['classifier2']} (classifier)" if two else f"{result.channels['reporter']} (reporter)")
    title = f"Group {group.name}"
    if missing:
        title += f": not found {', '.join(missing)}"
    ax.set_title(title, fontsize=9, color="#B00020" if missing else "black")


def well_classification_figure(result: BeadWellResult, kit: BeadKit, *, title: str | None = None) -> Figure:
    """Return the classification figure of one well: scatter groups, then each group's populations.

    With one classifier channel a group panel plots classifier x reporter; with two it plots
    the two classifiers. Beads that were not found are named in red in the panel title.
    """
    if result.events is None:
        raise ValueError("the result carries no events to plot")
    n = 1 + len(kit.groups)
    fig = _new_figure(figsize=(3.6 * n, 3.4), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n))
    _scatter_panel(axes[0], result, kit)
    first = 0
    for gi, group in enumerate(kit.groups):
        _group_panel(axes[gi + 1], result, kit, gi, first)
        first += len(group.beads)
    fig.suptitle(title or f"{kit.name}", fontsize=10)
    return fig


def _curve_line(curve: Any, lo: float, hi: float, log_response: bool) -> tuple[np.ndarray, np.ndarray]:
    xs = np.geomspace(lo, hi, 200)
    ys = curve.predict(xs)
    return xs, (np.exp(ys) if log_response else ys)


def standard_curve_figure(analysis: PlateAnalysis, analyte: str, *, log_response: bool = False) -> Figure:
    """Return the standard curve of ``analyte`` with its standards and the samples placed on it.

    Standards are drawn at their expected concentration (pg/mL) and MFI; samples at their
    back-calculated in-well concentration (before dilution) on the curve, censored samples as
    open triangles at the LLOQ / ULOQ; LLOQ and ULOQ as dashed lines. ``log_response`` says
    the curve was fitted on ln MFI (:mod:`immunolab.beads.logcurve`).
    """
    w = analysis.wells[analysis.wells["analyte"] == analyte]
    fig = _new_figure(figsize=(4.6, 3.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    std = w[(w["sample_type"] == "standard") & (w["expected_conc"] > 0)]
    ax.scatter(std["expected_conc"], std["net_mfi"], s=22, c="#0072B2", label="standards", zorder=3)
    curve = None
    for a, c in zip(analysis.curve_analytes, analysis.curves, strict=True):
        if a == analyte and c.converged and (curve is None or c.source == analysis.qc["curve_settings"]["source"]):
            curve = c
    if curve is not None and len(std):
        lo = float(std["expected_conc"].min()) / 4.0
        hi = float(std["expected_conc"].max()) * 2.0
        xs, ys = _curve_line(curve, lo, hi, log_response)
        ax.plot(xs, ys, color="#0072B2", lw=1.2, label=f"{curve.model} fit")
        for q, name in ((curve.lloq, "LLOQ"), (curve.uloq, "ULOQ")):
            if q is not None and math.isfinite(q):
                ax.axvline(q, ls="--", lw=0.8, color="#555555")
                ax.text(q, ax.get_ylim()[1], name, fontsize=6, rotation=90, va="top", ha="right")
    unk = w[w["sample_type"] == "unknown"]
    if len(unk):
        dil = unk["dilution"].fillna(1.0).to_numpy(dtype=float)
        inwell = unk["conc"].to_numpy(dtype=float) / np.where(dil > 0, dil, 1.0)
        ok = np.isfinite(inwell)
        ax.scatter(inwell[ok], unk["net_mfi"].to_numpy(dtype=float)[ok], s=14, marker="D", facecolors="none",
                   edgecolors="#D55E00", label="samples", zorder=4)
        if curve is not None:
            cens = unk["well_censor"].to_numpy()
            for code, x_at, mark in (("below_curve", curve.lloq or curve.lowest_standard, "v"),
                                     ("above_curve", curve.uloq or curve.highest_standard, "^")):
                m = cens == code
                if m.any() and x_at:
                    ax.scatter(np.full(int(m.sum()), x_at), unk["net_mfi"].to_numpy(dtype=float)[m], s=16, marker=mark,
                               facecolors="none", edgecolors="#999999", label=f"{code.replace('_', ' ')}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"{analyte} concentration (pg/mL)")
    ax.set_ylabel("reporter MFI")
    ax.set_title(f"{analyte} standard curve", fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    return fig


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """Return ``fig`` as PNG bytes and close it."""
    return png_bytes(fig, dpi=dpi)
