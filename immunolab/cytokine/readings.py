"""One well x analyte as a row-oriented export prints it, before it becomes a :class:`Plate` row.

Bio-Plex and MSD exports are read row by row; their readers collect :class:`WellReading`
objects and hand them to :func:`immunolab.cytokine.plate_builder.plate_from_readings`, which
returns the one plate model every reader produces (:class:`~immunolab.cytokine.plate.Plate`).
A reading holds the raw sample name (``sample_name``), which only ever leaves as the private
``_sample_ref`` column. Signals are instrument units (Bio-Plex FI, MSD ECL counts);
concentrations are in the units of the standards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from immunolab.cytokine.plate import SAMPLE_TYPES
from immunolab.io.tokens import ReportedConc

__all__ = [
    "SAMPLE_TYPES",
    "WellReading",
    "sample_type_from_code",
]

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
