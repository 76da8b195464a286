"""Parse a LEGENDplex processed concentration table (CSV) into one plate of reported concentrations.

Columns: the first column is the sample ID; ``STIM`` / ``Stimulation`` / ``Condition`` and
``TIMEPOINT`` / ``Time point`` / ``Visit`` qualify it; ``Original ID`` and ``GROUP`` are read and
ignored (identity comes from the manifest, never from the file); every other column is an
analyte (name canonicalised, e.g. ``IL-1β `` -> ``IL-1b``, ``IL-10 (B3)`` -> ``IL-10``).

Text: any encoding and delimiter :mod:`immunolab.io.delimited` reads (BOM, ``,`` / ``;`` / tab,
decimal commas with ``;``, thousands separators).

The table becomes one :class:`~immunolab.cytokine.plate.Plate` (built like every other reader's,
then :func:`~immunolab.cytokine.parsed.parsed_assay_from_plates`): one ``unknown`` row per table
row and analyte, named ``R<sample>.<repeat>`` (there are no wells), with the printed
concentration in ``reported_conc`` and the reader flag ``concentration_from_export``. The sample
reference (private ``_sample_ref``) is ``ID | STIM | TIMEPOINT`` with blanks collapsed, e.g.
``BCM 92 | Covid N | Baseline``; the manifest maps it to patient and visit. Rows sharing a
reference are replicates (``R3.1``, ``R3.2``): the concentration derivation averages them
(replicate CV by :func:`immunolab.cytokine.qc.replicate_cv`), nothing is dropped.

Cells: a number is a concentration in pg/mL; ``<x`` / ``OOR <`` below the quantification range
(flag ``below_curve``, ``x`` kept as text); ``>x`` / ``OOR >`` above it (``above_curve``);
empty, ``N/A``, ``#N/A``, ``NaN``, ``***`` -> ``not_available``. Anything else is ``IML-CYT-003``.
The ``below_rule`` / ``above_rule`` options are validated here (``IML-CYT-009``) and applied by
the derivation.
"""

from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path
from typing import Any

from immunolab.cytokine.analytes import resolve_analyte
from immunolab.cytokine.parsed import parsed_assay_from_plates
from immunolab.cytokine.plate import Plate
from immunolab.cytokine.plate_builder import plate_from_readings
from immunolab.cytokine.readings import WellReading
from immunolab.errors import InputError, MalformedInputError, UnrecognizedInputError
from immunolab.io.delimited import decode_bytes, is_missing, parse_number, read_rows
from immunolab.io.tokens import ReportedConc
from immunolab.plugins import ParseContext, ParsedAssay

__all__ = ["parse_legendplex_table", "parse_table_cell", "read_legendplex_table"]

FORMAT = "legendplex_processed_csv"
_ID = {"id", "sample", "sample id", "sample name", "sampleid", "subject", "donor"}
_STIM = {"stim", "stimulation", "condition", "treatment"}
_TIME = {"timepoint", "time point", "time", "visit", "day"}
_IGNORED = {"original id", "group", "arm", "cohort", "notes", "comment", "comments"}
_MISSING = {"--", "***"}
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_BELOW = re.compile(rf"^(?:<\s*(?P<x>{_NUM})|OOR\s*<)$", re.IGNORECASE)
_ABOVE = re.compile(rf"^(?:>\s*(?P<x>{_NUM})|OOR\s*>)$", re.IGNORECASE)
_FLAGS = {"below_lloq": "below_curve", "above_uloq": "above_curve"}


def _clean(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split()).strip().strip('"')


def _bad_cell(where: str, what: str, label: str) -> MalformedInputError:
    return MalformedInputError(
        "IML-CYT-003", f"{where} is {what}", path=label,
        hint="The table was probably edited by hand; export it again from LEGENDplex.",
    )


def parse_table_cell(text: str, *, label: str, where: str, decimal: str = ".") -> tuple[str, float | None, float | None]:
    """Return (censor, value pg/mL, printed limit) of one table cell (rules in the module doc)."""
    cell = _clean(text)
    if is_missing(cell) or cell.lower() in _MISSING:
        return "not_available", None, None
    for pattern, censor in ((_BELOW, "below_lloq"), (_ABOVE, "above_uloq")):
        m = pattern.match(cell)
        if m:
            return censor, None, float(m.group("x")) if m.group("x") else None
    try:
        value = parse_number(cell, decimal=decimal)
    except ValueError:
        raise _bad_cell(where, "neither a concentration nor a range token (<x, >x, OOR <, N/A)", label) from None
    if value is None or not math.isfinite(value) or value < 0:
        raise _bad_cell(where, "not a finite non-negative concentration", label)
    return "none", value, None


def _rows(path: Path, label: str) -> tuple[list[list[str]], str]:
    """Return (rows, decimal mark) of the table at ``path``."""
    try:
        raw = path.read_bytes()
    except OSError:
        raise UnrecognizedInputError(
            "IML-IN-001", "the file cannot be read", path=label, hint="Check that the file exists and is readable.",
        ) from None
    if not raw.strip():
        raise UnrecognizedInputError("IML-IN-005", "the file is empty", path=label, hint="Export the table again from LEGENDplex.")
    table = read_rows(decode_bytes(raw))
    return table.rows, table.decimal


def _check_rules(ctx: ParseContext) -> None:
    from immunolab.cytokine.censoring import ABOVE_RULES, BELOW_RULES

    below = str(ctx.option("below_rule", "LLOQ/2"))
    above = str(ctx.option("above_rule", "ULOQ"))
    if below not in BELOW_RULES or above not in ABOVE_RULES:
        raise InputError(
            "IML-CYT-009", f"invalid substitution rule (below_rule={below!r}, above_rule={above!r})", path=ctx.label,
            hint=f"below_rule is one of {', '.join(BELOW_RULES)}; above_rule one of {', '.join(ABOVE_RULES)}.",
        )


def _columns(header: list[str], label: str) -> tuple[list[int], list[tuple[int, str]]]:
    """Return (qualifier columns: ID, STIM, TIMEPOINT; analyte columns (index, printed name))."""
    if not header or header[0].lower() not in _ID:
        raise MalformedInputError(
            "IML-CYT-002", "the first column is not a sample ID column (ID, Sample, Sample ID)", path=label,
            hint="Export the LEGENDplex concentration table with its sample ID column first.",
        )
    stim = next((i for i, h in enumerate(header) if h.lower() in _STIM), None)
    time = next((i for i, h in enumerate(header) if h.lower() in _TIME), None)
    qualifiers = [0, *(c for c in (stim, time) if c is not None)]
    analytes = [(i, h) for i, h in enumerate(header) if i not in qualifiers and h and h.lower() not in _IGNORED]
    if not analytes:
        raise MalformedInputError(
            "IML-CYT-002", "the table has no analyte column", path=label,
            hint="Export the LEGENDplex concentration table with one column per analyte.",
        )
    canon = [resolve_analyte(h).canonical for _, h in analytes]
    if len(set(canon)) != len(canon):
        raise MalformedInputError(
            "IML-CYT-004", "two columns name the same analyte", path=label,
            hint="Keep one column per analyte in the exported table.",
        )
    return qualifiers, analytes


def _reported(text: str, censor: str, value: float | None, limit: float | None) -> ReportedConc:
    if censor == "none":
        return ReportedConc(f"{value:g}", value, None)
    if censor == "not_available":
        return ReportedConc(_clean(text) or None, None, "not_available")
    text = f"{'<' if censor == 'below_lloq' else '>'}{limit:g}" if limit is not None else censor
    return ReportedConc(text, None, _FLAGS[censor])


def _readings(rows: list[list[str]], decimal: str, label: str) -> tuple[list[WellReading], dict[str, Any]]:
    """Return one reading per table row x analyte, and counts for the metadata."""
    header = [_clean(c) for c in rows[0]] if rows else []
    qualifiers, analytes = _columns(header, label)
    readings: list[WellReading] = []
    repeats: dict[str, int] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) > len(header):
            raise MalformedInputError(
                "IML-CYT-001", f"line {line_no} has more cells than the header", path=label,
                hint="The table was probably edited by hand; export it again from LEGENDplex.",
            )
        cells = [*row, *[""] * (len(header) - len(row))]
        if not _clean(cells[0]):
            raise MalformedInputError(
                "IML-CYT-002", f"line {line_no} has values but no sample ID", path=label,
                hint="Fill the sample ID of every row, or delete rows that hold no sample.",
            )
        ref = " | ".join(_clean(cells[c]) for c in qualifiers)
        repeats[ref] = repeats.get(ref, 0) + 1
        well = f"R{list(repeats).index(ref) + 1}.{repeats[ref]}"
        for col, name in analytes:
            cell = parse_table_cell(cells[col], label=label, where=f"line {line_no} column {col + 1} ({name})", decimal=decimal)
            readings.append(WellReading(
                well=well, type_code="", sample_type="unknown", sample_name=ref, analyte_reported=name,
                signal=None, net_signal=None, reported=_reported(cells[col], *cell), qc_flags=["concentration_from_export"],
            ))
    if not readings:
        raise MalformedInputError(
            "IML-CYT-002", "the table has a header but no sample rows", path=label,
            hint="Export the table again from LEGENDplex with its samples.",
        )
    return readings, {"n_rows": sum(repeats.values()), "n_samples": len(repeats),
                      "n_repeated": sum(1 for n in repeats.values() if n > 1)}


def read_legendplex_table(path: Path, label: str) -> tuple[Plate, dict[str, Any]]:
    """Return the one plate of a LEGENDplex processed table and its row counts."""
    rows, decimal = _rows(path, label)
    readings, counts = _readings(rows, decimal, label)
    warnings = ([f"{counts['n_repeated']} sample(s) appear on several rows; read as replicates and averaged "
                 "by the concentration derivation"] if counts["n_repeated"] else [])
    plate = plate_from_readings(
        readings, plate_index=1, software="LEGENDplex (processed table)", quantitative=True, layout=FORMAT,
        warnings=warnings, facts={"content": "processed concentration table: no signals or curves"},
    )
    return plate, counts


def parse_legendplex_table(path: Path, ctx: ParseContext, *, plugin: str, version: str) -> ParsedAssay:
    """Return the ``cytokine_plates`` / ``cytokine_wells`` facts of a LEGENDplex processed table."""
    _check_rules(ctx)
    plate, counts = read_legendplex_table(path, ctx.label)
    data = path.read_bytes()
    parsed = parsed_assay_from_plates([plate], data=data, ctx=ctx, export_format=FORMAT)
    parsed.metadata.update({"plugin": plugin, "plugin_version": version, "n_rows": counts["n_rows"],
                            "n_samples": counts["n_samples"]})
    return parsed
