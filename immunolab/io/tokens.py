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
``NaN``        no value (re-saved exports)                         None           ``not_available``
(empty)        nothing printed (blanks, unknowns without a curve)  None           None
=============  ==================================================  =============  ==============

Numbers typed as text (a workbook re-saved under another locale) may use either decimal mark
and digit grouping (``1,5``, ``1.234,5``, ``12,345``, ``1 234,5``); :func:`guess_decimal` finds a
sheet's decimal mark from its unambiguous cells and resolves the ambiguous ones (``1,234``).

Units are whatever the export uses (Bio-Plex prints concentrations in the kit's units, usually
pg/mL); nothing is converted here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
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
    "guess_decimal",
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


_GROUP_SPACE = re.compile(r"(?<=\d)[ \u00a0\u202f'](?=\d{3}(?:\D|$))")
_COMMA_GROUPS = re.compile(r"^[-+]?[1-9]\d{0,2}(?:,\d{3})+$")
_DOT_GROUPS = re.compile(r"^[-+]?[1-9]\d{0,2}(?:\.\d{3})+$")
_DECIMAL_COMMA = re.compile(r"^[-+*]?\d*,\d+$")
_DECIMAL_DOT = re.compile(r"^[-+*]?\d*\.\d+$")


def _number_from_text(text: str, decimal: str | None = None) -> float | None:
    """Return the number a text cell spells, whatever its decimal mark and digit grouping.

    ``1,234.5`` / ``1.234,5`` / ``1 234,5`` / ``1'234.5``: the last of ``,`` and ``.`` is the
    decimal mark. A lone comma is a decimal comma (``1,5``, ``0,123``) unless the text is
    comma-grouped thousands (``12,345``, ``1,234,567``) and the sheet's decimal mark is not
    ``,``; a lone dot is a decimal point unless the sheet's mark is ``,`` and the text is
    dot-grouped (``1.234``).
    """
    t = _GROUP_SPACE.sub("", text.strip())
    if "," in t and "." in t:
        t = t.replace(".", "").replace(",", ".") if t.rfind(",") > t.rfind(".") else t.replace(",", "")
    elif "," in t:
        if _COMMA_GROUPS.match(t) and (decimal != "," or t.count(",") > 1):
            t = t.replace(",", "")
        elif t.count(",") == 1:
            t = t.replace(",", ".")
    elif decimal == "," and _DOT_GROUPS.match(t):
        t = t.replace(".", "")
    if _NUMBER.match(t):
        return float(t)
    return None


def guess_decimal(texts: Iterable[object]) -> str | None:
    """Return the decimal mark (``,`` / ``.``) the text cells of one sheet show unambiguously, or None.

    ``1,5`` or ``1.234,5`` show a decimal comma; ``1.5`` (not three digits after the dot) or
    ``1,234.5`` a decimal point. Numbers stored as numbers carry no mark and are ignored.
    """
    comma = dot = 0
    for value in texts:
        if not isinstance(value, str):
            continue
        t = _GROUP_SPACE.sub("", value.strip())
        if ("," in t and "." in t and t.rfind(",") > t.rfind(".")) or (_DECIMAL_COMMA.match(t) and not _COMMA_GROUPS.match(t.lstrip("*"))):
            comma += 1
        elif ("," in t and "." in t) or (_DECIMAL_DOT.match(t) and not _DOT_GROUPS.match(t.lstrip("*"))):
            dot += 1
    if comma and not dot:
        return ","
    if dot and not comma:
        return "."
    return None


def cell_number(value: object, *, label: str, where: str, decimal: str | None = None) -> float | None:
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
    parsed = _number_from_text(text, decimal)
    if parsed is None:
        raise MalformedInputError(
            "IML-CYT-003",
            f"{where} holds text that is not a number",
            path=label,
            hint="The sheet was probably edited by hand; re-export it from Bio-Plex Manager.",
        )
    return parsed


def parse_signal(value: object, *, label: str, where: str, decimal: str | None = None) -> tuple[float | None, bool]:
    """Return (FI or None, is_outlier) for an ``FI`` / ``FI - Bkgd`` cell (``---`` = outlier)."""
    if isinstance(value, str) and value.strip() == "---":
        return None, True
    if isinstance(value, str) and (value.strip() == "***" or value.strip().lower() == "nan"):
        return None, False
    return cell_number(value, label=label, where=where, decimal=decimal), False


def parse_reported_conc(value: object, *, label: str, where: str, decimal: str | None = None) -> ReportedConc:
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
    if squeezed.lower() == "nan":
        return ReportedConc(text, None, FLAG_NOT_AVAILABLE)
    if squeezed.startswith("*") and not squeezed.startswith("**"):
        number = _number_from_text(text.strip()[1:], decimal)
        if number is not None:
            return ReportedConc(text, number, FLAG_EXTRAPOLATED)
    number = _number_from_text(text, decimal)
    if number is not None:
        return ReportedConc(text, number, None)
    raise MalformedInputError(
        "IML-CYT-003",
        f"{where} is neither a number nor a Bio-Plex token (OOR <, OOR >, *value, ***, ---)",
        path=label,
        hint="The sheet was probably edited by hand; re-export it from Bio-Plex Manager.",
    )
