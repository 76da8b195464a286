"""Draw how a sample was gated: one panel per population, its parent's events on the gate's axes.

For a technician checking gates (``immunolab flow gate FILE --plot gates.png``): each panel shows
the parent population on the channels the gate used (compensated; logicle for fluorescence,
linear for scatter), events inside the gate in colour and the rest in grey, titled with the
population's share of its parent. One-channel gates are drawn as histograms with the gated part
shaded. Quadrant gates of a Gating-ML/FlowJo strategy get one panel per quadrant.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from immunolab.flow.populations import parent_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from immunolab.fcs.reader import FcsData
    from immunolab.flow.pipeline import GatingResult, LoadedStrategy

__all__ = ["gating_figure", "population_axes", "write_gating_plot"]

MAX_POINTS = 20_000


def population_axes(loaded: LoadedStrategy, result: GatingResult) -> dict[str, tuple[str, ...]]:
    """Return, per gate path, the channel names (PnN or marker) its gate was drawn on."""
    axes: dict[str, tuple[str, ...]] = {}
    if loaded.template is not None:
        for pop in loaded.template.populations:
            axes[loaded.template.gate_paths[pop.name]] = tuple(pop.channels)
        return axes
    strategy = result.strategy
    if strategy is None:
        return axes
    for node in strategy.nodes:
        dims = tuple(d.channel for d in node.gate.dims)
        for path in node.population_paths():
            axes[path] = dims
    return axes


def _display_columns(fcs: FcsData, channels: set[str], loaded: LoadedStrategy,
                     comp: str | Path | None) -> dict[str, np.ndarray]:
    """Return display values (as the pipeline computes them) of ``channels`` (PnN or marker names)."""
    from immunolab.flow.pipeline import display_values, spillover_for

    pnn = [c.pnn for c in fcs.channels]
    by_marker = {(c.pns or "").strip().casefold(): i for i, c in enumerate(fcs.channels) if c.pns}
    index = {ch: pnn.index(ch) if ch in pnn else by_marker.get(ch.casefold()) for ch in channels}
    wanted = {ch: i for ch, i in index.items() if i is not None}
    columns = sorted(set(wanted.values()))
    matrix, _source = spillover_for(fcs, comp)
    values = dict(zip(columns, display_values(fcs, loaded, matrix, columns), strict=True))
    return {ch: values[i] for ch, i in wanted.items()}


def gating_figure(fcs: FcsData, loaded: LoadedStrategy, result: GatingResult, *,
                  comp: str | Path | None = None) -> Figure:
    """Return a figure with one panel per gated population (see the module doc)."""
    from immunolab.report.plots import _pyplot

    plt = _pyplot()
    axes_of = population_axes(loaded, result)
    paths = [p for p in result.masks if axes_of.get(p)]
    values = _display_columns(fcs, {c for p in paths for c in axes_of[p]}, loaded, comp)
    n = len(next(iter(result.masks.values()))) if result.masks else 0
    cols = 4
    rows = max(1, -(-len(paths) // cols))
    fig, grid = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.7 * rows), dpi=90, squeeze=False,
                             layout="constrained")
    rng = np.random.default_rng(0)
    for ax, path in zip(grid.ravel(), paths, strict=False):
        parent = parent_path(path) or "/"
        pmask = result.masks.get(parent, np.ones(n, dtype=bool)) if parent != "/" else np.ones(n, dtype=bool)
        cmask = result.masks[path]
        idx = np.flatnonzero(pmask)
        if len(idx) > MAX_POINTS:
            idx = np.sort(rng.choice(idx, MAX_POINTS, replace=False))
        chans = [c for c in axes_of[path] if c in values]
        share = 100.0 * cmask.sum() / max(1, pmask.sum())
        name = path.rsplit("/", 1)[-1]
        pname = parent.rsplit("/", 1)[-1] or "all events"
        ax.set_title(f"{name}: {share:.1f} % of {pname}", fontsize=8)
        if len(chans) >= 2:
            x, y = values[chans[0]][idx], values[chans[1]][idx]
            inside = cmask[idx]
            ax.scatter(x[~inside], y[~inside], s=0.5, color="0.75", rasterized=True)
            ax.scatter(x[inside], y[inside], s=0.5, color="#d95f02", rasterized=True)
            ax.set_xlabel(chans[0], fontsize=7)
            ax.set_ylabel(chans[1], fontsize=7)
        elif len(chans) == 1:
            v = values[chans[0]]
            if pmask.any():
                lo, hi = (float(q) for q in np.nanpercentile(v[pmask], [0.1, 99.9]))
                bins: Any = np.linspace(lo, hi if hi > lo else lo + 1.0, 80)
            else:
                bins = 10
            ax.hist(v[pmask], bins=bins, color="0.75")
            ax.hist(v[pmask & cmask], bins=bins, color="#d95f02")
            ax.set_xlabel(chans[0], fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in grid.ravel()[len(paths):]:
        ax.axis("off")
    fig.suptitle(f"Gating with {result.strategy_name} ({result.strategy_id}); orange = inside the gate", fontsize=9)
    return fig


def write_gating_plot(fcs: FcsData, loaded: LoadedStrategy, result: GatingResult, out: str | Path, *,
                      comp: str | Path | None = None) -> Path:
    """Write the gating figure as a PNG and return its path (``comp`` as in ``gate_fcs``)."""
    from immunolab.report.plots import save_png

    return save_png(gating_figure(fcs, loaded, result, comp=comp), out)
