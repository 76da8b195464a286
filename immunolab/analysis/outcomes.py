"""Clinical outcomes of the trial: mortality, survival, adverse events, clinical improvement, immune features.

- :func:`mortality_by_arm`, :func:`time_to_event`, :func:`kaplan_meier`, :func:`logrank`,
  :func:`plot_kaplan_meier` (:mod:`immunolab.analysis.survival`): 28-day mortality and survival.
- :func:`ae_summary`: treatment-emergent adverse events by arm: events, patients with >= 1 event (% of the arm),
  by worst CTCAE grade per patient, grade >= 3, serious and related; Fisher exact per category.
- :func:`time_to_improvement`: first day of a ``points``-point fall of an ordinal scale (WHO
  ordinal scale, ``WHOOSCI``, lower = better) from baseline, or discharge alive, whichever is
  first; a death before improvement is censored at the horizon (no improvement possible: the
  convention of the COVID-19 trials that used this endpoint); then KM and log-rank.
- :func:`immune_by_survival`: each immune feature at baseline and its change to ``change_day``
  in patients who died by ``day`` vs survivors (Mann-Whitney, Hodges-Lehmann shift, Moses CI),
  and :func:`trajectory_by_survival` (median trajectories by survival status).

Every result row has a ``method`` and, where counts are small, the small-n ``caveat``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from immunolab.analysis.compare import choose_arms
from immunolab.analysis.nonparametric import fisher_detectable, mann_whitney_hl
from immunolab.analysis.survival import (
    SMALL_N_CAVEAT,
    check_outcomes,
    cumulative_incidence,
    kaplan_meier,
    last_contact_days,
    logrank,
    mortality_by_arm,
    plot_kaplan_meier,
    time_to_event,
)
from immunolab.errors import InputError

__all__ = [
    "SMALL_N_CAVEAT",
    "ae_summary",
    "cumulative_incidence",
    "immune_by_survival",
    "kaplan_meier",
    "last_contact_days",
    "logrank",
    "mortality_by_arm",
    "plot_kaplan_meier",
    "time_to_event",
    "time_to_improvement",
    "trajectory_by_survival",
    "treatment_emergent",
]


def _frame(data: pd.DataFrame | pa.Table) -> pd.DataFrame:
    return data.to_pandas() if isinstance(data, pa.Table) else data.copy()


def _ae_categories(ae: pd.DataFrame) -> list[tuple[str, pd.Series, pd.Series]]:
    """Return (category, events counted, events whose patient counts) per AE category."""
    grade = pd.to_numeric(ae["grade"], errors="coerce")
    worst = grade.groupby(ae["patient_id"]).transform("max")
    every = pd.Series(True, index=ae.index)
    cats = [("any adverse event", every, every)]
    cats += [(f"grade {g} (worst per patient)", grade == g, (grade == g) & (worst == g)) for g in range(1, 6)]
    for name, mask in (("grade >= 3", grade >= 3), ("grade not recorded", grade.isna()),
                       ("serious", ae["serious"].astype("boolean").fillna(False).astype(bool)),
                       ("related", ae["related"].astype("boolean").fillna(False).astype(bool)),
                       ("fatal", ae["outcome"] == "fatal")):
        cats.append((name, mask, mask))
    return cats


def treatment_emergent(ae: pd.DataFrame) -> pd.Series:
    """Return per adverse event whether it is treatment-emergent: onset on or after Day 0 (the first infusion).

    An event without an onset day counts as treatment-emergent (the conservative convention).
    One rule for the AE tables by arm, ADSL's AE summary and ADAE's TRTEMFL.
    """
    if "start_day" not in ae:
        return pd.Series(True, index=ae.index)
    start = pd.to_numeric(ae["start_day"], errors="coerce")
    return start.isna() | (start >= 0)


def ae_summary(subjects: pd.DataFrame | pa.Table, adverse_events: pd.DataFrame | pa.Table, *,
               reference_arm: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Return treatment-emergent adverse events by arm and category: events, patients with >= 1 (n, %), Fisher p, risk difference.

    ``grade g`` rows count events of grade g and the patients whose *worst* event has grade g
    (each patient once across grades); the other rows count patients with at least one such
    event. Patients without any AE are in the denominators (the subjects of each arm). Events
    with onset before Day 0 (:func:`treatment_emergent`) are left out and counted in
    ``n_pretreatment_events_excluded``.
    """
    subj, ae = _frame(subjects), _frame(adverse_events)
    subj["patient_id"], ae["patient_id"] = subj["patient_id"].astype(str), ae["patient_id"].astype(str)
    unknown = sorted(set(ae["patient_id"]) - set(subj["patient_id"]))
    if unknown:
        raise InputError("IML-ANA-008", f"adverse events name patient(s) not in the subjects table: {', '.join(unknown[:5])}",
                         hint="Read the AE file with the trial's subjects file.")
    emergent = treatment_emergent(ae)
    n_before = int((~emergent).sum())
    ae = ae[emergent]
    treated, reference = choose_arms(list(subj["arm"]), reference_arm)
    n_arm = subj.groupby("arm")["patient_id"].nunique()
    ae = ae.merge(subj[["patient_id", "arm"]], on="patient_id", how="left")
    rows = []
    for name, events, patients in _ae_categories(ae):
        counts: dict[str, tuple[int, int]] = {}
        for arm in (treated, reference):
            in_arm = ae["arm"] == arm
            counts[arm] = (int((events & in_arm).sum()), int(ae.loc[patients & in_arm, "patient_id"].nunique()))
        (et, pt), (er, pr) = counts[treated], counts[reference]
        fr = fisher_detectable(pt, int(n_arm[treated]), pr, int(n_arm[reference]), alpha=alpha)
        rows.append({
            "category": name, "treated": treated, "reference": reference,
            "n_treated": int(n_arm[treated]), "n_reference": int(n_arm[reference]),
            "events_treated": et, "events_reference": er, "patients_treated": pt, "patients_reference": pr,
            "pct_patients_treated": 100 * pt / n_arm[treated], "pct_patients_reference": 100 * pr / n_arm[reference],
            "risk_difference": fr.diff, "rd_ci_low": fr.diff_ci_low, "rd_ci_high": fr.diff_ci_high, "p": fr.p,
            "n_pretreatment_events_excluded": n_before,
            "method": ("treatment-emergent events (onset on or after Day 0); patients with >= 1 event per arm "
                       "(worst grade per patient for grade rows); Fisher exact; risk difference with Newcombe "
                       "hybrid-score CI; events counted as recorded"),
            "caveat": SMALL_N_CAVEAT,
        })
    return pd.DataFrame(rows)


def time_to_improvement(subjects: pd.DataFrame | pa.Table, scores: pd.DataFrame | pa.Table,
                        outcomes: pd.DataFrame | pa.Table | None = None, *, test_code: str = "WHOOSCI",
                        points: int = 2, horizon: int = 28, baseline_day: int = 0,
                        last_contact: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Return time-to-event rows (patient_id, arm, time, event, censor_reason, baseline_score, no_baseline_score) of clinical improvement.

    The baseline score is the last score in the baseline visit's window
    (:func:`immunolab.derive.views.visit_window_bounds`: Day -1 to Day 0 for Day 0), the window
    README and ADLB use; an earlier score is no baseline. A patient alive without improvement is
    censored at the horizon, or at ``last_contact[patient]`` (last study day with any data) when
    that is earlier, as in :func:`time_to_event`; a death before improvement is censored at the
    horizon (death as the worst outcome, never an improvement). Without a baseline score only a
    discharge can be an event: ``no_baseline_score`` says so, and ``censor_reason`` keeps the
    censoring that applies (death, last contact), or is ``no baseline score`` for a patient
    followed to the horizon, whose improvement could not be assessed.
    """
    from immunolab.derive.views import visit_window_bounds

    first_baseline_day = visit_window_bounds(baseline_day)[0]
    subj = _frame(subjects).assign(patient_id=lambda d: d["patient_id"].astype(str))
    out = _frame(outcomes) if outcomes is not None else pd.DataFrame(columns=["patient_id", "event", "study_day"])
    subj, out = check_outcomes(subj, out)
    sc = _frame(scores)
    sc = sc[(sc["test_code"] == test_code) & sc["value"].notna() & sc["study_day"].notna()]
    sc = sc.assign(patient_id=sc["patient_id"].astype(str), study_day=sc["study_day"].astype(int))
    rows = []
    for rec in subj.to_dict("records"):
        pid = rec["patient_id"]
        mine = sc[sc["patient_id"] == pid].sort_values("study_day")
        base = mine.loc[mine["study_day"].between(first_baseline_day, baseline_day), "value"]
        base_score = float(base.iloc[-1]) if len(base) else np.nan
        improved = mine[(mine["study_day"] > baseline_day) & (mine["study_day"] <= horizon)
                        & (mine["value"] <= base_score - points)]
        events = out[(out["patient_id"] == pid) & out["study_day"].notna()]
        discharge = events.loc[events["event"] == "discharge", "study_day"]
        first = [int(improved["study_day"].min())] if len(improved) else []
        first += [int(d) for d in discharge if d <= horizon]
        death = events.loc[events["event"] == "death", "study_day"]
        if first and (death.empty or min(first) <= int(death.min())):
            rows.append({"patient_id": pid, "arm": rec["arm"], "time": min(first), "event": 1, "censor_reason": None,
                         "baseline_score": base_score, "no_baseline_score": bool(np.isnan(base_score))})
            continue
        reason = "death (censored at the horizon)" if not death.empty else "no improvement by the horizon"
        time = horizon
        if death.empty and last_contact is not None and pid in last_contact and int(last_contact[pid]) < horizon:
            time, reason = max(int(last_contact[pid]), 0), "last contact"
        if np.isnan(base_score) and reason == "no improvement by the horizon":
            reason = "no baseline score"
        rows.append({"patient_id": pid, "arm": rec["arm"], "time": time, "event": 0, "censor_reason": reason,
                     "baseline_score": base_score, "no_baseline_score": bool(np.isnan(base_score))})
    return pd.DataFrame(rows)


def _survival_status(outcomes: pd.DataFrame, subjects: pd.DataFrame, day: int) -> pd.Series:
    subj, out = check_outcomes(subjects, outcomes)
    dead = set(out.loc[(out["event"] == "death") & (pd.to_numeric(out["study_day"]) <= day), "patient_id"])
    return pd.Series({p: ("died" if p in dead else "survived") for p in subj["patient_id"]}, name="status")


def immune_by_survival(view: pd.DataFrame, subjects: pd.DataFrame | pa.Table, outcomes: pd.DataFrame | pa.Table,
                       *, day: int = 28, change_day: int = 6, baseline_day: int = 0,
                       alpha: float = 0.05) -> pd.DataFrame:
    """Return, per feature, baseline and change to ``change_day`` in patients who died by ``day`` vs survivors.

    ``view``: the measurements view (patient_id, visit_day, assay, feature, measure, value,
    log10_value). Estimates are Hodges-Lehmann shifts (died - survived) of log10(value) at
    baseline and of log10(value / baseline) at ``change_day``, with Moses CIs and Mann-Whitney p.
    """
    status = _survival_status(_frame(outcomes), _frame(subjects), day)
    v = view.assign(patient_id=view["patient_id"].astype(str))
    v = v[v["patient_id"].isin(status.index)].assign(status=lambda d: d["patient_id"].map(status))
    rows: list[dict[str, Any]] = []
    for (assay, feature, measure), g in v.groupby(["assay", "feature", "measure"], sort=True):
        base = g[g["visit_day"] == baseline_day].set_index("patient_id")["log10_value"]
        later = g[g["visit_day"] == change_day].set_index("patient_id")["log10_value"]
        change = (later - base.reindex(later.index)).dropna()
        for what, series in (("baseline log10(value)", base), (f"change to day {change_day}, log10 fold", change)):
            groups = status.reindex(series.index).to_numpy()
            d = series.to_numpy(dtype=float)[groups == "died"]
            s = series.to_numpy(dtype=float)[groups == "survived"]
            sr = mann_whitney_hl(d, s, alpha=alpha)
            rows.append({
                "assay": assay, "feature": feature, "measure": measure, "quantity": what,
                "n_died": int(np.isfinite(d).sum()), "n_survived": int(np.isfinite(s).sum()),
                "median_died": float(np.nanmedian(d)) if d.size else np.nan,
                "median_survived": float(np.nanmedian(s)) if s.size else np.nan,
                "shift": sr.shift, "ci_low": sr.ci_low, "ci_high": sr.ci_high, "p": sr.p,
                "method": f"{sr.method}; died by day {day} vs survived (Hodges-Lehmann shift died - survived)",
                "caveat": (f"{SMALL_N_CAVEAT}; exploratory, not adjusted for arm; patients who died early miss "
                           "later visits, so changes describe those still alive at that day"),
            })
    return pd.DataFrame(rows)


def trajectory_by_survival(view: pd.DataFrame, subjects: pd.DataFrame | pa.Table, outcomes: pd.DataFrame | pa.Table,
                           *, day: int = 28, value: str = "value") -> pd.DataFrame:
    """Return n, median, q1, q3 of ``value`` per feature x survival status (died by ``day`` / survived) x visit."""
    status = _survival_status(_frame(outcomes), _frame(subjects), day)
    v = view.assign(patient_id=view["patient_id"].astype(str))
    v = v[v["patient_id"].isin(status.index) & v[value].notna()].assign(status=lambda d: d["patient_id"].map(status))
    g = v.groupby(["assay", "feature", "measure", "status", "visit_day"], sort=True)[value]
    out = g.agg(n="size", median="median", q1=lambda x: x.quantile(0.25), q3=lambda x: x.quantile(0.75)).reset_index()
    return out.assign(statistic_of=value, caveat=SMALL_N_CAVEAT)
