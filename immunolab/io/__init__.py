"""Neutral readers that instrument plugins build on: delimited text, workbooks, dates, tokens, heads.

Nothing here knows a science; every helper is stdlib-light so that ``detect`` stays instant
(``xlrd`` / ``openpyxl`` are imported only inside :func:`read_workbook`).

- :mod:`~immunolab.io.delimited`: decode bytes (BOM, UTF-16, Latin-1), sniff ``,`` / ``;`` / tab,
  read rows, parse numbers with either decimal convention and thousands separators.
- :mod:`~immunolab.io.dates`: instrument date styles (``mdy`` / ``dmy``, 2-digit years, ISO).
- :mod:`~immunolab.io.tokens`: concentration / signal cells with their instrument tokens
  (``OOR <``, ``*12.3``, ``***``, ``---``).
- :mod:`~immunolab.io.workbook`: ``.xls`` / ``.xlsx`` workbooks as lists of rows.
- :mod:`~immunolab.io.csv_safe`: the one CSV writer of the package (spreadsheet formulas neutralised).
- :mod:`~immunolab.io.sniff_luminex`, :mod:`~immunolab.io.sniff_spreadsheet`: head classifiers
  shared by several plugins so that exactly one plugin claims a file.
"""

from __future__ import annotations

from immunolab.io.dates import DateOrder, parse_instrument_date, pick_date_order
from immunolab.io.delimited import (
    MISSING_TOKENS,
    DelimitedText,
    decode_bytes,
    is_missing,
    parse_number,
    read_rows,
    sniff_delimiter,
)
from immunolab.io.sniff_luminex import head_text, luminex_format
from immunolab.io.sniff_spreadsheet import classify_head, read_export_head
from immunolab.io.tokens import ReportedConc, cell_number, cell_text, parse_signal
from immunolab.io.workbook import Sheet, read_workbook, workbook_kind

__all__ = [
    "MISSING_TOKENS",
    "DateOrder",
    "DelimitedText",
    "ReportedConc",
    "Sheet",
    "cell_number",
    "cell_text",
    "classify_head",
    "decode_bytes",
    "head_text",
    "is_missing",
    "luminex_format",
    "parse_instrument_date",
    "parse_number",
    "parse_signal",
    "pick_date_order",
    "read_export_head",
    "read_rows",
    "read_workbook",
    "sniff_delimiter",
    "workbook_kind",
]
