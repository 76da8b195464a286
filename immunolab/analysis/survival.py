"""Time-to-event data, 28-day mortality by arm, Kaplan-Meier curves and the log-rank test.

Time-to-event rule (:func:`time_to_event`), per patient of the subjects table:

- the event (``death`` by default) on its study day when it falls within ``horizon`` days;
- otherwise censored at the earliest of: the horizon, a withdrawal or loss to follow-up (the
  last day the patient was known to be in the study), and ``last_contact[patient]`` when given
  (e.g. the last visit with a sample). A patient with no event and no censoring information is
  censored at the horizon (administrative censoring: the protocol follows every patient to
  the horizon; pass ``last_contact`` when that is not true). :func:`last_contact_days` gives
  the last study day any data of a patient is on (samples, results, AEs, outcomes); the
  trial's endpoints pass it, so no survival curve follows a patient past the last day seen (the
  mortality proportion below still counts such a patient alive, and says how many there were).

28-day mortality (:func:`mortality_by_arm`): deaths on or before day 28 over the patients of
each arm (a patient censored earlier counts as alive; how many were is reported), Fisher's
exact test, the risk difference (treated - reference) with the Newcombe hybrid-score CI and the
conditional odds ratio with its exact CI. Kaplan-Meier (:func:`kaplan_meier`) and log-rank
(:func:`logrank`) use ``lifelines`` (imported only when called); the KM 95 % CI is lifelines'
exponential Greenwood (log(-log)) interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from immunolab.analysis.compare import choose_arms
from immunolab.analysis.nonparametric import fisher_detectable
from immunolab.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "SMALL_N_CAVEAT",
    "check_outcomes",
    "cumulative_incidence",
    "kaplan_meier",
    "last_contact_days",
    "logrank",
    "mortality_by_arm",
    "plot_kaplan_meier",
    "time_to_event",
]

SMALL_N_CAVEAT = ("small-n caveat: with about 10 patients per arm a single event moves a proportion by 10 "
                  "percentage points; confidence intervals are wide and p-values exploratory")
_CENSORING_EVENTS = ("withdrawal", "lost_to_follow_up")


def _frame(data: pd.DataFrame | pa.Table) -> pd.DataFrame:
    return data.to_pandas() if isinstance(data, pa.Table) else data.copy()


def _outcome_error(message: str, hint: str) -> InputError:
    return InputError("IML-ANA-008", message, hint=hint)


def check_outcomes(subjects: pd.DataFrame, outcomes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (subjects, outcomes) with string ids after checking they fit together (``IML-ANA-008``)."""
    for col in ("patient_id", "arm"):
        if col not in subjects.columns:
            raise _outcome_error(f"the subjects table lacks column {col}", "Pass subjects.csv (patient_id, arm, ...).")
    for col in ("patient_id", "event", "study_day"):
        if col not in outcomes.columns:
            raise _outcome_error(f"the outcomes table lacks column {col}", "Pass the clinical outcomes table.")
    subjects = subjects.assign(patient_id=subjects["patient_id"].astype(str))
    outcomes = outcomes.assign(patient_id=outcomes["patient_id"].astype(str))
    unknown = sorted(set(outcomes["patient_id"]) - set(subjects["patient_id"]))
    if unknown:
        raise _outcome_error(f"outcomes name patient(s) not in the subjects table: {', '.join(unknown[:5])}",
                             "Read the outcomes with the trial's subjects file, or add the patients.")
    deaths = outcomes[outcomes["event"] == "death"]
    twice = sorted(deaths.loc[deaths["patient_id"].duplicated(), "patient_id"].unique())
    if twice:
        raise _outcome_error(f"patient(s) {', '.join(twice[:5])} die twice in the outcomes",
                             "Keep one death per patient (e.g. read DM or DS, not both).")
    before = deaths[pd.to_numeric(deaths["study_day"], errors="coerce") < 0]
    if not before.empty:
        raise _outcome_error(f"patient(s) {', '.join(sorted(before['patient_id'])[:5])} die before Day 0",
                             "Check the death date and the patient's day0_date.")
    first_death = pd.to_numeric(deaths["study_day"], errors="coerce").groupby(deaths["patient_id"]).min()
    discharges = outcomes[outcomes["event"] == "discharge"]
    later = pd.to_numeric(discharges["study_day"], errors="coerce") > discharges["patient_id"].map(first_death)
    if later.any():
        raise _outcome_error(f"patient(s) {', '.join(sorted(set(discharges.loc[later, 'patient_id']))[:5])} are "
                             "discharged alive after their death",
                             "Check the discharge and death dates of these patients in the clinical events.")
    return subjects, outcomes


def last_contact_days(subjects: pd.DataFrame, *sources: tuple[pd.DataFrame, Sequence[str]]) -> dict[str, int]:
    """Return patient -> the last study day of any row of ``sources`` (frame, its day columns); Day 0 without data.

    A patient of the subjects table with no dated row was last seen when enrolled, on Day 0.
    """
    last = dict.fromkeys(subjects["patient_id"].astype(str), 0)
    for frame, columns in sources:
        for column in columns:
            if frame.empty or column not in frame.columns or "patient_id" not in frame.columns:
                continue
            days = pd.to_numeric(frame[column], errors="coerce")
            for pid, day in days.groupby(frame["patient_id"].astype(str)).max().dropna().items():
                if pid in last:
                    last[str(pid)] = max(last[str(pid)], int(day))
    return last


def time_to_event(
    subjects: pd.DataFrame | pa.Table,
    outcomes: pd.DataFrame | pa.Table,
    *,
    event: str = "death",
    horizon: int = 28,
    last_contact: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Return one row per subject: patient_id, arm, time (days), event (1/0), censor_reason (see module doc)."""
    subj, out = check_outcomes(_frame(subjects), _frame(outcomes))
    out = out[out["study_day"].notna()].assign(study_day=lambda d: d["study_day"].astype(int))
    rows = []
    for rec in subj.to_dict("records"):
        pid = rec["patient_id"]
        mine = out[out["patient_id"] == pid]
        hit = mine[(mine["event"] == event) & (mine["study_day"] <= horizon)]
        if not hit.empty:
            rows.append({"patient_id": pid, "arm": rec["arm"], "time": int(hit["study_day"].min()), "event": 1,
                         "censor_reason": None})
            continue
        limits = [(horizon, "horizon")]
        lost = mine[mine["event"].isin(_CENSORING_EVENTS)]
        if not lost.empty:
            limits.append((int(lost["study_day"].min()), str(lost.sort_values("study_day")["event"].iloc[0])))
        if last_contact is not None and pid in last_contact:
            limits.append((int(last_contact[pid]), "last contact"))
        time, reason = min(limits, key=lambda t: t[0])
        rows.append({"patient_id": pid, "arm": rec["arm"], "time": time, "event": 0, "censor_reason": reason})
    return pd.DataFrame(rows, columns=["patient_id", "arm", "time", "event", "censor_reason"])


def mortality_by_arm(
    subjects: pd.DataFrame | pa.Table,
    outcomes: pd.DataFrame | pa.Table,
    *,
    day: int = 28,
    reference_arm: str | None = None,
    alpha: float = 0.05,
    last_contact: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Return one row: deaths by ``day`` per arm, Fisher p, risk difference (Newcombe CI), odds ratio."""
    tte = time_to_event(subjects, outcomes, horizon=day, last_contact=last_contact)
    treated, reference = choose_arms(list(tte["arm"]), reference_arm)
    t, r = tte[tte["arm"] == treated], tte[tte["arm"] == reference]
    kt, kr = int(t["event"].sum()), int(r["event"].sum())
    fr = fisher_detectable(kt, len(t), kr, len(r), alpha=alpha)
    early = tte[(tte["event"] == 0) & (tte["time"] < day)]
    return pd.DataFrame([{
        "endpoint": f"{day}-day mortality", "treated": treated, "reference": reference,
        "n_treated": len(t), "n_reference": len(r), "deaths_treated": kt, "deaths_reference": kr,
        "risk_treated": kt / len(t), "risk_reference": kr / len(r),
        "risk_difference": fr.diff, "rd_ci_low": fr.diff_ci_low, "rd_ci_high": fr.diff_ci_high,
        "odds_ratio": fr.odds_ratio, "or_ci_low": fr.or_ci_low, "or_ci_high": fr.or_ci_high, "p": fr.p,
        "n_censored_before_day": len(early),
        "method": (f"Fisher exact test of deaths on or before day {day} by arm; risk difference (treated - reference) "
                   f"with the Newcombe hybrid-score {100 * (1 - alpha):.0f} % CI; conditional ML odds ratio with exact CI; "
                   "patients censored before the day count as alive"),
        "caveat": SMALL_N_CAVEAT,
    }])


def kaplan_meier(tte: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Return the KM curve per arm: arm, time, at_risk, events, censored, survival, ci_low, ci_high, median."""
    from lifelines import KaplanMeierFitter

    parts = []
    for arm, g in tte.groupby("arm", sort=True):
        km = KaplanMeierFitter(alpha=alpha).fit(g["time"].astype(float), g["event"].astype(int), label="S")
        table = km.event_table
        ci = km.confidence_interval_
        parts.append(pd.DataFrame({
            "arm": arm, "time": table.index.to_numpy(dtype=float), "at_risk": table["at_risk"].to_numpy(),
            "events": table["observed"].to_numpy(), "censored": table["censored"].to_numpy(),
            "survival": km.survival_function_["S"].to_numpy(), "ci_low": ci.iloc[:, 0].to_numpy(),
            "ci_high": ci.iloc[:, 1].to_numpy(), "median_time": float(km.median_survival_time_),
            "method": "Kaplan-Meier (lifelines); CI: exponential Greenwood (log(-log))",
        }))
    return pd.concat(parts, ignore_index=True)


def cumulative_incidence(curves: pd.DataFrame) -> pd.DataFrame:
    """Return KM curves as the cumulative share with the event, 1 - S, with its band [1 - ci_high, 1 - ci_low]."""
    return curves.assign(survival=1 - curves["survival"], ci_low=1 - curves["ci_high"], ci_high=1 - curves["ci_low"])


def logrank(tte: pd.DataFrame, *, reference_arm: str | None = None, endpoint: str = "death") -> pd.DataFrame:
    """Return one row: events per arm, log-rank chi-square (1 df) and p (lifelines)."""
    from lifelines.statistics import logrank_test

    treated, reference = choose_arms(list(tte["arm"]), reference_arm)
    t, r = tte[tte["arm"] == treated], tte[tte["arm"] == reference]
    res = logrank_test(t["time"], r["time"], event_observed_A=t["event"], event_observed_B=r["event"])
    return pd.DataFrame([{
        "endpoint": endpoint, "treated": treated, "reference": reference, "n_treated": len(t), "n_reference": len(r),
        "events_treated": int(t["event"].sum()), "events_reference": int(r["event"].sum()),
        "chi2": float(res.test_statistic), "p": float(res.p_value),
        "method": "log-rank test (lifelines logrank_test), 1 df; exact ties handled as in lifelines",
        "caveat": SMALL_N_CAVEAT,
    }])


def plot_kaplan_meier(curves: pd.DataFrame, *, title: str = "Survival", ylabel: str = "Survival probability",
                      arms: Sequence[str] | None = None) -> Figure:
    """Return a matplotlib Figure of KM step curves with CI bands and censoring ticks (days on x)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    for arm in arms or sorted(curves["arm"].unique()):
        c = curves[curves["arm"] == arm]
        ax.step(c["time"], c["survival"], where="post", label=f"{arm} (n={int(c['at_risk'].iloc[0])})")
        ax.fill_between(c["time"], c["ci_low"], c["ci_high"], step="post", alpha=0.15)
        cens = c[c["censored"] > 0]
        ax.plot(cens["time"], cens["survival"], "|", markersize=8, color=ax.lines[-1].get_color())
    ax.set_xlabel("Study day")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="lower left")
    return fig

