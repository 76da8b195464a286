"""Parse Luminex xPONENT (and xPONENT-style INTELLIFLEX) batch CSV exports into plates.

The block grammar is :mod:`~immunolab_assays.luminex_xponent.grammar`, the table layouts inside
sections :mod:`~immunolab_assays.luminex_xponent.sections`. Cells may be quoted or not, padded,
``,`` or ``;`` delimited with decimal commas and thousands separators (see
:mod:`immunolab.io.delimited`); section order does not matter. The Audit Logs section (user
names) is never read.

Required facts: a Median well table with at least one analyte and one well; without them the
file is refused (IML-CYT-002). Every other section is optional. Sections immunolab uses:
Median, Net MFI, Count, Dilution Factor, Result (the instrument's concentrations), Expected
Result / Standard Expected Concentration / Control Expected Concentration (per-well or
per-reagent layout), Control Range - Low / High, Units, Per Bead Count, Analysis Types,
Analysis Coefficients, R^2 (the instrument's curves) and Warnings/Errors (counted per well,
messages never stored). Known sections it does not need (Range, Avg ..., %CV, Peak, Mean,
Trimmed ..., Acquisition Time, Comments, % Recovery, Audit Logs) are skipped silently; any
other section, or a known optional section in a layout the reader does not know, is skipped
with a warning naming it (:attr:`Plate.warnings`), never refused.

Every batch must end with the ``-- CRC --`` / ``CRC32: XXXXXXXX`` trailer (a missing trailer
means the file was cut: IML-CYT-001, unless the option ``accept_missing_crc`` is set); a
checksum is recorded in ``Plate.export_crc``: ``ok``; ``mismatch`` (the trailer is as xPONENT writes
it but the bytes before it changed: the warning ``IML-CYT-013``); ``unverified`` (re-saved by a
spreadsheet or script, which rewrites the bytes the checksum covered, so it cannot be checked).
The expected concentrations of the standards are checked to form a dilution series
(:mod:`immunolab.cytokine.standards`): repaired with a warning when a lost decimal separator
or power of ten can be undone uniquely, else refused with IML-CYT-010.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from immunolab_assays.luminex_xponent.grammar import (
    Batch,
    Section,
    batch_date,
    crc_status,
    header_value,
    norm_key,
    parse_xponent_location,
    redact_free_text,
    split_batches,
)
from immunolab_assays.luminex_xponent.sections import (
    ReagentTable,
    WellTable,
    instrument_curves,
    read_analyte_table,
    read_reagent_table,
    read_well_table,
    section_layout,
)

from immunolab.cytokine.analytes import AnalyteMatch, resolve_analyte
from immunolab.cytokine.edits import edited_standard_warnings
from immunolab.cytokine.plate import WELL_COLUMNS, Plate, classify_sample, label_unnumbered_controls
from immunolab.cytokine.standards import check_plate_standards
from immunolab.errors import InconsistentInputError, MalformedInputError
from immunolab.io.delimited import decode_bytes, is_missing, parse_number, read_rows

#: warning code of a batch whose CRC32 trailer does not match its bytes
CRC_MISMATCH_CODE = "IML-CYT-013"

__all__ = [
    "instrument_warning_flags",
    "parse_reported_conc",
    "parse_xponent_bytes",
    "parse_xponent_location",
    "redact_free_text",
]

#: well sections whose every well must be printed (a missing well means a cut or edited file)
_COMPLETE = ("median", "count", "net mfi", "dilution factor", "result")
_WELL_VALUES = {"median": "median", "net mfi": "net", "count": "count", "result": "result", "dilution factor": "dilution"}
_EXPECTED = ("expected result", "standard expected concentration", "expected concentration", "control expected concentration")
_RANGES = {"control range - low": 0, "control range - high": 1}
_ANALYTE_SECTIONS = ("units", "per bead count", "analysis types", "analysis coefficients", "r^2")
_SKIPPED = frozenset({
    "range", "avg net mfi", "avg result", "avg range", "%cv replicates", "% recovery", "comments", "audit logs",
    "mean", "%cv", "peak", "acquisition time", "trimmed count", "trimmed mean", "trimmed peak", "std dev",
    "trimmed std dev", "trimmed standard deviation", "standard deviation", "trimmed %cv", "net median", "avg median", "warnings/errors", "well status",
})



def parse_reported_conc(text: str | None, *, decimal: str = ".") -> tuple[str | None, float | None, str | None]:
    """Return (text verbatim, number or None, flag) for an instrument concentration cell.

    ``12.3`` -> number; ``< 2.44`` / ``OOR <`` -> ``below_curve``; ``> 1000`` / ``OOR >`` ->
    ``above_curve``; ``*12.3`` -> number flagged ``extrapolated``; ``***`` / ``NaN`` ->
    ``not_available``; ``---`` -> ``outlier``; empty -> (None, None, None).
    """
    if text is None or not text.strip():
        return None, None, None
    raw = text.strip()
    compact = raw.replace(" ", "").upper()
    if compact.startswith("<") or compact == "OOR<":
        return raw, None, "below_curve"
    if compact.startswith(">") or compact == "OOR>":
        return raw, None, "above_curve"
    if compact == "---":
        return raw, None, "outlier"
    if compact.startswith("***") or is_missing(raw):
        return raw, None, "not_available"
    star = compact.startswith("*")
    try:
        value = parse_number(compact.lstrip("*"), decimal=decimal)
    except ValueError:
        return raw, None, "unreadable"
    if value is None:
        return raw, None, "not_available"
    return raw, value, "extrapolated" if star else None



def _cell(cells: list[str], j: int) -> str | None:
    return cells[j] if j < len(cells) else None


def _number(text: str | None, *, decimal: str, label: str, where: str) -> float | None:
    try:
        return parse_number(text, decimal=decimal)
    except ValueError:
        raise MalformedInputError(
            "IML-CYT-003", f"{where} is not a number", path=label,
            hint="The cell was probably edited or damaged; re-export the batch from xPONENT.",
        ) from None


@dataclass
class _Median:
    """The required facts of a batch: the Median well table, its analytes and its wells."""

    table: WellTable
    matches: list[AnalyteMatch]
    canonical: dict[str, str]  # canonical id -> analyte as printed
    locations: dict[str, tuple[int | None, int, str]] = field(default_factory=dict)  # "plate:well"
    order: dict[str, int] = field(default_factory=dict)


def _median(batch: Batch, label: str) -> _Median:
    """Return the Median table of ``batch`` or raise IML-CYT-002 / -001 / -004."""
    section = batch.sections.get("median")
    if section is None:
        raise MalformedInputError(
            "IML-CYT-002", f"the batch starting at line {batch.line} has no Median section", path=label,
            hint="Export the batch from xPONENT with the Median data type (the default), or "
            "check that the file was not cut.",
        )
    table = read_well_table(section, label)
    for what, empty in (("names no analyte", not table.analytes), ("holds no well", not table.rows)):
        if empty:
            raise MalformedInputError(
                "IML-CYT-002", f"line {section.line}: the Median section {what}", path=label,
                hint="The file was probably cut or edited; re-export the batch from xPONENT.",
            )
    matches = [resolve_analyte(a) for a in table.analytes]
    out = _Median(table, matches, {})
    for name, m in zip(table.analytes, matches, strict=True):
        if m.canonical in out.canonical:
            raise InconsistentInputError(
                "IML-CYT-004",
                f"line {section.line}: analyte columns {out.canonical[m.canonical]!r} and {name!r} are the same analyte ({m.canonical})",
                path=label,
                hint="Rename one of the analytes in the xPONENT protocol, or remove the duplicate column.",
            )
        out.canonical[m.canonical] = name
    for pos, (ln, loc, _sample, _cells) in enumerate(table.rows):
        key = _well_key(loc, ln, "Median", label)
        if key in out.locations:
            raise InconsistentInputError(
                "IML-CYT-004", f"line {ln}: well {key.split(':')[1]} of plate {key.split(':')[0]} appears twice in the Median section",
                path=label, hint="Two exports were probably pasted together; re-export the batch from xPONENT.",
            )
        parsed = parse_xponent_location(loc)
        assert parsed is not None
        out.locations[key], out.order[key] = parsed, pos
    return out


def _well_key(loc: str, line: int, section: str, label: str) -> str:
    parsed = parse_xponent_location(loc)
    if parsed is None:
        raise MalformedInputError(
            "IML-CYT-001", f"line {line}: the {section} section has an unreadable well location", path=label,
            hint="Locations look like 1(1,A1); the file was probably edited. Re-export it.",
        )
    return f"{parsed[1]}:{parsed[2]}"


def _well_values(section: Section, median: _Median, label: str) -> dict[tuple[str, str], str | None]:
    """Return {(well key, canonical analyte or ``__dilution__``): cell} of one well-table section."""
    if section.key == "dilution factor":
        wt = read_well_table(section, label, value_columns=["dilution factor"])
        col_of = {"__dilution__": wt.columns[0] if wt.columns else 2}
    else:
        wt = read_well_table(section, label)
        col_of = {resolve_analyte(name).canonical: j for name, j in zip(wt.analytes, wt.columns, strict=True)}
        extra = [a for a in wt.analytes if resolve_analyte(a).canonical not in median.canonical]
        if extra:
            raise InconsistentInputError(
                "IML-CYT-001",
                f"line {section.line}: the {section.name} section names analytes that the Median section lacks ({', '.join(extra)})",
                path=label, hint="Sections of one batch must list the same analytes; re-export the batch.",
            )
    store: dict[tuple[str, str], str | None] = {}
    found: set[str] = set()
    for ln, loc, _sample, cells in wt.rows:
        key = _well_key(loc, ln, section.name, label)
        if key not in median.locations:
            raise InconsistentInputError(
                "IML-CYT-001", f"line {ln}: the {section.name} section lists well {key.split(':')[1]} that the Median section lacks",
                path=label, hint="Sections of one batch must list the same wells; re-export the batch.",
            )
        if key in found:
            raise InconsistentInputError(
                "IML-CYT-004", f"line {ln}: well {key.split(':')[1]} appears twice in the {section.name} section",
                path=label, hint="Re-export the batch from xPONENT.",
            )
        found.add(key)
        for canon, j in col_of.items():
            store[(key, canon)] = _cell(cells, j)
    n_wells = len(median.locations)
    if section.key in _COMPLETE and len(found) < n_wells:
        raise MalformedInputError(
            "IML-CYT-001",
            f"line {section.line}: the {section.name} section lists {len(found)} of the {n_wells} wells "
            f"of the Median section ({n_wells - len(found)} missing)",
            path=label, hint="The file was probably cut or edited; re-export the batch from xPONENT.",
        )
    return store


@dataclass
class _Optional:
    """The optional facts of a batch, by layout; ``warnings`` name what was skipped."""

    wells: dict[str, dict[tuple[str, str], str | None]] = field(default_factory=dict)
    reagents: dict[str, ReagentTable] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _optional_sections(batch: Batch, median: _Median, label: str) -> _Optional:
    """Read every optional section by its layout; unknown sections become warnings."""
    out = _Optional()
    for key, section in batch.sections.items():
        if key == "median" or key in _ANALYTE_SECTIONS:
            continue
        wanted = key in _WELL_VALUES or key in _EXPECTED or key in _RANGES
        layout = section_layout(section)
        if wanted and (layout == "well" or key in _COMPLETE):
            out.wells[key] = _well_values(section, median, label)
        elif (key in _EXPECTED or key in _RANGES) and layout == "reagent":
            out.reagents[key] = read_reagent_table(section)
        elif wanted and layout == "empty":
            continue
        elif wanted:
            out.warnings.append(f"the {section.name} section (line {section.line}) has a layout this reader does not know; it was skipped")
        elif key not in _SKIPPED:
            out.warnings.append(f"unrecognised section {section.name!r} (line {section.line}) was skipped")
    return out


def _analyte_facts(batch: Batch, decimal: str) -> tuple[dict[str, str], dict[str, int], int | None]:
    """Return (units, bead ids, smallest per-bead count) from the Units / Per Bead Count tables."""
    units: dict[str, str] = {}
    bead_ids: dict[str, int] = {}
    if "units" in batch.sections:
        table = read_analyte_table(batch.sections["units"])
        for j, name in enumerate(table.analytes):
            canon = resolve_analyte(name).canonical
            unit = table.value("units", j)
            units[canon] = (unit or "").strip()  # blank: the export states no unit (not pg/mL)
            bid = _safe_number(table.value("beadid", j), ".")
            if bid is not None:
                bead_ids[canon] = int(bid)
    min_beads: int | None = None
    if "per bead count" in batch.sections:
        table = read_analyte_table(batch.sections["per bead count"])
        nums = [_safe_number(v, decimal) for v in table.rows.get("per bead", [])]
        found = [int(n) for n in nums if n is not None]
        min_beads = min(found) if found else None
    return units, bead_ids, min_beads


def _safe_number(text: str | None, decimal: str) -> float | None:
    try:
        return parse_number(text, decimal=decimal)
    except ValueError:
        return None


def _well_warnings(batch: Batch) -> dict[str, int]:
    """Return {well key: number of Warning / Error rows} of the Warnings/Errors section."""
    out: dict[str, int] = {}
    for _ln, cells in batch.sections["warnings/errors"].rows if "warnings/errors" in batch.sections else []:
        parsed = parse_xponent_location(cells[0]) if norm_key(cells[0]) != "location" else None
        status = norm_key(cells[1]) if len(cells) > 1 else ""
        if parsed is not None and status in ("warning", "error"):
            key = f"{parsed[1]}:{parsed[2]}"
            out[key] = out.get(key, 0) + 1
    return out


def _reagent_cell(opt: _Optional, section: str, well_label: str | None, printed: str) -> str | None:
    table = opt.reagents.get(section)
    if table is None or well_label is None:
        return None
    row = next((v for k, v in table.values.items() if "".join(k.lower().split()) == well_label.lower()), None)
    if row is None:
        return None
    canon = resolve_analyte(printed).canonical
    return next((cell for name, cell in row.items() if resolve_analyte(name).canonical == canon), None)


def _expected_text(opt: _Optional, key: str, canon: str, printed: str, stype: str, well_label: str | None) -> str | None:
    """Return the expected-concentration cell of one well x analyte from whichever layout printed it."""
    for section in _EXPECTED:
        text = opt.wells.get(section, {}).get((key, canon))
        if text is not None and not is_missing(text):
            return text
    reagent_section = {"standard": "standard expected concentration", "control": "control expected concentration"}.get(stype)
    return _reagent_cell(opt, reagent_section, well_label, printed) if reagent_section else None


def _option_expected(options: Mapping[str, object], canon: str, number: int | None) -> float | None:
    """Return the expected concentration of standard ``number`` from the standard_concentrations option."""
    std_conc = options.get("standard_concentrations")
    if not isinstance(std_conc, Mapping) or number is None:
        return None
    levels = std_conc.get(canon)
    if isinstance(levels, Mapping):
        value = levels.get(number)
        return float(value) if value is not None else None
    if isinstance(levels, Sequence) and 1 <= number <= len(levels):
        return float(levels[number - 1])
    return None


def _well_records(batch: Batch, median: _Median, opt: _Optional, *, decimal: str, label: str,
                  bead_ids: Mapping[str, int], options: Mapping[str, object]) -> list[dict[str, Any]]:
    """Return one record (a :data:`WELL_COLUMNS` row plus ``plate_number``) per well x analyte."""
    warnings_per_well = _well_warnings(batch)
    records: list[dict[str, Any]] = []
    for ln, loc, sample, cells in median.table.rows:
        parsed = parse_xponent_location(loc)
        assert parsed is not None
        key = f"{parsed[1]}:{parsed[2]}"
        stype, number = classify_sample(sample)
        word = {"standard": "Standard", "control": "Control", "blank": "Background"}.get(stype)
        well_label = None if word is None else f"{word}{'' if number is None else number}"
        dilution = _number(opt.wells.get("dilution factor", {}).get((key, "__dilution__")), decimal=decimal,
                           label=label, where=f"line {ln}: the dilution factor of well {parsed[2]}")
        if dilution is not None and dilution <= 0:
            raise MalformedInputError(
                "IML-CYT-003", f"the dilution factor of well {parsed[2]} is {dilution:g} (must be > 0)",
                path=label, hint="Correct the dilution in xPONENT and re-export the batch.",
            )
        for name, j, match in zip(median.table.analytes, median.table.columns, median.matches, strict=True):
            canon = match.canonical

            def where(what: str, _ln: int = ln, _name: str = name, _well: str = parsed[2]) -> str:
                return f"line {_ln}: the {what} of {_name} in well {_well}"  # no str.format over file text

            def num(section: str, what: str, _key: str = key, _canon: str = canon, _where: Callable[[str], str] = where) -> float | None:
                return _number(opt.wells.get(section, {}).get((_key, _canon)), decimal=decimal, label=label, where=_where(what))

            count = num("count", "Count")
            if count is not None and count < 0:
                raise MalformedInputError(
                    "IML-CYT-003", f"line {ln}: the bead count of {name} in well {parsed[2]} is negative",
                    path=label, hint="The file was probably edited; re-export the batch from xPONENT.",
                )
            expected = _number(_expected_text(opt, key, canon, name, stype, well_label), decimal=decimal, label=label,
                               where=where("expected concentration"))
            if expected is None and stype == "standard":
                expected = _option_expected(options, canon, number)
            rtext, rval, rflag = parse_reported_conc(opt.wells.get("result", {}).get((key, canon)), decimal=decimal)
            records.append({
                "plate_number": parsed[1], "well": parsed[2], "location": loc.strip(),
                "acquisition_order": parsed[0] if parsed[0] is not None else median.order[key] + 1,
                "sample_name": sample.replace("\ufffd", "").strip(), "sample_type": stype, "well_label": well_label,
                "standard_level": number if stype == "standard" else None,
                "analyte": canon, "analyte_reported": name,
                "bead_region": match.bead_region if match.bead_region is not None else bead_ids.get(canon),
                "analyte_known": match.known,
                "median_mfi": _number(_cell(cells, j), decimal=decimal, label=label, where=where("Median")),
                "net_mfi_reported": num("net mfi", "Net MFI"), "bead_count": count, "dilution": dilution,
                "expected_conc": expected, "reported_conc_text": rtext, "reported_conc": rval, "reported_flag": rflag,
                "instrument_warnings": warnings_per_well.get(key, 0),
            })
    return records


def _control_ranges(frame: pd.DataFrame, opt: _Optional, *, decimal: str, label: str) -> dict[tuple[str, str], tuple[float, float]]:
    """Return {(control label, analyte): (low, high)} from per-well or per-reagent range sections."""
    nan = float("nan")
    out: dict[tuple[str, str], tuple[float, float]] = {}

    def put(ctrl: str, canon: str, idx: int, bound: float) -> None:
        low, high = out.get((ctrl, canon), (nan, nan))
        out[(ctrl, canon)] = (bound, high) if idx == 0 else (low, bound)

    controls = frame[frame["sample_type"] == "control"]
    # (plate number, well, analyte) -> label of the first control row there: one pass, not a scan per cell
    control_label: dict[tuple[float, str, str], str] = {}
    for pno, wname, canon, wlabel in zip(controls["plate_number"], controls["well"], controls["analyte"],
                                         controls["well_label"], strict=True):
        control_label.setdefault((float(pno), str(wname), str(canon)), str(wlabel))
    for skey, idx in _RANGES.items():
        for (key, canon), txt in opt.wells.get(skey, {}).items():
            bound = _number(txt, decimal=decimal, label=label, where=f"a {skey} cell")
            pno, wname = key.split(":")
            hit = control_label.get((float(int(pno)), wname, canon))
            if bound is not None and hit is not None:
                put(hit, canon, idx, bound)
        table = opt.reagents.get(skey)
        for ctrl in sorted(set(controls["well_label"].dropna())) if table is not None else []:
            for canon, printed in dict(zip(controls["analyte"], controls["analyte_reported"], strict=True)).items():
                bound = _number(_reagent_cell(opt, skey, str(ctrl), printed), decimal=decimal, label=label, where=f"a {skey} cell")
                if bound is not None:
                    put(str(ctrl), canon, idx, bound)
    return out


def _batch_to_plates(batch: Batch, label: str, decimal: str, delimiter: str, options: Mapping[str, object]) -> list[Plate]:
    """Return the plates of one batch (its plate numbers split it), every fact the batch prints."""
    median = _median(batch, label)
    opt = _optional_sections(batch, median, label)
    units, bead_ids, min_beads = _analyte_facts(batch, decimal)
    curves = instrument_curves(batch, decimal=decimal)
    records = _well_records(batch, median, opt, decimal=decimal, label=label, bead_ids=bead_ids, options=options)
    frame = label_unnumbered_controls(pd.DataFrame.from_records(records))
    control_ranges = _control_ranges(frame, opt, decimal=decimal, label=label)
    kinds = read_analyte_table(batch.sections["analysis types"]).rows.get("analysistype", []) if "analysis types" in batch.sections else []
    quantitative = (
        "result" in batch.sections or any(k and k.lower() != "none" for k in kinds)
        or bool(frame.loc[frame["sample_type"] == "standard", "expected_conc"].notna().any())
    )
    layout = "xponent_reagent_tables" if opt.reagents else "xponent_well_tables"
    plates: list[Plate] = []
    for plate_key, part in frame.groupby("plate_number", sort=True):
        plate_no = int(str(plate_key))
        wells = part.drop(columns=["plate_number"]).reset_index(drop=True)
        for col, dtype in WELL_COLUMNS.items():
            if col in wells and dtype != "object":
                wells[col] = wells[col].astype(dtype)
        wells, repairs, std_warnings = check_plate_standards(wells, label=label, plate=plate_no)
        std_warnings += edited_standard_warnings(wells, dict(curves))
        plates.append(Plate(
            plate_index=plate_no, wells=wells,
            instrument=header_value(batch, "program", index=2), instrument_serial=header_value(batch, "sn", "serial number"),
            software=header_value(batch, "program", index=0), software_version=header_value(batch, "build"),
            kit=redact_free_text(header_value(batch, "panelname", "protocolname", "kit", "kitname")),
            lot=redact_free_text(header_value(batch, "kitlot", "kit lot", "lot", "standardlot", "panellot")),
            run_date=batch_date(batch, delimiter), units=dict(units), instrument_curves=dict(curves),
            control_ranges=dict(control_ranges), min_bead_count=min_beads, quantitative=quantitative,
            instrument_warnings=int(wells["instrument_warnings"].groupby(wells["well"]).first().sum()),
            layout=layout, warnings=[*opt.warnings, *std_warnings], standards_repair=repairs,
            reader_flags=instrument_warning_flags(wells),
        ))
    return plates


def instrument_warning_flags(wells: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    """Return {(well, analyte as printed): ["instrument_warning"]} for wells the instrument warned about.

    The warning's text (which may quote sample names) is never kept, only that there was one.
    """
    warned = wells[wells["instrument_warnings"].fillna(0).astype(int) > 0]
    return {(str(w), str(a)): ["instrument_warning"] for w, a in zip(warned["well"], warned["analyte_reported"], strict=True)}


def parse_xponent_bytes(data: bytes, *, label: str, options: Mapping[str, object] | None = None) -> list[Plate]:
    """Return the plates of an xPONENT batch export (bytes of the whole file).

    ``options`` may hold ``standard_concentrations`` (analyte -> list of concentrations for
    Standard1..n, used when the file prints none) and ``accept_missing_crc``. Raises coded
    ``IML-CYT-00x`` / ``IML-CYT-010`` input errors naming ``label``.
    """
    opts = options or {}
    text = decode_bytes(data)
    if not text.strip():
        raise MalformedInputError("IML-IN-005", "the file is empty", path=label, hint="Re-export the batch from xPONENT.")
    dt = read_rows(text)
    batches = split_batches(dt.rows, label)
    if not batches:
        raise MalformedInputError(
            "IML-CYT-001", "no xPONENT batch found (no Program row and no DataType: section)", path=label,
            hint="This does not look like an xPONENT CSV export; choose the right --assay.",
        )
    plates: list[Plate] = []
    for batch, crc in zip(batches, crc_status(data, batches), strict=True):
        if batch.crc_line is None and not opts.get("accept_missing_crc", False):
            raise MalformedInputError(
                "IML-CYT-001",
                f"the batch starting at line {batch.line} ends without the '-- CRC --' trailer that xPONENT writes last",
                path=label,
                hint="The file was probably cut while copying; re-export it from xPONENT, or pass "
                "--accept-missing-crc to `immunolab ingest` if the trailer was removed on purpose.",
            )
        for plate in _batch_to_plates(batch, label, dt.decimal, dt.delimiter, opts):
            plate.plate_index = len(plates) + 1
            plate.export_crc = crc
            if crc == "mismatch":
                plate.warnings.append(
                    f"{CRC_MISMATCH_CODE} the batch's CRC32 trailer does not match the CRC-32 of the bytes before it: "
                    "the file was changed after xPONENT exported it (or written by an xPONENT version whose checksum "
                    "immunolab cannot verify). Its values are stored as read; re-export the batch from xPONENT if "
                    "it was edited.")
            plates.append(plate)
    return plates
