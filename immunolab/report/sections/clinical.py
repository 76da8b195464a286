"""Clinical endpoints: 28-day mortality, survival, adverse events, time to improvement, immune features.

From :func:`immunolab.analysis.endpoints.trial_endpoints`: each table is shown with the method
its rows name under it, and the small-n caveats the tables carry are collected in one box at the
top (they are part of the result, not fine print). Kaplan-Meier figures (survival, clinical
improvement) and the immune trajectories of patients who died vs survivors are drawn. Tables that
could not be computed are named with the reason (``Endpoints.notes``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import pandas as pd

from immunolab.report.fmt import Section, ci_text, esc, figure, figures, note, table, warning

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from immunolab.report.context import ReportData

__all__ = ["caveats", "section", "survival_trajectory_figure"]


def caveats(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Return the distinct ``caveat`` texts of the endpoint tables, in table order."""
    out: list[str] = []
    for t in tables.values():
        if "caveat" in t.columns:
            out += [str(c) for c in t["caveat"].dropna().unique() if str(c) not in out]
    return out


def _methods(t: pd.DataFrame) -> str:
    if "method" not in t.columns:
        return ""
    return "".join(f"<p class='meta'>Method: {esc(m)}</p>" for m in t["method"].dropna().unique())


def _result(tables: Mapping[str, pd.DataFrame], key: str, title: str,
            render: Callable[[pd.DataFrame], pd.DataFrame]) -> str:
    """Return the sub-section of endpoint table ``key`` (heading, rendered table, methods), or "" without it."""
    if key not in tables:
        return ""
    return f"<h3>{title}</h3>" + table(render(tables[key])) + _methods(tables[key])


def _mortality(t: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "endpoint": t["endpoint"],
        "deaths treated": [f"{d}/{n} ({100 * d / n:.0f} %)" for d, n in zip(t["deaths_treated"], t["n_treated"], strict=True)],
        "deaths reference": [f"{d}/{n} ({100 * d / n:.0f} %)" for d, n in zip(t["deaths_reference"], t["n_reference"],
                                                                               strict=True)],
        "risk difference (95 % CI)": [ci_text(r, lo, hi) for r, lo, hi in
                                      zip(t["risk_difference"], t["rd_ci_low"], t["rd_ci_high"], strict=True)],
        "odds ratio (95 % CI)": [ci_text(r, lo, hi) for r, lo, hi in
                                 zip(t["odds_ratio"], t["or_ci_low"], t["or_ci_high"], strict=True)],
        "p (Fisher)": t["p"], "censored before the day": t["n_censored_before_day"],
    })


def _logrank(t: pd.DataFrame) -> pd.DataFrame:
    return t[["endpoint", "n_treated", "n_reference", "events_treated", "events_reference", "chi2", "p"]].rename(
        columns={"chi2": "log-rank chi2 (1 df)", "p": "p (log-rank)"})


def _adverse_events(t: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "category": t["category"],
        "events treated": t["events_treated"], "events reference": t["events_reference"],
        "patients treated": [f"{p} ({q:.0f} %)" for p, q in zip(t["patients_treated"], t["pct_patients_treated"], strict=True)],
        "patients reference": [f"{p} ({q:.0f} %)" for p, q in zip(t["patients_reference"], t["pct_patients_reference"],
                                                                   strict=True)],
        "risk difference (95 % CI)": [ci_text(r, lo, hi) for r, lo, hi in
                                      zip(t["risk_difference"], t["rd_ci_low"], t["rd_ci_high"], strict=True)],
        "p (Fisher)": t["p"],
    })


def _immune(t: pd.DataFrame) -> pd.DataFrame:
    return t.assign(shift_ci=[ci_text(s, lo, hi) for s, lo, hi in zip(t["shift"], t["ci_low"], t["ci_high"],
                                                                        strict=True)])[
        ["assay", "feature", "measure", "quantity", "n_died", "n_survived", "median_died", "median_survived", "shift_ci",
         "p"]
    ].rename(columns={"shift_ci": "shift died - survived (95 % CI)"})


def survival_trajectory_figure(traj: pd.DataFrame) -> Figure:
    """Return small multiples of each feature's median (IQR) per visit in patients who died vs survived."""
    from immunolab.plotting import pyplot

    plt = pyplot()
    by = [c for c in ("feature", "measure", "assay") if c in traj.columns]  # one panel per assay: never two joined
    keys = [tuple(str(v) for v in row) for row in traj[by].drop_duplicates().sort_values(by).itertuples(index=False)]
    cols = min(3, max(1, len(keys)))
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.7 * rows), dpi=90, squeeze=False, layout="constrained")
    colours = {"died": "#000000", "survived": "#009E73"}
    for ax, key in zip(axes.ravel(), keys, strict=False):
        g = traj[(traj[by].astype(str) == pd.Series(key, index=by)).all(axis=1)]
        for status, colour in colours.items():
            s = g[g["status"] == status].sort_values("visit_day")
            if s.empty:
                continue
            x = s["visit_day"].to_numpy(dtype=float)
            ax.fill_between(x, s["q1"].to_numpy(dtype=float), s["q3"].to_numpy(dtype=float), color=colour, alpha=0.15,
                            linewidth=0)
            ax.plot(x, s["median"].to_numpy(dtype=float), "-o", ms=3, color=colour,
                    label=f"{status} (n at D0 = {int(s['n'].iloc[0])})")
        ax.set_xscale("function", functions=(lambda d: (d + 1.0) ** 0.5, lambda r: r ** 2 - 1.0))
        ax.set_title(f"{key[0]} ({', '.join(key[1:])})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, frameon=False)
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    fig.suptitle("Immune features by survival status: median and IQR per visit (study day, square-root axis)",
                 fontsize=9)
    return fig


def section(data: ReportData) -> Section:
    """Return the clinical endpoints section (see the module doc)."""
    ep = data.endpoints
    t = ep.tables
    body = ""
    cav = caveats(t)
    if cav:
        body += warning("<b>Small numbers.</b><ul>" + "".join(f"<li>{esc(c)}</li>" for c in cav) + "</ul>", raw=True)
    body += "".join(note(n) for n in ep.notes)
    figs = ep.figures() if t else {}
    body += _result(t, "mortality", "28-day mortality", _mortality) + _result(t, "survival_logrank", "Survival", _logrank)
    if "survival_km" in figs:
        body += figures([figure(figs["survival_km"], alt="Kaplan-Meier survival by arm",
                                caption="Kaplan-Meier survival to Day 28 per arm with 95 % CI; ticks: censored.")])
    body += _result(t, "adverse_events", "Treatment-emergent adverse events by arm and severity", _adverse_events)
    if "adverse_events" in t and not t["adverse_events"].empty:
        n_before = int(t["adverse_events"]["n_pretreatment_events_excluded"].iloc[0])
        if n_before:
            body += f"<p class='meta'>{n_before} adverse event(s) with onset before Day 0 are not in this table.</p>"
    body += _result(t, "improvement_logrank", "Time to clinical improvement", _logrank)
    if "improvement_km" in figs:
        body += figures([figure(figs["improvement_km"], alt="Cumulative clinical improvement by arm",
                                caption="Share of patients improved (WHO scale -2 points or discharge) per arm.")])
    body += _result(t, "immune_by_survival", "Immune features by survival status", _immune)
    if "trajectory_by_survival" in t and not t["trajectory_by_survival"].empty:
        body += figures([figure(survival_trajectory_figure(t["trajectory_by_survival"]), wide=True,
                                alt="Immune feature trajectories of patients who died and who survived",
                                caption="Median and IQR per visit of patients who died by Day 28 and of survivors.")])
    return Section("clinical", "Clinical endpoints", body or "<p class='meta'>No clinical data in the store.</p>")

