"""Parse an MSD export (Discovery Workbench CSV / Excel, reader text) into store tables."""

from __future__ import annotations

from pathlib import Path

from immunolab_assays.msd.methodical import read_reader_text
from immunolab_assays.msd.workbench import read_workbench_csv, read_workbench_xlsx

from immunolab.cytokine.parsed import parsed_assay_from_plates
from immunolab.io.sniff_spreadsheet import XLS_MAGIC, ZIP_MAGIC, classify_head, read_export_head
from immunolab.plugins import ParseContext, ParsedAssay

__all__ = ["parse_msd"]


def parse_msd(path: Path, ctx: ParseContext, *, plugin: str, version: str) -> ParsedAssay:
    """Return the tables of the MSD export at ``path`` (also when forced with ``--assay``).

    Spreadsheets go to the Workbench table reader; text with a ``==========Data`` banner to
    the reader-text parser; any other text to the Workbench CSV reader.
    """
    head = read_export_head(path, ctx.label, software="the MSD software")
    verdict = classify_head(head)
    if head.startswith((XLS_MAGIC, ZIP_MAGIC)):
        plates = read_workbench_xlsx(path, ctx.label)
        fmt = "msd_xls" if head.startswith(XLS_MAGIC) else "msd_xlsx"
    elif (verdict is not None and verdict[0] == "msd_reader_text") or b"==========Data" in head:
        plates = read_reader_text(path, ctx.label)
        fmt = "msd_reader_text"
    else:
        plates = read_workbench_csv(path, ctx.label)
        fmt = "msd_workbench_csv"
    data = path.read_bytes()
    parsed = parsed_assay_from_plates(plates, data=data, ctx=ctx, export_format=fmt)
    parsed.metadata.update({"plugin": plugin, "plugin_version": version})
    return parsed
