"""Pyarrow schema of every store table, the layer it belongs to, and validation before commit.

The store has three layers (DESIGN section 1), each a set of Delta Lake tables:

* **facts**: what an instrument file says, immutable, keyed by ``source_sha256``
  (``sources``, ``fcs_files``, ``cytokine_plates``, ``cytokine_wells``, ``instrument_curves``,
  ``bead_wells``, ``clinical_results``, ``adverse_events``, ``outcomes``);
* **identity**: who a file or a plate sample belongs to (``identity_samples``) and each
  patient's arm and covariates (``identity_subjects``); versioned, latest record per key wins;
* **derivations**: results computed from facts + identity + settings, keyed by a derivation id
  (``flow_strategies``, ``flow_gating``, ``flow_populations``, ``flow_events``, ``flow_event_gates``, ``flow_clusters``,
  ``curve_fits``, ``cytokine_results``, ``plate_qc``, ``cytokine_derivations``), plus the
  **decisions** of which derivation is active (``derivation_choices``) and which values are
  excluded (``qc_decisions``).

``samples`` and ``measurements`` are views computed from them (:mod:`immunolab.derive.views`).

Every row carries ``commit_id``: the unit of work that wrote it (an ingest id for the facts of one
file and what was derived from them at ingest; a derive, identity or QC run id otherwise). A row
is visible only once a store version lists its ``commit_id`` (:mod:`immunolab.store.versions`).

IDs are strings (``"001"`` stays ``"001"``); ``visit_day`` is the protocol day (Day 0 = first
infusion) as int32. Concentrations in pg/mL, MFI in instrument units, percentages 0-100.
Plate sample names and file names never reach a table: they are kept only as keyed hashes
(``sample_key``, ``file_key``; :mod:`immunolab.identity.keys`) so a corrected manifest can be
matched to what is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from immunolab.errors import PluginError

__all__ = [
    "FORMAT_VERSION",
    "SCHEMA_VERSION",
    "TABLES",
    "VIEWS",
    "MeasureMap",
    "TableSpec",
    "all_tables",
    "conform",
    "empty_table",
    "fact_schema",
    "fact_table_spec",
    "measure_map_of",
    "register_table",
    "table_spec",
]

#: Layout of the store (1: Parquet files + audit log, 2: Delta Lake tables + store versions).
FORMAT_VERSION = 2
#: Bumped on any table change an older reader could misread (adding a nullable column at the end does not).
SCHEMA_VERSION = 2

LAYERS = ("fact", "identity", "derivation", "decision")

COMMIT = pa.field("commit_id", pa.string(), nullable=False)
SOURCE = pa.field("source_sha256", pa.string(), nullable=False)
INGEST = pa.field("ingest_id", pa.string(), nullable=False)
#: columns ingest fills in every fact row (plugins leave them out)
FACT_KEYS = ("commit_id", "source_sha256", "ingest_id")


@dataclass(frozen=True)
class MeasureMap:
    """How rows of a table become ``measurements`` rows (so the view never branches on an assay).

    ``identity`` says how a row finds its patient and visit: ``sample`` through
    ``identity_samples`` on (``source_sha256``, ``sample_key``; ``""`` when the table has no
    sample_key), ``patient`` through its own ``patient_id`` and ``visit_day`` columns.
    ``measures`` maps value columns to (measure name, unit); ``unit_column`` overrides the unit.
    ``derivation_kind`` names the choice (``gating`` / ``curves``) that selects the active rows.
    """

    assay: str
    feature: str
    measures: dict[str, tuple[str, str]]
    identity: str = "sample"
    unit_column: str | None = None
    censor_column: str | None = None
    derivation_column: str | None = None
    derivation_kind: str | None = None
    flags_column: str | None = None
    lineage: tuple[str, ...] = ()
    assay_column: str | None = None
    #: patient tables: a study-day column matched to the nearest protocol visit within its
    #: window (:func:`immunolab.derive.views.visit_of_day`); rows outside every window stay in
    #: the table but are not visit measurements
    day_column: str | None = None
    #: plate tables: rows of plates whose ``cytokine_plates.export_format`` is listed get that
    #: assay instead of ``assay`` (bead arrays read on a flow cytometer are their own platform)
    assay_by_plate_format: tuple[tuple[str, str], ...] = ()
    #: the measure holding each feature's event count: AnnData puts it in the ``count`` layer of
    #: the feature's other measures instead of making it a variable
    count_measure: str | None = None
    #: ``lineage_key`` ends with the feature's gate path (``<strategy_id>:/parent/feature``):
    #: AnnData's ``gate_path`` / ``parent`` columns, and features two gate paths share are renamed
    gate_path_lineage: bool = False
    #: a row whose ``flags_column`` holds this QC flag has no value (a gate not applied): every
    #: measure of it is NaN with censor ``not_available``, whatever the table stores
    not_available_flag: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """One store table: its schema, layer, natural key and measurement mapping."""

    name: str
    schema: pa.Schema
    description: str
    layer: str
    #: natural key; for identity/decision tables the latest record per key wins
    key: tuple[str, ...] = ()
    #: extra columns beyond ``schema`` are allowed and must have this type (event channels)
    extra_column_type: pa.DataType | None = None
    measure: MeasureMap | None = None
    #: compression of its data files
    compression: str = "zstd"
    #: derivations the core runs on a file that has rows in this fact table (immunolab.derive.registry)
    derivations: tuple[str, ...] = field(default=())


def _schema(fields: Iterable[pa.Field], *, fact: bool = False) -> pa.Schema:
    head = [COMMIT, SOURCE, INGEST] if fact else [COMMIT]
    return pa.schema([*head, *fields])


def fact_schema(name: str) -> pa.Schema:
    """Return the columns a plugin writes for fact table ``name`` (without the keys ingest fills)."""
    return pa.schema([f for f in table_spec(name).schema if f.name not in FACT_KEYS])


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
FLAGS = pa.list_(pa.string())

TABLES: dict[str, TableSpec] = {}


def _add(spec: TableSpec) -> None:
    if spec.layer not in LAYERS:
        raise ValueError(spec.layer)
    TABLES[spec.name] = spec


# ------------------------------------------------------------------------------------- facts

_add(TableSpec("sources", _schema([
    pa.field("plugin", pa.string()),
    pa.field("plugin_version", pa.string()),
    pa.field("format", pa.string()),
    pa.field("assay_kind", pa.string()),
    pa.field("n_bytes", pa.int64()),
    pa.field("n_events", pa.int64()),
    pa.field("label", pa.string()),
    pa.field("file_key", pa.string()),
    pa.field("warnings", FLAGS),
    pa.field("metadata_json", pa.string()),
    pa.field("ingested_at", pa.timestamp("us", tz="UTC")),
    pa.field("immunolab_version", pa.string()),
], fact=True), "One row per committed instrument or clinical file: plugin, format, size, PHI-free label.",
    "fact", key=("source_sha256",)))

_add(TableSpec("fcs_files", _schema([
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
    pa.field("tolerances", FLAGS),
    pa.field("keywords_json", pa.string()),
    pa.field("dropped_keywords", FLAGS),
], fact=True), "One row per FCS data set: allowlisted header facts; never $FIL, $SRC, operator or free text.",
    "fact", key=("source_sha256",), derivations=("gating",)))

_add(TableSpec("cytokine_plates", _schema([
    pa.field("plate_id", pa.string()),
    pa.field("plate_index", pa.int32()),
    pa.field("export_format", pa.string()),
    pa.field("instrument", pa.string()),
    pa.field("instrument_serial", pa.string()),
    pa.field("software", pa.string()),
    pa.field("software_version", pa.string()),
    pa.field("kit", pa.string()),
    pa.field("lot", pa.string()),
    pa.field("run_study_day", pa.int32()),
    pa.field("n_wells", pa.int32()),
    pa.field("n_analytes", pa.int32()),
    pa.field("units_json", pa.string()),
    pa.field("control_ranges_json", pa.string()),
    pa.field("min_bead_count", pa.int32()),
    pa.field("instrument_warnings", pa.int32()),
    pa.field("export_crc", pa.string()),
    pa.field("quantitative", pa.bool_()),
    pa.field("notes", FLAGS),
], fact=True), "One row per plate (batch) of a multiplex export or bead-array run, as the instrument wrote it.",
    "fact", key=("source_sha256", "plate_id"), derivations=("curves",)))

_add(TableSpec("cytokine_wells", _schema([
    pa.field("plate_id", pa.string()),
    pa.field("well", pa.string()),
    pa.field("location", pa.string()),
    pa.field("acquisition_order", pa.int32()),
    pa.field("sample_type", pa.string()),
    pa.field("well_label", pa.string()),
    pa.field("standard_level", pa.int32()),
    pa.field("sample_key", pa.string()),
    pa.field("analyte", pa.string()),
    pa.field("analyte_reported", pa.string()),
    pa.field("analyte_known", pa.bool_()),
    pa.field("bead_region", pa.int32()),
    pa.field("median_mfi", pa.float64()),
    pa.field("net_mfi_reported", pa.float64()),
    pa.field("bead_count", pa.float64()),
    pa.field("dilution", pa.float64()),
    pa.field("expected_conc", pa.float64()),
    pa.field("reported_conc_text", pa.string()),
    pa.field("reported_conc", pa.float64()),
    pa.field("reported_flag", pa.string()),
    pa.field("reader_flags", FLAGS),
], fact=True), "One row per well x analyte: signal, bead count, dilution, expected and instrument-reported "
    "concentration (pg/mL) exactly as exported.", "fact", key=("source_sha256", "plate_id", "well", "analyte")))

_add(TableSpec("instrument_curves", _schema([
    pa.field("plate_id", pa.string()),
    pa.field("analyte", pa.string()),
    pa.field("model", pa.string()),
    pa.field("weighting", pa.string()),
    pa.field("a", pa.float64()),
    pa.field("b", pa.float64()),
    pa.field("c", pa.float64()),
    pa.field("d", pa.float64()),
    pa.field("f", pa.float64()),
    pa.field("r_squared", pa.float64()),
    pa.field("lowest_standard", pa.float64()),
    pa.field("highest_standard", pa.float64()),
], fact=True), "Standard curves the instrument software printed, y = a + (b - a) / (1 + (x / c)^d)^f.",
    "fact", key=("source_sha256", "plate_id", "analyte")))

# clinical facts (patient-level files: hospital labs, CRF, SDTM; immunolab.clinical.schema)
from immunolab.clinical.schema import CLINICAL_SCHEMAS  # noqa: E402

_CLINICAL_KEYS = {
    "clinical_results": ("patient_id", "test_code", "study_day", "source_row"),
    "adverse_events": ("patient_id", "term", "start_day", "source_row"),
    "outcomes": ("patient_id", "event"),
    "demographics": ("patient_id",),
}
_CLINICAL_TEXT = {
    "clinical_results": "One lab result, vital sign or score of a patient on a study day, in the canonical unit "
                        "beside the value and unit as reported.",
    "adverse_events": "One adverse event: term, coding, study days, CTCAE grade, seriousness, relatedness, outcome.",
    "outcomes": "One patient-level event (death, discharge, clinical improvement, withdrawal ...) on a study day.",
    "demographics": "One patient as a clinical source states it (cross-check of the subjects file).",
}
for _name, _schema_c in CLINICAL_SCHEMAS.items():
    _add(TableSpec(_name, _schema(list(_schema_c), fact=True), _CLINICAL_TEXT[_name], "fact",
                   key=("source_sha256", *_CLINICAL_KEYS[_name]),
                   measure=MeasureMap(assay="clinical", feature="test_code", measures={"value": ("result", "")},
                                      identity="patient", unit_column="unit", censor_column="censor",
                                      lineage=("test_code", "study_day"), day_column="study_day")
                   if _name == "clinical_results" else None))

# ------------------------------------------------------------------------------------- identity

_add(TableSpec("identity_samples", _schema([
    SOURCE,
    pa.field("sample_key", pa.string(), nullable=False),
    pa.field("file_key", pa.string()),
    pa.field("sample_id", pa.string()),
    pa.field("patient_id", pa.string()),
    pa.field("visit_day", pa.int32()),
    pa.field("specimen", pa.string()),
    pa.field("panel", pa.string()),
    pa.field("assay", pa.string()),
    pa.field("status", pa.string()),
    pa.field("replicate_of", pa.string()),
    pa.field("manifest_sha256", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("recorded_at", pa.timestamp("us", tz="UTC")),
    pa.field("superseded_by", pa.string()),
    pa.field("attributes_json", pa.string()),
]), "Who a file (sample_key '') or a plate sample belongs to: patient, visit, specimen, panel; status "
    "active / replicate / superseded / withdrawn. Versioned: the latest record per key is current.",
    "identity", key=("source_sha256", "sample_key")))

_add(TableSpec("identity_subjects", _schema([
    pa.field("patient_id", pa.string(), nullable=False),
    pa.field("arm", pa.string()),
    pa.field("site", pa.string()),
    pa.field("sex", pa.string()),
    pa.field("age", pa.int32()),
    pa.field("severity", pa.string()),
    pa.field("covariates_json", pa.string()),
    pa.field("status", pa.string()),
    pa.field("subjects_sha256", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("recorded_at", pa.timestamp("us", tz="UTC")),
]), "Each patient's arm and covariates (no names, no dates). Versioned: latest record per patient is current.",
    "identity", key=("patient_id",)))

# ------------------------------------------------------------------------------------- derivations

_add(TableSpec("flow_strategies", _schema([
    pa.field("strategy_id", pa.string()),
    pa.field("derivation_id", pa.string()),
    pa.field("strategy_name", pa.string()),
    pa.field("kind", pa.string()),
    pa.field("definition_json", pa.string()),
]), "Gating strategies (template, Gating-ML, FlowJo): full canonical definition; strategy_id is its hash.",
    "derivation", key=("strategy_id",)))

_add(TableSpec("flow_gating", _schema([
    SOURCE,
    pa.field("derivation_id", pa.string()),
    pa.field("strategy_id", pa.string()),
    pa.field("compensation", pa.string()),
    pa.field("status", pa.string()),
    pa.field("error_code", pa.string()),
    pa.field("message", pa.string()),
    pa.field("n_events", pa.int64()),
    pa.field("qc_flags", FLAGS),
]), "One row per FCS file x strategy: gated or failed (code, message), compensation source, QC flags.",
    "derivation", key=("source_sha256", "derivation_id")))

_add(TableSpec("flow_populations", _schema([
    SOURCE,
    pa.field("derivation_id", pa.string()),
    pa.field("strategy_id", pa.string()),
    pa.field("gate_path", pa.string()),
    pa.field("population", pa.string()),
    pa.field("parent", pa.string()),
    pa.field("count", pa.int64()),
    pa.field("parent_count", pa.int64()),
    pa.field("total_count", pa.int64()),
    pa.field("pct_parent", pa.float64()),
    pa.field("pct_total", pa.float64()),
    pa.field("pct_lymphocytes", pa.float64()),
    pa.field("qc_flags", FLAGS),
]), "Counts and frequencies (0-100 %) per FCS file, strategy and gate path.", "derivation",
    key=("source_sha256", "derivation_id", "gate_path"),
    measure=MeasureMap(
        assay="flow", feature="population",
        measures={"pct_parent": ("pct_parent", "%"), "pct_lymphocytes": ("pct_lymphocytes", "%"),
                  "pct_total": ("pct_total", "%"), "count": ("count", "events")},
        derivation_column="derivation_id", derivation_kind="gating", flags_column="qc_flags",
        count_measure="count", gate_path_lineage=True, not_available_flag="too_few_events",
        lineage=("strategy_id", "gate_path"))))

_add(TableSpec("flow_clusters", _schema([
    SOURCE,
    pa.field("derivation_id", pa.string()),
    pa.field("panel", pa.string()),
    pa.field("metacluster", pa.int32()),
    pa.field("cluster", pa.string()),
    pa.field("parent", pa.string()),
    pa.field("n_events", pa.int64()),
    pa.field("n_sampled", pa.int64()),
    pa.field("pct_parent", pa.float64()),
    pa.field("markers", FLAGS),
]), "FlowSOM metacluster shares per FCS file (% of the sampled parent events); clustering id clu-<hash>.",
    "derivation", key=("source_sha256", "derivation_id", "metacluster"),
    measure=MeasureMap(assay="flow_clusters", feature="cluster", measures={"pct_parent": ("pct_parent", "%")},
                       derivation_column="derivation_id", derivation_kind="clusters",
                       lineage=("derivation_id", "metacluster"))))

_add(TableSpec("flow_event_clusters", _schema([
    SOURCE,
    pa.field("derivation_id", pa.string()),
    pa.field("event_index", pa.int64()),
    pa.field("metacluster", pa.int16()),
]), "The metacluster of every stored event (flow_events) of a clustered file, per clustering.",
    "derivation", key=("source_sha256", "derivation_id", "event_index")))

_add(TableSpec("flow_cluster_agreement", _schema([
    pa.field("derivation_id", pa.string()),
    pa.field("panel", pa.string()),
    pa.field("population", pa.string()),
    pa.field("events", pa.int64()),
    pa.field("metacluster", pa.int32()),
    pa.field("cluster", pa.string()),
    pa.field("precision", pa.float64()),
    pa.field("recall", pa.float64()),
    pa.field("f_measure", pa.float64()),
    pa.field("mean_f", pa.float64()),
]), "How well each gated population is recovered by its best FlowSOM metacluster (0-1), per clustering.",
    "derivation", key=("derivation_id", "population")))

_add(TableSpec("flow_events", _schema([
    SOURCE,
    pa.field("derivation_id", pa.string()),
    pa.field("strategy_id", pa.string()),
    pa.field("event_index", pa.int64()),
    pa.field("population", pa.string()),
]), "Optional per-event rows: compensated + transformed float32 channels and leaf population.",
    "derivation", key=("source_sha256", "derivation_id", "event_index"), extra_column_type=pa.float32()))

_add(TableSpec("flow_event_gates", _schema([
    SOURCE,
    pa.field("derivation_id", pa.string()),
    pa.field("gate_path", pa.string()),
    pa.field("n_events", pa.int64()),
    pa.field("count", pa.int64()),
    pa.field("members", pa.binary()),
]), "Per-event membership of every gate of a file whose events are stored (flow_events): the gate's mask "
    "over event_index, bit-packed (numpy.packbits, big-endian bits; n_events bits, count of them set).",
    "derivation", key=("source_sha256", "derivation_id", "gate_path")))

_add(TableSpec("cytokine_derivations", _schema([
    pa.field("derivation_id", pa.string()),
    pa.field("kind", pa.string()),
    pa.field("settings_json", pa.string()),
]), "Concentration derivations: 'instrument' (the software's own numbers) or a refit with its settings.",
    "derivation", key=("derivation_id",)))

_add(TableSpec("curve_fits", _schema([
    SOURCE,
    pa.field("plate_id", pa.string()),
    pa.field("derivation_id", pa.string()),
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
]), "Standard curves used by a derivation (refitted, or the instrument's), with LLOQ/ULOQ.", "derivation",
    key=("source_sha256", "plate_id", "derivation_id", "analyte")))

_add(TableSpec("cytokine_results", _schema([
    SOURCE,
    pa.field("plate_id", pa.string()),
    pa.field("derivation_id", pa.string()),
    pa.field("sample_key", pa.string(), nullable=False),
    pa.field("analyte", pa.string()),
    pa.field("fit_id", pa.string()),
    pa.field("concentration", pa.float64()),
    pa.field("concentration_raw", pa.float64()),
    pa.field("instrument_conc", pa.float64()),
    pa.field("unit", pa.string()),
    pa.field("n_replicates", pa.int32()),
    pa.field("cv_pct", pa.float64()),
    pa.field("censor", pa.string()),
    pa.field("substitution_rule", pa.string()),
    pa.field("lloq", pa.float64()),
    pa.field("uloq", pa.float64()),
    pa.field("wells", FLAGS),
    pa.field("qc_flags", FLAGS),
]), "Concentration per plate sample x analyte (pg/mL) with censoring and substitution, per derivation.",
    "derivation", key=("source_sha256", "plate_id", "derivation_id", "sample_key", "analyte"),
    measure=MeasureMap(
        assay="cytokine", feature="analyte", measures={"concentration": ("concentration", "pg/mL")},
        unit_column="unit", censor_column="censor", derivation_column="derivation_id",
        derivation_kind="curves", flags_column="qc_flags", lineage=("plate_id", "analyte", "derivation_id"),
        assay_by_plate_format=(("bead_array_fcs", "cytokine_bead_array"),))))

_add(TableSpec("plate_qc", _schema([
    SOURCE,
    pa.field("plate_id", pa.string()),
    pa.field("derivation_id", pa.string()),
    pa.field("status", pa.string()),
    pa.field("qc_json", pa.string()),
]), "Plate QC of a derivation: pass / warn / fail and the checks behind it (typed rows: immunolab.derive.qc).",
    "derivation", key=("source_sha256", "plate_id", "derivation_id")))

# ------------------------------------------------------------------------------------- decisions

_add(TableSpec("derivation_choices", _schema([
    pa.field("kind", pa.string(), nullable=False),
    pa.field("scope", pa.string(), nullable=False),
    pa.field("derivation_id", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("user", pa.string()),
    pa.field("recorded_at", pa.timestamp("us", tz="UTC")),
]), "Which derivation is active: kind gating (scope = panel) or curves (scope = plate id or '*').",
    "decision", key=("kind", "scope")))

_add(TableSpec("qc_decisions", _schema([
    pa.field("target_kind", pa.string(), nullable=False),
    pa.field("target", pa.string(), nullable=False),
    pa.field("analyte", pa.string(), nullable=False),
    pa.field("action", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("user", pa.string()),
    pa.field("recorded_at", pa.timestamp("us", tz="UTC")),
]), "QC decisions: exclude / include a sample, well, plate or file (analyte '' = all), with a reason.",
    "decision", key=("target_kind", "target", "analyte")))

#: computed views (not stored): name -> description
VIEWS: dict[str, str] = {
    "samples": "one row per current biological sample: patient, visit, arm, covariates, specimen, panel, assay",
    "measurements": "long analysis view: patient x visit x feature x measure, with QC flags, exclusions, lineage",
}


def register_table(spec: TableSpec) -> None:
    """Add a table declared outside the core (an assay plugin's fact table) to :data:`TABLES`."""
    existing = TABLES.get(spec.name)
    if existing is not None and existing != spec:
        raise PluginError("IML-PLUGIN-002", f"table {spec.name!r} is declared twice with different schemas",
                          hint="Rename the plugin's table.")
    if COMMIT.name not in spec.schema.names:
        raise PluginError("IML-PLUGIN-002", f"table {spec.name!r} lacks the commit_id column",
                          hint="Build fact tables with immunolab.schema.fact_table_spec().")
    TABLES[spec.name] = spec


def fact_table_spec(name: str, fields: Iterable[pa.Field], description: str, *, key: tuple[str, ...] = (),
                    measure: MeasureMap | None = None) -> TableSpec:
    """Return the spec of a plugin's own fact table (the fact key columns are added)."""
    return TableSpec(name, _schema(fields, fact=True), description, "fact",
                     key=("source_sha256", *key), measure=measure)


def all_tables() -> dict[str, TableSpec]:
    """Return every table spec: the core's and those the installed plugins declare (loaded once).

    A plugin's own fact table (``AssayPlugin.tables``) is known once the plugin registry is
    loaded; readers call this so that a fresh process (``open_store`` then ``measurements``)
    sees the plugin's rows exactly as the process that ingested them.
    """
    from immunolab.plugins import get_registry

    get_registry()
    return TABLES


def measure_map_of(table: object, assay: object = None) -> MeasureMap | None:
    """Return the measurement mapping of a ``measurements`` row: by its ``lineage_table``, else by its ``assay``.

    A frame without ``lineage_table`` (e.g. read back from an export) is matched through the one
    table whose mapping declares that ``assay``; None when neither identifies a table.
    """
    tables = all_tables()
    spec = tables.get(table) if isinstance(table, str) else None
    if spec is not None:
        return spec.measure
    if isinstance(assay, str):
        maps = [t.measure for t in tables.values() if t.measure is not None and t.measure.assay == assay]
        return maps[0] if len(maps) == 1 else None
    return None


def table_spec(name: str) -> TableSpec:
    """Return the spec of table ``name`` (a core table or an installed plugin's) or raise a coded store error."""
    from immunolab.errors import StoreError

    try:
        return TABLES[name] if name in TABLES else all_tables()[name]
    except KeyError:
        raise StoreError(
            "IML-STORE-007",
            f"unknown table {name!r}",
            hint=f"Known tables: {', '.join(sorted([*TABLES, *VIEWS]))}.",
        ) from None


def empty_table(name: str) -> pa.Table:
    """Return a zero-row table with the schema of ``name``."""
    return table_spec(name).schema.empty_table()


def conform(name: str, table: pa.Table, *, who: str = "immunolab") -> pa.Table:
    """Cast ``table`` to the schema of ``name`` (column order, types) or raise IML-PLUGIN-002.

    Missing nullable columns are added as nulls; unknown columns are an error unless the table
    allows extra columns of one type. ``who`` names the producer (plugin name and version) so a
    contract violation points at the right code.
    """
    spec = table_spec(name)
    if table.schema.equals(spec.schema, check_metadata=True):  # already conformed (a worker's table, queued again)
        required = [f.name for f in spec.schema if not f.nullable]
        if not any(table.column(c).null_count for c in required):
            return table
    problems: list[str] = []
    columns: list[pa.Array | pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    n = table.num_rows
    for fld in spec.schema:
        if fld.name in table.column_names:
            col = table.column(fld.name)
            if not col.type.equals(fld.type):
                try:
                    col = col.cast(fld.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    problems.append(f"column {fld.name}: cannot cast {col.type} to {fld.type} ({exc})")
                    continue
        else:
            col = pa.nulls(n, type=fld.type)
        if not fld.nullable and col.null_count:
            problems.append(f"column {fld.name}: {col.null_count} null value(s) not allowed")
        columns.append(col)
        fields.append(fld)
    extra = [c for c in table.column_names if c not in spec.schema.names]
    if extra:
        if spec.extra_column_type is None:
            problems.append(f"unexpected column(s): {', '.join(extra)}")
        else:
            for c in extra:
                try:
                    col = table.column(c).cast(spec.extra_column_type)
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
