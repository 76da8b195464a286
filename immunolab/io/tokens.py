"""Read the concentration and signal cells of Bio-Plex Manager exports: numbers and their tokens.

Bio-Plex Manager prints a concentration either as a number or as one of these tokens, which
immunolab keeps verbatim in ``reported_conc_text`` beside a number (``reported_conc``) and a
flag (``reported_flag``):

=============  ==================================================  =============  ==============
printed        meaning (legend of the export)                      reported_conc  reported_flag
=============  ==================================================  =============  ==============
``12.3``       observed concentration                              12.3           None
``*12.3``      value extrapolated beyond the standard range        12.3           ``extrapolated``
``OOR <``      out of range below (``OOR<`` too)                   None           ``OOR<``
``OOR >``      out of range above (``OOR>`` too)                   None           ``OOR>``
``***``        value not available                                 None           ``not_available``
``---``        designated as an outlier                            None           ``outlier``
(empty)        nothing printed (blanks, unknowns without a curve)  None           None
=============  ==================================================  =============  ==============

Units are whatever the export uses (Bio-Plex prints concentrations in the kit's units, usually
pg/mL); nothing is converted here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from immunolab.errors import MalformedInputError

__all__ = [
    "FLAG_EXTRAPOLATED",
    "FLAG_NOT_AVAILABLE",
    "FLAG_OOR_HIGH",
    "FLAG_OOR_LOW",
    "FLAG_OUTLIER",
    "ReportedConc",
    "cell_number",
    "cell_text",
    "parse_reported_conc",
    "parse_signal",
]

FLAG_OOR_LOW = "OOR<"
FLAG_OOR_HIGH = "OOR>"
FLAG_EXTRAPOLATED = "extrapolated"
FLAG_NOT_AVAILABLE = "not_available"
FLAG_OUTLIER = "outlier"

_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
_TOKENS: dict[str, str] = {
    "OOR<": FLAG_OOR_LOW,
    "OOR>": FLAG_OOR_HIGH,
    "***": FLAG_NOT_AVAILABLE,
    "---": FLAG_OUTLIER,
}


@dataclass(frozen=True)
class ReportedConc:
    """One printed concentration: the text as printed, its number (or None) and its flag."""

    text: str | None
    value: float | None
    flag: str | None


def cell_text(value: object) -> str | None:
    """Return a cell as trimmed text (None when empty); integral floats print without ``.0``.

    Other floats print as their shortest round-trip text, so ``float(cell_text(x)) == x``.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)  # shortest text that reads back as the same float
    if isinstance(value, int):
        return str(value)
    text = str(value).strip()
    return text or None


def _number_from_text(text: str) -> float | None:
    cleaned = text.replace(",", "") if text.count(",") and "." in text else text
    if _NUMBER.match(cleaned):
        return float(cleaned)
    return None


def cell_number(value: object, *, label: str, where: str) -> float | None:
    """Return a numeric cell as float (None when empty) or raise IML-CYT-003 for text.

    ``where`` names the cell (sheet, row, column) for the message; it never quotes the cell.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise MalformedInputError(
            "IML-CYT-003", f"{where} holds a boolean where a number is expected", path=label,
            hint="Re-export the sheet from Bio-Plex Manager without editing it.",
        )
    if isinstance(value, (int, float)):
        number = float(value)
        if math.isnan(number):
            return None
        if math.isinf(number):
            raise MalformedInputError(
                "IML-CYT-003", f"{where} holds an infinite number", path=label,
                hint="Re-export the sheet from Bio-Plex Manager without editing it.",
            )
        return number
    text = str(value).strip()
    if not text:
        return None
    parsed = _number_from_text(text)
    if parsed is None:
        raise MalformedInputError(
            "IML-CYT-003",
            f"{where} holds text that is not a number",
            path=label,
            hint="The sheet was probably edited by hand; re-export it from Bio-Plex Manager.",
        )
    return parsed


def parse_signal(value: object, *, label: str, where: str) -> tuple[float | None, bool]:
    """Return (FI or None, is_outlier) for an ``FI`` / ``FI - Bkgd`` cell (``---`` = outlier)."""
    if isinstance(value, str) and value.strip() == "---":
        return None, True
    if isinstance(value, str) and value.strip() == "***":
        return None, False
    return cell_number(value, label=label, where=where), False


def parse_reported_conc(value: object, *, label: str, where: str) -> ReportedConc:
    """Return the :class:`ReportedConc` of an ``Obs Conc`` cell (tokens in the module docstring)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return ReportedConc(None, None, None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = cell_number(value, label=label, where=where)
        return ReportedConc(cell_text(value), number, None)
    text = str(value).strip()
    squeezed = re.sub(r"\s+", "", text)
    if squeezed in _TOKENS:
        return ReportedConc(text, None, _TOKENS[squeezed])
    if squeezed.startswith("*") and not squeezed.startswith("**"):
        number = _number_from_text(squeezed[1:])
        if number is not None:
            return ReportedConc(text, number, FLAG_EXTRAPOLATED)
    number = _number_from_text(squeezed)
    if number is not None:
        return ReportedConc(text, number, None)
    raise MalformedInputError(
        "IML-CYT-003",
        f"{where} is neither a number nor a Bio-Plex token (OOR <, OOR >, *value, ***, ---)",
        path=label,
        hint="The sheet was probably edited by hand; re-export it from Bio-Plex Manager.",
    )
