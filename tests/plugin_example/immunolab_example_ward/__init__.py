"""An example third-party immunolab plugin: a hospital ward's observation CSV.

Installed as its own distribution, it registers through the entry-point group
``immunolab.assays`` (see pyproject.toml); immunolab then detects its files, offers its option
as ``immunolab ingest --ward-temperature-unit``, stores its own fact table and shows its rows
in ``measurements``, with no edit of immunolab itself. docs/plugins.md builds it step by step.
"""

from __future__ import annotations

from pathlib import Path

from immunolab.io import decode_bytes, read_rows
from immunolab.plugins import Detection, ParseContext, ParsedAssay, PluginOption
from immunolab_example_ward.reader import header_columns, read_ward_csv
from immunolab_example_ward.table import WARD_TABLE

__all__ = ["WardObservationsPlugin"]


class WardObservationsPlugin:
    """Ward observation CSVs (patient_id, date, heart_rate_bpm, temperature) -> ``ward_observations``."""

    name = "ward_observations"
    version = "1.0.0"
    assay_kind = "clinical"  # patient-level: the patients are written in the file (no manifest row)
    file_extensions = (".csv",)
    produces = ("ward_observations",)
    tables = (WARD_TABLE,)
    options = (
        PluginOption("ward_temperature_unit", "choice", "Ward CSV: unit of the temperature column "
                     "(stored in degC).", default="C", choices=("C", "F")),
    )

    def detect(self, head: bytes, filename: str) -> Detection | None:
        """Claim a CSV whose first row holds every ward column (pure, never raises)."""
        if not filename.lower().endswith(".csv"):
            return None
        try:
            rows = read_rows(decode_bytes(head[:4096])).rows
        except Exception:
            return None
        if not rows or header_columns(rows[0]) is None:
            return None
        return Detection(self.name, "ward_csv", "ward observation header row")

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay:
        """Return the file's ``ward_observations`` facts."""
        unit = ctx.option("ward_temperature_unit", "C") or "C"
        table = read_ward_csv(path.read_bytes(), ctx, temperature_unit=unit)
        return ParsedAssay(tables={"ward_observations": table},
                           metadata={"format": "ward_csv", "n_rows": table.num_rows, "temperature_unit": unit})
