"""Read the run dates plate instruments print, in any of the styles lab PCs produce.

Handled: ISO ``2024-10-18 11:36``, US ``5/17/2023 6:42:29 PM``, two-digit years ``3/25/24``,
European ``17/05/2023`` / ``17.05.2023`` / ``17-05-2023``. Day/month order is decided from all
the dates of one file together (:func:`pick_date_order`): a part above 12 settles it; otherwise
``.`` separators and ``;``-delimited (European locale) files mean day first, else month first.
The parsed date stays inside the plugin: it only becomes a study day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Literal

__all__ = ["DateOrder", "parse_instrument_date", "pick_date_order"]

DateOrder = Literal["mdy", "dmy"]
_ISO = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_TRIPLE = re.compile(r"(?<!\d)(\d{1,2})([-/.])(\d{1,2})\2(\d{2}|\d{4})(?!\d)")


def _year(text: str) -> int:
    y = int(text)
    if len(text) == 2:
        y += 2000 if y < 70 else 1900
    return y


def pick_date_order(texts: Iterable[str | None], *, european: bool = False) -> DateOrder:
    """Return the day/month order that fits every date text of one file."""
    votes_dmy = votes_mdy = 0
    dotted = False
    for text in texts:
        if not text:
            continue
        m = _TRIPLE.search(text)
        if not m:
            continue
        first, sep, second = int(m.group(1)), m.group(2), int(m.group(3))
        dotted = dotted or sep == "."
        if first > 12 >= second:
            votes_dmy += 1
        elif second > 12 >= first:
            votes_mdy += 1
    if votes_dmy and not votes_mdy:
        return "dmy"
    if votes_mdy and not votes_dmy:
        return "mdy"
    return "dmy" if (dotted or european) else "mdy"


def parse_instrument_date(text: str | None, *, order: DateOrder = "mdy") -> date | None:
    """Return the calendar date in ``text`` (time of day ignored) or None when there is none."""
    if not text:
        return None
    m = _ISO.search(text)
    try:
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = _TRIPLE.search(text)
        if not m:
            return None
        a, b, y = int(m.group(1)), int(m.group(3)), _year(m.group(4))
        if order == "dmy" or a > 12:
            day, month = a, b
        else:
            month, day = a, b
        if month > 12:
            day, month = month, day
        return date(y, month, day)
    except ValueError:
        return None
