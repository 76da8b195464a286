"""Decide what a message or the store may show of a value read from a patient-level input.

One rule for every input a lab writes by hand (manifest, subjects, clinical files, file names
under a filename rule, instrument header free text), because any cell may hold a name or a date:

- A value is repeated only when it has the shape of a pseudonymous study code
  (:func:`shown_id`: 1-24 letters, digits, ``.``, ``_`` or ``-``, at least one digit, not shaped
  like a date) or of a study day (:func:`shown_day`: a whole number of at most three digits).
- Any other value, and any value refused by a closed vocabulary the project defines (arms, grades,
  AE outcomes, events, units, assay names), is shown by its shape only (:func:`value_shape`:
  ``Smith 1961`` -> ``AAAAA NNNN``); the message lists the accepted values and the row instead.
- Free text kept in the store (kit names, lots, notes) has its date-like parts replaced by
  ``[date]`` (:func:`redact_free_text`).
"""

from __future__ import annotations

import re

__all__ = ["contains_date", "redact_free_text", "shown_day", "shown_id", "value_shape"]

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE_LIKE = re.compile(
    r"(?<![A-Za-z0-9])(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{8}"
    rf"|\d{{1,2}}[\s_-]?{_MONTH}[\s_-]?\d{{2,4}}"  # 12-Apr-1961, 12 April 1961
    rf"|{_MONTH}[\s_-]?\d{{1,2}}(?:st|nd|rd|th)?,?[\s_-]?\d{{2,4}}"  # April 12, 1961; Apr-12-1961
    r")(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_ID_LIKE = re.compile(r"^(?=.*\d)[A-Za-z0-9._-]{1,24}$")
_DAY_LIKE = re.compile(r"^[+-]?\d{1,3}$")


def value_shape(value: str) -> str:
    """Return the shape of a written value (``02/12/2020`` -> ``NN/NN/NNNN``): what was written, without the value.

    Dates and ages are patient-identifying, so problems name the shape of a cell, never its text.
    """
    shape = re.sub(r"\d", "N", re.sub(r"[A-Za-z]", "A", value.strip()))
    return shape if len(shape) <= 16 else shape[:16] + "..."


def shown_id(pid: str) -> str:
    """Return ``pid`` quoted when it looks like a study code (a digit, no spaces, not a date); else a neutral phrase.

    A patient column that holds names or dates by mistake must not put them into a message or a log.
    """
    if _ID_LIKE.match(pid) and not contains_date(pid):
        return repr(pid)
    return "(a value that is not an id; not shown, it may be a name)"


def shown_day(day: object) -> str:
    """Return a study day as written when it has at most three digits, else its shape (``1961`` -> ``NNNN``)."""
    text = str(day).strip()
    return text if _DAY_LIKE.match(text) else f"(written as {value_shape(text)})"


def contains_date(text: str) -> bool:
    """Return True when ``text`` holds a date in any written style (``1961-04-12``, ``April 12, 1961`` ...)."""
    return _DATE_LIKE.search(text) is not None


def redact_free_text(text: str | None) -> str | None:
    """Return ``text`` with date-like substrings replaced by ``[date]`` (protocol / kit names, lots, notes)."""
    if text is None:
        return None
    cleaned = _DATE_LIKE.sub("[date]", text.replace("\ufffd", "")).strip()
    return cleaned or None
