"""Bio-Plex Manager plugin: Excel exports (``.xls`` / ``.xlsx``, one sheet per analyte) and 6.x XML.

Detection is content-based (never the file name): OLE2 / zip magic plus Bio-Plex markers, or
the XML root ``BioPlexManager``; see :mod:`immunolab.io.sniff_spreadsheet` for the exact rules
shared with the ``msd`` plugin so that exactly one of the two claims a spreadsheet.
Parsing lives in :mod:`immunolab_assays.bioplex.parse` (imported only by :meth:`parse`).
"""

from __future__ import annotations

from pathlib import Path

from immunolab.plugins import Detection, ParseContext, ParsedAssay

__all__ = ["BioplexPlugin"]


class BioplexPlugin:
    """Read Bio-Plex Manager 4.x-6.x exports into cytokine plates, wells, curves and results."""

    name = "bioplex"
    version = "1.0.0"
    assay_kind = "cytokine"
    file_extensions = (".xls", ".xlsx", ".xml")
    produces = ("cytokine_plates", "cytokine_wells", "instrument_curves")

    def detect(self, head: bytes, filename: str) -> Detection | None:
        """Claim Bio-Plex Manager Excel and XML exports from their first 64 KiB; never raise."""
        try:
            from immunolab.io.sniff_spreadsheet import classify_head

            verdict = classify_head(head)
        except Exception:
            return None
        if verdict is None:
            return None
        fmt, reason = verdict
        if fmt.startswith("bioplex_") or fmt == "ambiguous":
            return Detection(self.name, fmt, reason)
        return None

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay:
        """Parse the export at ``path`` into store tables (raises only coded input errors)."""
        from immunolab_assays.bioplex.parse import parse_bioplex

        return parse_bioplex(path, ctx, plugin=self.name, version=self.version)
