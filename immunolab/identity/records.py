"""Identity records for the store, and the changes a corrected manifest or subjects file makes.

An identity record assigns one stored file (``sample_key`` ``""``) or one plate sample
(``sample_key`` = keyed hash of its name) to a sample id, patient, visit, specimen, panel and
assay, with a status (``active``, ``replicate``, ``superseded``, ``withdrawn``). Subjects records
give each patient's arm and covariates. Records are never overwritten: a correction is a new
record, the latest per key is current and the history stays readable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from immunolab.identity.keys import file_key, sample_key
from immunolab.identity.model import ManifestEntry, Subject
from immunolab.identity.study import StudyIdentity
from immunolab.schema import table_spec

__all__ = [
    "SAMPLE_FIELDS",
    "Change",
    "IdentityPlan",
    "diff_samples",
    "diff_subjects",
    "natural_key",
    "sample_record",
    "subject_record",
    "to_table",
]

#: identity_samples columns a correction may change
SAMPLE_FIELDS = ("sample_id", "patient_id", "visit_day", "specimen", "panel", "assay", "status", "replicate_of")
SUBJECT_FIELDS = ("arm", "site", "sex", "age", "severity", "covariates_json", "status")


def _now() -> datetime:
    return datetime.now(UTC)


def natural_key(patient: str | None, visit: int | None, specimen: str | None, panel: str | None) -> tuple[str, int, str, str]:
    """Return the key that must be unique among current samples: (patient, visit, specimen, panel)."""
    return (str(patient), int(visit if visit is not None else -1), (specimen or "").casefold(), (panel or "").casefold())


def file_row_keeps_patient(entry: ManifestEntry, *, has_sample_records: bool) -> bool:
    """Return whether a file's own identity record carries the patient and visit.

    A plate, or a bead well holding an aliquot, gives its samples their own records: those carry
    the patient, the file row does not. Ingest and ``identity apply`` both decide with this rule.
    """
    return entry.is_patient_sample and not has_sample_records


def sample_record(sha: str, key: str, fkey: str | None, entry: ManifestEntry | None, *, status: str = "active",
                  assay: str | None = None, panel: str | None = None, specimen: str | None = None,
                  replicate_of: str | None = None, manifest_sha256: str | None = None,
                  reason: str | None = None) -> dict[str, Any]:
    """Return one ``identity_samples`` record (without ``commit_id``)."""
    return {
        "source_sha256": sha, "sample_key": key, "file_key": fkey,
        "sample_id": entry.sample_id if entry else None,
        "patient_id": entry.patient_id if entry else None,
        "visit_day": entry.visit_day if entry else None,
        "specimen": (entry.specimen if entry and entry.specimen else specimen),
        "panel": (entry.panel if entry and entry.panel else panel),
        "assay": assay or (entry.assay if entry else None),
        "status": status, "replicate_of": replicate_of,
        "manifest_sha256": manifest_sha256, "reason": reason, "recorded_at": _now(),
        "attributes_json": sample_attributes(entry),
    }


def sample_attributes(entry: ManifestEntry | None) -> str | None:
    """Return the allowlisted manifest attributes of a sample as JSON (None when it has none)."""
    from immunolab.identity.files import NUMERIC_SAMPLE_ATTRIBUTES, SAMPLE_ATTRIBUTES

    if entry is None:
        return None
    found: dict[str, Any] = {}
    for column in SAMPLE_ATTRIBUTES:
        value = entry.get(column)
        if value:
            found[column] = float(value) if column in NUMERIC_SAMPLE_ATTRIBUTES else str(value).strip()
    return json.dumps(found, sort_keys=True) if found else None


def subject_record(s: Subject, *, subjects_sha256: str | None, reason: str | None, status: str = "active") -> dict[str, Any]:
    """Return one ``identity_subjects`` record (without ``commit_id``); no dates, no names."""
    return {
        "patient_id": s.patient_id, "arm": s.arm, "site": s.site or None, "sex": s.sex, "age": s.age,
        "severity": s.severity, "covariates_json": json.dumps(s.covariate_dict(), sort_keys=True) if s.covariates else None,
        "status": status, "subjects_sha256": subjects_sha256, "reason": reason, "recorded_at": _now(),
    }


def to_table(name: str, records: Sequence[Mapping[str, Any]], commit_id: str) -> pa.Table:
    """Return ``records`` as a table of ``name`` with ``commit_id`` set."""
    schema = table_spec(name).schema
    rows = [{**r, "commit_id": commit_id} for r in records]
    return pa.Table.from_pylist(rows, schema=schema)


@dataclass
class Change:
    """One identity change, printed as ``RELABEL 010-D014-WB patient 012 -> 010``."""

    kind: str
    text: str
    record: dict[str, Any]
    table: str


@dataclass
class IdentityPlan:
    """The identity changes a manifest/subjects pair makes to the store, ready to commit."""

    changes: list[Change] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Return the change lines (PHI-free: sample ids, patient ids, field values), each once.

        A sample held by several records (a plate sample's wells on two plates, bead-array wells of
        one aliquot) changes in each: its line is printed once with the number of records.
        """
        counts: dict[str, int] = {}
        for c in self.changes:
            counts[c.text] = counts.get(c.text, 0) + 1
        return [text if n == 1 else f"{text} ({n} records)" for text, n in counts.items()]

    @staticmethod
    def count(lines: Sequence[str]) -> int:
        """Return how many record changes change ``lines`` (from :meth:`lines`) stand for."""
        import re

        found = (re.search(r" \((\d+) records\)$", line) for line in lines)
        return sum(int(m.group(1)) if m else 1 for m in found)

    def records(self, table: str) -> list[dict[str, Any]]:
        """Return the new records for ``table``."""
        return [c.record for c in self.changes if c.table == table]


def _fmt(v: Any) -> str:
    return "-" if v is None or v == "" else str(v)


def _describe(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, str]:
    label = old.get("sample_id") or new.get("sample_id") or f"file:{str(new['source_sha256'])[:12]}"
    parts = [f"{f.replace('_id', '').replace('_', ' ')} {_fmt(old.get(f))} -> {_fmt(new.get(f))}"
             for f in SAMPLE_FIELDS if _fmt(old.get(f)) != _fmt(new.get(f)) and f != "status"]
    kind = "RELABEL" if any(f in ("sample_id", "patient_id", "visit_day") for f in SAMPLE_FIELDS
                            if _fmt(old.get(f)) != _fmt(new.get(f))) else "UPDATE"
    return kind, f"{kind} {label} " + ", ".join(parts)


#: the error's code: a manifest row's file name is the name of several stored files of different samples
SAME_NAME_CODE = "IML-ID-022"


def _same_name_rows(rows: list[dict[str, Any]], by_fkey: Mapping[str, ManifestEntry],
                    identity: StudyIdentity) -> set[str]:
    """Return the file keys whose manifest row describes one of several stored files of that name unchanged.

    Instruments reuse file names across runs, so one name can be the name of several stored files
    (told apart by their bytes), each of its own sample. A manifest row names a file by its name
    only: when one of those files already has the row's sample, patient and visit, the row is that
    file's and the others are left alone (their runs' manifests describe them). When none has, the
    row cannot say which file it corrects: IML-ID-022, nothing applied. Files of one sample under
    one name (replicates) are one.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["sample_key"] == "" and r.get("file_key") in by_fkey and r.get("status") in ("active", "replicate"):
            groups.setdefault(r["file_key"], []).append(r)
    keep: set[str] = set()
    unclear: list[tuple[int, list[str]]] = []
    for fkey, same in groups.items():
        who = {(r.get("sample_id"), r.get("patient_id"), r.get("visit_day")) for r in same}
        if len(who) < 2:
            continue
        e = by_fkey[fkey]
        if (e.sample_id, e.patient_id, e.visit_day) in {(a, b, None if c is None else int(c)) for a, b, c in who}:
            keep.add(fkey)
        else:
            unclear.append((e.line, sorted(str(r.get("sample_id") or f"file:{str(r['source_sha256'])[:12]}")
                                           for r in same)))
    if unclear:
        from immunolab.errors import IdentityError

        shown = "; ".join(f"row {line}: {', '.join(ids)}" for line, ids in sorted(unclear)[:10])
        raise IdentityError(
            SAME_NAME_CODE, f"{len(unclear)} manifest row(s) name a file by a name several stored files of different "
            f"samples have (instruments reuse names across runs), and none of them has the row's sample, patient "
            f"and visit, so the row cannot say which file it corrects ({shown}); nothing was applied",
            path=identity.manifest_path.name if identity.manifest_path else None,
            hint="Correct such a file with the file itself: `immunolab ingest FILE --manifest CSV --reason ...` "
            "matches it by its bytes. Or apply a manifest whose row for that name keeps the other run's values.")
    return keep


def diff_samples(current: pa.Table, identity: StudyIdentity, secret: bytes, *, reason: str | None,
                 file_names: Mapping[str, str] | None = None) -> IdentityPlan:
    """Return the changes the manifest makes to the current ``identity_samples`` records.

    Stored files are matched to manifest rows by the keyed hash of their base name (``file_key``)
    or, for files of this run, by ``file_names`` (sha256 -> base name); plate samples by the keyed
    hash of their sample name, looked up as ingest does: first among rows whose ``plate`` names their
    plate's file, then among rows without a ``plate``. Statuses (superseded, replicate) are kept; rows
    with problems and files the manifest does not list are left as they are.
    """
    plan = IdentityPlan()
    by_fkey = {file_key(secret, e.file): e for e in identity.entries if e.file and e.ok}
    name_keys: dict[str, ManifestEntry] = {}
    for e in identity.entries:
        if not e.ok or not e.is_patient_sample or e.plate is not None:
            continue
        for name in (e.sample_name, e.sample_id):
            if name:
                name_keys.setdefault(sample_key(secret, name), e)
    # rows with a plate, problems included: a bad row on its plate is left as it is, never replaced by a plate-less one
    plate_keys: dict[tuple[int, str], ManifestEntry] = {}
    for (line, name), e in identity.by_plate_name.items():
        plate_keys.setdefault((line, sample_key(secret, name)), e)
    names = dict(file_names or {})
    rows = current.to_pylist()
    # a file whose samples have their own records (a plate, a bead well) keeps no patient itself, as at ingest
    with_samples = {r["source_sha256"] for r in rows if r["sample_key"]}
    unchanged_name = _same_name_rows(rows, by_fkey, identity)
    for old in rows:
        sha, key = old["source_sha256"], old["sample_key"]
        if key == "":
            entry = by_fkey.get(old.get("file_key") or "")
            if entry is None and sha in names:
                entry = identity.by_file.get(names[sha])
                entry = entry if entry is not None and entry.ok else None
            if entry is None or old.get("file_key") in unchanged_name:
                continue
            new = sample_record(sha, key, old.get("file_key"), entry, status=old.get("status") or "active",
                                assay=entry.assay or old.get("assay"), panel=old.get("panel"), specimen=old.get("specimen"),
                                replicate_of=old.get("replicate_of"), manifest_sha256=identity.manifest_sha256, reason=reason)
            if not file_row_keeps_patient(entry, has_sample_records=sha in with_samples):
                new.update(patient_id=None, visit_day=None)
        else:
            plate = by_fkey.get(old.get("file_key") or "") or identity.by_file.get(names.get(sha, ""))
            entry = plate_keys.get((plate.line, key)) if plate is not None and plate.ok else None
            if entry is not None and (not entry.ok or not entry.is_patient_sample):
                continue
            entry = entry or name_keys.get(key)
            if entry is None:
                continue
            new = sample_record(sha, key, old.get("file_key"), entry, status=old.get("status") or "active",
                                assay=old.get("assay"), panel=old.get("panel"), specimen=old.get("specimen"),
                                replicate_of=old.get("replicate_of"), manifest_sha256=identity.manifest_sha256, reason=reason)
        if any(_fmt(old.get(f)) != _fmt(new.get(f)) for f in SAMPLE_FIELDS):
            kind, text = _describe(old, new)
            plan.changes.append(Change(kind, text, new, "identity_samples"))
    return plan


def _covariate_change(old: Any, new: Any) -> str:
    """Return which covariate columns a subjects file changes, by name only.

    A covariate's value may be text a record kept from an earlier subjects file (a name written in
    a column that is no longer stored), so a change line and the audit record never repeat values.
    """
    before = json.loads(old) if isinstance(old, str) and old else {}
    after = json.loads(new) if isinstance(new, str) and new else {}
    parts = [f"{what} {', '.join(names)}" for what, names in (
        ("added", sorted(set(after) - set(before))), ("removed", sorted(set(before) - set(after))),
        ("changed", sorted(k for k in set(before) & set(after) if before[k] != after[k]))) if names]
    return "covariates " + "; ".join(parts)


def diff_subjects(current: pa.Table, subjects: Iterable[Subject], *, subjects_sha256: str | None,
                  reason: str | None) -> IdentityPlan:
    """Return the changes the subjects file makes (new patients, arm or covariate corrections)."""
    plan = IdentityPlan()
    now = {r["patient_id"]: r for r in current.to_pylist()}
    for s in subjects:
        new = subject_record(s, subjects_sha256=subjects_sha256, reason=reason)
        old = now.get(s.patient_id)
        if old is None:
            plan.changes.append(Change("SUBJECT", f"NEW {s.patient_id} arm {s.arm}", new, "identity_subjects"))
            continue
        diffs = [f for f in SUBJECT_FIELDS if _fmt(old.get(f)) != _fmt(new.get(f))]
        if not diffs:
            continue
        if diffs == ["arm"]:
            text = f"ARM {s.patient_id} {_fmt(old.get('arm'))} -> {s.arm}"
            kind = "ARM"
        else:
            text = f"SUBJECT {s.patient_id} " + ", ".join(
                _covariate_change(old.get(f), new.get(f)) if f == "covariates_json"
                else f"{f} {_fmt(old.get(f))} -> {_fmt(new.get(f))}" for f in diffs)
            kind = "ARM" if "arm" in diffs else "SUBJECT"
        plan.changes.append(Change(kind, text, new, "identity_subjects"))
    return plan
