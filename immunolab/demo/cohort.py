"""Draw the demo trial's cohort: subjects, protocol visits, missed visits and sample codes.

All randomness comes from one :class:`numpy.random.Generator` handed in by the caller, so the
cohort is a pure function of the trial seed. Patient IDs are zero-padded strings (``"001"``)
on purpose: every reader downstream must keep them as strings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "ARMS",
    "PANEL",
    "SITES",
    "VISIT_DAYS",
    "Subject",
    "Visit",
    "draw_subjects",
    "draw_visits",
    "serum_samples",
    "subjects_frame",
]

#: Protocol visits (study days; Day 0 = first infusion).
VISIT_DAYS: tuple[int, ...] = (0, 3, 6, 10, 14, 28, 90, 180)
#: Treatment arms as written in subjects.csv.
ARMS: tuple[str, str] = ("MSC", "control")
#: Sites and the specimen each processes for flow cytometry (lysed whole blood vs Ficoll PBMC).
SITES: dict[str, str] = {"SITE-A": "whole blood", "SITE-B": "PBMC"}
#: Flow panel name written to the manifest.
PANEL = "TBNK-Treg"

_SPECIMEN_CODE = {"whole blood": "WB", "PBMC": "PB"}
#: Probability that a scheduled visit is missed (Day 0 is never missed).
_MISS_PROBABILITY = {3: 0.04, 6: 0.04, 10: 0.04, 14: 0.04, 28: 0.06, 90: 0.10, 180: 0.14}
_FIRST_ENROLMENT = dt.date(2020, 2, 3)
_ENROLMENT_WINDOW_DAYS = 84


@dataclass(frozen=True)
class Subject:
    """One trial participant (no identifying data; day0_date is fake)."""

    patient_id: str
    arm: str
    site: str
    age: int
    sex: str
    day0_date: dt.date

    @property
    def specimen(self) -> str:
        """Return the flow specimen type processed at this subject's site."""
        return SITES[self.site]


@dataclass(frozen=True)
class Visit:
    """One attended protocol visit of one subject."""

    subject: Subject
    visit_day: int

    @property
    def date(self) -> dt.date:
        """Return the fake calendar date of the visit (day0_date + visit_day)."""
        return self.subject.day0_date + dt.timedelta(days=self.visit_day)

    @property
    def sample_id(self) -> str:
        """Return the flow tube's sample ID, e.g. ``001-D014-WB``."""
        code = _SPECIMEN_CODE[self.subject.specimen]
        return f"{self.subject.patient_id}-D{self.visit_day:03d}-{code}"

    @property
    def fcs_name(self) -> str:
        """Return the FCS file base name of the visit's flow tube."""
        return f"{self.sample_id}_{PANEL}.fcs"


def draw_subjects(rng: np.random.Generator, n_patients: int = 20) -> list[Subject]:
    """Return ``n_patients`` subjects, half per arm (block-randomised in pairs), ages 18-70."""
    if n_patients % 2:
        raise ValueError("n_patients must be even (1:1 randomisation)")
    arms: list[str] = []
    for _ in range(n_patients // 2):
        pair = list(ARMS)
        if rng.random() < 0.5:
            pair.reverse()
        arms.extend(pair)
    site_names = list(SITES)
    offsets = np.sort(rng.integers(0, _ENROLMENT_WINDOW_DAYS, size=n_patients))
    subjects = []
    for i in range(n_patients):
        age = int(np.clip(round(rng.normal(54, 11)), 18, 70))
        sex = "M" if rng.random() < 0.6 else "F"
        site = site_names[int(rng.integers(0, len(site_names)))]
        subjects.append(
            Subject(
                patient_id=f"{i + 1:03d}",
                arm=arms[i],
                site=site,
                age=age,
                sex=sex,
                day0_date=_FIRST_ENROLMENT + dt.timedelta(days=int(offsets[i])),
            )
        )
    return subjects


def draw_visits(rng: np.random.Generator, subjects: list[Subject]) -> list[Visit]:
    """Return the attended visits: every protocol visit except a few deterministic misses."""
    visits = []
    for subject in subjects:
        for day in VISIT_DAYS:
            missed = day != 0 and rng.random() < _MISS_PROBABILITY[day]
            if not missed:
                visits.append(Visit(subject, day))
    return visits


def subjects_frame(subjects: list[Subject]) -> pd.DataFrame:
    """Return subjects.csv rows (patient_id, arm, site, age, sex, day0_date as ISO text)."""
    return pd.DataFrame(
        {
            "patient_id": [s.patient_id for s in subjects],
            "arm": [s.arm for s in subjects],
            "site": [s.site for s in subjects],
            "age": [s.age for s in subjects],
            "sex": [s.sex for s in subjects],
            "day0_date": [s.day0_date.isoformat() for s in subjects],
        }
    )


def serum_samples(visits: list[Visit]) -> pd.DataFrame:
    """Return one serum sample per attended visit with a lab accession code (``S0001``...).

    Codes follow the order the lab received the samples (visit date, then patient), as a real
    accession log would; columns are patient_id, arm, visit_day, sample_name.
    """
    ordered = sorted(visits, key=lambda v: (v.date, v.subject.patient_id))
    return pd.DataFrame(
        {
            "patient_id": [v.subject.patient_id for v in ordered],
            "arm": [v.subject.arm for v in ordered],
            "visit_day": [v.visit_day for v in ordered],
            "sample_name": [f"S{i + 1:04d}" for i in range(len(ordered))],
        }
    )
