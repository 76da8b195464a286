"""Arm x time model behind every simulated flow feature of the demo trial.

Each model parameter is a proportion that follows, on the logit scale,

    logit(p[patient, day]) = logit(baseline) + b[patient]
                             + delta[arm] * (1 - exp(-day / tau[arm])) + e[patient, day]

with a patient random intercept ``b ~ N(0, patient_sd)`` and visit noise ``e ~ N(0, visit_sd)``.
An arm x time effect is a difference in ``delta`` or ``tau`` between arms (e.g. lymphocytes
recover with tau 6 days under MSC and 30 days under control). Arms never differ at Day 0
(randomised trial). :func:`feature_effects` states which *flow populations* carry which effect,
including effects induced by composition (CD8+ T mirrors CD4+ T), so the statistics can be
tested against it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from immunolab.demo.cohort import ARMS, VISIT_DAYS, Subject

__all__ = [
    "PARAMETERS",
    "Parameter",
    "TruthModel",
    "draw_truth_model",
    "feature_effects",
]


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclass(frozen=True)
class Parameter:
    """One simulated proportion with its arm-specific trajectory (logit scale, days)."""

    name: str
    description: str
    baseline: float
    delta: Mapping[str, float]
    tau_days: Mapping[str, float]
    patient_sd: float
    visit_sd: float

    @property
    def has_time_effect(self) -> bool:
        """Return True when the proportion changes over the visits in any arm."""
        return any(abs(d) > 0 for d in self.delta.values())

    @property
    def has_arm_time_effect(self) -> bool:
        """Return True when the arms follow different trajectories."""
        deltas = {self.delta[a] for a in ARMS}
        taus = {self.tau_days[a] for a in ARMS}
        return self.has_time_effect and (len(deltas) > 1 or len(taus) > 1)

    def mean_logit(self, arm: str, day: int) -> float:
        """Return the population-mean logit at ``day`` for ``arm`` (random effects at zero)."""
        return _logit(self.baseline) + self.delta[arm] * (1.0 - math.exp(-day / self.tau_days[arm]))


def _both(value: float) -> dict[str, float]:
    return dict.fromkeys(ARMS, value)


#: The model parameters; names are referenced by the flow simulator.
PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "lymphocyte_share",
        "lymphocytes among leukocytes (whole-blood terms); recovers faster under MSC",
        baseline=0.13,
        delta=_both(1.2),
        tau_days={"MSC": 6.0, "control": 30.0},
        patient_sd=0.30,
        visit_sd=0.10,
    ),
    Parameter(
        "t_share",
        "T cells (CD3+) among CD45+ lymphocytes; recovers equally in both arms",
        baseline=0.56,
        delta=_both(0.45),
        tau_days=_both(20.0),
        patient_sd=0.25,
        visit_sd=0.08,
    ),
    Parameter(
        "cd4_share",
        "CD4+ among CD4/CD8 single-positive T cells; recovers faster under MSC",
        baseline=0.50,
        delta=_both(0.55),
        tau_days={"MSC": 6.0, "control": 35.0},
        patient_sd=0.25,
        visit_sd=0.08,
    ),
    Parameter(
        "b_share_non_t",
        "B cells among CD3- lymphocytes; no time and no arm effect",
        baseline=0.33,
        delta=_both(0.0),
        tau_days=_both(1.0),
        patient_sd=0.30,
        visit_sd=0.10,
    ),
    Parameter(
        "nk_share_non_t_non_b",
        "NK cells among CD3-CD19- lymphocytes; no time and no arm effect",
        baseline=0.68,
        delta=_both(0.0),
        tau_days=_both(1.0),
        patient_sd=0.30,
        visit_sd=0.10,
    ),
    Parameter(
        "treg_share_cd4",
        "Treg (CD25+CD127lo) among CD4 single-positive T cells; recovers faster under MSC",
        baseline=0.045,
        delta=_both(0.65),
        tau_days={"MSC": 5.0, "control": 40.0},
        patient_sd=0.20,
        visit_sd=0.08,
    ),
    Parameter(
        "hladr_share_cd4",
        "HLA-DR+ (activated) among CD4+ T cells; falls faster under MSC",
        baseline=0.14,
        delta=_both(-1.2),
        tau_days={"MSC": 5.0, "control": 25.0},
        patient_sd=0.25,
        visit_sd=0.10,
    ),
    Parameter(
        "hladr_share_cd8",
        "HLA-DR+ (activated) among CD8+ T cells; falls faster under MSC",
        baseline=0.32,
        delta=_both(-1.3),
        tau_days={"MSC": 5.0, "control": 25.0},
        patient_sd=0.25,
        visit_sd=0.10,
    ),
)
_BY_NAME = {p.name: p for p in PARAMETERS}

#: Flow populations: gate path of the trial panel and the parameters that drive each one.
_FEATURE_DRIVERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Lymphocytes": ("/Lymphocytes", ("lymphocyte_share",)),
    "Singlets": ("/Lymphocytes/Singlets", ()),
    "CD45+": ("/Lymphocytes/Singlets/CD45+", ()),
    "T cells": ("/Lymphocytes/Singlets/CD45+/T cells", ("t_share",)),
    "CD4+ T": ("/Lymphocytes/Singlets/CD45+/T cells/CD4+ T", ("cd4_share",)),
    "CD8+ T": ("/Lymphocytes/Singlets/CD45+/T cells/CD8+ T", ("cd4_share",)),
    "B cells": ("/Lymphocytes/Singlets/CD45+/B cells", ("t_share", "b_share_non_t")),
    "NK cells": ("/Lymphocytes/Singlets/CD45+/NK cells", ("t_share", "b_share_non_t", "nk_share_non_t_non_b")),
    "Treg": ("/Lymphocytes/Singlets/CD45+/T cells/CD4+ T/Treg", ("treg_share_cd4",)),
    "HLA-DR+ CD4 T": ("/Lymphocytes/Singlets/CD45+/T cells/CD4+ T/HLA-DR+ CD4 T", ("hladr_share_cd4",)),
    "HLA-DR+ CD8 T": ("/Lymphocytes/Singlets/CD45+/T cells/CD8+ T/HLA-DR+ CD8 T", ("hladr_share_cd8",)),
}


def feature_effects() -> dict[str, dict[str, object]]:
    """Return, per flow population, its gate path, drivers and which effects are real.

    ``arm_time_effect`` is True when the arms' trajectories differ (directly or through the
    composition of the parent, e.g. CD8+ T is the complement of CD4+ T); ``null_arm`` is its
    negation: such features must show no arm or arm x time effect. Singlets and CD45+ are
    technical (no time effect either).
    """
    out: dict[str, dict[str, object]] = {}
    for name, (path, drivers) in _FEATURE_DRIVERS.items():
        params = [_BY_NAME[d] for d in drivers]
        arm_time = any(p.has_arm_time_effect for p in params)
        out[name] = {
            "gate_path": path,
            "parent": path.rsplit("/", 2)[-2] or None,
            "drivers": list(drivers),
            "time_effect": any(p.has_time_effect for p in params),
            "arm_effect_at_baseline": False,
            "arm_time_effect": arm_time,
            "null_arm": not arm_time,
            "induced_by_composition": name == "CD8+ T",
        }
    return out


@dataclass
class TruthModel:
    """Realised model: per-patient random intercepts and per-visit proportions."""

    seed: int
    patient_effects: dict[str, dict[str, float]] = field(default_factory=dict)
    proportions: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict)

    def proportion(self, patient_id: str, visit_day: int, name: str) -> float:
        """Return the simulated proportion (0-1) of parameter ``name`` at one visit."""
        return self.proportions[(patient_id, visit_day)][name]

    def to_json_dict(self, subjects: list[Subject]) -> dict[str, object]:
        """Return a JSON-ready description: formula, parameters, effects and realised values."""
        arm_of = {s.patient_id: s.arm for s in subjects}
        mean_traj = {
            p.name: {arm: {str(d): round(_expit(p.mean_logit(arm, d)), 6) for d in VISIT_DAYS} for arm in ARMS}
            for p in PARAMETERS
        }
        return {
            "seed": self.seed,
            "visit_days": list(VISIT_DAYS),
            "arms": list(ARMS),
            "formula": (
                "logit(p) = logit(baseline) + b_patient + delta[arm] * (1 - exp(-day / tau[arm]))"
                " + e_visit; b_patient ~ N(0, patient_sd), e_visit ~ N(0, visit_sd)"
            ),
            "parameters": {
                p.name: {
                    "description": p.description,
                    "baseline": p.baseline,
                    "delta_logit": dict(p.delta),
                    "tau_days": dict(p.tau_days),
                    "patient_sd": p.patient_sd,
                    "visit_sd": p.visit_sd,
                    "time_effect": p.has_time_effect,
                    "arm_time_effect": p.has_arm_time_effect,
                    "mean_proportion": mean_traj[p.name],
                }
                for p in PARAMETERS
            },
            "flow_features": feature_effects(),
            "patient_arm": arm_of,
            "patient_effects_logit": self.patient_effects,
        }


def draw_truth_model(rng: np.random.Generator, subjects: list[Subject], seed: int) -> TruthModel:
    """Draw random effects and every visit's proportions for ``subjects`` (all protocol visits)."""
    model = TruthModel(seed=seed)
    for p in PARAMETERS:
        model.patient_effects[p.name] = {
            s.patient_id: round(float(rng.normal(0.0, p.patient_sd)), 6) for s in subjects
        }
    for s in subjects:
        for day in VISIT_DAYS:
            values = {}
            for p in PARAMETERS:
                x = p.mean_logit(s.arm, day) + model.patient_effects[p.name][s.patient_id]
                x += float(rng.normal(0.0, p.visit_sd))
                values[p.name] = _expit(x)
            model.proportions[(s.patient_id, day)] = values
    return model
