"""The ``clinical_table`` plugin: plain hospital-lab / CRF tables and wide lab time series.

Detection (CSV / TSV / text): the header row names a patient column and either ``test`` +
``value`` (lab results), ``term`` (adverse events) or ``event`` (patient events); see
docs/clinical.md for every accepted spelling. XLSX workbooks cannot be recognised from their
first bytes: route them with ``--assay clinical_table`` or the manifest's ``assay`` column.
``--clinical-profile tjh`` reads the wide one-row-per-draw layout of the Tongji Hospital
COVID-19 export instead of the plain layouts.
"""

from __future__ import annotations

from pathlib import Path

from immunolab_assays.clinical_table.plain import COLUMNS, read_clinical_table
from immunolab_assays.clinical_table.time_series import TJH_PROFILE, read_lab_time_series

from immunolab.clinical.plugin_support import (
    CLINICAL_TABLES,
    header_cells,
    normalise_header,
    parsed_from_read,
    read_context,
)
from immunolab.plugins import Detection, ParseContext, ParsedAssay, PluginOption

__all__ = ["ClinicalTablePlugin"]

_ACCEPTED = {key: {normalise_header(v) for v in values} for key, values in COLUMNS.items()}


def plain_layout(cells: list[str]) -> str | None:
    """Return ``results`` / ``adverse_events`` / ``events`` when header ``cells`` are a plain clinical layout."""
    names = {normalise_header(c) for c in cells}
    if not names & _ACCEPTED["patient_id"]:
        return None
    if names & _ACCEPTED["test"] and names & _ACCEPTED["value"]:
        return "results"
    if names & _ACCEPTED["term"]:
        return "adverse_events"
    if names & _ACCEPTED["event"]:
        return "events"
    return None


class ClinicalTablePlugin:
    """Plain clinical tables (lab results, adverse events, patient events) and lab time series."""

    name = "clinical_table"
    version = "1.0.0"
    assay_kind = "clinical"
    file_extensions = (".csv", ".tsv", ".txt", ".xlsx", ".xls")
    produces = CLINICAL_TABLES
    options = (
        PluginOption("clinical_profile", "choice", "Clinical tables: layout (plain: the documented columns; "
                     "tjh: the Tongji Hospital wide time series).", default="plain", choices=("plain", "tjh")),
        PluginOption("clinical_unknown_tests", "choice", "Clinical tables: a test name without a canonical code "
                     "refuses the file (error) or is kept under its own name (keep).", default="error",
                     choices=("error", "keep")),
    )

    def detect(self, head: bytes, filename: str) -> Detection | None:
        """Claim a delimited text file whose header row is a plain clinical layout."""
        if not filename.lower().endswith((".csv", ".tsv", ".txt")):
            return None
        layout = plain_layout(header_cells(head))
        return None if layout is None else Detection(self.name, f"plain_{layout}", "clinical table header row")

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay:
        """Read one clinical table into clinical facts (patients through the subjects file, dates as study days)."""
        rctx = read_context(ctx)
        unknown = ctx.option("clinical_unknown_tests", "error") or "error"
        if (ctx.option("clinical_profile", "plain") or "plain") == "tjh":
            read = read_lab_time_series(path, rctx, profile=TJH_PROFILE, unknown_tests=unknown)
            return parsed_from_read(read, fmt="lab_time_series_tjh")
        read = read_clinical_table(path, rctx, unknown_tests=unknown)
        layout = next((n for n in ("clinical_results", "adverse_events", "outcomes") if n in read.tables), "clinical")
        return parsed_from_read(read, fmt=f"plain_{layout}")
