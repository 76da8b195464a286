"""Read a hospital lab time series: one row per blood draw, one column per test (wide layout).

Such exports (e.g. the Tongji Hospital COVID-19 cohort of Yan et al. 2020) hold, per row, the
patient number, the draw time, the patient's admission and discharge times, the outcome and one
column per lab test; the patient number is often written only on a patient's first row (merged
cells), so it is filled down. A :class:`TimeSeriesProfile` names those columns and states the
unit of every test column (such exports carry no units).

Output (:class:`~immunolab.clinical.parsed.ClinicalRead`):

- ``clinical_results``: one row per non-empty test cell; ``study_day`` = calendar days from the
  patient's day-0 column (admission) to the draw, or from the context's ``study_day`` callable
  when the profile has no day-0 column;
- ``outcomes``: per patient, ``death`` or ``discharge`` on the day of the end column (the
  outcome column says which);
- ``demographics``: per patient, age (years) and sex.

Rows without any result (a patient admitted and gone before a draw) are listed in ``skipped``.
No date reaches the tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from immunolab.clinical.context import ReadContext
from immunolab.clinical.days import clean_id
from immunolab.clinical.parsed import ClinicalRead, SkippedRow
from immunolab.clinical.results import UnknownTests, normalise_results
from immunolab.clinical.schema import clinical_table
from immunolab.clinical.tabular import clean_cell, read_frame
from immunolab.clinical.vocab import bad_value
from immunolab.errors import InconsistentInputError, InputError

__all__ = ["TJH_PROFILE", "TJH_UNITS", "TimeSeriesProfile", "read_lab_time_series"]


@dataclass(frozen=True)
class TimeSeriesProfile:
    """Column roles and test units of one wide lab time-series export."""

    name: str
    patient_column: str
    draw_time_column: str
    units: Mapping[str, str]
    day0_column: str | None = None
    end_column: str | None = None
    outcome_column: str | None = None
    death_values: tuple[Any, ...] = (1,)
    age_column: str | None = None
    sex_column: str | None = None
    sex_codes: Mapping[Any, str] = field(default_factory=dict)
    fill_patient_down: bool = True

    @property
    def role_columns(self) -> list[str]:
        """Return the non-test columns the profile names."""
        cols = [self.patient_column, self.draw_time_column, self.day0_column, self.end_column,
                self.outcome_column, self.age_column, self.sex_column]
        return [c for c in cols if c]


#: Units of the Tongji Hospital export (the file states none): the hospital's SI units as used
#: in Yan et al. 2020 and in Chinese clinical laboratories (docs/clinical.md lists the evidence).
TJH_UNITS: dict[str, str] = {
    "Hypersensitive cardiac troponinI": "pg/mL", "hemoglobin": "g/L", "Serum chloride": "mmol/L",
    "Prothrombin time": "s", "procalcitonin": "ng/mL", "eosinophils(%)": "%", "Interleukin 2 receptor": "U/mL",
    "Alkaline phosphatase": "U/L", "albumin": "g/L", "basophil(%)": "%", "Interleukin 10": "pg/mL",
    "Total bilirubin": "umol/L", "Platelet count": "10^9/L", "monocytes(%)": "%", "antithrombin": "%",
    "Interleukin 8": "pg/mL", "indirect bilirubin": "umol/L", "Red blood cell distribution width ": "%",
    "neutrophils(%)": "%", "total protein": "g/L", "Quantification of Treponema pallidum antibodies": "S/CO",
    "Prothrombin activity": "%", "HBsAg": "IU/mL", "mean corpuscular volume": "fL", "hematocrit": "%",
    "White blood cell count": "10^9/L", "Tumor necrosis factorα": "pg/mL",
    "mean corpuscular hemoglobin concentration": "g/L", "fibrinogen": "g/L", "Interleukin 1β": "pg/mL",
    "Urea": "mmol/L", "lymphocyte count": "10^9/L", "PH value": "1", "Red blood cell count": "10^12/L",
    "Eosinophil count": "10^9/L", "Corrected calcium": "mmol/L", "Serum potassium": "mmol/L",
    "glucose": "mmol/L", "neutrophils count": "10^9/L", "Direct bilirubin": "umol/L", "Mean platelet volume": "fL",
    "ferritin": "ng/mL", "RBC distribution width SD": "fL", "Thrombin time": "s", "(%)lymphocyte": "%",
    "HCV antibody quantification": "S/CO", "D-D dimer": "ug/mL FEU", "Total cholesterol": "mmol/L",
    "aspartate aminotransferase": "U/L", "Uric acid": "umol/L", "HCO3-": "mmol/L", "calcium": "mmol/L",
    "Amino-terminal brain natriuretic peptide precursor(NT-proBNP)": "pg/mL", "Lactate dehydrogenase": "U/L",
    "platelet large cell ratio ": "%", "Interleukin 6": "pg/mL", "Fibrin degradation products": "ug/mL",
    "monocytes count": "10^9/L", "PLT distribution width": "fL", "globulin": "g/L",
    "γ-glutamyl transpeptidase": "U/L", "International standard ratio": "1", "basophil count(#)": "10^9/L",
    "2019-nCoV nucleic acid detection": "1", "mean corpuscular hemoglobin ": "pg",
    "Activation of partial thromboplastin time": "s", "High sensitivity C-reactive protein": "mg/L",
    "HIV antibody quantification": "S/CO", "serum sodium": "mmol/L", "thrombocytocrit": "%", "ESR": "mm/h",
    "glutamic-pyruvic transaminase": "U/L", "eGFR": "mL/min/1.73m2", "creatinine": "umol/L",
}

#: Tongji Hospital COVID-19 time series (English headers): day 0 = admission; outcome 1 = death.
TJH_PROFILE = TimeSeriesProfile(
    name="tjh_time_series", patient_column="PATIENT_ID", draw_time_column="RE_DATE", units=TJH_UNITS,
    day0_column="Admission time", end_column="Discharge time", outcome_column="outcome", death_values=(1,),
    age_column="age", sex_column="gender", sex_codes={1: "M", 2: "F"},
)


def _days(later: pd.Series, day0: pd.Series) -> pd.Series:
    a = pd.to_datetime(later, errors="coerce").dt.normalize()
    b = pd.to_datetime(day0, errors="coerce").dt.normalize()
    return (a - b).dt.days.astype("Int64")


def _check_columns(df: pd.DataFrame, profile: TimeSeriesProfile, label: str | None) -> list[str]:
    missing = [c for c in profile.role_columns if c not in df.columns]
    if missing:
        raise InputError("IML-CLIN-002", f"the lab time series lacks column(s) {', '.join(map(repr, missing))} "
                         f"of profile {profile.name}", path=label,
                         hint="Pass the profile that matches this export, or rename the columns.")
    tests = [c for c in df.columns if c not in profile.role_columns]
    no_unit = [c for c in tests if c not in profile.units]
    if no_unit:
        raise InconsistentInputError(
            "IML-CLIN-004", f"{len(no_unit)} test column(s) have no unit in profile {profile.name}: "
            + ", ".join(repr(c) for c in no_unit[:8]), path=label,
            hint="Add the unit of each test column to the profile's units (the export states none).")
    return tests


def _patient_facts(df: pd.DataFrame, profile: TimeSeriesProfile, label: str | None) -> tuple[list[dict], list[dict]]:
    outcomes, demo = [], []
    for pid, g in df.groupby("_pid", sort=False):
        first = g.index[0]
        for col in (profile.day0_column, profile.end_column, profile.outcome_column, profile.age_column,
                    profile.sex_column):
            if col and g[col].dropna().nunique() > 1:
                raise bad_value(f"{col} (several values)", None, int(first) + 1, label,
                                f"one {col} per patient (patient {pid})")
        if profile.end_column and profile.outcome_column:
            day = g["_end_day"].iloc[0]
            dead = g[profile.outcome_column].iloc[0] in profile.death_values
            outcomes.append({"patient_id": pid, "event": "death" if dead else "discharge",
                             "study_day": None if pd.isna(day) else int(day), "source": profile.name,
                             "reported": f"{profile.outcome_column}={clean_id(g[profile.outcome_column].iloc[0])}",
                             "source_row": int(first) + 1})
        age = g[profile.age_column].iloc[0] if profile.age_column else None
        sex = g[profile.sex_column].iloc[0] if profile.sex_column else None
        demo.append({"patient_id": pid, "age": None if age is None or pd.isna(age) else int(age),
                     "sex": profile.sex_codes.get(sex, None if sex is None else str(sex)), "source": profile.name})
    return outcomes, demo


def read_lab_time_series(path: str | Path, ctx: ReadContext | None = None, *,
                         profile: TimeSeriesProfile = TJH_PROFILE,
                         unknown_tests: UnknownTests = "error") -> ClinicalRead:
    """Return results, outcomes and demographics of a wide lab time series (see the module doc)."""
    ctx = ctx or ReadContext(label=Path(path).name)
    df = read_frame(path, label=ctx.label).reset_index(drop=True)
    tests = _check_columns(df, profile, ctx.label)
    ids = df[profile.patient_column]
    if profile.fill_patient_down:
        ids = ids.ffill()
    df["_pid"] = [ctx.patient(v, row=i + 1) for i, v in enumerate(ids)]
    if profile.day0_column:
        df["_day"] = _days(df[profile.draw_time_column], df[profile.day0_column])
        df["_end_day"] = _days(df[profile.end_column], df[profile.day0_column]) if profile.end_column else pd.NA
    else:
        dates = pd.to_datetime(df[profile.draw_time_column], errors="coerce")
        df["_day"] = pd.array([None if pd.isna(d) else ctx.day_of_date(p, d.date()) for p, d in zip(df["_pid"], dates, strict=True)],
                              dtype="Int64")
        ends = pd.to_datetime(df[profile.end_column], errors="coerce") if profile.end_column else None
        df["_end_day"] = pd.array([None if ends is None or pd.isna(e) else ctx.day_of_date(p, e.date())
                                   for p, e in zip(df["_pid"], ends if ends is not None else [None] * len(df), strict=True)],
                                  dtype="Int64")
    cells = df[tests].stack(future_stack=True).dropna()
    rows_idx = cells.index.get_level_values(0).to_numpy()
    raw = pd.DataFrame({
        "patient_id": df["_pid"].to_numpy()[rows_idx],
        "study_day": df["_day"].to_numpy()[rows_idx],
        "test_reported": cells.index.get_level_values(1).to_numpy(),
        "value_reported": cells.to_numpy(),
        "source_domain": profile.name, "source_row": rows_idx + 1,
    })
    raw["unit_reported"] = raw["test_reported"].map(profile.units)
    raw["study_day"] = raw["study_day"].astype(object).map(clean_cell)
    has_result = np.zeros(len(df), dtype=bool)
    has_result[rows_idx] = True
    skipped = [SkippedRow(int(i) + 1, str(df["_pid"].iloc[i]), "no test result in the row")
               for i in np.nonzero(~has_result)[0]]
    results = normalise_results(raw, label=ctx.label, unknown_tests=unknown_tests) if len(raw) else \
        clinical_table("clinical_results", [])
    outcomes, demo = _patient_facts(df, profile, ctx.label)
    notes = [f"profile {profile.name}: units from the profile (the file states none); study day 0 = "
             f"{profile.day0_column or 'the context study_day rule'}"]
    return ClinicalRead({"clinical_results": results, "outcomes": clinical_table("outcomes", outcomes),
                         "demographics": clinical_table("demographics", demo)}, skipped, notes)
