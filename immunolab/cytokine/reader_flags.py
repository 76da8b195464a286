"""Add what readers know beyond the tables to a plate plugin's output: well flags, warnings, layouts.

Every plate plugin ends its ``parse`` with
:func:`immunolab.cytokine.parsed.parsed_assay_from_plates`; :func:`with_reader_facts` then adds
the readers' own well flags (:attr:`Plate.reader_flags`: ``outlier``, Bio-Plex sampling
errors, ``replicate_mean`` ...) to ``cytokine_wells.qc_flags``, the plates' PHI-free
:attr:`Plate.warnings` to the ingest warnings, and the recognised layouts and software
versions to the metadata. Nothing here names a sample, a user, a path or a date.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pyarrow as pa

from immunolab.cytokine.plate import Plate
from immunolab.plugins import ParseContext, ParsedAssay

__all__ = ["with_reader_facts"]


def _merge_flags(wells: pa.Table, plates: Sequence[Plate], plate_ids: list[str]) -> pa.Table:
    flags: dict[tuple[str, str, str], list[str]] = {}
    for plate, pid in zip(plates, plate_ids, strict=True):
        for (well, analyte), extra in plate.reader_flags.items():
            flags[(pid, well, analyte)] = extra
    if not flags:
        return wells
    pids = wells.column("plate_id").to_pylist()
    well_names = wells.column("well").to_pylist()
    analytes = wells.column("analyte_reported").to_pylist()
    current = wells.column("qc_flags").to_pylist()
    merged: list[list[str]] = []
    for pid, well, analyte, have in zip(pids, well_names, analytes, current, strict=True):
        out = list(have or [])
        for fl in flags.get((pid, well, analyte), []):
            if fl not in out:
                out.append(fl)
        merged.append(out)
    index = wells.schema.get_field_index("qc_flags")
    return wells.set_column(index, wells.schema.field(index), pa.array(merged, type=pa.list_(pa.string())))


def with_reader_facts(parsed: ParsedAssay, plates: Sequence[Plate], *, data: bytes, ctx: ParseContext) -> ParsedAssay:
    """Return ``parsed`` with the plates' reader flags, warnings and layouts added (in place).

    Plate ids derive from ``ctx.source_sha256`` or, when empty (direct calls), from the
    SHA-256 of ``data``, exactly as :func:`~immunolab.cytokine.assemble.plate_id_for` does.
    """
    from immunolab.cytokine.assemble import plate_id_for

    sid = ctx.source_sha256 or hashlib.sha256(data).hexdigest()
    plate_ids = [plate_id_for(sid, p.plate_index) for p in plates]
    if "cytokine_wells" in parsed.tables:
        parsed.tables["cytokine_wells"] = _merge_flags(parsed.tables["cytokine_wells"], plates, plate_ids)
    notes = [f"plate {p.plate_index}: {w}" for p in plates for w in p.warnings]
    parsed.warnings[:0] = [n for n in notes if n not in parsed.warnings]
    parsed.metadata.update(
        {
            "layouts": sorted({p.layout for p in plates if p.layout}),
            "software": sorted({p.software for p in plates if p.software}),
            "software_versions": sorted({p.software_version for p in plates if p.software_version}),
            "n_instrument_curves": sum(len(p.instrument_curves) for p in plates),
            "standards_repaired": sorted({a for p in plates for a in p.standards_repair}),
        }
    )
    return parsed
