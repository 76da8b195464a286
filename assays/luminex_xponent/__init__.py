"""Luminex xPONENT batch CSV exports (FLEXMAP 3D, Luminex 100/200, MAGPIX) as cytokine plates.

Detection is structural: a ``Program`` row naming xPONENT (and not an INTELLIFLEX instrument,
which :mod:`immunolab_assays.luminex_intelliflex` claims), or ``DataType:`` sections with a
``Location, Sample`` header. Parsing lives in :mod:`immunolab_assays.luminex_xponent.reader`; curves,
concentrations and QC in :mod:`immunolab.cytokine.assemble`.
"""

from __future__ import annotations

from pathlib import Path

from immunolab.plugins import Detection, ParseContext, ParsedAssay, PluginOption

__all__ = ["XponentPlugin"]

PRODUCES = ("cytokine_plates", "cytokine_wells", "instrument_curves")


class XponentPlugin:
    """Assay plugin for xPONENT batch CSV exports."""

    name = "luminex_xponent"
    version = "1.0.0"
    assay_kind = "cytokine"
    file_extensions = (".csv", ".txt")
    produces = PRODUCES
    options = (
        PluginOption("accept_missing_crc", "bool", "xPONENT: read a batch export that ends without its '-- CRC --' "
                     "trailer (a file cut while copying is refused without it; recorded)."),
    )

    def detect(self, head: bytes, filename: str) -> Detection | None:
        """Claim xPONENT batch exports (never INTELLIFLEX, MSD, Bio-Plex or LEGENDplex tables)."""
        try:
            from immunolab.io.sniff_luminex import luminex_format

            kind = luminex_format(head)
        except Exception:  # detect never raises
            return None
        if kind == "xponent":
            return Detection(self.name, "xPONENT batch CSV", "Program row names xPONENT / DataType: sections")
        return None

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay:
        """Return the plate, well, curve and result tables of one xPONENT export."""
        from immunolab_assays.luminex_xponent.reader import parse_xponent_bytes

        from immunolab.cytokine.parsed import parsed_assay_from_plates

        data = Path(path).read_bytes()
        plates = parse_xponent_bytes(data, label=ctx.label, options=ctx.options)
        parsed = parsed_assay_from_plates(plates, data=data, ctx=ctx, export_format="xponent")
        return parsed
