"""Parse a LEGENDplex processed concentration table (CSV) into ``cytokine_plates`` and ``cytokine_results``.

Columns: the first column is the sample ID; ``STIM`` / ``Stimulation`` / ``Condition`` and
``TIMEPOINT`` / ``Time point`` / ``Visit`` qualify it; ``Original ID`` and ``GROUP`` are read and
ignored (identity comes from the manifest, never from the file); every other column is an
analyte (name canonicalised, e.g. ``IL-1β `` -> ``IL-1b``, ``IL-10 (B3)`` -> ``IL-10``).

Sample reference (private ``_sample_ref``): ``ID | STIM | TIMEPOINT`` with blanks collapsed,
e.g. ``BCM 92 | Covid N | Baseline``; the manifest maps it to patient and visit. Rows sharing a
reference are replicates: their mean is stored with ``n_replicates``, the CV and the QC flag
``duplicate_rows_averaged`` (nothing is dropped).

Cells: a number is a concentration in pg/mL (censor ``none``); ``<x`` / ``OOR <`` below the
quantification range (censor ``below_lloq``, LLOQ = x when printed, substituted by the
``below_rule`` option, default LLOQ/2); ``>x`` / ``OOR >`` above it (``above_uloq``, ULOQ);
empty, ``N/A``, ``#N/A``, ``NaN`` -> ``not_available``. Anything else is ``IML-CYT-003``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

import pyarrow as pa

from immunolab.cytokine.analytes import resolve_analyte
from immunolab.errors import InputError, MalformedInputError, UnrecognizedInputError
from immunolab.plugins import SAMPLE_REF, ParseContext, ParsedAssay

__all__ = ["parse_legendplex_table", "parse_table_cell"]

_STIM = {"stim", "stimulation", "condition", "treatment"}
_TIME = {"timepoint", "time point", "time", "visit", "day"}
_IGNORED = {"original id", "group", "arm", "cohort", "notes", "comment", "comments"}
_MISSING = {"", "n/a", "#n/a", "na", "nan", "-", "--", "***"}
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_BELOW = re.compile(rf"^(?:<\s*(?P<x>{_NUM})|OOR\s*<)$", re.IGNORECASE)
_ABOVE = re.compile(rf"^(?:>\s*(?P<x>{_NUM})|OOR\s*>)$", re.IGNORECASE)
_PLAIN = re.compile(rf"^{_NUM}$")


def _clean(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split()).strip().strip('"')


def parse_table_cell(text: str, *, label: str, where: str) -> tuple[str, float | None, float | None]:
    """Return (censor, value pg/mL, printed limit) of one table cell (rules in the module doc)."""
    cell = _clean(text)
    if cell.lower() in _MISSING:
        return "not_available", None, None
    if _PLAIN.match(cell.replace(",", "")) and cell.count(",") <= 1 and (("," not in cell) or "." in cell):
        value = float(cell.replace(",", ""))
        if not math.isfinite(value) or value < 0:
            raise MalformedInputError(
                "IML-CYT-003", f"{where} is not a finite non-negative concentration", path=label,
                hint="The table was probably edited by hand; export it again from LEGENDplex.",
            )
        return "none", value, None
    for pattern, censor in ((_BELOW, "below_lloq"), (_ABOVE, "above_uloq")):
        m = pattern.match(cell)
        if m:
            limit = float(m.group("x")) if m.group("x") else None
            return censor, None, limit
    raise MalformedInputError(
        "IML-CYT-003", f"{where} is neither a concentration nor a range token (<x, >x, OOR <, N/A)",
        path=label, hint="The table was probably edited by hand; export it again from LEGENDplex.",
    )


def _read_rows(path: Path, label: str) -> list[list[str]]:
    try:
        raw = path.read_bytes()
    except OSError:
        raise UnrecognizedInputError(
            "IML-IN-001", "the file cannot be read", path=label, hint="Check that the file exists and is readable.",
        ) from None
    if not raw.strip():
        raise UnrecognizedInputError(
            "IML-IN-005", "the file is empty", path=label, hint="Export the table again from LEGENDplex.",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delimiter = max((",", ";", "\t"), key=first.count)
    try:
        return [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error:
        raise MalformedInputError(
            "IML-CYT-001", "the table cannot be read as delimited text", path=label,
            hint="Export the table again from LEGENDplex as CSV.",
        ) from None


def _settings(ctx: ParseContext) -> tuple[str, str]:
    from immunolab.cytokine.censoring import ABOVE_RULES, BELOW_RULES

    below = str(ctx.option("below_rule", "LLOQ/2"))
    above = str(ctx.option("above_rule", "ULOQ"))
    if below not in BELOW_RULES or above not in ABOVE_RULES:
        raise InputError(
            "IML-CYT-009", f"invalid substitution rule (below_rule={below!r}, above_rule={above!r})", path=ctx.label,
            hint=f"below_rule is one of {', '.join(BELOW_RULES)}; above_rule one of {', '.join(ABOVE_RULES)}.",
        )
    return below, above


def _table(name: str, records: list[dict[str, Any]], extra: tuple[str, ...] = ()) -> pa.Table:
    from immunolab.schema import fact_schema

    fields = list(fact_schema(name))
    arrays = [pa.array([r.get(f.name) for r in records], type=f.type) for f in fields]
    names = [f.name for f in fields]
    for col in extra:
        arrays.append(pa.array([r.get(col) for r in records], type=pa.string()))
        names.append(col)
    return pa.Table.from_arrays(arrays, names=names)


def parse_legendplex_table(path: Path, ctx: ParseContext, *, plugin: str, version: str) -> ParsedAssay:
    """Return the plate and result tables of a LEGENDplex processed table at ``path``."""
    label = ctx.label
    below_rule, above_rule = _settings(ctx)
    rows = _read_rows(path, label)
    header = [_clean(c) for c in rows[0]]
    if not header or header[0].lower() not in {"id", "sample", "sample id", "sample name", "sampleid", "subject", "donor"}:
        raise MalformedInputError(
            "IML-CYT-002", "the first column is not a sample ID column (ID, Sample, Sample ID)", path=label,
            hint="Export the LEGENDplex concentration table with its sample ID column first.",
        )
    stim_col = next((i for i, h in enumerate(header) if h.lower() in _STIM), None)
    time_col = next((i for i, h in enumerate(header) if h.lower() in _TIME), None)
    analyte_cols: list[tuple[int, str, str, int | None, bool]] = []
    for i, h in enumerate(header):
        if i == 0 or i in (stim_col, time_col) or h.lower() in _IGNORED or not h:
            continue
        match = resolve_analyte(h)
        analyte_cols.append((i, h, match.canonical, match.bead_region, match.known))
    if not analyte_cols:
        raise MalformedInputError(
            "IML-CYT-002", "the table has no analyte column", path=label,
            hint="Export the LEGENDplex concentration table with one column per analyte.",
        )
    canon = [c[2] for c in analyte_cols]
    if len(set(canon)) != len(canon):
        raise MalformedInputError(
            "IML-CYT-004", "two columns name the same analyte", path=label,
            hint="Keep one column per analyte in the exported table.",
        )
    groups: dict[tuple[str, str], list[tuple[str, float | None, float | None]]] = {}
    order: list[str] = []
    n_rows = 0
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) > len(header) and any(c.strip() for c in row[len(header):]):
            raise MalformedInputError(
                "IML-CYT-001", f"line {line_no} has more cells than the header", path=label,
                hint="The table was probably edited by hand; export it again from LEGENDplex.",
            )
        cells = [*row, *[""] * (len(header) - len(row))]
        sample = _clean(cells[0])
        if not sample:
            raise MalformedInputError(
                "IML-CYT-002", f"line {line_no} has values but no sample ID", path=label,
                hint="Fill the sample ID of every row, or delete rows that hold no sample.",
            )
        parts = [sample] + [_clean(cells[c]) for c in (stim_col, time_col) if c is not None]
        ref = " | ".join(parts)
        if ref not in order:
            order.append(ref)
        n_rows += 1
        for col, name, analyte, _region, _known in analyte_cols:
            where = f"line {line_no} column {col + 1} ({name})"
            groups.setdefault((ref, analyte), []).append(parse_table_cell(cells[col], label=label, where=where))
    if not n_rows:
        raise MalformedInputError(
            "IML-CYT-002", "the table has a header but no sample rows", path=label,
            hint="Export the table again from LEGENDplex with its samples.",
        )
    sid = ctx.source_sha256 or hashlib.sha256(path.read_bytes()).hexdigest()
    plate_id = f"{sid[:16]}-p1"
    known = {c[2]: c[4] for c in analyte_cols}
    reported = {c[2]: c[1] for c in analyte_cols}
    wells: list[dict[str, Any]] = []
    n_duplicated = 0
    for i, ref in enumerate(order, start=1):
        for analyte in canon:
            for j, (censor, value, limit) in enumerate(groups[(ref, analyte)], start=1):
                text = None if censor == "none" else (f"<{limit:g}" if censor == "below_lloq" and limit is not None
                                                      else f">{limit:g}" if limit is not None else censor)
                flag = {"below_lloq": "below_curve", "above_uloq": "above_curve"}.get(censor)
                wells.append({
                    "plate_id": plate_id, "well": f"R{i}.{j}", "location": None, "sample_type": "unknown",
                    "analyte": analyte, "analyte_reported": reported[analyte], "analyte_known": known[analyte],
                    "reported_conc": value, "reported_conc_text": text if text else (None if value is None else f"{value:g}"),
                    "reported_flag": flag if value is None and censor != "not_available" else (
                        "not_available" if value is None else None),
                    "reader_flags": ["concentration_from_export"], SAMPLE_REF: ref,
                })
        n_duplicated += int(any(len(groups[(ref, a)]) > 1 for a in canon))
    plate = {
        "plate_id": plate_id, "plate_index": 1, "export_format": "legendplex_processed_csv",
        "software": "LEGENDplex (processed table)", "n_wells": len(order), "n_analytes": len(canon),
        "quantitative": True, "notes": ["processed concentration table: no signals or curves"],
    }
    del below_rule, above_rule
    warnings = []
    if n_duplicated:
        warnings.append(f"{n_duplicated} sample(s) appear on several rows; their values are averaged")
    tables = {
        "cytokine_plates": _table("cytokine_plates", [plate]),
        "cytokine_wells": _table("cytokine_wells", wells, extra=(SAMPLE_REF,)),
    }
    metadata = {
        "format": "legendplex_processed_csv", "plugin": plugin, "plugin_version": version,
        "n_rows": n_rows, "n_samples": len(order), "analytes": sorted(canon),
    }
    return ParsedAssay(tables=tables, metadata=metadata, warnings=warnings)
