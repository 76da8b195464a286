"""Trajectories: one figure per compared feature, grouped by assay and measure.

Each figure shows per arm the median (line) and interquartile range (band) per visit, every
patient's value (dots), censored values as open triangles (down: below the LLOQ, up: above the
ULOQ; drawn at the value the plugin substituted), the number of patients per arm under each
visit, infusion days (dotted) and, for cytokines, the median LLOQ of the active curves (dashed).
Absolute counts (CD4+ / CD8+ T cells per uL) have their own group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from immunolab.report.fmt import Section, esc, figure, figures
from immunolab.report.sections.arms import interaction_p_text

if TYPE_CHECKING:
    from immunolab.report.context import ReportData

__all__ = ["GROUPS", "median_lloq", "section"]

#: (assay, measure) -> heading of its group, in page order
GROUPS: dict[tuple[str, str], str] = {
    ("flow", "cells_per_uL"): "Absolute counts (cells/uL)",
    ("flow", "pct_parent"): "Flow populations (% of parent)",
    ("cytokine", "concentration"): "Cytokines, multiplex plates (pg/mL)",
    ("cytokine_bead_array", "concentration"): "Cytokines, bead array (pg/mL)",
    ("flow_clusters", "pct_parent"): "FlowSOM clusters (% of parent)",
}


def median_lloq(data: ReportData) -> dict[tuple[str, str], float]:
    """Return (assay, analyte) -> median LLOQ (pg/mL) over the active curves of its plates."""
    from immunolab.derive.choices import active_curves

    res = data.store.to_pandas("cytokine_results", columns=["commit_id", "plate_id", "derivation_id", "analyte",
                                                            "lloq"])
    if res.empty:
        return {}
    res = active_curves(data.store, res)
    fmt = data.store.to_pandas("cytokine_plates", columns=["plate_id", "export_format"]).drop_duplicates("plate_id")
    bead = set(fmt.loc[fmt["export_format"] == "bead_array_fcs", "plate_id"])
    res = res.assign(assay=np.where(res["plate_id"].isin(bead), "cytokine_bead_array", "cytokine")).dropna(subset=["lloq"])
    med = res.groupby(["assay", "analyte"], as_index=False)["lloq"].median()
    return {(str(a), str(f)): float(v) for a, f, v in zip(med["assay"], med["analyte"], med["lloq"], strict=True)}


def _group_order(keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    known = [k for k in GROUPS if k in keys]
    return known + sorted(k for k in keys if k not in GROUPS)


def section(data: ReportData) -> Section:
    """Return the trajectories section (see the module doc)."""
    from immunolab.report.plots import trajectory_figure

    c = data.comparison
    inter = c.omnibus[c.omnibus["test"] == "arm x visit interaction"]
    pq = {(a, f, m): (p, q) for a, f, m, p, q in
          zip(inter["assay"], inter["feature"], inter["measure"], inter["p"], inter["q_bh"], strict=True)}
    lloq = median_lloq(data)
    view = data.compared_view
    points = {k: g for k, g in view.groupby(["assay", "feature", "measure"], sort=False)}
    groups: dict[tuple[str, str], list[str]] = {}
    assays_of = c.summary.groupby(["feature", "measure"])["assay"].nunique().to_dict()
    for (assay, feature, measure), s in c.summary.groupby(["assay", "feature", "measure"], sort=True):
        by_assay = f", {assay}" if assays_of[(feature, measure)] > 1 else ""  # IL-6 on plates and on bead arrays
        p, q = pq.get((assay, feature, measure), (np.nan, np.nan))
        unit = s["unit"].dropna().iloc[0] if s["unit"].notna().any() else ""
        pts = points.get((assay, feature, measure), pd.DataFrame(columns=["arm", "visit_day", "value", "censor"]))
        fig = trajectory_figure(s, title=f"{feature} ({unit})", arms=data.arms, infusion_days=data.infusion_days,
                                subtitle=interaction_p_text(p, q), lloq=lloq.get((str(assay), str(feature))),
                                points=pts[["arm", "visit_day", "value", "censor"]])
        n_cens = int(pts["censored"].sum()) if "censored" in pts else 0
        caption = (f"{feature} ({measure}, {unit}{by_assay}): median and IQR per arm, each patient's value as a dot"
                   + (f"; {n_cens} censored value(s) as open triangles" if n_cens else "")
                   + "; under each day the patients per arm (treated | reference).")
        groups.setdefault((str(assay), str(measure)), []).append(
            figure(fig, alt=f"Trajectory of {feature} ({measure}{by_assay}) per arm", caption=caption, dpi=80))
    body = (f"<p class='meta'>Dotted lines: infusion days {esc(', '.join(map(str, data.infusion_days)))}. "
            "Open triangles: censored values (down = below the LLOQ, up = above the ULOQ). Subtitles: the "
            "unadjusted arm x visit interaction.</p>")
    for key in _group_order(list(groups)):
        body += f"<h3>{esc(GROUPS.get(key, f'{key[0]} ({key[1]})'))}</h3>" + figures(groups[key])
    return Section("trajectories", "Trajectories", body)
