"""Per-file context of a clinical reader: the file label, the study-day rule and the patient resolver."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from immunolab.clinical.days import (
    PatientResolver,
    StudyDay,
    clean_id,
    no_day0,
    parse_date,
    unknown_patient,
)
from immunolab.clinical.vocab import bad_value, parse_int_day
from immunolab.errors import IdentityError, MalformedInputError
from immunolab.redact import STUDY_DAY_WINDOW, in_study_window, shown_id

__all__ = ["ReadContext"]


def _pass_through(pid: str) -> str | None:
    return pid


@dataclass
class ReadContext:
    """How one clinical file's patients and days are resolved (``label`` names the file in errors).

    ``study_day``: callable ``(patient_id, date) -> int | None`` (see
    :mod:`immunolab.clinical.days`), required only when the file holds dates;
    ``patients``: resolver of file ids to trial ids (default: ids as written).
    """

    label: str | None = None
    study_day: StudyDay | None = None
    patients: PatientResolver = field(default=_pass_through)

    def patient(self, value: Any, *, row: int | None) -> str:
        """Return the trial patient id of a cell, or raise ``IML-CLIN-006`` / ``IML-CLIN-007``."""
        pid = clean_id(value)
        if pid is None:
            raise bad_value("patient_id", "", row, self.label, "the trial's patient id (never a name)")
        try:
            trial_id = self.patients(pid)
        except IdentityError as exc:  # the resolver knows why (e.g. "Did you mean 001?"): keep its hint
            raise unknown_patient(pid, self.label, row, hint=exc.hint) from None
        if trial_id is None:
            raise unknown_patient(pid, self.label, row)
        return trial_id

    def day_of_date(self, patient_id: str, date: dt.date) -> int:
        """Return the study day of ``date`` for the patient (``IML-CLIN-006`` without a Day 0)."""
        if self.study_day is None:
            raise no_day0(patient_id, self.label)
        day = self.study_day(patient_id, date)
        if day is None:
            raise no_day0(patient_id, self.label)
        if not in_study_window(int(day)):  # stored, such a day would give the date away (-21483: a 1961 date)
            low, high = STUDY_DAY_WINDOW
            raise MalformedInputError(
                "IML-CLIN-007", f"a date of patient {shown_id(patient_id)} lies outside study days {low} to {high} "
                "(more than a year before Day 0 or ten years after it)", path=self.label,
                hint="Check the file's date columns and the patient's day0_date in the subjects file; "
                "the file was not stored.")
        return int(day)

    def day(self, patient_id: str, day_cell: Any, date_cell: Any, *, row: int | None, what: str) -> int | None:
        """Return the study day of a row: its day column when filled, else its date; None when both empty."""
        day = parse_int_day(day_cell, column=f"{what} study day", row=row, label=self.label)
        if day is not None:
            return day
        date = parse_date(date_cell, label=self.label, what=f"{what} date in data row {row}")
        return None if date is None else self.day_of_date(patient_id, date)
