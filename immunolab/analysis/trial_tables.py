"""The trial's patient-level tables as analyses need them, read from a store.

- :func:`trial_subjects`: one row per current subject: ``patient_id``, ``arm``, ``site``,
  ``sex``, ``age``, ``severity`` and the subjects file's extra covariate columns (numbers when
  every value of the column is one, e.g. ``bmi``; text otherwise), plus the flow
  ``specimen`` a patient's tubes were (when one specimen per patient).
- :func:`trial_outcomes`, :func:`trial_adverse_events`, :func:`trial_clinical_results`: the
  clinical fact tables from current sources; where two exports repeat a record the one ingested
  last counts (:func:`immunolab.derive.views.current_patient_rows`); a file excluded whole by
  ``qc exclude --file`` counts no more.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd

from immunolab.derive.views import current_patient_rows

if TYPE_CHECKING:
    from immunolab.store.read import Store

__all__ = ["trial_adverse_events", "trial_clinical_results", "trial_excluded_adverse_events", "trial_outcomes",
           "trial_subjects"]


#: cells of an extra covariate column that mean "not recorded" (read as missing, not as a level)
MISSING_TEXT = frozenset({"", "na", "n/a", "nan", "none", "null", ".", "-", "unknown", "missing", "not done"})


def _typed_covariate(values: pd.Series) -> pd.Series:
    """Return an extra covariate column as numbers when every recorded value is one (bmi), else as text.

    In a column of numbers, cells such as ``NA``, ``.`` or ``unknown`` (:data:`MISSING_TEXT`) are
    missing values, so one ``NA`` does not turn the column into text; a text column is kept as
    written. Numeric codes (``1``/``2``/``3``) are read as numbers: give a categorical covariate
    text levels (``mild``/``severe``).
    """
    recorded = values.notna() & ~values.astype(str).str.strip().str.lower().isin(MISSING_TEXT)
    numbers = pd.to_numeric(values[recorded], errors="coerce")
    if recorded.any() and numbers.notna().all():
        return pd.to_numeric(values.where(recorded), errors="coerce")
    return values


def trial_subjects(store: Store) -> pd.DataFrame:
    """Return the current subjects with their covariates (see the module doc)."""
    s = store.to_pandas("identity_subjects")
    if s.empty:
        return pd.DataFrame(columns=["patient_id", "arm", "site", "sex", "age", "severity"])
    s = s[s["status"].fillna("active") != "removed"]
    out = s[["patient_id", "arm", "site", "sex", "age", "severity"]].copy().reset_index(drop=True)
    extra = [json.loads(t) if isinstance(t, str) and t else {} for t in s["covariates_json"]]
    for name in sorted({k for e in extra for k in e}):
        if name not in out.columns:
            out[name] = _typed_covariate(pd.Series([e.get(name) for e in extra], dtype=object))
    smp = store.to_pandas("samples")
    if not smp.empty:
        flow = smp[smp["assay_kind"] == "flow"].groupby("patient_id")["specimen"].agg(lambda v: "+".join(sorted(set(v.dropna()))))
        out["specimen"] = out["patient_id"].map(flow)
    return out.sort_values("patient_id", kind="stable").reset_index(drop=True)


def _current(store: Store, name: str, key: tuple[str, ...]) -> pd.DataFrame:
    if name not in store.table_versions:
        from immunolab.schema import table_spec

        return pd.DataFrame(columns=table_spec(name).schema.names)
    import logging

    from immunolab.derive.views import warn_absent_later

    rows = current_patient_rows(store, name, key, drop_excluded=True)
    warn_absent_later(name, rows, logging.getLogger("immunolab.views"))
    return rows.reset_index(drop=True)


def trial_outcomes(store: Store) -> pd.DataFrame:
    """Return the current ``outcomes`` rows (one per patient and event)."""
    return _current(store, "outcomes", ("patient_id", "event"))


def trial_adverse_events(store: Store) -> pd.DataFrame:
    """Return the current ``adverse_events`` rows."""
    return _current(store, "adverse_events", ("patient_id", "term", "start_day"))


def trial_excluded_adverse_events(store: Store) -> pd.DataFrame:
    """Return the ``adverse_events`` rows that files a QC decision excludes whole hold (left out of the trial tables)."""
    if "adverse_events" not in store.table_versions:
        return _current(store, "adverse_events", ())
    from immunolab.derive.views import excluded_sources

    excluded = excluded_sources(store)
    if not excluded:
        return store.to_pandas("adverse_events").iloc[0:0]
    rows = current_patient_rows(store, "adverse_events", ("patient_id", "term", "start_day"))
    return rows[rows["source_sha256"].isin(excluded)].reset_index(drop=True)


def trial_clinical_results(store: Store) -> pd.DataFrame:
    """Return the current ``clinical_results`` rows."""
    return _current(store, "clinical_results", ("patient_id", "test_code", "study_day"))
