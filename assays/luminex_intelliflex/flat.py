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

import pandas as pd
from immunolab_assays.luminex_xponent.reader import parse_reported_conc, redact_free_text

from immunolab.cytokine.analytes import resolve_analyte
from immunolab.cytokine.plate import WELL_COLUMNS, Plate, classify_sample, label_unnumbered_controls
from immunolab.errors import InconsistentInputError, MalformedInputError
from immunolab.io.dates import parse_instrument_date, pick_date_order
from immunolab.io.delimited import decode_bytes, is_missing, parse_number, read_rows

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


def parse_intelliflex_flat_bytes(data: bytes, *, label: str, options: Mapping[str, object] | None = None) -> list[Plate]:
    """Return the plates of a flat INTELLIFLEX CSV export; coded input errors name ``label``."""
    opts = options or {}
    reporter = str(opts.get("reporter", "RP1")).upper()
    dt = read_rows(decode_bytes(data))
    rows: list[tuple[int, list[str]]] = []
    for i, r in enumerate(dt.rows, start=1):
        if r and r[0].startswith("--"):
            break  # trailer: "--DOCUMENT SIGNATURE--" and the signature lines
        if r and any(r):
            rows.append((i, r))
    if not rows:
        raise _fail("IML-IN-005", "the file is empty", label, "Re-export the plate from INTELLIFLEX.")
    hline, header = rows[0]
    keys = [" ".join(h.upper().split()) for h in header]
    col = {k: j for j, k in reversed(list(enumerate(keys)))}
    if "WELL LOCATION" not in col:
        raise _fail("IML-CYT-002", f"line {hline}: the header has no WELL LOCATION column", label,
                    "This is not a flat INTELLIFLEX export, or its header row was cut; re-export it.")
    regions: dict[int, dict[str, int]] = {}
    for j, k in enumerate(keys):
        m = _REGION_COL.match(k)
        if m and m.group(2).upper() == reporter:
            regions.setdefault(int(m.group(1)), {})[" ".join(m.group(3).split())] = j
    regions = {r: c for r, c in regions.items() if "MEDIAN" in c}
    if not regions:
        raise _fail("IML-CYT-002", f"line {hline}: no 'R<region>: {reporter} MEDIAN' column", label,
                    f"Export the plate with {reporter} medians, or choose another reporter option.")
    std_conc = opts.get("standard_concentrations")
    records: list[dict[str, object]] = []
    seen: dict[tuple[str, str], int] = {}
    plate_meta: dict[str, dict[str, str | None]] = {}
    plate_order: list[str] = []
    width = len(header)

    def cell(cells: Sequence[str], name: str) -> str | None:
        j = col.get(name)
        return cells[j] if j is not None and j < len(cells) else None

    last_line = rows[-1][0]
    for ln, cells in rows[1:]:
        if len(cells) > width:
            raise _fail("IML-CYT-001", f"line {ln}: {len(cells)} cells for a header of {width}", label,
                        "The row was probably edited or two exports were pasted together; re-export it.")
        if ln == last_line and len(cells) < width and not data.endswith((b"\n", b"\r")):
            raise _fail("IML-CYT-001", f"line {ln}: the last row stops after {len(cells)} of {width} cells", label,
                        "The file was probably cut while copying; re-export it from INTELLIFLEX.")
        loc = (cell(cells, "WELL LOCATION") or "").strip()
        m = _WELL.match(loc)
        if not m or not 1 <= int(m.group(2)) <= 24:
            raise _fail("IML-CYT-001", f"line {ln}: unreadable WELL LOCATION", label,
                        "Well locations look like A1; the file was probably edited. Re-export it.")
        well = f"{m.group(1).upper()}{int(m.group(2))}"
        plate_key = (cell(cells, "PLATE NAME") or "") + "\x00" + (cell(cells, "PLATE START") or "")
        if plate_key not in plate_meta:
            plate_order.append(plate_key)
            plate_meta[plate_key] = {
                "instrument": cell(cells, "MODEL NAME") or cell(cells, "INSTRUMENT TYPE"),
                "serial": cell(cells, "SERIAL NUMBER"),
                "software": cell(cells, "SOFTWARE VERSION"),
                "start": cell(cells, "PLATE START"),
                "kit": cell(cells, "PANEL NAME") or cell(cells, "PROTOCOL NAME"),
            }
        if (plate_key, well) in seen:
            raise InconsistentInputError(
                "IML-CYT-004", f"line {ln}: well {well} already appears at line {seen[(plate_key, well)]}",
                path=label, hint="Two exports were probably pasted together; re-export the plate.",
            )
        seen[(plate_key, well)] = ln
        sample = (cell(cells, "SAMPLE ID") or "").replace("\ufffd", "").strip()
        wtype = (cell(cells, "WELL TYPE") or "").strip()
        tm = _WELL_TYPE.match(wtype)
        if tm:
            stype = _TYPE_CODES[tm.group(1).upper()]
            number = int(tm.group(2)) if tm.group(2) else None
        else:
            stype, number = classify_sample(sample)
        if stype == "unknown":
            number = None
        prefix = {"standard": "Standard", "control": "Control", "blank": "Background"}.get(stype)
        well_label = None if prefix is None else f"{prefix}{'' if number is None else number}"
        dilution = _number(cell(cells, "DILUTION"), decimal=dt.decimal, label=label, where=f"line {ln}: DILUTION")
        if dilution is not None and dilution <= 0:
            raise _fail("IML-CYT-003", f"line {ln}: the dilution factor is {dilution:g} (must be > 0)", label,
                        "Correct the dilution on the instrument and re-export the plate.")
        for region, cols in sorted(regions.items()):
            name_cell = cells[cols["ANALYTE NAME"]] if "ANALYTE NAME" in cols and cols["ANALYTE NAME"] < len(cells) else None
            reported = name_cell.strip() if name_cell and not is_missing(name_cell) else f"R{region}"
            match = resolve_analyte(reported)

            def val(kind: str, _cols: dict[str, int] = cols, _cells: Sequence[str] = cells, _r: int = region, _ln: int = ln) -> float | None:
                j = _cols.get(kind)
                text = _cells[j] if j is not None and j < len(_cells) else None
                return _number(text, decimal=dt.decimal, label=label, where=f"line {_ln}: R{_r} {reporter} {kind}")

            count = val("COUNT")
            if count is not None and count < 0:
                raise _fail("IML-CYT-003", f"line {ln}: R{region} {reporter} COUNT is negative", label,
                            "The file was probably edited; re-export the plate.")
            expected = val("EXPECTED CONCENTRATION") if "EXPECTED CONCENTRATION" in cols else None
            if expected is None and stype == "standard" and number is not None and isinstance(std_conc, Mapping):
                levels = std_conc.get(match.canonical)
                if isinstance(levels, Sequence) and 1 <= number <= len(levels):
                    expected = float(levels[number - 1])
            conc_col = next((k for k in ("CONCENTRATION", "RESULT", "CALCULATED CONCENTRATION") if k in cols), None)
            rtext, rval, rflag = parse_reported_conc(cells[cols[conc_col]] if conc_col and cols[conc_col] < len(cells) else None, decimal=dt.decimal)
            records.append(
                {
                    "plate_key": plate_key, "well": well, "location": well, "acquisition_order": None,
                    "sample_name": sample, "sample_type": stype, "well_label": well_label,
                    "standard_level": number if stype == "standard" else None,
                    "analyte": match.canonical, "analyte_reported": reported,
                    "bead_region": match.bead_region if match.bead_region is not None else region,
                    "analyte_known": match.known, "median_mfi": val("MEDIAN"),
                    "net_mfi_reported": val("NET MEDIAN") if "NET MEDIAN" in cols else None,
                    "bead_count": count, "dilution": dilution, "expected_conc": expected,
                    "reported_conc_text": rtext, "reported_conc": rval, "reported_flag": rflag,
                    "instrument_warnings": 1 if (cell(cells, "WELL STATUS") or "").strip().lower() in ("warning", "error") else 0,
                }
            )
    if not records:
        raise _fail("IML-CYT-002", "the export holds a header but no well row", label,
                    "The file was probably cut after the header; re-export it from INTELLIFLEX.")
    frame = pd.DataFrame.from_records(records)
    analytes_seen: dict[str, set[str]] = {}
    for reported, canon in zip(frame["analyte_reported"], frame["analyte"], strict=True):
        analytes_seen.setdefault(canon, set()).add(str(reported))
    plates: list[Plate] = []
    starts = [plate_meta[k]["start"] for k in plate_order]
    order = pick_date_order(starts, european=dt.delimiter == ";")
    for index, key in enumerate(plate_order, start=1):
        part = label_unnumbered_controls(frame[frame["plate_key"] == key].drop(columns=["plate_key"]).reset_index(drop=True))
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
        meta = plate_meta[key]
        software, version = _software(meta["software"])
        plates.append(
            Plate(
                plate_index=index, wells=part, instrument=meta["instrument"], instrument_serial=meta["serial"],
                software=software, software_version=version, kit=redact_free_text(meta["kit"]),
                run_date=parse_instrument_date(meta["start"], order=order),
                instrument_warnings=int(part.drop_duplicates("well")["instrument_warnings"].sum()),
            )
        )
    return plates
