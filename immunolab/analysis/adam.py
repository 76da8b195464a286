"""ADaM-style analysis datasets for trial statisticians: ADSL (one row per subject), ADLB (long), ADTTE, ADAE.

ADSL (:func:`build_adsl`): STUDYID, USUBJID (``STUDYID-SUBJID``), SUBJID, SITEID, ARM, TRT01P,
TRT01A (= planned: the trial records no crossover), AGE, AGEU, SEX, every other subjects column
as a covariate variable (upper-case, at most 8 characters), ITTFL / SAFFL, death (DTHFL,
DTHDY), 28-day mortality (DTH28FL) and its time-to-event (TTDTH28 days, CNSDTH28 = 1 censored /
0 event, ADaM convention), discharge (DISCHFL, DISCHDY) and treatment-emergent adverse events
(onset on or after Day 0; AENUM events, AEMAXGR worst grade, AEGR3FL grade >= 3, SAEFL serious).
Flags are ``Y`` / ``N``.

ADLB (:func:`build_adlb`), from the measurements view: PARAMCD (<= 8 characters, unique per
assay x feature x measure), PARAM (one text per PARAMCD; ``[assay]`` added where two assays
measure the same analyte), PARCAT1 (assay), AVAL, AVALU, BASE, CHG, PCHG, AVISIT
(``Day 14``), AVISITN (protocol day, Day 0 = first infusion), ADY (CDISC study day of the
collection: the result's own study day where the store keeps one, e.g. a clinical result drawn
on Day 5 for visit Day 6, else the sample's visit day; + 1 from Day 0 on, as CDISC has no day 0,
so Day 0 is ADY 1 and Day -1 is ADY -1), ABLFL (``Y`` on the last record with a value in the
Day 0 visit window, Day -1 to Day 0, that no QC decision excluded; none when there is no such
record; BASE is that record's AVAL, CHG = AVAL - BASE, PCHG = 100 * CHG / BASE), ANL01FL (``Y`` on the record analysed: one per subject x parameter x visit with a value; blank for a value a QC
decision excluded, kept only with ``include_excluded``), DTYPE (``BLQ`` / ``ALQ`` when
AVAL is a substituted censored value: LLOQ/2 below, ULOQ above).

The export adds to ADSL ARMCD, TRT01PN and TRT01AN (:func:`add_treatment_variables`) and writes
ADLB through :func:`finish_adlb`: CHG / PCHG empty on baseline records and, as DTYPE names
derived records in CDISC terminology, CRIT1 / CRIT1FL (below LLOQ) and CRIT2 / CRIT2FL (above
ULOQ) in its place. ADTTE and ADAE: :mod:`immunolab.analysis.adam_events`.

:func:`write_adam` writes each as Parquet, CSV (cells neutralised against spreadsheet formula
injection) and SAS transport v5 ``.xpt`` (pyreadstat), checking the v5 rules: names <= 8
characters, labels <= 40 and one for every variable, character values <= 200 bytes (``IML-ANA-009``),
and gives each file its dataset label (:data:`DATASET_LABELS`). No date of a patient
appears; the XPORT headers carry the commit time of the store version exported (reproducible bytes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from immunolab.analysis.survival import time_to_event
from immunolab.errors import InputError

__all__ = ["ADLB_CRITERIA", "ADLB_LABELS", "ADSL_LABELS", "DATASET_LABELS", "add_treatment_variables", "build_adlb",
           "build_adsl", "covariate_labels", "export_adam", "finish_adlb", "neutralise_csv_cell", "treatment_codes",
           "write_adam", "xpt_name"]

ADSL_LABELS = {
    "STUDYID": "Study Identifier", "USUBJID": "Unique Subject Identifier", "SUBJID": "Subject Identifier for the Study",
    "SITEID": "Study Site Identifier", "ARM": "Description of Planned Arm", "TRT01P": "Planned Treatment for Period 01",
    "TRT01A": "Actual Treatment for Period 01", "AGE": "Age", "AGEU": "Age Units", "SEX": "Sex",
    "ITTFL": "Intent-To-Treat Population Flag", "SAFFL": "Safety Population Flag", "DTHFL": "Subject Death Flag",
    "DTHDY": "Study Day of Death (Day 0 = infusion)", "DTH28FL": "Death by Day 28 Flag",
    "TTDTH28": "Time to Death or Censoring by Day 28", "CNSDTH28": "Censor (1) or Event (0) by Day 28",
    "DISCHFL": "Discharged Alive Flag", "DISCHDY": "Study Day of Discharge", "AENUM": "Number of TEAEs",
    "AEMAXGR": "Worst TEAE Grade", "AEGR3FL": "Any TEAE Grade >= 3 Flag", "SAEFL": "Any Serious TEAE Flag", "ARMCD": "Planned Arm Code",
    "TRT01PN": "Planned Treatment for Period 01 (N)", "TRT01AN": "Actual Treatment for Period 01 (N)",
}
ADLB_LABELS = {
    "STUDYID": "Study Identifier", "USUBJID": "Unique Subject Identifier", "SUBJID": "Subject Identifier for the Study",
    "SITEID": "Study Site Identifier", "TRTP": "Planned Treatment", "PARCAT1": "Parameter Category 1 (assay)",
    "PARAMCD": "Parameter Code", "PARAM": "Parameter", "AVAL": "Analysis Value", "AVALU": "Analysis Value Unit",
    "BASE": "Baseline Value", "CHG": "Change from Baseline", "PCHG": "Percent Change from Baseline",
    "AVISIT": "Analysis Visit", "AVISITN": "Analysis Visit (N), protocol day", "ADY": "Analysis Relative Day",
    "ABLFL": "Baseline Record Flag", "ANL01FL": "Analysis Flag 01", "DTYPE": "Derivation Type",
    "CRIT1": "Analysis Criterion 1", "CRIT1FL": "Criterion 1 Evaluation Result Flag",
    "CRIT2": "Analysis Criterion 2", "CRIT2FL": "Criterion 2 Evaluation Result Flag",
}
#: SAS dataset label of each ADaM dataset written (XPORT member label)
DATASET_LABELS = {"adsl": "Subject-Level Analysis Dataset", "adlb": "Laboratory Analysis Dataset",
                  "adtte": "Time-to-Event Analysis Dataset", "adae": "Adverse Events Analysis Dataset"}
#: ADLB criteria replacing DTYPE: AVAL is the substituted value of a result outside the assay's range
ADLB_CRITERIA = {"CRIT1": ("Below LLOQ: AVAL is a substituted value", frozenset({"BLQ"})),
                 "CRIT2": ("Above ULOQ: AVAL is a substituted value", frozenset({"ALQ"}))}
_CORE = {"patient_id", "arm", "site", "age", "sex", "day0_date"}
_CENSOR_DTYPE = {"below_lloq": "BLQ", "below_curve": "BLQ", "above_uloq": "ALQ", "above_curve": "ALQ"}


def _frame(data: pd.DataFrame | pa.Table | None) -> pd.DataFrame:
    if data is None:
        return pd.DataFrame()
    return data.to_pandas() if isinstance(data, pa.Table) else data.copy()


def _adam_error(message: str, hint: str) -> InputError:
    return InputError("IML-ANA-009", message, hint=hint)


def xpt_name(column: str) -> str:
    """Return a SAS v5 variable name for a column: upper case, letters/digits/_, <= 8 characters."""
    name = re.sub(r"[^A-Z0-9_]", "", column.upper().replace(" ", "_"))
    if not name or name[0].isdigit():
        name = "V" + name
    return name[:8]


def _yn(flag: bool) -> str:
    return "Y" if flag else "N"


def _ae_columns(pid: str, ae: pd.DataFrame) -> dict[str, object]:
    from immunolab.analysis.outcomes import treatment_emergent

    mine = ae[(ae["patient_id"] == pid) & treatment_emergent(ae)] if not ae.empty else ae
    grade = pd.to_numeric(mine["grade"], errors="coerce") if len(mine) else pd.Series(dtype=float)
    serious = mine["serious"].astype("boolean").fillna(False) if len(mine) else pd.Series(dtype=bool)
    return {"AENUM": len(mine), "AEMAXGR": float(grade.max()) if grade.notna().any() else np.nan,
            "AEGR3FL": _yn(bool((grade >= 3).any())), "SAEFL": _yn(bool(serious.any()))}


def build_adsl(subjects: pd.DataFrame, outcomes: pd.DataFrame | pa.Table | None = None,
               ae: pd.DataFrame | pa.Table | None = None, *, studyid: str = "IMMUNOLAB", horizon: int = 28,
               last_contact: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Return ADSL: one row per subject with arm, covariates, death, 28-day time-to-event and AE summary.

    ``last_contact`` (patient -> last study day with data): a patient last seen before the horizon
    is censored there, as in ``immunolab outcomes``.
    """
    subj = subjects.assign(patient_id=subjects["patient_id"].astype(str))
    out = _frame(outcomes)
    if out.empty:
        out = pd.DataFrame(columns=["patient_id", "event", "study_day"])
    out = out.assign(patient_id=out["patient_id"].astype(str))
    events = _frame(ae)
    if not events.empty:
        events = events.assign(patient_id=events["patient_id"].astype(str))
    tte = time_to_event(subj, out, horizon=horizon, last_contact=last_contact).set_index("patient_id")
    extra = [c for c in subj.columns if c not in _CORE]
    rows = []
    for rec in subj.to_dict("records"):
        pid = rec["patient_id"]
        mine = out[(out["patient_id"] == pid) & out["study_day"].notna()]
        death = mine.loc[mine["event"] == "death", "study_day"]
        discharge = mine.loc[mine["event"] == "discharge", "study_day"]
        row: dict[str, object] = {
            "STUDYID": studyid, "USUBJID": f"{studyid}-{pid}", "SUBJID": pid, "SITEID": rec.get("site"),
            "ARM": rec["arm"], "TRT01P": rec["arm"], "TRT01A": rec["arm"], "AGE": rec.get("age"), "AGEU": "YEARS",
            "SEX": rec.get("sex"), **{xpt_name(c): rec[c] for c in extra}, "ITTFL": "Y", "SAFFL": "Y",
            "DTHFL": _yn(not death.empty), "DTHDY": float(death.min()) if not death.empty else np.nan,
            "DTH28FL": _yn(bool(tte.loc[pid, "event"])), "TTDTH28": float(tte.loc[pid, "time"]),
            "CNSDTH28": 1 - int(tte.loc[pid, "event"]),
            "DISCHFL": _yn(not discharge.empty), "DISCHDY": float(discharge.min()) if not discharge.empty else np.nan,
        }
        row.update(_ae_columns(pid, events))
        rows.append(row)
    adsl = pd.DataFrame(rows)
    names = [xpt_name(c) for c in extra]
    clash = sorted({n for n in names if names.count(n) > 1 or n in ADSL_LABELS})
    if clash:
        raise _adam_error(f"subjects columns shorten to the same ADaM name(s) {', '.join(clash)}",
                          "Rename the subjects columns so their first 8 letters differ and avoid ADSL names.")
    return adsl


# PARAMCD ends with the measure's letter, then the assay's: an analyte that two assays measure
# (IL-6 by Luminex and by bead array) gets a code fixed by its own assay, whatever else is exported
_MEASURE_CODE = {"pct_parent": "P", "pct_lymphocytes": "L", "cells_per_uL": "C", "concentration": "",
                 "count": "N", "pct_total": "T"}
_ASSAY_CODE = {"flow": "", "cytokine": "", "clinical": "", "cytokine_bead_array": "B", "flow_clusters": "K"}


def _paramcds(keys: pd.DataFrame) -> dict[tuple[str, str, str], str]:
    """Return a unique <= 8-character PARAMCD per (assay, feature, measure).

    The code is the feature's letters and digits, the measure's letter and the assay's letter
    (:data:`_ASSAY_CODE`; another assay: its first letter), so it depends on that parameter alone.
    Only two parameters that shorten to the same code are told apart by a digit, in sorted order.
    """
    codes: dict[tuple[str, str, str], str] = {}
    used: set[str] = set()
    for assay, feature, measure in keys.itertuples(index=False):
        stem = re.sub(r"[^A-Z0-9]", "", str(feature).upper().replace("+", "P")) or "X"
        end = _MEASURE_CODE.get(str(measure), str(measure)[:1].upper())
        end += _ASSAY_CODE.get(str(assay), str(assay)[:1].upper())
        code = (stem[: 8 - len(end)] + end)[:8]
        n = 1
        while code in used:
            tail = f"{n}"
            code = (stem[: 8 - len(end) - len(tail)] + tail + end)[:8]
            n += 1
        used.add(code)
        codes[(assay, feature, measure)] = code
    return codes


def _params(assay: pd.Series, feature: pd.Series, measure: pd.Series, unit: pd.Series) -> list[str]:
    """Return PARAM per row, one text per PARAMCD: ``feature (measure, unit)``, with ``[assay]`` added
    where the same text would name parameters of two assays (IL-6 by Luminex and by bead array)."""
    # one unit per parameter: a row stored without one (a plate exported with no unit) takes the parameter's
    units: dict[tuple[str, str, str], str] = {}
    for a, f, m, u in zip(assay, feature, measure, unit, strict=True):
        if isinstance(u, str) and u:
            units.setdefault((str(a), str(f), str(m)), u)
    text = [f"{f} ({m}{', ' + units[key] if (key := (str(a), str(f), str(m))) in units else ''})"
            for a, f, m in zip(assay, feature, measure, strict=True)]
    assays_of: dict[str, set[str]] = {}
    for t, a in zip(text, assay, strict=True):
        assays_of.setdefault(t, set()).add(str(a))
    return [f"{t} [{a}]" if len(assays_of[t]) > 1 else t for t, a in zip(text, assay, strict=True)]


def _collection_day(view: pd.DataFrame) -> pd.Series:
    """Return each measurement's collection study day (Day 0 = first infusion).

    The measurements view's ``collection_day`` holds it (a patient-table row's own study day, e.g.
    ``clinical_results``; a sample's manifest visit day). A view without it (written by a release
    before it, or made by hand) or a row where it is missing falls back to :func:`_day_from_lineage`.
    """
    if "collection_day" not in view:
        return _day_from_lineage(view)
    given = pd.to_numeric(view["collection_day"], errors="coerce")
    missing = given.isna()
    if not missing.any():
        return given.astype(int)
    day = _day_from_lineage(view)
    day.loc[~missing] = given[~missing].astype(int)
    return day


def _day_from_lineage(view: pd.DataFrame) -> pd.Series:
    """Return the collection study day read from ``lineage_key`` (views without ``collection_day``).

    A row of a patient table placed at a visit by its study day (``MeasureMap.day_column``, e.g.
    ``clinical_results``) has that day in its ``lineage_key``; a sample's row was collected on its
    manifest visit day, and so is a row whose key holds no day.
    """
    from immunolab.schema import all_tables

    day = view["visit_day"].astype(int).copy()
    if "lineage_table" not in view or "lineage_key" not in view:
        return day
    for name, spec in all_tables().items():
        mm = spec.measure
        if mm is None or mm.day_column is None or mm.day_column not in mm.lineage:
            continue
        rows = (view["lineage_table"] == name) & view["lineage_key"].notna()
        at, n = mm.lineage.index(mm.day_column), len(mm.lineage)
        parts = [str(k).rsplit(":", 1) if at == n - 1 else str(k).split(":") for k in view.loc[rows, "lineage_key"]]
        field = [p[-1] if at == n - 1 else p[at] if len(p) == n else "" for p in parts]
        found = pd.to_numeric(pd.Series(field, index=day.loc[rows].index, dtype=object), errors="coerce")
        day.loc[rows] = found.fillna(day.loc[rows]).astype(int)
    return day


def build_adlb(view: pd.DataFrame, subjects: pd.DataFrame | None = None, *, studyid: str = "IMMUNOLAB",
               baseline_day: int = 0) -> pd.DataFrame:
    """Return ADLB-like long data from the measurements view (see the module doc for every variable)."""
    v = view.assign(patient_id=view["patient_id"].astype(str))
    site = {} if subjects is None or "site" not in subjects else \
        dict(zip(subjects["patient_id"].astype(str), subjects["site"], strict=True))
    keys = v[["assay", "feature", "measure"]].drop_duplicates().sort_values(["assay", "feature", "measure"])
    codes = _paramcds(keys)
    code = [codes[k] for k in zip(v["assay"], v["feature"], v["measure"], strict=True)]
    unit = v["unit"] if "unit" in v else pd.Series(None, index=v.index)
    param = _params(v["assay"], v["feature"], v["measure"], unit)
    censor = v["censor"] if "censor" in v else pd.Series("none", index=v.index)
    day = v["visit_day"].astype(int)
    # a value a QC decision excluded (kept with --include-excluded) is not an analysis record
    excluded = v["excluded"].fillna(False).astype(bool) if "excluded" in v else pd.Series(False, index=v.index)
    adlb = pd.DataFrame({
        "STUDYID": studyid, "USUBJID": studyid + "-" + v["patient_id"], "SUBJID": v["patient_id"],
        "SITEID": v["patient_id"].map(site), "TRTP": v["arm"], "PARCAT1": v["assay"], "PARAMCD": code,
        "PARAM": param,
        "AVAL": v["value"].astype(float), "AVALU": unit,
        "BASE": np.nan, "CHG": np.nan, "PCHG": np.nan,  # from the baseline record, below
        "AVISIT": "Day " + day.astype(str), "AVISITN": day, "ADY": _cdisc_day(_collection_day(v)),
        "ABLFL": np.where(_baseline_records(v["patient_id"], pd.Series(code, index=v.index), day,
                                            v["value"].notna() & ~excluded, baseline_day), "Y", ""),
        "ANL01FL": np.where(v["value"].notna() & ~excluded, "Y", ""),
        "DTYPE": censor.map(_CENSOR_DTYPE).fillna(""),
    })
    adlb["BASE"] = _baseline_values(adlb)
    adlb["CHG"] = adlb["AVAL"] - adlb["BASE"]
    with np.errstate(divide="ignore", invalid="ignore"):
        adlb["PCHG"] = 100.0 * adlb["CHG"] / adlb["BASE"].where(adlb["BASE"] != 0)
    return adlb.sort_values(["USUBJID", "PARAMCD", "AVISITN"], kind="stable").reset_index(drop=True)


def _baseline_records(subject: pd.Series, paramcd: pd.Series, day: pd.Series, usable: pd.Series,
                      baseline_day: int) -> pd.Series:
    """Return which records are the baseline: per subject x parameter, the last usable one in the baseline window.

    Usable: a value, not excluded by a QC decision. The window is the baseline visit's
    (:func:`immunolab.derive.views.visit_window_bounds`: Day -1 to Day 0 for Day 0), so a Day 0
    record without a value is no baseline and an earlier record of the window can be.
    """
    from immunolab.derive.views import visit_window_bounds

    first, last = visit_window_bounds(baseline_day)
    candidate = usable & day.between(first, last)
    order = pd.DataFrame({"s": subject, "p": paramcd, "d": day})[candidate].sort_values("d", kind="stable")
    flagged = order.drop_duplicates(["s", "p"], keep="last").index
    return pd.Series(subject.index.isin(flagged), index=subject.index)


def _baseline_values(adlb: pd.DataFrame) -> pd.Series:
    """Return BASE: the AVAL of the subject x parameter's baseline record (ABLFL = Y), NaN without one."""
    base = adlb.loc[adlb["ABLFL"] == "Y", ["USUBJID", "PARAMCD", "AVAL"]].rename(columns={"AVAL": "BASE"})
    return adlb[["USUBJID", "PARAMCD"]].merge(base, on=["USUBJID", "PARAMCD"], how="left")["BASE"].set_axis(adlb.index)


def _cdisc_day(day: pd.Series) -> pd.Series:
    """Return CDISC study days (no day 0: Day 0 -> 1, Day -1 -> -1) of protocol days (Day 0 = first infusion).

    One rule for ADLB, ADTTE and ADAE: :func:`immunolab.analysis.adam_events.adam_relative_day`.
    """
    from immunolab.analysis.adam_events import adam_relative_day

    return adam_relative_day(day)


def neutralise_csv_cell(value: object) -> object:
    """Return ``value`` neutralised for spreadsheets (see :func:`immunolab.io.csv_safe.neutralise_cell`)."""
    from immunolab.io.csv_safe import neutralise_cell

    return neutralise_cell(value)


def _check_xpt(name: str, df: pd.DataFrame, labels: dict[str, str]) -> None:
    bad = [c for c in df.columns if len(c) > 8 or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", c)]
    if bad:
        raise _adam_error(f"{name}: variable name(s) {', '.join(bad)} break the SAS v5 rule (<= 8 letters/digits)",
                          "Rename the columns (immunolab.analysis.adam.xpt_name shows the rule).")
    long_labels = [c for c in df.columns if len(labels.get(c, c)) > 40]
    if long_labels:
        raise _adam_error(f"{name}: label(s) of {', '.join(long_labels)} exceed 40 characters", "Shorten the labels.")
    unlabelled = [c for c in df.columns if not labels.get(c) or labels[c] == c]
    if unlabelled:
        raise _adam_error(f"{name}: variable(s) {', '.join(unlabelled)} have no label",
                          "Give each variable a label (ADSL_LABELS ... in immunolab.analysis.adam).")
    for c in df.columns:
        if df[c].dtype == object:
            longest = df[c].dropna().astype(str).map(lambda s: len(s.encode("utf-8"))).max()
            if isinstance(longest, (int, np.integer)) and longest > 200:
                raise _adam_error(f"{name}: variable {c} holds values longer than 200 bytes",
                                  "Shorten the values (SAS v5 character limit).")


#: byte ranges of the creation and modification times in a one-member SAS XPORT v5 file
#: (library header records 2-3, member header records 6-7; 80-byte records)
_XPT_STAMPS = ((144, 160), (160, 176), (464, 480), (480, 496))
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _stamp_xpt(path: Path, when: datetime | None) -> None:
    """Set the header times of an XPORT v5 file to ``when`` (UTC; 01JAN60 when None): pyreadstat writes now."""
    from immunolab.errors import InternalError

    data = bytearray(path.read_bytes())
    if not (data[:48] == b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
            and data[240:288] == b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!"):
        raise InternalError("IML-INTERNAL-001", "the SAS transport file pyreadstat wrote has an unexpected header",
                            path=str(path), hint="Please report it with the pyreadstat version; --no-xpt skips XPORT.")
    when = (when or datetime(1960, 1, 1, tzinfo=UTC)).astimezone(UTC)
    stamp = f"{when:%d}{_MONTHS[when.month - 1]}{when:%y}:{when:%H:%M:%S}".encode()
    for start, end in _XPT_STAMPS:
        data[start:end] = stamp
    path.write_bytes(bytes(data))


def treatment_codes(arms: Sequence[str]) -> dict[str, int]:
    """Return TRT01PN per arm: 0 for the reference arm (``control`` or ``placebo``), 1, 2, ... for the others, sorted."""
    uniq = sorted({str(a) for a in arms})
    lower = {a.lower(): a for a in uniq}
    reference = lower.get("control") or lower.get("placebo")
    others = [a for a in uniq if a != reference]
    return ({reference: 0} if reference else {}) | {a: i + 1 for i, a in enumerate(others)}


def add_treatment_variables(adsl: pd.DataFrame) -> pd.DataFrame:
    """Return ADSL with ARMCD, TRT01PN and TRT01AN after TRT01A (see :func:`treatment_codes`).

    TRT01A (and so TRT01AN) is the planned treatment: the store records no infusion data.
    ARMCD is the arm's letters and digits in upper case, at most 20 characters (``IML-ANA-009``
    when two arms shorten to the same code).
    """
    if "ARM" not in adsl.columns:  # no subjects: nothing to code
        return adsl
    arms = adsl["ARM"].astype(str)
    armcd = {a: re.sub(r"[^A-Z0-9]", "", a.upper())[:20] or "ARM" for a in sorted(set(arms))}
    clash = sorted({c for c in armcd.values() if list(armcd.values()).count(c) > 1})
    if clash:
        raise _adam_error(f"two arms shorten to the same ARMCD {', '.join(clash)}",
                          "Rename the arms in the subjects file so their letters and digits differ.")
    codes = treatment_codes(list(arms))
    out = adsl.drop(columns=[c for c in ("ARMCD", "TRT01PN", "TRT01AN") if c in adsl.columns])
    for var in ("TRT01P", "TRT01A"):
        out.insert(list(out.columns).index(var) + 1, f"{var}N", adsl[var].astype(str).map(codes).astype("Int64"))
    out.insert(list(out.columns).index("ARM") + 1, "ARMCD", arms.map(armcd))
    return out


def covariate_labels(adsl: pd.DataFrame, subjects: pd.DataFrame | None = None) -> dict[str, str]:
    """Return a label for each ADSL covariate variable: the subjects column it comes from, e.g. ``Subjects column baseline_severity``."""
    source = {xpt_name(c): str(c) for c in (subjects.columns if subjects is not None else []) if c not in _CORE}
    known = {"SPECIMEN": "Specimen of the Flow Samples", "SEVERITY": "Baseline Disease Severity"}
    return {c: known.get(c) or (f"Subjects column {source[c]}" if c in source else "Covariate from the subjects file")[:40]
            for c in adsl.columns if c not in ADSL_LABELS}


def finish_adlb(adlb: pd.DataFrame) -> pd.DataFrame:
    """Return ADLB in the exported conventions: CHG / PCHG null on baseline records, DTYPE as criteria.

    CHG and PCHG are empty where ABLFL = Y. DTYPE marked a substituted censored value, which is
    no CDISC derivation type (DTYPE names a derived record): CRIT1 / CRIT1FL (below LLOQ) and
    CRIT2 / CRIT2FL (above ULOQ) say it instead (:data:`ADLB_CRITERIA`), on every record.
    """
    out = adlb.copy()
    base = out["ABLFL"] == "Y"
    for c in ("CHG", "PCHG"):
        out[c] = out[c].astype(float).mask(base)
    if "DTYPE" in out.columns:
        at = list(out.columns).index("DTYPE")
        dtype = out.pop("DTYPE").fillna("").astype(str)
        for crit, (text, values) in reversed(ADLB_CRITERIA.items()):
            out.insert(at, f"{crit}FL", np.where(dtype.isin(values), "Y", "N"))
            out.insert(at, crit, text)
    return out


def write_adam(out_dir: str | Path, adsl: pd.DataFrame, adlb: pd.DataFrame, *,
               xpt: bool = True, names: Sequence[str] = ("adsl", "adlb"), store_version: int | None = None,
               committed_at: datetime | None = None, more: Mapping[str, pd.DataFrame] | None = None,
               labels: Mapping[str, str] | None = None) -> list[Path]:
    """Write ADSL, ADLB and the ``more`` datasets (``adtte``, ``adae``) as Parquet, CSV and SAS transport v5.

    Every XPT variable carries a label (:data:`ADSL_LABELS` ..., ``labels`` for the subjects
    covariates, else :func:`covariate_labels`) and every dataset its label (:data:`DATASET_LABELS`).
    The XPORT headers carry ``committed_at`` (the store version's commit time) instead of the
    time of writing, so two exports of one store version are byte-identical; with
    ``store_version``, ``store_version.json`` beside the datasets records which version they show.
    """
    from immunolab.analysis.adam_events import ADAE_LABELS, ADTTE_LABELS
    from immunolab.io.csv_safe import write_csv
    from immunolab.outputs import mark_folder

    known = {"adtte": ADTTE_LABELS, "adae": ADAE_LABELS}
    datasets = [(name, df, {**ADSL_LABELS, **(labels or covariate_labels(df))}, DATASET_LABELS["adsl"])
                for name, df in zip(names[:1], (adsl,), strict=True)]
    datasets.append((names[1], adlb, ADLB_LABELS, DATASET_LABELS["adlb"]))
    datasets += [(name, df, known.get(name, {}), DATASET_LABELS.get(name, "")) for name, df in (more or {}).items()]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, df, var_labels, data_label in datasets:
        _check_xpt(name.upper(), df, var_labels)
        pq, csv = out / f"{name}.parquet", out / f"{name}.csv"
        df.to_parquet(pq, index=False)
        write_csv(df, csv)
        written += [pq, csv]
        if xpt:
            import pyreadstat

            path = out / f"{name}.xpt"
            pyreadstat.write_xport(df, str(path), file_label=data_label, table_name=name.upper(), file_format_version=5,
                                   column_labels={c: var_labels[c] for c in df.columns})
            _stamp_xpt(path, committed_at)
            written.append(path)
    if store_version is not None:
        meta = out / "store_version.json"
        meta.write_text(json.dumps({"store_version": store_version, "committed_at": committed_at.isoformat()
                                    if committed_at else None, "datasets": [p.name for p in written]},
                                   indent=1, sort_keys=True))
        written.append(meta)
    mark_folder(out, "adam", written)
    return written


def export_adam(out_dir: str | Path, view: pd.DataFrame, subjects: pd.DataFrame,
                outcomes: pd.DataFrame | pa.Table | None = None, adverse_events: pd.DataFrame | pa.Table | None = None,
                *, studyid: str = "IMMUNOLAB", xpt: bool = True, store_version: int | None = None,
                committed_at: datetime | None = None, clinical: pd.DataFrame | pa.Table | None = None,
                excluded_adverse_events: pd.DataFrame | pa.Table | None = None,
                last_contact: Mapping[str, int] | None = None) -> list[Path]:
    """Build ADSL, ADLB, ADTTE and ADAE from the trial's tables and write them (what ``immunolab export adam`` runs).

    ``clinical``: the clinical results (WHO ordinal scale scores give ADTTE's time to clinical
    improvement); ``excluded_adverse_events``: events of files a QC decision excludes, kept in
    ADAE with ANL01FL blank (``--include-excluded``); ``last_contact``: each patient's last study
    day with data (:func:`immunolab.analysis.endpoints.store_last_contact`), where ADSL and ADTTE
    censor a patient last seen before the horizon.
    """
    from immunolab.analysis.adam_events import build_adae, build_adtte

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", studyid or ""):
        raise _adam_error("the study identifier is empty or holds spaces or other characters",
                          "Give --studyid as letters, digits, '-', '_' or '.' (e.g. MSC-COVID-01).")
    adsl = add_treatment_variables(build_adsl(subjects, outcomes, adverse_events, studyid=studyid,
                                              last_contact=last_contact))
    adlb = finish_adlb(build_adlb(view, subjects, studyid=studyid))
    more = {"adtte": build_adtte(adsl, subjects, outcomes, clinical, last_contact=last_contact),
            "adae": build_adae(adverse_events, adsl, excluded_adverse_events)}
    return write_adam(out_dir, adsl, adlb, xpt=xpt, store_version=store_version, committed_at=committed_at,
                      more=more, labels=covariate_labels(adsl, subjects))
