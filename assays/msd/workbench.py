"""Read MSD Discovery Workbench exports (CSV, and XLSX with a Workbench sheet) into plates.

A Workbench export is one block per plate: a line ``Plate_<barcode>`` then a header naming at
least ``Sample``, ``Assay``, ``Well``, ``Spot`` and ``Signal``, then one row per well x spot.
Optional columns: ``Dilution``, ``Concentration`` (the calibrator's expected concentration),
``Adjusted Signal``, ``Detection Range``, ``Calc. Concentration`` and the means / CVs that
immunolab recomputes instead of storing.

Mapping onto immunolab's well records (MSD measures electrochemiluminescence, not bead
fluorescence; the columns keep their role):

==========================  ==============================================================
``median_mfi``              ``Signal`` (ECL counts of the spot)
``net_mfi``                 ``Adjusted Signal`` (blank/background-adjusted signal)
``bead_region``             ``Spot`` (the electrode of the analyte in the well)
``bead_count``              empty (no beads)
``expected_conc``           ``Concentration`` (calibrators only)
``reported_conc*``          ``Calc. Concentration`` with the flag from ``Detection Range``
==========================  ==============================================================

Sample type: a row with an expected ``Concentration`` or a name like ``S001`` / ``Standard`` /
``Calibrator`` is a standard; ``C1`` / ``Control`` / ``QC`` a control; ``Blank`` / ``Buffer``
a blank; everything else an unknown sample whose name leaves only as ``_sample_ref``.

Detection-range flags: ``Above Fit Curve Range`` -> ``OOR>``, ``Below Fit Curve Range`` ->
``OOR<`` (Workbench prints no concentration there), ``Above/Below Detection Range`` ->
``above_detection_range`` / ``below_detection_range`` (value kept), ``NaN`` without a range ->
``not_available``.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from immunolab.cytokine.plate import Plate
from immunolab.cytokine.plate_builder import plate_from_readings
from immunolab.cytokine.readings import WellReading
from immunolab.errors import InconsistentInputError, MalformedInputError
from immunolab.io.tokens import (
    FLAG_NOT_AVAILABLE,
    FLAG_OOR_HIGH,
    FLAG_OOR_LOW,
    ReportedConc,
    cell_number,
    cell_text,
)
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
}
DETECTION_RANGE_FLAGS = {
    "above fit curve range": FLAG_OOR_HIGH,
    "below fit curve range": FLAG_OOR_LOW,
    "above detection range": "above_detection_range",
    "below detection range": "below_detection_range",
    "in detection range": None,
}
_WELL = re.compile(r"^([A-Pa-p])0*([1-9]|1\d|2[0-4])$")
_STANDARD = re.compile(r"^(?:S\d+|STD[\s_-]*\d*|standard.*|calibrator.*|cal[\s_-]*\d+)$", re.IGNORECASE)
_CONTROL = re.compile(r"^(?:C\d+|control.*|QC.*|ctrl.*)$", re.IGNORECASE)
_BLANK = re.compile(r"^(?:blank.*|buffer.*|diluent.*)$", re.IGNORECASE)


def _norm(text: Any) -> str:
    return " ".join(str(text).split()).lower() if text is not None else ""


def msd_sample_type(name: str | None, expected_conc: float | None, declared: str | None = None) -> str:
    """Return standard / control / blank / unknown for a Workbench sample (rules in the module doc)."""
    if declared:
        low = declared.strip().lower()
        for kind in ("standard", "control", "blank", "unknown"):
            if low.startswith(kind[:4]):
                return kind
        if low.startswith(("calib", "cal")):
            return "standard"
    if expected_conc is not None:
        return "standard"
    text = (name or "").strip()
    if _STANDARD.match(text):
        return "standard"
    if _CONTROL.match(text):
        return "control"
    if _BLANK.match(text):
        return "blank"
    return "unknown"


def _well(value: Any, *, label: str, where: str) -> str:
    text = cell_text(value) or ""
    m = _WELL.match(text.strip())
    if not m:
        raise MalformedInputError(
            "IML-CYT-001", f"{where}: the Well cell is not a plate well (A01..P24)", path=label,
            hint="The export was probably edited by hand; export it again from Discovery Workbench.",
        )
    return f"{m.group(1).upper()}{int(m.group(2))}"


def _number(value: Any, *, label: str, where: str) -> float | None:
    if isinstance(value, str) and value.strip().lower() in ("nan", "n/a", "na", ""):
        return None
    number = cell_number(value, label=label, where=where)
    if number is not None and not math.isfinite(number):
        return None
    return number


def _reported(value: Any, detection_range: str | None, *, label: str, where: str) -> ReportedConc:
    text = cell_text(value)
    number = _number(value, label=label, where=where)
    flag = DETECTION_RANGE_FLAGS.get(_norm(detection_range)) if detection_range else None
    if number is None and flag is None and text is not None:
        flag = FLAG_NOT_AVAILABLE
    if number is None and text is None and flag is None:
        return ReportedConc(None, None, None)
    return ReportedConc(text, number, flag)


def _blocks(rows: Sequence[Sequence[Any]], label: str) -> Iterable[tuple[str | None, dict[str, int], list[tuple[int, Sequence[Any]]]]]:
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
            cols = {}
            for j, n in enumerate(names):
                key = _COLUMNS.get(n)
                if key and key not in cols:
                    cols[key] = j
            data = []
            continue
        others = [c for c in cells[1:] if not str(c).startswith("Unnamed: ")]  # pandas artefacts
        if first and first.lower().startswith("plate_") and not others:
            if cols is not None:
                yield barcode, cols, data
                cols, data = None, []
            barcode = first[len("plate_"):].strip() or None
            continue
        if not cells:
            continue
        if cols is not None:
            data.append((i + 1, row))
    if cols is not None:
        yield barcode, cols, data


def _plate(
    index: int, barcode: str | None, cols: dict[str, int], data: list[tuple[int, Sequence[Any]]],
    label: str, layout: str,
) -> Plate:
    readings: list[WellReading] = []
    seen: set[tuple[str, int, str]] = set()
    for line, row in data:
        where = f"line {line}"

        def get(name: str, _row: Sequence[Any] = row) -> Any:
            j = cols.get(name)
            return _row[j] if j is not None and j < len(_row) else None

        well = _well(get("well"), label=label, where=where)
        spot_value = _number(get("spot"), label=label, where=f"{where} Spot")
        spot = int(spot_value) if spot_value is not None else None
        assay = cell_text(get("assay"))
        if assay is None:
            raise MalformedInputError(
                "IML-CYT-002", f"{where}: the Assay cell is empty", path=label,
                hint="Every row of a Workbench export names its assay; export the plate again.",
            )
        key = (well, spot or 0, assay)
        if key in seen:
            raise InconsistentInputError(
                "IML-CYT-004", f"{where}: well {well} spot {spot} assay appears twice", path=label,
                hint="The export holds the same well twice; export the plate again.",
            )
        seen.add(key)
        expected = _number(get("concentration"), label=label, where=f"{where} Concentration")
        name = cell_text(get("sample"))
        kind = msd_sample_type(name, expected, cell_text(get("sample_type")))
        readings.append(
            WellReading(
                well=well,
                type_code=(name or "") if kind != "unknown" else "",
                sample_type=kind,
                sample_name=name,
                analyte_reported=assay,
                signal=_number(get("signal"), label=label, where=f"{where} Signal"),
                net_signal=_number(get("adjusted_signal"), label=label, where=f"{where} Adjusted Signal"),
                dilution=_number(get("dilution"), label=label, where=f"{where} Dilution"),
                expected_conc=expected if kind == "standard" else None,
                reported=_reported(get("calc_conc"), cell_text(get("detection_range")), label=label,
                                   where=f"{where} Calc. Concentration"),
                spot=spot,
            )
        )
    if not readings:
        raise MalformedInputError(
            "IML-CYT-002", f"plate block {index + 1} has a header but no rows", path=label,
            hint="The export is empty or truncated; export the plate again from Discovery Workbench.",
        )
    return plate_from_readings(
        readings, plate_index=index + 1, software=SOFTWARE, layout=layout, instrument="MSD reader",
        facts={"plate_barcode_present": barcode is not None, "barcode": barcode},
    )


def _read_rows(rows: Sequence[Sequence[Any]], label: str, layout: str) -> list[Plate]:
    plates = [
        _plate(i, barcode, cols, data, label, layout)
        for i, (barcode, cols, data) in enumerate(_blocks(rows, label))
    ]
    if not plates:
        raise MalformedInputError(
            "IML-CYT-002",
            "no Discovery Workbench table found (a header naming Sample, Assay, Well, Spot and Signal)",
            path=label,
            hint="Export the plate from Discovery Workbench as a CSV or Excel data table.",
        )
    return plates


def read_workbench_csv(path: Path, label: str) -> list[Plate]:
    """Return the plates of a Discovery Workbench CSV export (UTF-8 with or without BOM, or Latin-1)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    try:
        rows = [list(r) for r in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise MalformedInputError(
            "IML-CYT-001", f"the CSV cannot be read ({exc.__class__.__name__})", path=label,
            hint="The file is damaged; export it again from Discovery Workbench.",
        ) from None
    return _read_rows(rows, label, "workbench_csv")


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
