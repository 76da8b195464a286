"""Gating QC figures: every gate of one sample, and one panel's gate positions across samples."""

from __future__ import annotations

import io

import numpy as np

from immunolab.flow.gate_plot import gate_outliers, panel_overlay_figure, template_gates_figure
from immunolab.flow.template import apply_template, display_values, load_template
from tests.flow.independent_sim import DOUBLET, simulate_tube


def _png(fig: object) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # type: ignore[attr-defined]
    return buf.getvalue()


def _tube_without_doublets() -> object:
    for i in range(50):
        tube = simulate_tube(np.random.default_rng([61, i]), n_events=8000)
        if not (tube.kind == DOUBLET).any():
            return tube
    raise AssertionError("no tube without doublets")


def test_small_multiples_draw_every_gate_and_mark_the_flagged_one_in_red() -> None:
    tube = _tube_without_doublets()
    channels = list(zip(tube.pnn, tube.pns, strict=True))  # type: ignore[attr-defined]
    spill = (tube.spill_names, tube.spill)  # type: ignore[attr-defined]
    tpl = load_template()
    run = apply_template(tube.raw, channels, spill, tpl)  # type: ignore[attr-defined]
    names = sorted({c for p in tpl.populations for c in p.channels})
    values = display_values(tube.raw, channels, spill, tpl, names)  # type: ignore[attr-defined]
    fig = template_gates_figure(run, tpl, values, title="tube 7")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == len(tpl.populations)
    singlets = next(ax for ax in fig.axes if ax.get_title().startswith("Singlets"))
    assert "[not_needed]" in singlets.get_title() and singlets.title.get_color() == "#d7301f"
    t_cells = next(ax for ax in fig.axes if ax.get_title().startswith("T cells"))
    assert t_cells.title.get_color() == "black" and t_cells.lines  # the CD3 cut is drawn
    assert _png(fig).startswith(b"\x89PNG")


def _thresholds(n: int, shifted: str | None = None) -> dict[str, dict[str, dict[str, float]]]:
    rng = np.random.default_rng(5)
    out = {}
    for i in range(n):
        name = f"P{i:02d}_D7"
        cd3 = 0.45 + rng.normal(0, 0.01)
        if name == shifted:
            cd3 += 0.2  # a tube stained or compensated differently
        out[name] = {"/L/S/CD45+/T cells": {"CD3": cd3}, "/L/S/CD45+": {"CD45": 0.5 + rng.normal(0, 0.01)}}
    return out


def test_the_panel_overlay_names_the_outlier_tube_and_nothing_else() -> None:
    thresholds = _thresholds(12, shifted="P07_D7")
    fig, outliers = panel_overlay_figure(thresholds)
    assert [(o.sample, o.channel) for o in outliers] == [("P07_D7", "CD3")]
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == ["P07_D7"]
    assert _png(fig).startswith(b"\x89PNG")


def test_a_panel_without_an_outlier_flags_none_and_few_samples_are_not_judged() -> None:
    assert gate_outliers(_thresholds(12)) == []
    assert gate_outliers(_thresholds(4, shifted="P01_D7")) == []
