"""Apply the lab's manifest and subjects files to a store: new records, and corrections with a reason.

Adding what the store has never seen (a new patient in ``subjects.csv``) needs no reason.
Changing what it holds (a relabelled tube, an arm corrected) needs one: without ``--reason`` the
command stops with IML-ID-012 listing every change; with it, the changes are one store version
(kind ``identity``) whose records keep the old ones readable as history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from immunolab.errors import IdentityError, StoreError
from immunolab.identity.keys import file_key, sample_key
from immunolab.identity.model import Problem
from immunolab.identity.records import (
    Change,
    IdentityPlan,
    diff_samples,
    diff_subjects,
    natural_key,
    to_table,
)
from immunolab.identity.study import StudyIdentity
from immunolab.store.read import filter_in

if TYPE_CHECKING:
    from immunolab.store.read import Store
    from immunolab.store.versions import VersionRecord

__all__ = ["DAY0_NOTE", "IdentityUpdate", "acknowledge_notes", "commit_identity", "new_samples_after_death", "plan_identity",
           "require_reason"]


@dataclass
class IdentityUpdate:
    """What applying the files would change: new subjects (no reason needed) and corrections."""

    new_subjects: list[dict[str, object]] = field(default_factory=list)
    corrections: IdentityPlan = field(default_factory=IdentityPlan)
    #: what cannot be applied but must not pass silently (a subjects file changed only where the store keeps nothing)
    notes: list[str] = field(default_factory=list)
    #: coded warnings on corrections that are applied all the same (IML-ID-021: a visit after the patient's death)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.new_subjects and not self.corrections.changes


def _batch_rows(current: pa.Table, files: Iterable[Path], identity: StudyIdentity, secret: bytes,
                reason: str | None) -> pa.Table:
    """Return the stored identity records the batch ``files`` may correct: their stored copies.

    A batch file corrects a stored file's identity only when it is that file: the same name *and*
    the same bytes. Instruments reuse names across runs (BD FACSDiva's ``Specimen_001_Tube_001.fcs``,
    xPONENT's ``Plate 1.csv``): a new file under a stored file's name is a new file, ingested with its
    own manifest row, never a relabel of the old one. Bytes are compared (the batch file hashed in
    this process) only where they decide something: a name several stored files share, or a stored
    file the manifest would change; a re-run that changes nothing reads no file here.
    """
    by_key: dict[str, list[Path]] = {}
    for p in files:
        by_key.setdefault(file_key(secret, p.name), []).append(p)
    shas_of: dict[str, set[str]] = {}
    for r in current.select(["source_sha256", "file_key"]).to_pylist():
        if r["file_key"] in by_key:
            shas_of.setdefault(r["file_key"], set()).add(r["source_sha256"])
    named = current.slice(0, 0) if not shas_of else filter_in(current, "source_sha256", set().union(*shas_of.values()))
    shared = {k for k, shas in shas_of.items() if len(shas) > 1}
    changed: set[str] = set()
    if not shared and len(named):
        changed = {str(c.record["source_sha256"]) for c in diff_samples(named, identity, secret, reason=reason).changes}
    check = shared | {k for k, shas in shas_of.items() if shas & changed}
    if not check:
        return named
    from immunolab.store.raw import hash_file

    held: set[str] = set()
    for key in check:
        for p in by_key[key]:
            try:
                held.add(hash_file(p)[0])
            except OSError:  # unreadable: the worker reports it (IML-IN-001)
                continue
    keep = {sha for key, shas in shas_of.items() for sha in shas if key not in check or sha in held}
    return filter_in(current, "source_sha256", keep) if keep else current.slice(0, 0)


def plan_identity(store: Store, identity: StudyIdentity, secret: bytes, *, reason: str | None,
                  files: Iterable[Path] | None = None) -> IdentityUpdate:
    """Return the identity update the manifest and subjects make (``files``: only the stored files they hold; None: all)."""
    from immunolab.redact import clean_reason

    reason = clean_reason(reason)[0]  # the records carry it; commit_identity warns (IML-IN-013)
    subj = diff_subjects(store.table("identity_subjects"), identity.subjects.values(),
                         subjects_sha256=identity.subjects_sha256, reason=reason)
    upd = IdentityUpdate()
    for c in subj.changes:
        if c.text.startswith("NEW "):
            upd.new_subjects.append(c.record)
        else:
            upd.corrections.changes.append(c)
    current = store.table("identity_samples")
    if files is not None:
        current = _batch_rows(current, files, identity, secret, reason)
    upd.corrections.changes.extend(diff_samples(current, identity, secret, reason=reason).changes)
    _refuse_merged_samples(store, upd.corrections, identity)
    upd.warnings.extend(_after_death(store, upd.corrections))
    missing = _missing_note(store, identity, secret)
    if missing is None:
        upd.notes.extend(_unstored_subject_changes(store, identity, upd))
    elif missing:
        upd.notes.append(missing)
    return upd


#: the note's code: stored samples or patients the new files leave out (kept unchanged)
MISSING_CODE = "IML-ID-017"
#: how many ids a note lists before it says how many more there are
SHOWN_IDS = 20


def _listed(ids: Sequence[str]) -> str:
    return ", ".join(ids[:SHOWN_IDS]) + (f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else "")


def _missing_note(store: Store, identity: StudyIdentity, secret: bytes) -> str | None:
    """Return the IML-ID-017 note naming stored samples and patients the manifest/subjects file leave out.

    Leaving a row out withdraws nothing (the store keeps every record; a per-site subjects file is a
    real use), so it is a note, not an error, and never the silent "no changes" it was. Returns
    None when nothing is missing and "" when the same note was already recorded (``--reason``).
    """
    patients: list[str] = []
    if identity.subjects:
        stored = store.table("identity_subjects", columns=["patient_id", "status"]).to_pylist()
        patients = sorted({str(r["patient_id"]) for r in stored
                           if r["status"] != "removed" and r["patient_id"] not in identity.subjects})
    files = {file_key(secret, e.file) for e in identity.entries if e.file}
    plate_of = {file_key(secret, e.file): e.line for e in identity.entries if e.file}
    # a printed name is found as ingest finds it: among its own plate's rows, then rows without a plate
    names = {sample_key(secret, n) for e in identity.entries if e.plate is None for n in (e.sample_name, e.sample_id) if n}
    scoped = {(line, sample_key(secret, n)) for line, n in identity.by_plate_name}

    def listed(r: dict[str, Any]) -> bool:
        if not r["sample_key"]:
            return identity.filename_rule is not None or r["file_key"] in files
        return r["sample_key"] in names or (plate_of.get(r["file_key"] or ""), r["sample_key"]) in scoped

    cols = ["sample_key", "file_key", "sample_id", "patient_id", "status", "source_sha256"]
    gone = [r for r in store.table("identity_samples", columns=cols).to_pylist()
            if r["status"] in CURRENT and r["patient_id"] is not None and not listed(r)]
    # each record once; one with no sample id by its file's hash (never its name)
    samples = sorted({str(r["sample_id"] or f"file:{str(r['source_sha256'])[:12]}") for r in gone})
    if not patients and not samples:
        return None
    parts = ([f"{len(samples)} stored sample(s) are not in the manifest: {_listed(samples)}"] if samples else []) + (
        [f"{len(patients)} stored patient(s) are not in the subjects file: {_listed(patients)}"] if patients else [])
    note = (f"NOTE {MISSING_CODE} {'; '.join(parts)}. They stay in the store unchanged (a file that lists only some "
            "patients or samples, e.g. one site's, withdraws nothing). To leave a sample out of the analysis: "
            "`immunolab qc exclude --sample ID --reason \"...\"` (or --file INGEST_ID for a whole file)"
            + ("; a corrected day0_date would not show here (dates are not stored)" if patients else "") + ".")
    recorded = {a for v in store.versions() if v.kind == "identity" for a in v.actions}
    return "" if note in recorded else note


#: identity statuses the ``samples`` and ``measurements`` views show (and average per natural key)
CURRENT = ("active", "replicate")


def _key_of(record: dict[str, object]) -> tuple[str, int, str, str] | None:
    """Return a current sample record's natural key (None: the record is no sample of a patient's visit)."""
    if record.get("status") not in CURRENT or record.get("patient_id") is None:
        return None
    day = record.get("visit_day")
    return natural_key(str(record["patient_id"]), int(str(day)) if day is not None else None,
                       str(record.get("specimen") or ""), str(record.get("panel") or ""))


def _same_sample(a: dict[str, object], b: dict[str, object]) -> bool:
    """Return whether two records may share a natural key: one sample (bead wells of one aliquot,
    one plate sample in two files) or a technical replicate recorded as one (``replicate_of``)."""
    if a.get("sample_id") == b.get("sample_id"):
        return True
    return (a.get("status") == "replicate" and a.get("replicate_of") == b.get("sample_id")) or (
        b.get("status") == "replicate" and b.get("replicate_of") == a.get("sample_id"))


def _refuse_merged_samples(store: Store, plan: IdentityPlan, identity: StudyIdentity) -> None:
    """Raise IML-ID-013 when the corrections move a sample onto a visit another current sample holds.

    The views average every current record of one (patient, visit, specimen, panel) as technical
    replicates, so such a move would silently merge two visits, as ingest refuses it (IML-ID-013).
    The check is on the identity the corrections leave (a swap of two tubes corrected together is
    fine); records of one sample or a recorded replicate pair may share their key.
    """
    changed = {(str(r["source_sha256"]), str(r["sample_key"])): r for r in plan.records("identity_samples")}
    if not changed:
        return
    cols = ["source_sha256", "sample_key", "sample_id", "patient_id", "visit_day", "specimen", "panel", "status",
            "replicate_of"]
    after: dict[tuple[str, str], dict[str, object]] = {
        (str(r["source_sha256"]), str(r["sample_key"])): r for r in store.table("identity_samples", columns=cols).to_pylist()}
    before = {k: _key_of(r) for k, r in after.items()}
    after.update(changed)
    by_key: dict[tuple[str, int, str, str], list[tuple[tuple[str, str], dict[str, object]]]] = {}
    for k, r in after.items():
        nk = _key_of(r)
        if nk is not None:
            by_key.setdefault(nk, []).append((k, r))
    clashes: set[str] = set()  # one line per sample and key (a sample's bead wells are one)
    for k, r in changed.items():
        nk = _key_of(r)
        if nk is None or nk == before.get(k):
            continue
        others = sorted({str(o.get("sample_id") or "-") for ok, o in by_key[nk] if ok != k and not _same_sample(r, o)})
        if others:
            clashes.add(f"{r.get('sample_id') or '-'} onto patient {nk[0]}, day {nk[1]}, "
                           f"{r.get('specimen') or 'no specimen'}, panel {r.get('panel') or '-'}, which {' and '.join(others)} already "
                           f"{'hold' if len(others) > 1 else 'holds'}")
    if clashes:
        shown = "; ".join(sorted(clashes)[:10]) + (f"; and {len(clashes) - 10} more" if len(clashes) > 10 else "")
        raise IdentityError(
            "IML-ID-013", f"the manifest moves samples onto a visit that already has a current result "
            f"({len(clashes)} of a panel): {shown}. The two would be averaged as replicates; nothing was applied",
            path=identity.manifest_path.name if identity.manifest_path else None,
            hint="Check those manifest rows: each sample needs its own patient, visit, specimen and panel; tubes "
            "swapped between visits are corrected together (both rows, one run). If one of the two results is wrong, "
            "keep its row as it was and leave it out of the analysis with `immunolab qc exclude --sample ID "
            '--reason "..."`.')


#: the warning's code: a correction puts a sample on a visit after its patient's recorded death
AFTER_DEATH_CODE = "IML-ID-021"


def _death_days(store: Store) -> dict[str, int]:
    """Return patient -> study day of the patient's earliest ``death`` in the current ``outcomes``.

    The rows the survival analysis reads (QC exclusions applied), without trial_outcomes'
    IML-CLIN-012 log line (not this check's business).
    """
    if "outcomes" not in store.table_versions:
        return {}
    import pandas as pd

    from immunolab.derive.views import current_patient_rows

    out = current_patient_rows(store, "outcomes", ("patient_id", "event"), drop_excluded=True)
    deaths = out[out["event"] == "death"]
    died = pd.to_numeric(deaths["study_day"], errors="coerce").groupby(deaths["patient_id"].astype(str)).min().dropna()
    return {str(p): int(d) for p, d in died.items()}


def _visits_after_death(died: dict[str, int], rows: Iterable[dict[str, Any]]) -> list[tuple[str, str, int, int, int]]:
    """Return (sample label, patient, visit day, window start, death day) per current sample row after a death.

    A visit is after the death when its whole window is (:func:`immunolab.derive.views.visit_window_bounds`).
    One line per sample: a sample's bead wells (or a plate's replicate wells) are one.
    """
    from immunolab.derive.views import visit_window_bounds

    found: set[tuple[str, str, int, int, int]] = set()
    for r in rows:
        if r.get("status") not in CURRENT or r.get("patient_id") is None or r.get("visit_day") is None:
            continue
        patient, visit = str(r["patient_id"]), int(str(r["visit_day"]))
        if patient not in died:
            continue
        first = visit_window_bounds(visit)[0]
        if first > died[patient]:
            found.add((str(r.get("sample_id") or f"file:{str(r['source_sha256'])[:12]}"), patient, visit, first,
                       died[patient]))
    return sorted(found)


def _after_death_hint(then: str) -> str:
    return ("A sample cannot be drawn after death: check the tube label against the manifest row's patient_id "
            f"and visit_day, correct the row and {then}; if the death's day is wrong, ingest the corrected "
            "clinical events export (a later export replaces the rows it repeats); if the patient did not die, a "
            "later export that leaves the row out does not remove it: supersede the export that holds it "
            "(`immunolab ingest FILE --supersede INGEST_ID --reason ...`) or exclude it (`immunolab qc exclude "
            "--file INGEST_ID --reason ...`).")


def _after_death_problems(died: dict[str, int], rows: Iterable[dict[str, Any]], what: str, outcome: str,
                          then: str) -> list[Problem]:
    """Return the IML-ID-021 warnings of ``rows`` on a visit after a death (``what``: "is relabelled to" ...)."""
    return [Problem(AFTER_DEATH_CODE, "manifest", 0,
                    f"sample {label} {what} patient {patient}, visit day {visit} (window from study day {first}), "
                    f"after the patient's death on study day {death} in the stored outcomes; {outcome}",
                    hint=_after_death_hint(then))
            for label, patient, visit, first, death in _visits_after_death(died, rows)]


def _after_death(store: Store, plan: IdentityPlan) -> list[Problem]:
    """Return an IML-ID-021 warning per sample the corrections move onto a visit after its patient's death.

    The death is the patient's earliest ``death`` of the current ``outcomes`` (:func:`_death_days`).
    Such a relabel is almost always a labelling error, but the death record may be the wrong one,
    so it is applied all the same. Study days only.
    """
    changed = plan.records("identity_samples")
    died = _death_days(store) if changed else {}
    if not died:
        return []
    cols = ["source_sha256", "sample_key", "patient_id", "visit_day"]
    before = {(r["source_sha256"], r["sample_key"]): (r["patient_id"], r["visit_day"])
              for r in store.table("identity_samples", columns=cols).to_pylist()}
    # only a change of patient or visit is judged: what was already stored is not this run's
    moved = [r for r in changed if before.get((r["source_sha256"], r["sample_key"]))
             != (str(r.get("patient_id")), None if r.get("visit_day") is None else int(str(r["visit_day"])))]
    return _after_death_problems(died, moved, "is relabelled to", "the change is applied all the same",
                                 "run `immunolab identity apply --reason` again")


def new_samples_after_death(store: Store, shas: Iterable[str]) -> list[Problem]:
    """Return an IML-ID-021 warning per sample of the files ``shas`` (just ingested) on a visit after a death.

    The same rule as for a relabel (:func:`_after_death`), for new files: their manifest rows put a
    sample on a visit whose whole window lies after its patient's recorded death (in the outcomes
    stored before or with this batch). The files stay ingested: the death record may be the wrong one.
    """
    shas = set(shas)
    died = _death_days(store) if shas else {}
    if not died:
        return []
    rows = filter_in(store.table("identity_samples", columns=["source_sha256", "sample_id", "patient_id", "visit_day",
                                                              "status"]), "source_sha256", shas).to_pylist()
    return _after_death_problems(died, rows, "is ingested for", "it is kept all the same",
                                 "apply it with `immunolab identity apply --manifest CSV --reason ...`")


#: the note when a subjects file differs only in what the store does not keep (its day0_date column)
DAY0_NOTE = ("NOTE the subjects file differs from the one recorded only in columns the store does not keep "
             "(day0_date) or in its formatting: study days already stored were computed with the earlier Day 0 "
             "(dates never reach the store). If a Day 0 was corrected, re-ingest that patient's dated files "
             "(clinical tables, FCS tubes, plates) with this subjects file and --supersede INGEST_ID --reason "
             "\"...\": the same files are parsed again with the new Day 0.")


def _unstored_subject_changes(store: Store, identity: StudyIdentity, upd: IdentityUpdate) -> list[str]:
    """Return :data:`DAY0_NOTE` when the subjects file changed but no stored subject record does.

    The store keeps the SHA-256 of the subjects file each subject record came from, never Day 0;
    a new file whose records equal the stored ones can only differ in day0_date (or its layout).
    A Day 0 changed together with another subject column is listed by that column's change only.
    """
    if identity.subjects_sha256 is None or upd.new_subjects or any(
            c.table == "identity_subjects" for c in upd.corrections.changes):
        return []
    if not any(s.day0_date is not None for s in identity.subjects.values()):
        return []
    recorded = {r["subjects_sha256"] for r in store.table("identity_subjects", columns=["subjects_sha256"]).to_pylist()
                if r["subjects_sha256"]}
    recorded |= {str(v.inputs.get("subjects_sha256")) for v in store.versions() if v.kind == "identity"}
    return [DAY0_NOTE] if recorded and identity.subjects_sha256 not in recorded else []


def acknowledge_notes(store: Store, update: IdentityUpdate, *, reason: str, identity: StudyIdentity,
                      command: str) -> VersionRecord:
    """Record that the notes of ``update`` were dealt with (one store version, no table rows): they stop repeating."""
    from immunolab.store.versions import VersionRecord, append_version

    rec = VersionRecord(0, "identity", summary="subjects file recorded (no stored record changed)", reason=reason,
                        actions=list(update.notes), inputs={"manifest_sha256": identity.manifest_sha256,
                                                            "subjects_sha256": identity.subjects_sha256})
    done = append_version(store.loc, lambda _s: rec, seen=store.version, command=command)
    assert done is not None
    return done


def require_reason(update: IdentityUpdate, reason: str | None, *, label: str | None = None) -> None:
    """Raise IML-ID-012 listing the corrections when they come without a reason."""
    if update.corrections.changes and not reason:
        lines = update.corrections.lines()
        shown = "; ".join(lines[:30]) + (f"; and {len(lines) - 30} more" if len(lines) > 30 else "")
        raise IdentityError(
            "IML-ID-012", f"the manifest or subjects file changes {len(lines)} stored identity record(s): {shown}",
            path=label,
            hint='Check each change; if they are corrections, run again with --reason "why" (one store version, '
            "the old records stay readable); otherwise fix the manifest/subjects file.")


#: how often a run re-plans after other writers changed identity first, before giving up (IML-STORE-002)
MAX_REPLANS = 5
#: the tables whose change makes a planned identity update stale
IDENTITY_TABLES = ("identity_samples", "identity_subjects")


class _Stale(Exception):
    """Another writer changed identity after the update was planned."""


def _stale(versions: Iterable[VersionRecord]) -> bool:
    return any(name in v.tables for v in versions for name in IDENTITY_TABLES)


def commit_identity(store: Store, update: IdentityUpdate, *, reason: str | None, identity: StudyIdentity,
                    command: str, replan: Callable[[Store], IdentityUpdate] | None = None) -> VersionRecord | None:
    """Commit the update as one store version of kind ``identity``; return it (None when empty).

    The update was planned against ``store``'s version. When another writer changed identity since
    (two runs applying the same correction), it is planned again by ``replan`` against the newer
    store and committed only if still non-empty, so a change is never recorded twice; the version
    is appended only if no identity change landed in between (optimistic check at the commit point).
    Without ``replan`` a stale update is re-planned by :func:`plan_identity` over every stored file.
    """
    from immunolab.redact import recorded_reason
    from immunolab.store.read import open_store
    from immunolab.store.versions import latest_version, read_versions

    reason = recorded_reason(reason)

    def again(st: Store) -> IdentityUpdate:
        return replan(st) if replan is not None else plan_identity(st, identity, _secret(st), reason=reason)

    for _ in range(MAX_REPLANS):
        if update.empty:
            return None
        if latest_version(store.loc) == store.version or not _stale(read_versions(store.loc, after=store.version)):
            try:
                return _commit_once(store, update, reason=reason, identity=identity, command=command)
            except _Stale:
                pass
        existed = _record_keys(store)
        store = open_store(store.loc)
        first, update = update, again(store)
        require_reason(update, reason)
        _refuse_undoing_another_writer(first, update, identity, existed)
    raise StoreError("IML-STORE-002", f"could not apply the identity update after {MAX_REPLANS} attempts: other "
                     "writers kept changing identity first", path=store.loc.uri,
                     hint="Re-run later; nothing of this update is visible.")


#: the error's code: re-planned after another writer's identity change, the update would undo it
UNDO_CODE = "IML-ID-024"


def _change_key(change: Change) -> tuple[str, ...]:
    r = change.record
    if change.table == "identity_subjects":
        return ("subject", str(r.get("patient_id")))
    return ("sample", str(r.get("source_sha256")), str(r.get("sample_key")))


def _record_keys(store: Store) -> set[tuple[str, ...]]:
    """Return the keys (:func:`_change_key`) of the identity records ``store`` holds."""
    samples = store.table("identity_samples", columns=["source_sha256", "sample_key"]).to_pylist()
    subjects = store.table("identity_subjects", columns=["patient_id"]).to_pylist()
    return ({("sample", str(r["source_sha256"]), str(r["sample_key"])) for r in samples}
            | {("subject", str(r["patient_id"])) for r in subjects})


def _refuse_undoing_another_writer(first: IdentityUpdate, again: IdentityUpdate, identity: StudyIdentity,
                                   existed: set[tuple[str, ...]]) -> None:
    """Refuse (IML-ID-024) a re-planned update that would undo another writer's change of a record.

    A record (``existed`` at the first plan) that the first plan left alone agreed with this
    manifest then; if the re-plan changes it, another writer changed it meanwhile. A record both
    plans change but differently (3 -> 6 planned, 10 -> 6 now) was changed meanwhile too. Applying
    would undo that writer's correction without anyone deciding so. The same change planned twice
    (one correction applied by two runs) and records new since the first plan (new wells of a
    sample) pass.
    """
    before = {_change_key(c): c.text for c in first.corrections.changes}
    undo = [c for c in again.corrections.changes
            if _change_key(c) in existed and before.get(_change_key(c)) != c.text]
    if undo:
        shown = "; ".join(c.text for c in undo[:5]) + (f"; and {len(undo) - 5} more" if len(undo) > 5 else "")
        raise IdentityError(
            UNDO_CODE, f"another writer changed identity while this update was applied, and this manifest would now "
            f"undo {len(undo)} of its change(s): {shown}; nothing was applied",
            path=identity.manifest_path.name if identity.manifest_path else None,
            hint="Look at `immunolab identity history` for those samples or patients. If this manifest is right, "
            "run the command again: it then lists those changes as its own.")


def _secret(store: Store) -> bytes:
    from immunolab.store.layout import store_key

    return store_key(store.loc)


def _commit_once(store: Store, update: IdentityUpdate, *, reason: str | None, identity: StudyIdentity,
                 command: str) -> VersionRecord | None:
    """Commit ``update`` against ``store``'s version; raise :class:`_Stale` (nothing committed) when outdated."""
    from immunolab.store.versions import VersionRecord
    from immunolab.store.writer import Batch, new_id

    commit_id = new_id("idn")
    batch = Batch(store.loc, "identity", command=command, seen=store.version).begin([commit_id])
    subjects = [*update.new_subjects, *update.corrections.records("identity_subjects")]
    if subjects:
        batch.add_rows("identity_subjects", to_table("identity_subjects", subjects, commit_id))
    samples = update.corrections.records("identity_samples")
    if samples:
        batch.add_rows("identity_samples", to_table("identity_samples", samples, commit_id))
    lines = update.corrections.lines() + [f"NEW {r['patient_id']} arm {r['arm']}" for r in update.new_subjects]
    rec = VersionRecord(0, "identity", summary=f"{len(update.corrections.changes)} correction(s), "
                        f"{len(update.new_subjects)} new subject(s)", reason=reason, commit_ids=[commit_id],
                        actions=lines, inputs={"manifest_sha256": identity.manifest_sha256,
                                               "subjects_sha256": identity.subjects_sha256})

    def build(since: Sequence[VersionRecord]) -> VersionRecord:
        if _stale(since):  # another run changed identity after the plan: its rows of this batch are rolled back
            raise _Stale
        return rec

    try:
        return batch.commit(build)
    except BaseException:
        batch.abort()
        raise


def subject_table(records: Sequence[dict[str, object]], commit_id: str) -> pa.Table:
    """Return new subject records as an ``identity_subjects`` table."""
    return to_table("identity_subjects", records, commit_id)
