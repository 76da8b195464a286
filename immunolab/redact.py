"""Keep calendar dates out of stored text: find date-shaped parts of free text and redact them.

Light on purpose (``re`` only): the FCS keyword filter imports it on every read, and commands that
must start without pandas or pyarrow (``flow gate``) read FCS files.
"""

from __future__ import annotations

import re

__all__ = ["DATE_IN_TEXT", "date_shape", "redact_dates"]

_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
#: a calendar date written inside free text: ISO / slashed / dotted triples, ``12 Apr 1961``,
#: ``Apr 12, 1961``, ``12APR1961`` and compact ``19610412`` (a year 1900-2099 with a valid month and day)
DATE_IN_TEXT = re.compile(
    r"(?<![0-9])(?:\d{4}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{1,2}|\d{1,2}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{2,4}"
    rf"|\d{{1,2}}[\s_-]*{_MONTHS}[\s_,-]*\d{{2,4}}|{_MONTHS}[\s_-]*\d{{1,2}},?[\s_-]+\d{{4}}"
    r"|(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(?![0-9])",
    re.IGNORECASE,
)


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
