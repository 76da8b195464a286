"""Luminex INTELLIFLEX exports: the xPONENT-style batch CSV and the flat v2.x CSV.

Detection is structural: an xPONENT ``Program`` row naming an Intelliflex instrument, or a
flat header with ``WELL LOCATION`` and ``R<region>: RP<n> ...`` columns. Parsing lives in
:mod:`immunolab_assays.luminex_xponent.reader` and :mod:`immunolab_assays.luminex_intelliflex.flat`.
"""

from __future__ import annotations

from pathlib import Path

from immunolab.plugins import Detection, ParseContext, ParsedAssay

__all__ = ["IntelliflexPlugin"]

PRODUCES = ("cytokine_plates", "cytokine_wells", "instrument_curves")


class IntelliflexPlugin:
    """Assay plugin for INTELLIFLEX exports (xPONENT-style and flat CSV)."""

    name = "luminex_intelliflex"
    version = "1.0.0"
    assay_kind = "cytokine"
    file_extensions = (".csv",)
    produces = PRODUCES

    def detect(self, head: bytes, filename: str) -> Detection | None:
        """Claim INTELLIFLEX exports only."""
        try:
            from immunolab.io.sniff_luminex import luminex_format

            kind = luminex_format(head)
        except Exception:  # detect never raises
            return None
        if kind == "intelliflex_xponent":
            return Detection(self.name, "INTELLIFLEX xPONENT-style CSV", "Program row names an Intelliflex")
        if kind == "intelliflex_flat":
            return Detection(self.name, "INTELLIFLEX flat CSV", "WELL LOCATION and R<n>: RP<n> columns")
        return None

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay:
        """Return the plate, well, curve and result tables of one INTELLIFLEX export."""
        from immunolab.cytokine.parsed import parsed_assay_from_plates
        from immunolab.io.sniff_luminex import luminex_format

        data = Path(path).read_bytes()
        kind = luminex_format(data[: 64 * 1024])
        if kind == "intelliflex_flat":
            from immunolab_assays.luminex_intelliflex.flat import parse_intelliflex_flat_bytes

            plates = parse_intelliflex_flat_bytes(data, label=ctx.label, options=ctx.options)
        else:
            from immunolab_assays.luminex_xponent.reader import parse_xponent_bytes

            plates = parse_xponent_bytes(data, label=ctx.label, options=ctx.options)
        parsed = parsed_assay_from_plates(plates, data=data, ctx=ctx, export_format=kind or "intelliflex")
        return parsed
