"""Open an SDTM dataset (SAS transport ``.xpt`` or CSV) and map its subject ids to trial ids.

Subject id rule: the trial's pseudonymous patient id is SDTM ``SUBJID``. ``DM`` holds both
``USUBJID`` and ``SUBJID``, so :func:`subject_map_from_dm` gives the exact mapping for the other
domains (which hold ``USUBJID`` only). Without DM, ``USUBJID`` is taken to follow the usual
``STUDYID-SITEID-SUBJID`` construction and its last hyphen-separated part is the patient id.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from immunolab.clinical.days import StudyDay, clean_id, parse_date, study_day_from_day0
from immunolab.clinical.tabular import clean_cell, read_frame
from immunolab.errors import InconsistentInputError, InputError, MalformedInputError

__all__ = ["SDTM_DOMAINS", "read_dataset", "require", "study_day_from_dm", "subject_id", "subject_map_from_dm"]

#: domains this reader turns into facts
SDTM_DOMAINS = ("DM", "LB", "VS", "QS", "AE", "DS")


def _clean(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype(object).map(clean_cell)
    df.columns = [str(c).strip().upper() for c in df.columns]
    return df


def _read_xport(path: Path) -> pd.DataFrame:
    """Return every record of a SAS transport file (pyreadstat; pandas' reader drops a last record that ends in blanks)."""
    import pyreadstat

    try:
        df, _meta = pyreadstat.read_xport(str(path), encoding="utf-8")
    except (UnicodeDecodeError, pyreadstat.ReadstatError):
        df, _meta = pyreadstat.read_xport(str(path), encoding="latin1")
    return df


def read_dataset(path: str | Path, *, label: str | None = None, domain: str | None = None) -> tuple[str, pd.DataFrame]:
    """Return (domain, cells) of an SDTM ``.xpt`` or ``.csv`` dataset.

    The domain is the ``DOMAIN`` variable (else the file stem's first two letters, ``lbur.xpt``
    -> LB); a ``domain`` argument that disagrees is ``IML-CLIN-008``. Unreadable or empty files
    are ``IML-CLIN-001``.
    """
    p = Path(path)
    shown = label or p.name
    if p.suffix.lower() == ".xpt":
        try:
            df = _read_xport(p)
        except Exception as exc:  # any SAS transport parse failure is the same user error
            raise MalformedInputError(
                "IML-CLIN-001", f"the SAS transport file cannot be read ({type(exc).__name__}: {str(exc)[:100]})",
                path=shown, hint="Export the dataset as SAS XPORT (v5 or v8) or as CSV.") from None
        df = _clean(df)
        if df.empty:
            raise MalformedInputError("IML-CLIN-001", "the SDTM dataset holds no record", path=shown,
                                      hint="Export the dataset with its records.")
    else:
        df = _clean(read_frame(p, label=shown))
    found = None
    if "DOMAIN" in df.columns and df["DOMAIN"].notna().any():
        found = str(df["DOMAIN"].dropna().iloc[0]).strip().upper()
    found = found or p.stem[:2].upper()
    if domain is not None and found != domain.upper():
        raise InconsistentInputError(
            "IML-CLIN-008", f"the dataset is domain {found}, not {domain.upper()}", path=shown,
            hint=f"Read it as {found}, or pick the {domain.upper()} dataset.")
    if found not in SDTM_DOMAINS:
        raise InconsistentInputError(
            "IML-CLIN-008", f"SDTM domain {found} is not read by immunolab", path=shown,
            hint=f"Readable domains: {', '.join(SDTM_DOMAINS)}.")
    return found, df


def require(df: pd.DataFrame, names: tuple[str, ...], *, label: str | None, domain: str) -> None:
    """Raise ``IML-CLIN-002`` naming the first SDTM variable of ``names`` the dataset lacks."""
    for name in names:
        if name not in df.columns:
            raise InputError("IML-CLIN-002", f"the {domain} dataset lacks variable {name}", path=label,
                             hint=f"{domain} needs {', '.join(names)} (SDTM IG).")


def subject_map_from_dm(dm: pd.DataFrame) -> dict[str, str]:
    """Return USUBJID -> SUBJID of a DM dataset (cells as read by :func:`read_dataset`)."""
    return {str(u).strip(): str(clean_id(s)) for u, s in zip(dm["USUBJID"], dm["SUBJID"], strict=True)
            if u is not None and s is not None}


def subject_id(record: Mapping[Any, Any], usubjid_map: Mapping[str, str] | None) -> Any:
    """Return the patient id of one record: SUBJID, else USUBJID mapped through DM, else its last part."""
    subjid = record.get("SUBJID")
    if subjid is not None:
        return subjid
    usubjid = record.get("USUBJID")
    if usubjid is None:
        return None
    key = str(usubjid).strip()
    if usubjid_map is not None and key in usubjid_map:
        return usubjid_map[key]
    return key.rsplit("-", 1)[-1]


def study_day_from_dm(dm: pd.DataFrame, *, label: str | None = None) -> StudyDay:
    """Return a study-day rule with Day 0 = each subject's ``RFSTDTC`` (SDTM reference start)."""
    if "RFSTDTC" not in dm.columns:
        raise InputError("IML-CLIN-002", "the DM dataset lacks variable RFSTDTC", path=label,
                         hint="Give RFSTDTC, or pass the subjects file's day0_date rule instead.")
    day0 = {}
    for rec in dm.to_dict("records"):
        date = parse_date(rec["RFSTDTC"], label=label, what="RFSTDTC") if rec["RFSTDTC"] else None
        if date is not None:
            day0[str(subject_id(rec, None))] = date
    return study_day_from_day0(day0)
