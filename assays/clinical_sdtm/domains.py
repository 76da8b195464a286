"""Turn SDTM records into immunolab clinical facts, one function per domain.

Days: the record's ``--DTC`` date through the context's study-day rule when the context has
one (Day 0 = first infusion); otherwise the SDTM study day ``--DY`` converted to immunolab's
convention (SDTM has no day 0: ``--DY`` 1 is the reference start, so day = ``--DY - 1`` for
positive ``--DY`` and ``--DY`` before it). A partial ``--DTC``, or a patient without a Day 0
(a screen failure), falls back to ``--DY``; with neither the day is null (results: the record
is listed as skipped; AE and DS: the row is kept with a null day).

Results (LB, VS, QS): standardised result ``--STRESC`` / ``--STRESU`` / ``--STNRLO`` /
``--STNRHI`` when filled, else the original ``--ORRES`` / ``--ORRESU`` / ``--ORNRLO`` / ``--ORNRHI``;
``--NRIND`` gives the flag when there is no range; ``--STAT = NOT DONE`` rows are skipped.
Tests outside immunolab's table are kept under their ``--TESTCD`` (SDTM codes are controlled).
AE: grade from ``AETOXGR`` (CTCAE) else ``AESEV``; ``AEREL`` Y / RELATED / POSSIBLE / PROBABLE
/ DEFINITE -> related, N / NOT RELATED / NONE / UNLIKELY / REMOTE -> not related.
DS: ``DSDECOD`` death / completed / lost to follow-up / discharge map to events; any other
``DISPOSITION EVENT`` is a withdrawal (its ``DSDECOD`` kept in ``reported``); milestones and
other events and screen failures are skipped. DM: demographics, and a death at ``DTHDTC`` when ``DTHFL = Y``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from immunolab_assays.clinical_sdtm.files import require, subject_id

from immunolab.clinical.context import ReadContext
from immunolab.clinical.days import parse_date
from immunolab.clinical.parsed import SkippedRow
from immunolab.clinical.vocab import (
    bad_value,
    parse_ae_outcome,
    parse_event,
    parse_grade,
    parse_int_day,
    parse_yes_no,
)
from immunolab.errors import InputError

__all__ = ["adverse_events", "demographics", "disposition", "results"]

_RELATED = {"y", "yes", "related", "possible", "possibly related", "probable", "probably related", "definite",
            "definitely related", "likely"}
_UNRELATED = {"n", "no", "not related", "none", "unlikely", "unlikely related", "remote", "unrelated"}


def _day(ctx: ReadContext, pid: str, rec: Mapping[Any, Any], dtc: str, dy: str, row: int) -> int | None:
    text = rec.get(dtc)
    if ctx.study_day is not None and text is not None:
        try:
            date = parse_date(text, label=ctx.label, what=f"{dtc} in record {row}")
        except InputError:
            if rec.get(dy) is None:
                raise
            date = None
        day0_day = ctx.study_day(pid, date) if date is not None else None
        if day0_day is not None:
            return int(day0_day)
    sdtm_day = parse_int_day(rec.get(dy), column=dy, row=row, label=ctx.label)
    if sdtm_day is None:
        return None
    return sdtm_day - 1 if sdtm_day > 0 else sdtm_day


def results(df: pd.DataFrame, domain: str, ctx: ReadContext, usubjid_map: Mapping[str, str] | None
            ) -> tuple[list[dict[str, Any]], list[SkippedRow]]:
    """Return raw result rows (for :func:`normalise_results`) and skipped records of LB, VS or QS."""
    d = domain
    require(df, ("USUBJID", f"{d}TESTCD", f"{d}TEST"), label=ctx.label, domain=d)
    rows, skipped = [], []
    for i, rec in enumerate(df.to_dict("records")):
        row = i + 1
        pid = ctx.patient(subject_id(rec, usubjid_map), row=row)
        if str(rec.get(f"{d}STAT") or "").upper() == "NOT DONE":
            skipped.append(SkippedRow(row, pid, "not done"))
            continue
        standard = rec.get(f"{d}STRESC") is not None
        pre = f"{d}ST" if standard else f"{d}OR"
        value = rec.get(f"{d}STRESC") if standard else rec.get(f"{d}ORRES")
        if value is None:
            skipped.append(SkippedRow(row, pid, "no result"))
            continue
        day = _day(ctx, pid, rec, f"{d}DTC", f"{d}DY", row)
        if day is None:
            skipped.append(SkippedRow(row, pid, f"no {d}DTC date or {d}DY study day"))
            continue
        rows.append({
            "patient_id": pid, "study_day": day, "test_reported": str(rec[f"{d}TEST"] or rec[f"{d}TESTCD"]),
            "test_code_hint": rec[f"{d}TESTCD"], "value_reported": value,
            "unit_reported": rec.get(f"{d}STRESU" if standard else f"{d}ORRESU"),
            "ref_low_reported": rec.get(f"{pre}NRLO"), "ref_high_reported": rec.get(f"{pre}NRHI"),
            "flag_reported": rec.get(f"{d}NRIND"), "source_domain": d, "source_row": row,
        })
    return rows, skipped


def _related(value: Any, row: int, label: str | None) -> bool | None:
    if value is None:
        return None
    key = str(value).strip().lower()
    if key in _RELATED:
        return True
    if key in _UNRELATED:
        return False
    raise bad_value("AEREL", value, row, label, "Y/N, RELATED/NOT RELATED, POSSIBLE, PROBABLE, DEFINITE, "
                    "UNLIKELY, REMOTE, NONE")


def adverse_events(df: pd.DataFrame, ctx: ReadContext, usubjid_map: Mapping[str, str] | None) -> list[dict[str, Any]]:
    """Return ``adverse_events`` rows of an AE dataset."""
    require(df, ("USUBJID", "AETERM"), label=ctx.label, domain="AE")
    rows = []
    for i, rec in enumerate(df.to_dict("records")):
        row = i + 1
        pid = ctx.patient(subject_id(rec, usubjid_map), row=row)
        grade_cell = rec.get("AETOXGR") if rec.get("AETOXGR") is not None else rec.get("AESEV")
        grade, source = parse_grade(grade_cell, column="AETOXGR/AESEV", row=row, label=ctx.label)
        rows.append({
            "patient_id": pid, "term": str(rec["AETERM"]), "decod": rec.get("AEDECOD"),
            "body_system": rec.get("AEBODSYS"),
            "start_day": _day(ctx, pid, rec, "AESTDTC", "AESTDY", row),
            "end_day": _day(ctx, pid, rec, "AEENDTC", "AEENDY", row),
            "grade": grade, "grade_source": source,
            "serious": parse_yes_no(rec.get("AESER"), column="AESER", row=row, label=ctx.label),
            "related": _related(rec.get("AEREL"), row, ctx.label),
            "outcome": parse_ae_outcome(rec.get("AEOUT"), column="AEOUT", row=row, label=ctx.label),
            "source_row": row,
        })
    return rows


def disposition(df: pd.DataFrame, ctx: ReadContext, usubjid_map: Mapping[str, str] | None
                ) -> tuple[list[dict[str, Any]], list[SkippedRow]]:
    """Return ``outcomes`` rows and skipped records of a DS dataset."""
    require(df, ("USUBJID", "DSDECOD"), label=ctx.label, domain="DS")
    rows, skipped = [], []
    for i, rec in enumerate(df.to_dict("records")):
        row = i + 1
        decod = str(rec.get("DSDECOD") or "").strip()
        if decod.upper() == "SCREEN FAILURE":  # before the id check: screen failures are not trial subjects
            skipped.append(SkippedRow(row, None, "screen failure: never randomised, no outcome"))
            continue
        pid = ctx.patient(subject_id(rec, usubjid_map), row=row)
        try:
            event = parse_event(decod, column="DSDECOD", row=row, label=ctx.label)
        except InputError:
            if str(rec.get("DSCAT") or "").upper() != "DISPOSITION EVENT":
                skipped.append(SkippedRow(row, pid, f"{rec.get('DSCAT') or 'no DSCAT'}: not a patient outcome"))
                continue
            event = "withdrawal"
        rows.append({"patient_id": pid, "event": event, "study_day": _day(ctx, pid, rec, "DSSTDTC", "DSSTDY", row),
                     "source": "SDTM DS", "reported": decod.upper(), "source_row": row})
    return rows, skipped


def demographics(df: pd.DataFrame, ctx: ReadContext) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return ``demographics`` rows and death ``outcomes`` rows of a DM dataset."""
    require(df, ("USUBJID", "SUBJID"), label=ctx.label, domain="DM")
    demo, deaths = [], []
    for i, rec in enumerate(df.to_dict("records")):
        row = i + 1
        pid = ctx.patient(subject_id(rec, None), row=row)
        unit = str(rec.get("AGEU") or "YEARS").upper()
        if unit not in ("YEARS", "YEAR", "Y"):
            raise bad_value("AGEU", unit, row, ctx.label, "YEARS (adult trial)")
        age = parse_int_day(rec.get("AGE"), column="AGE", row=row, label=ctx.label)
        demo.append({"patient_id": pid, "site": rec.get("SITEID"), "arm": rec.get("ARM"), "age": age,
                     "sex": rec.get("SEX"), "race": rec.get("RACE"), "source": "SDTM DM"})
        if str(rec.get("DTHFL") or "").upper() == "Y":
            day = _day(ctx, pid, rec, "DTHDTC", "DTHDY", row)
            deaths.append({"patient_id": pid, "event": "death", "study_day": day, "source": "SDTM DM",
                           "reported": "DTHFL=Y", "source_row": row})
    return demo, deaths
