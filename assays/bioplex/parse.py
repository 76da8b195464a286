"""Parse a Bio-Plex Manager export (``.xls`` / ``.xlsx`` workbook or 6.x XML) into store tables."""

from __future__ import annotations

from pathlib import Path

from immunolab_assays.bioplex.workbook import read_bioplex_workbook
from immunolab_assays.bioplex.xml_export import read_bioplex_xml

from immunolab.cytokine.parsed import parsed_assay_from_plates
from immunolab.errors import MalformedInputError
from immunolab.io.sniff_spreadsheet import XLS_MAGIC, ZIP_MAGIC, classify_head, read_export_head
from immunolab.plugins import ParseContext, ParsedAssay

__all__ = ["parse_bioplex"]


def parse_bioplex(path: Path, ctx: ParseContext, *, plugin: str, version: str) -> ParsedAssay:
    """Return the tables of the Bio-Plex export at ``path`` (also when forced with ``--assay``).

    The container decides the reader (OLE2 / zip -> workbook, ``<`` -> XML), not the name.
    """
    head = read_export_head(path, ctx.label, software="Bio-Plex Manager")
    verdict = classify_head(head)
    if head.startswith((XLS_MAGIC, ZIP_MAGIC)):
        plates = read_bioplex_workbook(path, ctx.label)
        fmt = verdict[0] if verdict and verdict[0].startswith("bioplex_") else ("bioplex_xls" if head.startswith(XLS_MAGIC) else "bioplex_xlsx")
    elif head.lstrip()[:1] == b"<" or head.startswith(b"\xef\xbb\xbf<"):
        plates = [read_bioplex_xml(path, ctx.label)]
        fmt = "bioplex_xml"
    else:
        raise MalformedInputError(
            "IML-CYT-001", "the file is neither an Excel workbook nor an XML document", path=ctx.label,
            hint="Bio-Plex Manager exports are .xls / .xlsx workbooks or XML; choose another --assay.",
        )
    data = path.read_bytes()
    parsed = parsed_assay_from_plates(plates, data=data, ctx=ctx, export_format=fmt)
    parsed.metadata.update({"plugin": plugin, "plugin_version": version})
    return parsed
