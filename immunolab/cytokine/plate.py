"""The format-neutral plate every multiplex parser produces, and the well-name conventions.

A parser (xPONENT, INTELLIFLEX, Bio-Plex, MSD ...) turns one export into a list of
:class:`Plate`; :func:`immunolab.cytokine.facts.plate_fact_tables` turns those into the plate
fact tables, and the core derives net MFI, curves, concentrations and QC from them
(:mod:`immunolab.derive.curves`). A plate holds one row per well x analyte
in :attr:`Plate.wells`, a pandas DataFrame with the columns of :data:`WELL_COLUMNS`:

=====================  ======================================================================
column                 meaning
=====================  ======================================================================
well                   ``A1`` ... ``P24``
location               the location as printed (``1(1,A1)``), PHI-free
acquisition_order      order of acquisition (int) when printed, else None
sample_name            the raw sample name (private: only ever leaves as ``_sample_ref``)
sample_type            ``standard`` / ``control`` / ``blank`` / ``unknown``
well_label             ``Standard3`` / ``Control1`` / ``Background0``; None for unknowns
standard_level         the standard's number (1 = most concentrated), else None
analyte                canonical analyte id (:mod:`immunolab.cytokine.analytes`)
analyte_reported       the analyte name as printed
bead_region            bead region (int) or None
analyte_known          False when the analyte name has no canonical mapping
median_mfi             median fluorescence intensity (MFI)
net_mfi_reported       the instrument's Net MFI / background-subtracted MFI, if printed
bead_count             beads counted for this analyte in this well
dilution               the well's dilution factor (None when not printed)
expected_conc          expected concentration of standards / controls (pg/mL)
reported_conc_text     the instrument's concentration cell, verbatim
reported_conc          its number (None for tokens such as ``< 2.44`` or ``***``)
reported_flag          None, ``below_curve``, ``above_curve``, ``not_available``,
                       ``extrapolated``, ``outlier`` or an instrument token (``OOR<``)
=====================  ======================================================================

Sample names are classified by :func:`classify_sample`; its rules are the xPONENT defaults
(``Background0``, ``Standard1``, ``Control1``, ``Unknown1``) plus the usual lab spellings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from immunolab.cytokine.curves import StandardCurve

__all__ = [
    "SAMPLE_TYPES",
    "WELL_COLUMNS",
    "Plate",
    "classify_sample",
    "empty_wells",
    "label_unnumbered_controls",
    "well_sort_key",
]

SAMPLE_TYPES = ("standard", "control", "blank", "unknown")

WELL_COLUMNS: dict[str, Any] = {
    "well": "object",
    "location": "object",
    "acquisition_order": "Int64",
    "sample_name": "object",
    "sample_type": "object",
    "well_label": "object",
    "standard_level": "Int64",
    "analyte": "object",
    "analyte_reported": "object",
    "bead_region": "Int64",
    "analyte_known": "bool",
    "median_mfi": "float64",
    "net_mfi_reported": "float64",
    "bead_count": "float64",
    "dilution": "float64",
    "expected_conc": "float64",
    "reported_conc_text": "object",
    "reported_conc": "float64",
    "reported_flag": "object",
}

_BLANK = re.compile(r"^(?:(?:background|blank|bkgd?|buffer|diluent|nsb)[\s_-]*(\d*)|b|bg)$", re.IGNORECASE)
_BLANK_SUFFIX = re.compile(r"(?:^|[\s_-])(?:background|blank)[\s_-]*(\d*)$", re.IGNORECASE)
_STANDARD = re.compile(r"^(?:(?:standard|std|calibrator)[\s_-]*(\d*)|s)$", re.IGNORECASE)
_STANDARD_SUFFIX = re.compile(r"(?:^|[\s_-])(?:standard|std)[\s_-]*(\d+)$", re.IGNORECASE)
_CONTROL = re.compile(r"^(?:(?:control|ctrl|qc|positive|negative)[\s_-]*(\d*)|c|pos|neg)$", re.IGNORECASE)
_CONTROL_WORD = re.compile(r"(?:^|[\s_-])(?:control|ctrl|qc)(?:[\s_-]|\d|$)", re.IGNORECASE)
_TRAILING_NUMBER = re.compile(r"(\d+)\s*$")


def classify_sample(name: str | None) -> tuple[str, int | None]:
    """Return (sample type, number) for a sample name printed on a plate.

    ``Background0`` / ``Blank`` / ``B`` -> blank; ``Standard1`` / ``Std 3`` / ``S`` /
    ``Mix-Standard01`` -> standard; ``Control1`` / ``QC2`` / ``Pos`` / ``*-control-*`` ->
    control; anything else (including ``Unknown12`` and lab accessions such as ``S0001``) ->
    unknown: single letters count only on their own, never followed by digits. The number is
    the trailing integer of the name (the standard level, control number), or None.
    """
    text = " ".join((name or "").split())
    if not text:
        return "unknown", None
    for pattern, kind in ((_BLANK, "blank"), (_STANDARD, "standard"), (_CONTROL, "control")):
        m = pattern.match(text)
        if m:
            return kind, int(m.group(1)) if m.group(1) else None
    m = _STANDARD_SUFFIX.search(text)
    if m:
        return "standard", int(m.group(1))
    m = _BLANK_SUFFIX.search(text)
    if m:
        return "blank", int(m.group(1)) if m.group(1) else None
    if _CONTROL_WORD.search(text):
        m = _TRAILING_NUMBER.search(text)
        return "control", int(m.group(1)) if m else None
    return "unknown", None


def label_unnumbered_controls(wells: pd.DataFrame) -> pd.DataFrame:
    """Return ``wells`` with distinct unnumbered controls labelled ``ControlA``, ``ControlB`` ...

    Two controls named ``Healthy-control-negative`` and ``Positive control`` must not share the
    label ``Control`` (their Levey-Jennings series would mix); the letter follows the order of
    first appearance on the plate. Raw names never become labels.
    """
    mask = (wells["sample_type"] == "control") & (wells["well_label"] == "Control")
    if not mask.any():
        return wells
    names = list(dict.fromkeys(wells.loc[mask, "sample_name"]))
    letters = {name: f"Control{chr(ord('A') + i) if i < 26 else i + 1}" for i, name in enumerate(names)}
    out = wells.copy()
    out.loc[mask, "well_label"] = out.loc[mask, "sample_name"].map(letters)
    return out


def well_sort_key(well: str) -> tuple[int, int]:
    """Return (column, row) so that wells sort in xPONENT acquisition order (A1, B1, ... H1, A2)."""
    m = re.match(r"^([A-Pa-p])(\d{1,2})$", well or "")
    if not m:
        return (999, 999)
    return (int(m.group(2)), ord(m.group(1).upper()) - ord("A"))


def empty_wells() -> pd.DataFrame:
    """Return a zero-row wells frame with the columns and dtypes of :data:`WELL_COLUMNS`."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in WELL_COLUMNS.items()})


@dataclass
class Plate:
    """One plate (batch) of a multiplex export: every fact the export states, nothing computed.

    This is the one intermediate plate model: every reader (xPONENT, INTELLIFLEX, Bio-Plex,
    MSD) returns ``list[Plate]``. Fields beyond :attr:`wells`:

    - ``run_date`` is private to the plugin run: it becomes a study day and is never written.
    - ``instrument_curves``: the curves the instrument printed (canonical analyte -> curve,
      ``source="instrument"``) with the instrument's model (``5PL`` / ``4PL``) and weighting
      (``1/y^2`` for xPONENT "Weighted", ``none``, ``power law variance (B=1.8)`` ...) as printed.
    - ``control_ranges`` maps (control label, analyte) to the expected (low, high).
    - ``quantitative`` says the export was meant to give concentrations (it prints results, an
      analysis type or standard concentrations): if no analyte of such a plate gets a standard
      curve, :func:`~immunolab.cytokine.assemble.analyse_plate` raises IML-CYT-005/006.
    - ``export_crc`` is ``ok`` / ``mismatch`` (changed after export) / ``unverified`` (re-saved
      by a spreadsheet or script: the checksum cannot be checked) / ``absent`` when the format
      carries a checksum.
    - ``layout`` names the export layout the reader recognised (``xponent_4_reagent_tables``,
      ``bioplex_wide`` ...), for metadata and the reader coverage report.
    - ``facts``: other PHI-free scalars the export states (curve-fit template, barcode present ...).
    - ``warnings``: PHI-free sentences for the ingest report (an optional section the reader
      does not know, a repaired standard series ...); they never stop the file.
    - ``standards_repair``: one entry per analyte whose expected standard concentrations were
      repaired by :mod:`immunolab.cytokine.standards` (analyte -> what was done, factor).
    - ``reader_flags``: {(well, analyte as printed): [flags]} the reader itself set
      (``outlier``, sampling errors, ``replicate_mean`` ...), stored in ``cytokine_wells.reader_flags``
      (with ``instrument_warning`` for a well the export warned about).
    """

    plate_index: int
    wells: pd.DataFrame
    instrument: str | None = None
    instrument_serial: str | None = None
    software: str | None = None
    software_version: str | None = None
    kit: str | None = None
    lot: str | None = None
    run_date: date | None = None
    units: dict[str, str] = field(default_factory=dict)
    instrument_curves: dict[str, StandardCurve] = field(default_factory=dict)
    control_ranges: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    min_bead_count: int | None = None
    instrument_warnings: int = 0
    warnings: list[str] = field(default_factory=list)
    quantitative: bool = False
    export_crc: str | None = None
    layout: str = ""
    facts: dict[str, str | int | float | bool | None] = field(default_factory=dict)
    standards_repair: dict[str, str] = field(default_factory=dict)
    reader_flags: dict[tuple[str, str], list[str]] = field(default_factory=dict)
