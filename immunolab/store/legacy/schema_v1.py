"""Pyarrow schema of every store table, and the validation every table passes before commit.

Every fact row carries the key columns ``patient_id``, ``visit_day``, ``sample_id``,
``source_sha256`` and ``ingest_id``. IDs are strings (``"001"`` stays ``"001"``); ``visit_day``
is the protocol day (Day 0 = first infusion) as int32. Plate-level rows (standards, blanks,
controls, curves) have null patient keys; ``requires_patient`` says which tables forbid that.

Units: concentrations in pg/mL, MFI in instrument units, percentages in 0-100.

Bump ``SCHEMA_VERSION`` on any change that an older reader could misread; adding a nullable
column at the end of a table does not require a bump.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from immunolab.errors import PluginError

__all__ = [
    "KEY_FIELDS",
    "SCHEMA_VERSION",
    "TABLES",
    "TableSpec",
    "conform",
    "empty_table",
    "table_spec",
]

SCHEMA_VERSION = 1

KEY_FIELDS: list[pa.Field] = [
    pa.field("patient_id", pa.string()),
    pa.field("visit_day", pa.int32()),
    pa.field("sample_id", pa.string()),
    pa.field("source_sha256", pa.string(), nullable=False),
    pa.field("ingest_id", pa.string(), nullable=False),
]
KEY_NAMES = [f.name for f in KEY_FIELDS]


@dataclass(frozen=True)
class TableSpec:
    """One store table: its schema and the rules :func:`conform` enforces."""

    name: str
    schema: pa.Schema
    description: str
    requires_patient: bool = False
    #: extra columns beyond ``schema`` are allowed and must have this type (e.g. event channels)
    extra_column_type: pa.DataType | None = None
    #: written by the store itself (audit), not by plugins
    internal: bool = False


def _schema(fields: Iterable[pa.Field], *, keys: bool = True) -> pa.Schema:
    return pa.schema([*(KEY_FIELDS if keys else []), *fields])


CHANNEL_TYPE = pa.struct(
    [
        pa.field("index", pa.int32()),
        pa.field("pnn", pa.string()),
        pa.field("pns", pa.string()),
        pa.field("range", pa.float64()),
        pa.field("bits", pa.int32()),
        pa.field("amplification", pa.string()),
        pa.field("gain", pa.float64()),
    ]
)

TABLES: dict[str, TableSpec] = {}


def _add(spec: TableSpec) -> None:
    TABLES[spec.name] = spec


_add(
    TableSpec(
        "samples",
        _schema(
            [
                pa.field("arm", pa.string()),
                pa.field("site", pa.string()),
                pa.field("sex", pa.string()),
                pa.field("age", pa.int32()),
                pa.field("specimen", pa.string()),
                pa.field("panel", pa.string()),
                pa.field("assay_kind", pa.string()),
                pa.field("plugin", pa.string()),
                pa.field("plate_id", pa.string()),
            ]
        ),
        "One row per biological sample seen in an ingest (a flow tube, a plate sample).",
        requires_patient=True,
    )
)

_add(
    TableSpec(
        "fcs_files",
        _schema(
            [
                pa.field("fcs_version", pa.string()),
                pa.field("cytometer", pa.string()),
                pa.field("n_events", pa.int64()),
                pa.field("n_channels", pa.int32()),
                pa.field("channels", pa.list_(CHANNEL_TYPE)),
                pa.field("datatype", pa.string()),
                pa.field("byteord", pa.string()),
                pa.field("has_spillover", pa.bool_()),
                pa.field("spillover_keyword", pa.string()),
                pa.field("acquisition_study_day", pa.int32()),
                pa.field("dataset_index", pa.int32()),
                pa.field("n_datasets", pa.int32()),
                pa.field("tolerances", pa.list_(pa.string())),
                pa.field("keywords_json", pa.string()),
                pa.field("dropped_keywords", pa.list_(pa.string())),
            ]
        ),
        "One row per FCS data set: allowlisted header facts; never $FIL, $SRC, operator or free text.",
        requires_patient=True,
    )
)

_add(
    TableSpec(
        "flow_populations",
        _schema(
            [
                pa.field("strategy_id", pa.string()),
                pa.field("strategy_name", pa.string()),
                pa.field("gate_path", pa.string()),
                pa.field("population", pa.string()),
                pa.field("parent", pa.string()),
                pa.field("count", pa.int64()),
                pa.field("parent_count", pa.int64()),
                pa.field("total_count", pa.int64()),
                pa.field("pct_parent", pa.float64()),
                pa.field("pct_total", pa.float64()),
                pa.field("pct_lymphocytes", pa.float64()),
            ]
        ),
        "Counts and frequencies (0-100 %) per sample and gate path, keyed by the strategy hash.",
        requires_patient=True,
    )
)

_add(
    TableSpec(
        "flow_strategies",
        _schema(
            [
                pa.field("strategy_id", pa.string()),
                pa.field("strategy_name", pa.string()),
                pa.field("kind", pa.string()),
                pa.field("compensation", pa.string()),
                pa.field("definition_json", pa.string()),
            ]
        ),
        "The gating strategy each sample was gated with: kind, compensation source, full definition "
        "(gates, transforms and their parameters) as canonical JSON; strategy_id is its hash.",
        requires_patient=True,
    )
)

_add(
    TableSpec(
        "flow_events",
        _schema(
            [
                pa.field("strategy_id", pa.string()),
                pa.field("event_index", pa.int64()),
                pa.field("population", pa.string()),
            ]
        ),
        "Optional per-event table: compensated + transformed float32 channels and leaf population.",
        requires_patient=True,
        extra_column_type=pa.float32(),
    )
)

_add(
    TableSpec(
        "cytokine_plates",
        _schema(
            [
                pa.field("plate_id", pa.string()),
                pa.field("plate_index", pa.int32()),
                pa.field("instrument", pa.string()),
                pa.field("instrument_serial", pa.string()),
                pa.field("software", pa.string()),
                pa.field("software_version", pa.string()),
                pa.field("kit", pa.string()),
                pa.field("lot", pa.string()),
                pa.field("run_study_day", pa.int32()),
                pa.field("n_wells", pa.int32()),
                pa.field("n_analytes", pa.int32()),
                pa.field("qc_status", pa.string()),
                pa.field("qc_json", pa.string()),
            ]
        ),
        "One row per plate (batch) in a multiplex export; QC summary as JSON.",
    )
)

_add(
    TableSpec(
        "cytokine_wells",
        _schema(
            [
                pa.field("plate_id", pa.string()),
                pa.field("well", pa.string()),
                pa.field("location", pa.string()),
                pa.field("sample_type", pa.string()),
                pa.field("well_label", pa.string()),
                pa.field("analyte", pa.string()),
                pa.field("analyte_reported", pa.string()),
                pa.field("bead_region", pa.int32()),
                pa.field("median_mfi", pa.float64()),
                pa.field("net_mfi", pa.float64()),
                pa.field("bead_count", pa.int32()),
                pa.field("dilution", pa.float64()),
                pa.field("expected_conc", pa.float64()),
                pa.field("reported_conc_text", pa.string()),
                pa.field("reported_conc", pa.float64()),
                pa.field("reported_flag", pa.string()),
                pa.field("qc_flags", pa.list_(pa.string())),
            ]
        ),
        "One row per well x analyte: raw signal, expected and instrument-reported concentration.",
    )
)

_add(
    TableSpec(
        "standard_curves",
        _schema(
            [
                pa.field("plate_id", pa.string()),
                pa.field("analyte", pa.string()),
                pa.field("fit_id", pa.string()),
                pa.field("source", pa.string()),
                pa.field("model", pa.string()),
                pa.field("weighting", pa.string()),
                pa.field("a", pa.float64()),
                pa.field("b", pa.float64()),
                pa.field("c", pa.float64()),
                pa.field("d", pa.float64()),
                pa.field("f", pa.float64()),
                pa.field("r_squared", pa.float64()),
                pa.field("n_points", pa.int32()),
                pa.field("lloq", pa.float64()),
                pa.field("uloq", pa.float64()),
                pa.field("lowest_standard", pa.float64()),
                pa.field("highest_standard", pa.float64()),
                pa.field("converged", pa.bool_()),
                pa.field("message", pa.string()),
            ]
        ),
        "Fitted (or instrument-printed) standard curves, y = a + (b - a) / (1 + (x / c)^d)^f.",
    )
)

_add(
    TableSpec(
        "cytokine_results",
        _schema(
            [
                pa.field("plate_id", pa.string()),
                pa.field("analyte", pa.string()),
                pa.field("fit_id", pa.string()),
                pa.field("concentration", pa.float64()),
                pa.field("concentration_raw", pa.float64()),
                pa.field("unit", pa.string()),
                pa.field("n_replicates", pa.int32()),
                pa.field("cv_pct", pa.float64()),
                pa.field("censor", pa.string()),
                pa.field("substitution_rule", pa.string()),
                pa.field("lloq", pa.float64()),
                pa.field("uloq", pa.float64()),
                pa.field("qc_flags", pa.list_(pa.string())),
            ]
        ),
        "Concentration per sample x analyte (pg/mL) with censoring and the substitution applied.",
        requires_patient=True,
    )
)

_add(
    TableSpec(
        "measurements",
        _schema(
            [
                pa.field("arm", pa.string()),
                pa.field("assay", pa.string()),
                pa.field("feature", pa.string()),
                pa.field("measure", pa.string()),
                pa.field("value", pa.float64()),
                pa.field("unit", pa.string()),
                pa.field("censor", pa.string()),
                pa.field("lineage_table", pa.string()),
                pa.field("lineage_key", pa.string()),
                pa.field("derivation_id", pa.string()),
            ]
        ),
        "Long analysis view: one value per patient x visit x feature x measure, with lineage.",
        requires_patient=True,
    )
)

_add(
    TableSpec(
        "ingests",
        pa.schema(
            [
                pa.field("seq", pa.int64(), nullable=False),
                pa.field("ingest_id", pa.string(), nullable=False),
                pa.field("attempted_at", pa.timestamp("us", tz="UTC")),
                pa.field("outcome", pa.string()),
                pa.field("source_sha256", pa.string()),
                pa.field("source_label", pa.string()),
                pa.field("source_bytes", pa.int64()),
                pa.field("plugin", pa.string()),
                pa.field("plugin_version", pa.string()),
                pa.field("immunolab_version", pa.string()),
                pa.field("schema_version", pa.int32()),
                pa.field("user", pa.string()),
                pa.field("host", pa.string()),
                pa.field("command", pa.string()),
                pa.field("options_json", pa.string()),
                pa.field("rows_json", pa.string()),
                pa.field("error_code", pa.string()),
                pa.field("error_message", pa.string()),
                pa.field("supersedes", pa.string()),
                pa.field("supersede_reason", pa.string()),
                pa.field("superseded_by", pa.string()),
                pa.field("prev_hash", pa.string()),
                pa.field("record_hash", pa.string()),
            ]
        ),
        "Audit trail: one row per ingest attempt (COMMITTED / SKIP / FAIL), hash-chained.",
        internal=True,
    )
)


def table_spec(name: str) -> TableSpec:
    """Return the spec of table ``name`` or raise a coded store error."""
    from immunolab.errors import StoreError

    try:
        return TABLES[name]
    except KeyError:
        raise StoreError(
            "IML-STORE-007",
            f"unknown table {name!r}",
            hint=f"Known tables: {', '.join(sorted(TABLES))}.",
        ) from None


def empty_table(name: str) -> pa.Table:
    """Return a zero-row table with the schema of ``name``."""
    return table_spec(name).schema.empty_table()


def conform(name: str, table: pa.Table, *, who: str = "immunolab") -> pa.Table:
    """Cast ``table`` to the schema of ``name`` (column order, types) or raise.

    Missing nullable columns are added as nulls; unknown columns are an error unless the
    table allows extra columns of one type. ``who`` names the producer (plugin name and
    version) so a contract violation points at the right code.
    """
    spec = table_spec(name)
    target = spec.schema
    problems: list[str] = []
    columns: list[pa.Array | pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    n = table.num_rows
    for field in target:
        if field.name in table.column_names:
            col = table.column(field.name)
            if not col.type.equals(field.type):
                try:
                    col = col.cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    problems.append(f"column {field.name}: cannot cast {col.type} to {field.type} ({exc})")
                    continue
        else:
            col = pa.nulls(n, type=field.type)
        if (not field.nullable or (spec.requires_patient and field.name in ("patient_id", "visit_day", "sample_id"))) and col.null_count:
            problems.append(f"column {field.name}: {col.null_count} null value(s) not allowed")
        columns.append(col)
        fields.append(field)
    extra = [c for c in table.column_names if c not in target.names]
    if extra:
        if spec.extra_column_type is None:
            problems.append(f"unexpected column(s): {', '.join(extra)}")
        else:
            for c in extra:
                col = table.column(c)
                try:
                    col = col.cast(spec.extra_column_type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    problems.append(f"column {c}: must be {spec.extra_column_type}")
                    continue
                columns.append(col)
                fields.append(pa.field(c, spec.extra_column_type))
    if problems:
        raise PluginError(
            "IML-PLUGIN-002",
            f"{who} produced an invalid {name!r} table: " + "; ".join(problems),
            hint="This is a bug in the plugin; please report it with the plugin name and version.",
        )
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))
