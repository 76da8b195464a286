"""Read one Bio-Plex Manager analyte sheet: preamble facts, data blocks (long or wide), printed curve.

An analyte sheet starts with ``Key: value`` lines (analyte, acquisition date, reader serial
number, plate ID ...), then one or more tables under a ``Type | Well | ...`` header, then the
legend and, in the long layouts, the printed curve (``Regression Type``, ``Std. Curve``,
``FitProb.``). Only allowlisted preamble facts are kept. Columns Bio-Plex derives from the
others (``Std Dev``, ``%CV``, ``(Obs/Exp) * 100``, ``Group``, ``Ratio``, ``Conc in Range``) are
recomputed by immunolab, not read; a column nobody knows is named in a warning. Numbers typed as
text follow the sheet's decimal mark (:func:`immunolab.io.tokens.guess_decimal`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from immunolab_assays.bioplex.curve import PrintedCurve, parse_fit_statistics, parse_std_curve

from immunolab.cytokine.readings import WellReading, sample_type_from_code
from immunolab.errors import MalformedInputError
from immunolab.io.tokens import (
    FLAG_OUTLIER,
    cell_number,
    cell_text,
    guess_decimal,
    parse_reported_conc,
    parse_signal,
)
from immunolab.io.workbook import Sheet

__all__ = ["SAMPLING_ERRORS", "SheetData", "is_template", "parse_sheet", "template_facts"]

#: Bio-Plex "Sampling Errors" codes (legend of the export) -> qc flag.
SAMPLING_ERRORS = {
    "1": "low_bead_count",
    "2": "aggregated_beads",
    "3": "classify_pct",
    "4": "region_selection",
    "5": "platform_temperature",
}

_COLUMNS = {
    "analyte": "analyte",
    "type": "type",
    "well": "well",
    "outlier": "outlier",
    "description": "description",
    "fi": "fi",
    "fi - bkgd": "fi_bkgd",
    "fi-bkgd": "fi_bkgd",
    "obs conc": "obs_conc",
    "exp conc": "exp_conc",
    "dilution": "dilution",
    "bead count": "bead_count",
    "sampling errors": "sampling_errors",
}
#: preamble keys kept (others, e.g. File Name, Signed By, Document ID, are never stored)
_PREAMBLE_KEYS = {
    "analyte": "analyte",
    "acquisition date": "acquisition_date",
    "reader serial number": "reader_serial",
    "plate id": "plate_id",
    "standard lot": "standard_lot",
    "rp1 pmt (volts)": "rp1_pmt_volts",
    "rp1 target": "rp1_target",
    "file name": "file_name",  # used only to tell plates apart (hashed), never stored
}
_TEMPLATE_FIELDS = {"SOFTWARE", "UNITS", "CATALOG", "KITMFR", "STDLOT", "BEADLOT", "CURVEFIT", "WEIGHTED"}
_WELL = re.compile(r"^[A-Pa-p](?:[1-9]|1\d|2[0-4])$")
_TYPE = re.compile(r"^[A-Za-z]{1,3}\d{0,4}$")
#: columns Bio-Plex derives from the others: recomputed by immunolab, never read
_DERIVED_COLUMNS = {"std dev", "%cv", "(obs/exp) * 100", "group", "ratio", "conc in range"}


def _norm(text: Any) -> str:
    return " ".join(str(text).split()).lower() if text is not None else ""


@dataclass
class SheetData:
    """What one analyte sheet states: preamble facts, readings, printed curves, layout, warnings."""

    name: str
    decimal: str | None = None
    preamble: dict[str, str] = field(default_factory=dict)
    readings: list[WellReading] = field(default_factory=list)
    curves: list[PrintedCurve] = field(default_factory=list)
    layout: str = ""
    block_layouts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _preamble(sheet: Sheet, stop: int) -> dict[str, str]:
    found: dict[str, str] = {}
    for r in range(stop):
        first = sheet.cell(r, 0)
        if not isinstance(first, str) or ":" not in first:
            continue
        key, _, value = first.partition(":")
        name = _PREAMBLE_KEYS.get(_norm(key))
        if name and name not in found:
            if name == "standard_lot":  # "Standard1 Expiration Date: <none>"
                value = value.split("Expiration Date")[0]
            found[name] = value.strip()
    return found


def _footer(sheet: Sheet, analyte: str) -> PrintedCurve | None:
    regression: str | None = None
    equation: str | None = None
    stats: tuple[float | None, float | None] = (None, None)
    for row in sheet.rows:
        first = row[0] if row else None
        if not isinstance(first, str):
            continue
        text = first.strip()
        low = text.lower()
        if low.startswith("regression type"):
            regression = text.split(":", 1)[1].strip() if ":" in text else None
        elif low.startswith("std. curve") or low.startswith("std curve"):
            equation = text
        elif low.startswith("fitprob"):
            stats = parse_fit_statistics(text)
    if regression is None and equation is None:
        return None
    params = parse_std_curve(equation) if equation else None
    if params is None:
        message = "printed curve is not a logistic equation" if equation else "no curve printed"
        return PrintedCurve(analyte, regression, None, None, None, None, None,
                            stats[0], stats[1], valid=False, message=message)
    a, b, c, d, f = params
    return PrintedCurve(analyte, regression, a, b, c, d, f, stats[0], stats[1])


def _header_row(row: Sequence[Any]) -> dict[str, int] | None:
    names = [_norm(c) for c in row]
    if "type" not in names or "well" not in names:
        return None
    cols: dict[str, int] = {}
    for i, n in enumerate(names):
        key = _COLUMNS.get(n)
        if key and key not in cols:
            cols[key] = i
    return cols


def _well_text(value: Any, *, label: str, where: str) -> str:
    text = cell_text(value) or ""
    wells = [w.strip().upper() for w in text.split(",")]
    if not wells or not all(_WELL.match(w) for w in wells):
        raise MalformedInputError(
            "IML-CYT-001", f"{where}: the Well cell is not a plate well (A1..P24)", path=label,
            hint="The sheet was probably edited by hand; re-export it from Bio-Plex Manager.",
        )
    return ",".join(wells)


def _type_code(value: Any, *, label: str, where: str) -> str:
    text = cell_text(value) or ""
    if not _TYPE.match(text):
        raise MalformedInputError(
            "IML-CYT-001", f"{where}: the Type cell is not a Bio-Plex sample code (B, S1, C1, X1 ...)",
            path=label,
            hint="The sheet was probably edited by hand; re-export it from Bio-Plex Manager.",
        )
    return text.upper()


def _sample_type(code: str, warnings: list[str]) -> str:
    kind = sample_type_from_code(code)
    if kind is None:
        msg = f"sample type code {code[:1]!r} is not a Bio-Plex Manager type; read as unknown samples"
        if msg not in warnings:
            warnings.append(msg)
        return "unknown"
    return kind


def _expected(value: float | None) -> float | None:
    """Return an expected concentration; Bio-Plex prints 0 when none was entered (-> None)."""
    return None if value is not None and value == 0 else value


def _sampling_flags(value: Any) -> list[str]:
    text = cell_text(value)
    if not text:
        return []
    codes = re.findall(r"\d", text)
    return [SAMPLING_ERRORS.get(c, f"sampling_error_{c}") for c in codes]


def _is_blank_row(row: Sequence[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in row)


def _long_block(
    sheet: Sheet, start: int, cols: dict[str, int], analyte: str, label: str, data: SheetData
) -> int:
    """Read data rows after a long header at ``start``; return the index after the block."""
    if "fi" not in cols:
        raise MalformedInputError(
            "IML-CYT-002", f"sheet {data.name!r}: the header row has no FI column", path=label,
            hint="Export the per-analyte report with the FI column from Bio-Plex Manager.",
        )
    r = start + 1
    first = len(data.readings)
    while r < len(sheet.rows):
        row = sheet.rows[r]
        if _is_blank_row(row) or _header_row(row) is not None:
            break
        where = f"sheet {data.name!r} row {r + 1}"
        if sheet.cell(r, cols["type"]) is None and sheet.cell(r, cols["well"]) is None:
            break
        code = _type_code(sheet.cell(r, cols["type"]), label=label, where=where)
        well = _well_text(sheet.cell(r, cols["well"]), label=label, where=where)

        def get(name: str, _r: int = r) -> Any:
            return sheet.cell(_r, cols[name]) if name in cols else None

        fi, fi_outlier = parse_signal(get("fi"), label=label, where=f"{where} FI", decimal=data.decimal)
        net, net_outlier = parse_signal(get("fi_bkgd"), label=label, where=f"{where} FI - Bkgd", decimal=data.decimal)
        flags: list[str] = []
        outlier_cell = cell_number(get("outlier"), label=label, where=f"{where} Outlier", decimal=data.decimal)
        if fi_outlier or net_outlier or (outlier_cell is not None and outlier_cell != 0):
            flags.append(FLAG_OUTLIER)
        flags += _sampling_flags(get("sampling_errors"))
        bead = cell_number(get("bead_count"), label=label, where=f"{where} Bead Count", decimal=data.decimal)
        reading = WellReading(
            well=well,
            type_code=code,
            sample_type=_sample_type(code, data.warnings),
            sample_name=cell_text(get("description")) or code,
            analyte_reported=cell_text(get("analyte")) or analyte,
            signal=fi,
            net_signal=net,
            bead_count=round(bead) if bead is not None else None,
            dilution=cell_number(get("dilution"), label=label, where=f"{where} Dilution", decimal=data.decimal),
            expected_conc=_expected(cell_number(get("exp_conc"), label=label, where=f"{where} Exp Conc", decimal=data.decimal)),
            reported=parse_reported_conc(get("obs_conc"), label=label, where=f"{where} Obs Conc", decimal=data.decimal),
            qc_flags=flags,
            replicate_group="," in well,
        )
        data.readings.append(reading)
        r += 1
    block = data.readings[first:]
    summary = "bead_count" not in cols and any(x.replicate_group for x in block)
    data.block_layouts.append("summary" if summary else "per_well")
    return r


def _wide_block(
    sheet: Sheet, start: int, label: str, data: SheetData, merged: dict[tuple[str, str], WellReading]
) -> int:
    """Read one wide block (analyte names above a Type/Well/Description/<datatype> header)."""
    header = [_norm(c) for c in sheet.rows[start]]
    names_row = sheet.rows[start - 1] if start > 0 else []
    t_col, w_col = header.index("type"), header.index("well")
    d_col = header.index("description") if "description" in header else None
    value_cols = [
        (i, _COLUMNS.get(h), cell_text(names_row[i]) if i < len(names_row) else None)
        for i, h in enumerate(header)
        if i not in (t_col, w_col, d_col) and h
    ]
    r = start + 1
    while r < len(sheet.rows):
        row = sheet.rows[r]
        if _is_blank_row(row) or _header_row(row) is not None:
            break
        where = f"sheet {data.name!r} row {r + 1}"
        code = _type_code(sheet.cell(r, t_col), label=label, where=where)
        well = _well_text(sheet.cell(r, w_col), label=label, where=where)
        description = cell_text(sheet.cell(r, d_col)) if d_col is not None else None
        for col, kind, analyte in value_cols:
            if kind is None or analyte is None:
                continue
            key = (well, analyte)
            reading = merged.get(key)
            if reading is None:
                reading = WellReading(
                    well=well, type_code=code, sample_type=_sample_type(code, data.warnings),
                    sample_name=description or code, analyte_reported=analyte, signal=None,
                    net_signal=None, replicate_group="," in well,
                )
                merged[key] = reading
                data.readings.append(reading)
            value = sheet.cell(r, col)
            cell_where = f"{where} {analyte} {kind}"
            if kind == "fi":
                reading.signal, outlier = parse_signal(value, label=label, where=cell_where, decimal=data.decimal)
                if outlier and FLAG_OUTLIER not in reading.qc_flags:
                    reading.qc_flags.append(FLAG_OUTLIER)
            elif kind == "fi_bkgd":
                reading.net_signal, _ = parse_signal(value, label=label, where=cell_where, decimal=data.decimal)
            elif kind == "bead_count":
                bead = cell_number(value, label=label, where=cell_where, decimal=data.decimal)
                reading.bead_count = round(bead) if bead is not None else None
            elif kind == "obs_conc":
                reading.reported = parse_reported_conc(value, label=label, where=cell_where, decimal=data.decimal)
            elif kind == "exp_conc":
                reading.expected_conc = _expected(cell_number(value, label=label, where=cell_where, decimal=data.decimal))
            elif kind == "dilution":
                reading.dilution = cell_number(value, label=label, where=cell_where, decimal=data.decimal)
        r += 1
    return r


def _is_wide(sheet: Sheet, header_index: int, cols: dict[str, int]) -> bool:
    if "analyte" in cols or header_index == 0:
        return False
    above = sheet.rows[header_index - 1]
    first_value_col = max(cols.get("type", 0), cols.get("well", 0), cols.get("description", 0)) + 1
    return any(c is not None for c in above[first_value_col:])


def _unknown_columns(sheet: Sheet, headers: list[tuple[int, dict[str, int]]]) -> list[str]:
    """Return the long-layout header names immunolab neither reads nor knows to be derived."""
    names: list[str] = []
    for index, cols in headers:
        if _is_wide(sheet, index, cols):
            continue
        for cell in sheet.rows[index]:
            name = _norm(cell)
            if name and name not in _COLUMNS and name not in _DERIVED_COLUMNS and name not in names:
                names.append(name)
    return names


def parse_sheet(sheet: Sheet, label: str) -> SheetData | None:
    """Return what an analyte sheet holds, or None when it has no ``Type | Well`` table."""
    headers = [(i, cols) for i, row in enumerate(sheet.rows) if (cols := _header_row(row)) is not None]
    if not headers:
        return None
    data = SheetData(sheet.name, decimal=guess_decimal(c for row in sheet.rows for c in row))
    data.preamble = _preamble(sheet, headers[0][0])
    for name in _unknown_columns(sheet, headers):
        data.warnings.append(f"column {name!r} is not a Bio-Plex Manager column immunolab knows; not read")
    analyte = data.preamble.get("analyte") or sheet.name.strip()
    merged: dict[tuple[str, str], WellReading] = {}
    for index, cols in headers:
        if _is_wide(sheet, index, cols):
            data.layout = "wide"
            _wide_block(sheet, index, label, data, merged)
        else:
            _long_block(sheet, index, cols, analyte, label, data)
    if data.layout != "wide":
        data.layout = "+".join(sorted(set(data.block_layouts)))
        curve = _footer(sheet, analyte)
        if curve is not None:
            data.curves.append(curve)
    return data


def is_template(sheet: Sheet) -> bool:
    """Return True for a LabKey/SCHARP ``Project Template`` sheet (``SCHARP Field Name`` | ``Value``)."""
    header = [_norm(c) for c in sheet.rows[0]] if sheet.rows else []
    return "scharp field name" in header and "value" in header


def template_facts(sheet: Sheet) -> dict[str, str]:
    """Return allowlisted fields of a LabKey/SCHARP ``Project Template`` sheet."""
    if not sheet.rows:
        return {}
    header = [_norm(c) for c in sheet.rows[0]]
    if "scharp field name" not in header or "value" not in header:
        return {}
    key_col, value_col = header.index("scharp field name"), header.index("value")
    facts: dict[str, str] = {}
    for r in range(1, len(sheet.rows)):
        key = cell_text(sheet.cell(r, key_col))
        value = cell_text(sheet.cell(r, value_col))
        if key in _TEMPLATE_FIELDS and value:
            facts[key] = value
    return facts


