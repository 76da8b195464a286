"""Build a plugin's :class:`~immunolab.plugins.ParsedAssay` from parsed plates (all plate plugins).

Usage inside a plugin's ``parse``::

    data = path.read_bytes()
    plates = parse_xponent_bytes(data, label=ctx.label, options=ctx.options)
    return parsed_assay_from_plates(plates, data=data, ctx=ctx, export_format="xponent")

It reads the analysis options (:class:`~immunolab.cytokine.assemble.PlateSettings`; a bad value
is ``IML-CYT-009``), enforces ``require_known_analytes`` (``IML-CYT-008``), computes curves,
concentrations and QC, and returns the four tables with PHI-free metadata and warnings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from immunolab.cytokine.assemble import PlateSettings, plate_tables
from immunolab.cytokine.plate import Plate
from immunolab.errors import InputError
from immunolab.plugins import ParseContext, ParsedAssay

__all__ = ["parsed_assay_from_plates", "settings_from_context"]


def settings_from_context(ctx: ParseContext) -> PlateSettings:
    """Return the plate analysis settings of ``ctx.options`` or raise IML-CYT-009."""
    try:
        return PlateSettings.from_options(ctx.options)
    except (ValueError, TypeError) as exc:
        raise InputError(
            "IML-CYT-009", f"invalid plate analysis option: {exc}", path=ctx.label,
            hint="Fix the option (see `immunolab ingest --help`) and run again.",
        ) from None


def parsed_assay_from_plates(plates: Sequence[Plate], *, data: bytes, ctx: ParseContext, export_format: str) -> ParsedAssay:
    """Return the :class:`ParsedAssay` (four cytokine tables) of the plates of one file."""
    settings = settings_from_context(ctx)
    if ctx.option("require_known_analytes", False):
        for plate in plates:
            unknown = sorted(set(plate.wells.loc[~plate.wells["analyte_known"].astype(bool), "analyte_reported"]))
            if unknown:
                raise InputError(
                    "IML-CYT-008", f"plate {plate.plate_index} names analytes with no canonical mapping: {', '.join(unknown)}",
                    path=ctx.label,
                    hint="Rename them in the instrument protocol, or ingest without --require-known-analytes.",
                )
    source_id = ctx.source_sha256 or hashlib.sha256(data).hexdigest()
    tables, warnings, analyses = plate_tables(
        plates, label=ctx.label, source_id=source_id, study_day=ctx.study_day, settings=settings,
    )
    analytes = sorted({a for p in plates for a in p.wells["analyte"].unique()})
    metadata = {
        "format": export_format,
        "n_plates": len(plates),
        "n_wells": int(sum(p.wells["well"].nunique() for p in plates)),
        "analytes": analytes,
        "qc_status": [a.status for a in analyses],
        "n_results": tables["cytokine_results"].num_rows,
    }
    return ParsedAssay(tables=tables, metadata=metadata, warnings=warnings)
