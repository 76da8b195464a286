"""Read delimited plate exports as they reach the lab: any encoding, delimiter and decimal mark.

Instrument CSVs are opened and re-saved by Excel under many locales before they reach
immunolab, so this module accepts: a UTF-8 / UTF-16 byte-order mark, UTF-8 or Windows-1252
text (undecodable bytes become U+FFFD), ``,`` / ``;`` / tab delimiters, quoted or unquoted
cells padded with spaces or trailing empty cells, decimal commas when the delimiter is ``;``,
and the many spellings of "no value" (``NaN``, ``N/A``, ``#N/A``, empty ...).

Nothing here knows a file format; :mod:`immunolab_assays.luminex_xponent.reader` and
:mod:`immunolab_assays.luminex_intelliflex.flat` build their grammars on :func:`read_rows`.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass

from immunolab.errors import MalformedInputError

__all__ = [
    "MISSING_TOKENS",
    "DelimitedText",
    "decode_bytes",
    "is_missing",
    "parse_number",
    "read_rows",
    "sniff_delimiter",
]

#: cell texts that mean "no value" (compared case-insensitively after trimming)
MISSING_TOKENS = frozenset({"", "nan", "n/a", "#n/a", "na", "none", "null", "-", "#value!", "#div/0!", "inf", "-inf", "infinity"})
_NUMBER_DOT = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")
_NUMBER_COMMA = re.compile(r"^[-+]?(?:\d+(?:,\d*)?|,\d+)(?:[eE][-+]?\d+)?$")
_THOUSANDS_COMMA_DECIMAL = re.compile(r"^[-+]?\d{1,3}(?:\.\d{3})+(?:,\d*)?$")
_THOUSANDS_DOT_DECIMAL = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$")


@dataclass(frozen=True)
class DelimitedText:
    """Rows of a delimited file with the delimiter and decimal mark that were detected."""

    rows: list[list[str]]
    delimiter: str
    decimal: str


def decode_bytes(data: bytes) -> str:
    """Return the text of ``data``: BOM removed, UTF-8 or UTF-16, else Windows-1252."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace").lstrip("\ufeff")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
        return text


def sniff_delimiter(text: str) -> str:
    """Return the delimiter (``,``, ``;`` or tab) used by most of the first 40 non-empty lines."""
    lines = [ln for ln in text.splitlines()[:200] if ln.strip()][:40]
    best, best_score = ",", -1
    for delim in (",", ";", "\t"):
        score = sum(1 for ln in lines if delim in ln)
        if score > best_score:
            best, best_score = delim, score
    return best


def read_rows(text: str, delimiter: str | None = None) -> DelimitedText:
    """Return every row of ``text`` as trimmed cells (trailing empty cells dropped).

    Blank rows are kept as empty lists so that line numbers stay meaningful (index + 1).
    """
    delim = delimiter or sniff_delimiter(text)
    rows: list[list[str]] = []
    reader = csv.reader(text.splitlines(), delimiter=delim, quotechar='"', skipinitialspace=True)
    try:
        for raw in reader:
            cells = [c.strip().strip('"').strip() for c in raw]
            while cells and not cells[-1]:
                cells.pop()
            rows.append(cells)
    except csv.Error as exc:  # pragma: no cover - csv in non-strict mode rarely raises
        raise MalformedInputError(
            "IML-CYT-001",
            f"the file is not readable as delimited text ({exc.__class__.__name__})",
            hint="Re-export the file from the instrument software as CSV.",
        ) from None
    return DelimitedText(rows=rows, delimiter=delim, decimal="," if delim == ";" else ".")


def is_missing(cell: str | None) -> bool:
    """Return True when ``cell`` is one of the "no value" spellings."""
    return cell is None or cell.strip().lower() in MISSING_TOKENS


def parse_number(cell: str | None, *, decimal: str = ".") -> float | None:
    """Return ``cell`` as a float, None when it is a "no value" token; raise ValueError otherwise.

    With ``decimal=","`` both ``1234,5`` and ``1.234,5`` read as 1234.5 (and ``1234.5`` is still
    accepted, as Excel leaves some cells untouched); with ``decimal="."`` a quoted ``1,234.5`` or
    ``12,345`` reads with its thousands separators dropped.
    """
    if is_missing(cell):
        return None
    assert cell is not None
    text = cell.strip()
    if decimal == ",":
        if _THOUSANDS_COMMA_DECIMAL.match(text):
            text = text.replace(".", "").replace(",", ".")
        elif _NUMBER_COMMA.match(text):
            text = text.replace(",", ".")
    elif _THOUSANDS_DOT_DECIMAL.match(text):
        text = text.replace(",", "")
    if not _NUMBER_DOT.match(text):
        raise ValueError("not a number")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value
