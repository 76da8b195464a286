"""Turn a Bio-Plex / MSD :class:`PlateRecord` into the format-neutral :class:`Plate` of every parser.

The shared table builder (``immunolab.cytokine.assemble``) then derives the four store tables
the same way for xPONENT, INTELLIFLEX, Bio-Plex and MSD. Mapping decisions:

* ``well_label``: ``Standard<n>`` / ``Control<n>`` / ``Blank`` from the Bio-Plex codes
  (``S3``, ``C1``, ``B``) or the MSD calibrator / control names; None for unknown samples.
* ``standard_level``: the number of the standard (Bio-Plex ``S1`` = most concentrated).
* ``net_mfi_reported``: Bio-Plex ``FI - Bkgd``, MSD ``Adjusted Signal``.
* ``median_mfi``: Bio-Plex FI; for MSD the ECL signal (see :mod:`immunolab.cytokine.msd_workbench`).
* ``bead_region``: the bead region of the analyte name (``IL-6 (12)``) or, for MSD, the spot.
* A printed replicate group (Bio-Plex 4.x ``C1,D1``) stays one row whose ``well`` and
  ``location`` are the group as printed (its FI is the instrument's mean of the group).
* The plate frame has no QC column: the readers' flags (``outlier``, sampling errors,
  ``replicate_mean`` ...) are returned by :func:`record_qc_flags` and merged into
  ``cytokine_wells.qc_flags`` by the plugin after assembly.
* Instrument curves become :class:`StandardCurve` with ``source="instrument"``; curves the
  instrument could not compute (Bio-Plex XML ``IsValid="false"``) have NaN parameters,
  ``converged=False`` and the instrument's message.
"""

from __future__ import annotations

import hashlib
import json
import math
import re

import pandas as pd

from immunolab.cytokine.analytes import resolve_analyte
from immunolab.cytokine.bioplex_curve import PrintedCurve
from immunolab.cytokine.bioplex_records import PlateRecord, WellReading
from immunolab.cytokine.curves import StandardCurve
from immunolab.cytokine.plate import WELL_COLUMNS, Plate

__all__ = ["instrument_curve", "record_qc_flags", "record_to_plate"]

_LABEL_WORD = {"standard": "Standard", "control": "Control", "blank": "Blank"}


def _number_in(code: str) -> int | None:
    m = re.search(r"(\d+)\s*$", code or "")
    return int(m.group(1)) if m else None


def _well_label(r: WellReading) -> str | None:
    if r.sample_type == "unknown":
        return None
    word = _LABEL_WORD[r.sample_type]
    number = _number_in(r.type_code)
    return f"{word}{number}" if number is not None else word


def instrument_curve(curve: PrintedCurve, analyte: str) -> StandardCurve:
    """Return the printed curve as a :class:`StandardCurve` (``source="instrument"``)."""
    payload = json.dumps(
        {"analyte": analyte, "params": [curve.a, curve.b, curve.c, curve.d, curve.f],
         "regression": curve.regression, "weighting": curve.weighting, "source": "instrument"},
        sort_keys=True,
    ).encode()
    fit_id = hashlib.sha256(payload).hexdigest()[:16]
    nan = float("nan")
    params = [curve.a, curve.b, curve.c, curve.d, curve.f]
    usable = curve.valid and all(p is not None and math.isfinite(p) for p in params)
    extras: dict[str, float] = {}
    if curve.fit_prob is not None:
        extras["fit_prob"] = curve.fit_prob
    if curve.res_var is not None:
        extras["res_var"] = curve.res_var
    return StandardCurve(
        model=curve.model,
        a=curve.a if usable and curve.a is not None else nan,
        b=curve.b if usable and curve.b is not None else nan,
        c=curve.c if usable and curve.c is not None else nan,
        d=curve.d if usable and curve.d is not None else nan,
        f=curve.f if usable and curve.f is not None else nan,
        weighting=curve.weighting or "printed (weighting not stated)",
        converged=usable,
        message=(curve.message or "printed by the instrument software") if usable else (curve.message or "no usable curve"),
        source="instrument",
        fit_id=fit_id,
        extras=extras,
    )


def record_qc_flags(record: PlateRecord) -> dict[tuple[str, str], list[str]]:
    """Return {(well, analyte_reported): qc flags} for the readings that carry flags."""
    return {(r.well, r.analyte_reported): list(r.qc_flags) for r in record.readings if r.qc_flags}


def record_to_plate(record: PlateRecord) -> Plate:
    """Return the :class:`Plate` of a parsed Bio-Plex / MSD plate record (1-based ``plate_index``)."""
    rows = []
    for r in record.readings:
        match = resolve_analyte(r.analyte_reported)
        region = match.bead_region if match.bead_region is not None else r.spot
        rows.append(
            {
                "well": r.well,
                "location": r.well if r.replicate_group else None,
                "acquisition_order": None,
                "sample_name": r.sample_name if r.sample_type == "unknown" else (r.sample_name or r.type_code),
                "sample_type": r.sample_type,
                "well_label": _well_label(r),
                "standard_level": _number_in(r.type_code) if r.sample_type == "standard" else None,
                "analyte": match.canonical,
                "analyte_reported": r.analyte_reported,
                "bead_region": region,
                "analyte_known": match.known,
                "median_mfi": r.signal,
                "net_mfi_reported": r.net_signal,
                "bead_count": float(r.bead_count) if r.bead_count is not None else None,
                "dilution": r.dilution,
                "expected_conc": r.expected_conc,
                "reported_conc_text": r.reported.text,
                "reported_conc": r.reported.value,
                "reported_flag": r.reported.flag,
            }
        )
    wells = pd.DataFrame.from_records(rows, columns=list(WELL_COLUMNS))
    for col, dtype in WELL_COLUMNS.items():
        if dtype != "object":
            wells[col] = wells[col].astype(dtype)
    curves: dict[str, StandardCurve] = {}
    for reported, printed in record.curves.items():
        canonical = resolve_analyte(reported).canonical
        curves[canonical] = instrument_curve(printed, canonical)
    units = {a: record.units for a in wells["analyte"].unique()} if record.units else {}
    return Plate(
        plate_index=record.plate_index + 1,
        wells=wells,
        instrument=record.instrument,
        instrument_serial=record.instrument_serial,
        software=record.software,
        software_version=record.software_version,
        kit=record.kit,
        lot=record.lot,
        run_date=record.run_date,
        units=units,
        instrument_curves=curves,
        notes=list(record.warnings),
    )
