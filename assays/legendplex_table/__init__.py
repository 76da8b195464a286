"""LEGENDplex processed-table plugin: the concentration table exported by LEGENDplex analysis software.

The file is a CSV with one row per sample (and stimulation / time point) and one column per
analyte holding concentrations (pg/mL); it may start with a UTF-8 BOM and use Greek letters
and trailing blanks in its headers (``IL-1β ``, ``TNF-α ``). There are no wells, signals or
curves: the plugin writes ``cytokine_plates`` (one row) and ``cytokine_results``.

Detection: a delimited text whose first line names a sample-ID column and at least three
known cytokines (:mod:`immunolab.cytokine.analytes`), and that is neither an xPONENT /
INTELLIFLEX export (``Program``, ``DataType:``, ``WELL LOCATION``) nor an MSD Workbench table
(``Assay`` / ``Spot`` columns). Parsing lives in :mod:`immunolab_assays.legendplex_table.parse`.
"""

from __future__ import annotations

import re
from pathlib import Path

from immunolab.plugins import Detection, ParseContext, ParsedAssay

__all__ = ["LegendplexTablePlugin", "looks_like_legendplex_table"]

_ID_COLUMNS = {"id", "sample", "sample id", "sample name", "sampleid", "subject", "donor"}
_FOREIGN = ("program", "datatype:", "well location", "well", "location", "assay", "spot", "signal")


def _first_line(head: bytes) -> str | None:
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if b"\x00" in head[:4096]:
        return None  # binary (FCS, OLE2, zip) or UTF-16
    text = head[:16384].decode("utf-8", "replace")
    for line in text.splitlines():
        if line.strip():
            return line
    return None


def looks_like_legendplex_table(head: bytes) -> bool:
    """Return True when ``head`` starts like a LEGENDplex processed concentration table."""
    line = _first_line(head)
    if line is None:
        return False
    delimiter = max((",", ";", "\t"), key=line.count)
    cells = [re.sub(r"\s+", " ", c).strip().strip('"').strip() for c in line.split(delimiter)]
    lowered = [c.lower() for c in cells]
    if not cells or lowered[0] not in _ID_COLUMNS:
        return False
    if any(c in _FOREIGN or c.startswith(("program", "datatype")) for c in lowered):
        return False
    from immunolab.cytokine.analytes import is_known_analyte

    return sum(1 for c in cells[1:] if c and is_known_analyte(c)) >= 3


class LegendplexTablePlugin:
    """Read LEGENDplex processed concentration tables into cytokine results."""

    name = "legendplex_table"
    version = "1.0.0"
    assay_kind = "cytokine"
    file_extensions = (".csv", ".txt")
    produces = ("cytokine_plates", "cytokine_wells")

    def detect(self, head: bytes, filename: str) -> Detection | None:
        """Claim LEGENDplex processed tables from their header line; never raise."""
        try:
            if looks_like_legendplex_table(head):
                return Detection(self.name, "legendplex_processed_csv", "sample-ID column and cytokine columns")
        except Exception:
            return None
        return None

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay:
        """Parse the table at ``path`` into store tables (raises only coded input errors)."""
        from immunolab_assays.legendplex_table.parse import parse_legendplex_table

        return parse_legendplex_table(path, ctx, plugin=self.name, version=self.version)
