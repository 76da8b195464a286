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


def write_xpt(path: Path, frame: pd.DataFrame, domain: str) -> Path:
    """Write ``frame`` as a SAS XPORT v5 dataset named ``domain`` (pyreadstat) and return the path."""
    import pyreadstat

    pyreadstat.write_xport(frame, str(path), table_name=domain, file_format_version=5)
    return path


def sdtm_lb() -> pd.DataFrame:
    """Return an LB dataset: standardised and original results, a NOT DONE record, an unknown test."""
    base = {"STUDYID": "MSC01", "DOMAIN": "LB"}
    recs = [
        {"USUBJID": "MSC01-S1-001", "LBTESTCD": "LYM", "LBTEST": "Lymphocytes", "LBORRES": "0.62",
         "LBORRESU": "10^9/L", "LBSTRESC": "0.62", "LBSTRESN": 0.62, "LBSTRESU": "10^9/L", "LBSTNRLO": 1.1,
         "LBSTNRHI": 3.2, "LBNRIND": "LOW", "LBSTAT": "", "LBDTC": f"{date_of('001', 3)}T08:15", "LBDY": 4.0},
        {"USUBJID": "MSC01-S1-001", "LBTESTCD": "CRP", "LBTEST": "C Reactive Protein", "LBORRES": "5.2",
         "LBORRESU": "mg/dL", "LBSTRESC": "", "LBSTRESN": float("nan"), "LBSTRESU": "", "LBSTNRLO": float("nan"),
         "LBSTNRHI": float("nan"), "LBNRIND": "HIGH", "LBSTAT": "", "LBDTC": date_of("001", 0), "LBDY": 1.0},
        {"USUBJID": "MSC01-S2-002", "LBTESTCD": "IL6", "LBTEST": "Interleukin 6", "LBORRES": "", "LBORRESU": "",
         "LBSTRESC": "", "LBSTRESN": float("nan"), "LBSTRESU": "", "LBSTNRLO": float("nan"), "LBSTNRHI": float("nan"),
         "LBNRIND": "", "LBSTAT": "NOT DONE", "LBDTC": date_of("002", 0), "LBDY": 1.0},
        {"USUBJID": "MSC01-S2-002", "LBTESTCD": "KL6", "LBTEST": "Krebs von den Lungen 6", "LBORRES": "512",
         "LBORRESU": "U/mL", "LBSTRESC": "512", "LBSTRESN": 512.0, "LBSTRESU": "U/mL", "LBSTNRLO": float("nan"),
         "LBSTNRHI": 500.0, "LBNRIND": "HIGH", "LBSTAT": "", "LBDTC": "2020-02", "LBDY": 8.0},
    ]
    return pd.DataFrame([{**base, **r} for r in recs])


def sdtm_ae() -> pd.DataFrame:
    """Return an AE dataset: CTCAE grades, seriousness, relatedness words and outcomes."""
    base = {"STUDYID": "MSC01", "DOMAIN": "AE"}
    recs = [
        {"USUBJID": "MSC01-S1-001", "AETERM": "FEVER", "AEDECOD": "Pyrexia", "AEBODSYS": "General disorders",
         "AETOXGR": "1", "AESEV": "MILD", "AESER": "N", "AEREL": "POSSIBLE", "AEOUT": "RECOVERED/RESOLVED",
         "AESTDTC": date_of("001", 1), "AEENDTC": date_of("001", 2), "AESTDY": 2.0, "AEENDY": 3.0},
        {"USUBJID": "MSC01-S2-002", "AETERM": "RESPIRATORY FAILURE", "AEDECOD": "Respiratory failure",
         "AEBODSYS": "Respiratory disorders", "AETOXGR": "5", "AESEV": "SEVERE", "AESER": "Y", "AEREL": "NOT RELATED",
         "AEOUT": "FATAL", "AESTDTC": date_of("002", 9), "AEENDTC": date_of("002", 12), "AESTDY": 10.0,
         "AEENDY": 13.0},
        {"USUBJID": "MSC01-S1-003", "AETERM": "NAUSEA", "AEDECOD": "Nausea", "AEBODSYS": "Gastrointestinal disorders",
         "AETOXGR": "", "AESEV": "MODERATE", "AESER": "N", "AEREL": "", "AEOUT": "",
         "AESTDTC": date_of("003", 0), "AEENDTC": "", "AESTDY": 1.0, "AEENDY": float("nan")},
    ]
    return pd.DataFrame([{**base, **r} for r in recs])


def sdtm_ds() -> pd.DataFrame:
    """Return a DS dataset: death, completion, a withdrawal, a screen failure and a milestone."""
    base = {"STUDYID": "MSC01", "DOMAIN": "DS"}
    recs = [
        ("MSC01-S2-002", "DEATH", "DISPOSITION EVENT", date_of("002", 12)),
        ("MSC01-S1-001", "COMPLETED", "DISPOSITION EVENT", date_of("001", 180)),
        ("MSC01-S1-003", "WITHDRAWAL BY SUBJECT", "DISPOSITION EVENT", date_of("003", 40)),
        ("MSC01-S1-003", "RANDOMIZED", "PROTOCOL MILESTONE", date_of("003", -1)),
        ("MSC01-S1-004", "SCREEN FAILURE", "DISPOSITION EVENT", "2020-01-20"),
    ]
    return pd.DataFrame([{**base, "USUBJID": u, "DSTERM": d, "DSDECOD": d, "DSCAT": c, "DSSTDTC": dtc}
                         for u, d, c, dtc in recs])


def sdtm_dm() -> pd.DataFrame:
    """Return a DM dataset of the three patients (one death)."""
    rows = []
    for pid, (arm, site, age, sex) in {"001": ("MSC", "S1", 50, "M"), "002": ("Control", "S2", 61, "F"),
                                       "003": ("MSC", "S1", 44, "M")}.items():
        rows.append({"STUDYID": "MSC01", "DOMAIN": "DM", "USUBJID": f"MSC01-{site}-{pid}", "SUBJID": pid,
                     "RFSTDTC": DAY0[pid], "SITEID": site, "AGE": float(age), "AGEU": "YEARS", "SEX": sex,
                     "RACE": "ASIAN", "ARM": arm, "ARMCD": arm.upper()[:3],
                     "DTHFL": "Y" if pid == "002" else "", "DTHDTC": date_of("002", 12) if pid == "002" else ""})
    return pd.DataFrame(rows)
