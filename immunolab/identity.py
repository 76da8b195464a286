"""Resolve which patient and visit a file or sample belongs to, from the lab's own lists.

Two CSV files kept by the lab drive identity (never ``$FIL``, ``$SRC`` or free text inside a
data file, which hold patient names in real files):

``subjects.csv``
    ``patient_id, arm, site, age, sex`` and optionally ``day0_date`` (the calendar date of the
    first infusion, used only to turn acquisition dates into study days; it never leaves this
    module). No names.
``manifest.csv``
    ``file, sample_id, patient_id, visit_day, specimen, panel`` and optionally ``sample_name``.
    A row with ``file`` names an instrument file by its base name; a flow tube row also carries
    the patient and visit. A plate row carries only ``file`` (and ``panel``, optionally a plate
    code in ``sample_id``); the samples on the plate get one row each, matched by the name
    written on the plate: ``sample_name`` when given (any text, e.g. ``PT-001 D0``; it is a
    lookup key only and never stored), otherwise ``sample_id``. ``sample_id`` is what the store
    keeps, so it must be a short pseudonymous code.

A filename rule (a regular expression with named groups ``patient_id`` and ``visit_day``) is an
explicit opt-in for labs that encode identity in file names.

Visit days are protocol days (Day 0 = first infusion) and must be protocol visits.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from immunolab.errors import IdentityError

__all__ = [
    "DEFAULT_PROTOCOL",
    "ManifestEntry",
    "Protocol",
    "StudyIdentity",
    "Subject",
    "display_label",
    "load_identity",
]


@dataclass(frozen=True)
class Protocol:
    """Trial rules the identity files are checked against."""

    visit_days: tuple[int, ...] = (0, 3, 6, 10, 14, 28, 90, 180)
    min_age: int = 18
    max_age: int = 70
    arms: tuple[str, ...] = ("MSC", "control")
    infusion_days: tuple[int, ...] = (0, 3, 6)


DEFAULT_PROTOCOL = Protocol()

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SEXES = {"F": "F", "FEMALE": "F", "M": "M", "MALE": "M", "U": "U", "UNKNOWN": "U", "X": "X"}


@dataclass(frozen=True)
class Subject:
    """One trial participant (pseudonymous)."""

    patient_id: str
    arm: str
    site: str
    age: int
    sex: str
    day0_date: date | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ManifestEntry:
    """One manifest row: an instrument file and/or a sample with its patient and visit."""

    line: int
    file: str | None
    sample_id: str | None
    patient_id: str | None
    visit_day: int | None
    specimen: str | None
    panel: str | None
    sample_name: str | None = field(default=None, repr=False)

    @property
    def is_patient_sample(self) -> bool:
        """Return True when the row names a patient and a visit."""
        return self.patient_id is not None and self.visit_day is not None


def display_label(path: Path, sha256: str | None, entry: ManifestEntry | None) -> str:
    """Return a PHI-safe label for a file: its manifest sample id, or a short content hash.

    File names may hold patient names, so they never appear in logs, the audit trail or
    default CLI output.
    """
    if entry is not None and entry.sample_id:
        return entry.sample_id
    if sha256:
        return f"file:{sha256[:12]}"
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    return f"path:{digest}"


def _read_csv(path: Path, required: Iterable[str], what: str) -> list[tuple[int, dict[str, str]]]:
    """Read a CSV into (line number, row) pairs with stripped cells; check required columns."""
    if not path.is_file():
        raise IdentityError(
            "IML-ID-002",
            f"the {what} file does not exist",
            path=path,
            hint=f"Pass the lab's {what} CSV (see `immunolab ingest --help`).",
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise IdentityError(
            "IML-ID-002",
            f"the {what} file is not UTF-8 text",
            path=path,
            hint="Save it as CSV UTF-8 from your spreadsheet program.",
        ) from None
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise IdentityError(
            "IML-ID-002",
            f"the {what} file lacks column(s) {', '.join(missing)} (it has: {', '.join(header) or 'none'})",
            path=path,
            hint=f"The {what} needs the columns {', '.join(required)}.",
        )
    rows: list[tuple[int, dict[str, str]]] = []
    for i, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        rows.append((i, row))
    return rows


def _check_id(value: str, what: str, path: Path, line: int) -> str:
    if not _ID_RE.match(value):
        raise IdentityError(
            "IML-ID-007",
            f"line {line}: {what} must be a short code of letters, digits, '.', '_' or '-' (got {len(value)} characters)",
            path=path,
            hint="Use pseudonymous study codes such as 001 or P-017, never names.",
        )
    return value


def _parse_date(value: str, path: Path, line: int) -> date:
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y", "%d-%b-%Y"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise IdentityError(
        "IML-ID-007",
        f"line {line}: day0_date is not a date (use YYYY-MM-DD)",
        path=path,
        hint="Write dates as YYYY-MM-DD.",
    )


def load_subjects(path: Path, protocol: Protocol = DEFAULT_PROTOCOL) -> dict[str, Subject]:
    """Load and check ``subjects.csv``; return subjects by patient_id."""
    rows = _read_csv(path, ("patient_id", "arm", "age", "sex"), "subjects")
    arms = {a.lower(): a for a in protocol.arms}
    out: dict[str, Subject] = {}
    for line, row in rows:
        pid = _check_id(row.get("patient_id", ""), "patient_id", path, line)
        if pid in out:
            raise IdentityError(
                "IML-ID-003",
                f"line {line}: patient_id {pid} appears twice",
                path=path,
                hint="Keep one row per patient.",
            )
        arm = arms.get(row.get("arm", "").lower())
        if arm is None:
            raise IdentityError(
                "IML-ID-007",
                f"line {line}: arm {row.get('arm', '')!r} is not one of {', '.join(protocol.arms)}",
                path=path,
                hint="Use the arm names of the protocol.",
            )
        try:
            age = int(row.get("age", ""))
        except ValueError:
            raise IdentityError(
                "IML-ID-007", f"line {line}: age is not a whole number", path=path,
                hint="Give the age in whole years at enrolment.",
            ) from None
        if not protocol.min_age <= age <= protocol.max_age:
            raise IdentityError(
                "IML-ID-006",
                f"line {line}: patient {pid} is {age} years old, outside the {protocol.min_age}-{protocol.max_age} inclusion range",
                path=path,
                hint="Check the age; patients outside the inclusion range cannot be in this trial.",
            )
        sex = _SEXES.get(row.get("sex", "").upper())
        if sex is None:
            raise IdentityError(
                "IML-ID-007", f"line {line}: sex must be F, M, U or X", path=path,
                hint="Use F, M, U (unknown) or X.",
            )
        d0 = row.get("day0_date", "")
        out[pid] = Subject(pid, arm, row.get("site", "") or "", age, sex, _parse_date(d0, path, line) if d0 else None)
    if not out:
        raise IdentityError("IML-ID-002", "the subjects file has no rows", path=path, hint="Add one row per patient.")
    return out


def load_manifest(
    path: Path, subjects: dict[str, Subject], protocol: Protocol = DEFAULT_PROTOCOL
) -> list[ManifestEntry]:
    """Load and check the sample manifest against ``subjects`` and the protocol."""
    rows = _read_csv(path, ("file", "sample_id", "patient_id", "visit_day"), "manifest")
    entries: list[ManifestEntry] = []
    seen_files: dict[str, int] = {}
    seen_samples: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for line, row in rows:
        file = row.get("file") or None
        sample_id = row.get("sample_id") or None
        pid = row.get("patient_id") or None
        day_text = row.get("visit_day") or ""
        if file is None and sample_id is None:
            raise IdentityError(
                "IML-ID-007", f"line {line}: neither file nor sample_id is given", path=path,
                hint="Each row names a file, a sample, or both.",
            )
        if file is not None and ("/" in file or "\\" in file):
            file = re.split(r"[\\/]", file)[-1]
        if sample_id is not None:
            _check_id(sample_id, "sample_id", path, line)
        visit: int | None = None
        if day_text:
            try:
                visit = int(float(day_text.upper().lstrip("D")))
            except ValueError:
                raise IdentityError(
                    "IML-ID-007", f"line {line}: visit_day is not a number", path=path,
                    hint="Give the protocol day as a whole number (0, 3, 6, ...).",
                ) from None
            if visit not in protocol.visit_days:
                raise IdentityError(
                    "IML-ID-005",
                    f"line {line}: visit day {visit} is not a protocol visit ({', '.join(map(str, protocol.visit_days))})",
                    path=path,
                    hint="Use the nominal protocol day of the visit, not the calendar offset.",
                )
        if pid is not None:
            _check_id(pid, "patient_id", path, line)
            if pid not in subjects:
                raise IdentityError(
                    "IML-ID-004",
                    f"line {line}: patient {pid} is not in the subjects file",
                    path=path,
                    hint="Add the patient to subjects.csv or correct the patient_id.",
                )
            if visit is None:
                raise IdentityError(
                    "IML-ID-007", f"line {line}: patient {pid} has no visit_day", path=path,
                    hint="Give the protocol day of the visit.",
                )
        elif visit is not None:
            raise IdentityError(
                "IML-ID-007", f"line {line}: visit_day given without patient_id", path=path,
                hint="Give the patient_id too, or leave both empty for a plate row.",
            )
        if file is not None:
            if file in seen_files:
                raise IdentityError(
                    "IML-ID-003",
                    f"lines {seen_files[file]} and {line} name the same file",
                    path=path,
                    hint="Keep one row per file (use --supersede to correct an ingested file).",
                )
            seen_files[file] = line
        if sample_id is not None:
            if sample_id in seen_samples:
                raise IdentityError(
                    "IML-ID-003",
                    f"lines {seen_samples[sample_id]} and {line} use the same sample_id {sample_id}",
                    path=path,
                    hint="Sample ids must be unique.",
                )
            seen_samples[sample_id] = line
        name = (row.get("sample_name") or "").strip() or None
        if name is not None:
            if name in seen_names:
                raise IdentityError(
                    "IML-ID-003",
                    f"lines {seen_names[name]} and {line} use the same sample_name",
                    path=path,
                    hint="Each name written on a plate must map to one sample.",
                )
            seen_names[name] = line
        if sample_id is None and pid is not None and visit is not None:
            sample_id = f"{pid}-D{visit:03d}-row{line}"
        entries.append(
            ManifestEntry(line, file, sample_id, pid, visit, row.get("specimen") or None, row.get("panel") or None, name)
        )
    return entries


@dataclass
class StudyIdentity:
    """Subjects and manifest, indexed for lookups during ingest."""

    subjects: dict[str, Subject]
    entries: list[ManifestEntry]
    protocol: Protocol = DEFAULT_PROTOCOL
    filename_rule: re.Pattern[str] | None = None
    manifest_path: Path | None = None

    def __post_init__(self) -> None:
        self.by_file = {e.file: e for e in self.entries if e.file}
        self.by_sample = {e.sample_id: e for e in self.entries if e.sample_id}
        self.by_name = {e.sample_name: e for e in self.entries if e.sample_name}

    def entry_for_file(self, path: Path) -> ManifestEntry | None:
        """Return the manifest row of file ``path`` (by base name), the filename rule's, or None."""
        entry = self.by_file.get(path.name)
        if entry is not None:
            return entry
        if self.filename_rule is not None:
            m = self.filename_rule.search(path.name)
            if m is None:
                return None
            groups = m.groupdict()
            pid, day = groups.get("patient_id"), groups.get("visit_day")
            if pid is None or day is None or pid not in self.subjects:
                return None
            try:
                visit = int(day)
            except ValueError:
                return None
            if visit not in self.protocol.visit_days:
                return None
            sample_id = f"{pid}-D{visit:03d}-{groups.get('panel') or 'F'}"
            return ManifestEntry(0, path.name, sample_id, pid, visit, groups.get("specimen"), groups.get("panel"))
        return None

    def require_file(self, path: Path, label: str) -> ManifestEntry:
        """Return the manifest row of ``path`` or raise IML-ID-001 (nothing is written)."""
        entry = self.entry_for_file(path)
        if entry is None:
            where = f" ({self.manifest_path.name})" if self.manifest_path else ""
            raise IdentityError(
                "IML-ID-001",
                f"this file is not listed in the sample manifest{where}",
                path=label,
                hint="Add a row with its file name, patient_id and visit_day to the manifest and re-run "
                "(use --show-paths to see file names on this terminal; they are never logged).",
            )
        return entry

    def resolve_sample_refs(self, refs: Iterable[str], label: str, wells: dict[str, list[str]] | None = None) -> dict[str, ManifestEntry]:
        """Map sample names written on a plate to manifest rows; unknown names raise IML-ID-008.

        The error lists the wells of unknown samples, never the names (they may be patient names).
        """
        out: dict[str, ManifestEntry] = {}
        unknown: list[str] = []
        for ref in refs:
            key = ref.strip()
            entry = self.by_name.get(ref) or self.by_name.get(key) or self.by_sample.get(ref) or self.by_sample.get(key)
            if entry is None or not entry.is_patient_sample:
                unknown.append(ref)
            else:
                out[ref] = entry
        if unknown:
            where: list[str] = []
            for ref in unknown:
                where.extend((wells or {}).get(ref, []))
            shown = ", ".join(sorted(set(where))[:12]) if where else ""
            raise IdentityError(
                "IML-ID-008",
                f"{len(unknown)} sample name(s) on this plate are not in the manifest"
                + (f" (wells {shown}{', ...' if len(set(where)) > 12 else ''})" if shown else ""),
                path=label,
                hint="Add one manifest row per plate sample: sample_name (or sample_id) = the name on the plate, "
                "with sample_id, patient_id and visit_day.",
            )
        return out

    def subject(self, patient_id: str) -> Subject:
        """Return the subject ``patient_id`` (it exists: the manifest was checked)."""
        return self.subjects[patient_id]

    def study_day_for(self, entry: ManifestEntry | None) -> Callable[[date], int | None]:
        """Return a function turning a calendar date into a study day (None when unknown).

        For a patient's sample, days count from that patient's Day 0; for a plate, from the
        earliest Day 0 of the trial (study start).
        """
        anchor: date | None = None
        if entry is not None and entry.patient_id is not None:
            anchor = self.subjects[entry.patient_id].day0_date
        else:
            dates = [s.day0_date for s in self.subjects.values() if s.day0_date is not None]
            anchor = min(dates) if dates else None

        def to_study_day(d: date) -> int | None:
            return None if anchor is None else (d - anchor).days

        return to_study_day


def load_identity(
    manifest: Path,
    subjects: Path | None = None,
    *,
    protocol: Protocol = DEFAULT_PROTOCOL,
    filename_rule: str | None = None,
) -> StudyIdentity:
    """Load subjects and manifest (subjects default: ``subjects.csv`` beside the manifest)."""
    manifest = Path(manifest)
    if subjects is None:
        candidate = manifest.parent / "subjects.csv"
        if not candidate.is_file():
            raise IdentityError(
                "IML-ID-009",
                "no subjects file was given and there is no subjects.csv beside the manifest",
                path=manifest,
                hint="Pass --subjects subjects.csv (patient_id, arm, site, age, sex).",
            )
        subjects = candidate
    subs = load_subjects(Path(subjects), protocol)
    entries = load_manifest(manifest, subs, protocol)
    rule = None
    if filename_rule:
        try:
            rule = re.compile(filename_rule)
        except re.error as exc:
            raise IdentityError(
                "IML-ID-010", f"the filename rule is not a valid regular expression ({exc.msg})",
                hint="Use named groups, e.g. (?P<patient_id>\\d{3})_D(?P<visit_day>\\d+).",
            ) from None
        if not {"patient_id", "visit_day"} <= set(rule.groupindex):
            raise IdentityError(
                "IML-ID-010", "the filename rule needs named groups patient_id and visit_day",
                hint="e.g. (?P<patient_id>\\d{3})_D(?P<visit_day>\\d+)",
            )
    return StudyIdentity(subs, entries, protocol, rule, manifest)
