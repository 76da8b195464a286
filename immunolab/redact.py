"""What a message or the store may show of a value a person wrote: one rule, and dates kept out.

One rule for every input a lab writes by hand (manifest, subjects, clinical files, file names
under a filename rule, instrument header free text, FCS keywords), because any cell may hold a
name or a date:

- A value is repeated only when it has the shape of a pseudonymous study code
  (:func:`shown_id`: 1-24 letters, digits, ``.``, ``_`` or ``-``, at least one digit, not shaped
  like a date) or of a study day (:func:`shown_day`: a whole number of at most three digits).
- Any other value, and any value refused by a closed vocabulary the project defines (arms, grades,
  AE outcomes, events, units, assay names), is shown by its shape only (:func:`value_shape`:
  ``Smith 1961`` -> ``AAAAA NNNN``); the message lists the accepted values and the row instead.
- Free text kept in the store (kit names, lots, notes, free-text FCS keywords) has its date-shaped
  parts replaced (:func:`redact_free_text`, :func:`redact_dates`).
- A study day far outside the trial gives its date away (``-21483`` is a 1961 date against a 2020
  Day 0): it is not stored (:data:`STUDY_DAY_WINDOW`, warning ``IML-IN-011``).

Light on purpose (``re`` only): the FCS keyword filter imports it on every read, and commands that
must start without pandas or pyarrow (``flow gate``) read FCS files.
"""

from __future__ import annotations

import re

__all__ = ["DATE_IN_TEXT", "STUDY_DAY_WARNING", "STUDY_DAY_WINDOW", "contains_date", "date_shape", "in_study_window",
           "redact_dates", "redact_free_text", "shown_day", "shown_id", "value_shape"]

_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_ORDINAL = r"(?:st|nd|rd|th)?"
#: a calendar date written inside free text: ISO / slashed / dotted triples, ``12 Apr 1961``,
#: ``12th April 1961``, ``Apr 12, 1961``, ``Apr-12-1961``, ``12APR1961`` and compact ``19610412``
#: (a year 1900-2099 with a valid month and day, so other 8-digit serials and lots stay). A number
#: triple is a date only when its parts can be one (:func:`_could_be_date`) and it is not part of a
#: longer dotted number, so versions (``4.2.1509``, ``6.2.0.175``) and lots (``12-34-56``) stay.
DATE_IN_TEXT = re.compile(
    r"(?<![0-9.])(?:(?P<a>\d{1,4})\s*(?P<sep>[-/.])\s*(?P<b>\d{1,2})\s*(?P=sep)\s*(?P<c>\d{1,4})"
    rf"|\d{{1,2}}{_ORDINAL}[\s_-]*{_MONTHS}[\s_,-]*\d{{2,4}}"
    rf"|{_MONTHS}[\s_-]*\d{{1,2}}{_ORDINAL},?[\s_-]*\d{{2,4}}"
    r"|(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(?![0-9])(?!\.[0-9])",
    re.IGNORECASE,
)
#: study days a trial date can have (a year before Day 0 to ten years after); a day outside gives the date
#: away, so it is not stored (warning IML-IN-011)
STUDY_DAY_WINDOW = (-365, 3650)
#: the warning of a date left without its study day for lying outside :data:`STUDY_DAY_WINDOW`
STUDY_DAY_WARNING = "IML-IN-011"

_ID_LIKE = re.compile(r"^(?=.*\d)[A-Za-z0-9._-]{1,24}$")
_DAY_LIKE = re.compile(r"^[+-]?\d{1,3}$")


def _year(text: str) -> bool:
    return len(text) == 2 or (len(text) == 4 and 1900 <= int(text) <= 2099)


def _could_be_date(match: re.Match[str]) -> bool:
    """Return whether a match of :data:`DATE_IN_TEXT` can be a calendar date (text-month forms always can)."""
    a, b, c = match.group("a"), match.group("b"), match.group("c")
    if a is None:
        return True
    x, y = int(a), int(b)
    if len(a) == 4:  # year first: 1961-04-12
        return 1900 <= x <= 2099 and 1 <= y <= 12 and len(c) <= 2 and 1 <= int(c) <= 31
    if len(a) > 2 or not _year(c):
        return False
    return (1 <= x <= 31 and 1 <= y <= 12) or (1 <= x <= 12 and 1 <= y <= 31)  # day-month or month-day


def _dates(text: str) -> list[re.Match[str]]:
    return [m for m in DATE_IN_TEXT.finditer(text) if _could_be_date(m)]


def in_study_window(day: int) -> bool:
    """Return whether study day ``day`` lies in :data:`STUDY_DAY_WINDOW` (days since Day 0)."""
    return STUDY_DAY_WINDOW[0] <= day <= STUDY_DAY_WINDOW[1]


def date_shape(text: str) -> str:
    """Return the shape of written text (``1961-04-12`` -> ``NNNN-NN-NN``, ``12Apr1961`` -> ``NNAAANNNN``)."""
    return re.sub(r"\d", "N", re.sub(r"[A-Za-z]", "A", text))


def value_shape(value: str) -> str:
    """Return the shape of a written value (``02/12/2020`` -> ``NN/NN/NNNN``), at most 16 characters and ``...``.

    Dates and ages are patient-identifying, so problems name the shape of a cell, never its text.
    """
    shape = date_shape(value.strip())
    return shape if len(shape) <= 16 else shape[:16] + "..."


def contains_date(text: str) -> bool:
    """Return True when ``text`` holds a date in any written style (``1961-04-12``, ``April 12, 1961`` ...)."""
    return bool(_dates(text))


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


def redact_dates(text: str, replacement: str | None = "[date]") -> str:
    """Return ``text`` with every date-shaped part (:data:`DATE_IN_TEXT`) replaced.

    ``replacement`` None writes each date's shape instead (:func:`date_shape`): a name that held a
    date stays readable as a name (``DOB NNNN-NN-NN``) without the date.
    """
    def swap(m: re.Match[str]) -> str:
        if not _could_be_date(m):
            return m.group(0)
        return date_shape(m.group(0)) if replacement is None else replacement

    return DATE_IN_TEXT.sub(swap, text)


def redact_free_text(text: str | None) -> str | None:
    """Return ``text`` with date-shaped parts replaced by ``[date]`` (protocol / kit names, lots, notes); None if empty."""
    if text is None:
        return None
    cleaned = redact_dates(text.replace("\ufffd", "")).strip()
    return cleaned or None


#: 6+ digits standing alone; a full stop or comma after (end of a sentence, a list such as
#: ``1234567,7654321``) still ends it, a decimal part (``1234567.5``, ``1234567,5``) does not
_LONG_NUMBER = re.compile(r"(?<!\w)(?<!\d\.)(?<!\d,\d{3})\d{6,}(?!\w)(?!\.\d)(?!,\d{1,3}(?!\d))")
_TITLED_NAME = re.compile(r"\b(?i:mr|mrs|ms|miss|mx|dr|prof)\.?\s+[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*){0,2}")


def clean_reason(text: str | None) -> tuple[str | None, list[str]]:
    """Return a user's ``--reason`` with dates, numbers of 6+ digits (record numbers) and titled names replaced.

    ``Mr ROBIN ROE (DOB 1961-04-12, MRN 4471123)`` -> ``[name] (DOB [date], MRN [number])``. The
    second item names what was replaced (``date``, ``number``, ``name``) for the warning; a reason is
    recorded in the store's hash-chained log, where it can never be edited out.
    """
    if text is None:
        return None, []
    found: list[str] = []
    out = redact_dates(text)
    if out != text:
        found.append("date")
    named = _TITLED_NAME.sub("[name]", out)  # a title in any case, then 1-3 capitalised words ("Dr said" stays)
    if named != out:
        found.append("name")
    numbered = _LONG_NUMBER.sub("[number]", named)
    if numbered != named:
        found.append("number")
    return numbered, found


def recorded_reason(text: str | None) -> str | None:
    """Return ``text`` as :func:`clean_reason` cleans it, logging ``IML-IN-013`` when it changed anything.

    Every function that records a reason (ingest, identity, QC decisions, derivations) calls it, so
    the API records what the CLI does; the CLI has cleaned the text already and nothing is logged twice.
    """
    cleaned, found = clean_reason(text)
    if found:
        import logging

        logging.getLogger("immunolab.reason").warning(
            "the reason held %s: recorded as %r (a reason stays in the store's log for good; "
            "name patients by their study code)", " and ".join(found), cleaned, extra={"code": "IML-IN-013"})
    return cleaned

