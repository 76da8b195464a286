"""The block grammar of an xPONENT batch export: batches, header key-values, ``DataType:`` sections.

::

    export   := batch+                      (several exported batches may be concatenated)
    batch    := header [calibration] "Results" section* "-- CRC --" "CRC32: XXXXXXXX"
    header   := key-value rows ("Program", "Build", "Date", "SN", "Batch", "ProtocolName" ...)
    section  := "DataType:" NAME  table     (ends at the next DataType:, batch or "-- CRC --")

The tables inside sections are read by :mod:`immunolab_assays.luminex_xponent.sections`.
Locations look like ``1(1,A1)`` (acquisition order, plate number, well), ``1,A1`` or ``A1``.
The checksum is xPONENT's CRC-32 of the bytes before the trailer.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from datetime import date

from immunolab.errors import InconsistentInputError, MalformedInputError
from immunolab.io.dates import parse_instrument_date, pick_date_order
from immunolab.io.delimited import is_missing
from immunolab.redact import redact_free_text

__all__ = [
    "Batch",
    "Section",
    "batch_date",
    "crc_status",
    "header_value",
    "norm_key",
    "parse_xponent_location",
    "redact_free_text",
    "split_batches",
]

_LOCATION = re.compile(
    r"^\s*(?:(?P<order>\d+)\s*\(\s*(?P<plate>\d+)\s*,\s*(?P<row>[A-Pa-p])\s*(?P<col>\d{1,2})\s*\)"
    r"|(?P<plate2>\d+)\s*,\s*(?P<row2>[A-Pa-p])\s*(?P<col2>\d{1,2})"
    r"|(?P<row3>[A-Pa-p])\s*(?P<col3>\d{1,2}))\s*$"
)
_END_MARKERS = ("-- crc --", "crc32")

@dataclass
class Section:
    """One ``DataType:`` block: its name, first line number (1-based) and rows."""

    name: str
    line: int
    rows: list[tuple[int, list[str]]] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Return the normalised section name (lower case, single spaces)."""
        return " ".join(self.name.lower().split())


@dataclass
class Batch:
    """One exported batch: header key-values and its sections."""

    line: int
    header: dict[str, list[str]] = field(default_factory=dict)
    sections: dict[str, Section] = field(default_factory=dict)
    crc_line: int | None = None
    crc_value: str | None = None


def norm_key(cell: str) -> str:
    """Return a cell as a lower-case key without trailing colon, U+FFFD or repeated spaces."""
    return " ".join(cell.replace("\ufffd", "").strip().rstrip(":").lower().split())


def parse_xponent_location(text: str) -> tuple[int | None, int, str] | None:
    """Return (acquisition order or None, plate number, well like ``A1``) or None if unreadable."""
    m = _LOCATION.match(text or "")
    if not m:
        return None
    if m.group("order"):
        order, plate, row, col = int(m.group("order")), int(m.group("plate")), m.group("row"), int(m.group("col"))
    elif m.group("plate2"):
        order, plate, row, col = None, int(m.group("plate2")), m.group("row2"), int(m.group("col2"))
    else:
        order, plate, row, col = None, 1, m.group("row3"), int(m.group("col3"))
    if not 1 <= col <= 24:
        return None
    return order, plate, f"{row.upper()}{col}"


def split_batches(rows: list[list[str]], label: str) -> list[Batch]:
    """Return the batches of an export's rows (IML-CYT-001 / -004 for a broken block structure)."""
    batches: list[Batch] = []
    current: Batch | None = None
    section: Section | None = None
    in_header = True
    for i, cells in enumerate(rows, start=1):
        if not cells or not any(cells):
            continue
        key = norm_key(cells[0])
        if key == "program" and len(cells) > 1 and "xponent" in cells[1].lower():
            current = Batch(line=i)
            batches.append(current)
            section, in_header = None, True
        if current is None:
            if key in ("datatype", "results"):
                current = Batch(line=i)
                batches.append(current)
                in_header = True
            else:
                continue
        if key.startswith(_END_MARKERS):
            if key.startswith("-- crc --"):
                current.crc_line = i
            else:
                m = re.search(r"([0-9a-fA-F]{8})", " ".join(cells))
                current.crc_value = m.group(1).upper() if m else None
            section = None
            in_header = False
            continue
        if key == "datatype":
            name = cells[1].strip() if len(cells) > 1 else ""
            section = Section(name=name, line=i)
            if not section.key:
                raise MalformedInputError(
                    "IML-CYT-001", f"line {i}: a DataType: row names no data type", path=label,
                    hint="The file was probably edited by hand or cut; re-export it from xPONENT.",
                )
            if section.key in current.sections:
                raise InconsistentInputError(
                    "IML-CYT-004",
                    f"line {i}: the {section.name} section appears twice in one batch "
                    f"(first at line {current.sections[section.key].line})",
                    path=label,
                    hint="Two exports were probably pasted together; re-export the batch from xPONENT.",
                )
            current.sections[section.key] = section
            in_header = False
            continue
        if key in ("results", "most recent calibration and verification results", "most recent calibration and control results", "calinfo"):
            in_header = False
            section = None
            continue
        if in_header:
            current.header.setdefault(key, cells[1:])
        elif section is not None:
            section.rows.append((i, cells))
    return batches


def batch_date(batch: Batch, delimiter: str) -> date | None:
    """Return the run date of a batch (BatchStartTime, Date ...; ``;`` files read day-first)."""
    candidates = []
    for key in ("batchstarttime", "date", "batchstoptime"):
        vals = batch.header.get(key)
        if vals:
            candidates.append(" ".join(v for v in vals if v))
    order = pick_date_order(candidates, european=delimiter == ";")
    for text in candidates:
        d = parse_instrument_date(text, order=order)
        if d is not None:
            return d
    return None


def header_value(batch: Batch, *keys: str, index: int = 0) -> str | None:
    """Return the first non-missing header value under one of ``keys`` (cell ``index``), or None."""
    for key in keys:
        vals = batch.header.get(key)
        if vals and len(vals) > index and not is_missing(vals[index]) and vals[index].strip() not in ("<None>",):
            return vals[index].strip().replace("\ufffd", "")
    return None


def _trailer_as_written(data: bytes, start: int) -> bool:
    """Return True when the ``-- CRC --`` line at ``start`` and the CRC32 line after it are bare, as xPONENT writes them.

    A spreadsheet or script that re-saves the export quotes or pads these lines (``"-- CRC --",""``,
    ``-- CRC --,,,``) as it does every row, and so rewrites the bytes the checksum covered.
    """
    line_start = data.rfind(b"\n", 0, start) + 1
    lines = data[line_start:].split(b"\n", 2)
    if len(lines) < 2:
        return False
    return lines[0].strip() == b"-- CRC --" and re.fullmatch(rb"CRC32:\s*[0-9A-Fa-f]{8}", lines[1].strip()) is not None


def crc_status(data: bytes, batches: list[Batch]) -> list[str]:
    """Return ``ok`` / ``mismatch`` / ``unverified`` / ``absent`` per batch.

    xPONENT's checksum is the CRC-32 (zlib's) of the file's bytes before the ``-- CRC --`` line
    (measured on the shared real export ``serolyzer/Chul_IgG3_1.csv``). A file re-saved by a
    spreadsheet or script no longer holds those bytes (:func:`_trailer_as_written` is False):
    its checksum cannot be checked, ``unverified``, which says nothing about its values.
    """

    out: list[str] = []
    starts = [m.start() for m in re.finditer(rb"-- CRC --", data)]
    prev_end = 0
    for k, batch in enumerate(batches):
        if batch.crc_line is None or batch.crc_value is None or k >= len(starts):
            out.append("absent")
            continue
        segment = data[prev_end : starts[k]]
        if k > 0:
            segment = segment.lstrip(b"\r\n")
        if f"{zlib.crc32(segment):08X}" == batch.crc_value:
            out.append("ok")
        else:
            out.append("mismatch" if _trailer_as_written(data, starts[k]) else "unverified")
        nl = data.find(b"\n", data.find(b"CRC32", starts[k]))
        prev_end = len(data) if nl < 0 else nl + 1
    return out
