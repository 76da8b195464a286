"""The study's identity as the lab's files give it: which file and plate sample is which patient and visit.

Identity never comes from ``$FIL``, ``$SRC`` or free text inside a data file (they hold patient
names in real files): only from the manifest, or from a filename rule the lab opts into.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from immunolab.errors import IdentityError
from immunolab.identity.files import (
    leading_zero_hint,
    load_manifest,
    load_subjects,
    padded_patient,
    plate_lines,
)
from immunolab.identity.model import (
    DEFAULT_PROTOCOL,
    ManifestEntry,
    Problem,
    Protocol,
    Subject,
    problems_error,
)
from immunolab.redact import shown_day, shown_id

__all__ = ["StudyIdentity", "load_identity"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class StudyIdentity:
    """Subjects and manifest, indexed for lookups during ingest; problems are kept per line."""

    subjects: dict[str, Subject]
    entries: list[ManifestEntry]
    protocol: Protocol = DEFAULT_PROTOCOL
    filename_rule: re.Pattern[str] | None = None
    manifest_path: Path | None = None
    subject_problems: list[Problem] = field(default_factory=list)
    manifest_sha256: str | None = None
    subjects_sha256: str | None = None
    #: IML-ID-016 warnings: subjects columns left out of the store because they look identifying
    subject_warnings: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_file = {e.file: e for e in self.entries if e.file}
        self.by_sample = {e.sample_id: e for e in self.entries if e.sample_id}
        #: rows without a ``plate``: a name that holds on every plate
        self.by_name = {e.sample_name: e for e in self.entries if e.sample_name and e.plate is None}
        #: rows with a ``plate``: (line of that plate's file row, sample_name or sample_id) -> row
        self.by_plate_name: dict[tuple[int, str], ManifestEntry] = {}
        #: rows whose ``plate`` names no plate (IML-ID-019): name -> row, so a plate using the name meets that problem
        self.unplaced: dict[str, ManifestEntry] = {}
        plates = plate_lines(self.entries)
        for e in self.entries:
            if e.plate is None:
                continue
            for name in (e.sample_name, e.sample_id):
                if name and e.plate in plates:
                    self.by_plate_name.setdefault((plates[e.plate], name), e)
                elif name:
                    self.unplaced.setdefault(name, e)

    @property
    def problems(self) -> list[Problem]:
        """Return every problem of the subjects file and the manifest, in file and line order."""
        return [*self.subject_problems, *(p for e in self.entries for p in e.problems)]

    def check(self) -> None:
        """Raise one error listing every problem of both files (for commands that need them clean)."""
        if self.problems:
            raise problems_error(self.problems, self.manifest_path.name if self.manifest_path else None)

    def _rule_entry(self, name: str) -> ManifestEntry | None:
        assert self.filename_rule is not None
        m = self.filename_rule.search(name)
        if m is None:
            return None
        groups = m.groupdict()
        pid, day = groups.get("patient_id"), groups.get("visit_day")
        problems: list[Problem] = []
        visit: int | None = None
        try:
            visit = int(day) if day is not None else None
        except ValueError:
            problems.append(Problem("IML-ID-010", "filename rule", 0, "the visit_day group is not a number",
                                    "Fix the rule's visit_day group."))
        if pid is None or pid not in self.subjects:
            problems.append(Problem("IML-ID-004", "filename rule", 0,
                                    f"the file name gives patient {shown_id(pid or '')}, who is not in the subjects file",
                                    "Add the patient to subjects.csv or rename the file."))
        if visit is not None and visit not in self.protocol.visit_days:
            problems.append(Problem("IML-ID-005", "filename rule", 0,
                                    f"the file name gives visit day {shown_day(visit)}, not a protocol visit "
                                    f"({', '.join(map(str, self.protocol.visit_days))})",
                                    "Rename the file or list it in the manifest with its protocol day."))
        sample_id = f"{pid}-D{(visit or 0):03d}-{groups.get('panel') or 'F'}" if not problems else None
        return ManifestEntry(0, name, sample_id, pid, visit, groups.get("specimen"), groups.get("panel"),
                             problems=tuple(problems))

    def entry_for_file(self, path: Path | str) -> ManifestEntry | None:
        """Return the manifest row of file ``path`` (by base name), the filename rule's, or None."""
        name = Path(path).name
        entry = self.by_file.get(name)
        if entry is not None:
            return entry
        if self.filename_rule is not None:
            return self._rule_entry(name)
        return None

    def require_file(self, path: Path | str, label: str) -> ManifestEntry:
        """Return the clean manifest row of ``path``, or raise IML-ID-001 / the row's own problems."""
        entry = self.entry_for_file(path)
        if entry is None:
            where = f" ({self.manifest_path.name})" if self.manifest_path else ""
            name = Path(path).name.casefold()
            other = next((e for f, e in self.by_file.items() if f.casefold() == name), None)
            hint = ("Add a row with its file name, patient_id and visit_day to the manifest and re-run "
                    "(use --show-paths to see file names on this terminal; they are never logged).")
            if other is not None:
                hint = (f"Manifest line {other.line} names this file with different upper/lower case; file names "
                        "are matched exactly: write the name there as the file is named, and re-run.")
            raise IdentityError("IML-ID-001", f"this file is not listed in the sample manifest{where}", path=label,
                                hint=hint)
        if entry.problems:
            raise problems_error(list(entry.problems), label)
        return entry

    def lookup_name(self, ref: str, plate: ManifestEntry | None = None) -> ManifestEntry | None:
        """Return the manifest row of a sample name written on a plate (by sample_name, then sample_id).

        Rows whose ``plate`` names ``plate`` (the plate's own manifest row) come first, then rows without
        a ``plate``; a row whose ``plate`` names another plate is never returned.
        """
        key = " ".join(ref.split())
        if plate is not None and plate.line:
            for name in (ref, key):
                entry = self.by_plate_name.get((plate.line, name))
                if entry is not None:
                    return entry
        found = self.by_name.get(ref) or self.by_name.get(key)
        if found is not None:
            return found
        for name in (ref, key):
            entry = self.by_sample.get(name)
            if entry is not None and entry.plate is None:
                return entry
        return None

    def resolve_sample_refs(self, refs: Iterable[str], label: str, wells: dict[str, list[str]] | None = None,
                            plate: ManifestEntry | None = None) -> dict[str, ManifestEntry]:
        """Map sample names written on a plate to clean manifest rows; unknown names raise IML-ID-008.

        ``plate`` is the plate's own manifest row: rows whose ``plate`` names it are looked up first.
        The error lists the wells of unknown samples, never the names (they may be patient names).
        Names whose rows have problems raise those problems, all at once, and so do names found only on
        rows whose ``plate`` names no plate (IML-ID-019: the row may have been meant for this one).
        """
        out: dict[str, ManifestEntry] = {}
        unknown: list[str] = []
        bad: list[Problem] = []
        for ref in refs:
            entry = self.lookup_name(ref, plate)
            if entry is None:
                entry = self.unplaced.get(ref) or self.unplaced.get(" ".join(ref.split()))
            if entry is None or (not entry.is_patient_sample and not entry.problems):
                unknown.append(ref)
            elif entry.problems:
                bad.extend(p for p in entry.problems if p not in bad)
            else:
                out[ref] = entry
        if bad:
            raise problems_error(bad, label)
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
                "with sample_id, patient_id and visit_day (and plate = this plate's sample_id when the same name is "
                "on other plates too). A bead-array well's aliquot_of names such a sample too: the manifest must hold "
                "that sample's row as well, also when the sample came in an earlier batch (keep one manifest for the "
                "trial, or copy the row).")
        return out

    def subject(self, patient_id: str) -> Subject:
        """Return subject ``patient_id`` (it exists: the manifest row was checked)."""
        return self.subjects[patient_id]

    def study_day_for(self, entry: ManifestEntry | None) -> Callable[[date], int | None]:
        """Return a function turning a calendar date into a study day (None when no anchor is known).

        For a patient's sample, days count from that patient's Day 0; for a plate, from the
        earliest Day 0 of the trial (study start).
        """
        anchor: date | None = None
        if entry is not None and entry.patient_id is not None and entry.patient_id in self.subjects:
            anchor = self.subjects[entry.patient_id].day0_date
        else:
            dates = [s.day0_date for s in self.subjects.values() if s.day0_date is not None]
            anchor = min(dates) if dates else None

        def to_study_day(d: date) -> int | None:
            return None if anchor is None else (d - anchor).days

        return to_study_day

    def trial_patient(self, written: str) -> str | None:
        """Return the trial patient id of an id written in a clinical file, or None when unknown.

        The manifest's rule: the id must be written as in the subjects file. A number written
        without the subjects file's leading zeros (``1`` for ``001``) is not mapped: it raises
        ``IML-CLIN-006`` with the manifest's hint ("Did you mean 001?"), never stored as another id.
        """
        text = str(written).strip()
        if text in self.subjects:
            return text
        padded = padded_patient(text, self.subjects)
        if padded is not None:
            raise IdentityError("IML-CLIN-006", f"patient {shown_id(text)} is not in the subjects file",
                                hint=leading_zero_hint(padded))
        return None

    def patient_study_day(self, patient_id: str, d: date) -> int | None:
        """Return the study day of date ``d`` for ``patient_id`` (None when unknown)."""
        s = self.subjects.get(patient_id)
        return None if s is None or s.day0_date is None else (d - s.day0_date).days


def load_identity(
    manifest: Path | str,
    subjects: Path | str | None = None,
    *,
    protocol: Protocol = DEFAULT_PROTOCOL,
    filename_rule: str | None = None,
) -> StudyIdentity:
    """Load subjects and manifest (subjects default: ``subjects.csv`` beside the manifest).

    Unreadable files and missing columns raise at once; problems of single lines are collected
    in :attr:`StudyIdentity.problems` and refuse only the files they concern.
    """
    manifest = Path(manifest)
    if subjects is None:
        candidate = manifest.parent / "subjects.csv"
        try:
            present = candidate.is_file()
        except OSError:
            present = False
        if not present:
            raise IdentityError("IML-ID-009", "no subjects file was given and there is no subjects.csv beside the manifest",
                                path=manifest.name, hint="Pass --subjects subjects.csv (patient_id, arm, site, age, sex).")
        subjects = candidate
    subjects = Path(subjects)
    subs, sub_problems, bad, sub_warnings = load_subjects(subjects, protocol)
    entries = load_manifest(manifest, subs, protocol, bad_patients=bad)
    rule = None
    if filename_rule:
        try:
            rule = re.compile(filename_rule)
        except re.error as exc:
            raise IdentityError("IML-ID-010", f"the filename rule is not a valid regular expression ({exc.msg})",
                                hint="Use named groups, e.g. (?P<patient_id>\\d{3})_D(?P<visit_day>\\d+).") from None
        if not {"patient_id", "visit_day"} <= set(rule.groupindex):
            raise IdentityError("IML-ID-010", "the filename rule needs named groups patient_id and visit_day",
                                hint="e.g. (?P<patient_id>\\d{3})_D(?P<visit_day>\\d+)")
    return StudyIdentity(subs, entries, protocol, rule, manifest, sub_problems, _sha256(manifest), _sha256(subjects),
                         sub_warnings)
