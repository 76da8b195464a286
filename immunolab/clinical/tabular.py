"""Read a clinical CSV / XLSX export into text cells and find its columns by their accepted names.

Shared by the plain-layout and time-series readers (``immunolab_assays.clinical_table``) and the
SDTM CSV reader. Cells are read as text (``"007"`` stays ``"007"``; spreadsheets keep their
dates as datetimes), empty cells are None.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from immunolab.errors import InputError, MalformedInputError

__all__ = ["clean_cell", "column_key", "find_column", "read_frame", "require_column"]

_EXCEL = (".xlsx", ".xlsm", ".xls")


def column_key(name: Any) -> str:
    """Return a header's comparison key: lower case, spaces/underscores/hyphens removed."""
    return re.sub(r"[\s_\-]+", "", str(name).strip().lower())


def read_frame(path: str | Path, *, label: str | None = None, sheet: str | int = 0) -> pd.DataFrame:
    """Return the first sheet (or ``sheet``) of an XLSX, or a CSV, as a DataFrame of cells (None if empty).

    Raises ``IML-CLIN-001`` when the file cannot be opened or parsed, or holds no data row.
    """
    p = Path(path)
    shown = label or p.name
    try:
        if p.suffix.lower() in _EXCEL:
            df = pd.read_excel(p, sheet_name=sheet, dtype=object)
        else:
            df = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig", skip_blank_lines=True)
    except Exception as exc:  # any reader failure (zip, xml, codec, parser) is the same user error
        raise MalformedInputError(
            "IML-CLIN-001", f"the clinical file cannot be read ({type(exc).__name__}: {str(exc)[:120]})", path=shown,
            hint="Save it as UTF-8 CSV or XLSX with one header row (docs/clinical.md).",
        ) from None
    df = df.astype(object).map(clean_cell).dropna(how="all")
    if df.empty:
        raise MalformedInputError("IML-CLIN-001", "the clinical file holds no data row", path=shown,
                                  hint="Export the table with its rows, one header row first.")
    return df


def clean_cell(value: Any) -> Any:
    """Return None for an empty cell (NaN, NaT, None, blank text), else the value unchanged."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return None if bool(pd.isna(value)) else value
    except (TypeError, ValueError):
        return value


def find_column(df: pd.DataFrame, names: Sequence[str]) -> str | None:
    """Return the first header of ``df`` matching one of ``names`` (compared by :func:`column_key`)."""
    keys = {column_key(c): c for c in df.columns}
    for name in names:
        hit = keys.get(column_key(name))
        if hit is not None:
            return str(hit)
    return None


def require_column(df: pd.DataFrame, names: Sequence[str], *, label: str | None, layout: str) -> str:
    """Return the header matching ``names`` or raise ``IML-CLIN-002`` naming the column and the layout."""
    hit = find_column(df, names)
    if hit is None:
        raise InputError(
            "IML-CLIN-002", f"the {layout} lacks a {names[0]!r} column", path=label,
            hint=f"Accepted headers: {', '.join(names)} (docs/clinical.md). Headers present: "
                 + ", ".join(str(c) for c in list(df.columns)[:15]) + ".",
        )
    return hit
