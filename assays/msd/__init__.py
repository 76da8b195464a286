"""MSD plugin: Discovery Workbench exports (CSV, XLSX) and MSD reader text files (MMPR).

MSD measures electrochemiluminescence (ECL): the signal goes to ``median_mfi`` and the
adjusted signal to ``net_mfi`` of ``cytokine_wells``, the spot number to ``bead_region`` (see
:mod:`immunolab_assays.msd.workbench`). Detection is content-based and shared with the
``bioplex`` plugin (:mod:`immunolab.io.sniff_spreadsheet`). Parsing lives in
:mod:`immunolab_assays.msd.parse` (imported only by :meth:`parse`).
"""

from __future__ import annotations

from pathlib import Path

from immunolab.plugins import Detection, ParseContext, ParsedAssay

__all__ = ["MsdPlugin"]


class MsdPlugin:
    """Read MSD Discovery Workbench and reader exports into cytokine plates, wells and results."""

    name = "msd"
    version = "1.0.0"
    assay_kind = "cytokine"
    file_extensions = (".csv", ".xlsx", ".xls", ".txt")
    produces = ("cytokine_plates", "cytokine_wells", "instrument_curves")

    def detect(self, head: bytes, filename: str) -> Detection | None:
        """Claim MSD Workbench CSV/XLSX and reader text exports from their first 64 KiB; never raise."""
        try:
            from immunolab.io.sniff_spreadsheet import classify_head

            verdict = classify_head(head)
        except Exception:
            return None
        if verdict is None:
            return None
        fmt, reason = verdict
        if fmt.startswith("msd_") or fmt == "ambiguous":
            return Detection(self.name, fmt, reason)
        return None

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay:
        """Parse the export at ``path`` into store tables (raises only coded input errors)."""
        from immunolab_assays.msd.parse import parse_msd

        return parse_msd(path, ctx, plugin=self.name, version=self.version)
