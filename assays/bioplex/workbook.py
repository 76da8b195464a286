"""Read Bio-Plex Manager Excel exports (one sheet per analyte, ``.xls`` and ``.xlsx``) into plates.

Layouts recognised (all seen in real exports):

``summary`` (Bio-Plex Manager 4.x)
    One row per replicate group (``Well`` = ``C1,D1``), an ``Outlier`` column, no bead count.
``per_well`` (Bio-Plex Manager 5/6)
    One row per well with ``Bead Count``; a sheet may hold a summary block *and* a per-well
    block (``RawAndSummary``): per-well rows win and the summary rows they cover are dropped.
``wide`` (one sheet, one column per analyte)
    A row of analyte names above a ``Type | Well | Description | FI | FI ...`` header, one block
    per data type (``FI``, ``Bead Count``, ...).

Every analyte sheet starts with ``Key: value`` lines (analyte, acquisition date, reader serial
number, plate ID ...) and ends with the legend and, in the long layouts, the printed curve
(``Regression Type``, ``Std. Curve``, ``FitProb.``). Only allowlisted facts are kept: file
paths, "Signed By", document IDs and free-text comments never leave this module.

Bio-Plex prints an expected concentration of 0 for wells where none was entered (controls,
unset standards); such zeros are read as "no expected concentration". Unknown samples without
a ``Description`` are named by their type code (``X12``), which Bio-Plex shares between the
replicate wells of one sample.

Units: FI is the median bead fluorescence (instrument units); concentrations are in the units
of the standards (``Project Template`` ``UNITS`` when present, else unknown).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from pathlib import Path

from immunolab_assays.bioplex.curve import instrument_curve
from immunolab_assays.bioplex.sheet import (
    SAMPLING_ERRORS,
    SheetData,
    is_template,
    parse_sheet,
    template_facts,
)

from immunolab.cytokine.analytes import resolve_analyte
from immunolab.cytokine.curves import StandardCurve
from immunolab.cytokine.plate import Plate
from immunolab.cytokine.plate_builder import plate_from_readings
from immunolab.cytokine.readings import WellReading
from immunolab.errors import InconsistentInputError, MalformedInputError
from immunolab.io.workbook import read_workbook

__all__ = [
    "SAMPLING_ERRORS",
    "parse_acquisition_date",
    "read_bioplex_workbook",
]

SOFTWARE = "Bio-Plex Manager"
_DATE_FORMATS = ("%d-%b-%Y, %I:%M %p", "%d-%b-%Y %I:%M %p", "%d-%b-%Y", "%d-%b-%y")


def parse_acquisition_date(text: str | None) -> date | None:
    """Return the calendar date of a Bio-Plex ``Acquisition Date`` value, or None if unreadable."""
    if not text:
        return None
    value = " ".join(text.split())
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def _resolve_replicates(readings: list[WellReading], label: str) -> tuple[list[WellReading], int]:
    """Prefer per-well rows; drop summary rows whose wells all have per-well rows; check duplicates."""
    per_well: dict[tuple[str, str], WellReading] = {}
    for r in readings:
        if r.replicate_group:
            continue
        key = (r.analyte_reported, r.well)
        if key in per_well:
            raise InconsistentInputError(
                "IML-CYT-004", f"well {r.well} appears twice for analyte {r.analyte_reported!r}",
                path=label,
                hint="The workbook holds the same well twice; re-export it from Bio-Plex Manager.",
            )
        per_well[key] = r
    kept: list[WellReading] = []
    dropped = 0
    seen_groups: set[tuple[str, str]] = set()
    for r in readings:
        if not r.replicate_group:
            kept.append(r)
            continue
        if all((r.analyte_reported, w) in per_well for w in r.member_wells):
            dropped += 1
            continue
        key = (r.analyte_reported, r.well)
        if key in seen_groups:
            raise InconsistentInputError(
                "IML-CYT-004", f"wells {r.well} appear twice for analyte {r.analyte_reported!r}",
                path=label,
                hint="The workbook holds the same replicate group twice; re-export it.",
            )
        seen_groups.add(key)
        if "replicate_mean" not in r.qc_flags:
            r.qc_flags.append("replicate_mean")
        kept.append(r)
    return kept, dropped


def _software_version(template: dict[str, str]) -> str | None:
    value = template.get("SOFTWARE")
    if not value:
        return None
    m = re.search(r"(\d+(?:\.\d+)*)", value)
    return m.group(1) if m else None


def read_bioplex_workbook(path: Path, label: str) -> list[Plate]:
    """Return the plates of a Bio-Plex Manager Excel export (``.xls`` or ``.xlsx``).

    Raises IML-CYT-007 when the workbook cannot be opened, IML-CYT-002 when no sheet holds a
    Bio-Plex ``Type | Well | ... FI`` table, IML-CYT-001 / -003 / -004 for bad rows.
    """
    kind, sheets = read_workbook(path, label)
    template: dict[str, str] = {}
    parsed: list[SheetData] = []
    ignored: list[str] = []
    for sheet in sheets:
        template.update(template_facts(sheet))
        data = parse_sheet(sheet, label)
        if data is not None:
            parsed.append(data)
        elif not is_template(sheet) and any(any(c is not None for c in row) for row in sheet.rows):
            ignored.append(f"sheet {sheet.name!r} holds no Bio-Plex Manager table (Type | Well | ... | FI); not read")
    parsed = [p for p in parsed if p.readings]
    if not parsed:
        raise MalformedInputError(
            "IML-CYT-002",
            "no sheet holds a Bio-Plex Manager table (a Type | Well | ... | FI header with rows)",
            path=label,
            hint="Export the plate from Bio-Plex Manager with 'Report > Export to Excel' "
            "(one sheet per analyte).",
        )
    groups: dict[tuple[str, str], list[SheetData]] = {}
    for p in parsed:
        key = (p.preamble.get("file_name", ""), p.preamble.get("plate_id", ""))
        groups.setdefault(key, []).append(p)
    plates = [_plate_of(index, members, template, kind, label) for index, members in enumerate(groups.values())]
    for plate in plates:
        plate.warnings[:0] = ignored
    return plates


def _plate_of(index: int, members: list[SheetData], template: dict[str, str], kind: str, label: str) -> Plate:
    """Return the :class:`Plate` of the sheets of one Bio-Plex plate (``index`` is 0-based)."""
    readings, dropped = _resolve_replicates([r for m in members for r in m.readings], label)
    pre = members[0].preamble
    curves: dict[str, StandardCurve] = {}
    warnings: list[str] = []
    for m in members:
        for curve in m.curves:
            # a LabKey/SCHARP project template's WEIGHTED field is the lab's note, not Bio-Plex's
            # weighting: the printed curves of such files are power-law weighted (docs/readers.md)
            curves[curve.analyte_reported] = instrument_curve(curve, resolve_analyte(curve.analyte_reported).canonical)
        warnings.extend(w for w in m.warnings if w not in warnings)
    run_date = parse_acquisition_date(pre.get("acquisition_date"))
    if pre.get("acquisition_date") and run_date is None:
        warnings.append("acquisition date not readable; run study day left empty")
    plate_key = "|".join(k for k in (pre.get("file_name", ""), pre.get("plate_id", "")))
    return plate_from_readings(
        readings,
        label=label,
        plate_index=index + 1,
        curves=curves,
        units=template.get("UNITS"),
        software=SOFTWARE,
        software_version=_software_version(template),
        layout="+".join(sorted({m.layout for m in members})),
        instrument="Bio-Plex / Luminex reader",
        instrument_serial=pre.get("reader_serial") or None,
        kit=template.get("CATALOG"),
        lot=template.get("STDLOT") or pre.get("standard_lot") or None,
        run_date=run_date,
        warnings=warnings,
        facts={
            "workbook": kind,
            "n_sheets": len(members),
            "summary_rows_superseded_by_wells": dropped,
            "plate_key": hashlib.sha256(plate_key.encode()).hexdigest()[:12],
            "rp1_pmt_volts": pre.get("rp1_pmt_volts"),
            "curve_fit_template": template.get("CURVEFIT"),
            "template_weighted": template.get("WEIGHTED"),
        },
    )
