"""Parse Luminex xPONENT (and xPONENT-style INTELLIFLEX) batch CSV exports into plates.

The file is read as a block grammar, never by matching whole lines::

    export   := batch+                      (several exported batches may be concatenated)
    batch    := header [calibration] "Results" section*
    header   := key-value rows ("Program", "Build", "Date", "SN", "Batch", "ProtocolName" ...)
    section  := "DataType:" NAME  table     (ends at the next DataType:, batch or "-- CRC --")
    table    := well table   (Location, Sample, analytes..., [Total Events])
              | sample table (Sample, analytes...)            e.g. Avg Net MFI, Avg Result
              | analyte table (Analyte:, BeadID:, Units: ...)  e.g. Units, Per Bead Count
              | other        (Audit Logs, Warnings/Errors)

Cells may be quoted or not, padded, ``,`` or ``;`` delimited with decimal commas (see
:mod:`immunolab.io.delimited`); section order does not matter; unknown DataTypes (Mean,
%CV, Peak, Acquisition Time, Trimmed ...) are read and ignored. Locations look like
``1(1,A1)`` (acquisition order, plate number, well) or ``1,A1``; the plate number splits a
batch into plates. The Audit Logs section (user names) is never read.

Every batch must end with the ``-- CRC --`` / ``CRC32: XXXXXXXX`` trailer (a missing trailer
means the file was cut: IML-CYT-001, unless the option ``accept_missing_crc`` is set). The
checksum is xPONENT's CRC-32 of the bytes before the trailer; a mismatch (the file was edited
or re-saved after export) is recorded in ``Plate.export_crc``, not rejected.

The sections immunolab uses: Median (required), Net MFI, Count, Dilution Factor, Units,
Per Bead Count, Result, Expected Result (standard / control expected concentrations), Control
Range - Low / High, Analysis Types (curve model and, when printed, curve coefficients),
Warnings/Errors (counted per well, messages never stored).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from immunolab.cytokine.analytes import resolve_analyte
from immunolab.cytokine.curves import StandardCurve
from immunolab.cytokine.plate import WELL_COLUMNS, Plate, classify_sample, label_unnumbered_controls
from immunolab.errors import InconsistentInputError, MalformedInputError
from immunolab.io.dates import parse_instrument_date, pick_date_order
from immunolab.io.delimited import decode_bytes, is_missing, parse_number, read_rows

__all__ = [
    "parse_reported_conc",
    "parse_xponent_bytes",
    "parse_xponent_location",
    "redact_free_text",
]

_LOCATION = re.compile(
    r"^\s*(?:(?P<order>\d+)\s*\(\s*(?P<plate>\d+)\s*,\s*(?P<row>[A-Pa-p])\s*(?P<col>\d{1,2})\s*\)"
    r"|(?P<plate2>\d+)\s*,\s*(?P<row2>[A-Pa-p])\s*(?P<col2>\d{1,2})"
    r"|(?P<row3>[A-Pa-p])\s*(?P<col3>\d{1,2}))\s*$"
)
_DATE_LIKE = re.compile(
    r"(?<![A-Za-z0-9])(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{8}|\d{1,2}[\s_-]?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[\s_-]?\d{2,4})(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_CURVE_COEF = re.compile(r"\b([A-Ga-g])\s*[=:]\s*([-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?)")
_R2 = re.compile(r"R\s*(?:\^?2|²)\s*[=:]\s*([-+]?\d+(?:[.,]\d*)?)", re.IGNORECASE)
_END_MARKERS = ("-- crc --", "crc32")

WELL_SECTIONS = {
    "median": "median_mfi",
    "net mfi": "net_mfi_reported",
    "count": "bead_count",
    "result": "reported_conc_text",
    "expected result": "expected_conc",
    "standard expected concentration": "expected_conc",
    "expected concentration": "expected_conc",
}
_CONTROL_RANGE_SECTIONS = {"control range - low": 0, "control range - high": 1}


@dataclass
class Section:
    """One ``DataType:`` block: its name, first line number (1-based) and rows."""

    name: str
    line: int
    rows: list[tuple[int, list[str]]] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Return the normalised section name (lower case, single spaces)."""
        return " ".join(self.name.lower().split())


@dataclass
class Batch:
    """One exported batch: header key-values and its sections."""

    line: int
    header: dict[str, list[str]] = field(default_factory=dict)
    sections: dict[str, Section] = field(default_factory=dict)
    crc_line: int | None = None
    crc_value: str | None = None


def _norm_key(cell: str) -> str:
    return " ".join(cell.replace("\ufffd", "").strip().rstrip(":").lower().split())


def parse_xponent_location(text: str) -> tuple[int | None, int, str] | None:
    """Return (acquisition order or None, plate number, well like ``A1``) or None if unreadable."""
    m = _LOCATION.match(text or "")
    if not m:
        return None
    if m.group("order"):
        order, plate, row, col = int(m.group("order")), int(m.group("plate")), m.group("row"), int(m.group("col"))
    elif m.group("plate2"):
        order, plate, row, col = None, int(m.group("plate2")), m.group("row2"), int(m.group("col2"))
    else:
        order, plate, row, col = None, 1, m.group("row3"), int(m.group("col3"))
    if not 1 <= col <= 24:
        return None
    return order, plate, f"{row.upper()}{col}"


def redact_free_text(text: str | None) -> str | None:
    """Return ``text`` with date-like substrings replaced by ``[date]`` (protocol / kit names)."""
    if text is None:
        return None
    cleaned = _DATE_LIKE.sub("[date]", text.replace("\ufffd", "")).strip()
    return cleaned or None


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


def _split_batches(rows: list[list[str]], label: str) -> list[Batch]:
    batches: list[Batch] = []
    current: Batch | None = None
    section: Section | None = None
    in_header = True
    for i, cells in enumerate(rows, start=1):
        if not cells or not any(cells):
            continue
        key = _norm_key(cells[0])
        if key == "program" and len(cells) > 1 and "xponent" in cells[1].lower():
            current = Batch(line=i)
            batches.append(current)
            section, in_header = None, True
        if current is None:
            if key in ("datatype", "results"):
                current = Batch(line=i)
                batches.append(current)
                in_header = True
            else:
                continue
        if key.startswith(_END_MARKERS):
            if key.startswith("-- crc --"):
                current.crc_line = i
            else:
                m = re.search(r"([0-9a-fA-F]{8})", " ".join(cells))
                current.crc_value = m.group(1).upper() if m else None
            section = None
            in_header = False
            continue
        if key == "datatype":
            name = cells[1].strip() if len(cells) > 1 else ""
            section = Section(name=name, line=i)
            if not section.key:
                raise MalformedInputError(
                    "IML-CYT-001", f"line {i}: a DataType: row names no data type", path=label,
                    hint="The file was probably edited by hand or cut; re-export it from xPONENT.",
                )
            if section.key in current.sections:
                raise InconsistentInputError(
                    "IML-CYT-004",
                    f"line {i}: the {section.name} section appears twice in one batch "
                    f"(first at line {current.sections[section.key].line})",
                    path=label,
                    hint="Two exports were probably pasted together; re-export the batch from xPONENT.",
                )
            current.sections[section.key] = section
            in_header = False
            continue
        if key in ("results", "most recent calibration and verification results", "most recent calibration and control results", "calinfo"):
            in_header = False
            section = None
            continue
        if in_header:
            current.header.setdefault(key, cells[1:])
        elif section is not None:
            section.rows.append((i, cells))
    return batches


@dataclass
class _WellTable:
    analytes: list[str]
    columns: list[int]
    rows: list[tuple[int, str, str, list[str]]]  # line, location, sample, cells


def _well_table(section: Section, label: str, *, value_columns: Sequence[str] | None = None) -> _WellTable:
    if not section.rows:
        return _WellTable([], [], [])
    line, header = section.rows[0]
    keys = [_norm_key(c) for c in header]
    if "location" not in keys or "sample" not in keys:
        raise MalformedInputError(
            "IML-CYT-002",
            f"line {line}: the {section.name} section lacks its Location / Sample header row",
            path=label,
            hint="The file was probably cut or edited; re-export the batch from xPONENT.",
        )
    i_loc, i_sample = keys.index("location"), keys.index("sample")
    start = max(i_loc, i_sample) + 1
    stop = keys.index("total events") if "total events" in keys[start:] else len(header)
    if value_columns is not None:
        cols = [j for j in range(start, len(header)) if keys[j] in value_columns]
    else:
        cols = list(range(start, stop))
    analytes = [header[j].strip() for j in cols]
    body: list[tuple[int, str, str, list[str]]] = []
    for ln, cells in section.rows[1:]:
        if _norm_key(cells[0]) == "location":
            continue  # repeated header row (seen in xPONENT 3.1 Dilution Factor sections)
        loc = cells[i_loc] if i_loc < len(cells) else ""
        sample = cells[i_sample] if i_sample < len(cells) else ""
        body.append((ln, loc, sample, cells))
    return _WellTable(analytes, cols, body)


def _cell(cells: list[str], j: int) -> str | None:
    return cells[j] if j < len(cells) else None


def _number(text: str | None, *, decimal: str, label: str, where: str) -> float | None:
    try:
        return parse_number(text, decimal=decimal)
    except ValueError:
        raise MalformedInputError(
            "IML-CYT-003",
            f"{where} is not a number",
            path=label,
            hint="The cell was probably edited or damaged; re-export the batch from xPONENT.",
        ) from None


def _analyte_rows(section: Section) -> dict[str, list[str]]:
    """Return label -> values for an analyte table (Units, Per Bead Count, Analysis Types)."""
    out: dict[str, list[str]] = {}
    for _ln, cells in section.rows:
        out.setdefault(_norm_key(cells[0]), [c.strip() for c in cells[1:]])
    return out


def _curve_from_text(text: str, model_hint: str, *, decimal: str) -> StandardCurve | None:
    coefs: dict[str, float] = {}
    for letter, num in _CURVE_COEF.findall(text):
        try:
            value = parse_number(num, decimal=decimal if "," in num else ".")
        except ValueError:
            return None
        if value is not None:
            coefs[letter.upper()] = value
    if not {"A", "B", "C", "D"} <= set(coefs):
        return None
    f = coefs.get("E", coefs.get("F", coefs.get("G", 1.0)))
    m = _R2.search(text)
    r2 = float(m.group(1).replace(",", ".")) if m else None
    model = "4PL" if "4" in model_hint and "5" not in model_hint else "5PL"
    if model == "5PL" and not {"E", "F", "G"} & set(coefs):
        model = "4PL"
    weighting = "1/y^2" if re.search(r"1\s*/\s*y\s*\^?\s*2|weighted", model_hint, re.IGNORECASE) else "unknown"
    return StandardCurve(
        model=model, a=coefs["A"], b=coefs["B"], c=coefs["C"], d=coefs["D"], f=f,
        weighting=weighting, r_squared=r2, converged=True, message="printed by the instrument",
        source="instrument",
    )


def _parse_date_of(batch: Batch, delimiter: str) -> date | None:
    candidates = []
    for key in ("batchstarttime", "date", "batchstoptime"):
        vals = batch.header.get(key)
        if vals:
            candidates.append(" ".join(v for v in vals if v))
    order = pick_date_order(candidates, european=delimiter == ";")
    for text in candidates:
        d = parse_instrument_date(text, order=order)
        if d is not None:
            return d
    return None


def _header_value(batch: Batch, *keys: str, index: int = 0) -> str | None:
    for key in keys:
        vals = batch.header.get(key)
        if vals and len(vals) > index and not is_missing(vals[index]) and vals[index].strip() not in ("<None>",):
            return vals[index].strip().replace("\ufffd", "")
    return None


def _batch_to_plates(batch: Batch, label: str, decimal: str, delimiter: str, options: Mapping[str, object]) -> list[Plate]:
    median = batch.sections.get("median")
    if median is None:
        raise MalformedInputError(
            "IML-CYT-002",
            f"the batch starting at line {batch.line} has no Median section",
            path=label,
            hint="Export the batch from xPONENT with the Median data type (the default), or "
            "check that the file was not cut.",
        )
    table = _well_table(median, label)
    if not table.analytes:
        raise MalformedInputError(
            "IML-CYT-002", f"line {median.line}: the Median section names no analyte", path=label,
            hint="The file was probably cut or edited; re-export the batch from xPONENT.",
        )
    if not table.rows:
        raise MalformedInputError(
            "IML-CYT-002", f"line {median.line}: the Median section holds no well", path=label,
            hint="The file was probably cut right after the header; re-export the batch.",
        )
    matches = [resolve_analyte(a) for a in table.analytes]
    seen: dict[str, str] = {}
    for name, m in zip(table.analytes, matches, strict=True):
        if m.canonical in seen:
            raise InconsistentInputError(
                "IML-CYT-004",
                f"line {median.line}: analyte columns {seen[m.canonical]!r} and {name!r} are the same analyte ({m.canonical})",
                path=label,
                hint="Rename one of the analytes in the xPONENT protocol, or remove the duplicate column.",
            )
        seen[m.canonical] = name
    # units / bead ids
    units: dict[str, str] = {}
    bead_ids: dict[str, int] = {}
    if "units" in batch.sections:
        arows = _analyte_rows(batch.sections["units"])
        names = arows.get("analyte", [])
        for j, name in enumerate(names):
            canon = resolve_analyte(name).canonical
            unit_vals = arows.get("units", [])
            if j < len(unit_vals) and unit_vals[j]:
                units[canon] = unit_vals[j]
            ids = arows.get("beadid", [])
            if j < len(ids):
                try:
                    bid = parse_number(ids[j])
                except ValueError:
                    bid = None
                if bid is not None:
                    bead_ids[canon] = int(bid)
    min_beads: int | None = None
    if "per bead count" in batch.sections:
        per = _analyte_rows(batch.sections["per bead count"]).get("per bead", [])
        nums = []
        for v in per:
            try:
                n = parse_number(v, decimal=decimal)
            except ValueError:
                n = None
            if n is not None:
                nums.append(int(n))
        min_beads = min(nums) if nums else None
    curves: dict[str, StandardCurve] = {}
    if "analysis types" in batch.sections:
        arows = _analyte_rows(batch.sections["analysis types"])
        names = arows.get("analyte", [])
        kinds = arows.get("analysistype", [])
        curve_texts = arows.get("std. curve", arows.get("std curve", arows.get("standard curve", [])))
        for j, name in enumerate(names):
            if j < len(curve_texts) and curve_texts[j]:
                c = _curve_from_text(curve_texts[j], kinds[j] if j < len(kinds) else "", decimal=decimal)
                if c is not None:
                    curves[resolve_analyte(name).canonical] = c

    # per-well values from every well section
    n_wells = len(table.rows)
    locs: dict[str, tuple[int | None, int, str]] = {}
    order_of: dict[str, int] = {}
    for pos, (ln, loc, _sample, _cells) in enumerate(table.rows):
        parsed = parse_xponent_location(loc)
        if parsed is None:
            raise MalformedInputError(
                "IML-CYT-001",
                f"line {ln}: the Median section has an unreadable well location",
                path=label,
                hint="Locations look like 1(1,A1); the file was probably edited. Re-export it.",
            )
        key = f"{parsed[1]}:{parsed[2]}"
        if key in locs:
            raise InconsistentInputError(
                "IML-CYT-004",
                f"line {ln}: well {parsed[2]} of plate {parsed[1]} appears twice in the Median section",
                path=label,
                hint="Two exports were probably pasted together; re-export the batch from xPONENT.",
            )
        locs[key] = parsed
        order_of[key] = pos

    values: dict[str, dict[tuple[str, str], str | None]] = {}
    for skey, section in batch.sections.items():
        target = WELL_SECTIONS.get(skey)
        if target is None and skey not in _CONTROL_RANGE_SECTIONS and skey != "dilution factor":
            continue
        if skey == "dilution factor":
            wt = _well_table(section, label, value_columns=["dilution factor"])
            col_of = {"__dilution__": wt.columns[0]} if wt.columns else {"__dilution__": 2}
        else:
            wt = _well_table(section, label)
            col_of = {name: j for name, j in zip(wt.analytes, wt.columns, strict=True)}
            extra = [a for a in wt.analytes if resolve_analyte(a).canonical not in seen]
            if extra:
                raise InconsistentInputError(
                    "IML-CYT-001",
                    f"line {section.line}: the {section.name} section names analytes that the Median "
                    f"section lacks ({', '.join(extra)})",
                    path=label,
                    hint="Sections of one batch must list the same analytes; re-export the batch.",
                )
        found: set[str] = set()
        store: dict[tuple[str, str], str | None] = {}
        for ln, loc, _sample, cells in wt.rows:
            parsed = parse_xponent_location(loc)
            if parsed is None:
                raise MalformedInputError(
                    "IML-CYT-001", f"line {ln}: the {section.name} section has an unreadable well location",
                    path=label, hint="Locations look like 1(1,A1); the file was probably edited. Re-export it.",
                )
            key = f"{parsed[1]}:{parsed[2]}"
            if key not in locs:
                raise InconsistentInputError(
                    "IML-CYT-001",
                    f"line {ln}: the {section.name} section lists well {parsed[2]} that the Median section lacks",
                    path=label, hint="Sections of one batch must list the same wells; re-export the batch.",
                )
            if key in found:
                raise InconsistentInputError(
                    "IML-CYT-004",
                    f"line {ln}: well {parsed[2]} appears twice in the {section.name} section",
                    path=label, hint="Re-export the batch from xPONENT.",
                )
            found.add(key)
            for name, j in col_of.items():
                canon = "__dilution__" if name == "__dilution__" else resolve_analyte(name).canonical
                store[(key, canon)] = _cell(cells, j)
        if skey in ("median", "count", "net mfi", "dilution factor", "result") and len(found) < n_wells:
            missing = n_wells - len(found)
            raise MalformedInputError(
                "IML-CYT-001",
                f"line {section.line}: the {section.name} section lists {len(found)} of the {n_wells} wells "
                f"of the Median section ({missing} missing)",
                path=label,
                hint="The file was probably cut or edited; re-export the batch from xPONENT.",
            )
        values[skey] = store

    warnings_per_well: dict[str, int] = {}
    n_warn = 0
    if "warnings/errors" in batch.sections:
        for _ln, cells in batch.sections["warnings/errors"].rows:
            if _norm_key(cells[0]) == "location":
                continue
            parsed = parse_xponent_location(cells[0])
            status = _norm_key(cells[1]) if len(cells) > 1 else ""
            if parsed is not None and status in ("warning", "error"):
                k = f"{parsed[1]}:{parsed[2]}"
                warnings_per_well[k] = warnings_per_well.get(k, 0) + 1
                n_warn += 1

    std_conc = options.get("standard_concentrations")
    records: list[dict[str, object]] = []
    for ln, loc, sample, cells in table.rows:
        parsed = parse_xponent_location(loc)
        assert parsed is not None
        key = f"{parsed[1]}:{parsed[2]}"
        stype, number = classify_sample(sample)
        label_txt = {"standard": "Standard", "control": "Control", "blank": "Background"}.get(stype)
        well_label = None if label_txt is None else f"{label_txt}{'' if number is None else number}"
        dil_txt = values.get("dilution factor", {}).get((key, "__dilution__"))
        dilution = _number(dil_txt, decimal=decimal, label=label, where=f"line {ln}: the dilution factor of well {parsed[2]}")
        if dilution is not None and dilution <= 0:
            raise MalformedInputError(
                "IML-CYT-003", f"the dilution factor of well {parsed[2]} is {dilution:g} (must be > 0)",
                path=label, hint="Correct the dilution in xPONENT and re-export the batch.",
            )
        for name, j, match in zip(table.analytes, table.columns, matches, strict=True):
            canon = match.canonical
            where = f"line {ln}: the {{}} of {name} in well {parsed[2]}"
            med = _number(_cell(cells, j), decimal=decimal, label=label, where=where.format("Median"))
            net = _number(values.get("net mfi", {}).get((key, canon)), decimal=decimal, label=label, where=where.format("Net MFI"))
            count = _number(values.get("count", {}).get((key, canon)), decimal=decimal, label=label, where=where.format("Count"))
            if count is not None and count < 0:
                raise MalformedInputError(
                    "IML-CYT-003", f"line {ln}: the bead count of {name} in well {parsed[2]} is negative",
                    path=label, hint="The file was probably edited; re-export the batch from xPONENT.",
                )
            expected = _number(values.get("expected result", values.get("standard expected concentration", values.get("expected concentration", {}))).get((key, canon)),
                               decimal=decimal, label=label, where=where.format("expected concentration"))
            if expected is None and stype == "standard" and isinstance(std_conc, Mapping) and number is not None:
                levels = std_conc.get(canon)
                if isinstance(levels, Mapping):
                    expected = levels.get(number)
                elif isinstance(levels, Sequence) and 1 <= number <= len(levels):
                    expected = float(levels[number - 1])
            rtext, rval, rflag = parse_reported_conc(values.get("result", {}).get((key, canon)), decimal=decimal)
            records.append(
                {
                    "plate_number": parsed[1],
                    "well": parsed[2],
                    "location": loc.strip(),
                    "acquisition_order": parsed[0] if parsed[0] is not None else order_of[key] + 1,
                    "sample_name": sample.replace("\ufffd", "").strip(),
                    "sample_type": stype,
                    "well_label": well_label,
                    "standard_level": number if stype == "standard" else None,
                    "analyte": canon,
                    "analyte_reported": name,
                    "bead_region": match.bead_region if match.bead_region is not None else bead_ids.get(canon),
                    "analyte_known": match.known,
                    "median_mfi": med,
                    "net_mfi_reported": net,
                    "bead_count": count,
                    "dilution": dilution,
                    "expected_conc": expected,
                    "reported_conc_text": rtext,
                    "reported_conc": rval,
                    "reported_flag": rflag,
                    "instrument_warnings": warnings_per_well.get(key, 0),
                }
            )
    control_ranges: dict[tuple[str, str], tuple[float, float]] = {}
    frame = label_unnumbered_controls(pd.DataFrame.from_records(records))
    for skey, idx in _CONTROL_RANGE_SECTIONS.items():
        for (key, canon), txt in values.get(skey, {}).items():
            bound = _number(txt, decimal=decimal, label=label, where=f"a {skey} cell")
            if bound is None:
                continue
            pno, wname = key.split(":")
            hit = frame[(frame["plate_number"] == int(pno)) & (frame["well"] == wname) & (frame["analyte"] == canon)]
            if hit.empty or hit["sample_type"].iloc[0] != "control":
                continue
            ctrl = str(hit["well_label"].iloc[0])
            low, high = control_ranges.get((ctrl, canon), (float("nan"), float("nan")))
            control_ranges[(ctrl, canon)] = (bound, high) if idx == 0 else (low, bound)

    kinds = [k.lower() for k in _analyte_rows(batch.sections["analysis types"]).get("analysistype", [])] if "analysis types" in batch.sections else []
    quantitative = (
        "result" in batch.sections
        or any(k and k != "none" for k in kinds)
        or bool(frame.loc[frame["sample_type"] == "standard", "expected_conc"].notna().any())
    )
    run_date = _parse_date_of(batch, delimiter)
    instrument = _header_value(batch, "program", index=2)
    software = _header_value(batch, "program", index=0)
    kit = redact_free_text(_header_value(batch, "panelname", "protocolname", "kit", "kitname"))
    lot = redact_free_text(_header_value(batch, "kitlot", "kit lot", "lot", "standardlot", "panellot"))
    plates: list[Plate] = []
    for plate_key, part in frame.groupby("plate_number", sort=True):
        plate_no = int(str(plate_key))
        wells = part.drop(columns=["plate_number"]).reset_index(drop=True)
        for col, dtype in WELL_COLUMNS.items():
            if col in wells:
                wells[col] = wells[col].astype(dtype) if dtype != "object" else wells[col]
        plates.append(
            Plate(
                plate_index=int(plate_no),
                wells=wells,
                instrument=instrument,
                instrument_serial=_header_value(batch, "sn", "serial number"),
                software=software,
                software_version=_header_value(batch, "build"),
                kit=kit,
                lot=lot,
                run_date=run_date,
                units=units,
                instrument_curves=dict(curves),
                control_ranges={k: v for k, v in control_ranges.items()},
                min_bead_count=min_beads,
                quantitative=quantitative,
                instrument_warnings=sum(
                    n for k, n in warnings_per_well.items() if k.startswith(f"{plate_no}:")
                ),
            )
        )
    return plates


def parse_xponent_bytes(data: bytes, *, label: str, options: Mapping[str, object] | None = None) -> list[Plate]:
    """Return the plates of an xPONENT batch export (bytes of the whole file).

    ``options`` may hold ``standard_concentrations`` (analyte -> list of pg/mL for
    Standard1..n, used when the file prints no expected concentrations). Raises coded
    ``IML-CYT-00x`` input errors naming ``label`` for any structural problem.
    """
    opts = options or {}
    text = decode_bytes(data)
    if not text.strip():
        raise MalformedInputError("IML-IN-005", "the file is empty", path=label, hint="Re-export the batch from xPONENT.")
    dt = read_rows(text)
    batches = _split_batches(dt.rows, label)
    if not batches:
        raise MalformedInputError(
            "IML-CYT-001",
            "no xPONENT batch found (no Program row and no DataType: section)",
            path=label,
            hint="This does not look like an xPONENT CSV export; choose the right --assay.",
        )
    crcs = _crc_status(data, batches)
    plates: list[Plate] = []
    for batch, crc in zip(batches, crcs, strict=True):
        if batch.crc_line is None and not opts.get("accept_missing_crc", False):
            raise MalformedInputError(
                "IML-CYT-001",
                f"the batch starting at line {batch.line} ends without the '-- CRC --' trailer "
                "that xPONENT writes last",
                path=label,
                hint="The file was probably cut while copying; re-export it from xPONENT, or pass "
                "the option accept_missing_crc if the trailer was removed on purpose.",
            )
        for plate in _batch_to_plates(batch, label, dt.decimal, dt.delimiter, opts):
            plate.plate_index = len(plates) + 1
            plate.export_crc = crc
            plates.append(plate)
    return plates


def _crc_status(data: bytes, batches: list[Batch]) -> list[str]:
    """Return ``ok`` / ``mismatch`` / ``absent`` per batch: CRC32 of the bytes before ``-- CRC --``."""
    import zlib

    out: list[str] = []
    starts = [m.start() for m in re.finditer(rb"-- CRC --", data)]
    prev_end = 0
    for k, batch in enumerate(batches):
        if batch.crc_line is None or batch.crc_value is None or k >= len(starts):
            out.append("absent")
            continue
        segment = data[prev_end : starts[k]]
        if k > 0:
            segment = segment.lstrip(b"\r\n")
        out.append("ok" if f"{zlib.crc32(segment):08X}" == batch.crc_value else "mismatch")
        nl = data.find(b"\n", data.find(b"CRC32", starts[k]))
        prev_end = len(data) if nl < 0 else nl + 1
    return out
