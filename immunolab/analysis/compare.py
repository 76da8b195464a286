"""Compare the two trial arms feature by feature, with effects and confidence intervals.

For every assay x feature x measure of the measurements view:

1. **Mixed model** (primary): ``log10(value) ~ arm * C(visit) + (1 | patient)`` by REML
   (statsmodels MixedLM), see :mod:`immunolab.analysis.mixed_model`. The omnibus table holds
   the arm x visit interaction (do the arms' trajectories differ?) and the "arm at any
   post-baseline visit" test (the arm difference is zero at every visit after Day 0; the Day 0,
   pre-dose difference is baseline imbalance and stays out), both Wald F tests with Satterthwaite
   (Fai-Cornelius) denominator df; ``visit_effects`` holds the per-visit arm difference (treated - reference)
   on the log10 scale with a t-based 95 % CI (Satterthwaite df) and as a geometric mean ratio.
   A feature with ``censor_threshold`` or more of all its values censored is not modelled
   (its substituted values are not measurements); its per-visit Fisher tests stand instead.
2. **Per-visit rank tests** (sensitivity, no distributional assumption): Mann-Whitney on the
   values (on log10, which does not change ranks) with the Hodges-Lehmann shift and its Moses
   CI, reported as a ratio ``10 ** shift``. When ``censor_threshold`` (default half) or more
   of a visit's values are censored, ranks would be mostly ties among substituted values, so
   the visit is compared by the proportion detectable (or above the ULOQ when most censored
   values are above) per arm with Fisher's exact test, the difference in proportions
   (Newcombe CI) and the conditional odds ratio (exact CI). Benjamini-Hochberg q-values are
   given within each feature (over visits) and over the whole table. A visit where an arm has
   fewer than ``min_per_arm`` values is not tested (p NaN, outside the BH families), as the
   mixed model leaves it out.
3. **AUC**: per-patient time-averaged AUC over the window (trapezoid over observed visits, see
   :mod:`immunolab.analysis.trajectories`), compared by Mann-Whitney with the Hodges-Lehmann
   shift and Moses CI in the measure's units. A patient who died before the window's end has
   no AUC: ``excluded_reasons`` counts those deaths apart (``deaths``: patient -> study day, read
   from the store's ``outcomes`` by :func:`compare_store`) and the method warns that an AUC among
   survivors is biased by informative missingness. A feature where an arm has fewer than
   ``min_per_arm`` patients with an AUC is not tested (p NaN, outside the BH family), as above.

**Covariate adjustment** (``adjust=["site", "specimen", "age"]``): the mixed model gains those
fixed effects (:mod:`immunolab.analysis.mixed_model`; aliased columns are left out and named)
and the AUC comparison gains an ANCOVA (OLS of the time-averaged AUC on arm + covariates, t CI
of the arm coefficient) beside the unadjusted Hodges-Lehmann shift. Every row says what it was
adjusted for in ``adjusted_for``; rank and Fisher tests are never adjusted and say so.
Covariates are columns of the view (see :func:`immunolab.analysis.balance.add_covariates`).

**Change from baseline** (table ``ancova``): per post-baseline visit, OLS of log10(value) on arm,
log10(baseline) and the adjustment covariates (:mod:`immunolab.analysis.ancova`), the arm effect
as a ratio at equal baseline with its 95 % CI, p and BH q-values (within feature and over the table).

Censored values enter 1-3 as the plugin substituted them (LLOQ/2 below, ULOQ above, recorded in
``cytokine_results.substitution_rule``); the share censored is reported beside every result.
Every row carries a ``method`` saying which test was used and why.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from immunolab.analysis.ancova import baseline_ancova
from immunolab.analysis.measurements_view import (
    ABOVE_RANGE_FLAGS,
    NONDETECT_FLAGS,
    measurements_view,
    no_values_since_gating_failed,
)
from immunolab.analysis.mixed_model import MixedModelResult, fit_arm_visit_model
from immunolab.analysis.nonparametric import bh_adjust, fisher_detectable, mann_whitney_hl
from immunolab.analysis.trajectories import (
    FEATURE_KEYS,
    check_window,
    patient_auc,
    trajectory_summary,
)
from immunolab.errors import InputError

if TYPE_CHECKING:
    from immunolab.store.read import Store

__all__ = [
    "BASELINE_FAMILY",
    "DEFAULT_ABSOLUTE_COUNTS",
    "DEFAULT_MEASURES",
    "POST_BASELINE_ARM_TEST",
    "TREATMENT_FAMILY",
    "UNADJUSTED",
    "ArmComparison",
    "check_covariates",
    "choose_arms",
    "compare_arms",
    "compare_store",
    "model_text",
    "select_rows",
    "usable_covariates",
    "write_comparison",
]

#: measures compared by default (when present): flow frequency of parent, cytokine concentration
DEFAULT_MEASURES = ("pct_parent", "concentration")
#: flow populations whose absolute counts (cells_per_uL) are compared by default too (the report's family)
DEFAULT_ABSOLUTE_COUNTS = ("CD4+ T", "CD8+ T")
#: visits on or before this study day are baseline: their arm tests check baseline imbalance, not treatment
BASELINE_LAST_DAY = 0
#: the omnibus test that the arm difference is zero at every post-baseline visit (column ``test``)
POST_BASELINE_ARM_TEST = "arm at any post-baseline visit"
#: the two BH families of the per-visit tests (column ``family`` of ``visit_tests``)
TREATMENT_FAMILY = "treatment effect (post-baseline visit)"
BASELINE_FAMILY = "baseline imbalance (visit on or before day 0; not a treatment effect)"
MODEL_TEXT = "LMM log10(value) ~ arm * C(visit) + (1|patient), REML (statsmodels MixedLM)"

@dataclass
class ArmComparison:
    """Tidy result tables of :func:`compare_arms` and the settings that produced them."""

    omnibus: pd.DataFrame
    visit_effects: pd.DataFrame
    visit_tests: pd.DataFrame
    auc: pd.DataFrame
    auc_tests: pd.DataFrame
    summary: pd.DataFrame
    #: baseline-adjusted (ANCOVA) arm effect per feature x post-baseline visit (:mod:`immunolab.analysis.ancova`)
    ancova: pd.DataFrame = field(default_factory=pd.DataFrame)
    settings: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return every result table by name (file stem used by :func:`write_comparison`)."""
        return {
            "omnibus": self.omnibus,
            "visit_effects": self.visit_effects,
            "visit_tests": self.visit_tests,
            "auc": self.auc,
            "auc_tests": self.auc_tests,
            "ancova": self.ancova,
            "trajectory_summary": self.summary,
        }

def choose_arms(arms: Sequence[str], reference: str | None = None) -> tuple[str, str]:
    """Return (treated, reference) among exactly two arms; ``control`` is the default reference."""
    uniq = sorted({a for a in arms if isinstance(a, str)})
    if len(uniq) != 2:
        raise InputError(
            "IML-ANA-001",
            f"the arm comparison needs exactly two arms, the data hold {len(uniq)} ({', '.join(uniq) or 'none'})",
            hint="Check the arm column of subjects.csv, or filter the measurements to two arms.",
        )
    if reference is None:
        lower = {a.lower(): a for a in uniq}
        reference = lower.get("control") or lower.get("placebo") or uniq[0]
    if reference not in uniq:
        raise InputError("IML-ANA-001", f"reference arm {reference!r} is not in the data ({', '.join(uniq)})",
                         hint="Pass one of the arms present.")
    treated = uniq[1] if uniq[0] == reference else uniq[0]
    return treated, reference

def _loose(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).lower()

def resolve_features(requested: Sequence[str], present: Iterable[str]) -> list[str]:
    """Return the stored feature names of ``requested`` names, accepting the aliases ingest accepts.

    A name selects every stored feature it names exactly, through the analyte synonyms of the
    cytokine readers (``IL6``, ``Interleukin-6`` -> ``IL-6``) or through the clinical test names
    (``Lymphocyte count`` -> ``LYM``; ``IL6`` is also the hospital's IL-6 test); failing those,
    the one feature equal to it ignoring case, spaces, hyphens and underscores. Any other name raises ``IML-ANA-002`` listing the valid features.
    """
    out: list[str] = []
    for hits in _feature_hits(requested, present).values():
        out.extend(h for h in hits if h not in out)
    return out

def _feature_hits(requested: Sequence[str], present: Iterable[str]) -> dict[str, list[str]]:
    """Return requested name -> the stored features it selects (see :func:`resolve_features`)."""
    from immunolab.clinical.units import lookup_test
    from immunolab.cytokine.analytes import canonical_analyte

    have = sorted({str(f) for f in present})
    loose: dict[str, list[str]] = {}
    for f in have:
        loose.setdefault(_loose(f), []).append(f)
    out: dict[str, list[str]] = {}
    unknown: list[str] = []
    for name in requested:
        candidates = [name]
        with contextlib.suppress(Exception):  # a name the analyte table cannot parse is simply no analyte
            candidates.append(canonical_analyte(name)[0])
        test = lookup_test(name)
        if test is not None:
            candidates.append(test.code)
        hits = [c for c in dict.fromkeys(candidates) if c in have]  # IL6: the clinical test and the analyte IL-6
        if not hits:
            matches = {m for c in candidates for m in loose.get(_loose(c), [])}
            hits = sorted(matches) if len(matches) == 1 else []
        if not hits:
            unknown.append(name)
        out[name] = hits
    if unknown:
        raise InputError(
            "IML-ANA-002", f"no feature is called {', '.join(repr(u) for u in unknown)}",
            hint=f"Valid features: {', '.join(have) or 'none'} (analyte and clinical test aliases are accepted).")
    return out

def select_rows(view: pd.DataFrame, features: Sequence[str] | None, measures: Sequence[str] | None) -> pd.DataFrame:
    """Return the rows of the requested features and measures.

    Without ``measures``, :data:`DEFAULT_MEASURES` (plus the ``cells_per_uL`` of
    :data:`DEFAULT_ABSOLUTE_COUNTS`) apply: to all rows when no feature is named,
    and feature by feature when features are named, so a clinical test (measure ``result``)
    named beside a cytokine keeps its rows. A named feature left without rows raises ``IML-ANA-002``.
    """
    out = view
    hits: dict[str, list[str]] = {}
    if features is not None:
        hits = _feature_hits(features, view["feature"])
        out = out[out["feature"].isin({h for hs in hits.values() for h in hs})]
    if measures is None:
        defaults = out["measure"].isin(DEFAULT_MEASURES) | (
            (out["measure"] == "cells_per_uL") & out["feature"].isin(DEFAULT_ABSOLUTE_COUNTS))
        if features is None:
            if defaults.any():
                out = out[defaults]
        else:
            has_default = defaults.groupby(out["feature"]).transform("any")
            out = out[defaults | ~has_default]
    else:
        out = out[out["measure"].isin(list(measures))]
    left = set(out["feature"])
    empty = [name for name, hs in hits.items() if not left & set(hs)]
    if empty and not out.empty:
        theirs = view.loc[view["feature"].isin({h for n in empty for h in hits[n]}), "measure"]
        raise InputError(
            "IML-ANA-002", f"no measurements of {', '.join(repr(n) for n in empty)} match the requested measures",
            hint=f"Measures present for them: {', '.join(sorted(set(theirs))) or 'none'}; "
                 "pass them with --measures or leave the feature out.",
        )
    if out.empty:
        have = sorted(set(view["measure"]))
        lower = {m.lower(): m for m in have}
        close = [f"{m} (not {r})" for r in (measures or ()) if r not in have and (m := lower.get(str(r).lower()))]
        raise InputError(
            "IML-ANA-002",
            "no measurements match the requested features/measures",
            hint=(f"Measure names are case-sensitive; did you mean {', '.join(close)}? " if close else "")
            + f"Features present: {_first(sorted(set(view['feature'])), 20)}; measures present: {', '.join(have) or 'none'}.",
        )
    return out


def _first(names: list[str], n: int) -> str:
    """Return the first ``n`` names joined, saying how many more there are."""
    more = f" ... and {len(names) - n} more" if len(names) > n else ""
    return (", ".join(names[:n]) or "none") + more

UNADJUSTED = "none (rank or Fisher test: unadjusted)"

def model_text(adjust: Sequence[str] = ()) -> str:
    """Return the model formula in words, with the covariates when adjusted."""
    if not adjust:
        return MODEL_TEXT
    return (f"LMM log10(value) ~ arm * C(visit) + {' + '.join(adjust)} + (1|patient), REML (statsmodels MixedLM); "
            "numeric covariates centred, categorical as dummies vs the most frequent level")

def _pow10(x: float) -> float:
    """Return ``10 ** x`` as a ratio; inf (not OverflowError) for a log10 difference beyond float range."""
    with np.errstate(over="ignore"):
        return float(np.power(10.0, x))


#: columns the model already holds or that identify rows, not patients' covariates
_NOT_COVARIATES = frozenset({"arm", "patient_id", "visit", "visit_day", "value", "log10_value", "censored",
                             "feature", "measure", "assay", "unit", "sample_id"})
#: covariates a comparison can adjust for (patient-level columns of the subjects file); the report's
#: balance table considers the same ones
DOCUMENTED_COVARIATES = ("site", "specimen", "sex", "age", "severity")


def check_covariates(view: pd.DataFrame, adjust: Sequence[str]) -> None:
    """Raise ``IML-ANA-006`` when a covariate named for adjustment is not a usable column of the view."""
    twice = sorted({c for c in adjust if list(adjust).count(c) > 1})
    wrong = [c for c in adjust if c in _NOT_COVARIATES]
    if twice or wrong:
        raise InputError(
            "IML-ANA-006", (f"covariate(s) named twice: {', '.join(twice)}" if twice else
                            f"{', '.join(wrong)} cannot be a covariate: the model already holds arm, visit and the "
                            "patient, and the other columns describe the measurement"),
            hint=f"Adjust for patient-level covariates, e.g. --adjust {','.join(DOCUMENTED_COVARIATES)}.")
    missing = [c for c in adjust if c not in view.columns]
    if missing:
        raise InputError(
            "IML-ANA-006", f"covariate(s) {', '.join(missing)} are not in the data",
            hint=f"Covariates come from the subjects file: {', '.join(DOCUMENTED_COVARIATES)} and any extra column it "
                 "has (add the column there and run `immunolab identity apply`).",
        )

def usable_covariates(data: pd.DataFrame, adjust: Sequence[str]) -> tuple[list[str], list[str]]:
    """Return (covariates the model can use, one reason per covariate left out) for the selected rows.

    A covariate whose values are all missing, or that has one level only, cannot be estimated: it
    is left out with a coded warning (``IML-ANA-010``) instead of failing the comparison.
    """
    used: list[str] = []
    reasons: list[str] = []
    for cov in adjust:
        values = data[cov].dropna()
        if values.empty:
            reasons.append(f"{cov}: no value in the compared data")
        elif values.astype(str).nunique() < 2:
            reasons.append(f"{cov}: one level only")  # the value itself is not repeated (an age, a site)
        else:
            used.append(cov)
    for why in reasons:
        logging.getLogger("immunolab.analysis").warning(
            "covariate %s, so it cannot adjust the comparison and is left out. Fill it in the subjects file, "
            "or drop it from --adjust.", why, extra={"code": "IML-ANA-010"})
    used, aliased = _drop_aliased(data, used)
    for why in aliased:  # nothing to fill in: the covariate adds nothing the model can estimate
        logging.getLogger("immunolab.analysis").warning(
            "covariate %s, so it adds nothing to the adjustment and is left out.", why, extra={"code": "IML-ANA-010"})
    return used, reasons + aliased

def _drop_aliased(data: pd.DataFrame, covariates: list[str]) -> tuple[list[str], list[str]]:
    """Return (covariates that add information over arm and the covariates before them, reasons for the rest).

    Each feature is modelled on its own, so aliasing is decided feature by feature, on one row per
    patient: a covariate is left out when it adds no column the model can estimate in any feature
    (a site that fully determines the flow specimen, while every cytokine is measured in serum; a
    covariate equal to the arm). The reason names the smallest set of earlier columns it follows.
    """
    if not covariates or "arm" not in data:
        return covariates, []
    groups = [g.groupby("patient_id", sort=True)[["arm", *covariates]].first().dropna()
              for _k, g in data.groupby(FEATURE_KEYS, sort=True)]
    groups = [p for p in groups if not p.empty]
    if not groups:
        return covariates, []
    used: list[str] = []
    reasons: list[str] = []
    for cov in covariates:
        if not all(_follows(p, cov, ["arm", *used]) for p in groups):
            used.append(cov)
            continue
        named = next(list(subset) for size in range(1, len(used) + 2)
                     for subset in itertools.combinations(["arm", *used], size)
                     if all(_follows(p, cov, list(subset)) for p in groups))
        them = "it" if len(named) == 1 else "them"
        reasons.append(f"{cov}: aliased with {' and '.join(named)} (its levels follow {them} patient by patient)")
    return used, reasons


def _follows(patients: pd.DataFrame, cov: str, earlier: list[str]) -> bool:
    """Return True when the design of ``earlier`` (plus intercept) already spans ``cov``'s columns."""
    from immunolab.analysis.mixed_model import covariate_columns

    base = np.column_stack([np.ones(len(patients)),
                            *(c for name in earlier for c in covariate_columns(patients, name)[0])])
    cols = covariate_columns(patients, cov)[0]
    return not cols or np.linalg.matrix_rank(np.column_stack([base, *cols])) == np.linalg.matrix_rank(base)

def _adjusted_label(res: MixedModelResult) -> str:
    return ",".join(res.adjusted_for) if res.adjusted_for else "none"

def _omnibus_rows(key: dict[str, Any], res: MixedModelResult, pct_censored: float,
                  text: str = MODEL_TEXT, left_out: Sequence[str] = ()) -> list[dict[str, Any]]:
    notes = [f"left out of the adjustment: {why}" for why in left_out] + list(res.notes)
    if pct_censored > 0 and res.error is None:
        notes.append(f"{pct_censored:.0f} % of values censored (plugin-substituted values modelled as observed)")
    rows = []
    for test, ft, why in (
        ("arm x visit interaction", res.interaction, "do the arms' trajectories differ over the visits?"),
        (POST_BASELINE_ARM_TEST, res.arm_any_post_baseline_visit,
         f"do the arms differ at any visit after day {BASELINE_LAST_DAY} (joint test of the per-visit arm "
         f"differences; day {BASELINE_LAST_DAY} is baseline imbalance, not in it)?"),
    ):
        icc = res.tau2 / (res.tau2 + res.sigma2) if np.isfinite(res.tau2) and res.tau2 + res.sigma2 > 0 else np.nan
        rows.append({
            **key, "test": test, "treated": res.treated, "reference": res.reference,
            "f": ft.f if ft else np.nan, "num_df": ft.num_df if ft else np.nan,
            "den_df": ft.den_df if ft else np.nan, "p": ft.p if ft else np.nan,
            "n_obs": res.n_obs, "n_patients": res.n_patients, "visits": ",".join(map(str, res.visits)),
            "tau2_log10": res.tau2, "sigma2_log10": res.sigma2, "icc": icc, "pct_censored": pct_censored,
            "method": (f"{text}; {ft.df_method}; {why} Small-sample df because patients are few "
                       "and visits irregular/missing") if ft else f"not tested: {res.error}",
            "adjusted_for": _adjusted_label(res),
            "notes": "; ".join(notes),
        })
    return rows

def _visit_effect_rows(key: dict[str, Any], res: MixedModelResult, counts: dict[tuple[str, int], int],
                       text: str = MODEL_TEXT) -> list[dict[str, Any]]:
    rows = []
    for visit, c in res.visit_differences.items():
        rows.append({
            **key, "visit_day": visit, "treated": res.treated, "reference": res.reference,
            "n_treated": counts.get((res.treated, visit), 0), "n_reference": counts.get((res.reference, visit), 0),
            "estimate_log10": c.estimate, "se_log10": c.se, "ci_low_log10": c.ci_low, "ci_high_log10": c.ci_high,
            "ratio": _pow10(c.estimate), "ratio_ci_low": _pow10(c.ci_low), "ratio_ci_high": _pow10(c.ci_high),
            "t": c.t, "df": c.df, "p": c.p,
            "method": f"{text}; arm difference at this visit, t test with {c.df_method} df; "
                      "ratio = geometric mean ratio treated/reference",
            "adjusted_for": _adjusted_label(res),
        })
    return rows

def _visit_test_row(key: dict[str, Any], visit: int, g: pd.DataFrame, treated: str, reference: str,
                    threshold: float, alpha: float, min_per_arm: int = 2) -> dict[str, Any]:
    g = g[np.isfinite(g["value"].to_numpy(dtype=float))]
    gt, gr = g[g["arm"] == treated], g[g["arm"] == reference]
    n_cens = int(g["censored"].sum())
    frac = n_cens / len(g) if len(g) else np.nan
    row: dict[str, Any] = {
        **key, "visit_day": visit, "treated": treated, "reference": reference,
        "n_treated": len(gt), "n_reference": len(gr),
        "n_censored_treated": int(gt["censored"].sum()), "n_censored_reference": int(gr["censored"].sum()),
        "pct_censored": 100.0 * frac if len(g) else np.nan, "adjusted_for": UNADJUSTED,
    }
    empty = dict.fromkeys(("estimate", "ci_low", "ci_high", "ratio", "ratio_ci_low", "ratio_ci_high",
                           "pct_treated", "pct_reference", "odds_ratio", "or_ci_low", "or_ci_high", "p"), np.nan)
    row.update(empty)
    if len(gt) == 0 or len(gr) == 0:
        row.update(test="none", effect="", method="not tested: an arm has no value at this visit")
        return row
    if min(len(gt), len(gr)) < min_per_arm:
        row.update(test="none", effect="",
                   method=f"not tested: an arm has fewer than min_per_arm = {min_per_arm} values at this visit "
                          f"({len(gt)} treated vs {len(gr)} reference); the mixed model leaves the visit out too")
        return row
    if frac >= threshold:
        below = g["censor"].isin(NONDETECT_FLAGS)
        mostly_below = int(below.sum()) >= int(g["censor"].isin(ABOVE_RANGE_FLAGS).sum())  # "mixed" on neither side
        if mostly_below:
            kt, kr = int((~gt["censor"].isin(NONDETECT_FLAGS)).sum()), int((~gr["censor"].isin(NONDETECT_FLAGS)).sum())
            what = "detectable (>= LLOQ)"
        else:
            kt, kr = int(gt["censor"].isin(ABOVE_RANGE_FLAGS).sum()), int(gr["censor"].isin(ABOVE_RANGE_FLAGS).sum())
            what = "above the ULOQ"
        fr = fisher_detectable(kt, len(gt), kr, len(gr), alpha=alpha)
        row.update(
            test="Fisher exact", effect=f"difference in % {what} (treated - reference, percentage points)",
            estimate=100 * fr.diff, ci_low=100 * fr.diff_ci_low, ci_high=100 * fr.diff_ci_high,
            pct_treated=100 * kt / len(gt), pct_reference=100 * kr / len(gr),
            odds_ratio=fr.odds_ratio, or_ci_low=fr.or_ci_low, or_ci_high=fr.or_ci_high, p=fr.p,
            method=(f"Fisher exact on % {what}: {n_cens}/{len(g)} values censored (>= {100 * threshold:.0f} %), "
                    "so ranks would be mostly ties; Newcombe CI for the difference, exact conditional CI for the OR"),
        )
        return row
    sr = mann_whitney_hl(gt["log10_value"].to_numpy(), gr["log10_value"].to_numpy(), alpha=alpha)
    cens_note = (f"; {n_cens}/{len(g)} censored values ranked at their substituted value" if n_cens else "")
    row.update(
        test="Mann-Whitney", effect="Hodges-Lehmann shift of log10(value) (treated - reference)",
        estimate=sr.shift, ci_low=sr.ci_low, ci_high=sr.ci_high,
        ratio=_pow10(sr.shift), ratio_ci_low=_pow10(sr.ci_low), ratio_ci_high=_pow10(sr.ci_high), p=sr.p,
        method=f"{sr.method}, on log10(value) (ranks unchanged; shift read as a ratio){cens_note}",
    )
    return row

def _mark_deaths(aucs: pd.DataFrame, deaths: Mapping[str, float], window: tuple[int, int]) -> pd.DataFrame:
    """Return ``aucs`` with the status of a patient without an AUC who died before the window's end saying so."""
    end = window[1]
    died = aucs["patient_id"].map(lambda p: p in deaths and float(deaths[p]) <= end).astype(bool)
    died &= ~np.isfinite(aucs["auc_mean"].to_numpy(dtype=float))
    out = aucs.copy()
    out.loc[died, "auc_status"] = [f"NaN: died before day {end}" if float(deaths[p]) < end else f"NaN: died on day {end}"
                                   for p in out.loc[died, "patient_id"]]
    return out


def auc_testable(auc: pd.DataFrame, treated: str, reference: str, min_per_arm: int) -> str | None:
    """Return why a feature's AUC comparison is not tested (an arm under ``min_per_arm`` patients), or None.

    The same minimum as the per-visit tests and the mixed model: below it a rank test cannot reach
    a small p nor give a CI, and it would only dilute the Benjamini-Hochberg family.
    """
    ok = auc[np.isfinite(auc["auc_mean"].to_numpy(dtype=float))]
    nt, nr = int((ok["arm"] == treated).sum()), int((ok["arm"] == reference).sum())
    if min(nt, nr) >= min_per_arm:
        return None
    return (f"not tested: an arm has fewer than min_per_arm = {min_per_arm} patients with an AUC over the window "
            f"({nt} treated vs {nr} reference)")


def _auc_test_row(key: dict[str, Any], auc: pd.DataFrame, treated: str, reference: str, alpha: float,
                  window: tuple[int, int], min_per_arm: int = 2) -> dict[str, Any]:
    ok = auc[np.isfinite(auc["auc_mean"].to_numpy(dtype=float))]
    xt = ok.loc[ok["arm"] == treated, "auc_mean"].to_numpy(dtype=float)
    xr = ok.loc[ok["arm"] == reference, "auc_mean"].to_numpy(dtype=float)
    untestable = auc_testable(auc, treated, reference, min_per_arm)
    sr = mann_whitney_hl(xt, xr, alpha=alpha) if untestable is None else None
    excluded = auc[~auc.index.isin(ok.index)]
    reasons = excluded["auc_status"].str.removeprefix("NaN: ").value_counts().to_dict()
    n_died = int(excluded["auc_status"].str.startswith("NaN: died").sum())
    survivors = (f"; AUC among survivors only: {n_died} patient(s) who died before the window's end have none, so the "
                 "comparison is biased by informative missingness (deaths are not missing at random); read it beside "
                 "the mortality table (immunolab outcomes)") if n_died else ""
    return {
        **key, "window": f"{window[0]}-{window[1]}", "treated": treated, "reference": reference,
        "n_treated": int(xt.size), "n_reference": int(xr.size), "n_excluded": len(excluded),
        "n_died_excluded": n_died,
        "excluded_reasons": "; ".join(f"{k} ({v})" for k, v in sorted(reasons.items())),
        "median_treated": float(np.median(xt)) if xt.size else np.nan,
        "median_reference": float(np.median(xr)) if xr.size else np.nan,
        "shift": sr.shift if sr else np.nan, "ci_low": sr.ci_low if sr else np.nan,
        "ci_high": sr.ci_high if sr else np.nan, "p": sr.p if sr else np.nan,
        "method": (f"{sr.method if sr else untestable}, on the time-averaged AUC (trapezoid over observed visits of days "
                   f"{window[0]}-{window[1]} / window length, measure units); patients without a value at both "
                   f"window ends excluded{survivors}"),
    }

def _auc_ancova(auc: pd.DataFrame, covs: pd.DataFrame, treated: str, adjust: Sequence[str],
                alpha: float, untestable: str | None = None) -> dict[str, Any]:
    """Return the arm coefficient of OLS auc_mean ~ arm + covariates (patient-level covariates)."""
    import statsmodels.api as sm

    from immunolab.analysis.mixed_model import add_covariate_columns

    ok = auc[np.isfinite(auc["auc_mean"].to_numpy(dtype=float))].merge(covs, on="patient_id", how="left")
    ok = ok.dropna(subset=list(adjust))
    out: dict[str, Any] = dict.fromkeys(("adjusted_shift", "adjusted_ci_low", "adjusted_ci_high", "adjusted_p"), np.nan)
    if untestable is not None:
        out["adjusted_method"] = "ANCOVA not estimable, " + untestable
        out["adjusted_for"] = "none"
        return out
    X = np.column_stack([np.ones(len(ok)), (ok["arm"] == treated).to_numpy(dtype=float)])
    if ok.empty:
        out["adjusted_method"] = "ANCOVA not estimable (no patient has an AUC over the window with every covariate)"
        out["adjusted_for"] = "none"
        return out
    X, _kept, used, left_out = add_covariate_columns(X, ok, adjust)
    if len(ok) <= X.shape[1] + 1 or np.linalg.matrix_rank(X) < X.shape[1]:
        out["adjusted_method"] = "ANCOVA not estimable (too few patients for the covariates)"
        out["adjusted_for"] = "none"
        return out
    fit = sm.OLS(ok["auc_mean"].to_numpy(dtype=float), X).fit()
    lo, hi = fit.conf_int(alpha=alpha)[1]
    out.update(adjusted_shift=float(fit.params[1]), adjusted_ci_low=float(lo), adjusted_ci_high=float(hi),
               adjusted_p=float(fit.pvalues[1]), adjusted_for=",".join(used) or "none",
               adjusted_method=("ANCOVA: OLS of the time-averaged AUC on arm + " + " + ".join(adjust)
                                + f" (n = {len(ok)}); arm coefficient (treated - reference, measure units) with t CI"
                                + (f"; left out as aliased: {', '.join(left_out)}" if left_out else "")))
    return out

def _patient_covariates(data: pd.DataFrame, adjust: Sequence[str]) -> pd.DataFrame:
    """Return one row per patient with the first non-missing value of each covariate."""
    return data.groupby("patient_id", sort=True)[list(adjust)].first().reset_index()

def compare_arms(
    view: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    measures: Sequence[str] | None = None,
    window: tuple[int, int] = (0, 28),
    alpha: float = 0.05,
    censor_threshold: float = 0.5,
    reference_arm: str | None = None,
    min_per_arm: int = 2,
    adjust: Sequence[str] | None = None,
    deaths: Mapping[str, float] | None = None,
) -> ArmComparison:
    """Return the arm comparison tables for a measurements view (see module doc).

    ``view`` is the output of :func:`measurements_view` (a raw ``measurements`` DataFrame is
    turned into one first). ``measures`` defaults to :data:`DEFAULT_MEASURES` when present.
    ``window`` is the AUC window in days (both ends must be visit days). ``adjust`` names
    covariate columns of the view to add as fixed effects (``IML-ANA-006`` when absent).
    ``deaths`` maps a patient id to the study day of death (the AUC exclusions name them).
    """
    adjust = list(adjust or [])
    check_covariates(view, adjust)
    if "log10_value" not in view.columns:
        extra = view[["patient_id", *adjust]].drop_duplicates("patient_id") if adjust else None
        view = measurements_view(view)
        if extra is not None:
            view = view.drop(columns=[c for c in adjust if c in view.columns]).merge(extra, on="patient_id", how="left")
    no_arm = int(view["arm"].isna().sum()) if "arm" in view else 0
    view = view[view["arm"].notna()]
    data = select_rows(view, features, measures)
    adjust, adjust_left_out = usable_covariates(data, adjust)
    text = model_text(adjust)
    treated, reference = choose_arms(list(data["arm"].unique()), reference_arm)
    check_window(data, window)
    omnibus: list[dict[str, Any]] = []
    effects: list[dict[str, Any]] = []
    tests: list[dict[str, Any]] = []
    auc_rows: list[dict[str, Any]] = []
    aucs = _mark_deaths(patient_auc(data, window), deaths or {}, window)
    for fkey, g in data.groupby(FEATURE_KEYS, sort=True):
        key = dict(zip(FEATURE_KEYS, fkey, strict=True))
        key["unit"] = g["unit"].dropna().iloc[0] if g["unit"].notna().any() else None
        finite = g[np.isfinite(g["value"].to_numpy(dtype=float))]
        pct_cens = 100.0 * float(finite["censored"].mean()) if len(finite) else 0.0
        constant = len(finite) > 0 and float(np.ptp(finite["value"].to_numpy(dtype=float))) == 0.0
        if pct_cens >= 100.0 * censor_threshold or constant:
            res = MixedModelResult(None, None, {}, sorted(int(v) for v in g["visit_day"].unique()), treated, reference,
                                   len(finite), int(finite["patient_id"].nunique()), np.nan, np.nan, False)
            res.error = ("every value is the same (no variation to compare; e.g. a parent gate's share of itself)"
                         if constant else
                         f"{pct_cens:.0f} % of values censored (>= {100 * censor_threshold:.0f} %): the model would "
                         "treat substituted values as measurements; see the per-visit Fisher tests of % detectable")
        else:
            res = fit_arm_visit_model(g, treated=treated, reference=reference, min_per_arm=min_per_arm, alpha=alpha,
                                      covariates=adjust, baseline_last_day=BASELINE_LAST_DAY)
        omnibus.extend(_omnibus_rows(key, res, pct_cens, text, adjust_left_out))
        counts = {(str(a), int(v)): int(n) for (a, v), n in finite.groupby(["arm", "visit_day"]).size().items()}
        effects.extend(_visit_effect_rows(key, res, counts, text))
        feature_tests = [
            _visit_test_row(key, v, g[g["visit_day"] == v], treated, reference, censor_threshold, alpha, min_per_arm)
            for v in sorted(int(d) for d in g["visit_day"].unique())
        ]
        for r in feature_tests:
            r["family"] = BASELINE_FAMILY if r["visit_day"] <= BASELINE_LAST_DAY else TREATMENT_FAMILY
        post = [r for r in feature_tests if r["family"] == TREATMENT_FAMILY]
        for r, qv in zip(post, bh_adjust([r["p"] for r in post]), strict=True):
            r["q_bh_feature"] = qv
        tests.extend(feature_tests)
        fa = aucs[(aucs["assay"] == key["assay"]) & (aucs["feature"] == key["feature"]) & (aucs["measure"] == key["measure"])]
        auc_row = _auc_test_row(key, fa, treated, reference, alpha, window, min_per_arm)
        auc_row["adjusted_for"] = "none"
        if adjust:
            auc_row.update(_auc_ancova(fa, _patient_covariates(g, adjust), treated, adjust, alpha,
                                       auc_testable(fa, treated, reference, min_per_arm)))
        auc_rows.append(auc_row)
    omnibus_df = pd.DataFrame(omnibus)
    for test in omnibus_df["test"].unique():
        sel = omnibus_df["test"] == test
        omnibus_df.loc[sel, "q_bh"] = bh_adjust(omnibus_df.loc[sel, "p"].to_numpy())
    tests_df = pd.DataFrame(tests)
    if "q_bh_feature" not in tests_df:
        tests_df["q_bh_feature"] = np.nan
    for fam in (TREATMENT_FAMILY, BASELINE_FAMILY):  # baseline tests check imbalance: never in the treatment family
        sel = tests_df["family"] == fam
        tests_df.loc[sel, "q_bh_all"] = bh_adjust(tests_df.loc[sel, "p"].to_numpy())
    auc_tests = pd.DataFrame(auc_rows)
    auc_tests["q_bh"] = bh_adjust(auc_tests["p"].to_numpy())
    ancova = baseline_ancova(data, treated=treated, reference=reference, adjust=adjust, alpha=alpha,
                             censor_threshold=censor_threshold, min_per_arm=min_per_arm,
                             baseline_last_day=BASELINE_LAST_DAY)
    settings = {
        "treated": treated, "reference": reference, "window_days": list(window), "alpha": alpha,
        "censor_threshold": censor_threshold, "min_per_arm": min_per_arm,
        "measures": sorted(set(data["measure"])), "n_features": int(data.groupby(FEATURE_KEYS).ngroups),
        "rows_without_arm_excluded": no_arm, "model": text, "adjust": adjust,
        "adjust_left_out": adjust_left_out,
        "censoring_rule": "plugin substitution (LLOQ/2 below, ULOQ above by default); Fisher exact on % detectable "
                          f"when >= {100 * censor_threshold:.0f} % of a visit's values are censored (a feature "
                          "that censored overall is not modelled); an average of replicates of which one was "
                          "quantified (censor 'mixed') counts as a measurement",
        "log10_rule": "values <= 0 replaced by half the smallest positive value of the feature before log10",
        "multiplicity": "Benjamini-Hochberg over features for omnibus and AUC tests (q_bh); per-visit tests of "
                        f"post-baseline visits within feature over visits (q_bh_feature) and over the table (q_bh_all); "
                        f"tests of visits on or before day {BASELINE_LAST_DAY} check baseline imbalance and form "
                        "their own family (column family; q_bh_all among themselves, no q_bh_feature); baseline-"
                        "adjusted ANCOVA within feature over visits (q_bh_feature) and over its table (q_bh_all)",
        "bh_families": {**_family_sizes(omnibus_df, tests_df, auc_tests),
                        "ancova": int(np.isfinite(ancova["p"].to_numpy(dtype=float)).sum())},
    }
    return ArmComparison(
        omnibus=omnibus_df,
        visit_effects=pd.DataFrame(effects),
        visit_tests=tests_df,
        auc=aucs,
        auc_tests=auc_tests,
        summary=trajectory_summary(data),
        ancova=ancova,
        settings=settings,
    )

def _family_sizes(omnibus: pd.DataFrame, tests: pd.DataFrame, auc_tests: pd.DataFrame) -> dict[str, int]:
    """Return the number of tests (with a p-value) in each Benjamini-Hochberg family."""
    def n(df: pd.DataFrame) -> int:
        return int(np.isfinite(df["p"].to_numpy(dtype=float)).sum()) if "p" in df else 0

    out = {f"omnibus: {t}": n(omnibus[omnibus["test"] == t]) for t in omnibus["test"].unique()}
    out.update({f"visit_tests: {f}": n(tests[tests["family"] == f]) for f in (TREATMENT_FAMILY, BASELINE_FAMILY)})
    out["auc_tests"] = n(auc_tests)
    return out


def compare_store(store: Store, **kwargs: Any) -> ArmComparison:
    """Return :func:`compare_arms` of the store's measurements view (same keyword arguments).

    ``settings["qc_excluded_values"]`` counts the values of the compared features and measures
    left out by QC decisions (``qc exclude``), not those of features the comparison does not read;
    ``store_version`` and ``immunolab_version`` say what the results were computed from.
    """
    from immunolab import __version__
    from immunolab.analysis.trial_tables import trial_outcomes

    view = measurements_view(store)
    if view.empty and (failed := no_values_since_gating_failed(store, "compare")) is not None:
        raise failed
    if "deaths" not in kwargs:
        out = trial_outcomes(store)
        if not out.empty:
            dead = out[out["event"] == "death"].dropna(subset=["study_day"])
            kwargs["deaths"] = {str(p): float(d) for p, d in zip(dead["patient_id"], dead["study_day"], strict=True)}
    view = _with_extra_covariates(store, view, kwargs.get("adjust") or [])
    result = compare_arms(view, **kwargs)
    result.settings["qc_excluded_values"] = _excluded_compared(store, view, kwargs)
    result.settings.update(store_version=int(store.version), immunolab_version=__version__)
    return result

def _with_extra_covariates(store: Store, view: pd.DataFrame, adjust: Sequence[str]) -> pd.DataFrame:
    """Return ``view`` with the subjects file's extra covariate columns ``adjust`` names (bmi, diabetes).

    The view carries site, sex, age and severity; any other column of the subjects file is a
    covariate too (:func:`immunolab.analysis.trial_tables.trial_subjects`, numbers kept numbers).
    A name found nowhere is left for :func:`check_covariates` to refuse.
    """
    wanted = [c for c in adjust if c not in view.columns and c not in _NOT_COVARIATES]
    if not wanted:
        return view
    from immunolab.analysis.trial_tables import trial_subjects

    subj = trial_subjects(store)
    have = [c for c in wanted if c in subj.columns]
    if not have:
        return view
    extra = subj[["patient_id", *have]].assign(patient_id=subj["patient_id"].astype(str))
    out = view.merge(extra, on="patient_id", how="left")
    out.attrs.update(view.attrs)
    return out


def _excluded_compared(store: Store, view: pd.DataFrame, kwargs: dict[str, Any]) -> int:
    """Return how many values QC decisions left out of the features and measures :func:`compare_arms` compared."""
    if not view.attrs.get("n_excluded", 0):
        return 0
    # the same selection, on the view that keeps the excluded values (flagged in ``excluded``)
    every = measurements_view(store, include_excluded=True)
    compared = select_rows(every, kwargs.get("features"), kwargs.get("measures"))
    return int(compared["excluded"].fillna(False).astype(bool).sum())


def write_comparison(result: ArmComparison, out_dir: str | Path) -> list[Path]:
    """Write every table as CSV and Parquet plus ``settings.json`` into ``out_dir``; return the paths."""
    from immunolab.io.csv_safe import write_csv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, df in result.tables().items():
        csv_path, pq_path = out / f"{name}.csv", out / f"{name}.parquet"
        write_csv(df, csv_path)  # formula-like text neutralised for spreadsheets; Parquet keeps it raw
        df.to_parquet(pq_path, index=False)
        written += [csv_path, pq_path]
    settings = out / "settings.json"
    settings.write_text(json.dumps(result.settings, indent=2, sort_keys=True) + "\n")
    written.append(settings)
    return written
