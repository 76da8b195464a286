"""Controlled values of clinical files: Y/N flags, CTCAE grades, AE outcomes, patient events.

Each parser accepts the CDISC submission value and common CRF spellings, returns the
canonical value and raises ``IML-CLIN-007`` (naming the column, the row and the accepted
values) for anything else. An empty cell is None (not assessed) unless the column is required.
"""

from __future__ import annotations

import math
import re
from typing import Any

from immunolab.errors import MalformedInputError
from immunolab.redact import value_shape

__all__ = [
    "SEVERITY_GRADE_SOURCE",
    "bad_value",
    "parse_ae_outcome",
    "parse_event",
    "parse_grade",
    "parse_int_day",
    "parse_yes_no",
]

SEVERITY_GRADE_SOURCE = "severity (MILD=1, MODERATE=2, SEVERE=3; not CTCAE)"
_YES = {"y", "yes", "true", "1", "t"}
_NO = {"n", "no", "false", "0", "f"}
_SEVERITY = {"mild": 1, "moderate": 2, "severe": 3}
_AE_OUTCOME = {
    "recovered": "recovered", "resolved": "recovered", "recovered/resolved": "recovered",
    "recovering": "recovering", "resolving": "recovering", "recovering/resolving": "recovering",
    "not recovered": "not_recovered", "not resolved": "not_recovered", "not recovered/not resolved": "not_recovered",
    "ongoing": "not_recovered",
    "recovered with sequelae": "recovered_with_sequelae", "resolved with sequelae": "recovered_with_sequelae",
    "recovered/resolved with sequelae": "recovered_with_sequelae",
    "fatal": "fatal", "death": "fatal", "unknown": "unknown",
}
_EVENT = {
    "death": "death", "died": "death", "dead": "death", "deceased": "death",
    "discharge": "discharge", "discharged": "discharge", "hospital discharge": "discharge",
    "clinical improvement": "clinical_improvement", "clinical_improvement": "clinical_improvement",
    "improvement": "clinical_improvement", "improved": "clinical_improvement",
    "withdrawal": "withdrawal", "withdrawn": "withdrawal", "withdrew": "withdrawal",
    "withdrawal by subject": "withdrawal", "withdrawal of consent": "withdrawal",
    "lost to follow-up": "lost_to_follow_up", "lost_to_follow_up": "lost_to_follow_up",
    "lost to followup": "lost_to_follow_up",
    "completed": "completed", "study completed": "completed", "protocol completed": "completed",
}


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or \
        (isinstance(value, str) and not value.strip())


def bad_value(column: str, value: Any, row: int | None, label: str | None, accepted: str) -> MalformedInputError:
    """Return the ``IML-CLIN-007`` error for a cell that is not one of the accepted values.

    The cell is named by its column, its row and its shape (``AAAAA AAAA``), never by its text: a
    cell refused by a closed vocabulary may hold a name or a date. ``value`` None: nothing to show.
    """
    where = f" in data row {row}" if row is not None else ""
    shape = value_shape(str(value)) if value is not None else ""
    shown = f" (written as {shape})" if shape else (" (empty)" if value is not None else "")
    return MalformedInputError("IML-CLIN-007", f"{column}{where} is not valid{shown}", path=label,
                               hint=f"Accepted: {accepted}.")


def parse_yes_no(value: Any, *, column: str, row: int | None, label: str | None) -> bool | None:
    """Return True / False of a Y/N cell (Y, YES, TRUE, 1 / N, NO, FALSE, 0); None when empty."""
    if _empty(value):
        return None
    key = str(value).strip().lower()
    if key.endswith(".0"):
        key = key[:-2]
    if key in _YES:
        return True
    if key in _NO:
        return False
    raise bad_value(column, value, row, label, "Y or N (YES/NO, TRUE/FALSE, 1/0), or empty")


def parse_grade(value: Any, *, column: str, row: int | None, label: str | None) -> tuple[int | None, str | None]:
    """Return (grade 1-5, source) of a CTCAE grade (``3``, ``Grade 3``) or a severity word; (None, None) if empty."""
    if _empty(value):
        return None, None
    text = str(value).strip().lower()
    if text in _SEVERITY:
        return _SEVERITY[text], SEVERITY_GRADE_SOURCE
    m = re.fullmatch(r"(?:ctcae\s*)?(?:grade\s*)?([1-5])(?:\.0)?", text)
    if m:
        return int(m.group(1)), "CTCAE"
    raise bad_value(column, value, row, label, "a CTCAE grade 1-5 (or MILD / MODERATE / SEVERE), or empty")


def parse_ae_outcome(value: Any, *, column: str, row: int | None, label: str | None) -> str | None:
    """Return the canonical AE outcome (CDISC AEOUT words, lower-case with underscores); None if empty."""
    if _empty(value):
        return None
    key = re.sub(r"\s+", " ", str(value).strip().lower())
    if key in _AE_OUTCOME:
        return _AE_OUTCOME[key]
    raise bad_value(column, value, row, label, "RECOVERED/RESOLVED, RECOVERING/RESOLVING, NOT RECOVERED/NOT "
                    "RESOLVED, RECOVERED/RESOLVED WITH SEQUELAE, FATAL, UNKNOWN")


def parse_event(value: Any, *, column: str, row: int | None, label: str | None) -> str:
    """Return the canonical patient event of an outcomes row (death, discharge, clinical_improvement, ...)."""
    key = "" if _empty(value) else re.sub(r"\s+", " ", str(value).strip().lower())
    if key in _EVENT:
        return _EVENT[key]
    raise bad_value(column, value, row, label, "death, discharge, clinical_improvement, withdrawal, "
                    "lost_to_follow_up, completed")


def parse_int_day(value: Any, *, column: str, row: int | None, label: str | None) -> int | None:
    """Return a study day written as an integer (``14``, ``14.0``, ``-3``); None when empty."""
    if _empty(value):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not number.is_integer():
        raise bad_value(column, value, row, label, "a whole number of days (Day 0 = first infusion)")
    return int(number)
