"""Parse the flat INTELLIFLEX CSV export (one row per well, ``R25: RP1 MEDIAN`` columns per region).

Layout (software 2.x, "v2.2" and the older single-dataset variant)::

    INSTRUMENT TYPE, SERIAL NUMBER, SOFTWARE VERSION, PLATE NAME, PLATE START, WELL LOCATION,
    [WELL TYPE], [SAMPLE ID], [DILUTION], ...,
    R25: RP1 ANALYTE NAME, R25: RP1 REGION, R25: RP1 MEDIAN, R25: RP1 NET MEDIAN,
    R25: RP1 COUNT, ..., R25: RP2 MEDIAN, ...

Columns are found by name (any order, any case); the reporter channel is RP1 unless the
``reporter`` option says RP2. ``WELL TYPE`` codes ``U``/``S``/``B``/``C`` + number give the
sample type (unknown / standard level / blank / control); without it the sample id is
classified like xPONENT names. Rows are grouped into plates by ``PLATE NAME`` (never stored).
A trailing ``--DOCUMENT SIGNATURE--`` block ends the table.
The xPONENT-style INTELLIFLEX export is read by :mod:`immunolab_assays.luminex_xponent.reader`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from immunolab_assays.luminex_xponent.reader import (
    instrument_warning_flags,
    parse_reported_conc,
    redact_free_text,
)

from immunolab.cytokine.analytes import resolve_analyte
from immunolab.cytokine.plate import WELL_COLUMNS, Plate, classify_sample, label_unnumbered_controls
from immunolab.cytokine.standards import check_plate_standards
from immunolab.errors import InconsistentInputError, MalformedInputError
from immunolab.io.dates import DateOrder, parse_instrument_date, pick_date_order
from immunolab.io.delimited import DelimitedText, decode_bytes, is_missing, parse_number, read_rows

__all__ = ["parse_intelliflex_flat_bytes"]

_REGION_COL = re.compile(r"^R(\d{1,3})\s*:\s*(RP\d)\s+(.+)$", re.IGNORECASE)
_WELL = re.compile(r"^([A-Pa-p])\s*0?(\d{1,2})$")
_WELL_TYPE = re.compile(r"^([USBCX])\s*(\d*)$", re.IGNORECASE)
_BUNDLE = re.compile(r"bundle\s*-\s*([0-9][0-9.]*)", re.IGNORECASE)
_TYPE_CODES = {"U": "unknown", "S": "standard", "B": "blank", "C": "control", "X": "unknown"}


def _fail(code: str, msg: str, label: str, hint: str) -> MalformedInputError:
    return MalformedInputError(code, msg, path=label, hint=hint)


def _number(text: str | None, *, decimal: str, label: str, where: str) -> float | None:
    try:
        return parse_number(text, decimal=decimal)
    except ValueError:
        raise _fail("IML-CYT-003", f"{where} is not a number", label,
                    "The cell was probably edited or damaged; re-export the plate from INTELLIFLEX.") from None


def _software(text: str | None) -> tuple[str | None, str | None]:
    if not text or is_missing(text):
        return None, None
    m = _BUNDLE.search(text)
    if m:
        return "INTELLIFLEX", m.group(1)
    return "INTELLIFLEX", text.split("/")[0].strip()[:64]


def _data_rows(dt: DelimitedText, label: str) -> list[tuple[int, list[str]]]:
    """Return the non-empty rows (line number, cells) before the signature trailer."""
    rows: list[tuple[int, list[str]]] = []
    for i, r in enumerate(dt.rows, start=1):
        if r and r[0].startswith("--"):
            break  # trailer: "--DOCUMENT SIGNATURE--" and the signature lines
        if r and any(r):
            rows.append((i, r))
    if not rows:
        raise _fail("IML-IN-005", "the file is empty", label, "Re-export the plate from INTELLIFLEX.")
    return rows


@dataclass
class _Table:
    """The header of a flat export: plain columns by name, region columns of the chosen reporter."""

    line: int
    col: dict[str, int]
    regions: dict[int, dict[str, int]]
    width: int
    reporter: str
    decimal: str
    label: str

    def cell(self, cells: Sequence[str], name: str) -> str | None:
        j = self.col.get(name)
        return cells[j] if j is not None and j < len(cells) else None

    def number(self, text: str | None, where: str) -> float | None:
        return _number(text, decimal=self.decimal, label=self.label, where=where)


def _table(line: int, header: list[str], reporter: str, decimal: str, label: str) -> _Table:
    keys = [" ".join(h.upper().split()) for h in header]
    col = {k: j for j, k in reversed(list(enumerate(keys)))}
    if "WELL LOCATION" not in col:
        raise _fail("IML-CYT-002", f"line {line}: the header has no WELL LOCATION column", label,
                    "This is not a flat INTELLIFLEX export, or its header row was cut; re-export it.")
    regions: dict[int, dict[str, int]] = {}
    for j, k in enumerate(keys):
        m = _REGION_COL.match(k)
        if m and m.group(2).upper() == reporter:
            regions.setdefault(int(m.group(1)), {})[" ".join(m.group(3).split())] = j
    regions = {r: c for r, c in regions.items() if "MEDIAN" in c}
    if not regions:
        raise _fail("IML-CYT-002", f"line {line}: no 'R<region>: {reporter} MEDIAN' column", label,
                    f"Export the plate with {reporter} medians, or choose another reporter option.")
    return _Table(line, col, regions, len(header), reporter, decimal, label)


def _well(t: _Table, ln: int, cells: Sequence[str], last: bool, complete: bool) -> str:
    """Return the well of one row after checking the row's width (coded errors otherwise)."""
    if len(cells) > t.width:
        raise _fail("IML-CYT-001", f"line {ln}: {len(cells)} cells for a header of {t.width}", t.label,
                    "The row was probably edited or two exports were pasted together; re-export it.")
    if last and len(cells) < t.width and not complete:
        raise _fail("IML-CYT-001", f"line {ln}: the last row stops after {len(cells)} of {t.width} cells", t.label,
                    "The file was probably cut while copying; re-export it from INTELLIFLEX.")
    m = _WELL.match((t.cell(cells, "WELL LOCATION") or "").strip())
    if not m or not 1 <= int(m.group(2)) <= 24:
        raise _fail("IML-CYT-001", f"line {ln}: unreadable WELL LOCATION", t.label,
                    "Well locations look like A1; the file was probably edited. Re-export it.")
    return f"{m.group(1).upper()}{int(m.group(2))}"


def _role(t: _Table, cells: Sequence[str]) -> tuple[str, str, int | None, str | None]:
    """Return (sample name, sample type, number, well label) of one row."""
    sample = (t.cell(cells, "SAMPLE ID") or "").replace("\ufffd", "").strip()
    tm = _WELL_TYPE.match((t.cell(cells, "WELL TYPE") or "").strip())
    if tm:
        stype, number = _TYPE_CODES[tm.group(1).upper()], (int(tm.group(2)) if tm.group(2) else None)
    else:
        stype, number = classify_sample(sample)
    if stype == "unknown":
        number = None
    prefix = {"standard": "Standard", "control": "Control", "blank": "Background"}.get(stype)
    return sample, stype, number, None if prefix is None else f"{prefix}{'' if number is None else number}"


def _region_record(t: _Table, ln: int, cells: Sequence[str], region: int, base: dict[str, object],
                   std_conc: object) -> dict[str, object]:
    """Return the well record of one region (analyte) of one row."""
    cols = t.regions[region]
    name_cell = cells[cols["ANALYTE NAME"]] if "ANALYTE NAME" in cols and cols["ANALYTE NAME"] < len(cells) else None
    reported = name_cell.strip() if name_cell and not is_missing(name_cell) else f"R{region}"
    match = resolve_analyte(reported)

    def val(kind: str) -> float | None:
        j = cols.get(kind)
        return t.number(cells[j] if j is not None and j < len(cells) else None, f"line {ln}: R{region} {t.reporter} {kind}")

    count = val("COUNT")
    if count is not None and count < 0:
        raise _fail("IML-CYT-003", f"line {ln}: R{region} {t.reporter} COUNT is negative", t.label,
                    "The file was probably edited; re-export the plate.")
    expected = val("EXPECTED CONCENTRATION") if "EXPECTED CONCENTRATION" in cols else None
    number = base["standard_level"]
    if expected is None and isinstance(number, int) and isinstance(std_conc, Mapping):
        levels = std_conc.get(match.canonical)
        if isinstance(levels, Sequence) and 1 <= number <= len(levels):
            expected = float(levels[number - 1])
    conc_col = next((k for k in ("CONCENTRATION", "RESULT", "CALCULATED CONCENTRATION") if k in cols), None)
    rtext, rval, rflag = parse_reported_conc(cells[cols[conc_col]] if conc_col and cols[conc_col] < len(cells) else None,
                                             decimal=t.decimal)
    return {
        **base, "analyte": match.canonical, "analyte_reported": reported,
        "bead_region": match.bead_region if match.bead_region is not None else region,
        "analyte_known": match.known, "median_mfi": val("MEDIAN"),
        "net_mfi_reported": val("NET MEDIAN") if "NET MEDIAN" in cols else None,
        "bead_count": count, "expected_conc": expected,
        "reported_conc_text": rtext, "reported_conc": rval, "reported_flag": rflag,
    }


def _records(t: _Table, rows: list[tuple[int, list[str]]], complete: bool, std_conc: object) -> tuple[list[dict[str, object]], dict[str, dict[str, str | None]]]:
    """Return (one record per well x region, plate facts by plate key in order of appearance)."""
    records: list[dict[str, object]] = []
    seen: dict[tuple[str, str], int] = {}
    plate_meta: dict[str, dict[str, str | None]] = {}
    for ln, cells in rows:
        well = _well(t, ln, cells, ln == rows[-1][0], complete)
        plate_key = (t.cell(cells, "PLATE NAME") or "") + "\x00" + (t.cell(cells, "PLATE START") or "")
        plate_meta.setdefault(plate_key, {
            "instrument": t.cell(cells, "MODEL NAME") or t.cell(cells, "INSTRUMENT TYPE"),
            "serial": t.cell(cells, "SERIAL NUMBER"), "software": t.cell(cells, "SOFTWARE VERSION"),
            "start": t.cell(cells, "PLATE START"), "kit": t.cell(cells, "PANEL NAME") or t.cell(cells, "PROTOCOL NAME"),
        })
        if (plate_key, well) in seen:
            raise InconsistentInputError(
                "IML-CYT-004", f"line {ln}: well {well} already appears at line {seen[(plate_key, well)]}",
                path=t.label, hint="Two exports were probably pasted together; re-export the plate.",
            )
        seen[(plate_key, well)] = ln
        sample, stype, number, well_label = _role(t, cells)
        dilution = t.number(t.cell(cells, "DILUTION"), f"line {ln}: DILUTION")
        if dilution is not None and dilution <= 0:
            raise _fail("IML-CYT-003", f"line {ln}: the dilution factor is {dilution:g} (must be > 0)", t.label,
                        "Correct the dilution on the instrument and re-export the plate.")
        base: dict[str, object] = {
            "plate_key": plate_key, "well": well, "location": well, "acquisition_order": None,
            "sample_name": sample, "sample_type": stype, "well_label": well_label,
            "standard_level": number if stype == "standard" else None, "dilution": dilution,
            "instrument_warnings": 1 if (t.cell(cells, "WELL STATUS") or "").strip().lower() in ("warning", "error") else 0,
        }
        records.extend(_region_record(t, ln, cells, region, base, std_conc) for region in sorted(t.regions))
    return records, plate_meta


def _plate(index: int, part: pd.DataFrame, meta: dict[str, str | None], order: DateOrder, label: str) -> Plate:
    """Return one plate of the flat export (standards checked, duplicates refused)."""
    part = label_unnumbered_controls(part.reset_index(drop=True))
    part["acquisition_order"] = part["well"].map({w: i for i, w in enumerate(pd.unique(part["well"]), start=1)})
    for c, dtype in WELL_COLUMNS.items():
        if c in part and dtype != "object":
            part[c] = part[c].astype(dtype)
    dup = part.groupby(["well", "analyte"]).size()
    if (dup > 1).any():
        bad = dup[dup > 1].index[0]
        raise InconsistentInputError(
            "IML-CYT-004", f"well {bad[0]} has two columns for analyte {bad[1]}", path=label,
            hint="Two regions carry the same analyte name; rename one in the INTELLIFLEX panel.",
        )
    part, repairs, notes = check_plate_standards(part, label=label, plate=index)
    software, version = _software(meta["software"])
    return Plate(
        plate_index=index, wells=part, instrument=meta["instrument"], instrument_serial=meta["serial"],
        software=software, software_version=version, kit=redact_free_text(meta["kit"]),
        run_date=parse_instrument_date(meta["start"], order=order),
        instrument_warnings=int(part.drop_duplicates("well")["instrument_warnings"].sum()),
        warnings=notes, standards_repair=repairs, reader_flags=instrument_warning_flags(part),
    )


def parse_intelliflex_flat_bytes(data: bytes, *, label: str, options: Mapping[str, object] | None = None) -> list[Plate]:
    """Return the plates of a flat INTELLIFLEX CSV export; coded input errors name ``label``."""
    opts = options or {}
    dt = read_rows(decode_bytes(data))
    rows = _data_rows(dt, label)
    table = _table(rows[0][0], rows[0][1], str(opts.get("reporter", "RP1")).upper(), dt.decimal, label)
    records, plate_meta = _records(table, rows[1:], data.endswith((b"\n", b"\r")), opts.get("standard_concentrations"))
    if not records:
        raise _fail("IML-CYT-002", "the export holds a header but no well row", label,
                    "The file was probably cut after the header; re-export it from INTELLIFLEX.")
    frame = pd.DataFrame.from_records(records)
    order = pick_date_order([m["start"] for m in plate_meta.values()], european=dt.delimiter == ";")
    return [
        _plate(index, frame[frame["plate_key"] == key].drop(columns=["plate_key"]), meta, order, label)
        for index, (key, meta) in enumerate(plate_meta.items(), start=1)
    ]
