"""Draw how a sample was gated: one panel per population, its parent's events on the gate's axes.

For a technician checking gates (``immunolab flow gate FILE --plot gates.png``): each panel shows
the parent population on the channels the gate used (compensated; logicle for fluorescence,
linear for scatter), events inside the gate in colour and the rest in grey, titled with the
population's share of its parent. One-channel gates are drawn as histograms with the gated part
shaded. Quadrant gates of a Gating-ML/FlowJo strategy get one panel per quadrant.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from immunolab.flow.populations import parent_path

if TYPE_CHECKING:
    from immunolab.flow.template import GatingRun, Template

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from immunolab.fcs.reader import FcsData
    from immunolab.flow.pipeline import GatingResult, LoadedStrategy

__all__ = [
    "GateOutlier",
    "gate_outliers",
    "gating_figure",
    "panel_overlay_figure",
    "population_axes",
    "template_gates_figure",
    "write_gating_plot",
]

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
    from immunolab.plotting import pyplot

    plt = pyplot()
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


# --- QC: every gate of one sample, and one panel's gates across samples -------------------------


def _draw_thresholds(ax: Any, cuts: dict[str, float], chans: list[str]) -> None:
    """Draw a template gate's 1-D cuts (lines) and cluster peaks (crosses) on its panel."""
    for channel, value in cuts.items():
        if channel in chans[:1]:
            ax.axvline(value, color="#1b9e77", lw=1)
        elif channel in chans[1:2]:
            ax.axhline(value, color="#1b9e77", lw=1)
    peaks = [cuts.get(f"{c}_peak") for c in chans[:2]]
    if len(chans) >= 2 and all(p is not None for p in peaks):
        ax.plot([peaks[0]], [peaks[1]], marker="+", color="#1b9e77", ms=10, mew=1.5)


def template_gates_figure(run: GatingRun, template: Template, values: dict[str, np.ndarray], *,
                          title: str = "", max_points: int = MAX_POINTS) -> Figure:
    """Return small multiples of every gate of one sample: parent events on the gate's channels.

    ``values``: display-scale values of every gated channel over all events (see
    :func:`immunolab.flow.template.display_values`). Events inside the gate are orange, the
    rest grey; 1-D cuts are drawn as lines and cluster peaks as crosses; a gate with a QC flag
    has a red title ending in its status.
    """
    from immunolab.plotting import pyplot

    plt = pyplot()
    pops = list(template.populations)
    cols = 4
    rows = max(1, -(-len(pops) // cols))
    fig, grid = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.8 * rows), dpi=80, squeeze=False, layout="constrained")
    rng = np.random.default_rng(0)
    n = len(next(iter(values.values()))) if values else 0
    for ax, pop in zip(grid.ravel(), pops, strict=False):
        path = template.gate_paths[pop.name]
        parent = np.ones(n, dtype=bool) if pop.parent == "root" else run.masks[template.gate_paths[pop.parent]]
        inside = run.masks[path]
        idx = np.flatnonzero(parent)
        if len(idx) > max_points:
            idx = np.sort(rng.choice(idx, max_points, replace=False))
        chans = list(pop.channels)
        share = 100.0 * inside.sum() / max(1, parent.sum())
        flagged = path in run.flags
        status = run.status.get(path, "")
        ax.set_title(f"{pop.name}: {share:.1f} % of {pop.parent}" + (f" [{status}]" if flagged else ""),
                     fontsize=7, color="#d7301f" if flagged else "black")
        if len(chans) >= 2:
            x, y = values[chans[0]][idx], values[chans[1]][idx]
            ins = inside[idx]
            ax.scatter(x[~ins], y[~ins], s=0.4, color="0.75", rasterized=True)
            ax.scatter(x[ins], y[ins], s=0.4, color="#d95f02", rasterized=True)
            ax.set_ylabel(chans[1], fontsize=7)
        elif idx.size:
            v = values[chans[0]][parent]
            bins = np.linspace(float(np.nanmin(v)), float(np.nanmax(v)) + 1e-9, 80)
            ax.hist(v, bins=bins, color="0.75", histtype="stepfilled")
            ax.hist(values[chans[0]][parent & inside], bins=bins, color="#d95f02", histtype="stepfilled")
        ax.set_xlabel(chans[0], fontsize=7)
        _draw_thresholds(ax, run.thresholds.get(path, {}), chans)
        ax.tick_params(labelsize=6)
    for ax in grid.ravel()[len(pops):]:
        ax.axis("off")
    fig.suptitle(title or f"Gates of {template.name}; orange = inside, red title = QC flag", fontsize=9)
    return fig


@dataclass(frozen=True)
class GateOutlier:
    """A sample whose threshold for one gate and channel lies far from the panel's other samples."""

    sample: str
    gate_path: str
    channel: str
    value: float
    robust_z: float


#: a threshold further than this many robust SDs (1.4826 x MAD) from the panel median is an outlier
OUTLIER_Z = 4.0


def gate_outliers(thresholds: dict[str, dict[str, dict[str, float]]], *, z: float = OUTLIER_Z) -> list[GateOutlier]:
    """Return the samples whose gate thresholds stand out from the panel (robust z-score > ``z``).

    ``thresholds``: sample -> gate path -> channel -> display-scale value (``GatingRun.thresholds``).
    At least 5 samples are needed for a (gate, channel) to be judged.
    """
    series: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for sample, gates in thresholds.items():
        for path, cuts in gates.items():
            for channel, value in cuts.items():
                series.setdefault((path, channel), []).append((sample, float(value)))
    out = []
    for (path, channel), points in series.items():
        if len(points) < 5:
            continue
        v = np.array([p[1] for p in points])
        med = float(np.median(v))
        spread = 1.4826 * float(np.median(np.abs(v - med)))
        spread = max(spread, 1e-3)  # display units: identical cuts must not make every deviation infinite
        for sample, value in points:
            score = (value - med) / spread
            if abs(score) > z:
                out.append(GateOutlier(sample, path, channel, value, float(score)))
    return sorted(out, key=lambda o: -abs(o.robust_z))


def panel_overlay_figure(thresholds: dict[str, dict[str, dict[str, float]]], *, title: str = "",
                         z: float = OUTLIER_Z) -> tuple[Figure, list[GateOutlier]]:
    """Return one strip per (gate, channel) with every sample's threshold, outliers in red and named.

    Returns the figure and the outliers drawn (see :func:`gate_outliers`).
    """
    from immunolab.plotting import pyplot

    plt = pyplot()
    outliers = gate_outliers(thresholds, z=z)
    flagged = {(o.sample, o.gate_path, o.channel) for o in outliers}
    keys = sorted({(p, c) for gates in thresholds.values() for p, cuts in gates.items() for c in cuts})
    fig, ax = plt.subplots(figsize=(max(4.0, 0.55 * len(keys) + 2), 4.2), dpi=80, layout="constrained")
    rng = np.random.default_rng(0)
    for k, (path, channel) in enumerate(keys):
        for sample, gates in sorted(thresholds.items()):
            value = gates.get(path, {}).get(channel)
            if value is None:
                continue
            bad = (sample, path, channel) in flagged
            xk = k + rng.uniform(-0.18, 0.18)
            ax.plot([xk], [value], "o", ms=4 if bad else 3, color="#d7301f" if bad else "0.45", alpha=0.9)
            if bad:
                ax.annotate(sample, (xk, value), fontsize=6, color="#d7301f", xytext=(3, 3), textcoords="offset points")
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([f"{p.rsplit('/', 1)[-1]}\n{c}" for p, c in keys], rotation=60, fontsize=6, ha="right")
    ax.set_ylabel("threshold (display scale)", fontsize=7)
    ax.set_title(title or f"Gate positions of {len(thresholds)} samples; red = outlier tube", fontsize=9)
    return fig, outliers
