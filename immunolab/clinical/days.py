"""Turn dates into study days and file patient ids into trial ids, so no date or name is kept.

A reader never keeps a calendar date: it asks a ``StudyDay`` callable
``study_day(patient_id, date) -> int | None`` (Day 0 = the patient's first infusion, the
subjects file's ``day0_date``; None = the patient has no Day 0) built by
:func:`study_day_from_subjects`, or :func:`study_day_from_day0` for any other day-0 table
(e.g. hospital admission). Study days count calendar dates, not 24-hour periods: a draw at
01:00 the night after a 23:00 admission is on Day 1.

Patient ids: a file's patient column must hold the trial's pseudonymous ids. A
``PatientResolver`` (``resolver(id_in_file) -> trial id | None``) built by
:func:`patient_resolver` checks them against the subjects file, or maps a hospital number
column of the subjects file to the trial id; an id it does not know is ``IML-CLIN-006``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from immunolab.errors import IdentityError, MalformedInputError
from immunolab.redact import shown_id

__all__ = [
    "PatientResolver",
    "StudyDay",
    "clean_id",
    "parse_date",
    "patient_resolver",
    "shown_id",
    "study_day_from_day0",
    "study_day_from_subjects",
]

StudyDay = Callable[[str, dt.date], "int | None"]
PatientResolver = Callable[[str], "str | None"]

_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$")
_PARTIAL = re.compile(r"^\d{4}(?:-\d{2})?(?:-{1,2}\d{2})?$|^\d{4}-\d{2}-\d{2}T$")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if value is pd.NaT:
        return True
    return isinstance(value, str) and not value.strip()


def parse_date(value: Any, *, label: str | None = None, what: str = "date") -> dt.date | None:
    """Return the calendar date of an ISO 8601 text or a spreadsheet date/datetime; None if empty.

    Raises ``IML-CLIN-005`` for any other text (``03/04/2020`` is ambiguous) and for partial
    dates (``2020-03``), which have no study day.
    """
    if _is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    m = _ISO.match(text)
    if m:
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    partial = bool(_PARTIAL.match(text))
    shown = "an incomplete date" if partial else "not an ISO 8601 date (YYYY-MM-DD)"
    raise MalformedInputError(
        "IML-CLIN-005", f"{what} is {shown}", path=label,
        hint=("Give the full date, or the study day in the file's day column" if partial else
              "Write dates as YYYY-MM-DD (optionally with THH:MM), or give study days instead") + ".",
    )


def clean_id(value: Any) -> str | None:
    """Return a patient id as text: stripped, spreadsheet floats ``7.0`` as ``7``; None if empty."""
    if _is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def study_day_from_day0(day0: Mapping[str, dt.date | str]) -> StudyDay:
    """Return a ``StudyDay`` callable: ``date - day0[patient]`` in calendar days (None if unknown)."""
    table: dict[str, dt.date] = {}
    for pid, d in day0.items():
        parsed = parse_date(d, what=f"Day 0 of patient {pid}")
        if parsed is not None:
            table[str(pid)] = parsed

    def study_day(patient_id: str, date: dt.date) -> int | None:
        start = table.get(patient_id)
        return None if start is None else (date - start).days

    return study_day


def study_day_from_subjects(subjects: pd.DataFrame, *, day0_column: str = "day0_date") -> StudyDay:
    """Return a ``StudyDay`` callable from the subjects table's ``day0_date`` (ISO text or dates)."""
    if day0_column not in subjects.columns or "patient_id" not in subjects.columns:
        raise IdentityError("IML-CLIN-006", f"the subjects table lacks patient_id or {day0_column}",
                            hint="Pass the subjects file (patient_id, arm, ..., day0_date).")
    return study_day_from_day0({str(p): d for p, d in zip(subjects["patient_id"], subjects[day0_column], strict=True)})


def patient_resolver(subjects: pd.DataFrame | None = None, *, source_column: str | None = None) -> PatientResolver:
    """Return a resolver of the ids written in a clinical file to trial patient ids.

    Without ``subjects`` ids pass through unchanged. With it, an id must be a subjects
    ``patient_id`` or, when ``source_column`` names another subjects column (e.g. a hospital
    number kept by the lab), a value of that column, which maps to its row's ``patient_id``.
    """
    if subjects is None:
        return lambda pid: pid
    ids = {str(p) for p in subjects["patient_id"]}
    mapping: dict[str, str] = {p: p for p in ids}
    if source_column is not None:
        if source_column not in subjects.columns:
            raise IdentityError("IML-CLIN-006", f"the subjects table has no column {source_column!r}",
                                hint="Add the column that holds the ids written in the clinical file.")
        for src, pid in zip(subjects[source_column], subjects["patient_id"], strict=True):
            key = clean_id(src)
            if key is not None:
                mapping[key] = str(pid)
    return lambda pid: mapping.get(pid)


def unknown_patient(pid: str, label: str | None, row: int | None, *, hint: str | None = None) -> IdentityError:
    """Return the ``IML-CLIN-006`` error for an id the subjects file does not know (never a name)."""
    where = f" (data row {row})" if row is not None else ""
    return IdentityError(
        "IML-CLIN-006", f"patient {shown_id(pid)}{where} is not in the subjects file", path=label,
        hint=hint or "Use the trial's pseudonymous patient ids in the clinical file, or map the hospital's ids "
                     "through a subjects column (source_column).",
    )


def no_day0(pid: str, label: str | None) -> IdentityError:
    """Return the ``IML-CLIN-006`` error for a patient whose Day 0 date is unknown."""
    return IdentityError(
        "IML-CLIN-006", f"patient {shown_id(pid)} has no Day 0 date, so its dates cannot become study days", path=label,
        hint="Add day0_date for this patient to the subjects file, or give study days in the clinical file.",
    )
