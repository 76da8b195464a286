"""Turn Bio-Plex / MSD plate records into the plugin output: store tables, metadata, warnings.

Both the ``bioplex`` and the ``msd`` plugins end here. The records become the shared
:class:`~immunolab.cytokine.plate.Plate` (:mod:`immunolab.cytokine.bioplex_plate`) and go
through :func:`immunolab.cytokine.parsed.parsed_assay_from_plates` (options, IML-CYT-008/-009)
(the plate facts, printed curves included). The reader's own well flags (``outlier``,
Bio-Plex sampling errors, ``replicate_mean`` ...) are facts too: ``cytokine_wells.reader_flags``.

Metadata is PHI-free by construction: counts, formats, layouts, canonical analyte names and
software versions; never sample names, file paths, users or dates.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from immunolab.cytokine.bioplex_plate import record_qc_flags, record_to_plate
from immunolab.cytokine.bioplex_records import PlateRecord
from immunolab.plugins import ParseContext, ParsedAssay

__all__ = ["records_to_parsed"]


def _merge_reader_flags(wells: pa.Table, records: list[PlateRecord], plate_ids: list[str]) -> pa.Table:
    flags: dict[tuple[str, str, str], list[str]] = {}
    for record, pid in zip(records, plate_ids, strict=True):
        for (well, analyte), extra in record_qc_flags(record).items():
            flags[(pid, well, analyte)] = extra
    if not flags:
        return wells
    pids = wells.column("plate_id").to_pylist()
    well_names = wells.column("well").to_pylist()
    analytes = wells.column("analyte_reported").to_pylist()
    current = wells.column("reader_flags").to_pylist()
    merged: list[list[str]] = []
    for pid, well, analyte, have in zip(pids, well_names, analytes, current, strict=True):
        out = list(have or [])
        for fl in flags.get((pid, well, analyte), []):
            if fl not in out:
                out.append(fl)
        merged.append(out)
    index = wells.schema.get_field_index("reader_flags")
    return wells.set_column(index, wells.schema.field(index), pa.array(merged, type=pa.list_(pa.string())))


def records_to_parsed(records: list[PlateRecord], ctx: ParseContext, *, fmt: str, path: Path) -> ParsedAssay:
    """Return the :class:`ParsedAssay` of the plates read from one export.

    ``fmt`` names the recognised format (``bioplex_xls`` ...). Analysis options, the
    ``require_known_analytes`` check (IML-CYT-008) and the tables come from the shared
    :func:`immunolab.cytokine.parsed.parsed_assay_from_plates`; plate ids derive from
    ``ctx.source_sha256`` or, when that is empty (direct calls), from the file's SHA-256.
    """
    import hashlib

    from immunolab.cytokine.facts import plate_id_for
    from immunolab.cytokine.parsed import parsed_assay_from_plates

    data = path.read_bytes()
    plates = [record_to_plate(r) for r in records]
    parsed = parsed_assay_from_plates(plates, data=data, ctx=ctx, export_format=fmt)
    sid = ctx.source_sha256 or hashlib.sha256(data).hexdigest()
    plate_ids = [plate_id_for(sid, p.plate_index) for p in plates]
    parsed.tables["cytokine_wells"] = _merge_reader_flags(parsed.tables["cytokine_wells"], records, plate_ids)
    notes: list[str] = []
    for r in records:
        notes.extend(f"plate {r.plate_index + 1}: {w}" for w in r.warnings)
    parsed.warnings[:0] = notes
    parsed.metadata.update(
        {
            "layouts": sorted({r.layout for r in records}),
            "software": sorted({r.software for r in records}),
            "software_versions": sorted({r.software_version for r in records if r.software_version}),
            "n_readings": sum(len(r.readings) for r in records),
            "n_instrument_curves": sum(len(p.instrument_curves) for p in plates),
        }
    )
    return parsed
