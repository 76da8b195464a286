"""Parse an MSD export (Discovery Workbench CSV / Excel, reader text) into store tables."""

from __future__ import annotations

from pathlib import Path

from immunolab.cytokine.bioplex_sniff import XLS_MAGIC, ZIP_MAGIC, classify_head, read_export_head
from immunolab.cytokine.bioplex_tables import records_to_parsed
from immunolab.cytokine.msd_methodical import read_reader_text
from immunolab.cytokine.msd_workbench import read_workbench_csv, read_workbench_xlsx
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
        records = read_workbench_xlsx(path, ctx.label)
        fmt = "msd_xls" if head.startswith(XLS_MAGIC) else "msd_xlsx"
    elif (verdict is not None and verdict[0] == "msd_reader_text") or b"==========Data" in head:
        records = read_reader_text(path, ctx.label)
        fmt = "msd_reader_text"
    else:
        records = read_workbench_csv(path, ctx.label)
        fmt = "msd_workbench_csv"
    parsed = records_to_parsed(records, ctx, fmt=fmt, path=path)
    parsed.metadata.update({"plugin": plugin, "plugin_version": version})
    return parsed
