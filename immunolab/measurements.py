"""Derive the long ``measurements`` rows of one ingest from its fact tables.

One row per patient x visit x feature x measure, with the lineage back to the fact row
(``lineage_table`` + ``lineage_key``) and the derivation that produced it (gating strategy hash
or curve fit id). Baseline-relative columns need every visit of a patient and are computed at
read time by :mod:`immunolab.analysis`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["FLOW_MEASURES", "derive_measurements"]

#: flow_populations column -> (measure name, unit)
FLOW_MEASURES: dict[str, tuple[str, str]] = {
    "pct_parent": ("pct_parent", "%"),
    "pct_lymphocytes": ("pct_lymphocytes", "%"),
    "pct_total": ("pct_total", "%"),
    "count": ("count", "events"),
}


def _keys(t: pa.Table, arm_of: Mapping[str, str], assay: str) -> dict[str, pa.Array | pa.ChunkedArray]:
    """Return the key, arm and assay columns every measurement row starts with."""
    return {
        "patient_id": t.column("patient_id"),
        "visit_day": t.column("visit_day"),
        "sample_id": t.column("sample_id"),
        "source_sha256": t.column("source_sha256"),
        "ingest_id": t.column("ingest_id"),
        "arm": pa.array([arm_of.get(p) for p in t.column("patient_id").to_pylist()], pa.string()),
        "assay": pa.array([assay] * t.num_rows, pa.string()),
    }


def _flow_rows(t: pa.Table, arm_of: Mapping[str, str]) -> pa.Table | None:
    if t.num_rows == 0:
        return None
    n = t.num_rows
    keys = _keys(t, arm_of, "flow")
    parts = []
    for column, (measure, unit) in FLOW_MEASURES.items():
        parts.append(
            pa.table(
                {
                    **keys,
                    "feature": t.column("population"),
                    "measure": pa.array([measure] * n, pa.string()),
                    "value": pc.cast(t.column(column), pa.float64()),
                    "unit": pa.array([unit] * n, pa.string()),
                    "censor": pa.array(["none"] * n, pa.string()),
                    "lineage_table": pa.array(["flow_populations"] * n, pa.string()),
                    "lineage_key": pc.binary_join_element_wise(t.column("strategy_id"), t.column("gate_path"), ":"),
                    "derivation_id": t.column("strategy_id"),
                }
            )
        )
    out = pa.concat_tables(parts)
    return out.filter(pc.is_valid(out.column("value")))


def _cytokine_rows(t: pa.Table, arm_of: Mapping[str, str]) -> pa.Table | None:
    if t.num_rows == 0:
        return None
    n = t.num_rows
    return pa.table(
        {
            **_keys(t, arm_of, "cytokine"),
            "feature": t.column("analyte"),
            "measure": pa.array(["concentration"] * n, pa.string()),
            "value": pc.cast(t.column("concentration"), pa.float64()),
            "unit": pc.fill_null(t.column("unit"), "pg/mL"),
            "censor": pc.fill_null(t.column("censor"), "none"),
            "lineage_table": pa.array(["cytokine_results"] * n, pa.string()),
            "lineage_key": pc.binary_join_element_wise(
                pc.fill_null(t.column("plate_id"), ""), t.column("analyte"), t.column("sample_id"), ":"
            ),
            "derivation_id": t.column("fit_id"),
        }
    )


def derive_measurements(tables: Mapping[str, pa.Table], arm_of: Mapping[str, str]) -> pa.Table | None:
    """Return the ``measurements`` rows for one ingest's tables, or None when there are none."""
    parts = []
    if "flow_populations" in tables:
        rows = _flow_rows(tables["flow_populations"], arm_of)
        if rows is not None:
            parts.append(rows)
    if "cytokine_results" in tables:
        rows = _cytokine_rows(tables["cytokine_results"], arm_of)
        if rows is not None:
            parts.append(rows)
    if not parts:
        return None
    return pa.concat_tables(parts)
