"""Turn one FCS file into an ``fcs_files`` row, then hand the events to the flow pipeline if installed.

The row holds only allowlisted facts (:mod:`immunolab.fcs.keywords`): version, cytometer,
counts, channels, data type, spillover presence, the acquisition *study day* (never the date),
the data set chosen, the tolerances applied and the names of dropped keywords. Key columns
(patient, visit, sample, hashes) are filled by ingest.

Flow analysis (compensation, gating, population statistics) is added by
``immunolab.flow.pipeline.analyze_sample(fcs, ctx) -> dict[str, pa.Table]``: when that module
exists, its tables are merged into the result; when it does not, only ``fcs_files`` is produced.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from immunolab.errors import InputError
from immunolab.fcs.keywords import deidentify
from immunolab.fcs.reader import FcsData, read_fcs
from immunolab.fcs.spillover import find_spillover_keyword
from immunolab.plugins import ParseContext, ParsedAssay
from immunolab.schema import KEY_NAMES, TABLES

__all__ = ["fcs_files_row", "fcs_files_table", "flow_pipeline", "parse_fcs_file"]

PIPELINE_MODULE = "immunolab.flow.pipeline"


def _bool_option(ctx: ParseContext, name: str) -> bool:
    return bool(ctx.option(name, False))


def flow_pipeline() -> Callable[[FcsData, ParseContext], dict[str, pa.Table]] | None:
    """Return ``analyze_sample`` from the flow pipeline module, or None while that module does not exist.

    Only the absence of the module is tolerated; an import error inside it propagates (a bug).
    """
    module = sys.modules.get(PIPELINE_MODULE)
    if module is None:
        try:
            spec = importlib.util.find_spec(PIPELINE_MODULE)
        except ModuleNotFoundError:
            return None
        if spec is None:
            return None
        module = importlib.import_module(PIPELINE_MODULE)
    analyze: Callable[[FcsData, ParseContext], dict[str, pa.Table]] = module.analyze_sample
    return analyze


def fcs_files_row(fcs: FcsData, ctx: ParseContext) -> tuple[dict[str, Any], list[str]]:
    """Return the PHI-free ``fcs_files`` row of ``fcs`` (without key columns) and de-id warnings."""
    deid = deidentify(fcs.keywords, study_day=ctx.study_day, deid_log=ctx.deid_log)
    warnings = list(deid.warnings)
    spill_key = find_spillover_keyword(fcs.keywords)
    has_spill = False
    if spill_key is not None:
        try:
            has_spill = fcs.spillover() is not None
        except InputError as exc:
            warnings.append(f"{exc.code}: {exc.message}; the embedded spillover matrix cannot be used")
    channels = [
        {
            "index": ch.index,
            "pnn": ch.pnn,
            "pns": ch.pns,
            "range": ch.range,
            "bits": ch.bits,
            "amplification": ch.amplification,
            "gain": ch.gain,
        }
        for ch in fcs.channels
    ]
    cytometer = deid.kept.get("$CYT")
    row = {
        "fcs_version": fcs.version,
        "cytometer": cytometer.strip() if cytometer else None,
        "n_events": fcs.n_events,
        "n_channels": fcs.n_channels,
        "channels": channels,
        "datatype": fcs.datatype or None,
        "byteord": fcs.byteord or None,
        "has_spillover": has_spill,
        "spillover_keyword": spill_key,
        "acquisition_study_day": deid.study_day,
        "dataset_index": fcs.dataset_index,
        "n_datasets": fcs.n_datasets,
        "tolerances": list(fcs.tolerances),
        "keywords_json": json.dumps(deid.kept, sort_keys=True, ensure_ascii=False),
        "dropped_keywords": deid.dropped,
    }
    return row, warnings


def fcs_files_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Return ``rows`` as a pyarrow table with the ``fcs_files`` schema minus the key columns."""
    schema = pa.schema([f for f in TABLES["fcs_files"].schema if f.name not in KEY_NAMES])
    columns = [pa.array([row.get(f.name) for row in rows], type=f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def parse_fcs_file(path: Path, ctx: ParseContext, *, plugin_version: str = "") -> ParsedAssay:
    """Read ``path`` with the options of ``ctx`` and return its store tables (coded errors only)."""
    fcs = read_fcs(
        path,
        label=ctx.label,
        dataset=ctx.option("dataset"),
        accept_offset_error=_bool_option(ctx, "accept_offset_error"),
        accept_tot_mismatch=_bool_option(ctx, "accept_tot_mismatch"),
    )
    row, deid_warnings = fcs_files_row(fcs, ctx)
    tables: dict[str, pa.Table] = {"fcs_files": fcs_files_table([row])}
    analyze = flow_pipeline()
    if analyze is not None:
        tables.update(analyze(fcs, ctx))
    warnings = [*fcs.warnings, *(f"tolerance applied: {t}" for t in fcs.tolerances), *deid_warnings]
    metadata = {
        "format": f"FCS{fcs.version}",
        "plugin_version": plugin_version,
        "n_channels": fcs.n_channels,
        "dataset_index": fcs.dataset_index,
        "n_datasets": fcs.n_datasets,
        "tolerances": list(fcs.tolerances),
        "flow_pipeline": analyze is not None,
    }
    return ParsedAssay(tables=tables, metadata=metadata, warnings=warnings, n_events=fcs.n_events)
