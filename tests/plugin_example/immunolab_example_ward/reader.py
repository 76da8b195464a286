"""Read a ward observation CSV into ``ward_observations`` rows (pure: bytes in, a pyarrow table out).

The CSV, as the ward exports it::

    patient_id,date,heart_rate_bpm,temperature
    001,2026-03-02,92,38.4

Patient ids are resolved through the trial's subjects file and dates become study days
(``ctx.patient`` / ``ctx.patient_day``): no date and no id the trial does not know is stored.
Errors use immunolab's coded errors and name the row, never a value read from the file.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from immunolab.errors import IdentityError, MalformedInputError
from immunolab.io import decode_bytes, parse_number, read_rows
from immunolab.plugins import ParseContext
from immunolab_example_ward.table import WARD_FIELDS

COLUMNS = ("patient_id", "date", "heart_rate_bpm", "temperature")


def header_columns(cells: list[str]) -> dict[str, int] | None:
    """Return column name -> index when ``cells`` hold every ward column, else None."""
    names = [c.strip().lower() for c in cells]
    return {c: names.index(c) for c in COLUMNS} if all(c in names for c in COLUMNS) else None


def _celsius(value: float | None, unit: str) -> float | None:
    """Return a temperature in degC from ``unit`` (``C`` or ``F``)."""
    if value is None or unit == "C":
        return value
    return round((value - 32.0) * 5.0 / 9.0, 2)


def _day(cell: str, patient: str, row: int, ctx: ParseContext) -> int:
    """Return the study day of an ISO date cell for ``patient`` (IML-CLIN-005 / IML-CLIN-006)."""
    try:
        day = ctx.patient_day(patient, dt.date.fromisoformat(cell.strip()))
    except ValueError:
        raise MalformedInputError("IML-CLIN-005", f"row {row}: the date is not ISO 8601 (YYYY-MM-DD)",
                                  path=ctx.label, hint="Export dates as YYYY-MM-DD.") from None
    if day is None:
        raise IdentityError("IML-CLIN-006", f"row {row}: the patient has no Day 0 date in the subjects file",
                            path=ctx.label, hint="Add day0_date to the subjects file.")
    return day


def read_ward_csv(data: bytes, ctx: ParseContext, *, temperature_unit: str = "C") -> pa.Table:
    """Return the ``ward_observations`` rows of one CSV (heart rate in bpm, temperature in degC)."""
    rows = read_rows(decode_bytes(data)).rows
    col = header_columns(rows[0]) if rows else None
    if col is None:
        raise MalformedInputError("IML-CLIN-002", f"the header row lacks one of {', '.join(COLUMNS)}",
                                  path=ctx.label, hint="Export the ward observation view with its standard columns.")
    out: list[dict[str, object]] = []
    for row, cells in enumerate(rows[1:], start=1):
        if not cells:
            continue
        cells = cells + [""] * (len(COLUMNS) - len(cells))
        patient = ctx.patient(cells[col["patient_id"]])
        if patient is None:
            raise IdentityError("IML-CLIN-006", f"row {row}: the patient is not in the subjects file",
                                path=ctx.label, hint="Add the patient to the subjects file or fix the id.")
        day = _day(cells[col["date"]], patient, row, ctx)
        try:
            hr = parse_number(cells[col["heart_rate_bpm"]])
            temp = _celsius(parse_number(cells[col["temperature"]]), temperature_unit)
        except ValueError:
            raise MalformedInputError("IML-CLIN-007", f"row {row}: a vital sign is not a number", path=ctx.label,
                                      hint="Leave a missing value empty.") from None
        for vital, value, unit in (("heart_rate", hr, "bpm"), ("temperature", temp, "degC")):
            if value is not None:
                out.append({"patient_id": patient, "study_day": day, "vital": vital, "value": value,
                            "unit": unit, "source_row": row})
    return pa.Table.from_pylist(out, schema=pa.schema(WARD_FIELDS))
