"""Turn one FCS file into its facts: one ``fcs_files`` row (the events stay in the raw vault).

The row holds only allowlisted facts (:mod:`immunolab.fcs.keywords`): version, cytometer,
counts, channels, data type, spillover presence, the acquisition *study day* (never the date),
the data set chosen, the tolerances applied and the names of dropped keywords. Key columns are
filled by ingest. Gating is a derivation the core runs next (``fcs_files`` declares it); the
read events are handed to it in ``ParsedAssay.payload`` so the file is read once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from immunolab.errors import InputError
from immunolab.fcs.keywords import clean_free_text, deidentify
from immunolab.fcs.reader import FcsData, read_fcs
from immunolab.fcs.spillover import find_spillover_keyword
from immunolab.plugins import ParseContext, ParsedAssay
from immunolab.schema import fact_schema

__all__ = ["fcs_files_row", "fcs_files_table", "parse_fcs_file"]


def _bool_option(ctx: ParseContext, name: str) -> bool:
    return bool(ctx.option(name, False))


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
            "pnn": clean_free_text(ch.pnn, cap=False) if ch.pnn else ch.pnn,  # as in keywords_json (dates as [date])
            "pns": clean_free_text(ch.pns) if ch.pns else ch.pns,
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
    schema = fact_schema("fcs_files")
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
    warnings = [*fcs.warnings, *(f"tolerance applied: {t}" for t in fcs.tolerances), *deid_warnings]
    metadata = {
        "format": f"FCS{fcs.version}",
        "plugin_version": plugin_version,
        "n_channels": fcs.n_channels,
        "dataset_index": fcs.dataset_index,
        "n_datasets": fcs.n_datasets,
        "tolerances": list(fcs.tolerances),
    }
    return ParsedAssay(tables=tables, metadata=metadata, warnings=warnings, n_events=fcs.n_events,
                       payload={"fcs": fcs})
