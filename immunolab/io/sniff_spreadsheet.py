"""Tell Bio-Plex Manager and MSD exports apart from a file's first 64 KiB (stdlib only, never raises).

Both the ``bioplex`` and the ``msd`` plugins call :func:`classify_head`, so for every file the
two plugins read the same verdict and at most one of them claims it (a file that carries the
markers of both is ``ambiguous``: both claim it and ingest asks for ``--assay``).

Rules, in order:

1. **XML** whose root element is ``BioPlexManager`` (Bio-Rad namespace) -> ``bioplex_xml``.
2. **MSD reader text** (Methodical Mind / MESO reader export): a ``==========Data`` banner and
   two of the header keys ``Stack ID``, ``Det Param``, ``Barcode1``, ``Spots Per Well``,
   ``Read Time``, ``MMPR`` -> ``msd_reader_text``.
3. **MSD Discovery Workbench CSV**: within the first 5 lines a comma-separated header that names
   ``Sample``, ``Assay``, ``Well``, ``Spot`` and ``Signal`` -> ``msd_workbench_csv``.
4. **Spreadsheets** (``.xls`` = OLE2 magic ``D0 CF 11 E0``, ``.xlsx`` = zip ``PK 03 04``). The
   visible text is collected: for ``.xls`` the BIFF string records in 8-bit and UTF-16; for
   ``.xlsx`` every zip member whose local header lies in the head is inflated (partially if cut,
   at most 4 MiB each) and ``sharedStrings.xml``, ``workbook.xml`` (sheet names) and inline
   strings of worksheets are read. Then:

   a. two or more Bio-Plex markers (``FI - Bkgd``, ``Obs Conc``, ``Reader Serial Number``,
      ``RP1 PMT (Volts)``, ``RP1 Target``, ``Std. Curve: FI``, ``Regression Type``) and fewer
      than two MSD markers -> ``bioplex_xls`` / ``bioplex_xlsx``;
   b. two or more MSD markers (``Adjusted Signal``, ``Adj. Sig. Mean``, ``Calc. Concentration``,
      ``Calc. Conc. Mean``, ``Detection Range``, ``Fit Statistic``, ``Digital_Signature``,
      ``% Recovery Mean``) and fewer than two Bio-Plex markers -> ``msd_xlsx`` / ``msd_xls``;
   c. markers of both -> ``ambiguous``;
   d. **no text visible** (an ``.xlsx`` whose ``sharedStrings.xml`` lies beyond 64 KiB, as in
      Google-Sheets re-saves): the grid shape of the first worksheet in the head decides.
      A Bio-Plex analyte sheet opens with four or more rows holding exactly one string cell,
      in column A (the ``Key: value`` preamble), followed within three rows by a header row of
      twelve or more string cells. A Workbench sheet opens with one string cell (``Plate_...``)
      directly followed by a header row of ten or more string cells. The two shapes exclude
      each other; any other shape claims nothing, and the user is told to pass ``--assay``.

The file name and its extension are never used.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

from immunolab.errors import UnrecognizedInputError
from immunolab.plugins import HEAD_BYTES

__all__ = [
    "BIOPLEX_MARKERS",
    "MSD_MARKERS",
    "classify_head",
    "read_export_head",
    "xlsx_head_members",
]

XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
_MAX_INFLATE = 4 * 1024 * 1024

BIOPLEX_MARKERS = (
    "FI - Bkgd",
    "Obs Conc",
    "Reader Serial Number",
    "RP1 PMT (Volts)",
    "RP1 Target",
    "Std. Curve: FI",
    "Regression Type",
)
MSD_MARKERS = (
    "Adjusted Signal",
    "Adj. Sig. Mean",
    "Calc. Concentration",
    "Calc. Conc. Mean",
    "Detection Range",
    "Fit Statistic",
    "Digital_Signature",
    "% Recovery Mean",
)
_READER_KEYS = ("Stack ID", "Det Param", "Barcode1", "Spots Per Well", "Read Time", "MMPR")


def xlsx_head_members(head: bytes) -> dict[str, bytes]:
    """Return {member name: inflated bytes} for zip members whose local header is in ``head``.

    Members cut by the end of ``head`` are inflated as far as the bytes go; damaged members
    give whatever inflated before the damage. Never raises.
    """
    members: dict[str, bytes] = {}
    pos = 0
    while True:
        i = head.find(ZIP_MAGIC, pos)
        if i < 0 or i + 30 > len(head):
            break
        try:
            (_ver, flag, method, _t, _d, _crc, csize, _usize, nlen, elen) = struct.unpack(
                "<HHHHHIIIHH", head[i + 4 : i + 30]
            )
        except struct.error:
            break
        name = head[i + 30 : i + 30 + nlen].decode("utf-8", "replace")
        start = i + 30 + nlen + elen
        end = len(head) if (flag & 8 or csize == 0) else min(len(head), start + csize)
        data = head[start:end]
        if method == 0:
            members.setdefault(name, data[:_MAX_INFLATE])
        elif method == 8:
            inflater = zlib.decompressobj(-15)
            try:
                members.setdefault(name, inflater.decompress(data, _MAX_INFLATE))
            except zlib.error:
                members.setdefault(name, b"")
        pos = i + 4
    return members


def _xml_strings(xml: bytes) -> list[str]:
    text = xml.decode("utf-8", "replace")
    return [_unescape(t) for t in re.findall(r"<(?:\w+:)?t(?:\s[^>]*)?>([^<]*)</(?:\w+:)?t>", text)]


def _unescape(text: str) -> str:
    return (
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
        .replace("&apos;", "'").replace("&amp;", "&")
    )


def _count(markers: tuple[str, ...], text: str) -> int:
    return sum(1 for m in markers if m in text)


def _by_markers(text: str) -> str | None:
    bio, msd = _count(BIOPLEX_MARKERS, text), _count(MSD_MARKERS, text)
    if bio >= 2 and msd >= 2:
        return "ambiguous"
    if bio >= 2:
        return "bioplex"
    if msd >= 2:
        return "msd"
    return None


_ROW = re.compile(rb"<(?:\w+:)?row\b([^>]*)>(.*?)</(?:\w+:)?row>", re.S)
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_CELL_REF = re.compile(rb'\br="([A-Z]+)\d+"')
_CELL_TYPE = re.compile(rb'\bt="(\w+)"')


def _grid(sheet_xml: bytes, max_rows: int = 16) -> dict[int, list[tuple[str, bool]]]:
    """Return {row number: [(column letters, is_string)]} for non-empty cells of the first rows."""
    rows: dict[int, list[tuple[str, bool]]] = {}
    for m in _ROW.finditer(sheet_xml):
        rn = _ROW_NUMBER.search(m.group(1))
        if rn is None:
            continue
        number = int(rn.group(1))
        if number > max_rows:
            break
        cells: list[tuple[str, bool]] = []
        for c in _CELL.finditer(m.group(2)):
            body = c.group(2) or b""
            if b"<v" not in body and b"<is" not in body:
                continue
            ref = _CELL_REF.search(c.group(1))
            kind = _CELL_TYPE.search(c.group(1))
            is_string = bool(kind and kind.group(1) in (b"s", b"inlineStr", b"str"))
            cells.append((ref.group(1).decode() if ref else "?", is_string))
        rows[number] = cells
    return rows


def _shape(sheet_xml: bytes) -> str | None:
    rows = _grid(sheet_xml)
    if not rows:
        return None

    def single_a(n: int) -> bool:
        cells = rows.get(n, [])
        return len(cells) == 1 and cells[0] == ("A", True)

    def header(n: int, minimum: int) -> bool:
        cells = rows.get(n, [])
        return len(cells) >= minimum and all(s for _, s in cells)

    preamble = 0
    while single_a(preamble + 1):
        preamble += 1
    if preamble >= 4 and any(header(preamble + k, 12) for k in (1, 2, 3)):
        return "bioplex"
    if preamble == 1 and header(2, 10):
        return "msd"
    return None


def _classify_xlsx(head: bytes) -> str | None:
    members = xlsx_head_members(head)
    texts: list[str] = []
    sheets: list[bytes] = []
    for name, data in members.items():
        low = name.lower()
        if low.endswith("sharedstrings.xml"):
            texts += _xml_strings(data)
        elif low.endswith("workbook.xml"):
            texts += re.findall(r'<(?:\w+:)?sheet\b[^>]*\bname="([^"]*)"', data.decode("utf-8", "replace"))
        elif low.startswith("xl/worksheets/") and low.endswith(".xml"):
            sheets.append(data)
            texts += _xml_strings(data)
    verdict = _by_markers("\n".join(texts))
    if verdict is not None:
        return verdict
    if not any(n.lower().startswith("xl/") for n in members):
        return None  # a zip, but not a spreadsheet
    for sheet in sheets:
        shape = _shape(sheet)
        if shape is not None:
            return shape
    return None


def _classify_xls(head: bytes) -> str | None:
    text = head.decode("latin-1") + "\n" + head.decode("utf-16-le", "replace")
    return _by_markers(text)


def _decode_text(head: bytes) -> str:
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom):].decode(codec, "replace")
    return head.decode("utf-8", "replace")


def _is_reader_text(text: str) -> bool:
    return "==========Data" in text and sum(1 for k in _READER_KEYS if k in text) >= 2


def _is_workbench_csv(text: str) -> bool:
    for line in text.splitlines()[:5]:
        cells = {c.strip().strip('"').lower() for c in line.split(",")}
        if {"sample", "assay", "well", "spot", "signal"} <= cells:
            return True
    return False


def _is_bioplex_xml(text: str) -> bool:
    stripped = text.lstrip()
    if not stripped.startswith("<"):
        return False
    m = re.search(r"<(?!\?|!)([\w.-]+:)?([\w.-]+)[\s>/]", stripped)
    return bool(m and m.group(2) == "BioPlexManager")


def classify_head(head: bytes) -> tuple[str, str] | None:
    """Return (format, reason) for a Bio-Plex or MSD export, ``("ambiguous", ...)``, or None.

    Formats: ``bioplex_xls``, ``bioplex_xlsx``, ``bioplex_xml``, ``msd_xlsx``, ``msd_xls``,
    ``msd_workbench_csv``, ``msd_reader_text``. Pure and total: never raises.
    """
    try:
        if head.startswith(XLS_MAGIC):
            kind = _classify_xls(head)
            return (f"{kind}_xls" if kind != "ambiguous" else kind, "OLE2 workbook with export markers") if kind else None
        if head.startswith(ZIP_MAGIC):
            kind = _classify_xlsx(head)
            return (f"{kind}_xlsx" if kind != "ambiguous" else kind, "xlsx with export markers or layout") if kind else None
        text = _decode_text(head)
        if _is_bioplex_xml(text):
            return "bioplex_xml", "XML root BioPlexManager"
        if _is_reader_text(text):
            return "msd_reader_text", "MSD reader text header and Data banner"
        if _is_workbench_csv(text):
            return "msd_workbench_csv", "Discovery Workbench CSV header (Sample, Assay, Well, Spot, Signal)"
    except Exception:  # detection must never raise
        return None
    return None


def read_export_head(path: Path, label: str, *, software: str) -> bytes:
    """Return the first 64 KiB of an export; raise IML-IN-001 (unreadable) or IML-IN-005 (empty).

    Used by the Bio-Plex and MSD parsers, which also run when forced with ``--assay`` (no detection).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        raise UnrecognizedInputError(
            "IML-IN-001", "the file cannot be read", path=label,
            hint="Check that the file exists and is readable.",
        ) from None
    if not head:
        raise UnrecognizedInputError(
            "IML-IN-005", "the file is empty (0 bytes)", path=label,
            hint=f"Export the plate again from {software}.",
        )
    return head
