"""Write the self-contained HTML report of a store: trajectories, arm comparison, QC, provenance.

One file, no external resource: figures are inline base64 PNGs, the style sheet is inline, there
is no script. Nothing identifying is shown: samples are named ``patient|Dday`` (pseudonymous
codes), never by file name, plate sample name, user or host.

Sections: overview (patients per arm and visit), methods (the statistical choices, from the
comparison's settings), arm comparison (omnibus table with the strongest per-visit effect,
per-visit mixed-model effects, per-visit rank/Fisher tests, AUC), trajectories (one figure per
feature: per-arm median and IQR band, infusion days marked), plate QC, gating QC, provenance.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from immunolab.report import qc as qc_tables

if TYPE_CHECKING:
    from immunolab.analysis.compare import ArmComparison
    from immunolab.store.read import Store

__all__ = ["ReportInputs", "build_report", "collect_inputs", "render_report", "write_report"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.4em}.meta{color:#666;font-size:.9em}
table.tbl{border-collapse:collapse;font-size:.82em;margin:.6em 0;display:block;overflow-x:auto;max-width:100%}
table.tbl th,table.tbl td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
table.tbl th{background:#f3f3f3}table.tbl tr:nth-child(even) td{background:#fafafa}
.figs{display:flex;flex-wrap:wrap;gap:12px}.figs figure{margin:0;border:1px solid #eee;padding:4px}
figcaption{font-size:.8em;color:#555;max-width:500px}details{margin:.6em 0}summary{cursor:pointer;font-weight:600}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em;font-size:.9em}
"""


@dataclass
class ReportInputs:
    """Everything the report shows, already computed (store-free, so it can be tested alone)."""

    comparison: ArmComparison
    populations: pd.DataFrame = field(default_factory=pd.DataFrame)
    plates: pd.DataFrame = field(default_factory=pd.DataFrame)
    wells: pd.DataFrame = field(default_factory=pd.DataFrame)
    provenance: pd.DataFrame = field(default_factory=pd.DataFrame)
    provenance_summary: dict[str, Any] = field(default_factory=dict)
    lloq: dict[str, float] = field(default_factory=dict)
    arms: dict[str, str] = field(default_factory=dict)
    infusion_days: Sequence[int] = (0, 3, 6)
    title: str = "immunolab trial report"


# --------------------------------------------------------------------------- formatting


def _num(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return ""
    if isinstance(x, int | np.integer):
        return str(int(x))
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}g}"


def _p(x: Any) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return ""
    return "<0.001" if float(x) < 0.001 else f"{float(x):.3f}"


def _p_eq(name: str, x: Any) -> str:
    text = _p(x)
    return f"{name} < 0.001" if text.startswith("<") else f"{name} = {text}"


def _table(df: pd.DataFrame, columns: Sequence[str] | None = None, rename: dict[str, str] | None = None,
           formats: dict[str, Callable[[Any], str]] | None = None) -> str:
    """Return ``df`` as an escaped HTML table (class ``tbl``); p/q columns formatted as p-values."""
    if df is None or df.empty:
        return '<p class="meta">(none)</p>'
    d = df[list(columns)] if columns else df
    fmts: dict[str, Callable[[Any], str]] = {}
    for c in d.columns:
        if c in (formats or {}):
            fmts[c] = (formats or {})[c]
        elif c == "p" or c.startswith(("q_", "p_")):
            fmts[c] = _p
        elif pd.api.types.is_float_dtype(d[c]):
            fmts[c] = _num
    body = d.copy()
    for c, f in fmts.items():
        body[c] = [f(v) for v in body[c]]
    body = body.rename(columns=rename or {})
    return body.to_html(index=False, escape=True, border=0, classes="tbl", na_rep="")


def _ci(est: Any, lo: Any, hi: Any) -> str:
    if not all(isinstance(v, int | float) and np.isfinite(v) for v in (est, lo, hi)):
        return ""
    return f"{est:#.3g} ({lo:#.3g} to {hi:#.3g})"


def _e(text: Any) -> str:
    return html.escape(str(text))


# --------------------------------------------------------------------------- sections


def _overview(c: ArmComparison) -> str:
    s = c.summary
    grid = (c.auc[["arm", "patient_id"]].drop_duplicates().groupby("arm").size().rename("patients").reset_index()
            if not c.auc.empty else pd.DataFrame())
    visits = s.groupby(["arm", "visit_day"])["n"].max().unstack("visit_day").fillna(0).astype(int)
    visits.columns = [f"D{int(v)}" for v in visits.columns]
    visits = visits.reset_index()
    return (
        "<h2 id='overview'>Overview</h2>"
        + _table(grid, rename={"arm": "arm", "patients": "patients"})
        + "<p class='meta'>Patients with a value per arm and visit (largest n over the features compared):</p>"
        + _table(visits)
    )


def _methods(c: ArmComparison) -> str:
    st = c.settings
    items = [
        f"Arms: <b>{_e(st.get('treated'))}</b> compared with reference <b>{_e(st.get('reference'))}</b>; "
        f"measures: {_e(', '.join(st.get('measures', [])))}.",
        f"Primary model: {_e(st.get('model'))}; arm x visit interaction and per-visit arm differences are Wald "
        "tests with Satterthwaite degrees of freedom (Fai-Cornelius for the F test), because with 10 patients per "
        "arm and missing visits normal-theory tests would be anti-conservative. Effects are geometric mean ratios "
        "(treated / reference) with 95 % confidence intervals.",
        "Per-visit sensitivity tests: Mann-Whitney with the Hodges-Lehmann shift and its Moses confidence interval "
        "(shown as a ratio on the log10 scale).",
        f"Censoring: {_e(st.get('censoring_rule'))}.",
        f"Logarithms: {_e(st.get('log10_rule'))}.",
        f"AUC: trapezoid over each patient's observed visits from day {st.get('window_days', ['?'])[0]} to day "
        f"{st.get('window_days', ['?', '?'])[1]}, divided by the window length (time-averaged value); patients "
        "without a value at both ends of the window are excluded (counted in the table).",
        f"Multiplicity: {_e(st.get('multiplicity'))}.",
    ]
    return "<h2 id='methods'>Methods</h2><ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _peak_effects(c: ArmComparison) -> pd.DataFrame:
    e = c.visit_effects
    if e.empty:
        return pd.DataFrame(columns=["assay", "feature", "measure", "peak_effect"])
    post = e[e["visit_day"] != e.groupby(["assay", "feature", "measure"])["visit_day"].transform("min")]
    best = post.loc[post.groupby(["assay", "feature", "measure"])["p"].idxmin().dropna()]
    best = best.assign(peak_effect=[f"D{d}: {_ci(r, lo, hi)}" for d, r, lo, hi in
                                    zip(best["visit_day"], best["ratio"], best["ratio_ci_low"], best["ratio_ci_high"],
                                        strict=True)])
    return best[["assay", "feature", "measure", "peak_effect"]]


def _comparison(c: ArmComparison) -> str:
    o = c.omnibus
    inter = o[o["test"] == "arm x visit interaction"].merge(_peak_effects(c), on=["assay", "feature", "measure"], how="left")
    inter = inter.assign(F=[f"{_num(f)} ({_num(a)}, {_num(b, 3)})" if np.isfinite(f) else ""
                            for f, a, b in zip(inter["f"], inter["num_df"], inter["den_df"], strict=True)])
    inter["status"] = [("" if np.isfinite(p) else m) for p, m in zip(inter["p"], inter["method"], strict=True)]
    main = _table(inter, ["assay", "feature", "measure", "F", "p", "q_bh", "n_patients", "n_obs", "peak_effect", "status"],
                  rename={"F": "F (df1, df2)", "q_bh": "q (BH)", "n_patients": "patients", "n_obs": "values",
                          "peak_effect": "strongest post-baseline effect: ratio (95 % CI)"})
    effects = c.visit_effects.assign(
        ratio_ci=[_ci(r, lo, hi) for r, lo, hi in
                  zip(c.visit_effects["ratio"], c.visit_effects["ratio_ci_low"], c.visit_effects["ratio_ci_high"], strict=True)]
    ) if not c.visit_effects.empty else c.visit_effects
    tests = c.visit_tests.assign(
        effect_ci=[_ci(r, lo, hi) if t == "Mann-Whitney" else _ci(e, el, eh) for t, r, lo, hi, e, el, eh in
                   zip(c.visit_tests["test"], c.visit_tests["ratio"], c.visit_tests["ratio_ci_low"],
                       c.visit_tests["ratio_ci_high"], c.visit_tests["estimate"], c.visit_tests["ci_low"],
                       c.visit_tests["ci_high"], strict=True)]
    )
    auc = c.auc_tests.assign(shift_ci=[_ci(s, lo, hi) for s, lo, hi in
                                       zip(c.auc_tests["shift"], c.auc_tests["ci_low"], c.auc_tests["ci_high"], strict=True)])
    return (
        "<h2 id='comparison'>Arm comparison</h2>"
        "<h3>Arm x visit interaction (mixed model)</h3>" + main
        + "<details><summary>All omnibus tests with method and notes</summary>"
        + _table(o, ["assay", "feature", "measure", "test", "f", "num_df", "den_df", "p", "q_bh", "icc",
                     "pct_censored", "method", "notes"]) + "</details>"
        + "<details><summary>Per-visit arm differences (mixed model, geometric mean ratio treated / reference)</summary>"
        + _table(effects, ["feature", "measure", "visit_day", "n_treated", "n_reference", "ratio_ci", "df", "p"],
                 rename={"ratio_ci": "ratio (95 % CI)"}) + "</details>"
        + "<details><summary>Per-visit rank tests (Mann-Whitney / Fisher exact when mostly censored)</summary>"
        + _table(tests, ["feature", "measure", "visit_day", "test", "n_treated", "n_reference", "pct_censored",
                         "effect", "effect_ci", "p", "q_bh_feature", "q_bh_all", "method"],
                 rename={"effect_ci": "estimate (95 % CI)"}) + "</details>"
        + "<h3>Area under the curve</h3>"
        + _table(auc, ["feature", "measure", "unit", "window", "n_treated", "n_reference", "n_excluded",
                       "median_treated", "median_reference", "shift_ci", "p", "q_bh", "excluded_reasons"],
                 rename={"shift_ci": "HL shift (95 % CI)"})
    )


def _trajectories(inp: ReportInputs) -> str:
    from immunolab.report.plots import figure_png_base64, trajectory_figure

    c = inp.comparison
    arms = (c.settings.get("treated", ""), c.settings.get("reference", ""))
    inter = c.omnibus[c.omnibus["test"] == "arm x visit interaction"]
    pq = {(a, f, m): (p, q) for a, f, m, p, q in
          zip(inter["assay"], inter["feature"], inter["measure"], inter["p"], inter["q_bh"], strict=True)}
    figs = []
    for (assay, feature, measure), s in c.summary.groupby(["assay", "feature", "measure"], sort=True):
        p, q = pq.get((assay, feature, measure), (np.nan, np.nan))
        sub = (f"arm x visit (mixed model): {_p_eq('p', p)}, {_p_eq('q', q)}"
               if np.isfinite(p) else "arm x visit: not modelled")
        unit = s["unit"].dropna().iloc[0] if s["unit"].notna().any() else ""
        fig = trajectory_figure(s, title=f"{feature} - {measure} ({unit})", arms=arms,
                                infusion_days=inp.infusion_days, subtitle=sub,
                                lloq=inp.lloq.get(str(feature)) if assay == "cytokine" else None)
        alt = f"Trajectory of {feature} ({measure}) per arm: median and IQR by visit"
        figs.append(f"<figure><img alt='{_e(alt)}' src='data:image/png;base64,{figure_png_base64(fig)}'>"
                    f"<figcaption>{_e(feature)} ({_e(measure)}): median (line) and interquartile range (band) per "
                    f"arm; dotted lines: infusion days {', '.join(map(str, inp.infusion_days))}.</figcaption></figure>")
    return "<h2 id='trajectories'>Trajectories</h2><div class='figs'>" + "".join(figs) + "</div>"


def _plate_qc(inp: ReportInputs) -> str:
    if inp.plates.empty:
        return "<h2 id='plate-qc'>Plate QC</h2><p class='meta'>No cytokine plates in the store.</p>"
    return (
        "<h2 id='plate-qc'>Plate QC</h2>" + _table(qc_tables.plate_qc_table(inp.plates))
        + _levey_jennings(inp)
        + "<h3>Well QC flags</h3>" + _table(qc_tables.well_flag_table(inp.wells))
    )


def _levey_jennings(inp: ReportInputs) -> str:
    """Return Levey-Jennings charts of every control across plates (none with fewer than 3 plates)."""
    from immunolab.cytokine.qc import levey_jennings
    from immunolab.report.plots import figure_png_base64, levey_jennings_figure

    lj = levey_jennings(inp.plates)
    if lj.empty or lj["plate_id"].nunique() < 3:
        return ""
    figs = []
    for control in sorted(lj["control"].dropna().unique()):
        fig = levey_jennings_figure(lj, control=str(control))
        figs.append(f"<figure><img alt='{_e('Levey-Jennings chart of ' + str(control))}' "
                    f"src='data:image/png;base64,{figure_png_base64(fig)}'><figcaption>{_e(control)}: "
                    "z-score of each analyte per plate; dashed +-2 SD, dotted +-3 SD; red circles: Westgard "
                    "rule violations.</figcaption></figure>")
    flagged = lj[lj["westgard"].astype(str).str.len() > 0]
    note = (f"<p class='meta'>{len(flagged)} control value(s) violate a Westgard rule.</p>" if len(flagged)
            else "<p class='meta'>No Westgard rule violated.</p>")
    return "<h3>Controls across plates (Levey-Jennings)</h3><div class='figs'>" + "".join(figs) + "</div>" + note


def _gating_qc(inp: ReportInputs) -> str:
    if inp.populations.empty:
        return "<h2 id='gating-qc'>Gating QC</h2><p class='meta'>No flow populations in the store.</p>"
    from immunolab.report.plots import events_per_sample_figure, figure_png_base64

    per_sample = qc_tables.events_per_sample(inp.populations, inp.arms)
    arms = (inp.comparison.settings.get("treated", ""), inp.comparison.settings.get("reference", ""))
    fig = events_per_sample_figure(per_sample, arms=arms)
    low = qc_tables.low_event_samples(per_sample)
    return (
        "<h2 id='gating-qc'>Gating QC</h2>"
        f"<div class='figs'><figure><img alt='Events per flow sample by visit' src='data:image/png;base64,"
        f"{figure_png_base64(fig)}'><figcaption>Events acquired per flow sample, by visit and arm."
        "</figcaption></figure></div>"
        + "<h3>Events per visit</h3>" + _table(qc_tables.gating_visit_summary(per_sample))
        + f"<h3>Samples with few events (&lt; {int(100 * qc_tables.LOW_EVENTS_FRACTION)} % of the median)</h3>"
        + _table(low, ["sample", "arm", "strategy_id", "total_count", "top_gate", "top_gate_count"])
        + "<h3>Populations per gating strategy</h3>" + _table(qc_tables.populations_per_strategy(inp.populations))
        + "<details><summary>Events per sample</summary>"
        + _table(per_sample, ["sample", "arm", "strategy_id", "total_count", "top_gate", "top_gate_count"])
        + "</details>"
    )


def _provenance(inp: ReportInputs) -> str:
    ps = inp.provenance_summary
    head = (f"<p>immunolab {_e(ps.get('immunolab_version', ''))}, store schema {_e(ps.get('schema_version', ''))}; "
            f"{_e(ps.get('ingests_in_use', 0))} ingests in use, {_e(ps.get('ingests_superseded', 0))} superseded; "
            f"plugins: {_e(', '.join(ps.get('plugins', [])))}.</p>")
    prov = inp.provenance.copy()
    if not prov.empty:
        prov["source_sha256"] = prov["source_sha256"].str[:16] + "..."
    return "<h2 id='provenance'>Provenance</h2>" + head + _table(prov)


def render_report(inp: ReportInputs) -> str:
    """Return the complete HTML document (one string, no external resource)."""
    from immunolab import __version__

    nav = " | ".join(f"<a href='#{k}'>{v}</a>" for k, v in (
        ("overview", "Overview"), ("methods", "Methods"), ("comparison", "Comparison"),
        ("trajectories", "Trajectories"), ("plate-qc", "Plate QC"), ("gating-qc", "Gating QC"),
        ("provenance", "Provenance")))
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<meta name='generator' content='immunolab {_e(__version__)}'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_e(inp.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(inp.title)}</h1><p class='meta'>Generated by immunolab {_e(__version__)}. "
        "Patients are identified by pseudonymous codes only.</p>",
        f"<nav class='meta'>{nav}</nav>",
        _overview(inp.comparison),
        _methods(inp.comparison),
        _comparison(inp.comparison),
        _trajectories(inp),
        _plate_qc(inp),
        _gating_qc(inp),
        _provenance(inp),
        "</body></html>",
    ]
    return "\n".join(parts)


def collect_inputs(
    store: Store,
    *,
    features: Sequence[str] | None = None,
    measures: Sequence[str] | None = None,
    window: tuple[int, int] = (0, 28),
) -> ReportInputs:
    """Read everything the report needs from ``store`` and run the arm comparison."""
    from immunolab.analysis.compare import compare_store
    from immunolab.derive.views import active_plates, active_populations
    from immunolab.identity import DEFAULT_PROTOCOL
    from immunolab.report.provenance import provenance_summary, provenance_table

    comparison = compare_store(store, features=features, measures=measures, window=window)
    lloq_t = store.to_pandas("cytokine_results", columns=["analyte", "lloq"]).dropna()
    samples = store.to_pandas("samples", columns=["patient_id", "arm"]).dropna()
    plates = active_plates(store)
    wells = store.to_pandas("cytokine_wells", columns=["plate_id", "reader_flags"]).rename(
        columns={"reader_flags": "qc_flags"})
    codes = dict(zip(plates["plate_id"], plates["plate_code"], strict=True))
    plates["plate_id"] = plates["plate_code"].fillna(plates["plate_id"])
    wells["plate_id"] = wells["plate_id"].map(codes).fillna(wells["plate_id"])
    return ReportInputs(
        comparison=comparison,
        populations=active_populations(store),
        plates=plates,
        wells=wells,
        provenance=provenance_table(store),
        provenance_summary=provenance_summary(store),
        lloq={str(k): float(v) for k, v in lloq_t.groupby("analyte")["lloq"].median().items()},
        arms=dict(zip(samples["patient_id"], samples["arm"], strict=True)),
        infusion_days=DEFAULT_PROTOCOL.infusion_days,
    )


def build_report(store: Store, **kwargs: Any) -> str:
    """Return the report HTML of ``store`` (keyword arguments as :func:`collect_inputs`)."""
    return render_report(collect_inputs(store, **kwargs))


def write_report(store: Store, out: str | Path, **kwargs: Any) -> Path:
    """Write the report of ``store`` to ``out`` (UTF-8) and return the path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_report(store, **kwargs), encoding="utf-8")
    return path
