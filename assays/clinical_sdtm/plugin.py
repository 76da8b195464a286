"""The ``clinical_sdtm`` plugin: CDISC SDTM datasets (DM, LB, VS, QS, AE, DS) as SAS transport or CSV.

Detection: a SAS transport file (its library header record), or a CSV whose header holds
``STUDYID``, ``DOMAIN`` and ``USUBJID``. Subjects: ``SUBJID`` where the dataset has it, else the
last part of ``USUBJID`` (``STUDYID-SITEID-SUBJID``), resolved through the subjects file.
"""

from __future__ import annotations

from pathlib import Path

from immunolab_assays.clinical_sdtm import read_sdtm

from immunolab.clinical.plugin_support import (
    CLINICAL_TABLES,
    header_cells,
    parsed_from_read,
    read_context,
)
from immunolab.plugins import Detection, ParseContext, ParsedAssay

__all__ = ["SdtmPlugin"]

_XPT_MAGIC = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
_XPT_V8_MAGIC = b"HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!"


class SdtmPlugin:
    """SDTM domains to clinical facts: LB/VS/QS results, AE, DS dispositions, DM demographics and deaths."""

    name = "clinical_sdtm"
    version = "1.0.0"
    assay_kind = "clinical"
    file_extensions = (".xpt", ".csv")
    produces = CLINICAL_TABLES

    def detect(self, head: bytes, filename: str) -> Detection | None:
        """Claim SAS transport files and SDTM-shaped CSV files."""
        if head.startswith((_XPT_MAGIC, _XPT_V8_MAGIC)):
            return Detection(self.name, "sdtm_xpt", "SAS transport library header")
        if filename.lower().endswith(".csv"):
            cells = {c.strip().upper() for c in header_cells(head)}
            if {"STUDYID", "DOMAIN", "USUBJID"} <= cells:
                return Detection(self.name, "sdtm_csv", "STUDYID, DOMAIN and USUBJID columns")
        return None

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay:
        """Read one SDTM dataset into clinical facts."""
        read = read_sdtm(path, read_context(ctx), unknown_tests="keep")
        if "demographics" in read.tables:
            domain = "DM"
        elif "clinical_results" in read.tables:
            domains = set(read.tables["clinical_results"].column("source_domain").to_pylist())
            domain = "/".join(sorted(str(d) for d in domains)) or "LB"
        else:
            domain = "AE" if "adverse_events" in read.tables else "DS"
        return parsed_from_read(read, fmt=f"sdtm_{domain.lower()}", extra={"domain": domain})
