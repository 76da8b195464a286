"""Test helpers: validate facts and derivations as ingest would, derive plates without a store.

A plate plugin's ``parse`` returns facts only; the curves, concentrations and QC are the
derivations ingest computes afterwards. :func:`derive` runs them on a parsed file exactly as
ingest does (:func:`immunolab.derive.preview.derive_plates`); in this preview the plate samples
keep the names written on the plate as ``sample_key`` (nothing is stored).
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pyarrow as pa

from immunolab.cytokine.parsed import settings_from_options
from immunolab.cytokine.plate import Plate
from immunolab.derive.curves import INSTRUMENT
from immunolab.derive.preview import derive_plates
from immunolab.io.tokens import ReportedConc
from immunolab.plugins import SAMPLE_REF, ParsedAssay
from immunolab.schema import conform, table_spec

_KEY_VALUES = {"commit_id": "test-commit", "source_sha256": "0" * 64, "ingest_id": "test-ingest"}


def conform_as_ingest(name: str, table: pa.Table) -> pa.Table:
    """Return ``table`` conformed to its schema the way ingest does it.

    ``_sample_ref`` becomes a ``sample_key`` (a keyed hash in ingest, a constant here) and the
    fact keys (``source_sha256``, ``ingest_id``, ``commit_id``) are filled.
    """
    n = table.num_rows
    names = table_spec(name).schema.names
    t = table
    if SAMPLE_REF in t.column_names:
        refs = t.column(SAMPLE_REF).to_pylist()
        t = t.drop_columns([c for c in (SAMPLE_REF, "sample_key") if c in t.column_names])
        if "sample_key" in names:
            t = t.append_column("sample_key", pa.array([None if r is None else "k" for r in refs], pa.string()))
    for key, value in (("source_sha256", "0" * 64), ("ingest_id", "test-ingest"), ("commit_id", "test-ingest")):
        if key in names and key not in t.column_names:
            t = t.append_column(key, pa.array([value] * n, pa.string()))
    return conform(name, t, who="test")


def conforms(parsed: ParsedAssay | dict[str, pa.Table]) -> None:
    """Check every table of a parse (or of a derivation) against its store schema."""
    tables = parsed.tables if isinstance(parsed, ParsedAssay) else parsed
    for name, table in tables.items():
        conform_as_ingest(name, table)


def all_text(parsed: ParsedAssay) -> str:
    """Return everything a parse lets out (metadata, warnings, tables) except ``_sample_ref``."""
    parts = [json.dumps(parsed.metadata, default=str), *parsed.warnings]
    for table in parsed.tables.values():
        t = table.drop_columns([SAMPLE_REF]) if SAMPLE_REF in table.column_names else table
        parts.append(json.dumps(t.to_pylist(), default=str))
    return "\n".join(parts)


def derive(parsed: ParsedAssay, *, kinds: tuple[str, ...] = ("refit", INSTRUMENT), **options: Any) -> dict[str, pa.Table]:
    """Return the plate derivations ingest computes from ``parsed`` with plate ``options``; all schema-valid."""
    tables = derive_plates(parsed, settings=settings_from_options(options, label="test"), kinds=kinds)
    conforms(tables)
    return tables


def rows_of(tables: dict[str, pa.Table], name: str, kind: str) -> list[dict[str, Any]]:
    """Return the rows of derivation table ``name`` that belong to derivation ``kind`` (``refit`` / ``instrument``)."""
    if name not in tables:
        return []
    rows = tables[name].to_pylist()
    if kind == INSTRUMENT:
        return [r for r in rows if r["derivation_id"] == INSTRUMENT]
    return [r for r in rows if str(r["derivation_id"]).startswith("fit-")]


def readings_of(plate: Plate) -> list[SimpleNamespace]:
    """Return one row per well x analyte of ``plate`` with the names the Bio-Plex/MSD specs use.

    ``signal`` = ``median_mfi``, ``net_signal`` = ``net_mfi_reported``, ``reported`` =
    :class:`ReportedConc` of the three reported columns, ``spot`` = ``bead_region``,
    ``qc_flags`` = the reader's flags, ``replicate_group`` = the row is a printed group.
    """

    def val(v: Any) -> Any:
        return None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v

    out = []
    for rec in plate.wells.to_dict("records"):
        r = {k: val(v) for k, v in rec.items()}
        count = r.pop("bead_count")
        out.append(
            SimpleNamespace(
                **r,
                signal=r["median_mfi"],
                net_signal=r["net_mfi_reported"],
                reported=ReportedConc(r["reported_conc_text"], r["reported_conc"], r["reported_flag"]),
                spot=r["bead_region"],
                qc_flags=plate.reader_flags.get((r["well"], r["analyte_reported"]), []),
                replicate_group="," in str(r["well"]),
                bead_count=int(count) if count is not None else None,
            )
        )
    return out
