"""Read the plain clinical layouts: hospital lab results, adverse events and patient events.

One header row, one record per row, CSV (UTF-8) or XLSX; headers are matched ignoring case,
spaces, underscores and hyphens, and the first accepted spelling below is the documented one
(docs/clinical.md). Days: a ``study_day`` column (Day 0 = first infusion), or a ``date``
column (ISO 8601 or a spreadsheet date) turned into a study day by the context's ``study_day``
callable; a row with both uses the study day.

- lab results: patient_id, study_day | date, test, value, unit, [ref_low, ref_high, flag]
- adverse events: patient_id, term, start_day | start_date, [end_day | end_date, grade,
  serious, related, outcome, decod, body_system]
- events: patient_id, event, study_day | date

Any other column (comments, names, hospital numbers) is never read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from immunolab.clinical.context import ReadContext
from immunolab.clinical.parsed import ClinicalRead, SkippedRow
from immunolab.clinical.results import UnknownTests, normalise_results
from immunolab.clinical.schema import clinical_table
from immunolab.clinical.tabular import find_column, read_frame, require_column
from immunolab.clinical.vocab import (
    bad_value,
    parse_ae_outcome,
    parse_event,
    parse_grade,
    parse_yes_no,
)
from immunolab.errors import InputError

__all__ = [
    "COLUMNS",
    "detect_layout",
    "read_clinical_table",
    "read_plain_adverse_events",
    "read_plain_events",
    "read_plain_results",
]

#: accepted headers of each column (first = documented name)
COLUMNS: dict[str, tuple[str, ...]] = {
    "patient_id": ("patient_id", "patient", "subject_id", "subjid", "subject"),
    "study_day": ("study_day", "day", "studyday"),
    "date": ("date", "collection_date", "result_date", "sample_date"),
    "test": ("test", "test_name", "analyte", "parameter", "lbtest"),
    "value": ("value", "result"),
    "unit": ("unit", "units"),
    "ref_low": ("ref_low", "reference_low", "ref_range_low", "lower_limit", "low"),
    "ref_high": ("ref_high", "reference_high", "ref_range_high", "upper_limit", "high"),
    "flag": ("flag", "abnormal_flag"),
    "term": ("term", "ae_term", "aeterm", "adverse_event"),
    "decod": ("decod", "preferred_term", "aedecod"),
    "body_system": ("body_system", "soc", "system_organ_class", "aebodsys"),
    "start_day": ("start_day", "onset_day"),
    "start_date": ("start_date", "onset_date"),
    "end_day": ("end_day", "resolution_day"),
    "end_date": ("end_date", "resolution_date"),
    "grade": ("grade", "ctcae_grade", "severity", "aetoxgr"),
    "serious": ("serious", "sae", "aeser"),
    "related": ("related", "relatedness", "aerel"),
    "outcome": ("outcome", "ae_outcome", "aeout"),
    "event": ("event", "outcome_event"),
}


def _cell(df: pd.DataFrame, column: str | None, i: int) -> Any:
    return None if column is None else df[column].iloc[i]


def _days_columns(df: pd.DataFrame, day: str, date: str, label: str | None, layout: str) -> tuple[str | None, str | None]:
    day_col, date_col = find_column(df, COLUMNS[day]), find_column(df, COLUMNS[date])
    if day_col is None and date_col is None:
        raise InputError("IML-CLIN-002", f"the {layout} has neither a {day!r} nor a {date!r} column", path=label,
                         hint=f"Add {day} (Day 0 = first infusion) or {date} (YYYY-MM-DD).")
    return day_col, date_col


def read_plain_results(path: str | Path, ctx: ReadContext | None = None, *,
                       unknown_tests: UnknownTests = "error") -> ClinicalRead:
    """Return ``clinical_results`` of a plain lab-results table (see the module doc)."""
    ctx = ctx or ReadContext(label=Path(path).name)
    df = read_frame(path, label=ctx.label)
    layout = "lab results table"
    cols = {k: require_column(df, COLUMNS[k], label=ctx.label, layout=layout) for k in ("patient_id", "test", "value")}
    unit = require_column(df, COLUMNS["unit"], label=ctx.label, layout=layout)
    day_col, date_col = _days_columns(df, "study_day", "date", ctx.label, layout)
    low, high, flag = (find_column(df, COLUMNS[k]) for k in ("ref_low", "ref_high", "flag"))
    rows, skipped = [], []
    for i in range(len(df)):
        row = i + 1
        pid = ctx.patient(df[cols["patient_id"]].iloc[i], row=row)
        test, value = df[cols["test"]].iloc[i], df[cols["value"]].iloc[i]
        if test is None or value is None:
            skipped.append(SkippedRow(row, pid, "no test name" if test is None else "empty result"))
            continue
        day = ctx.day(pid, _cell(df, day_col, i), _cell(df, date_col, i), row=row, what="result")
        if day is None:
            raise bad_value("study_day/date", "", row, ctx.label, "a study day or a date for every result")
        rows.append({
            "patient_id": pid, "study_day": day, "test_reported": str(test).strip(), "test_code_hint": None,
            "value_reported": value, "unit_reported": df[unit].iloc[i],
            "ref_low_reported": _cell(df, low, i), "ref_high_reported": _cell(df, high, i),
            "flag_reported": _cell(df, flag, i), "source_domain": "hospital_table", "source_row": row,
        })
    table = normalise_results(pd.DataFrame(rows), label=ctx.label, unknown_tests=unknown_tests) if rows else \
        clinical_table("clinical_results", [])
    return ClinicalRead({"clinical_results": table}, skipped)


def read_plain_adverse_events(path: str | Path, ctx: ReadContext | None = None) -> ClinicalRead:
    """Return ``adverse_events`` of a plain AE table (CRF export; see the module doc)."""
    ctx = ctx or ReadContext(label=Path(path).name)
    df = read_frame(path, label=ctx.label)
    layout = "adverse events table"
    pid_col = require_column(df, COLUMNS["patient_id"], label=ctx.label, layout=layout)
    term_col = require_column(df, COLUMNS["term"], label=ctx.label, layout=layout)
    start_day, start_date = _days_columns(df, "start_day", "start_date", ctx.label, layout)
    end_day, end_date = find_column(df, COLUMNS["end_day"]), find_column(df, COLUMNS["end_date"])
    opt = {k: find_column(df, COLUMNS[k]) for k in ("grade", "serious", "related", "outcome", "decod", "body_system")}
    rows, skipped = [], []
    for i in range(len(df)):
        row = i + 1
        pid = ctx.patient(df[pid_col].iloc[i], row=row)
        term = df[term_col].iloc[i]
        if term is None:
            skipped.append(SkippedRow(row, pid, "no AE term"))
            continue
        grade, source = parse_grade(_cell(df, opt["grade"], i), column="grade", row=row, label=ctx.label)
        rows.append({
            "patient_id": pid, "term": str(term).strip(),
            "decod": _cell(df, opt["decod"], i), "body_system": _cell(df, opt["body_system"], i),
            "start_day": ctx.day(pid, _cell(df, start_day, i), _cell(df, start_date, i), row=row, what="AE start"),
            "end_day": ctx.day(pid, _cell(df, end_day, i), _cell(df, end_date, i), row=row, what="AE end"),
            "grade": grade, "grade_source": source,
            "serious": parse_yes_no(_cell(df, opt["serious"], i), column="serious", row=row, label=ctx.label),
            "related": parse_yes_no(_cell(df, opt["related"], i), column="related", row=row, label=ctx.label),
            "outcome": parse_ae_outcome(_cell(df, opt["outcome"], i), column="outcome", row=row, label=ctx.label),
            "source_row": row,
        })
    return ClinicalRead({"adverse_events": clinical_table("adverse_events", rows)}, skipped)


def read_plain_events(path: str | Path, ctx: ReadContext | None = None) -> ClinicalRead:
    """Return ``outcomes`` of a plain patient-events table (death, discharge, improvement, withdrawal...)."""
    ctx = ctx or ReadContext(label=Path(path).name)
    df = read_frame(path, label=ctx.label)
    layout = "events table"
    pid_col = require_column(df, COLUMNS["patient_id"], label=ctx.label, layout=layout)
    event_col = require_column(df, COLUMNS["event"], label=ctx.label, layout=layout)
    day_col, date_col = _days_columns(df, "study_day", "date", ctx.label, layout)
    rows = []
    for i in range(len(df)):
        row = i + 1
        pid = ctx.patient(df[pid_col].iloc[i], row=row)
        event = parse_event(df[event_col].iloc[i], column="event", row=row, label=ctx.label)
        day = ctx.day(pid, _cell(df, day_col, i), _cell(df, date_col, i), row=row, what="event")
        rows.append({"patient_id": pid, "event": event, "study_day": day, "source": "events_table",
                     "reported": event, "source_row": row})
    return ClinicalRead({"outcomes": clinical_table("outcomes", rows)})


def detect_layout(path: str | Path, *, label: str | None = None) -> str:
    """Return ``results``, ``adverse_events`` or ``events`` from a plain table's headers (``IML-CLIN-002`` if none)."""
    df = read_frame(path, label=label)
    if find_column(df, COLUMNS["test"]) and find_column(df, COLUMNS["value"]):
        return "results"
    if find_column(df, COLUMNS["term"]):
        return "adverse_events"
    if find_column(df, COLUMNS["event"]):
        return "events"
    raise InputError(
        "IML-CLIN-002", "the table is none of the plain clinical layouts (no test+value, term or event column)",
        path=label or Path(path).name,
        hint="Name the columns as in docs/clinical.md: lab results (patient_id, study_day|date, test, value, unit), "
             "adverse events (patient_id, term, start_day|start_date, ...) or events (patient_id, event, study_day|date).",
    )


def read_clinical_table(path: str | Path, ctx: ReadContext | None = None, *,
                        unknown_tests: UnknownTests = "error") -> ClinicalRead:
    """Return the facts of any plain clinical table, choosing the layout from its headers."""
    ctx = ctx or ReadContext(label=Path(path).name)
    layout = detect_layout(path, label=ctx.label)
    if layout == "results":
        return read_plain_results(path, ctx, unknown_tests=unknown_tests)
    if layout == "adverse_events":
        return read_plain_adverse_events(path, ctx)
    return read_plain_events(path, ctx)
