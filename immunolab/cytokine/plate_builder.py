"""Build the one :class:`~immunolab.cytokine.plate.Plate` model from row-oriented well readings.

Bio-Plex and MSD readers read their exports row by row into
:class:`~immunolab.cytokine.readings.WellReading` objects and call
:func:`plate_from_readings`; xPONENT-style readers build the wells frame directly. Mapping:

* ``well_label``: ``Standard<n>`` / ``Control<n>`` / ``Blank`` from the Bio-Plex codes
  (``S3``, ``C1``, ``B``) or the MSD calibrator / control names; None for unknown samples.
* ``standard_level``: the number of the standard (Bio-Plex ``S1`` = most concentrated).
* ``net_mfi_reported``: Bio-Plex ``FI - Bkgd``, MSD ``Adjusted Signal``.
* ``median_mfi``: Bio-Plex FI; for MSD the ECL signal.
* ``bead_region``: the bead region of the analyte name (``IL-6 (12)``) or, for MSD, the spot.
* A printed replicate group (Bio-Plex 4.x ``C1,D1``) stays one row whose ``well`` and
  ``location`` are the group as printed (its FI is the instrument's mean of the group).
* The readers' own well flags (``outlier``, sampling errors, ``replicate_mean`` ...) go to
  :attr:`Plate.reader_flags`; :func:`immunolab.cytokine.reader_flags.with_reader_flags` adds
  them to ``cytokine_wells.qc_flags`` after assembly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from immunolab.cytokine.analytes import resolve_analyte
from immunolab.cytokine.curves import StandardCurve
from immunolab.cytokine.edits import edited_standard_warnings
from immunolab.cytokine.plate import WELL_COLUMNS, Plate
from immunolab.cytokine.readings import WellReading
from immunolab.cytokine.standards import check_plate_standards

__all__ = ["plate_from_readings", "wells_frame"]

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


def _row(r: WellReading) -> dict[str, Any]:
    match = resolve_analyte(r.analyte_reported)
    return {
        "well": r.well,
        "location": r.well if r.replicate_group else None,
        "acquisition_order": None,
        "sample_name": r.sample_name if r.sample_type == "unknown" else (r.sample_name or r.type_code),
        "sample_type": r.sample_type,
        "well_label": _well_label(r),
        "standard_level": _number_in(r.type_code) if r.sample_type == "standard" else None,
        "analyte": match.canonical,
        "analyte_reported": r.analyte_reported,
        "bead_region": match.bead_region if match.bead_region is not None else r.spot,
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


def wells_frame(readings: Sequence[WellReading]) -> pd.DataFrame:
    """Return the :data:`WELL_COLUMNS` frame of ``readings`` (one row per reading)."""
    wells = pd.DataFrame.from_records([_row(r) for r in readings], columns=list(WELL_COLUMNS))
    for col, dtype in WELL_COLUMNS.items():
        if dtype != "object":
            wells[col] = wells[col].astype(dtype)
    return wells


def plate_from_readings(
    readings: Sequence[WellReading],
    *,
    plate_index: int,
    curves: Mapping[str, StandardCurve] | None = None,
    units: str | None = None,
    label: str | None = None,
    **fields: Any,
) -> Plate:
    """Return the :class:`Plate` of one plate's readings (``plate_index`` is 1-based).

    ``curves`` maps the *reported* analyte name to the instrument's printed curve; keys become
    canonical analyte ids. ``units`` (one unit for the whole plate, as Bio-Plex prints it)
    is assigned to every analyte. With ``label`` (the file's label) the standards' expected
    concentrations are checked to form a dilution series
    (:func:`~immunolab.cytokine.standards.check_plate_standards`: repaired with a warning, or
    ``IML-CYT-010``) and standards changed after the instrument's analysis are named in a
    warning (:mod:`immunolab.cytokine.edits`). Other keyword arguments are :class:`Plate` fields.
    """
    wells = wells_frame(readings)
    canonical_curves = {resolve_analyte(name).canonical: c for name, c in (curves or {}).items()}
    repairs: dict[str, str] = {}
    if label is not None:
        wells, repairs, notes = check_plate_standards(wells, label=label, plate=plate_index)
        notes += edited_standard_warnings(wells, canonical_curves)
        fields["warnings"] = [*fields.get("warnings", []), *notes]
    unit_map = {str(a): units for a in wells["analyte"].unique()} if units else {}
    flags = {(r.well, r.analyte_reported): list(r.qc_flags) for r in readings if r.qc_flags}
    return Plate(
        plate_index=plate_index, wells=wells, instrument_curves=canonical_curves, units=unit_map,
        reader_flags=flags, standards_repair=repairs, **fields,
    )
