"""Read MSD Discovery Workbench exports (CSV, and XLSX with a Workbench sheet) into plates.

Two table layouts, both seen in real exports:

``Plate_<barcode>`` blocks
    a line ``Plate_<barcode>`` then a header naming at least ``Sample``, ``Assay``, ``Well``,
    ``Spot`` and ``Signal``, then one row per well x spot; one block per plate.
Experiment Data Table
    one header with a ``Plate Name`` column (``Plate_1LK05A1071``) before ``Sample``; the rows
    of every plate of the experiment follow in one table, each naming its plate. Rows are
    grouped into plates by that column, in the order the plates first appear.

Optional columns: ``Dilution``, ``Concentration`` (the calibrator's expected concentration, or
a control's known one), ``Adjusted Signal``, ``Detection Range``, ``Calc. Concentration`` and
the means / CVs / recoveries that immunolab recomputes instead of storing (columns it does
not know are ignored by name, never by position).

Mapping onto immunolab's well records (MSD measures electrochemiluminescence, not bead
fluorescence; the columns keep their role):

==========================  ==============================================================
``median_mfi``              ``Signal`` (ECL counts of the spot)
``net_mfi``                 ``Adjusted Signal`` (blank/background-adjusted signal)
``bead_region``             ``Spot`` (the electrode of the analyte in the well)
``bead_count``              empty (no beads)
``expected_conc``           ``Concentration`` (calibrators and controls)
``reported_conc*``          ``Calc. Concentration`` with the flag from ``Detection Range``
==========================  ==============================================================

Sample roles: :mod:`immunolab_assays.msd.workbench_rows`. The calibrators' concentrations are
checked to form a dilution series (:mod:`immunolab.cytokine.standards`, ``IML-CYT-010``).

Completeness (:func:`_check_complete`): on one plate every assay lists the same non-calibrator
wells and the plates repeat the same assays, so a file cut inside a plate is refused
(``IML-CYT-001``, "truncated"), as is a CSV whose last line is cut or whose last replicates no
longer average to their printed ``Mean``; the same gap before the end of the file is the warning
``IML-CYT-012``. A cut exactly between two plates, or between two replicate groups of a file's
only assay section, leaves a well-formed export of fewer wells and cannot be told from one.

Detection-range flags: ``Above Fit Curve Range`` -> ``OOR>``, ``Below Fit Curve Range`` ->
``OOR<`` (Workbench prints no concentration there), ``Above/Below Detection Range`` ->
``above_detection_range`` / ``below_detection_range`` (value kept), ``NaN`` without a range ->
``not_available``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from immunolab_assays.msd.workbench_rows import (
    DETECTION_RANGE_FLAGS,
    msd_sample_type,
    plate_readings,
)

from immunolab.cytokine.plate import Plate
from immunolab.cytokine.plate_builder import plate_from_readings
from immunolab.cytokine.readings import WellReading
from immunolab.errors import MalformedInputError
from immunolab.io.delimited import decode_bytes, parse_number, read_rows
from immunolab.io.tokens import cell_number, cell_text
from immunolab.io.workbook import read_workbook

__all__ = [
    "DETECTION_RANGE_FLAGS",
    "msd_sample_type",
    "parse_msd_date",
    "read_workbench_csv",
    "read_workbench_xlsx",
]

SOFTWARE = "MSD Discovery Workbench"
_REQUIRED = ("sample", "assay", "well", "spot", "signal")
_COLUMNS = {
    "plate name": "plate_name",
    "sample": "sample",
    "assay": "assay",
    "well": "well",
    "spot": "spot",
    "dilution": "dilution",
    "concentration": "concentration",
    "signal": "signal",
    "adjusted signal": "adjusted_signal",
    "detection range": "detection_range",
    "calc. concentration": "calc_conc",
    "calc concentration": "calc_conc",
    "sample type": "sample_type",
    "mean": "signal_mean",
}
#: Workbench columns immunolab recomputes or does not need (read by name, never stored)
_DERIVED = {"mean", "adj. sig. mean", "cv", "% recovery", "% recovery mean", "calc. conc. mean", "calc. conc. cv",
            "fit statistic: rsquared", "std dev", "% cv"}
_Block = tuple[str | None, dict[str, int], list[tuple[int, Sequence[Any]]]]
#: warning code of a plate whose assays do not all cover the same wells (not at the end of the file)
INCOMPLETE_CODE = "IML-CYT-012"


def _unknown_columns(rows: Sequence[Sequence[Any]]) -> list[str]:
    """Return the names of header columns that are neither read nor known to be derived."""
    out: list[str] = []
    for row in rows:
        names = [_norm(c) for c in row]
        if set(_REQUIRED) <= set(names):
            out += [n for n in names if n and n not in _COLUMNS and n not in _DERIVED and n not in out]
    return out


def _norm(text: Any) -> str:
    return " ".join(str(text).split()).lower() if text is not None else ""


def _columns(names: list[str]) -> dict[str, int]:
    cols: dict[str, int] = {}
    for j, n in enumerate(names):
        key = _COLUMNS.get(n)
        if key and key not in cols:
            cols[key] = j
    return cols


def _blocks(rows: Sequence[Sequence[Any]]) -> Iterable[_Block]:
    """Yield (plate barcode, column map, data rows with their 1-based line numbers)."""
    barcode: str | None = None
    cols: dict[str, int] | None = None
    data: list[tuple[int, Sequence[Any]]] = []
    for i, row in enumerate(rows):
        cells = [c for c in row if cell_text(c) is not None]
        first = cell_text(row[0]) if row else None
        names = [_norm(c) for c in row]
        if set(_REQUIRED) <= set(names):
            if cols is not None:
                yield barcode, cols, data
            cols, data = _columns(names), []
            continue
        others = [c for c in cells[1:] if not str(c).startswith("Unnamed: ")]  # pandas artefacts
        if first and first.lower().startswith("plate_") and not others:
            if cols is not None:
                yield barcode, cols, data
                cols, data = None, []
            barcode = first[len("plate_"):].strip() or None
            continue
        if cells and cols is not None:
            data.append((i + 1, row))
    if cols is not None:
        yield barcode, cols, data


def _by_plate_name(block: _Block) -> list[_Block]:
    """Return the block split by its ``Plate Name`` column (one block per plate, in order)."""
    barcode, cols, data = block
    j = cols.get("plate_name")
    if j is None:
        return [block]
    groups: dict[str, list[tuple[int, Sequence[Any]]]] = {}
    for line, row in data:
        name = cell_text(row[j]) if j < len(row) else None
        groups.setdefault(name or "", []).append((line, row))
    out: list[_Block] = []
    for name, rows in groups.items():
        code = name[len("plate_"):] if name.lower().startswith("plate_") else name
        out.append((code.strip() or barcode, cols, rows))
    return out or [block]


def _block_readings(index: int, block: _Block, label: str, decimal: str) -> list[WellReading]:
    _barcode, cols, data = block
    readings = plate_readings(cols, data, decimal=decimal, label=label)
    if not readings:
        raise MalformedInputError(
            "IML-CYT-002", f"plate block {index + 1} has a header but no rows", path=label,
            hint="The export is empty or truncated; export the plate again from Discovery Workbench.",
        )
    return readings


def _sections(readings: Sequence[WellReading]) -> dict[str, set[str]]:
    """Return assay -> the wells of its non-calibrator rows, assays in the order they appear."""
    out: dict[str, set[str]] = {}
    for r in readings:
        wells = out.setdefault(r.analyte_reported, set())
        if r.sample_type != "standard":
            wells.add(r.well)
    return out


def _check_complete(blocks: Sequence[_Block], readings: Sequence[Sequence[WellReading]], label: str,
                    decimal: str, *, text: bool) -> list[list[str]]:
    """Return each plate's incompleteness warnings (IML-CYT-012); raise IML-CYT-001 for a cut export.

    Discovery Workbench writes one section per assay (spot) per plate, each listing every well of
    the plate's layout; only the calibrator wells differ between assays (an assay without
    calibrators, such as a BSA blocking spot, has no calibrator rows). So on one plate every
    assay covers the same non-calibrator wells, and the plates of one experiment repeat the same
    assays in the same order. A plate whose last section covers fewer wells than its other
    sections, or whose assays are a proper prefix of another plate's, ends where the file ends
    when the export was cut: that is refused. Elsewhere in the file the same gap is a warning.
    In a text export (``text``) the replicates of the file's last row must also still average to
    their printed ``Mean`` (:func:`_refuse_cut_replicates`).
    """
    if not blocks:
        return []
    last = max(range(len(blocks)), key=lambda k: blocks[k][2][-1][0] if blocks[k][2] else 0)
    if text:  # a cut workbook is an unreadable zip (IML-CYT-007), and allotropy's sample one has inconsistent means
        _refuse_cut_replicates(blocks[last], readings[last], label, decimal)
    orders = [list(_sections(rs)) for rs in readings]
    notes: list[list[str]] = [[] for _ in readings]
    for k, rs in enumerate(readings):
        sections = _sections(rs)
        layout = set().union(*sections.values())
        short = {a: len(w) for a, w in sections.items() if w < layout}
        missing = [a for other in orders for a in other if a not in sections]
        missing = list(dict.fromkeys(missing))
        what = [f"assay {a!r} lists {n} of the plate's {len(layout)} non-calibrator wells" for a, n in short.items()]
        if missing:
            what.append(f"assay(s) {', '.join(repr(a) for a in missing)} of the other plates are missing")
        if not what:
            continue
        prefix = any(len(o) > len(orders[k]) and o[: len(orders[k])] == orders[k] for o in orders)
        if k == last and (rs[-1].analyte_reported in short or prefix):
            raise MalformedInputError(
                "IML-CYT-001",
                f"plate {k + 1} stops short at the end of the file ({'; '.join(what)}): the export is truncated",
                path=label,
                hint="The file was cut while it was copied or exported; export the experiment again from "
                "Discovery Workbench and ingest the complete file.",
            )
        notes[k].append(f"{INCOMPLETE_CODE} the plate is incomplete: {'; '.join(what)}. Its wells are stored as "
                        "exported; check the plate layout in Discovery Workbench and re-export if wells are missing.")
    return notes


def _refuse_cut_replicates(block: _Block, readings: Sequence[WellReading], label: str, decimal: str) -> None:
    """Raise IML-CYT-001 when the replicates of the file's last row no longer average to their ``Mean``.

    Every row prints the ``Mean`` signal of its replicates (same sample, assay and dilution on the
    plate); a file cut inside a replicate group leaves fewer replicates than that mean was taken over.
    """
    _barcode, cols, data = block
    j = cols.get("signal_mean")
    if j is None or not readings:
        return
    tail = readings[-1]
    key = (tail.sample_name, tail.analyte_reported, tail.dilution)
    signals = [r.signal for r in readings if (r.sample_name, r.analyte_reported, r.dilution) == key]
    row = data[-1][1]
    value = row[j] if j < len(row) else None
    try:
        printed = parse_number(value, decimal=decimal) if isinstance(value, str) else cell_number(value, label=label, where="Mean")
    except ValueError:
        return
    if printed is None or not math.isfinite(printed) or any(x is None for x in signals):
        return
    mean = sum(x for x in signals if x is not None) / len(signals)
    if abs(mean - printed) > 0.5 + 1e-6 * abs(printed):
        raise MalformedInputError(
            "IML-CYT-001",
            f"line {data[-1][0]}, the last of the file: its {len(signals)} replicate well(s) of assay "
            f"{tail.analyte_reported!r} average {mean:.6g}, not the Mean {printed:.6g} the export prints for them: "
            "the export is truncated (replicates are missing)",
            path=label,
            hint="The file was cut while it was copied or exported; export the experiment again from "
            "Discovery Workbench and ingest the complete file.",
        )


def _plate(index: int, block: _Block, readings: list[WellReading], label: str, layout: str) -> Plate:
    barcode, cols, _data = block
    facts: dict[str, str | int | float | bool | None] = {"plate_barcode_present": barcode is not None, "barcode": barcode}
    if "plate_name" in cols:
        facts["experiment_table"] = True
    return plate_from_readings(
        readings, plate_index=index + 1, software=SOFTWARE, layout=layout, instrument="MSD reader",
        facts=facts, label=label,
    )


def _read_rows(rows: Sequence[Sequence[Any]], label: str, layout: str, decimal: str = ".", *,
               text: bool = False) -> list[Plate]:
    blocks = [part for block in _blocks(rows) for part in _by_plate_name(block)]
    readings = [_block_readings(i, block, label, decimal) for i, block in enumerate(blocks)]
    notes = _check_complete(blocks, readings, label, decimal, text=text)
    plates = [_plate(i, block, rs, label, layout) for i, (block, rs) in enumerate(zip(blocks, readings, strict=True))]
    for plate, plate_notes in zip(plates, notes, strict=True):
        plate.warnings.extend(plate_notes)
    for name in _unknown_columns(rows):
        for plate in plates:
            plate.warnings.append(f"column {name!r} is not a Discovery Workbench column immunolab knows; not read")
    if not plates:
        raise MalformedInputError(
            "IML-CYT-002",
            "no Discovery Workbench table found (a header naming Sample, Assay, Well, Spot and Signal)",
            path=label,
            hint="Export the plate from Discovery Workbench as a CSV or Excel data table.",
        )
    return plates


def read_workbench_csv(path: Path, label: str) -> list[Plate]:
    """Return the plates of a Discovery Workbench CSV export.

    Any encoding :func:`immunolab.io.delimited.decode_bytes` reads; ``,`` / ``;`` / tab
    delimiters; decimal commas when the delimiter is ``;``.
    """
    text = decode_bytes(path.read_bytes())
    table = read_rows(text)
    _refuse_cut_last_line(text, table.delimiter, label)
    return _read_rows(table.rows, label, "workbench_csv", table.decimal, text=True)


def _refuse_cut_last_line(text: str, delimiter: str, label: str) -> None:
    """Raise IML-CYT-001 when the file ends, without a line break, inside a row shorter than its header.

    Workbench writes every cell of a row, empty ones included, so a last line with fewer cells than
    the table's header and no final line break was cut in the middle (its last number may be cut too).
    """
    if not text or text.endswith(("\n", "\r")):
        return
    lines = text.splitlines()
    widths = [len(next(csv.reader([line], delimiter=delimiter))) for line in lines if line.strip()]
    header = next((w for line, w in zip((x for x in lines if x.strip()), widths, strict=True)
                   if set(_REQUIRED) <= {_norm(c) for c in next(csv.reader([line], delimiter=delimiter))}), None)
    if header is not None and widths[-1] < header:
        raise MalformedInputError(
            "IML-CYT-001",
            f"the last line ({len(lines)}) holds {widths[-1]} of the table's {header} cells and the file ends "
            "without a line break: the export is truncated",
            path=label,
            hint="The file was cut while it was copied or exported; export the experiment again from "
            "Discovery Workbench and ingest the complete file.",
        )


def parse_msd_date(text: str | None) -> date | None:
    """Return the calendar date of an MSD ``Read Time`` value (ISO or US month/day/year)."""
    if not text:
        return None
    token = text.strip().split()[0] if text.strip() else ""
    for fmt in ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%d-%b-%Y"):
        try:
            return datetime.strptime(token, fmt).date()
        except ValueError:
            continue
    return None


def _reader_facts(rows: Sequence[Sequence[Any]]) -> dict[str, str]:
    """Return allowlisted ``Key :`` / value pairs of an MSD reader sheet (no file names, users)."""
    keys = {"read time": "read_time", "msd read software version": "software_version",
            "machine id": "serial", "plate type": "plate_type"}
    found: dict[str, str] = {}
    for row in rows:
        if len(row) < 2 or not isinstance(row[0], str) or not row[0].rstrip().endswith(":"):
            continue
        key = keys.get(_norm(row[0].rstrip()[:-1]))
        value = cell_text(row[1])
        if key and value and key not in found:
            found[key] = value
    return found


def read_workbench_xlsx(path: Path, label: str) -> list[Plate]:
    """Return the plates of a Discovery Workbench Excel export (the sheet holding the data table).

    A reader sheet beside it (``Key :`` / value rows, as in ``MSD Data``) gives the read date,
    the reader software version and the machine ID; nothing else of it is kept.
    """
    _kind, sheets = read_workbook(path, label)
    facts: dict[str, str] = {}
    for sheet in sheets:
        facts.update({k: v for k, v in _reader_facts(sheet.rows[:60]).items() if k not in facts})
    for sheet in sheets:
        for row in sheet.rows[:10]:
            if set(_REQUIRED) <= {_norm(c) for c in row}:
                plates = _read_rows(sheet.rows, label, "workbench_xlsx")
                for plate in plates:
                    plate.run_date = parse_msd_date(facts.get("read_time"))
                    plate.instrument_serial = facts.get("serial")
                    plate.software_version = facts.get("software_version")
                    if facts.get("plate_type"):
                        plate.facts["plate_type"] = facts["plate_type"]
                return plates
    raise MalformedInputError(
        "IML-CYT-002",
        "no sheet holds a Discovery Workbench table (a header naming Sample, Assay, Well, Spot and Signal)",
        path=label,
        hint="Export the plate from Discovery Workbench with its data table sheet.",
    )
