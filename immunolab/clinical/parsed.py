"""What a clinical reader returns: fact tables plus the rows it did not turn into facts, and why."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

__all__ = ["ClinicalRead", "SkippedRow"]


@dataclass(frozen=True)
class SkippedRow:
    """A source data row that produced no fact (1-based row, patient id when known, reason)."""

    source_row: int
    patient_id: str | None
    reason: str


@dataclass
class ClinicalRead:
    """Fact tables of one clinical file (schemas of :mod:`immunolab.clinical.schema`) and skipped rows.

    Nothing is dropped silently: every source row either yields facts or is listed in
    ``skipped`` with its reason; ``notes`` hold file-level remarks (units assumed, profile used).
    """

    tables: dict[str, pa.Table]
    skipped: list[SkippedRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, name: str) -> pa.Table:
        """Return the table ``name`` (KeyError when this file produced none)."""
        return self.tables[name]
