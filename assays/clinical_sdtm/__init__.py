"""CDISC SDTM clinical datasets (DM, LB, VS, QS, AE, DS) from SAS transport ``.xpt`` or CSV.

:func:`read_sdtm` reads one dataset into :class:`immunolab.clinical.parsed.ClinicalRead` fact
tables: LB/VS/QS -> ``clinical_results``; AE -> ``adverse_events``; DS -> ``outcomes``;
DM -> ``demographics`` (+ ``outcomes`` deaths). Rules: :mod:`.files` (subject ids, reading)
and :mod:`.domains` (days, results, grades, dispositions). Plugin wiring is the core's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from immunolab_assays.clinical_sdtm import domains
from immunolab_assays.clinical_sdtm.files import (
    SDTM_DOMAINS,
    read_dataset,
    study_day_from_dm,
    subject_map_from_dm,
)

from immunolab.clinical.context import ReadContext
from immunolab.clinical.parsed import ClinicalRead
from immunolab.clinical.results import UnknownTests, normalise_results
from immunolab.clinical.schema import clinical_table

__all__ = ["SDTM_DOMAINS", "read_dataset", "read_sdtm", "study_day_from_dm", "subject_map_from_dm"]


def read_sdtm(path: str | Path, ctx: ReadContext | None = None, *, domain: str | None = None,
              usubjid_map: Mapping[str, str] | None = None, unknown_tests: UnknownTests = "keep") -> ClinicalRead:
    """Return the facts of one SDTM dataset (``.xpt`` or ``.csv``; domain from ``DOMAIN`` or the file name).

    ``usubjid_map`` (USUBJID -> patient id, e.g. :func:`subject_map_from_dm`) resolves the
    domains that hold USUBJID only; ``ctx`` resolves patients and dates (see
    :class:`~immunolab.clinical.context.ReadContext`).
    """
    ctx = ctx or ReadContext(label=Path(path).name)
    found, df = read_dataset(path, label=ctx.label, domain=domain)
    if found in ("LB", "VS", "QS"):
        rows, skipped = domains.results(df, found, ctx, usubjid_map)
        table = normalise_results(pd.DataFrame(rows), label=ctx.label, unknown_tests=unknown_tests) if rows \
            else clinical_table("clinical_results", [])
        return ClinicalRead({"clinical_results": table}, skipped)
    if found == "AE":
        return ClinicalRead({"adverse_events": clinical_table("adverse_events", domains.adverse_events(df, ctx, usubjid_map))})
    if found == "DS":
        rows, skipped = domains.disposition(df, ctx, usubjid_map)
        return ClinicalRead({"outcomes": clinical_table("outcomes", rows)}, skipped)
    demo, deaths = domains.demographics(df, ctx)
    return ClinicalRead({"demographics": clinical_table("demographics", demo),
                         "outcomes": clinical_table("outcomes", deaths)})
