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


def points() -> pd.DataFrame:
    rows = []
    for arm in ("MSC", "control"):
        for day in (0, 3, 6, 14, 28, 180):
            for k in range(10 if arm == "MSC" or day < 28 else 7):
                censor = "below_lloq" if (arm == "control" and k == 0) else ("above_uloq" if (day, k) == (3, 1) else
                                                                              "none")
                rows.append({"arm": arm, "visit_day": day, "value": 5.0 + k, "censor": censor})
    return pd.DataFrame(rows)


def summary_of(pts: pd.DataFrame) -> pd.DataFrame:
    g = pts.groupby(["arm", "visit_day"])["value"]
    return g.agg(n="size", median="median", q1=lambda x: x.quantile(0.25), q3=lambda x: x.quantile(0.75)).reset_index() \
        .assign(unit="pg/mL")


def _first_vertex_y(collection: object) -> float:
    return float(collection.get_paths()[0].vertices[0][1])  # type: ignore[attr-defined]


def test_censored_values_are_open_triangles_pointing_to_the_side_they_were_censored() -> None:
    pts = points()
    fig = trajectory_figure(summary_of(pts), title="IL-6", arms=("MSC", "control"), points=pts)
    ax = fig.axes[0]
    hollow = [c for c in ax.collections if len(c.get_facecolor()) == 0]
    below = sum(len(c.get_offsets()) for c in hollow if _first_vertex_y(c) < 0)
    above = sum(len(c.get_offsets()) for c in hollow if _first_vertex_y(c) > 0)
    assert below == int((pts["censor"] == "below_lloq").sum()) == 6
    assert above == int((pts["censor"] == "above_uloq").sum()) == 2
    labels = {c.get_label() for c in hollow}
    assert {"censored (below LLOQ)", "censored (above ULOQ)"} <= labels


def test_every_patient_value_is_drawn_and_n_per_arm_and_visit_is_written_under_the_axis() -> None:
    pts = points()
    fig = trajectory_figure(summary_of(pts), title="IL-6", arms=("MSC", "control"), points=pts)
    ax = fig.axes[0]
    from matplotlib.collections import PathCollection

    drawn = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
    assert drawn == len(pts)  # one marker per patient value, censored or not
    texts = [(t.get_text(), t.get_position()[0]) for t in ax.texts]
    assert ("n MSC", -0.01) in texts and ("n control", -0.01) in texts
    counts = pts.groupby(["arm", "visit_day"]).size()
    control_28 = [t for t in ax.texts if t.get_color() == "#0072B2" and t.get_position()[0] == 28]
    assert [t.get_text() for t in control_28] == [str(counts[("control", 28)])] == ["7"]
    msc_180 = [t for t in ax.texts if t.get_color() == "#D55E00" and t.get_position()[0] == 180]
    assert [t.get_text() for t in msc_180] == ["10"]


def test_the_survival_trajectory_figure_keeps_one_panel_per_assay() -> None:
    """IL-6 measured on plates and on bead arrays is two panels, not one line zig-zagging between them."""
    from immunolab.report.sections.clinical import survival_trajectory_figure

    rows = []
    for assay, level in (("cytokine", 10.0), ("bead_array", 100.0)):
        for status in ("died", "survived"):
            for day in (0, 3, 28):
                rows.append({"assay": assay, "feature": "IL-6", "measure": "concentration", "status": status,
                             "visit_day": day, "n": 3, "median": level, "q1": level * 0.8, "q3": level * 1.2})
    fig = survival_trajectory_figure(pd.DataFrame(rows))
    used = [ax for ax in fig.axes if ax.axison]
    assert sorted(ax.get_title() for ax in used) == ["IL-6 (concentration, bead_array)", "IL-6 (concentration, cytokine)"]
    for ax in used:
        medians = {float(v) for ln in ax.lines for v in ln.get_ydata()}
        assert len(medians) == 1  # each panel holds one assay's values only
