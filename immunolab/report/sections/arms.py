"""Arm comparisons: unadjusted and covariate-adjusted effects side by side, per feature and visit.

The summary table has one row per feature: the mixed model's arm x visit interaction (p, BH
q) unadjusted and adjusted, and the strongest post-baseline per-visit effect (geometric mean
ratio treated / reference, 95 % CI) unadjusted and adjusted at that visit. Every adjusted
number says what it was adjusted for (a covariate aliased with another or constant within the
data is left out by the model and not named). Collapsible tables give every visit
(:func:`immunolab.analysis.balance.side_by_side`), the rank / Fisher tests and the AUC
comparison (Hodges-Lehmann shift; ANCOVA when adjusted).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from immunolab.report.fmt import Section, ci_text, details, esc, p_text, table, warning

if TYPE_CHECKING:
    from immunolab.analysis.compare import ArmComparison
    from immunolab.report.context import ReportData

__all__ = ["compare_command", "effects_side_by_side", "section", "summary_table", "unadjusted_covariates_note"]

KEYS = ["assay", "feature", "measure"]


def _interaction(c: ArmComparison | None) -> pd.DataFrame:
    if c is None or c.omnibus.empty:
        return pd.DataFrame(columns=[*KEYS, "p", "q_bh", "adjusted_for", "n_patients", "pct_censored", "method"])
    o = c.omnibus[c.omnibus["test"] == "arm x visit interaction"]
    return o[[*KEYS, "p", "q_bh", "adjusted_for", "n_patients", "pct_censored", "method"]]


def effects_side_by_side(data: ReportData) -> pd.DataFrame:
    """Return per-visit arm effects unadjusted and adjusted (ratio with CI text, p, adjusted for)."""
    from immunolab.analysis.balance import side_by_side

    u = data.comparison
    a = data.adjusted
    if u.visit_effects.empty:
        return pd.DataFrame()
    cols = ("ratio", "ratio_ci_low", "ratio_ci_high", "p", "adjusted_for")
    both = side_by_side(u, a) if a is not None and not a.visit_effects.empty else \
        u.visit_effects[[*KEYS, "visit_day", *cols]].rename(columns={c: f"{c}_unadjusted" for c in cols})
    counts = u.visit_effects[[*KEYS, "visit_day", "n_treated", "n_reference"]]
    both = both.merge(counts, on=[*KEYS, "visit_day"], how="left")
    out = both[[*KEYS, "visit_day", "n_treated", "n_reference"]].copy()
    for kind in ("unadjusted", "adjusted"):
        if f"ratio_{kind}" not in both:
            continue
        out[f"ratio (95 % CI) {kind}"] = [ci_text(r, lo, hi) for r, lo, hi in zip(
            both[f"ratio_{kind}"], both[f"ratio_ci_low_{kind}"], both[f"ratio_ci_high_{kind}"], strict=True)]
        out[f"p {kind}"] = both[f"p_{kind}"]
    if "adjusted_for_adjusted" in both:
        out["adjusted for"] = both["adjusted_for_adjusted"].fillna("")
    return out.sort_values([*KEYS, "visit_day"], kind="stable").reset_index(drop=True)


def _strongest(effects: pd.DataFrame) -> pd.DataFrame:
    """Return per feature the post-baseline visit with the smallest unadjusted p and its effects."""
    if effects.empty:
        return pd.DataFrame(columns=KEYS)
    from immunolab.analysis.compare import BASELINE_LAST_DAY  # one definition of post-baseline

    post = effects[(effects["visit_day"] > BASELINE_LAST_DAY) & effects["p unadjusted"].notna()]
    if post.empty:
        return pd.DataFrame(columns=KEYS)
    best = post.loc[post.groupby(KEYS)["p unadjusted"].idxmin()]
    cols = {"visit_day": "strongest visit", "ratio (95 % CI) unadjusted": "ratio (95 % CI) unadjusted",
            "ratio (95 % CI) adjusted": "ratio (95 % CI) adjusted"}
    best = best[[*KEYS, *[c for c in cols if c in best.columns]]].rename(columns=cols)
    best["strongest visit"] = "D" + best["strongest visit"].astype(int).astype(str)
    return best


def summary_table(data: ReportData) -> pd.DataFrame:
    """Return one row per feature: interaction p/q unadjusted and adjusted, and the strongest per-visit effect."""
    u = _interaction(data.comparison)
    a = _interaction(data.adjusted)
    s = u.rename(columns={"p": "interaction p unadjusted", "q_bh": "interaction q unadjusted"})
    s = s.drop(columns=["adjusted_for", "method"])
    if not a.empty:
        s = s.merge(a[[*KEYS, "p", "q_bh", "adjusted_for"]].rename(columns={
            "p": "interaction p adjusted", "q_bh": "interaction q adjusted", "adjusted_for": "adjusted for"}),
            on=KEYS, how="left")
    s = s.merge(_strongest(effects_side_by_side(data)), on=KEYS, how="left")
    status = [("" if np.isfinite(p) else m) for p, m in zip(u["p"], u["method"], strict=True)]
    s["not modelled because"] = [m.removeprefix("not tested: ") if m else "" for m in status]
    return s.rename(columns={"n_patients": "patients", "pct_censored": "% censored"})


def compare_command(data: ReportData, adjust: Sequence[str], out: str = "compare-results/") -> str:
    """Return the ``immunolab compare`` command that reproduces the report's comparison adjusted for ``adjust``."""
    o = data.options
    parts = ["immunolab compare --store STORE", f"--version {data.store.version}"]
    parts += [f"--features {shlex.quote(f)}" for f in o.features or ()]
    parts += [f"--measures {shlex.quote(m)}" for m in o.measures or ()]
    if tuple(o.window) != (0, 28):
        parts.append(f"--window {o.window[0]}-{o.window[1]}")
    if adjust:
        parts.append(f"--adjust {shlex.quote(','.join(adjust))}")
    return " ".join([*parts, f"--out {out}"])


def _families(data: ReportData) -> str:
    """Return the multiplicity item of the methods: each BH family, its size, and how to reproduce it."""
    from immunolab.analysis.compare import BASELINE_FAMILY, TREATMENT_FAMILY

    st = data.comparison.settings
    sizes = st.get("bh_families", {})
    feats = data.comparison.omnibus.drop_duplicates(KEYS)
    by_measure = ", ".join(f"{n} {esc(m)}" for m, n in feats.groupby("measure").size().items())
    cmd = compare_command(data, ())
    adj = (f"; adjusted: <code>{esc(compare_command(data, data.adjust_for, 'compare-adjusted/'))}</code>"
           if data.adjusted is not None else "")
    return (
        "Multiplicity (Benjamini-Hochberg): the arm x visit interaction q-values are over the "
        f"{sizes.get('omnibus: arm x visit interaction', 0)} features modelled of {len(feats)} compared "
        f"({by_measure}); the AUC q-values over the {sizes.get('auc_tests', 0)} AUC tests; per-visit rank/Fisher "
        f"tests of the {esc(TREATMENT_FAMILY)} family ({sizes.get('visit_tests: ' + TREATMENT_FAMILY, 0)} tests) "
        "within feature over visits. Day 0 (baseline) tests are not treatment effects: they check baseline "
        f"imbalance and form their own family ({sizes.get('visit_tests: ' + BASELINE_FAMILY, 0)} tests, shown "
        "apart below). <code>immunolab compare</code> reproduces every q-value (its tables omnibus, visit_tests, "
        f"auc_tests): <code>{esc(cmd)}</code>{adj}. STORE is this store; its version pins the data."
    )


def _methods(data: ReportData) -> str:
    st = data.comparison.settings
    adj = data.adjusted
    if adj is not None:
        adjusted = (f"Adjusted: the same model with fixed effects for {esc(', '.join(data.adjust_for))} "
                    "(covariates the data cannot separate from each other or from arm are left out by the model; the "
                    "column <i>adjusted for</i> names what each adjusted row used).")
    elif data.options.adjust is not None:
        adjusted = "No adjusted comparison was requested (adjustment switched off)."
    else:
        adjusted = "No covariate varies in these data, so no adjusted comparison is shown."
    items = [
        f"Arms: <b>{esc(st.get('treated'))}</b> (treated) vs <b>{esc(st.get('reference'))}</b> (reference); "
        f"measures: {esc(', '.join(st.get('measures', [])))}.",
        f"Primary model: {esc(st.get('model'))}. The arm x visit interaction and per-visit arm differences are "
        "Wald tests with Satterthwaite degrees of freedom (Fai-Cornelius for the F test): with about 10 patients "
        "per arm and missed visits, normal-theory tests would be anti-conservative. Effects are geometric mean "
        "ratios treated / reference with 95 % confidence intervals.",
        adjusted,
        "Per-visit sensitivity tests: Mann-Whitney with the Hodges-Lehmann shift (as a ratio on the log10 "
        "scale); Fisher exact on % detectable when half or more of a visit's values are censored. These are never adjusted.",
        f"Censoring: {esc(st.get('censoring_rule'))}. Logarithms: {esc(st.get('log10_rule'))}.",
        _families(data),
    ]
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _flagged(data: ReportData) -> pd.DataFrame:
    """Return the balance rows (covariate, reason) of the covariates confounded with or imbalanced between arms."""
    from immunolab.analysis.balance import covariate_balance
    from immunolab.report.sections.cohort import IMBALANCE_SMD, balance_covariates

    covs = balance_covariates(data.subjects)
    if not covs:
        return pd.DataFrame(columns=["covariate", "reason"])
    _counts, smd = covariate_balance(data.subjects, covs, reference_arm=data.arms[1])
    imbalanced = ~smd["confounded"] & (smd["smd"].abs() > IMBALANCE_SMD)
    smd.loc[imbalanced, "reason"] = [f"|SMD| {abs(v):.2f} > {IMBALANCE_SMD}" for v in smd.loc[imbalanced, "smd"]]
    return smd[smd["confounded"] | imbalanced][["covariate", "reason"]]


def unadjusted_covariates_note(data: ReportData) -> str:
    """Return a sentence naming the flagged covariates no analysis of the report adjusts for, with the command."""
    flagged = _flagged(data)
    missing = [c for c in flagged["covariate"] if c not in data.adjust_for]
    if not missing:
        return ""
    adjust = [*data.adjust_for, *missing]
    return (f"Neither the primary (unadjusted) analysis nor the adjusted one ({', '.join(data.adjust_for) or 'none'}) "
            f"is adjusted for {', '.join(missing)}. Sensitivity analysis adjusted for it: "
            f"{compare_command(data, adjust, 'compare-sensitivity/')} (STORE: this store).")


def _confounding_note(data: ReportData) -> str:
    flagged = _flagged(data)
    if flagged.empty:
        return ""
    adjusted = flagged[flagged["covariate"].isin(data.adjust_for)]
    text = ""
    if not adjusted.empty:
        names = ", ".join(f"{r.covariate} ({r.reason})" for r in adjusted.itertuples())
        text = (f"Arm is confounded with or imbalanced on {names}: compare the unadjusted and adjusted columns before "
                "reading an arm effect (see Cohort and design). ")
    return warning(text + unadjusted_covariates_note(data))


def _rank_tests(c: ArmComparison, family: str) -> pd.DataFrame:
    t = c.visit_tests
    if t.empty:
        return t
    t = t[t["family"] == family]
    est = [ci_text(r, lo, hi) if test == "Mann-Whitney" else ci_text(e, el, eh) for test, r, lo, hi, e, el, eh in
           zip(t["test"], t["ratio"], t["ratio_ci_low"], t["ratio_ci_high"], t["estimate"], t["ci_low"], t["ci_high"],
               strict=True)]
    return t.assign(estimate_ci=est)[[*KEYS, "visit_day", "test", "n_treated", "n_reference", "pct_censored",
                                      "effect", "estimate_ci", "p", "q_bh_feature"]].rename(
        columns={"estimate_ci": "estimate (95 % CI)", "q_bh_feature": "q (BH, within feature)"})


def _ancova(c: ArmComparison) -> pd.DataFrame:
    """Return the baseline-adjusted ANCOVA rows: ratio at equal baseline (95 % CI), p and q."""
    a = c.ancova
    if a.empty:
        return a
    est = [ci_text(r, lo, hi) for r, lo, hi in zip(a["ratio"], a["ratio_ci_low"], a["ratio_ci_high"], strict=True)]
    return a.assign(ratio_ci=est)[[*KEYS, "visit_day", "n_treated", "n_reference", "ratio_ci", "p", "q_bh_feature",
                                   "q_bh_all", "adjusted_for"]].rename(columns={
        "ratio_ci": "ratio at equal baseline (95 % CI)", "q_bh_feature": "q (BH, within feature)",
        "q_bh_all": "q (BH, all ANCOVA tests)", "adjusted_for": "adjusted for"})


def _auc(data: ReportData) -> pd.DataFrame:
    c = data.comparison
    a = data.adjusted
    if c.auc_tests.empty:
        return pd.DataFrame()
    t = c.auc_tests.assign(shift_ci=[ci_text(s, lo, hi) for s, lo, hi in
                                     zip(c.auc_tests["shift"], c.auc_tests["ci_low"], c.auc_tests["ci_high"], strict=True)])
    cols = [*KEYS, "unit", "window", "n_treated", "n_reference", "n_excluded", "median_treated", "median_reference",
            "shift_ci", "p"]
    out = t[cols].rename(columns={"shift_ci": "HL shift (95 % CI) unadjusted", "p": "p unadjusted"})
    if a is not None and "adjusted_shift" in a.auc_tests:
        adj = a.auc_tests.assign(adj_ci=[ci_text(s, lo, hi) for s, lo, hi in zip(
            a.auc_tests["adjusted_shift"], a.auc_tests["adjusted_ci_low"], a.auc_tests["adjusted_ci_high"], strict=True)])
        out = out.merge(adj[[*KEYS, "adj_ci", "adjusted_p", "adjusted_for"]].rename(columns={
            "adj_ci": "ANCOVA shift (95 % CI) adjusted", "adjusted_p": "p adjusted", "adjusted_for": "adjusted for"}),
            on=KEYS, how="left")
    return out


def section(data: ReportData) -> Section:
    """Return the arm comparison section (see the module doc)."""
    from immunolab.analysis.compare import BASELINE_FAMILY, TREATMENT_FAMILY

    c = data.comparison
    effects = effects_side_by_side(data)
    summary = summary_table(data)
    n_p = int((summary["interaction q unadjusted"] < 0.05).sum()) if len(summary) else 0
    lead = (f"<p>{len(summary)} feature(s) compared; {n_p} with an arm x visit interaction at q &lt; 0.05 "
            "(unadjusted). p and q below 0.001 are shown as &lt;0.001.</p>")
    window = c.settings.get("window_days", ["?", "?"])
    body = (
        _confounding_note(data) + _methods(data) + lead
        + "<h3>Arm x visit interaction and strongest per-visit effect</h3>"
        + table(summary, formats={"% censored": lambda v: f"{float(v):.0f}" if v == v else ""})
        + details("Per-visit arm effects, unadjusted and adjusted (mixed model)", table(effects))
        + details("Per-visit rank tests of post-baseline visits (Mann-Whitney; Fisher exact when half or more censored)",
                  table(_rank_tests(c, TREATMENT_FAMILY)))
        + details("Change from baseline: ANCOVA per post-baseline visit, log10(value) ~ arm + log10(baseline)",
                  table(_ancova(c)))
        + details("Baseline imbalance: Day 0 rank tests (before treatment; not a treatment effect, not in the "
                  "treatment-effect BH family)",
                  table(_rank_tests(c, BASELINE_FAMILY).drop(columns=["q (BH, within feature)"], errors="ignore")))
        + f"<h3>Area under the curve, days {esc(window[0])}-{esc(window[1])} (time-averaged)</h3>"
        + table(_auc(data))
    )
    return Section("comparison", "Arm comparisons", body)


def interaction_p_text(p: float, q: float) -> str:
    """Return ``p = ..., q = ...`` for a figure subtitle (``not modelled`` without p)."""
    if not np.isfinite(p):
        return "arm x visit: not modelled"
    pt, qt = p_text(p), p_text(q)
    return f"arm x visit: p {'< 0.001' if pt.startswith('<') else '= ' + pt}, q {'< 0.001' if qt.startswith('<') else '= ' + qt}"
