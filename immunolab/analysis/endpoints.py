"""The trial's clinical endpoints from a store, in one call: what ``immunolab outcomes`` and the report show.

:func:`trial_endpoints` returns named tables (each row says its ``method`` and, where counts
are small, its ``caveat``):

``mortality``              deaths by Day ``day`` per arm, Fisher exact, risk difference (Newcombe CI)
``survival_logrank``       log-rank test of time to death censored at Day ``day``
``survival_km``            Kaplan-Meier curves per arm (lifelines)
``adverse_events``         events / patients with >= 1 event / worst grade / grade >= 3 / serious by arm
``improvement_logrank``    time to a 2-point fall of the WHO ordinal scale (or discharge), when scored
``improvement_km``         its Kaplan-Meier curves
``immune_by_survival``     baseline and Day-``change_day`` change of the immune features in
                           patients who died vs survivors (exploratory)
``trajectory_by_survival`` median trajectories of those features by survival status

Which immune features: ``IL-6`` (every cytokine platform) and the absolute CD4+ / CD8+ T-cell
counts, plus any other ``features`` given. Tables that cannot be computed (no outcomes, no
AEs, no scores) are absent and named in ``notes`` with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from immunolab.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from immunolab.store.read import Store

__all__ = ["DEFAULT_IMMUNE_FEATURES", "Endpoints", "trial_endpoints"]

#: (feature, measure) pairs related to outcome by default
DEFAULT_IMMUNE_FEATURES: tuple[tuple[str, str], ...] = (
    ("IL-6", "concentration"), ("CD4+ T", "cells_per_uL"), ("CD8+ T", "cells_per_uL"), ("Lymphocytes", "cells_per_uL"),
)


@dataclass
class Endpoints:
    """Endpoint tables by name, and notes on what could not be computed."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    arms: tuple[str, str] | None = None

    def figures(self) -> dict[str, Figure]:
        """Return the Kaplan-Meier figures (survival, improvement) that could be drawn."""
        from immunolab.analysis.survival import cumulative_incidence, plot_kaplan_meier

        out = {}
        if "survival_km" in self.tables:
            out["survival_km"] = plot_kaplan_meier(self.tables["survival_km"], title="Survival to Day 28",
                                                   arms=self.arms)
        if "improvement_km" in self.tables:
            km = cumulative_incidence(self.tables["improvement_km"])
            out["improvement_km"] = plot_kaplan_meier(km, title="Clinical improvement (WHO scale -2 or discharge)",
                                                      ylabel="Cumulative share improved", arms=self.arms)
        return out


def store_last_contact(store: Store, subjects: pd.DataFrame, outcomes: pd.DataFrame) -> dict[str, int]:
    """Return each patient's last study day with any sample, clinical result, adverse event or outcome.

    The one rule of last contact: ``immunolab outcomes`` and the ADaM export (ADSL, ADTTE) censor there.
    """
    from immunolab.analysis.survival import last_contact_days
    from immunolab.analysis.trial_tables import trial_adverse_events, trial_clinical_results
    from immunolab.derive.views import samples

    return last_contact_days(subjects, (samples(store).to_pandas(), ("visit_day",)),
                             (trial_clinical_results(store), ("study_day",)),
                             (trial_adverse_events(store), ("start_day", "end_day")), (outcomes, ("study_day",)))


def _last_contact(store: Store, subjects: pd.DataFrame, outcomes: pd.DataFrame, day: int,
                  ep: Endpoints) -> dict[str, int]:
    """Return each patient's last study day with data; warn (``IML-ANA-012``) when ``day`` is past some."""
    import logging

    contact = store_last_contact(store, subjects, outcomes)
    dead = set(outcomes.loc[outcomes["event"] == "death", "patient_id"].astype(str))
    short = sorted(p for p, d in contact.items() if d < day and p not in dead)
    if short:
        text = (f"day {day} is after the last contact of {len(short)} patient(s) without a recorded death (the last "
                "study day with any sample, result, adverse event or outcome, a discharge included): the survival "
                f"curves and log-rank tests censor them there instead of following them to day {day}. Ingest their "
                "later follow-up (e.g. a Day 28 phone call as an outcome or clinical row), or choose an earlier --day.")
        logging.getLogger("immunolab.analysis").warning("%s", text, extra={"code": "IML-ANA-012"})
        ep.notes.append(f"IML-ANA-012 {text}")
    return contact


def trial_endpoints(store: Store, *, day: int = 28, change_day: int = 6, reference_arm: str | None = None,
                    features: Sequence[tuple[str, str]] = DEFAULT_IMMUNE_FEATURES) -> Endpoints:
    """Return the endpoint tables of the store's trial (see the module doc)."""
    from immunolab.analysis.compare import choose_arms
    from immunolab.analysis.measurements_view import measurements_view
    from immunolab.analysis.outcomes import (
        ae_summary,
        immune_by_survival,
        kaplan_meier,
        logrank,
        mortality_by_arm,
        time_to_event,
        time_to_improvement,
        trajectory_by_survival,
    )
    from immunolab.analysis.trial_tables import (
        trial_adverse_events,
        trial_clinical_results,
        trial_outcomes,
        trial_subjects,
    )
    from immunolab.identity import DEFAULT_PROTOCOL

    last = DEFAULT_PROTOCOL.visit_days[-1]
    if day > last:  # past follow-up, a discharged patient would count as alive to a day nobody saw
        raise InputError("IML-ANA-008", f"day {day} is after the end of follow-up (day {last})",
                         hint=f"Give a horizon within follow-up, e.g. --day 28 or --day {last}.")
    if change_day not in DEFAULT_PROTOCOL.visit_days:
        raise InputError("IML-ANA-008", f"change day {change_day} is not a protocol visit",
                         hint=f"Visits: {', '.join(map(str, DEFAULT_PROTOCOL.visit_days))}.")
    ep = Endpoints()
    subjects = trial_subjects(store)
    if subjects.empty:
        ep.notes.append("no subjects in the store")
        return ep
    treated, reference = choose_arms(list(subjects["arm"]), reference_arm)
    ep.arms = (treated, reference)
    outcomes = trial_outcomes(store)
    contact: dict[str, int] | None = None
    if outcomes.empty:
        ep.notes.append("no outcomes ingested (deaths / discharges): mortality and survival are not computed")
    else:
        contact = _last_contact(store, subjects, outcomes, day, ep)
        ep.tables["mortality"] = mortality_by_arm(subjects, outcomes, day=day, reference_arm=reference,
                                                  last_contact=contact)
        tte = time_to_event(subjects, outcomes, horizon=day, last_contact=contact)
        ep.tables["survival_logrank"] = logrank(tte, reference_arm=reference, endpoint=f"death by day {day}")
        ep.tables["survival_km"] = kaplan_meier(tte)
    ae = trial_adverse_events(store)
    if ae.empty:
        ep.notes.append("no adverse events ingested")
    else:
        ep.tables["adverse_events"] = ae_summary(subjects, ae, reference_arm=reference)
    clinical = trial_clinical_results(store)
    if not clinical.empty and (clinical["test_code"] == "WHOOSCI").any():
        tti = time_to_improvement(subjects, clinical, outcomes if not outcomes.empty else None, horizon=day,
                                  last_contact=contact)  # the same last contact as death
        ep.tables["improvement_logrank"] = logrank(tti, reference_arm=reference,
                                                   endpoint=f"clinical improvement by day {day}")
        ep.tables["improvement_km"] = kaplan_meier(tti)
    else:
        ep.notes.append("no WHO ordinal scale scores (WHOOSCI): time to clinical improvement is not computed")
    if not outcomes.empty and (outcomes["event"] == "death").any():
        try:
            view = measurements_view(store)
        except InputError as exc:
            ep.notes.append(f"immune features by survival not computed: {exc.message}")
            return ep
        wanted = set(features)
        sel = view[[(f, m) in wanted for f, m in zip(view["feature"], view["measure"], strict=True)]]
        if sel.empty:
            ep.notes.append("none of the immune features related to outcome is in the store")
        else:
            ep.tables["immune_by_survival"] = immune_by_survival(sel, subjects, outcomes, day=day, change_day=change_day)
            ep.tables["trajectory_by_survival"] = trajectory_by_survival(sel, subjects, outcomes, day=day)
    else:
        ep.notes.append(f"no death by day {day}: immune features by survival status are not computed")
    return ep
