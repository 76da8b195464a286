"""Read MSD reader text exports (Methodical Mind / MESO QuickPlex ``MMPR``) into plates.

The file is a sequence of sections, each a ``Key : value`` header (``Plate #``, ``Barcode1``,
``Type`` (96 / 384), ``Read Time``, ``Serial #``, ``Version``, ``SpotID`` ...) followed by a
``==========Data====`` banner and a grid: a line of column numbers, then one line per plate
row (``A`` .. ``H`` or ``P``) with the ECL signal of every well. ``Processing``,
``Statistics``, ``Camera Status`` and ``Waveform/Current`` sections are instrument
diagnostics and are skipped. A plate (``Plate #`` + ``Barcode1``) may have one section per spot.

The reader knows neither sample names nor layout nor analyte names: every well is read as an
``unknown`` sample whose ``_sample_ref`` is ``<barcode>-<well>`` (``22M0TALA85N-C3``; without a
barcode ``plate<#>-<well>``), unique across plates and a valid manifest ``sample_id``, so a
manifest maps plate wells to samples, and the analyte is ``Spot <n>`` with the spot number in ``bead_region``. Signals go to
``median_mfi`` (ECL counts); there is no background-adjusted signal and no concentration.
``User``, ``FileName`` and ``Comments`` never leave this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from immunolab_assays.msd.workbench import parse_msd_date

from immunolab.cytokine.plate import Plate
from immunolab.cytokine.plate_builder import plate_from_readings
from immunolab.cytokine.readings import WellReading
from immunolab.errors import InconsistentInputError, MalformedInputError

__all__ = ["read_reader_text"]

SOFTWARE = "MSD reader (MMPR)"
_BANNER = re.compile(r"^=+\s*([A-Za-z/ ]+?)\s*=*\s*$")
_KEY = re.compile(r"^([A-Za-z#][A-Za-z0-9 #.]*?)\s*:\s*(.*)$")
_KEPT_KEYS = {
    "plate #": "plate",
    "barcode1": "barcode",
    "type": "plate_type",
    "read time": "read_time",
    "version": "version",
    "serial #": "serial",
    "model": "model",
    "spotid": "spot",
    "spots per well": "spots_per_well",
    "wells per row": "wells_per_row",
    "wells per col": "wells_per_col",
}


@dataclass
class _Section:
    header: dict[str, str] = field(default_factory=dict)
    grid: dict[str, float] = field(default_factory=dict)
    first_line: int = 0


def _clean(value: str) -> str:
    return value.replace("\\t", " ").replace("\t", " ").strip()


#: instrument diagnostics sections (skipped); any other banner is named in a warning
_DIAGNOSTICS = frozenset({"processing", "statistics", "camera status", "waveform/current"})


def _sections(lines: list[str], label: str, unknown: list[str]) -> list[_Section]:
    """Return the Data sections of the file; banners nobody knows are appended to ``unknown``."""
    sections: list[_Section] = []
    current = _Section()
    mode = "header"
    columns: list[int] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        banner = _BANNER.match(line.strip())
        if banner and line.strip().startswith("=="):
            name = banner.group(1).strip().lower()
            if name == "data":
                mode, columns = "data", []
            else:
                mode = "skip"
                if name not in _DIAGNOSTICS and banner.group(1).strip() not in unknown:
                    unknown.append(banner.group(1).strip())
            continue
        if mode == "data":
            cells = [c.strip() for c in line.split("\t")]
            if not any(cells):
                if current.grid:
                    mode = "after"
                continue
            if not cells[0] and not columns:
                try:
                    columns = [int(c) for c in cells[1:] if c]
                except ValueError:
                    raise MalformedInputError(
                        "IML-CYT-001", f"line {number}: the Data column header is not column numbers",
                        path=label, hint="Export the plate again from the MSD reader software.",
                    ) from None
                continue
            row = cells[0].upper()
            if not re.fullmatch(r"[A-P]", row) or not columns:
                raise MalformedInputError(
                    "IML-CYT-001", f"line {number}: a Data line does not start with a plate row letter",
                    path=label, hint="Export the plate again from the MSD reader software.",
                )
            values = [c for c in cells[1:] if c != ""]
            if len(values) != len(columns):
                raise MalformedInputError(
                    "IML-CYT-001",
                    f"line {number}: row {row} holds {len(values)} values for {len(columns)} columns",
                    path=label, hint="The file is truncated or edited; export it again.",
                )
            for col, text in zip(columns, values, strict=True):
                try:
                    current.grid[f"{row}{col}"] = float(text)
                except ValueError:
                    raise MalformedInputError(
                        "IML-CYT-003", f"line {number}: well {row}{col} is not a number", path=label,
                        hint="The file is damaged or edited; export it again from the reader software.",
                    ) from None
            continue
        m = _KEY.match(line.strip())
        if m is None:
            continue
        key = " ".join(m.group(1).lower().split())
        if mode in ("after", "skip") and key in ("filename", "stack id"):
            if current.grid:
                sections.append(current)
            current = _Section(first_line=number)
            mode = "header"
        if mode == "header" and key in _KEPT_KEYS:
            current.header[_KEPT_KEYS[key]] = _clean(m.group(2))
    if current.grid:
        sections.append(current)
    return sections


def read_reader_text(path: Path, label: str) -> list[Plate]:
    """Return one plate per ``Plate #`` / barcode of an MSD reader text export.

    Raises IML-CYT-001 for a broken grid, IML-CYT-002 when no ``Data`` grid is present,
    IML-CYT-003 for a non-numeric signal and IML-CYT-004 when a spot of a plate appears twice.
    """
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig", errors="replace") if raw[:3] == b"\xef\xbb\xbf" else raw.decode("latin-1")
    unknown: list[str] = []
    sections = _sections(text.splitlines(), label, unknown)
    if not sections:
        raise MalformedInputError(
            "IML-CYT-002", "no ==========Data grid with well signals found", path=label,
            hint="Export the plate from the MSD reader software as a text file with its data.",
        )
    meta: dict[tuple[str, str], dict[str, Any]] = {}
    readings: dict[tuple[str, str], list[WellReading]] = {}
    seen: set[tuple[str, str, str]] = set()
    for sec in sections:
        h = sec.header
        barcode = h.get("barcode", "").strip("<>*") or None
        key = (h.get("plate", ""), barcode or "")
        spot_text = h.get("spot", "")
        spot = int(spot_text) if spot_text.isdigit() and spot_text.isascii() else None
        if spot is None and not spot_text and h.get("spots_per_well") == "1":
            spot = 1  # single-spot plate without a SpotID line
        if (key[0], key[1], spot_text) in seen:
            raise InconsistentInputError(
                "IML-CYT-004", f"plate {key[0] or '?'} spot {spot_text or '?'} appears twice", path=label,
                hint="The export holds the same plate read twice; keep one read per file.",
            )
        seen.add((key[0], key[1], spot_text))
        if key not in meta:
            version = h.get("version", "")
            meta[key] = {
                "software": SOFTWARE,
                "software_version": version.split()[-1] if version else None,
                "layout": "reader_text",
                "instrument": f"MSD {h['model']}" if h.get("model") else "MSD reader",
                "instrument_serial": h.get("serial") or None,
                "run_date": parse_msd_date(h.get("read_time")),
                "facts": {"barcode": barcode, "plate_type": h.get("plate_type")},
            }
            readings[key] = []
        analyte = f"Spot {spot}" if spot is not None else f"Spot {spot_text or 'all'}"
        number = list(meta).index(key) + 1
        prefix = barcode if barcode and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", barcode) else f"plate{key[0] or number}"
        for well, signal in sec.grid.items():
            readings[key].append(
                WellReading(
                    well=well, type_code="", sample_type="unknown", sample_name=f"{prefix}-{well}",
                    analyte_reported=analyte, signal=signal, net_signal=None, spot=spot,
                )
            )
    notes = ["reader text has no plate layout: every well is read as an unknown sample named <barcode>-<well>",
             *(f"section {name!r} is not one immunolab knows; not read" for name in unknown)]
    return [
        plate_from_readings(readings[key], plate_index=i + 1, warnings=list(notes), **fields)
        for i, (key, fields) in enumerate(meta.items())
    ]
