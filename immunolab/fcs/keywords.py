"""Decide which FCS keywords may reach the store, and turn the acquisition date into a study day.

Privacy rule (DESIGN section 5): only keywords on an explicit allowlist pass; everything else
(``$FIL``, ``$SRC``, ``$OP``, ``$INST``, ``$COM``, ``$PROJ``, ``$SMNO``, ``$CELLS``, ``$EXP``,
``$LAST_MODIFIER``, ``$PLATENAME``, ``$WELLID``, every custom keyword such as ``@SAMPLEID1``,
``TUBE NAME`` or ``EXPERIMENT NAME``) is dropped and logged by name only, never by value.
Dates (``$DATE``, ``$BTIM``/``$ETIM`` when they carry a date, ``$LAST_MODIFIED``, custom date
keywords) never pass either: the acquisition date becomes ``acquisition_study_day`` through the
study's ``study_day`` callback.

Cost: :func:`deidentify` is linear in the number of keywords (dropped names are de-duplicated
with a set). A TEXT segment holding more than :data:`MAX_KEYWORDS` keywords is refused before
any keyword is decoded (IML-FCS-040, see :func:`check_keyword_budget`), as is one larger than
:data:`MAX_TEXT_BYTES` (before it is split): real cytometers write a
few hundred to a few thousand, so a file with hundreds of thousands is damaged or crafted.

Caveat: ``$PnS`` (stain / marker label) passes because marker names live there, but badly run
labs sometimes type free text into it; downstream displays should treat it as lab-entered text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

__all__ = [
    "ALLOWED_KEYWORDS",
    "ALLOWED_PARAMETER_SUFFIXES",
    "DATE_KEYWORDS",
    "MAX_KEYWORDS",
    "MAX_TEXT_BYTES",
    "DeidResult",
    "acquisition_date",
    "check_keyword_budget",
    "deidentify",
    "dropped_name",
    "is_allowed",
    "parse_fcs_date",
]

#: most keywords one TEXT segment (plus supplemental TEXT) may hold; more is refused (IML-FCS-040).
#: Real files hold a few hundred (a 4-colour FACSCalibur) to a few thousand (a 180-channel spectral
#: cytometer writes ~15 per channel); 500,000 keywords is ~7 MB of TEXT and de-identifies in ~2 s.
MAX_KEYWORDS = 500_000
#: largest TEXT (or supplemental TEXT) segment read, in bytes; 500,000 keywords take ~7 MB
MAX_TEXT_BYTES = 64 * 2**20

#: exact keyword names that describe the file layout or the acquisition, never a person
ALLOWED_KEYWORDS: frozenset[str] = frozenset(
    {
        # layout
        "$BEGINANALYSIS", "$ENDANALYSIS", "$BEGINDATA", "$ENDDATA", "$BEGINSTEXT", "$ENDSTEXT",
        "$NEXTDATA", "$BYTEORD", "$DATATYPE", "$MODE", "$PAR", "$TOT", "$UNICODE",
        # acquisition
        "$CYT", "$CYTSN", "$TIMESTEP", "$VOL", "$ABRT", "$LOST", "$TR", "$FLOWRATE",
        "$ORIGINALITY", "$CSMODE", "$CSVBITS", "$GATE",
        # compensation
        "$SPILLOVER", "$SPILL", "SPILL", "$COMP",
    }
)

#: ``$Pn<suffix>`` parameter keywords that pass (name, stain, bits, range, amplification, ...)
ALLOWED_PARAMETER_SUFFIXES: frozenset[str] = frozenset(
    {
        "N", "S", "B", "R", "E", "G", "V", "L", "O", "P", "F", "T", "D",
        "DATATYPE", "TYPE", "DET", "TAG", "ANALYTE", "FEATURE", "CALIBRATION",
    }
)

#: keywords searched for the acquisition date, best first; the last ones are fallbacks
DATE_KEYWORDS: tuple[str, ...] = (
    "$DATE", "$BTIM", "$ETIM", "@Y2KDATE", "DATE", "ACQUISITION DATE", "$LAST_MODIFIED",
)
_FALLBACK_DATE_KEYWORDS = frozenset({"$LAST_MODIFIED"})

_PARAM = re.compile(r"^\$P(\d+)([A-Z]+)$")
_FAMILY = re.compile(r"^([$@&]?P)(\d+)([A-Z_].*)$")
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_MONTH = r"([A-Za-z]{3,9})"


def is_allowed(key: str) -> bool:
    """Return True when FCS keyword ``key`` (upper case) may be stored."""
    if key in ALLOWED_KEYWORDS:
        return True
    match = _PARAM.match(key)
    return match is not None and match.group(2) in ALLOWED_PARAMETER_SUFFIXES


def check_keyword_budget(n_keywords: int, *, label: str, segment: str = "TEXT", n_bytes: int = 0) -> None:
    """Raise IML-FCS-040 when a TEXT segment holds more than :data:`MAX_KEYWORDS` keywords or :data:`MAX_TEXT_BYTES`."""
    if n_keywords <= MAX_KEYWORDS and n_bytes <= MAX_TEXT_BYTES:
        return
    from immunolab.errors import MalformedInputError

    what = (f"{n_keywords:,} keywords, more than the {MAX_KEYWORDS:,}" if n_keywords > MAX_KEYWORDS
            else f"{n_bytes / 2**20:,.0f} MiB, more than the {MAX_TEXT_BYTES / 2**20:,.0f} MiB")
    raise MalformedInputError(
        "IML-FCS-040",
        f"the {segment} segment holds {what} immunolab reads (instruments write a few thousand keywords at most)",
        path=label,
        hint="The file is damaged or was not written by a cytometer. Re-export it from the acquisition "
        "software; if it really comes from an instrument, report the instrument model.",
    )


def dropped_name(key: str) -> str:
    """Return the loggable name of a dropped keyword: printable, at most 64 characters, ``Pn`` families folded."""
    clean = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in key)[:64]
    return _FAMILY.sub(lambda m: f"{m.group(1)}n{m.group(3)}", clean)


def _month(name: str) -> int | None:
    return _MONTHS.get(name[:3].lower()) if name[:3].lower() in _MONTHS else None


def _year(text: str) -> int:
    year = int(text)
    if len(text) <= 2:  # FCS 2.0 dd-mmm-yy
        year += 2000 if year < 70 else 1900
    return year


def _make(year: int, month: int | None, day: int) -> date | None:
    if month is None:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_fcs_date(text: str) -> date | None:
    """Return the calendar date in an FCS date or timestamp value, or None when there is none.

    Accepts ``25-NOV-2026`` (FCS 3.x), ``25-Nov-26`` (FCS 2.0), ``2026-Nov-25``, ISO
    ``2026-11-25[T10:00:00+02:00]``, ``2026/11/25``, ``20261125``, ``11/25/2026`` (US order; read
    day-first only when the first number exceeds 12), ``25.11.2026``, ``Nov 25, 2026``,
    ``25 November 2026`` and ctime ``Wed Nov 25 10:00:00 2026``. A bare time gives None.
    """
    s = text.strip()
    if not s:
        return None
    if m := re.search(r"\b(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?!\d)", s):
        return _make(int(m[1]), int(m[2]), int(m[3]))
    if m := re.search(rf"\b(\d{{4}})[- ]{_MONTH}[- ](\d{{1,2}})\b", s):
        return _make(int(m[1]), _month(m[2]), int(m[3]))
    if m := re.search(rf"\b(\d{{1,2}})[- /.]{_MONTH}[- /.,]+(\d{{4}}|\d{{2}})\b", s):
        return _make(_year(m[3]), _month(m[2]), int(m[1]))
    if m := re.search(rf"\b{_MONTH}\.? +(\d{{1,2}}) +\d{{1,2}}:\d{{2}}(?::\d{{2}})? +(\d{{4}})\b", s):
        return _make(int(m[3]), _month(m[1]), int(m[2]))
    if m := re.search(rf"\b{_MONTH}\.?[- ](\d{{1,2}}),?[- ](\d{{4}})\b", s):
        return _make(int(m[3]), _month(m[1]), int(m[2]))
    if m := re.search(r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b", s):
        first, second = int(m[1]), int(m[2])
        month, day = (second, first) if first > 12 else (first, second)
        return _make(_year(m[3]), month, day)
    if m := re.search(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b", s):
        return _make(int(m[3]), int(m[2]), int(m[1]))
    if m := re.fullmatch(r"(\d{4})(\d{2})(\d{2})", s):
        return _make(int(m[1]), int(m[2]), int(m[3]))
    return None


def acquisition_date(keywords: Mapping[str, str]) -> tuple[date | None, str | None, list[str]]:
    """Return (date, keyword it came from, warnings) for the acquisition date of a data set.

    Warnings name keywords only, never their values.
    """
    warnings: list[str] = []
    for key in DATE_KEYWORDS:
        value = keywords.get(key)
        if value is None or not value.strip():
            continue
        found = parse_fcs_date(value)
        if found is None:
            if key not in ("$BTIM", "$ETIM"):  # a bare time of day is normal there
                warnings.append(f"{key} is not a recognised date")
            continue
        if key in _FALLBACK_DATE_KEYWORDS:
            warnings.append(f"no acquisition date keyword; the study day comes from {key}")
        return found, key, warnings
    return None, None, warnings


@dataclass
class DeidResult:
    """Allowlisted keywords, names of dropped ones, and the acquisition study day."""

    kept: dict[str, str]
    dropped: list[str]
    study_day: int | None = None
    date_source: str | None = None
    warnings: list[str] = field(default_factory=list)


def deidentify(
    keywords: Mapping[str, str],
    *,
    study_day: Callable[[date], int | None] = lambda _d: None,
    deid_log: Callable[[str], None] = lambda _name: None,
) -> DeidResult:
    """Split ``keywords`` into the allowlisted ones and dropped names; convert the date to a study day.

    ``deid_log`` is called once per dropped name (folded ``Pn`` families count once), with the
    name only.
    """
    kept: dict[str, str] = {}
    dropped: list[str] = []
    seen: set[str] = set()  # a set, not the list: a file with many custom keywords stays linear
    for key in sorted(keywords):
        if is_allowed(key):
            kept[key] = keywords[key]
            continue
        name = dropped_name(key)
        if name not in seen:
            seen.add(name)
            dropped.append(name)
            deid_log(name)
    found, source, warnings = acquisition_date(keywords)
    day = None
    if found is not None:
        day = study_day(found)
        if day is None:
            warnings.append(f"acquisition date from {source} could not be turned into a study day (no anchor)")
    return DeidResult(kept, dropped, day, source if found is not None else None, warnings)
