"""Clinical tables: plain hospital-lab / CRF layouts and wide lab time series (pure readers).

- :func:`read_clinical_table` (and the per-layout readers) for the documented plain CSV/XLSX
  layouts: lab results, adverse events, patient events (:mod:`.plain`).
- :func:`read_lab_time_series` with a :class:`TimeSeriesProfile` (:data:`TJH_PROFILE` for the
  Tongji Hospital COVID-19 export) for one-row-per-draw exports (:mod:`.time_series`).

Plugin classes and registration are added by the core (``immunolab.plugins``); these functions
return :class:`immunolab.clinical.parsed.ClinicalRead` fact tables.
"""

from __future__ import annotations

from immunolab_assays.clinical_table.plain import (
    COLUMNS,
    detect_layout,
    read_clinical_table,
    read_plain_adverse_events,
    read_plain_events,
    read_plain_results,
)
from immunolab_assays.clinical_table.time_series import (
    TJH_PROFILE,
    TJH_UNITS,
    TimeSeriesProfile,
    read_lab_time_series,
)

__all__ = [
    "COLUMNS",
    "TJH_PROFILE",
    "TJH_UNITS",
    "TimeSeriesProfile",
    "detect_layout",
    "read_clinical_table",
    "read_lab_time_series",
    "read_plain_adverse_events",
    "read_plain_events",
    "read_plain_results",
]
