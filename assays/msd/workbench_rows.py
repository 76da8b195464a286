"""Turn the rows of one Discovery Workbench plate into well readings: numbers, tokens, sample roles.

Sample roles, in this order: a ``Sample Type`` column when the export has one; a calibrator
name (``CAL3``, ``S001``, ``Standard 2``, ``Calibrator``) -> standard; a control name
(``C1``, ``Control``, ``QC``, ``... Cont 2``) -> control; ``Blank`` / ``Buffer`` / ``Diluent`` ->
blank; a sample with an expected ``Concentration`` -> standard, unless the plate names its
calibrators (then it is a control with a known concentration, as MSD's kit controls
``MSD 1.1`` ... are); everything else -> unknown. The concentration rule looks at the sample,
not the row: a sample with a known concentration on any spot of the plate keeps its role on
the spots that print none (MSD prints no concentration of a kit control for an assay the kit
does not quantify, such as BSA), so it never becomes an unknown sample that needs a manifest
row on one spot. Controls are numbered ``C1``, ``C2`` ... in the order they first appear on
the plate, so that two controls never share a label and no raw name becomes one.

Numbers: CSV cells follow the file's decimal mark (``,`` when the delimiter is ``;``) and may
carry thousands separators; ``NaN`` / ``N/A`` / empty mean "no value". Spreadsheet cells are
numbers already.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from immunolab.cytokine.readings import WellReading
from immunolab.errors import InconsistentInputError, MalformedInputError
from immunolab.io.delimited import parse_number
from immunolab.io.tokens import (
    FLAG_NOT_AVAILABLE,
    FLAG_OOR_HIGH,
    FLAG_OOR_LOW,
    ReportedConc,
    cell_number,
    cell_text,
)

__all__ = ["DETECTION_RANGE_FLAGS", "msd_sample_type", "plate_readings"]

DETECTION_RANGE_FLAGS = {
    "above fit curve range": FLAG_OOR_HIGH,
    "below fit curve range": FLAG_OOR_LOW,
    "above detection range": "above_detection_range",
    "below detection range": "below_detection_range",
    "in detection range": None,
}
_WELL = re.compile(r"^([A-Pa-p])0*([1-9]|1\d|2[0-4])$")
_STANDARD = re.compile(r"^(?:S\d+|STD[\s_-]*\d*|standard.*|calibrator.*|cal[\s_-]*\d+)$", re.IGNORECASE)
_CONTROL = re.compile(r"^(?:C\d+|control.*|QC.*|ctrl.*)$|(?:^|[\s_-])(?:cont|control|ctrl|qc)(?:[\s_-]*\d|$)", re.IGNORECASE)
_BLANK = re.compile(r"^(?:blank.*|buffer.*|diluent.*)$", re.IGNORECASE)


def _norm(text: Any) -> str:
    return " ".join(str(text).split()).lower() if text is not None else ""


def msd_sample_type(name: str | None, expected_conc: float | None, declared: str | None = None,
                    *, calibrators_named: bool = False) -> str:
    """Return standard / control / blank / unknown for a Workbench sample (rules in the module doc)."""
    if declared:
        low = declared.strip().lower()
        for kind in ("standard", "control", "blank", "unknown"):
            if low.startswith(kind[:4]):
                return kind
        if low.startswith(("calib", "cal")):
            return "standard"
    text = (name or "").strip()
    for pattern, kind in ((_STANDARD, "standard"), (_CONTROL, "control"), (_BLANK, "blank")):
        if pattern.search(text):
            return kind
    if expected_conc is not None:
        return "control" if calibrators_named else "standard"
    return "unknown"


def _number(value: Any, *, decimal: str, label: str, where: str) -> float | None:
    """Return a cell as a finite number or None; raise IML-CYT-003 for text that is not one."""
    if isinstance(value, str):
        try:
            number = parse_number(value, decimal=decimal)
        except ValueError:
            raise MalformedInputError(
                "IML-CYT-003", f"{where} holds text that is not a number", path=label,
                hint="The export was probably edited by hand; export it again from Discovery Workbench.",
            ) from None
    else:
        number = cell_number(value, label=label, where=where)
    return number if number is not None and math.isfinite(number) else None


def _reported(value: Any, detection_range: str | None, *, decimal: str, label: str, where: str) -> ReportedConc:
    text = cell_text(value)
    number = _number(value, decimal=decimal, label=label, where=where)
    flag = DETECTION_RANGE_FLAGS.get(_norm(detection_range)) if detection_range else None
    if number is None and flag is None and text is not None:
        flag = FLAG_NOT_AVAILABLE
    if number is None and text is None and flag is None:
        return ReportedConc(None, None, None)
    return ReportedConc(text, number, flag)


def _well(value: Any, *, label: str, where: str) -> str:
    m = _WELL.match((cell_text(value) or "").strip())
    if not m:
        raise MalformedInputError(
            "IML-CYT-001", f"{where}: the Well cell is not a plate well (A01..P24)", path=label,
            hint="The export was probably edited by hand; export it again from Discovery Workbench.",
        )
    return f"{m.group(1).upper()}{int(m.group(2))}"


@dataclass
class _Row:
    line: int
    get: Callable[[str], Any]
    name: str | None
    expected: float | None


def _rows(cols: dict[str, int], data: Sequence[tuple[int, Sequence[Any]]], decimal: str, label: str) -> list[_Row]:
    out = []
    for line, row in data:
        def get(name: str, _row: Sequence[Any] = row) -> Any:
            j = cols.get(name)
            return _row[j] if j is not None and j < len(_row) else None

        expected = _number(get("concentration"), decimal=decimal, label=label, where=f"line {line} Concentration")
        out.append(_Row(line, get, cell_text(get("sample")), expected))
    return out


def _cell(row: _Row, column: str, what: str, decimal: str, label: str) -> float | None:
    return _number(row.get(column), decimal=decimal, label=label, where=f"line {row.line} {what}")


def _known_concentrations(rows: Sequence[_Row]) -> dict[str, float]:
    """Return each named sample's first expected concentration on the plate (any spot)."""
    known: dict[str, float] = {}
    for r in rows:
        if r.name and r.expected is not None:
            known.setdefault(r.name, r.expected)
    return known


def plate_readings(cols: dict[str, int], data: Sequence[tuple[int, Sequence[Any]]], *, decimal: str, label: str) -> list[WellReading]:
    """Return one :class:`WellReading` per row of one plate (line numbers name the rows in errors).

    Raises IML-CYT-001 (well), IML-CYT-002 (no Assay), IML-CYT-003 (number) or IML-CYT-004
    (a well x spot x assay twice).
    """
    rows = _rows(cols, data, decimal, label)
    named = any(_STANDARD.search((r.name or "").strip()) for r in rows)
    known = _known_concentrations(rows)
    controls: dict[str, str] = {}
    readings: list[WellReading] = []
    seen: set[tuple[str, int, str]] = set()
    for r in rows:
        where = f"line {r.line}"
        well = _well(r.get("well"), label=label, where=where)
        spot_value = _number(r.get("spot"), decimal=decimal, label=label, where=f"{where} Spot")
        spot = int(spot_value) if spot_value is not None else None
        assay = cell_text(r.get("assay"))
        if assay is None:
            raise MalformedInputError(
                "IML-CYT-002", f"{where}: the Assay cell is empty", path=label,
                hint="Every row of a Workbench export names its assay; export the plate again.",
            )
        if (well, spot or 0, assay) in seen:
            raise InconsistentInputError(
                "IML-CYT-004", f"{where}: well {well} spot {spot} assay appears twice", path=label,
                hint="The export holds the same well twice (or two plates without a Plate Name column); "
                "export each plate again from Discovery Workbench.",
            )
        seen.add((well, spot or 0, assay))
        sample_conc = r.expected if r.expected is not None else known.get(r.name or "")
        kind = msd_sample_type(r.name, sample_conc, cell_text(r.get("sample_type")), calibrators_named=named)
        code = (r.name or "") if kind in ("standard", "blank") else ""
        if kind == "control":
            code = controls.setdefault(r.name or "", f"C{len(controls) + 1}")
        readings.append(WellReading(
            well=well, type_code=code, sample_type=kind, sample_name=r.name, analyte_reported=assay,
            signal=_cell(r, "signal", "Signal", decimal, label),
            net_signal=_cell(r, "adjusted_signal", "Adjusted Signal", decimal, label),
            dilution=_cell(r, "dilution", "Dilution", decimal, label),
            expected_conc=r.expected if kind in ("standard", "control") else None,
            reported=_reported(r.get("calc_conc"), cell_text(r.get("detection_range")), decimal=decimal,
                               label=label, where=f"{where} Calc. Concentration"),
            spot=spot,
        ))
    return readings
