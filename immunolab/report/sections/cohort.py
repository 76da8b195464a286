"""Cohort and design: who is in each arm, where they were sampled, and whether arm is confounded.

Tables: patients per arm; patients with a sample per arm, visit and assay; patients per arm x
site x specimen (:func:`immunolab.analysis.balance.arm_crosstab`); covariate levels per arm and
standardised mean differences (:func:`immunolab.analysis.balance.covariate_balance`). A warning
box names every covariate confounded with arm (|SMD| > 0.5 or a level in one arm only), every
covariate imbalanced between arms (|SMD| > 0.25, the level above which regression adjustment is
not trusted to remove the difference: Stuart 2010), and every pair of covariates where one
determines the other (e.g. each site used a single specimen type):
then no model can tell their effects apart, and an adjusted arm effect is adjusted for both or
neither.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, cast

import pandas as pd

from immunolab.analysis.compare import DOCUMENTED_COVARIATES
from immunolab.report.fmt import Section, esc, figure, figures, table, warning

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from immunolab.report.context import ReportData

__all__ = ["BALANCE_COVARIATES", "aliased_covariates", "balance_covariates", "balance_tables", "section"]

#: subject covariates the balance table considers (those present): the ones a comparison can adjust for
BALANCE_COVARIATES = DOCUMENTED_COVARIATES
#: |SMD| above this (and up to the confounding threshold 0.5) is named as an imbalance (Stuart 2010: 0.25)
IMBALANCE_SMD = 0.25


def balance_covariates(subjects: pd.DataFrame) -> list[str]:
    """Return the covariates of :data:`BALANCE_COVARIATES` the subjects have a value of."""
    return [c for c in BALANCE_COVARIATES if c in subjects.columns and subjects[c].notna().any()]


_present = balance_covariates


def _determines(subjects: pd.DataFrame, a: str, b: str) -> bool:
    """Return True when every level of ``a`` occurs with a single level of ``b``."""
    pairs = subjects[[a, b]].dropna().drop_duplicates()
    return not pairs.empty and not pairs[a].duplicated().any()


def aliased_covariates(subjects: pd.DataFrame, covariates: list[str]) -> list[str]:
    """Return a sentence per pair of categorical covariates (>= 2 levels each) where one determines the other."""
    cats = [c for c in covariates if not pd.api.types.is_numeric_dtype(subjects[c])
            and subjects[c].dropna().nunique() >= 2]
    out = []
    for a, b in itertools.combinations(cats, 2):
        ab, ba = _determines(subjects, a, b), _determines(subjects, b, a)
        if not (ab or ba):
            continue
        x, y = (a, b) if ab else (b, a)
        pairs = subjects[[x, y]].dropna().drop_duplicates().astype(str).sort_values([x, y])
        mapping = "; ".join(f"{u}: {v}" for u, v in zip(pairs[x], pairs[y], strict=True))
        verb = f"{x} and {y} determine each other" if ab and ba else f"{y} is determined by {x}"
        out.append(f"{verb} ({mapping}): their effects cannot be told apart")
    return out


def balance_tables(data: ReportData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (level counts per arm as 'n (%)' columns, one row per covariate with its SMD and verdict)."""
    from immunolab.analysis.balance import covariate_balance

    subjects = data.subjects
    counts, smd = covariate_balance(subjects, _present(subjects), reference_arm=data.arms[1])
    treated, reference = data.arms
    wide = counts.pivot_table(index=["covariate", "level"], columns="arm", values=["n", "pct"], aggfunc="first")
    rows = []
    for key, rec in wide.iterrows():
        cov, level = cast(tuple[str, str], key)
        row = {"covariate": cov, "level": level}
        for arm in (treated, reference):
            n, pct = rec.get(("n", arm)), rec.get(("pct", arm))
            row[arm] = f"{int(n)} ({pct:.0f} %)" if pd.notna(n) and pd.notna(pct) else ""
        rows.append(row)
    order = {c: i for i, c in enumerate(_present(subjects))}
    levels = pd.DataFrame(rows).sort_values(["covariate", "level"], key=lambda s: s.map(order) if s.name == "covariate"
                                            else s, kind="stable")
    return levels, smd


def _crosstab(data: ReportData) -> pd.DataFrame:
    from immunolab.analysis.balance import arm_crosstab

    covs = [c for c in ("site", "specimen") if c in data.subjects.columns and data.subjects[c].notna().any()]
    if not covs:
        return pd.DataFrame()
    t = arm_crosstab(data.subjects, covs)
    wide = t.pivot_table(index=covs, columns="arm", values="n_patients", aggfunc="sum", fill_value=0)
    wide = wide.reindex(columns=list(data.arms), fill_value=0)
    wide["total"] = wide.sum(axis=1)
    return wide.reset_index()


def _visits(data: ReportData) -> pd.DataFrame:
    smp = data.store.to_pandas("samples", columns=["patient_id", "visit_day", "arm", "assay_kind", "excluded"])
    smp = smp[smp["patient_id"].notna() & smp["visit_day"].notna()]
    if smp.empty:
        return smp
    t = smp.groupby(["assay_kind", "arm", "visit_day"])["patient_id"].nunique().unstack("visit_day", fill_value=0)
    t.columns = [f"D{int(c)}" for c in t.columns]
    return t.reset_index().rename(columns={"assay_kind": "assay"})


def _crosstab_figure(cross: pd.DataFrame, arms: tuple[str, str]) -> Figure:
    from immunolab.plotting import pyplot

    plt = pyplot()
    labels = [" / ".join(str(v) for v in r) for r in cross.drop(columns=[*arms, "total"]).itertuples(index=False)]
    fig, ax = plt.subplots(figsize=(5.2, 0.5 + 0.45 * len(labels) + 0.6), dpi=100, layout="constrained")
    left = pd.Series(0.0, index=range(len(labels)))
    colours = ("#D55E00", "#0072B2")
    for arm, colour in zip(arms, colours, strict=True):
        vals = cross[arm].to_numpy(dtype=float)
        ax.barh(range(len(labels)), vals, left=left.to_numpy(), color=colour, label=arm)
        for i, (v, lft) in enumerate(zip(vals, left, strict=True)):
            if v:
                ax.text(lft + v / 2, i, f"{int(v)}", ha="center", va="center", color="white", fontsize=8)
        left += vals
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("patients", fontsize=8)
    ax.set_title("Patients per arm by site / specimen", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return fig


def section(data: ReportData) -> Section:
    """Return the cohort and design section (see the module doc)."""
    from immunolab.report.sections.arms import unadjusted_covariates_note

    subjects = data.subjects
    if subjects.empty:
        return Section("cohort", "Cohort and design", "<p class='meta'>No subjects in the store.</p>")
    per_arm = subjects.groupby("arm")["patient_id"].nunique().rename("patients").reset_index()
    levels, smd = balance_tables(data)
    cross = _crosstab(data)
    warnings = [f"confounded with arm: {c} ({r})" for c, r, bad in
                zip(smd["covariate"], smd["reason"], smd["confounded"], strict=True) if bad]
    warnings += [f"imbalanced between arms: {c} (|SMD| {abs(float(v)):.2f} > {IMBALANCE_SMD})" for c, v, bad in
                 zip(smd["covariate"], smd["smd"], smd["confounded"], strict=True)
                 if not bad and abs(float(v)) > IMBALANCE_SMD]
    aliased = aliased_covariates(subjects, _present(subjects))
    box = ""
    if warnings or aliased:
        items = "".join(f"<li>{esc(w)}</li>" for w in warnings + aliased)
        box = warning("<b>Arm is confounded with or imbalanced on covariates.</b> An arm difference below may be a "
                      "difference of these covariates; read the adjusted effects beside the unadjusted ones."
                      f"<ul>{items}</ul>{esc(unadjusted_covariates_note(data))}", raw=True)
    fig = ""
    if not cross.empty:
        fig = figures([figure(_crosstab_figure(cross, data.arms), alt="Patients per arm by site and specimen",
                              caption="Patients per arm in each site / specimen cell.")])
    verdict = ["confounded" if c else ("imbalanced" if abs(v) > IMBALANCE_SMD else "balanced")
               for c, v in zip(smd["confounded"], smd["smd"], strict=True)]
    reason = [f"|SMD| {abs(v):.2f} > {IMBALANCE_SMD}" if w == "imbalanced" else r
              for w, v, r in zip(verdict, smd["smd"], smd["reason"], strict=True)]
    smd_shown = smd.assign(smd=smd["smd"].round(2), verdict=verdict, reason=reason)[
        ["covariate", "kind", "smd", "verdict", "reason"]]
    body = (
        box
        + "<h3>Patients per arm</h3>" + table(per_arm)
        + "<h3>Patients per arm, site and specimen</h3>" + table(cross) + fig
        + "<h3>Covariate balance</h3>"
        + table(smd_shown, rename={"smd": "SMD (treated - reference)"})
        + "<p class='meta'>" + esc(str(smd["method"].iloc[0]) if len(smd) else "") + "</p>"
        + table(levels)
        + "<h3>Patients with a sample per visit</h3>" + table(_visits(data))
    )
    return Section("cohort", "Cohort and design", body)
