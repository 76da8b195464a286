"""Keep calendar dates out of stored text: find date-shaped parts of free text, redact them, bound study days.

Light on purpose (``re`` only): the FCS keyword filter imports it on every read, and commands that
must start without pandas or pyarrow (``flow gate``) read FCS files.
"""

from __future__ import annotations

import re

__all__ = ["DATE_IN_TEXT", "STUDY_DAY_WARNING", "STUDY_DAY_WINDOW", "date_shape", "in_study_window", "redact_dates"]

_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
#: a calendar date written inside free text: ISO / slashed / dotted triples, ``12 Apr 1961``,
#: ``Apr 12, 1961``, ``12APR1961`` and compact ``19610412`` (a year 1900-2099 with a valid month and day)
DATE_IN_TEXT = re.compile(
    r"(?<![0-9])(?:\d{4}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{1,2}|\d{1,2}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{2,4}"
    rf"|\d{{1,2}}[\s_-]*{_MONTHS}[\s_,-]*\d{{2,4}}|{_MONTHS}[\s_-]*\d{{1,2}},?[\s_-]+\d{{4}}"
    r"|(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(?![0-9])",
    re.IGNORECASE,
)
#: study days a trial date can have (a year before Day 0 to ten years after); a day outside gives the date
#: away (``-21483`` is a 1961 date against a 2020 Day 0), so it is not stored (warning IML-IN-011)
STUDY_DAY_WINDOW = (-365, 3650)
#: the warning of a date left without its study day for lying outside :data:`STUDY_DAY_WINDOW`
STUDY_DAY_WARNING = "IML-IN-011"


def in_study_window(day: int) -> bool:
    """Return whether study day ``day`` lies in :data:`STUDY_DAY_WINDOW` (days since Day 0)."""
    return STUDY_DAY_WINDOW[0] <= day <= STUDY_DAY_WINDOW[1]


def date_shape(text: str) -> str:
    """Return the shape of a written date (``1961-04-12`` -> ``NNNN-NN-NN``, ``12Apr1961`` -> ``NNAAANNNN``)."""
    return re.sub(r"\d", "N", re.sub(r"[A-Za-z]", "A", text))


def redact_dates(text: str, replacement: str | None = "[date]") -> str:
    """Return ``text`` with every date-shaped part (:data:`DATE_IN_TEXT`) replaced.

    ``replacement`` None writes each date's shape instead (:func:`date_shape`): a name that held a
    date stays readable as a name (``DOB NNNN-NN-NN``) without the date.
    """
    if replacement is None:
        return DATE_IN_TEXT.sub(lambda m: date_shape(m.group(0)), text)
    return DATE_IN_TEXT.sub(replacement, text)
