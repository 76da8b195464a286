"""Factories of plain clinical tables and SDTM datasets built in code (no real patient data)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from immunolab.clinical.context import ReadContext
from immunolab.clinical.days import patient_resolver, study_day_from_subjects

DAY0 = {"001": "2020-02-03", "002": "2020-02-10", "003": "2020-02-17"}


def subjects() -> pd.DataFrame:
    """Return a three-patient subjects table (fake Day 0 dates)."""
    return pd.DataFrame({"patient_id": list(DAY0), "arm": ["MSC", "control", "MSC"],
                         "site": ["S1", "S2", "S1"], "age": [50, 61, 44], "sex": ["M", "F", "M"],
                         "day0_date": list(DAY0.values()), "hospital_no": ["H-91", "H-92", "H-93"]})


def context(label: str = "labs.csv", *, source_column: str | None = None) -> ReadContext:
    """Return a read context resolving patients and dates through :func:`subjects`."""
    subj = subjects()
    return ReadContext(label=label, study_day=study_day_from_subjects(subj),
                       patients=patient_resolver(subj, source_column=source_column))


def date_of(pid: str, day: int) -> str:
    """Return the ISO date of a patient's study day."""
    return (dt.date.fromisoformat(DAY0[pid]) + dt.timedelta(days=day)).isoformat()


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as UTF-8 CSV and return the path."""
    frame.to_csv(path, index=False)
    return path


def lab_results_frame() -> pd.DataFrame:
    """Return a plain lab table: dates and study days, mixed units, a censored value and ranges."""
    return pd.DataFrame([
        {"patient_id": "001", "date": date_of("001", 0), "study_day": "", "test": "CRP", "value": "5.2",
         "unit": "mg/dL", "ref_low": "", "ref_high": "0.5", "comment": "called Dr DOE"},
        {"patient_id": "001", "date": date_of("001", 3), "study_day": "", "test": "lymphocyte count", "value": "0.62",
         "unit": "10^9/L", "ref_low": "1.1", "ref_high": "3.2", "comment": ""},
        {"patient_id": "002", "date": "", "study_day": "0", "test": "Lymphocytes", "value": "1450",
         "unit": "cells/uL", "ref_low": "1100", "ref_high": "3200", "comment": ""},
        {"patient_id": "002", "date": "", "study_day": "6", "test": "IL-6", "value": "<1.5", "unit": "pg/mL",
         "ref_low": "", "ref_high": "7", "comment": ""},
        {"patient_id": "003", "date": date_of("003", 14), "study_day": "", "test": "D-dimer", "value": "0.9",
         "unit": "ug/mL FEU", "ref_low": "", "ref_high": "0.55", "comment": ""},
        {"patient_id": "003", "date": date_of("003", 14), "study_day": "", "test": "ferritin", "value": "",
         "unit": "ng/mL", "ref_low": "", "ref_high": "", "comment": "haemolysed"},
    ])
