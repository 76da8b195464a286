"""Draw report figures with matplotlib's non-GUI Agg backend and encode them for inline HTML.

Trajectory figure: per arm, the median over patients at each visit (line and markers) and the
interquartile range (shaded band), x = study day on a square-root axis (so Day 0-14 stay
readable beside Day 180), infusion days as dotted vertical lines, the LLOQ as a dashed line
when known. Percentages use a linear y axis, other units a log axis.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from immunolab.plotting import png_bytes, pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "ARM_COLOURS",
    "CENSOR_MARKERS",
    "events_per_sample_figure",
    "file_slug",
    "fixed_layout",
    "save_png",
    "trajectory_figure",
]

#: colour-blind safe (Okabe-Ito): reference arm blue, treated arm vermillion
ARM_COLOURS = ("#D55E00", "#0072B2")


def trajectory_figure(
    summary: pd.DataFrame,
    *,
    title: str,
    arms: Sequence[str],
    infusion_days: Sequence[int] = (0, 3, 6),
    lloq: float | None = None,
    subtitle: str | None = None,
    points: pd.DataFrame | None = None,
) -> Figure:
    """Return the trajectory figure of one feature from its rows of :func:`trajectory_summary`.

    ``arms`` orders the arms as (treated, reference); colours follow :data:`ARM_COLOURS`.
    ``points`` (columns arm, visit_day, value, censor) adds every patient's value as a dot,
    censored values as open triangles (down: below the LLOQ, up: above the ULOQ), and the
    number of patients per arm with a value under each visit (one row per arm, in its colour);
    the figure then has fixed margins (no layout engine: ~40 % faster to draw).
    """
    plt = pyplot()
    if points is None:
        fig, ax = plt.subplots(figsize=(5.0, 3.3), dpi=100, layout="constrained")
    else:
        fig, ax = plt.subplots(figsize=(5.0, 3.7), dpi=100)
        fig.subplots_adjust(left=0.14, right=0.97, top=0.86, bottom=0.27)
    unit = str(summary["unit"].dropna().iloc[0]) if summary["unit"].notna().any() else ""
    days = sorted({int(d) for d in summary["visit_day"]})
    for arm, colour in zip(arms, ARM_COLOURS, strict=False):
        s = summary[summary["arm"] == arm].sort_values("visit_day")
        s = s[s["n"] > 0]
        if s.empty:
            continue
        x = s["visit_day"].to_numpy(dtype=float)
        ax.fill_between(x, s["q1"].to_numpy(dtype=float), s["q3"].to_numpy(dtype=float), color=colour, alpha=0.18,
                        linewidth=0)
        ax.plot(x, s["median"].to_numpy(dtype=float), "-o", color=colour, markersize=3.5, linewidth=1.6,
                label=f"{arm} (median, IQR)")
    for k, day in enumerate(infusion_days):
        ax.axvline(day, color="0.45", linestyle=":", linewidth=1.0, label="infusion days" if k == 0 else None)
    if lloq is not None and np.isfinite(lloq):
        ax.axhline(lloq, color="0.3", linestyle="--", linewidth=0.8, label="LLOQ")
    # sqrt(day + 1): Day 0 sits inside the axes, early visits stay apart
    ax.set_xscale("function", functions=(lambda d: np.sqrt(np.clip(d + 1.0, 0, None)), lambda r: np.square(r) - 1.0))
    if points is not None:
        _draw_points(ax, points, arms)
    ax.set_xticks(days)
    ax.set_xticklabels([str(d) for d in days], fontsize=7)
    if points is not None:
        _draw_n(ax, summary, days, arms)
    ax.set_xlim(-0.6, max(days) * 1.05 if days else 1)
    positive = summary[["q1", "median"]].to_numpy(dtype=float)
    if unit != "%" and np.all(positive[np.isfinite(positive)] > 0):
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("study day (square-root axis)", fontsize=8, labelpad=2 if points is None else 24)
    ax.set_ylabel(unit, fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title(title + (f"\n{subtitle}" if subtitle else ""), fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="best")
    ax.grid(alpha=0.25, linewidth=0.5)
    return fig


#: marker of a censored value: below the quantification range (down), above it (up)
CENSOR_MARKERS = {"below_lloq": "v", "below_curve": "v", "above_uloq": "^", "above_curve": "^"}


def _draw_points(ax: Any, points: pd.DataFrame, arms: Sequence[str]) -> None:
    """Draw each patient's value (dots) and censored values (open triangles), jittered per arm."""
    rng = np.random.default_rng(0)
    labelled: set[str] = set()
    for k, (arm, colour) in enumerate(zip(arms, ARM_COLOURS, strict=False)):
        p = points[(points["arm"] == arm) & np.isfinite(points["value"].to_numpy(dtype=float))]
        if p.empty:
            continue
        day = p["visit_day"].to_numpy(dtype=float)
        # jitter in sqrt space so that Day 0 and Day 180 spread alike on the square-root axis
        r = np.sqrt(day + 1.0) + (k - 0.5) * 0.12 + rng.uniform(-0.04, 0.04, len(p))
        x = np.square(r) - 1.0
        censor = p["censor"].fillna("none").astype(str).to_numpy()
        plain = ~np.isin(censor, list(CENSOR_MARKERS))
        ax.scatter(x[plain], p["value"].to_numpy(dtype=float)[plain], s=7, color=colour, alpha=0.45, linewidths=0,
                   zorder=2)
        for code, marker in CENSOR_MARKERS.items():
            m = censor == code
            if not m.any():
                continue
            side = "below LLOQ" if marker == "v" else "above ULOQ"
            label = f"censored ({side})" if side not in labelled else None
            labelled.add(side)
            ax.scatter(x[m], p["value"].to_numpy(dtype=float)[m], s=22, marker=marker, facecolors="none",
                       edgecolors=colour, linewidths=0.9, zorder=3, label=label)


def _draw_n(ax: Any, summary: pd.DataFrame, days: list[int], arms: Sequence[str]) -> None:
    """Write under the x axis, one row per arm in its colour, the number of patients with a value per visit."""
    n = summary.set_index(["arm", "visit_day"])["n"].to_dict()
    tr = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for row, (arm, colour) in enumerate(zip(arms, ARM_COLOURS, strict=False)):
        y = -0.11 - 0.07 * row
        ax.text(-0.01, y, f"n {arm}", transform=ax.transAxes, ha="right", va="top", fontsize=6, color=colour)
        for d in days:
            ax.text(d, y, str(int(n.get((arm, d), 0))), transform=tr, ha="center", va="top", fontsize=6, color=colour)


def events_per_sample_figure(events: pd.DataFrame, *, arms: Sequence[str]) -> Figure:
    """Return a strip plot of total events per flow sample by visit and arm (columns visit_day, arm, total_count)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 2.8), dpi=100, layout="constrained")
    days = sorted({int(d) for d in events["visit_day"]})
    pos = {d: i for i, d in enumerate(days)}
    rng = np.random.default_rng(0)
    for k, (arm, colour) in enumerate(zip(arms, ARM_COLOURS, strict=False)):
        s = events[events["arm"] == arm]
        x = np.array([pos[int(d)] for d in s["visit_day"]], dtype=float) + (k - 0.5) * 0.3
        ax.scatter(x + rng.uniform(-0.08, 0.08, len(x)), s["total_count"], s=10, color=colour, alpha=0.8, label=arm)
    ax.set_xticks(range(len(days)))
    ax.set_xticklabels([f"D{d}" for d in days], fontsize=8)
    ax.set_ylabel("events acquired", fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title("Events per flow sample", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    ax.grid(alpha=0.25, linewidth=0.5)
    return fig


def levey_jennings_figure(lj: pd.DataFrame, *, control: str) -> Figure:
    """Return Levey-Jennings charts of one control: z-score per analyte over plates in run order.

    ``lj`` is :func:`immunolab.cytokine.qc.levey_jennings` output; dashed lines mark the mean
    +-2 SD (warning) and +-3 SD (rejection) limits; Westgard violations are drawn in red.
    """
    plt = pyplot()
    data = lj[lj["control"] == control]
    analytes = sorted(data["analyte"].dropna().unique())
    fig, ax = plt.subplots(figsize=(5.6, 3.0), dpi=100, layout="constrained")
    for k, analyte in enumerate(analytes):
        g = data[data["analyte"] == analyte].sort_values("run_order")
        x = g["run_order"].to_numpy(dtype=float) + (k - (len(analytes) - 1) / 2) * 0.05
        z = g["z_score"].to_numpy(dtype=float)
        ax.plot(x, z, marker="o", markersize=3, linewidth=0.8, label=analyte)
        bad = g["westgard"].astype(str).str.len().to_numpy() > 0
        if bad.any():
            ax.scatter(x[bad], z[bad], s=40, facecolors="none", edgecolors="red", linewidths=1.2)
    for level, style in ((0, "-"), (2, "--"), (-2, "--"), (3, ":"), (-3, ":")):
        ax.axhline(level, color="grey", linestyle=style, linewidth=0.8)
    ax.set_ylim(-4, 4)
    ax.set_xlabel("plate (run order)", fontsize=8)
    ax.set_ylabel("z-score (SD from mean)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.set_title(f"Levey-Jennings: {control}", fontsize=9)
    ax.legend(fontsize=6, frameon=False, ncol=2, loc="upper right")
    return fig


def fixed_layout(fig: Figure, **margins: float) -> Figure:
    """Replace ``fig``'s layout engine by fixed margins (``subplots_adjust`` keywords); return ``fig``.

    The constrained layout measures every text on each draw and costs about as much as drawing;
    for the report's many figures fixed margins are drawn in about half the time.
    """
    fig.set_layout_engine(None)
    fig.subplots_adjust(**margins)
    return fig


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG file (100 dpi; its folder is created when missing), close it and return the path."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(png_bytes(fig, dpi=100))
    return Path(path)


def file_slug(name: str) -> str:
    """Return a file-name-safe slug of a feature name (``+`` becomes ``pos``; letters, digits, ``.``, ``_``, ``-``)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("+", "pos")).strip("_")
    return slug or "feature"
