"""Turn Bio-Plex / MSD plate records into the plugin output: store tables, metadata, warnings.

Both the ``bioplex`` and the ``msd`` plugins end here. The records become the shared
:class:`~immunolab.cytokine.plate.Plate` (:mod:`immunolab.cytokine.bioplex_plate`) and go
through :func:`immunolab.cytokine.assemble.plate_tables`, which computes net MFI, refits the
standard curves (source ``immunolab``) beside the printed ones (source ``instrument``),
back-calculates, censors and runs QC exactly as for xPONENT. The reader's own well flags
(``outlier``, Bio-Plex sampling errors, ``replicate_mean`` ...) are then added to
``cytokine_wells.qc_flags``.

Metadata is PHI-free by construction: counts, formats, layouts, canonical analyte names and
software versions; never sample names, file paths, users or dates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from immunolab.cytokine.bioplex_plate import record_qc_flags, record_to_plate
from immunolab.cytokine.bioplex_records import PlateRecord
from immunolab.errors import InputError
from immunolab.plugins import ParseContext, ParsedAssay

__all__ = ["records_to_parsed"]


def _settings(ctx: ParseContext) -> Any:
    from immunolab.cytokine.assemble import PlateSettings

    try:
        return PlateSettings.from_options(ctx.options)
    except (ValueError, TypeError) as exc:
        raise InputError(
            "IML-CYT-009", f"invalid plate analysis option: {exc}", path=ctx.label,
            hint="Use curve_model 5PL/4PL, curve_weighting 1/y^2, 1/y, none, 1/x or 1/x^2, "
            "curve_source immunolab/instrument, below_rule LLOQ/2, LLOQ/sqrt2, LLOQ, zero or none, "
            "above_rule ULOQ or none.",
        ) from None


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


def records_to_parsed(
    records: list[PlateRecord], ctx: ParseContext, *, fmt: str, path: Path, source_id: str | None = None
) -> ParsedAssay:
    """Return the :class:`ParsedAssay` of the plates read from one export.

    ``fmt`` names the recognised format (``bioplex_xls`` ...); ``source_id`` defaults to
    ``ctx.source_sha256`` and, when that is empty (tests, direct calls), to the SHA-256 of the
    file, so plate ids are always derived from the file's bytes.
    """
    from immunolab.cytokine.assemble import plate_id_for, plate_tables

    settings = _settings(ctx)
    sid = source_id or ctx.source_sha256
    if not sid:
        import hashlib

        sid = hashlib.sha256(path.read_bytes()).hexdigest()
    plates = [record_to_plate(r) for r in records]
    tables, warnings, analyses = plate_tables(
        plates, label=ctx.label, source_id=sid, study_day=ctx.study_day, settings=settings
    )
    plate_ids = [plate_id_for(sid, p.plate_index) for p in plates]
    tables["cytokine_wells"] = _merge_reader_flags(tables["cytokine_wells"], records, plate_ids)
    notes: list[str] = []
    for r in records:
        notes.extend(f"plate {r.plate_index + 1}: {w}" for w in r.warnings)
    metadata: dict[str, Any] = {
        "format": fmt,
        "layouts": sorted({r.layout for r in records}),
        "software": sorted({r.software for r in records}),
        "software_versions": sorted({r.software_version for r in records if r.software_version}),
        "n_plates": len(records),
        "n_wells": sum(len(r.wells) for r in records),
        "n_readings": sum(len(r.readings) for r in records),
        "analytes": sorted({str(a) for p in plates for a in p.wells["analyte"].unique()}),
        "plate_qc": [a.status for a in analyses],
        "n_instrument_curves": sum(len(p.instrument_curves) for p in plates),
    }
    return ParsedAssay(tables=tables, metadata=metadata, warnings=notes + warnings)
