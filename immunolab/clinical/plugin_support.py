"""What the clinical plugins share: their tables, head sniffing and turning a read into a ParsedAssay.

Clinical files hold many patients each (their ids are in the file), so they need no manifest
row: ingest passes the subjects file's patient resolver and study-day rule in the
:class:`~immunolab.plugins.ParseContext` (``patient``, ``patient_day``), and a file naming a
patient the subjects file does not know is refused (``IML-CLIN-006``), never stored under a
made-up identity. Rows a reader could not turn into facts are reported as warnings with their
source row numbers and reasons (never dropped silently).
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from immunolab.clinical.context import ReadContext
from immunolab.clinical.parsed import ClinicalRead
from immunolab.clinical.units import lookup_test
from immunolab.plugins import ParseContext, ParsedAssay

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["CLINICAL_TABLES", "header_cells", "normalise_header", "parsed_from_read", "read_context"]

#: the fact tables every clinical plugin may produce (declared by the core: immunolab.schema)
CLINICAL_TABLES = ("clinical_results", "adverse_events", "outcomes", "demographics")
_MAX_SKIPPED_SHOWN = 5
#: warning code of results that are text, not numbers
TEXT_RESULT_CODE = "IML-CLIN-009"
#: warning code of results on study days outside every protocol visit window
OUTSIDE_WINDOW_CODE = "IML-CLIN-010"


def normalise_header(cell: str) -> str:
    """Return a header cell lower-cased without spaces, underscores, hyphens or a BOM."""
    return re.sub(r"[\s_\-]+", "", cell.replace("\ufeff", "")).strip().lower()


def header_cells(head: bytes) -> list[str]:
    """Return the first non-empty line of a delimited text head as cells ([] for binary or undecodable heads)."""
    if not head or b"\x00" in head[:4096] or head.startswith(b"PK\x03\x04"):
        return []
    text = None
    for enc in ("utf-8-sig", "cp1252"):
        try:
            text = codecs.decode(head[:16384], enc, errors="strict")
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        return []
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    delimiter = max((",", ";", "\t", "|"), key=line.count)
    try:
        return [c.strip() for c in next(csv.reader([line], delimiter=delimiter))]
    except (csv.Error, StopIteration):
        return []


def read_context(ctx: ParseContext) -> ReadContext:
    """Return the clinical readers' context of a plugin's parse context."""
    return ReadContext(label=ctx.label, study_day=ctx.patient_day, patients=ctx.patient)


def _skipped_warning(read: ClinicalRead) -> Iterable[str]:
    if not read.skipped:
        return []
    by_reason: dict[str, list[int]] = {}
    for s in read.skipped:
        by_reason.setdefault(s.reason, []).append(s.source_row)
    out = []
    for reason, rows in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(map(str, rows[:_MAX_SKIPPED_SHOWN])) + (" ..." if len(rows) > _MAX_SKIPPED_SHOWN else "")
        out.append(f"{len(rows)} data row(s) gave no fact ({reason}): row(s) {shown}")
    return out


def _text_result_warning(results: pa.Table | None) -> list[str]:
    """Return the ``IML-CLIN-009`` warning for results that are text, not numbers (counts, tests, rows; no values)."""
    if results is None or not {"value", "value_reported", "source_row", "test_code"} <= set(results.column_names):
        return []
    cols = results.select(["value", "value_reported", "source_row", "test_code"]).to_pydict()
    text = [(code, row) for value, reported, row, code in zip(cols["value"], cols["value_reported"],
                                                             cols["source_row"], cols["test_code"], strict=True)
            if reported is not None and (value is None or value != value)]
    if not text:
        return []
    # canonical test codes only: a code built from an unlisted test name (unknown tests kept) is file text
    shown = ", ".join(f"{code if lookup_test(str(code)) else 'test'} row {row}" if row is not None else
                      (str(code) if lookup_test(str(code)) else "a test") for code, row in text[:_MAX_SKIPPED_SHOWN])
    more = " ..." if len(text) > _MAX_SKIPPED_SHOWN else ""
    return [f"{TEXT_RESULT_CODE} {len(text)} result(s) are not numbers ({shown}{more}): the reported text is kept in "
            "clinical_results.value_reported, but they are left out of measurements and the analysis. Correct the "
            "values in the source file (e.g. a doubled decimal point) and re-ingest, or leave them if they are "
            "qualitative results."]


def outside_window_warning(n: int, what: str = "result(s)") -> str:
    """Return the ``IML-CLIN-010`` warning for ``n`` results outside every protocol visit window (counts only)."""
    from immunolab.derive.views import VISIT_WINDOW_RULE

    return (f"{OUTSIDE_WINDOW_CODE} {n} {what} on study days outside every protocol visit window ({VISIT_WINDOW_RULE}"
            "): they are kept in clinical_results but are no visit measurement, so measurements, "
            "compare and ADLB leave them out. Check their dates if they belong to a visit.")


def _outside_window_warning(results: pa.Table | None) -> list[str]:
    """Return the ``IML-CLIN-010`` warning for results whose study day no visit window holds (count; no days)."""
    from immunolab.derive.views import visit_of_day

    if results is None or "study_day" not in results.column_names:
        return []
    days = [d for d in results.column("study_day").to_pylist() if d is not None]
    n = sum(visit_of_day(int(d)) is None for d in days)
    return [outside_window_warning(n)] if n else []


def parsed_from_read(read: ClinicalRead, *, fmt: str, extra: dict[str, Any] | None = None) -> ParsedAssay:
    """Return the plugin output of a clinical read: its tables, counts as metadata, notes and skipped rows as warnings."""
    tables = {name: t for name, t in read.tables.items() if t.num_rows or name == "clinical_results"}
    meta: dict[str, Any] = {"format": fmt, **{f"n_{n}": t.num_rows for n, t in tables.items()},
                            "n_skipped_rows": len(read.skipped), **(extra or {})}
    patients = set()
    for t in tables.values():
        if "patient_id" in t.column_names:
            patients.update(t.column("patient_id").to_pylist())
    meta["n_patients"] = len(patients)
    return ParsedAssay(tables=tables, metadata=meta,
                       warnings=[*read.notes, *_skipped_warning(read), *_text_result_warning(tables.get("clinical_results")),
                                 *_outside_window_warning(tables.get("clinical_results"))])
