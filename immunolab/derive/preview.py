"""Derive a plate file's curves, concentrations and QC without a store (check a plate before ingest).

``immunolab plate analyse FILE`` and the tests use it: the plugin's facts go through exactly the
derivations ingest runs (:mod:`immunolab.derive.curves`), but plate samples keep the names
written on the plate as their ``sample_key`` (nothing is stored, so nothing needs hashing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from immunolab.cytokine.assemble import PlateSettings
from immunolab.plugins import SAMPLE_REF, ParsedAssay

__all__ = ["derive_plates", "preview_facts"]


def preview_facts(parsed: ParsedAssay) -> dict[str, pa.Table]:
    """Return the plugin's fact tables with ``_sample_ref`` moved into ``sample_key`` (preview only)."""
    out = {}
    for name, t in parsed.tables.items():
        if SAMPLE_REF in t.column_names:
            refs = t.column(SAMPLE_REF)
            t = t.drop_columns([c for c in (SAMPLE_REF, "sample_key") if c in t.column_names])
            t = t.append_column("sample_key", refs.cast(pa.string()))
        out[name] = t
    return out


def derive_plates(parsed: ParsedAssay, *, settings: PlateSettings | None = None,
                  kinds: Sequence[str] = ("refit", "instrument"), sha: str = "0" * 64,
                  label: str = "") -> dict[str, pa.Table]:
    """Return the derivation tables (``curve_fits``, ``cytokine_results``, ``plate_qc``) of a parsed plate file.

    ``kinds``: ``refit`` (immunolab's fit with ``settings``) and/or ``instrument`` (the export's
    own results, when it has them).
    """
    from immunolab.cytokine.facts import plates_from_facts
    from immunolab.derive.curves import (
        INSTRUMENT,
        derive_plate,
        has_instrument_results,
        rows_to_tables,
    )

    facts = preview_facts(parsed)
    rows: dict[str, list[dict[str, Any]]] = {}
    for pid, plate in plates_from_facts(facts["cytokine_plates"], facts["cytokine_wells"], facts.get("instrument_curves")):
        for kind in kinds:
            if kind == INSTRUMENT and not has_instrument_results(plate):
                continue
            part, _status = derive_plate(plate, sha=sha, plate_id=pid, settings=settings or PlateSettings(),
                                         kind=kind, label=label)
            for name, recs in part.items():
                rows.setdefault(name, []).extend(recs)
    return rows_to_tables(rows)
