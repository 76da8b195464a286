"""Simulate the demo trial's clinical data: hospital labs, WHO scores, adverse events and outcomes.

Consistent with the demo cohort (:mod:`immunolab.demo.cohort`) and its truth model:

- **severity**: a baseline WHO ordinal score (4 = oxygen by mask, 5 = high flow / non-invasive
  ventilation, 6 = intubation), drawn per patient (``baseline_severity``, a covariate).
- **outcomes**: death by Day 28 with probability ``expit(logit(0.22) + 0.9 (score - 5) +
  log(0.35) [MSC])`` (lower under MSC). With ``early_deaths=False`` (the default, safe for any
  cohort) a patient can only die after the last visit the cohort gave them, so no sample
  follows a death; with ``early_deaths=True`` deaths fall on Days 5-27 and the caller must drop
  the later visits (:func:`visits_alive`) before simulating samples. Survivors are discharged
  (Day 6-24, earlier under MSC); the WHO score falls towards 1 faster under MSC.
- **hospital labs** at every attended visit (study day 0 on the visit, else jittered by up to
  +-1 day): WBC, lymphocytes = WBC x the truth model's ``lymphocyte_share`` of that visit (so
  the clinical count and flow Lymphocytes agree), CRP, IL-6, D-dimer, ferritin, LDH, SpO2 and
  the WHO score; inflammation markers fall faster under MSC. SITE-A reports CRP in mg/L and
  SITE-B in mg/dL (two hospital labs, two units).
- **adverse events**: Poisson (mean 1.2) per patient from a list of COVID-19 / infusion terms,
  grades 1-3, an infusion reaction (related) in some MSC patients, and a grade 5 fatal
  respiratory failure for every death.

Files (under ``out_dir``): ``hospital_labs.csv`` (plain layout, dates), ``adverse_events.csv``,
``events.csv`` (plain layouts, study days) and ``sdtm/{dm,lb,ae,ds}.csv`` (the same data as
SDTM), plus ``clinical_truth.json`` (model and realised outcomes).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from immunolab.demo.cohort import Subject, Visit
from immunolab.demo.truth_model import TruthModel

__all__ = ["LAB_MODEL", "ClinicalSummary", "draw_outcomes", "generate_clinical", "visits_alive"]

STUDYID = "MSC-COVID"
_STREAM_OUTCOMES, _STREAM_LABS, _STREAM_AE = 40, 41, 42
_BASE_DEATH, _SEVERITY_LOG_OR, _MSC_OR = 0.22, 0.9, 0.35


@dataclass(frozen=True)
class LabModel:
    """One hospital lab: unit, reference range, baseline and arm-specific log-scale course (days)."""

    unit: str
    ref: tuple[float, float]
    base: float
    delta: dict[str, float]
    tau: dict[str, float]
    patient_sd: float
    visit_sd: float

    def log_mean(self, arm: str, day: int) -> float:
        """Return the population-mean natural log of the lab value at ``day`` in ``arm``."""
        return math.log(self.base) + self.delta[arm] * (1 - math.exp(-day / self.tau[arm]))


#: the simulated labs (log-scale course; inflammation falls faster and further under MSC)
LAB_MODEL: dict[str, LabModel] = {
    "CRP": LabModel("mg/L", (0.0, 5.0), 60.0, {"MSC": -3.0, "control": -2.0}, {"MSC": 5.0, "control": 12.0}, 0.5, 0.3),
    "IL-6": LabModel("pg/mL", (0.0, 7.0), 35.0, {"MSC": -2.2, "control": -1.2}, {"MSC": 4.0, "control": 14.0}, 0.5, 0.3),
    "D-dimer": LabModel("ug/mL FEU", (0.0, 0.55), 1.8, {"MSC": -1.2, "control": -0.8}, {"MSC": 8.0, "control": 15.0},
                        0.6, 0.3),
    "Ferritin": LabModel("ng/mL", (30.0, 400.0), 800.0, {"MSC": -1.1, "control": -0.7}, {"MSC": 10.0, "control": 20.0},
                         0.5, 0.2),
    "LDH": LabModel("U/L", (120.0, 250.0), 380.0, {"MSC": -0.5, "control": -0.35}, {"MSC": 7.0, "control": 14.0},
                    0.2, 0.1),
}


@dataclass(frozen=True)
class ClinicalSummary:
    """What :func:`generate_clinical` wrote."""

    files: list[str]
    n_lab_rows: int
    n_adverse_events: int
    deaths_by_arm: dict[str, int]


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _last_visit(visits: list[Visit]) -> dict[str, int]:
    last: dict[str, int] = {}
    for v in visits:
        last[v.subject.patient_id] = max(last.get(v.subject.patient_id, 0), v.visit_day)
    return last


def draw_outcomes(subjects: list[Subject], visits: list[Visit], seed: int, *, early_deaths: bool = False) -> pd.DataFrame:
    """Return baseline severity, death or discharge per patient (patient_id, baseline_severity, event, study_day)."""
    rng = np.random.default_rng([seed, _STREAM_OUTCOMES])
    last = _last_visit(visits)
    rows = []
    for s in subjects:
        score = int(rng.choice([4, 5, 6], p=[0.4, 0.4, 0.2]))
        logit = math.log(_BASE_DEATH / (1 - _BASE_DEATH)) + _SEVERITY_LOG_OR * (score - 5)
        logit += math.log(_MSC_OR) if s.arm == "MSC" else 0.0
        dies = rng.random() < _expit(logit)
        discharge = int(rng.integers(6, 16) if s.arm == "MSC" else rng.integers(9, 25))
        if dies and early_deaths:
            rows.append((s.patient_id, score, "death", int(rng.integers(5, 28))))
        elif dies and last.get(s.patient_id, 0) < 180:
            rows.append((s.patient_id, score, "death", last[s.patient_id] + int(rng.integers(1, 60))))
        else:
            rows.append((s.patient_id, score, "discharge", discharge))
    return pd.DataFrame(rows, columns=["patient_id", "baseline_severity", "event", "study_day"])


def visits_alive(visits: list[Visit], outcomes: pd.DataFrame) -> list[Visit]:
    """Return the visits that do not follow the patient's death."""
    death = {p: d for p, e, d in outcomes[["patient_id", "event", "study_day"]].itertuples(index=False) if e == "death"}
    return [v for v in visits if v.visit_day <= death.get(v.subject.patient_id, 10**6)]


def _who_score(base: int, arm: str, day: int, died: bool, death_day: int) -> int:
    if died:
        return min(7, base + (1 if day >= death_day - 4 else 0))
    tau = 5.0 if arm == "MSC" else 9.0
    return max(1, round(base - (base - 1) * (1 - math.exp(-day / tau))))


def _outcome_maps(outcomes: pd.DataFrame) -> tuple[dict[str, str], dict[str, int], dict[str, int]]:
    """Return event, event day and baseline severity per patient."""
    event = {str(p): str(e) for p, e in zip(outcomes["patient_id"], outcomes["event"], strict=True)}
    day = {str(p): int(d) for p, d in zip(outcomes["patient_id"], outcomes["study_day"], strict=True)}
    severity = {str(p): int(b) for p, b in zip(outcomes["patient_id"], outcomes["baseline_severity"], strict=True)}
    return event, day, severity


def _lab_rows(subjects: list[Subject], visits: list[Visit], model: TruthModel, outcomes: pd.DataFrame,
              rng: np.random.Generator) -> list[dict[str, object]]:
    by_id = {s.patient_id: s for s in subjects}
    event, event_day, severity = _outcome_maps(outcomes)
    effects = {(p, lab): float(rng.normal(0, m.patient_sd)) for p in by_id for lab, m in LAB_MODEL.items()}
    rows: list[dict[str, object]] = []
    for v in visits:
        s = by_id[v.subject.patient_id]
        day = v.visit_day if v.visit_day == 0 or rng.random() < 0.6 else v.visit_day + int(rng.choice([-1, 1]))
        date = (s.day0_date + dt.timedelta(days=day)).isoformat()
        wbc = float(np.exp(rng.normal(math.log(7.0), 0.25)))
        share = model.proportion(s.patient_id, v.visit_day, "lymphocyte_share")
        values: dict[str, tuple[float, str, tuple[float | None, float | None]]] = {
            "White blood cell count": (round(wbc, 2), "10^9/L", (3.5, 9.5)),
            "Lymphocyte count": (round(wbc * share, 2), "10^9/L", (1.1, 3.2)),
        }
        for lab, m in LAB_MODEL.items():
            y = float(np.exp(m.log_mean(s.arm, v.visit_day) + effects[(s.patient_id, lab)] + rng.normal(0, m.visit_sd)))
            unit, ref = m.unit, m.ref
            if lab == "CRP" and s.site == "SITE-B":
                y, unit, ref = y / 10.0, "mg/dL", (0.0, 0.5)
            values[lab] = (round(y, 3), unit, ref)
        pid = s.patient_id
        score = _who_score(severity[pid], s.arm, v.visit_day, event[pid] == "death", event_day[pid])
        spo2 = min(99, max(80, round(float(rng.normal(88 + 2 * (6 - score), 1.5)))))
        values["SpO2"] = (spo2, "%", (94, 100))
        values["WHO ordinal scale"] = (score, "score", (None, None))
        for test, (value, unit, (lo, hi)) in values.items():
            rows.append({"patient_id": pid, "date": date, "test": test, "value": value, "unit": unit,
                         "ref_low": lo, "ref_high": hi})
    return rows


_AE_TERMS = (("Fever", "Pyrexia", "General disorders"), ("Headache", "Headache", "Nervous system disorders"),
             ("Nausea", "Nausea", "Gastrointestinal disorders"),
             ("ALT increased", "Alanine aminotransferase increased", "Investigations"),
             ("Hypoxia", "Hypoxia", "Respiratory disorders"), ("Rash", "Rash", "Skin disorders"),
             ("Diarrhoea", "Diarrhoea", "Gastrointestinal disorders"))


def _ae_rows(subjects: list[Subject], outcomes: pd.DataFrame, rng: np.random.Generator) -> list[dict[str, object]]:
    event, event_day, _severity = _outcome_maps(outcomes)
    rows: list[dict[str, object]] = []
    for s in subjects:
        died = event[s.patient_id] == "death"
        end = event_day[s.patient_id] if died else 28
        for _ in range(int(rng.poisson(1.2))):
            term, decod, soc = _AE_TERMS[int(rng.integers(len(_AE_TERMS)))]
            start = int(rng.integers(0, max(1, min(end, 28))))
            grade = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
            rows.append({"patient_id": s.patient_id, "term": term, "decod": decod, "body_system": soc,
                         "start_day": start, "end_day": start + int(rng.integers(1, 6)), "grade": grade,
                         "serious": "Y" if grade >= 3 and rng.random() < 0.5 else "N", "related": "N",
                         "outcome": "RECOVERED/RESOLVED"})
        if s.arm == "MSC" and rng.random() < 0.3:
            rows.append({"patient_id": s.patient_id, "term": "Infusion related reaction",
                         "decod": "Infusion related reaction", "body_system": "Injury and procedural complications",
                         "start_day": 0, "end_day": 1, "grade": 1, "serious": "N", "related": "Y",
                         "outcome": "RECOVERED/RESOLVED"})
        if died:
            day = event_day[s.patient_id]
            rows.append({"patient_id": s.patient_id, "term": "Respiratory failure", "decod": "Respiratory failure",
                         "body_system": "Respiratory disorders", "start_day": max(0, day - 3), "end_day": day,
                         "grade": 5, "serious": "Y", "related": "N", "outcome": "FATAL"})
    return rows


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False, lineterminator="\n", float_format="%.10g")
    tmp.replace(path)


def _sdtm(subjects: list[Subject], labs: pd.DataFrame, ae: pd.DataFrame, outcomes: pd.DataFrame) -> dict[str, pd.DataFrame]:
    from immunolab.clinical.units import lookup_test

    by_id = {s.patient_id: s for s in subjects}
    usub = {p: f"{STUDYID}-{s.site}-{p}" for p, s in by_id.items()}
    event, event_day, _severity = _outcome_maps(outcomes)

    def dtc(pid: str, day: int) -> str:
        return (by_id[pid].day0_date + dt.timedelta(days=int(day))).isoformat()

    dm = pd.DataFrame([{"STUDYID": STUDYID, "DOMAIN": "DM", "USUBJID": usub[s.patient_id], "SUBJID": s.patient_id,
                        "RFSTDTC": s.day0_date.isoformat(), "SITEID": s.site, "AGE": s.age, "AGEU": "YEARS",
                        "SEX": s.sex, "ARM": s.arm,
                        "DTHFL": "Y" if event[s.patient_id] == "death" else "",
                        "DTHDTC": dtc(s.patient_id, event_day[s.patient_id])
                        if event[s.patient_id] == "death" else ""} for s in subjects])
    frames: dict[str, list[dict[str, object]]] = {"LB": [], "VS": [], "QS": []}
    for rec in labs.to_dict("records"):
        code = lookup_test(str(rec["test"]))
        dom = {"vital": "VS", "score": "QS"}.get(code.category if code else "lab", "LB")
        p = dom
        frames[dom].append({"STUDYID": STUDYID, "DOMAIN": dom, "USUBJID": usub[str(rec["patient_id"])],
                            f"{p}TESTCD": code.code if code else rec["test"], f"{p}TEST": rec["test"],
                            f"{p}ORRES": rec["value"], f"{p}ORRESU": rec["unit"] if rec["unit"] != "score" else "",
                            f"{p}ORNRLO": rec["ref_low"], f"{p}ORNRHI": rec["ref_high"], f"{p}DTC": rec["date"]})
    ae_rows = [{"STUDYID": STUDYID, "DOMAIN": "AE", "USUBJID": usub[str(r["patient_id"])], "AETERM": r["term"],
                "AEDECOD": r["decod"], "AEBODSYS": r["body_system"], "AETOXGR": r["grade"], "AESER": r["serious"],
                "AEREL": r["related"], "AEOUT": r["outcome"], "AESTDTC": dtc(str(r["patient_id"]), int(r["start_day"])),
                "AEENDTC": dtc(str(r["patient_id"]), int(r["end_day"]))} for r in ae.to_dict("records")]
    ds = [{"STUDYID": STUDYID, "DOMAIN": "DS", "USUBJID": usub[p], "DSDECOD": "DEATH" if e == "death" else
           "HOSPITAL DISCHARGE", "DSCAT": "DISPOSITION EVENT" if e == "death" else "OTHER EVENT",
           "DSSTDTC": dtc(p, d)} for p, e, d in outcomes[["patient_id", "event", "study_day"]].itertuples(index=False)]
    return {"dm": dm, "lb": pd.DataFrame(frames["LB"]), "vs": pd.DataFrame(frames["VS"]),
            "qs": pd.DataFrame(frames["QS"]), "ae": pd.DataFrame(ae_rows), "ds": pd.DataFrame(ds)}


def generate_clinical(out_dir: str | Path, subjects: list[Subject], visits: list[Visit], model: TruthModel, seed: int,
                      *, outcomes: pd.DataFrame | None = None) -> ClinicalSummary:
    """Write the demo clinical files into ``out_dir`` (see the module doc) and return a summary.

    ``outcomes`` defaults to :func:`draw_outcomes` without early deaths. A death before an
    attended visit is refused (``ValueError``): drop those visits with :func:`visits_alive`.
    """
    root = Path(out_dir)
    outcomes = draw_outcomes(subjects, visits, seed) if outcomes is None else outcomes
    death = {p: d for p, e, d in outcomes[["patient_id", "event", "study_day"]].itertuples(index=False) if e == "death"}
    late = [v.fcs_name for v in visits if v.visit_day > death.get(v.subject.patient_id, 10**6)]
    if late:
        raise ValueError(f"{len(late)} visit(s) follow a death (e.g. {late[0]}); filter them with visits_alive()")
    labs = pd.DataFrame(_lab_rows(subjects, visits, model, outcomes, np.random.default_rng([seed, _STREAM_LABS])))
    ae = pd.DataFrame(_ae_rows(subjects, outcomes, np.random.default_rng([seed, _STREAM_AE])))
    events = outcomes[["patient_id", "event", "study_day"]]
    files = {"hospital_labs.csv": labs, "adverse_events.csv": ae, "events.csv": events}
    files.update({f"sdtm/{k}.csv": v for k, v in _sdtm(subjects, labs, ae, outcomes).items()})
    for name, frame in files.items():
        _write(frame, root / name)
    arm = {s.patient_id: s.arm for s in subjects}
    deaths = {a: sum(1 for p in death if arm[p] == a) for a in sorted(set(arm.values()))}
    truth = {"seed": seed, "death_model": {"base_probability_score5_control": _BASE_DEATH,
                                           "log_or_per_score_point": _SEVERITY_LOG_OR, "msc_odds_ratio": _MSC_OR},
             "lab_model": {k: dataclasses.asdict(m) for k, m in LAB_MODEL.items()},
             "outcomes": outcomes.to_dict("records"), "deaths_by_arm": deaths}
    (root / "clinical_truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True, default=str) + "\n", "utf-8")
    return ClinicalSummary(sorted([*files, "clinical_truth.json"]), len(labs), len(ae), deaths)
