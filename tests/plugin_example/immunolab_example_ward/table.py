"""The plugin's own fact table, ``ward_observations``, and how its rows become measurements."""

from __future__ import annotations

import pyarrow as pa

from immunolab.schema import MeasureMap, fact_table_spec

#: the columns the reader writes (ingest adds the fact keys commit_id, source_sha256, ingest_id)
WARD_FIELDS = [
    pa.field("patient_id", pa.string(), nullable=False),
    pa.field("study_day", pa.int32(), nullable=False),
    pa.field("vital", pa.string(), nullable=False),
    pa.field("value", pa.float64()),
    pa.field("unit", pa.string()),
    pa.field("source_row", pa.int32()),
]

WARD_TABLE = fact_table_spec(
    "ward_observations",
    WARD_FIELDS,
    "Ward observations: one vital sign (heart_rate in bpm, temperature in degC) of one patient on one "
    "study day; source_row is the 1-based data row of the CSV.",
    key=("patient_id", "study_day", "vital", "source_row"),
    measure=MeasureMap(
        assay="ward",  # the measurements rows' assay
        feature="vital",  # the column naming what was measured
        measures={"value": ("value", "")},  # value column -> (measure name, default unit)
        unit_column="unit",
        identity="patient",  # rows carry their own patient_id: no manifest row, no sample
        day_column="study_day",  # placed at the protocol visit whose window holds the day
        lineage=("vital", "study_day"),
    ),
)
