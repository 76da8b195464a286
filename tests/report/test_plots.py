"""Trajectory figures: median line and IQR band per arm, infusion days marked, sensible axes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from immunolab.report.plots import file_slug, trajectory_figure


def summary(unit: str = "pg/mL") -> pd.DataFrame:
    rows = []
    for arm, shift in (("MSC", 2.0), ("control", 1.0)):
        for day in (0, 3, 6, 14, 28, 180):
            m = 10.0 * shift + day / 10
            rows.append({"arm": arm, "visit_day": day, "n": 10, "median": m, "q1": m * 0.8, "q3": m * 1.2, "unit": unit})
    return pd.DataFrame(rows)


def test_each_arm_has_a_median_line_and_an_iqr_band() -> None:
    fig = trajectory_figure(summary(), title="IL-6", arms=("MSC", "control"))
    ax = fig.axes[0]
    labels = [ln.get_label() for ln in ax.lines]
    assert "MSC (median, IQR)" in labels and "control (median, IQR)" in labels
    assert len(ax.collections) == 2  # one IQR band per arm
    msc = next(ln for ln in ax.lines if ln.get_label() == "MSC (median, IQR)")
    assert list(msc.get_xdata()) == [0, 3, 6, 14, 28, 180]


def test_infusion_days_are_marked_with_vertical_lines() -> None:
    fig = trajectory_figure(summary(), title="IL-6", arms=("MSC", "control"), infusion_days=(0, 3, 6))
    vlines = [ln for ln in fig.axes[0].lines if len(set(ln.get_xdata())) == 1 and ln.get_linestyle() == ":"]
    assert sorted(float(ln.get_xdata()[0]) for ln in vlines) == [0.0, 3.0, 6.0]


def test_concentrations_use_a_log_axis_and_percentages_a_linear_one() -> None:
    assert trajectory_figure(summary("pg/mL"), title="x", arms=("MSC", "control")).axes[0].get_yscale() == "log"
    assert trajectory_figure(summary("%"), title="x", arms=("MSC", "control")).axes[0].get_yscale() == "linear"


def test_lloq_is_drawn_when_known() -> None:
    fig = trajectory_figure(summary(), title="x", arms=("MSC", "control"), lloq=2.0)
    assert any(ln.get_label() == "LLOQ" and np.allclose(ln.get_ydata(), 2.0) for ln in fig.axes[0].lines)


def test_file_slugs_are_safe_and_keep_plus_signs_apart() -> None:
    assert file_slug("IL-12/IL-23p40") == "IL-12_IL-23p40"
    assert file_slug("HLA-DR+ T") != file_slug("HLA-DR- T")
