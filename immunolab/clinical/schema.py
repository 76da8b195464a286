"""Pyarrow schemas of the clinical fact tables, and the builder every clinical reader uses.

Tables (one row per ...):

``clinical_results``
    one lab result, vital sign or score of one patient on one study day: canonical
    ``test_code`` and ``value`` in the canonical ``unit`` (see :mod:`immunolab.clinical.units`)
    beside the result and unit exactly as reported; reference range in the canonical unit and
    the range ``flag`` (``L`` / ``N`` / ``H``, null without a range); ``censor`` is ``none``,
    ``below_lloq`` (``<x`` reported: value = x) or ``above_uloq`` (``>x``: value = x).
``adverse_events``
    one adverse event: verbatim ``term``, coded ``decod`` / ``body_system`` when given,
    ``start_day`` / ``end_day``, CTCAE ``grade`` 1-5 and where it came from, ``serious``,
    ``related`` (null = not assessed) and ``outcome``.
``outcomes``
    one patient-level event (:data:`OUTCOME_EVENTS`) on a study day.
``demographics``
    one patient: site, arm, age (years), sex, race, as the clinical source states them (the
    subjects file stays the trial's identity of record; these are for cross-checks).

Every day is a study day (int, Day 0 = first infusion or the reader's stated day 0); no date,
name or free-text comment reaches these tables. ``source_row`` is the 1-based data row of the
source file (header excluded) so a value can be traced back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

__all__ = [
    "ADVERSE_EVENTS",
    "AE_OUTCOMES",
    "CENSOR_CODES",
    "CLINICAL_RESULTS",
    "CLINICAL_SCHEMAS",
    "DEMOGRAPHICS",
    "OUTCOMES",
    "OUTCOME_EVENTS",
    "RANGE_FLAGS",
    "clinical_table",
]

#: patient-level events of the ``outcomes`` table
OUTCOME_EVENTS = (
    "death", "discharge", "clinical_improvement", "withdrawal", "lost_to_follow_up", "completed",
)
#: values of ``clinical_results.censor``
CENSOR_CODES = ("none", "below_lloq", "above_uloq")
#: values of ``clinical_results.flag`` (null when the result has no reference range)
RANGE_FLAGS = ("L", "N", "H")
#: values of ``adverse_events.outcome`` (CDISC AEOUT, lower-case with underscores)
AE_OUTCOMES = (
    "recovered", "recovering", "not_recovered", "recovered_with_sequelae", "fatal", "unknown",
)

CLINICAL_RESULTS = pa.schema([
    pa.field("patient_id", pa.string(), nullable=False),
    pa.field("study_day", pa.int32()),
    pa.field("test_code", pa.string(), nullable=False),
    pa.field("test_name", pa.string()),
    pa.field("category", pa.string()),
    pa.field("test_reported", pa.string(), nullable=False),
    pa.field("value", pa.float64()),
    pa.field("unit", pa.string()),
    pa.field("value_reported", pa.string()),
    pa.field("unit_reported", pa.string()),
    pa.field("ref_low", pa.float64()),
    pa.field("ref_high", pa.float64()),
    pa.field("flag", pa.string()),
    pa.field("censor", pa.string(), nullable=False),
    pa.field("source_domain", pa.string(), nullable=False),
    pa.field("source_row", pa.int32()),
    pa.field("note", pa.string()),
])

ADVERSE_EVENTS = pa.schema([
    pa.field("patient_id", pa.string(), nullable=False),
    pa.field("term", pa.string(), nullable=False),
    pa.field("decod", pa.string()),
    pa.field("body_system", pa.string()),
    pa.field("start_day", pa.int32()),
    pa.field("end_day", pa.int32()),
    pa.field("grade", pa.int8()),
    pa.field("grade_source", pa.string()),
    pa.field("serious", pa.bool_()),
    pa.field("related", pa.bool_()),
    pa.field("outcome", pa.string()),
    pa.field("source_row", pa.int32()),
])

OUTCOMES = pa.schema([
    pa.field("patient_id", pa.string(), nullable=False),
    pa.field("event", pa.string(), nullable=False),
    pa.field("study_day", pa.int32()),
    pa.field("source", pa.string(), nullable=False),
    pa.field("reported", pa.string()),
    pa.field("source_row", pa.int32()),
])

DEMOGRAPHICS = pa.schema([
    pa.field("patient_id", pa.string(), nullable=False),
    pa.field("site", pa.string()),
    pa.field("arm", pa.string()),
    pa.field("age", pa.int32()),
    pa.field("sex", pa.string()),
    pa.field("race", pa.string()),
    pa.field("source", pa.string(), nullable=False),
])

#: every clinical table by name
CLINICAL_SCHEMAS: dict[str, pa.Schema] = {
    "clinical_results": CLINICAL_RESULTS,
    "adverse_events": ADVERSE_EVENTS,
    "outcomes": OUTCOMES,
    "demographics": DEMOGRAPHICS,
}


def clinical_table(name: str, rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pa.Table:
    """Return ``rows`` as a pyarrow table of the clinical schema ``name`` (columns in order).

    Missing nullable columns are filled with nulls; extra columns are an error (a reader must
    not leak a column the schema does not declare). Raises ``ValueError`` (a reader bug, not a
    user error) when a non-nullable column holds nulls.
    """
    schema = CLINICAL_SCHEMAS[name]
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    extra = sorted(set(df.columns) - set(schema.names))
    if extra:
        raise ValueError(f"{name}: columns not in the schema: {', '.join(extra)}")
    arrays = []
    for field in schema:
        if field.name in df.columns:
            col = df[field.name].astype(object).where(df[field.name].notna(), None)
            values = list(col)
        else:
            values = [None] * len(df)
        if not field.nullable and any(v is None for v in values):
            raise ValueError(f"{name}: column {field.name} holds nulls")
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)
