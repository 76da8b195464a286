"""Hold what a Bio-Plex or MSD export says about one plate, before it becomes store tables.

These records are the boundary between the format readers (``bioplex.py``, ``bioplex_xml.py``,
``msd_workbench.py``, ``msd_methodical.py``) and the table builder (``bioplex_tables.py``):
readers fill them from the file and never compute anything; the builder derives the store
tables. They hold raw sample names (``sample_name``) which only ever leave as the private
``_sample_ref`` column, and calendar dates which only ever leave as study days.

Signals are instrument units (Bio-Plex FI, MSD ECL counts); concentrations are in the units of
the standards (``PlateRecord.units``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from immunolab.cytokine.bioplex_curve import PrintedCurve
from immunolab.cytokine.bioplex_tokens import ReportedConc

__all__ = [
    "SAMPLE_TYPES",
    "PlateRecord",
    "WellReading",
    "sample_type_from_code",
]

#: Sample types of ``cytokine_wells.sample_type``.
SAMPLE_TYPES = ("standard", "control", "blank", "unknown")

_TYPE_LETTERS = {"S": "standard", "C": "control", "B": "blank", "X": "unknown"}


def sample_type_from_code(code: str) -> str | None:
    """Return the sample type of a Bio-Plex type code (``S3``, ``C1``, ``B``, ``X12``), or None.

    Only the four Bio-Plex Manager letters are known; other letters give None so the caller
    can decide (and say) what to do with them.
    """
    letter = code.strip()[:1].upper()
    return _TYPE_LETTERS.get(letter)


@dataclass
class WellReading:
    """One well (or one printed replicate group) x one analyte, as the export prints it."""

    well: str  # "A1" or, for a printed replicate group, "C1,D1"
    type_code: str  # Bio-Plex "S1" / "X3" / "B"; MSD sample-type label; "" when absent
    sample_type: str  # one of SAMPLE_TYPES
    sample_name: str | None  # raw name as printed: PHI-prone, leaves only as _sample_ref
    analyte_reported: str
    signal: float | None  # Bio-Plex FI (median of the bead region), MSD ECL signal
    net_signal: float | None  # Bio-Plex "FI - Bkgd", MSD "Adjusted Signal"
    bead_count: int | None = None
    dilution: float | None = None
    expected_conc: float | None = None
    reported: ReportedConc = field(default_factory=lambda: ReportedConc(None, None, None))
    qc_flags: list[str] = field(default_factory=list)
    replicate_group: bool = False  # True when the row is a printed mean over several wells
    spot: int | None = None  # MSD spot number (electrode) of the analyte

    @property
    def member_wells(self) -> list[str]:
        """Return the wells the reading covers (one, or several for a replicate group)."""
        return [w.strip() for w in self.well.split(",") if w.strip()]


@dataclass
class PlateRecord:
    """One plate of an export: instrument facts, well readings and printed curves."""

    plate_index: int
    software: str
    software_version: str | None = None
    layout: str = ""  # which export layout the reader recognised (for metadata and tests)
    instrument: str | None = None
    instrument_serial: str | None = None
    kit: str | None = None
    lot: str | None = None
    units: str | None = None
    run_date: date | None = None  # calendar date: leaves only as a study day
    readings: list[WellReading] = field(default_factory=list)
    curves: dict[str, PrintedCurve] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    facts: dict[str, str | int | float | bool | None] = field(default_factory=dict)

    @property
    def analytes_reported(self) -> list[str]:
        """Return the reported analyte names in order of first appearance."""
        seen: dict[str, None] = {}
        for r in self.readings:
            seen.setdefault(r.analyte_reported, None)
        return list(seen)

    @property
    def wells(self) -> list[str]:
        """Return the distinct wells (member wells of replicate groups included), sorted."""
        found = {w for r in self.readings for w in r.member_wells}
        return sorted(found, key=lambda w: (w[:1], int(w[1:]) if w[1:].isdigit() else 0))
