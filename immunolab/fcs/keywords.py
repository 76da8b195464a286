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

Shapes (FCS 3.1/3.2): an allowlisted keyword whose value the standard defines as numbers
(``$PnB/E/G/L/O/P/R/V``, ``$PnD`` ``Linear,a,b``, ``$ABRT``, ``$LOST``, ``$VOL``, ``$TIMESTEP``,
``$TR`` ``channel,threshold``, the spillover matrix, ...) or as one of a few words
(``$ORIGINALITY``, ``$DATATYPE``, ``$MODE``) is stored only when it has that shape; otherwise it is
dropped with warning IML-FCS-043 naming the keyword, never the value (:data:`KEYWORD_SHAPES`). The
allowlisted free-text keywords (``$CYT``, ``$CYTSN``, ``$PnN``, ``$PnS``, ``$PnF``, ``$PnT``,
``$PnDET``, ``$PnTAG``, ``$PnTYPE``, ``$PnANALYTE``, ``$PnFEATURE``, ``$PnCALIBRATION``) are stored with
every date-shaped part replaced by ``[date]`` and cut to :data:`MAX_FREE_TEXT` characters
(:func:`clean_free_text`; ``$PnN`` is never cut: it names a channel), also with IML-FCS-043.
Badly run labs sometimes type free text into ``$PnS``; downstream displays should treat it as
lab-entered text. A dropped keyword's *name* is stored with its date-shaped parts written as their
shape (``DOB 1961-04-12`` -> ``DOB NNNN-NN-NN``, :func:`dropped_name`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from immunolab.redact import STUDY_DAY_WARNING, STUDY_DAY_WINDOW, in_study_window, redact_dates

__all__ = [
    "ALLOWED_KEYWORDS",
    "ALLOWED_PARAMETER_SUFFIXES",
    "DATE_KEYWORDS",
    "KEYWORD_SHAPES",
    "MAX_FREE_TEXT",
    "MAX_KEYWORDS",
    "MAX_TEXT_BYTES",
    "DeidResult",
    "acquisition_date",
    "check_keyword_budget",
    "check_shape",
    "clean_free_text",
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
        "$NEXTDATA", "$BYTEORD", "$DATATYPE", "$MODE", "$PAR", "$TOT",
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

#: longest stored value of a free-text keyword (characters)
MAX_FREE_TEXT = 64
SHAPE_WARNING = "IML-FCS-043"
_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_INT_SHAPE = (re.compile(r"\d+"), "a whole number")
_NUM_SHAPE = (re.compile(_NUM), "a number")
#: the standard shape of each allowlisted keyword whose value is not free text (``$Pn`` keywords by suffix)
KEYWORD_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    **{k: _INT_SHAPE for k in ("$BEGINANALYSIS", "$ENDANALYSIS", "$BEGINDATA", "$ENDDATA", "$BEGINSTEXT",
                               "$ENDSTEXT", "$NEXTDATA", "$PAR", "$TOT", "$ABRT", "$LOST", "$CSMODE", "$CSVBITS",
                               "$GATE")},
    "$TIMESTEP": _NUM_SHAPE, "$VOL": _NUM_SHAPE,
    "$BYTEORD": (re.compile(r"\d(?:\s*,\s*\d)*"), "byte numbers such as 1,2,3,4"),
    "$DATATYPE": (re.compile(r"[IFDAifda]"), "I, F, D or A"),
    "$MODE": (re.compile(r"[LCUlcu]"), "L, C or U"),
    "$ORIGINALITY": (re.compile(r"(?i:original|nondatamodified|appended|datamodified)"),
                     "Original, NonDataModified, Appended or DataModified"),
    "$FLOWRATE": (re.compile(rf"{_NUM}\s*(?:[A-Za-z\u00b5/]{{1,12}})?|(?i:low|medium|med|high|fast|slow|normal)"),
                  "a number with an optional unit, or low/medium/high"),
    "$COMP": (re.compile(rf"\d+(?:\s*,\s*{_NUM})+"), "n followed by the numbers of the matrix"),
    "$PnB": (re.compile(r"\d+|\*"), "a whole number or *"),
    "$PnE": (re.compile(rf"{_NUM}\s*,\s*{_NUM}"), "two numbers f1,f2"),
    "$PnR": _NUM_SHAPE, "$PnG": _NUM_SHAPE, "$PnV": _NUM_SHAPE, "$PnO": _NUM_SHAPE, "$PnP": _NUM_SHAPE,
    "$PnL": (re.compile(rf"{_NUM}(?:\s*,\s*{_NUM})*"), "wavelengths (numbers)"),
    "$PnD": (re.compile(rf"(?i:linear|logarithmic)\s*,\s*{_NUM}\s*,\s*{_NUM}"), "Linear,a,b or Logarithmic,a,b"),
    "$PnDATATYPE": (re.compile(r"[IFDifd]"), "I, F or D"),
}
_SPILL_KEYS = frozenset({"$SPILLOVER", "$SPILL", "SPILL"})
_NUM_RE = re.compile(_NUM)

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
    """Return the loggable name of a dropped keyword: printable, at most 64 characters, ``Pn`` families folded.

    A date inside the name is written as its shape (``DOB 1961-04-12`` -> ``DOB NNNN-NN-NN``).
    """
    clean = redact_dates("".join(ch if 32 <= ord(ch) < 127 else "?" for ch in key), None)[:64]
    return _FAMILY.sub(lambda m: f"{m.group(1)}n{m.group(3)}", clean)


def clean_free_text(value: str, *, cap: bool = True) -> str:
    """Return a free-text keyword value as stored: date-shaped parts replaced by ``[date]``, at most 64 characters."""
    text = redact_dates(value) if any(ch.isdigit() for ch in value) else value
    return text[:MAX_FREE_TEXT] if cap else text


def _family(key: str) -> str:
    match = _PARAM.match(key)
    return f"$Pn{match.group(2)}" if match else key


def _spillover_shaped(value: str) -> bool:
    """Return whether a spillover value is ``n, n channel names, n*n numbers`` with short, date-free names.

    Names without numbers (MACSQuant writes them) keep their shape too: gating asks for a matrix (IML-FCS-012).
    """
    parts = [p.strip() for p in value.split(",")]
    if not parts or not parts[0].isdigit():
        return False
    n = int(parts[0])
    if n < 1 or len(parts) not in (1 + n, 1 + n + n * n):
        return False
    names = parts[1:1 + n]
    return (all(0 < len(p) <= MAX_FREE_TEXT and redact_dates(p) == p for p in names)
            and all(_NUM_RE.fullmatch(p) for p in parts[1 + n:]))


def check_shape(key: str, value: str, channels: frozenset[str] = frozenset()) -> tuple[str | None, str | None]:
    """Return (value to store or None, problem) for allowlisted keyword ``key``; the problem never quotes the value.

    ``channels`` are the file's ``$PnN`` names (a ``$TR`` names one of them).
    """
    family = _family(key)
    text = value.strip()
    if key in _SPILL_KEYS:
        return (value, None) if _spillover_shaped(text) else (None, "is not a spillover matrix (n, names, numbers): not stored")
    if key == "$TR":
        channel, _, threshold = text.rpartition(",")
        ok = channel.strip() in channels and _NUM_RE.fullmatch(threshold.strip()) is not None
        return (value, None) if ok else (None, "is not channel,threshold naming a channel of the file: not stored")
    shape = KEYWORD_SHAPES.get(family)
    if shape is not None:
        return (value, None) if shape[0].fullmatch(text) else (None, f"is not {shape[1]}: not stored")
    cleaned = clean_free_text(value, cap=family != "$PnN")
    if cleaned == value:
        return value, None
    if redact_dates(value) != value:
        return cleaned, "held date-shaped text: stored with [date] in its place"
    return cleaned, f"is longer than {MAX_FREE_TEXT} characters: stored cut to {MAX_FREE_TEXT}"


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
    channels = frozenset(v.strip() for k, v in keywords.items() if k.endswith("N") and _PARAM.match(k))
    shape_problems: dict[tuple[str, str], int] = {}
    for key in sorted(keywords):
        if is_allowed(key):
            value, problem = check_shape(key, keywords[key], channels)
            if problem is not None:
                shape_problems[(_family(key), problem)] = shape_problems.get((_family(key), problem), 0) + 1
            if value is not None:
                kept[key] = value
            continue
        name = dropped_name(key)
        if name not in seen:
            seen.add(name)
            dropped.append(name)
            deid_log(name)
    found, source, warnings = acquisition_date(keywords)
    for (family, problem), n in shape_problems.items():
        what = f"{family} ({n} keywords)" if n > 1 else family
        warnings.append(f"{SHAPE_WARNING} {what} {problem} (the value is not shown: it may be identifying)")
    day = None
    if found is not None:
        day = study_day(found)
        if day is None:
            warnings.append(f"acquisition date from {source} could not be turned into a study day (no anchor)")
        elif not in_study_window(day):
            low, high = STUDY_DAY_WINDOW
            warnings.append(f"{STUDY_DAY_WARNING} the acquisition date in {source} lies outside study days {low} to {high}: "
                            "acquisition_study_day is left empty (such a day would give the date away; check the "
                            "cytometer's clock and the patient's day0_date)")
            day = None
    return DeidResult(kept, dropped, day, source if found is not None else None, warnings)
