"""Write CSV files that a spreadsheet opens as data, never as formulas (CSV / formula injection).

Text in the tables immunolab writes comes partly from input files: an analyte, population or
panel name typed by someone else. Excel, LibreOffice and Google Sheets run a cell that starts
with ``=``, ``+``, ``-`` or ``@`` as a formula (``=HYPERLINK(...)``, DDE ``=cmd|...``), and a
leading tab or carriage return can hide such a start. Following the OWASP rule, every text
cell starting with one of those characters (or their full-width forms, which some spreadsheet
locales also accept) is written with a leading apostrophe, so the spreadsheet shows it as text.

Numbers stay numbers: numeric columns are never touched, and text that is a plain decimal
number (``-1.5``, ``+3e-2``) is left as it is. Column names are neutralised like cells (a pivot
by analyte makes names into headers). Parquet and JSON outputs keep the raw values; only CSV,
which is meant for spreadsheets, is neutralised.

Every CSV the package writes goes through :func:`write_csv` (a test pins this).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMULA_STARTS", "neutralise_cell", "neutralise_row", "write_csv"]

#: first characters that make a spreadsheet read a cell as a formula (OWASP), plus full-width forms
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def neutralise_cell(value: object) -> object:
    """Return ``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula.

    Non-text values and text that is a plain number are returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.match(value.strip()):
        return "'" + value
    return value


def neutralise_row(row: Iterable[object]) -> list[object]:
    """Return the cells of one CSV row neutralised (for ``csv.writer`` users)."""
    return [neutralise_cell(v) for v in row]


def _neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with its text cells and column names neutralised."""
    import pandas as pd

    out = df.copy()
    for col in out.columns:
        series = out[col]
        if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
            continue
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        out[col] = series.map(neutralise_cell)
    out.columns = [neutralise_cell(c) if isinstance(c, str) else c for c in out.columns]
    if not isinstance(out.index, pd.RangeIndex):
        out.index = out.index.map(neutralise_cell)
    return out


def write_csv(df: pd.DataFrame, path: str | Path, **to_csv: Any) -> Path:
    """Write ``df`` to ``path`` as CSV with formula-like text cells neutralised; return the path.

    Keyword arguments go to :meth:`pandas.DataFrame.to_csv` (``index`` defaults to False).
    """
    to_csv.setdefault("index", False)
    out = Path(path)
    _neutralise_frame(df).to_csv(out, **to_csv)
    return out
