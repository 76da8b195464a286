"""Test helpers: fill the key columns the way ingest does and validate against the store schemas."""

from __future__ import annotations

import pyarrow as pa

from immunolab.plugins import SAMPLE_REF
from immunolab.schema import conform, table_spec


def conform_as_ingest(name: str, table: pa.Table) -> pa.Table:
    """Return ``table`` conformed to its schema after dropping ``_sample_ref`` and adding keys."""
    n = table.num_rows
    t = table.drop_columns([c for c in table.column_names if c == SAMPLE_REF])
    keys = {
        "source_sha256": pa.array(["0" * 64] * n, pa.string()),
        "ingest_id": pa.array(["test-ingest"] * n, pa.string()),
    }
    if table_spec(name).requires_patient:
        keys.update(
            patient_id=pa.array(["001"] * n, pa.string()),
            visit_day=pa.array([0] * n, pa.int32()),
            sample_id=pa.array(["S0001"] * n, pa.string()),
        )
    for k, v in keys.items():
        t = t.append_column(k, v)
    return conform(name, t, who="test")
