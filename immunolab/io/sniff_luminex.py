"""Recognise Luminex exports from the first bytes of a file (stdlib only: used by ``detect``).

:func:`luminex_format` returns ``"xponent"`` (an xPONENT batch export from a FLEXMAP 3D,
Luminex 100/200 or MAGPIX), ``"intelliflex_xponent"`` (the xPONENT-style INTELLIFLEX export),
``"intelliflex_flat"`` (the flat INTELLIFLEX CSV with ``R25: RP1 MEDIAN`` columns) or None.
The markers are structural (``Program`` row naming xPONENT, ``DataType:`` sections with a
``Location`` header, ``WELL LOCATION`` + region columns), so MSD, Bio-Plex and LEGENDplex
tables are never claimed.
"""

from __future__ import annotations

import csv
import re

__all__ = ["head_text", "luminex_format"]

_REGION_COL = re.compile(r"^R\d{1,3}\s*:\s*RP\d\b", re.IGNORECASE)


def head_text(head: bytes) -> str:
    """Return the decoded text of a file head (BOM removed; undecodable bytes replaced)."""
    if head.startswith(b"\xef\xbb\xbf"):
        return head[3:].decode("utf-8", errors="replace")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head[: len(head) - len(head) % 2].decode("utf-16", errors="replace").lstrip("\ufeff")
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a multi-byte character cut by the 64 KiB limit
            return head[: exc.start].decode("utf-8", errors="replace")
        return head.decode("cp1252", errors="replace")


def _rows(text: str, limit: int = 400) -> list[list[str]]:
    lines = [ln for ln in text.splitlines()[:limit] if ln.strip()]
    counts = {d: sum(1 for ln in lines[:40] if d in ln) for d in (",", ";", "\t")}
    delim = max(counts, key=lambda d: counts[d])
    out = []
    for raw in csv.reader(lines, delimiter=delim, skipinitialspace=True):
        out.append([c.strip().strip('"').strip() for c in raw])
    return out


def luminex_format(head: bytes) -> str | None:
    """Return which Luminex export ``head`` starts, or None. Never raises."""
    try:
        text = head_text(head)
        if "\x00" in text[:4096]:
            return None
        rows = _rows(text)
    except Exception:  # detect must never raise
        return None
    if not rows:
        return None
    for cells in rows[:60]:
        if len(cells) >= 2 and cells[0].rstrip(":").lower() == "program" and "xponent" in cells[1].lower():
            instrument = cells[3].lower() if len(cells) > 3 else ""
            return "intelliflex_xponent" if "intelliflex" in instrument else "xponent"
    has_datatype = any(c and c[0].lower().startswith("datatype:") for c in rows)
    has_location = any(len(c) >= 2 and c[0].lower() == "location" and c[1].lower() == "sample" for c in rows)
    if has_datatype and has_location:
        return "xponent"
    header = [" ".join(c.upper().split()) for c in rows[0]]
    if "WELL LOCATION" in header and any(_REGION_COL.match(c) for c in header):
        return "intelliflex_flat"
    return None
