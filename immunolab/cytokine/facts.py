"""Plates as store facts and back: what every plate plugin's ``parse`` returns, and what derivations read.

:func:`plate_fact_tables` turns the :class:`~immunolab.cytokine.plate.Plate` objects a reader
produced into the fact tables ``cytokine_plates``, ``cytokine_wells`` and ``instrument_curves``
(exactly what the export says, including the instrument's own concentrations and printed
curves). Rows of plate samples carry the name as written in the private ``_sample_ref``
column; ingest replaces it by a keyed hash (``sample_key``) before anything is written.

:func:`plates_from_facts` rebuilds the plates from stored facts for a derivation (curve fits,
concentrations, QC), with ``sample_key`` standing in for the sample name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Hashable, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from immunolab.cytokine.curves import StandardCurve
from immunolab.cytokine.plate import WELL_COLUMNS, Plate
from immunolab.plugins import SAMPLE_REF
from immunolab.redact import redact_free_text
from immunolab.schema import fact_schema

__all__ = ["plate_fact_tables", "plate_id_for", "plates_from_facts"]


def plate_id_for(source_id: str, plate_index: int) -> str:
    """Return the PHI-free id of plate ``plate_index`` of the file hashed ``source_id``."""
    return f"{source_id[:16]}-p{plate_index}"


def _clean(v: Any) -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if math.isnan(float(v)) else float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _table(name: str, rows: Sequence[dict[str, Any]], extra: Sequence[str] = ()) -> pa.Table:
    schema = fact_schema(name)
    arrays = [pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema]
    names = list(schema.names)
    for col in extra:
        arrays.append(pa.array([r.get(col) for r in rows], type=pa.string()))
        names.append(col)
    return pa.Table.from_arrays(arrays, names=names)


def _plate_row(plate: Plate, pid: str, export_format: str, study_day: Callable[[date], int | None]) -> dict[str, Any]:
    """Return the ``cytokine_plates`` row of a plate; the export's free text (kit, lot, serial, facts) without dates.

    Kit, lot and serial fields and template notes are typed by the lab (a protocol named after a
    run date, a note with a name's date of birth): every reader's plate passes through here, so
    :func:`~immunolab.redact.redact_free_text` is applied once for all of them.
    """
    w = plate.wells
    ranges = {f"{c}|{a}": [lo, hi] for (c, a), (lo, hi) in plate.control_ranges.items()}
    return {
        "plate_id": pid, "plate_index": plate.plate_index, "export_format": export_format,
        "instrument": plate.instrument, "instrument_serial": redact_free_text(plate.instrument_serial), "software": plate.software,
        "software_version": plate.software_version, "kit": redact_free_text(plate.kit), "lot": redact_free_text(plate.lot),
        "run_study_day": study_day(plate.run_date) if plate.run_date is not None else None,
        "n_wells": int(w["well"].nunique()), "n_analytes": int(w["analyte"].nunique()),
        "units_json": json.dumps(plate.units, sort_keys=True) if plate.units else None,
        "control_ranges_json": json.dumps(_clean_json(ranges), sort_keys=True) if ranges else None,
        "min_bead_count": plate.min_bead_count, "instrument_warnings": plate.instrument_warnings,
        "export_crc": plate.export_crc, "quantitative": bool(plate.quantitative),
        "notes": [*plate.warnings, *(f"{k}: {redact_free_text(v) if isinstance(v, str) else v}" for k, v in sorted(plate.facts.items())),
                  *(f"standards repaired for {a}: {v}" for a, v in sorted(plate.standards_repair.items()))],
    }


def _clean_json(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_json(v) for v in obj]
    v = _clean(obj)
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _reader_flags(plate: Plate, rec: dict[Hashable, Any]) -> list[str]:
    """Return the reader's flags of one well x analyte, ``instrument_warning`` when the export warned on the well."""
    analyte: Any = rec.get("analyte_reported")
    flags = list(plate.reader_flags.get((rec["well"], analyte), []))
    warned = _clean(rec.get("instrument_warnings"))
    if warned and "instrument_warning" not in flags:
        flags.append("instrument_warning")
    return flags


def _well_rows(plate: Plate, pid: str) -> list[dict[str, Any]]:
    rows = []
    for rec in plate.wells.to_dict("records"):
        rows.append({
            "plate_id": pid, "well": rec["well"], "location": _clean(rec.get("location")),
            "acquisition_order": _clean(rec.get("acquisition_order")), "sample_type": rec["sample_type"],
            "well_label": _clean(rec.get("well_label")), "standard_level": _clean(rec.get("standard_level")),
            "analyte": rec["analyte"], "analyte_reported": _clean(rec.get("analyte_reported")),
            "analyte_known": bool(rec.get("analyte_known", True)), "bead_region": _clean(rec.get("bead_region")),
            "median_mfi": _clean(rec.get("median_mfi")), "net_mfi_reported": _clean(rec.get("net_mfi_reported")),
            "bead_count": _clean(rec.get("bead_count")), "dilution": _clean(rec.get("dilution")),
            "expected_conc": _clean(rec.get("expected_conc")),
            "reported_conc_text": _clean(rec.get("reported_conc_text")),
            "reported_conc": _clean(rec.get("reported_conc")), "reported_flag": _clean(rec.get("reported_flag")),
            "reader_flags": _reader_flags(plate, rec),
            SAMPLE_REF: _clean(rec.get("sample_name")) if rec["sample_type"] == "unknown" else None,
        })
    return rows


def _curve_rows(plate: Plate, pid: str) -> list[dict[str, Any]]:
    rows = []
    for analyte, c in sorted(plate.instrument_curves.items()):
        rows.append({"plate_id": pid, "analyte": analyte, "model": c.model, "weighting": c.weighting,
                     "a": _clean(c.a), "b": _clean(c.b), "c": _clean(c.c), "d": _clean(c.d), "f": _clean(c.f),
                     "r_squared": _clean(c.r_squared), "lowest_standard": _clean(c.lowest_standard),
                     "highest_standard": _clean(c.highest_standard)})
    return rows


def plate_fact_tables(plates: Sequence[Plate], *, source_id: str, export_format: str,
                      study_day: Callable[[date], int | None] = lambda _d: None) -> dict[str, pa.Table]:
    """Return the fact tables of the plates of one file (keys filled by ingest; names in ``_sample_ref``)."""
    plate_rows, well_rows, curve_rows = [], [], []
    for plate in plates:
        pid = plate_id_for(source_id, plate.plate_index)
        plate_rows.append(_plate_row(plate, pid, export_format, study_day))
        well_rows.extend(_well_rows(plate, pid))
        curve_rows.extend(_curve_rows(plate, pid))
    tables = {
        "cytokine_plates": _table("cytokine_plates", plate_rows),
        "cytokine_wells": _table("cytokine_wells", well_rows, extra=[SAMPLE_REF]),
    }
    if curve_rows:
        tables["instrument_curves"] = _table("instrument_curves", curve_rows)
    return tables


def plates_from_facts(plates: pa.Table, wells: pa.Table, curves: pa.Table | None = None) -> list[tuple[str, Plate]]:
    """Return (plate_id, Plate) rebuilt from stored facts; ``sample_key`` stands in for the sample name."""
    out: list[tuple[str, Plate]] = []
    wdf = wells.to_pandas()
    cdf = curves.to_pandas() if curves is not None and curves.num_rows else pd.DataFrame(columns=["plate_id"])
    for row in plates.to_pylist():
        pid = row["plate_id"]
        sub = wdf[wdf["plate_id"] == pid].copy()
        sub["sample_name"] = sub["sample_key"].where(sub["sample_key"].notna(), sub["well_label"])
        frame = pd.DataFrame({c: sub[c] if c in sub else pd.Series(dtype=t) for c, t in WELL_COLUMNS.items()})
        for col, dtype in WELL_COLUMNS.items():
            if dtype in ("Int64", "float64", "bool"):
                frame[col] = frame[col].astype(dtype) if dtype != "bool" else frame[col].fillna(True).astype(bool)
        instrument: dict[str, StandardCurve] = {}
        for c in cdf[cdf["plate_id"] == pid].to_dict("records"):
            # a printed curve without its coefficients (Bio-Plex "no valid curve") is not usable
            usable = all(_clean(c[k]) is not None for k in "abcd")
            instrument[c["analyte"]] = StandardCurve(
                model=c["model"] or "5PL", a=c["a"], b=c["b"], c=c["c"], d=c["d"],
                f=c["f"] if c["f"] is not None and not pd.isna(c["f"]) else 1.0,
                weighting=c["weighting"] or "unknown", r_squared=_clean(c["r_squared"]),
                lowest_standard=_clean(c["lowest_standard"]), highest_standard=_clean(c["highest_standard"]),
                converged=usable, message="" if usable else "no usable curve printed", source="instrument")
        flags: dict[tuple[str, str], list[str]] = {}
        if "reader_flags" in sub:
            for well, reported, fl in zip(sub["well"], sub["analyte_reported"], sub["reader_flags"], strict=True):
                if fl is not None and len(fl):
                    flags[(str(well), reported)] = [str(f) for f in fl]
        ranges: dict[tuple[str, str], tuple[float, float]] = {}
        for key, (lo, hi) in json.loads(row.get("control_ranges_json") or "{}").items():
            ctrl, analyte = key.split("|", 1)
            ranges[(ctrl, analyte)] = (float("nan") if lo is None else lo, float("nan") if hi is None else hi)
        plate = Plate(
            plate_index=int(row["plate_index"] or 0), wells=frame.reset_index(drop=True), instrument=row["instrument"],
            instrument_serial=row["instrument_serial"], software=row["software"],
            software_version=row["software_version"], kit=row["kit"], lot=row["lot"],
            units=json.loads(row.get("units_json") or "{}"), instrument_curves=instrument, control_ranges=ranges,
            min_bead_count=row.get("min_bead_count"), instrument_warnings=int(row.get("instrument_warnings") or 0),
            warnings=list(row.get("notes") or []), quantitative=bool(row.get("quantitative")),
            export_crc=row.get("export_crc"), reader_flags=flags)
        out.append((pid, plate))
    return out
