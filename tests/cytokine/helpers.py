"""Test helpers: fill the key columns the way ingest does and validate against the store schemas."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pyarrow as pa

from immunolab.cytokine.plate import Plate
from immunolab.io.tokens import ReportedConc
from immunolab.plugins import SAMPLE_REF
from immunolab.schema import conform, table_spec


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
