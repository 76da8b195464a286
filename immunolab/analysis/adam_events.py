"""ADaM event datasets: ADTTE (time to event) and ADAE (adverse events), beside ADSL and ADLB.

ADTTE (:func:`build_adtte`): one record per subject x parameter.

- ``TTDTH{horizon}``: time to death by Day ``horizon``, the rule of ADSL's TTDTH28 / CNSDTH28 and
  of ``immunolab outcomes`` (:func:`immunolab.analysis.survival.time_to_event`);
- ``TTIMP{horizon}``: time to clinical improvement (a 2-point fall of the WHO ordinal scale
  ``WHOOSCI`` or discharge alive), the rule of ``immunolab outcomes``
  (:func:`immunolab.analysis.outcomes.time_to_improvement`); present when scores were ingested.

AVAL is the time in days from the origin STARTDY = 0 (Day 0, the first infusion; the store keeps
no dates, so the origin is a study day and no STARTDT is written), CNSR is 0 for an event and 1
for a censored time, ADY the ADaM relative day of the event or censoring (:func:`adam_relative_day`),
EVNTDESC / CNSDTDSC say what happened. TRT01P(N) and the population flags come from ADSL.

ADAE (:func:`build_adae`): one record per adverse event of the store's ``adverse_events`` table:
AETERM / AEDECOD / AEBODSYS as stored with any date-shaped part replaced by ``[date]`` (the
verbatim term is investigator text), AETOXGR (CTCAE grade as stored) or AESEV (when the source
gave a severity word instead), AESER, AEREL, AEOUT, ASTDY / AENDY (ADaM relative days), TRTEMFL
(``Y`` when onset is on or after Day 0, the first infusion; also when the onset day is missing,
the conservative convention) and, from ADSL, TRT01P(N), TRT01A(N) and SAFFL. Events of a file a
QC decision excludes whole are left out, or kept with ANL01FL blank (``include_excluded``), as
ADLB does with excluded values.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from immunolab.analysis.adam import ADSL_LABELS, _frame
from immunolab.analysis.outcomes import treatment_emergent
from immunolab.errors import InputError

__all__ = ["ADAE_LABELS", "ADTTE_LABELS", "adam_relative_day", "build_adae", "build_adtte"]

#: the ADSL variables ADTTE and ADAE carry, labelled as in ADSL (one set of labels)
_CARRIED = ("STUDYID", "USUBJID", "SUBJID", "SITEID", "TRT01P", "TRT01PN", "TRT01A", "TRT01AN")
ADTTE_LABELS = {
    **{v: ADSL_LABELS[v] for v in (*_CARRIED, "ITTFL", "SAFFL")},
    "PARAMCD": "Parameter Code", "PARAM": "Parameter",
    "PARAMN": "Parameter (N)", "AVAL": "Analysis Value (days from Day 0)", "AVALU": "Analysis Value Unit",
    "CNSR": "Censor (0 event, 1 censored)", "STARTDY": "Time-to-Event Origin Day (Day 0)",
    "ADY": "Analysis Relative Day of Event/Censoring", "EVNTDESC": "Event or Censoring Description",
    "CNSDTDSC": "Censor Date Description",
}
ADAE_LABELS = {
    **{v: ADSL_LABELS[v] for v in (*_CARRIED, "SAFFL")},
    "ASEQ": "Analysis Sequence Number", "AETERM": "Reported Term for the Adverse Event",
    "AEDECOD": "Dictionary-Derived Term", "AEBODSYS": "Body System or Organ Class",
    "AETOXGR": "Standard Toxicity Grade", "AESEV": "Severity/Intensity", "AESER": "Serious Event",
    "AEREL": "Causality (Y related, N not related)", "AEOUT": "Outcome of Adverse Event",
    "ASTDY": "Analysis Start Relative Day", "AENDY": "Analysis End Relative Day",
    "TRTEMFL": "Treatment Emergent Analysis Flag", "ANL01FL": "Analysis Flag 01",
}
_ADSL_KEEP = ("USUBJID", "SUBJID", "SITEID", "TRT01P", "TRT01PN", "TRT01A", "TRT01AN", "ITTFL", "SAFFL")
#: what a censoring reason of the time-to-event rules means in CNSDTDSC (an unknown reason: upper case)
_CENSOR_TEXT = {
    "horizon": "END OF FOLLOW-UP (DAY {h})", "withdrawal": "WITHDRAWAL", "lost_to_follow_up": "LOST TO FOLLOW-UP",
    "last contact": "LAST CONTACT", "death (censored at the horizon)": "DEATH BEFORE IMPROVEMENT (AT DAY {h})",
    "no improvement by the horizon": "NO IMPROVEMENT BY DAY {h}", "no baseline score": "NO BASELINE SCORE (AT DAY {h})",
}
_AE_OUT = {"recovered": "RECOVERED/RESOLVED", "recovering": "RECOVERING/RESOLVING",
           "not_recovered": "NOT RECOVERED/NOT RESOLVED", "recovered_with_sequelae": "RECOVERED/RESOLVED WITH SEQUELAE",
           "fatal": "FATAL", "unknown": "UNKNOWN"}
_SEVERITY_WORD = {1: "MILD", 2: "MODERATE", 3: "SEVERE"}


def adam_relative_day(day: pd.Series) -> pd.Series:
    """Return the ADaM relative day of protocol days (Day 0 = first infusion): day + 1 from Day 0 on, as ADaM has no day 0."""
    d = pd.to_numeric(day, errors="coerce").astype(float)
    return d.where(d < 0, d + 1)


def _adsl_part(adsl: pd.DataFrame) -> pd.DataFrame:
    return adsl[["STUDYID", *[c for c in _ADSL_KEEP if c in adsl.columns]]]


def _censor_text(reason: str, no_baseline_score: bool, horizon: int) -> str:
    """Return CNSDTDSC for a censoring reason: its text, then a missing baseline score said apart."""
    text = _CENSOR_TEXT.get(reason, reason.upper()).format(h=horizon)
    if no_baseline_score and reason != "no baseline score":
        text += "; NO BASELINE SCORE"
    return text


def _tte_records(tte: pd.DataFrame, adsl: pd.DataFrame, paramcd: str, param: str, paramn: int, event: str,
                 horizon: int) -> pd.DataFrame:
    t = tte.assign(SUBJID=tte["patient_id"].astype(str))
    time = t["time"].astype(float)
    censored = t["event"].astype(int) == 0
    reasons = t["censor_reason"].fillna("").astype(str)
    no_base = t["no_baseline_score"].fillna(False) if "no_baseline_score" in t else pd.Series(False, index=t.index)
    rec = pd.DataFrame({
        "SUBJID": t["SUBJID"], "PARAMCD": paramcd, "PARAM": param, "PARAMN": paramn, "AVAL": time, "AVALU": "DAYS",
        "CNSR": censored.astype(int), "STARTDY": 0, "ADY": adam_relative_day(time),
        "EVNTDESC": np.where(censored, "CENSORED", event),
        "CNSDTDSC": np.where(censored, [_censor_text(r, bool(nb), horizon) for r, nb in zip(reasons, no_base, strict=True)],
                             ""),
    })
    return _adsl_part(adsl).merge(rec, on="SUBJID", how="inner", validate="one_to_one")


def build_adtte(adsl: pd.DataFrame, subjects: pd.DataFrame, outcomes: pd.DataFrame | pa.Table | None = None,
                clinical: pd.DataFrame | pa.Table | None = None, *, horizon: int = 28,
                last_contact: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Return ADTTE: one record per subject x time-to-event parameter (see the module doc); times in days."""
    from immunolab.analysis.outcomes import time_to_improvement
    from immunolab.analysis.survival import time_to_event

    if adsl.empty:  # no subjects: no records
        return pd.DataFrame(columns=list(ADTTE_LABELS))
    subj = subjects.assign(patient_id=subjects["patient_id"].astype(str))
    out = _frame(outcomes)
    if out.empty:
        out = pd.DataFrame(columns=["patient_id", "event", "study_day"])
    out = out.assign(patient_id=out["patient_id"].astype(str))
    parts = [_tte_records(time_to_event(subj, out, horizon=horizon, last_contact=last_contact), adsl, f"TTDTH{horizon}",
                          f"Time to Death by Day {horizon} (days)", 1, "DEATH", horizon)]
    scores = _frame(clinical)
    if not scores.empty and (scores["test_code"] == "WHOOSCI").any():
        tti = time_to_improvement(subj, scores, out if not out.empty else None, horizon=horizon,
                                  last_contact=last_contact)
        parts.append(_tte_records(tti, adsl, f"TTIMP{horizon}",
                                  f"Time to Clinical Improvement by Day {horizon} (days)", 2,
                                  "CLINICAL IMPROVEMENT (WHO SCALE -2 OR DISCHARGE)", horizon))
    adtte = pd.concat(parts, ignore_index=True)
    return adtte.sort_values(["USUBJID", "PARAMN"], kind="stable").reset_index(drop=True)


def _clean_text(values: pd.Series) -> pd.Series:
    from immunolab.redact import redact_free_text

    return values.map(lambda v: redact_free_text(str(v)) if isinstance(v, str) else None)


def _yn_or_blank(values: pd.Series) -> pd.Series:
    flags = values.astype("boolean")
    return flags.map({True: "Y", False: "N"}).astype(object).where(flags.notna(), "")


def _ae_records(ae: pd.DataFrame, analysed: bool) -> pd.DataFrame:
    grade = pd.to_numeric(ae["grade"], errors="coerce") if "grade" in ae else pd.Series(np.nan, index=ae.index)
    source = ae["grade_source"].fillna("") if "grade_source" in ae else pd.Series("", index=ae.index)
    ctcae = grade.notna() & (source.astype(str) != "") & ~source.astype(str).str.startswith("severity")
    severity = grade.notna() & source.astype(str).str.startswith("severity")
    start = pd.to_numeric(ae["start_day"], errors="coerce") if "start_day" in ae else pd.Series(np.nan, index=ae.index)
    end = pd.to_numeric(ae["end_day"], errors="coerce") if "end_day" in ae else pd.Series(np.nan, index=ae.index)

    def col(name: str) -> pd.Series:
        return ae[name] if name in ae else pd.Series(None, index=ae.index, dtype=object)

    return pd.DataFrame({
        "SUBJID": ae["patient_id"].astype(str), "AETERM": _clean_text(ae["term"]),
        "AEDECOD": _clean_text(col("decod")), "AEBODSYS": _clean_text(col("body_system")),
        "AETOXGR": grade.where(ctcae).map(lambda g: str(int(g)) if pd.notna(g) else ""),
        "AESEV": grade.where(severity).map(lambda g: _SEVERITY_WORD.get(int(g), "") if pd.notna(g) else ""),
        "AESER": _yn_or_blank(col("serious")), "AEREL": _yn_or_blank(col("related")),
        "AEOUT": col("outcome").map(lambda o: _AE_OUT.get(str(o), str(o).upper()) if isinstance(o, str) else ""),
        "ASTDY": adam_relative_day(start), "AENDY": adam_relative_day(end),
        "TRTEMFL": np.where(treatment_emergent(ae), "Y", "N"), "ANL01FL": "Y" if analysed else "",
        "_start": start, "_row": pd.to_numeric(col("source_row"), errors="coerce"),
    })


def build_adae(adverse_events: pd.DataFrame | pa.Table | None, adsl: pd.DataFrame,
               excluded: pd.DataFrame | pa.Table | None = None) -> pd.DataFrame:
    """Return ADAE: one record per adverse event (see the module doc); ``excluded``: events kept with ANL01FL blank."""
    parts = [_ae_records(ae, analysed) for ae, analysed in ((_frame(adverse_events), True), (_frame(excluded), False))
             if not ae.empty]
    columns = ["STUDYID", *[c for c in _ADSL_KEEP if c != "ITTFL" and (c in adsl.columns or adsl.empty)], "ASEQ",
               *[c for c in ADAE_LABELS if c not in _ADSL_KEEP and c not in ("STUDYID", "ASEQ")]]
    if not parts:
        return pd.DataFrame(columns=columns)
    rec = pd.concat(parts, ignore_index=True)
    unknown = sorted(set(rec["SUBJID"]) - set(adsl.get("SUBJID", pd.Series(dtype=str)).astype(str)))
    if unknown:
        raise InputError("IML-ANA-008", f"adverse events name patient(s) not in the subjects table: {', '.join(unknown[:5])}",
                         hint="Read the AE file with the trial's subjects file, or add the patients.")
    rec = rec.sort_values(["SUBJID", "_start", "AETERM", "_row"], kind="stable", na_position="last")
    rec["ASEQ"] = rec.groupby("SUBJID").cumcount() + 1
    adae = _adsl_part(adsl).merge(rec.drop(columns=["_start", "_row"]), on="SUBJID", how="inner")
    return adae[columns].reset_index(drop=True)
