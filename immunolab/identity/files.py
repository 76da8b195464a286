"""Read the lab's subjects and manifest CSV files, checking every line and collecting every problem.

``subjects.csv``: ``patient_id, arm, age, sex`` and optionally ``site``, ``severity``,
``day0_date`` (ISO date of the first infusion; used only to turn dates into study days, never
stored) and any further columns, kept as covariates (``bmi``, ``diabetes`` ...). No names: a
further column that looks identifying is not kept (:func:`identifying_columns`, warning IML-ID-016).

``manifest.csv``: ``file, sample_id, patient_id, visit_day`` and optionally ``specimen``,
``panel``, ``sample_name`` (the name written on a plate; a lookup key only, never stored),
``plate`` (on a plate sample's row: the plate's own ``sample_id`` or file name, so generic names
such as ``Unknown1`` on every plate name one sample per plate; :func:`plate_lines`),
``assay`` (the plugin that reads the file, for formats several plugins share) and further
columns some assays use (``run``, ``well_role``, ``volume_ul`` ...). Headers are matched without
case, spaces or punctuation (``Sample ID`` = ``sample_id``).

A bad line does not stop the reading: every line's problems are collected (:class:`Problem`), so
one run reports them all, and only files whose own lines are bad are refused.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

from immunolab.errors import IdentityError
from immunolab.identity.model import DEFAULT_PROTOCOL, ManifestEntry, Problem, Protocol, Subject
from immunolab.redact import contains_date, shown_day, shown_id, value_shape

__all__ = ["identifying_columns", "load_manifest", "load_subjects", "looks_like_date", "normalise_header", "plate_lines",
           "read_table"]

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SEXES = {"F": "F", "FEMALE": "F", "M": "M", "MALE": "M", "U": "U", "UNKNOWN": "U", "X": "X"}
SUBJECT_COLUMNS = ("patient_id", "arm", "site", "age", "sex", "day0_date", "severity")
MANIFEST_COLUMNS = ("file", "sample_id", "patient_id", "visit_day", "specimen", "panel", "sample_name", "assay", "plate")
#: manifest columns kept with a sample's identity record (``identity_samples.attributes_json``): the
#: inputs of single-platform absolute counts. Any other extra column stays out of the store.
NUMERIC_SAMPLE_ATTRIBUTES = ("beads_per_test", "sample_volume_ul")
SAMPLE_ATTRIBUTES = (*NUMERIC_SAMPLE_ATTRIBUTES, "bead_lot")
_ALIASES = {"patient": "patient_id", "subject_id": "patient_id", "subjid": "patient_id", "sample": "sample_id",
            "visit": "visit_day", "day": "visit_day", "filename": "file", "file_name": "file",
            "treatment_arm": "arm", "group": "arm", "gender": "sex"}


def normalise_header(name: str) -> str:
    """Return a header as a column id: ``Sample ID`` -> ``sample_id``, ``Visit-Day`` -> ``visit_day``."""
    text = re.sub(r"[^0-9a-z]+", "_", (name or "").strip().lower()).strip("_")
    return _ALIASES.get(text, text)


def read_table(path: Path, required: Iterable[str], what: str) -> list[tuple[int, dict[str, str]]]:
    """Read a CSV into (line number, row) pairs with stripped cells; refuse missing required columns."""
    try:
        exists = path.is_file()
    except OSError:
        exists = False
    if not exists:
        raise IdentityError("IML-ID-002", f"the {what} file does not exist or cannot be reached", path=path,
                            hint=f"Pass the lab's {what} CSV (see `immunolab ingest --help`).")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise IdentityError("IML-ID-002", f"the {what} file is not UTF-8 text", path=path,
                            hint="Save it as CSV UTF-8 from your spreadsheet program.") from None
    except OSError as exc:
        raise IdentityError("IML-ID-002", f"the {what} file cannot be read ({exc.strerror})", path=path,
                            hint="Check the path and permissions.") from None
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ("\t" if sample.count("\t") > sample.count(",") else ",")
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    try:
        header = [normalise_header(h) for h in next(reader)]
    except StopIteration:
        header = []
    missing = [c for c in required if c not in header]
    if missing:
        raise IdentityError("IML-ID-002",
                            f"the {what} file lacks column(s) {', '.join(missing)} (it has: {', '.join(h for h in header if h) or 'none'})",
                            path=path, hint=f"The {what} needs the columns {', '.join(required)}.")
    rows: list[tuple[int, dict[str, str]]] = []
    for i, cells in enumerate(reader, start=2):
        row = {h: (cells[j] if j < len(cells) else "").strip() for j, h in enumerate(header) if h}
        if any(row.values()):
            rows.append((i, row))
    return rows


def _id_problem(value: str, what: str, file: str, line: int) -> Problem | None:
    if _ID_RE.match(value) and not contains_date(value):
        return None
    if _ID_RE.match(value):  # stored and exported (USUBJID): a birth date must not become an id
        return Problem("IML-ID-007", file, line, f"{what} holds a calendar date (written as {value_shape(value)})",
                       "Use pseudonymous study codes such as 001 or P-017, never dates.")
    return Problem("IML-ID-007", file, line,
                   f"{what} must be a short code of letters, digits, '.', '_' or '-' (got {len(value)} characters)",
                   "Use pseudonymous study codes such as 001 or P-017, never names.")


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d-%b-%Y", "%d %b %Y", "%Y%m%d")


def parse_date(value: str, file: str, line: int, column: str) -> tuple[date | None, Problem | None]:
    """Return an unambiguous date, or a problem: ``05/02/2020`` could be May or February and is refused.

    A problem names the column and the shape of the cell (``NN/NN/NNNN``), never the date itself.
    """
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date(), None
        except ValueError:
            continue
    ambiguous = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})", value)
    if ambiguous:
        return None, Problem("IML-ID-007", file, line,
                             f"{column} is ambiguous (written as {value_shape(value)}: day/month or month/day)",
                             "Write dates as YYYY-MM-DD (e.g. 2020-02-05); immunolab never guesses the order.")
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", value.strip()):
        return None, Problem("IML-ID-007", file, line, f"{column} is not a calendar date (no such day in that month)",
                             "Check the day and month of the date (YYYY-MM-DD).")
    return None, Problem("IML-ID-007", file, line, f"{column} is not a date (written as {value_shape(value)})",
                         "Write dates as YYYY-MM-DD.")


#: header words of a subjects column that identifies a person rather than grouping patients (matched on the
#: words of the normalised header, ``Patient Name`` -> ``patient``, ``name``)
_IDENTIFYING_WORDS = frozenset({
    "name", "names", "surname", "firstname", "lastname", "forename", "initials", "birth", "birthdate", "birthday",
    "dob", "date", "dates", "mrn", "nhs", "ssn", "address", "street", "postcode", "zip", "zipcode", "phone",
    "telephone", "tel", "mobile", "email", "mail", "comment", "comments", "note", "notes", "remark", "remarks",
    "freetext", "text"})
_IDENTIFYING_PHRASES = ("hospital_n", "medical_record", "record_n", "free_text", "birth", "patient_n", "case_n")
#: a column whose non-numeric text differs for every one of at least this many patients identifies them
MIN_PATIENTS_FOR_DISTINCT_RULE = 5


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def looks_like_date(value: str) -> bool:
    """Return whether a cell holds a calendar date in any written style (the rule of :func:`immunolab.redact.contains_date`)."""
    return contains_date(value)


def identifying_columns(rows: list[tuple[int, dict[str, str]]]) -> dict[str, str]:
    """Return the further subjects columns that are not stored, each with why (never with a value).

    A column other than the known ones is a covariate unless (a) its header names something
    identifying (name, initials, birth/dob, date, MRN or hospital/record number, address, phone,
    e-mail, comment/note/remark, free text), (b) any of its cells is shaped like a calendar date, or
    (c) its cells are non-numeric text that differs for every patient (at least
    :data:`MIN_PATIENTS_FOR_DISTINCT_RULE`): such a column identifies patients instead of grouping them.
    """
    columns = {k for _line, row in rows for k in row if k not in SUBJECT_COLUMNS}
    out: dict[str, str] = {}
    for column in sorted(columns):
        values = [row[column] for _line, row in rows if row.get(column)]
        words = set(column.split("_")) | {column.replace("_", "")}
        if words & _IDENTIFYING_WORDS or any(p in column for p in _IDENTIFYING_PHRASES):
            out[column] = "its name says it holds identifying text (a name, a date, a record number, contact details or notes)"
        elif any(looks_like_date(v) for v in values):
            out[column] = "a cell is shaped like a calendar date"
        elif (len(values) >= MIN_PATIENTS_FOR_DISTINCT_RULE and len(set(values)) == len(values)
              and not all(_is_number(v) for v in values)):
            out[column] = f"its text differs for every patient ({len(values)} patients), so it identifies them"
    return out


def column_warnings(dropped: dict[str, str]) -> list[Problem]:
    """Return one IML-ID-016 warning per subjects column left out of the store (named by header, never by value)."""
    return [Problem("IML-ID-016", "subjects", 0, f"column {column[:40]} is not stored: {why}",
                    "Keep names, dates, record numbers and free text out of subjects.csv (covariates are codes such "
                    "as WHO5 or SITE-A, or numbers); delete the column to silence this warning")
            for column, why in dropped.items()]


def load_subjects(path: Path, protocol: Protocol = DEFAULT_PROTOCOL
                  ) -> tuple[dict[str, Subject], list[Problem], set[str], list[Problem]]:
    """Load ``subjects.csv``; return the valid subjects, the problems of the other lines and their patient ids,
    and the IML-ID-016 warnings naming the identifying columns left out (:func:`identifying_columns`).
    """
    rows = read_table(path, ("patient_id", "arm", "age", "sex"), "subjects")
    dropped = identifying_columns(rows)
    arms = {a.lower(): a for a in protocol.arms}
    out: dict[str, Subject] = {}
    problems: list[Problem] = []
    bad: set[str] = set()
    first_line: dict[str, int] = {}
    for line, row in rows:
        found: list[Problem] = []
        pid = row.get("patient_id", "")
        bad_id = _id_problem(pid, "patient_id", "subjects", line)
        if bad_id:
            found.append(bad_id)
        elif pid in first_line:
            found.append(Problem("IML-ID-003", "subjects", line, f"patient_id {shown_id(pid)} appears twice (also line {first_line[pid]})",
                                 "Keep one row per patient."))
        arm = arms.get(row.get("arm", "").lower())
        if arm is None:
            found.append(Problem("IML-ID-007", "subjects", line,
                                 (f"arm (written as {value_shape(row['arm'])}) is not one of {', '.join(protocol.arms)}" if row.get('arm')
                                  else f"arm is empty; it must be one of {', '.join(protocol.arms)}"),
                                 "Use the arm names of the protocol."))
        age = -1
        try:
            age = int(row.get("age", ""))
            if not protocol.min_age <= age <= protocol.max_age:
                side = "above" if age > protocol.max_age else "below"
                found.append(Problem("IML-ID-006", "subjects", line,
                                     f"patient {shown_id(pid)}: age is {side} the {protocol.min_age}-{protocol.max_age} inclusion range",
                                     "Check the age; patients outside the inclusion range cannot be in this trial."))
        except ValueError:
            written = row.get("age", "")
            found.append(Problem("IML-ID-007", "subjects", line,
                                 f"age is not a whole number (written as {value_shape(written)})" if written else "age is empty",
                                 "Give the age in whole years at enrolment."))
        sex = _SEXES.get(row.get("sex", "").upper())
        if sex is None:
            found.append(Problem("IML-ID-007", "subjects", line, "sex must be F, M, U or X", "Use F, M, U (unknown) or X."))
        day0 = None
        if row.get("day0_date"):
            day0, p = parse_date(row["day0_date"], "subjects", line, "day0_date")
            if p:
                found.append(p)
        if found:
            problems.extend(found)
            first_line.setdefault(pid, line)
            bad.add(pid)
            continue
        first_line[pid] = line
        extra = tuple(sorted((k, v) for k, v in row.items() if k not in SUBJECT_COLUMNS and k not in dropped and v))
        assert arm is not None and sex is not None
        out[pid] = Subject(pid, arm, row.get("site", "") or "", age, sex, day0, row.get("severity") or None, extra)
    if not rows:
        raise IdentityError("IML-ID-002", "the subjects file has no rows", path=path, hint="Add one row per patient.")
    return out, problems, bad - set(out), column_warnings(dropped)


def padded_patient(pid: str, subjects: dict[str, Subject]) -> str | None:
    """Return the subject id ``pid`` is with leading zeros lost (``1`` for ``001``), or None."""
    if pid.isdigit():
        padded = [s for s in subjects if s.isdigit() and s.lstrip("0") == pid.lstrip("0") and s != pid]
        if padded:
            return padded[0]
    return None


def leading_zero_hint(padded: str) -> str:
    """Return the hint for an id written without the leading zeros of subject ``padded``."""
    return (f"Did you mean {padded}? Patient ids keep their leading zeros; a spreadsheet may have "
            "dropped them (format the column as text).")


def _leading_zero_hint(pid: str, subjects: dict[str, Subject]) -> str:
    padded = padded_patient(pid, subjects)
    return leading_zero_hint(padded) if padded else "Add the patient to subjects.csv or correct the patient_id."


_VISIT_RE = re.compile(r"[Dd]?([+-]?\d+)(?:\.0+)?")  # 3.0: a spreadsheet's write-back of 3
_DATE_LIKE = re.compile(r"\d{1,4}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{1,4}|\d{1,2}\s*/\s*\d{1,2}"
                        r"|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)", re.IGNORECASE)
_NUMBER_LIKE = re.compile(r"[+-]?\d*[.,]?\d*(?:[eE][+-]?\d+)?")


def _visit(day_text: str, line: int, protocol: Protocol) -> tuple[int | None, Problem | None]:
    """Return the protocol day written in a manifest cell: whole-number text only (``14``, ``014``, ``D14``, ``14.0``).

    ``3.9``, ``3e0`` or ``2.6`` are refused as written, never truncated to a day nobody wrote.
    """
    m = _VISIT_RE.fullmatch(day_text.strip())
    if m is None:
        if _DATE_LIKE.search(day_text):  # a calendar date: never repeated (dates identify patients)
            return None, Problem("IML-ID-007", "manifest", line,
                                 f"visit_day looks like a calendar date (written as {value_shape(day_text)})",
                                 "Give the protocol day (days since Day 0 as a whole number: 0, 3, 6, ...), not the "
                                 "date of the visit.")
        # a number is shown as written; other text only by its shape (it may be a name or a date)
        shown = repr(day_text.strip()[:12]) if _NUMBER_LIKE.fullmatch(day_text.strip()) \
            and sum(c.isdigit() for c in day_text) <= 3 else \
            f"written as {value_shape(day_text)}"
        return None, Problem("IML-ID-007", "manifest", line, f"visit_day {shown} is not a whole number of days",
                             "Give the protocol day as a whole number (0, 3, 6, ...), without decimals or exponent.")
    visit = int(m.group(1))
    if visit not in protocol.visit_days:
        return visit, Problem("IML-ID-005", "manifest", line,
                              f"visit day {shown_day(visit)} is not a protocol visit ({', '.join(map(str, protocol.visit_days))})",
                              "Use the nominal protocol day of the visit, not the calendar offset.")
    return visit, None


def manifest_row(line: int, row: dict[str, str], subjects: dict[str, Subject], protocol: Protocol,
                 bad_patients: set[str] | frozenset[str] = frozenset()) -> ManifestEntry:
    """Return the entry of one manifest row with the problems of that row alone."""
    found: list[Problem] = []
    file = row.get("file") or None
    sample_id = row.get("sample_id") or None
    pid = row.get("patient_id") or None
    if file is None and sample_id is None:
        found.append(Problem("IML-ID-007", "manifest", line, "neither file nor sample_id is given",
                             "Each row names a file, a sample, or both."))
    if file is not None and ("/" in file or "\\" in file):
        file = re.split(r"[\\/]", file)[-1]
    if sample_id is not None:
        p = _id_problem(sample_id, "sample_id", "manifest", line)
        if p:
            found.append(p)
    visit: int | None = None
    if row.get("visit_day"):
        visit, p = _visit(row["visit_day"], line, protocol)
        if p:
            found.append(p)
    if pid is not None:
        p = _id_problem(pid, "patient_id", "manifest", line)
        if p:
            found.append(p)
        elif pid in bad_patients:
            found.append(Problem("IML-ID-004", "manifest", line, f"the subjects file's line of patient {shown_id(pid)} has a problem",
                                 "Fix that subjects line (listed with this run's problems)."))
        elif pid not in subjects:
            found.append(Problem("IML-ID-004", "manifest", line, f"patient {shown_id(pid)} is not in the subjects file",
                                 _leading_zero_hint(pid, subjects)))
        if visit is None and not row.get("visit_day"):
            found.append(Problem("IML-ID-007", "manifest", line, f"patient {shown_id(pid)} has no visit_day",
                                 "Give the protocol day of the visit."))
    elif row.get("visit_day"):
        found.append(Problem("IML-ID-007", "manifest", line, "visit_day given without patient_id",
                             "Give the patient_id too, or leave both empty for a plate row."))
    if sample_id is None and pid is not None and visit is not None:
        sample_id = f"{pid}-D{visit:03d}-row{line}"
    for column in NUMERIC_SAMPLE_ATTRIBUTES:
        text = (row.get(column) or "").strip()
        if text:
            try:
                ok = float(text) > 0
            except ValueError:
                ok = False
            if not ok:
                found.append(Problem("IML-ID-007", "manifest", line, f"{column} (written as {value_shape(text)}) is not a positive number",
                                     f"Give {column} as a number (e.g. 50), or leave it empty."))
    for column in ("specimen", "panel"):  # kept in identity_samples: free text, but never a date
        if contains_date(row.get(column) or ""):
            found.append(Problem("IML-ID-007", "manifest", line,
                                 f"{column} holds a date (written as {value_shape(row[column])})",
                                 f"Give the {column} as its name (e.g. PBMC, serum, TBNK); dates identify patients."))
    extra = tuple(sorted((k, v) for k, v in row.items() if k not in MANIFEST_COLUMNS and v))
    plate = (row.get("plate") or "").strip() or None
    if plate is not None and file is not None:
        found.append(Problem("IML-ID-019", "manifest", line, "plate is given on a file's own row",
                             "plate belongs on the rows of samples written on a plate (rows without a file): "
                             "leave it empty here."))
    return ManifestEntry(line, file, sample_id, pid, visit, row.get("specimen") or None, row.get("panel") or None,
                         (row.get("sample_name") or "").strip() or None, row.get("assay") or None, extra, tuple(found),
                         plate)


def plate_lines(entries: Iterable[ManifestEntry]) -> dict[str, int]:
    """Return what a ``plate`` cell may name -> the line of that plate's file row (its sample_id and its file name)."""
    out: dict[str, int] = {}
    for e in entries:
        if e.file:
            for name in (e.file, e.sample_id):
                if name:
                    out.setdefault(name, e.line)
    return out


def _shown_plate(value: str) -> str:
    """Return a plate cell as a message may show it: an id as written, anything else (a file name) by its shape."""
    shown = shown_id(value)
    return shown if shown.startswith("'") else f"(written as {value_shape(value)})"


def load_manifest(path: Path, subjects: dict[str, Subject], protocol: Protocol = DEFAULT_PROTOCOL,
                  *, bad_patients: set[str] | frozenset[str] = frozenset()) -> list[ManifestEntry]:
    """Load the manifest; each entry carries its own problems (duplicates included), none is dropped."""
    rows = read_table(path, ("file", "sample_id", "patient_id", "visit_day"), "manifest")
    entries = [manifest_row(line, row, subjects, protocol, bad_patients) for line, row in rows]
    dup: dict[int, list[Problem]] = {}
    plates = plate_lines(entries)
    for e in entries:
        if e.plate is not None and e.file is None and e.plate not in plates:
            dup.setdefault(e.line, []).append(Problem(
                "IML-ID-019", "manifest", e.line, f"plate {_shown_plate(e.plate)} names no plate file of the manifest",
                "Write the plate's own manifest sample_id (e.g. PLATE-01) or its file name as on its row, "
                "or leave plate empty when the name is unique in the manifest."))
    for attr, what, hint in (("file", "name the same file", "Keep one row per file (correct a file with --supersede)."),
                             ("sample_id", "use the same sample_id", "Sample ids must be unique."),
                             ("sample_name", "use the same sample_name", "Each name written on a plate must map to one sample "
                              "(the same name on different plates: give each row its plate).")):
        seen: dict[object, int] = {}
        for e in entries:
            value: object = getattr(e, attr)
            if value is None:
                continue
            if attr == "sample_name" and e.plate is not None:  # one name per plate: the plate by its row, however written
                value = (plates.get(e.plate, e.plate), value)
            if value in seen:
                for ln in (seen[value], e.line):
                    dup.setdefault(ln, []).append(Problem("IML-ID-003", "manifest", ln,
                                                          f"lines {seen[value]} and {e.line} {what}", hint))
            else:
                seen[value] = e.line
    if dup:
        from dataclasses import replace

        entries = [replace(e, problems=(*e.problems, *dup.get(e.line, ()))) if e.line in dup else e for e in entries]
    return entries
