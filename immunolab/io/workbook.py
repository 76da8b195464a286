"""Open an Excel workbook (``.xls`` with xlrd, ``.xlsx`` with openpyxl) as plain rows of cells.

Cells come back as ``str`` (trimmed of nothing), ``float``, ``int``, ``bool``, ``datetime`` or
None for empty cells, so the Bio-Plex and MSD readers see one shape whatever the file format.
Failure to open is ``IML-CYT-007`` naming the file by its label, never by text inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from immunolab.errors import MalformedInputError

__all__ = ["Sheet", "read_workbook", "workbook_kind"]

XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class Sheet:
    """One worksheet: its name and its rows (lists of cell values, trailing empties trimmed)."""

    name: str
    rows: list[list[Any]]

    def cell(self, row: int, col: int) -> Any:
        """Return the value at (row, col), zero-based, or None outside the used range."""
        if row < 0 or row >= len(self.rows):
            return None
        cells = self.rows[row]
        return cells[col] if 0 <= col < len(cells) else None


def workbook_kind(head: bytes) -> str | None:
    """Return ``xls`` (OLE2 compound file), ``xlsx`` (zip) or None from a file's first bytes."""
    if head.startswith(XLS_MAGIC):
        return "xls"
    if head.startswith(ZIP_MAGIC):
        return "xlsx"
    return None


def _trim(cells: list[Any]) -> list[Any]:
    end = len(cells)
    while end and (cells[end - 1] is None or (isinstance(cells[end - 1], str) and not cells[end - 1].strip())):
        end -= 1
    return [None if isinstance(c, str) and not c.strip() else c for c in cells[:end]]


def _open_error(label: str, kind: str, exc: BaseException) -> MalformedInputError:
    return MalformedInputError(
        "IML-CYT-007",
        f"the {kind} workbook cannot be opened ({type(exc).__name__})",
        path=label,
        hint="The file is damaged or was truncated while copying; export it again from the "
        "instrument software, or open and re-save it in Excel.",
    )


def _read_xls(path: Path, label: str) -> list[Sheet]:
    import io

    import xlrd

    try:  # xlrd writes its warnings to stdout unless given a log file
        book = xlrd.open_workbook(str(path), on_demand=False, formatting_info=False, logfile=io.StringIO())
    except Exception as exc:  # xlrd raises many unrelated types for damaged files
        raise _open_error(label, "xls", exc) from None
    sheets: list[Sheet] = []
    for sh in book.sheets():
        rows: list[list[Any]] = []
        for r in range(sh.nrows):
            values: list[Any] = []
            for c in sh.row(r):
                if c.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                    values.append(None)
                elif c.ctype == xlrd.XL_CELL_ERROR:
                    values.append("#ERROR")
                elif c.ctype == xlrd.XL_CELL_BOOLEAN:
                    values.append(bool(c.value))
                else:
                    values.append(c.value)
            rows.append(_trim(values))
        sheets.append(Sheet(sh.name, rows))
    return sheets


def _read_xlsx(path: Path, label: str) -> list[Sheet]:
    import warnings
    import zipfile

    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    except Exception as exc:  # zipfile / KeyError / XML errors for damaged files
        raise _open_error(label, "xlsx", exc) from None
    sheets: list[Sheet] = []
    try:
        for ws in book.worksheets:
            rows = [_trim(list(r)) for r in ws.iter_rows(values_only=True)]
            while rows and not rows[-1]:
                rows.pop()
            sheets.append(Sheet(ws.title, rows))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as exc:
        raise _open_error(label, "xlsx", exc) from None
    except Exception as exc:  # XML syntax errors surface as library-specific types
        raise _open_error(label, "xlsx", exc) from None
    finally:
        book.close()
    return sheets


def read_workbook(path: Path, label: str) -> tuple[str, list[Sheet]]:
    """Return (``xls`` | ``xlsx``, sheets) for the workbook at ``path`` or raise IML-CYT-007."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise _open_error(label, "Excel", exc) from None
    kind = workbook_kind(head)
    if kind == "xls":
        return kind, _read_xls(path, label)
    if kind == "xlsx":
        return kind, _read_xlsx(path, label)
    raise MalformedInputError(
        "IML-CYT-007",
        "the file is neither an .xls (OLE2) nor an .xlsx (zip) workbook",
        path=label,
        hint="Export the plate again from the instrument software as an Excel workbook.",
    )
