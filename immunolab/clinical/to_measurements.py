"""Turn ``clinical_results`` into measurement rows (assay ``clinical``) at the protocol visits.

A clinical result belongs to the protocol visit whose day is nearest to its study day among the
visits whose window holds it (:func:`immunolab.derive.views.visit_of_day`; ``window_days``: the
half-width in days, or a function of the visit day; default
:func:`immunolab.derive.views.visit_window`, +-1 day up to Day 19, then +-10 % of the day, the
rule of the store's measurements view; Day 0's window ends on Day 0, as a baseline is pre-dose;
the earlier visit wins a tie); results outside every
window are not measurements of a visit and are counted in the returned note, not dropped
silently (the measurements view logs them as ``IML-CLIN-010``). When
several results of one test fall on the chosen visit, the one on the day nearest to it is used
(the median of several on that day; ``n_results`` says how many). Each row: ``assay``
``clinical``, ``feature`` = canonical test code, ``measure`` ``result``, ``value`` in the
canonical unit, ``censor`` as read, ``lineage_table`` ``clinical_results`` and
``lineage_key`` ``<test_code>:<study_day>``, ``collection_day`` the study day of the result used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["clinical_measurements"]


def clinical_measurements(results: pd.DataFrame | pa.Table, subjects: pd.DataFrame, *, visit_days: Sequence[int],
                          window_days: int | Callable[[int], int] | None = None) -> tuple[pd.DataFrame, str]:
    """Return (measurement rows, note) of clinical results matched to protocol visits (see module doc)."""
    from immunolab.derive.views import VISIT_WINDOW_RULE, visit_of_day, visit_window

    window_days = visit_window if window_days is None else window_days
    res = results.to_pandas() if isinstance(results, pa.Table) else results.copy()
    res = res[res["study_day"].notna() & res["value"].notna()].copy()
    arm = dict(zip(subjects["patient_id"].astype(str), subjects["arm"], strict=True))
    res["patient_id"] = res["patient_id"].astype(str)
    res["study_day"] = res["study_day"].astype(int)
    res["visit_day"] = [visit_of_day(d, visit_days, window_days) for d in res["study_day"]]
    outside = int(res["visit_day"].isna().sum())
    res = res[res["visit_day"].notna()].assign(visit_day=lambda d: d["visit_day"].astype(int))
    res["offset"] = (res["study_day"] - res["visit_day"]).abs()
    rows = []
    for key, g in res.groupby(["patient_id", "visit_day", "test_code"], sort=True):
        pid, visit, code = cast("tuple[str, int, str]", key)
        g = g[g["offset"] == g["offset"].min()]
        g = g[g["study_day"] == g["study_day"].min()]
        censored = g["censor"][g["censor"] != "none"]
        day = int(g["study_day"].iloc[0])
        rows.append({
            "patient_id": pid, "visit_day": int(visit), "sample_id": None, "arm": arm.get(pid), "assay": "clinical",
            "feature": code, "measure": "result", "value": float(np.median(g["value"])), "unit": g["unit"].iloc[0],
            "censor": censored.iloc[0] if len(censored) == len(g) else "none", "lineage_table": "clinical_results",
            "lineage_key": f"{code}:{day}", "collection_day": day,
            "derivation_id": None, "n_results": len(g),
        })
    width = (VISIT_WINDOW_RULE if window_days is visit_window else
             "its window" if callable(window_days) else f"+-{window_days} day(s); Day 0 ends on Day 0")
    note = (f"{outside} clinical result(s) outside every protocol visit window ({width}) are not "
            "visit measurements") if outside else ""
    return pd.DataFrame(rows), note
