"""Apply the lab's manifest and subjects files to a store: new records, and corrections with a reason.

Adding what the store has never seen (a new patient in ``subjects.csv``) needs no reason.
Changing what it holds (a relabelled tube, an arm corrected) needs one: without ``--reason`` the
command stops with IML-ID-012 listing every change; with it, the changes are one store version
(kind ``identity``) whose records keep the old ones readable as history.

A corrected ``day0_date`` is noticed through its keyed hash (``identity_day0``; the date is never
stored) and refused with IML-ID-016: study days are computed from Day 0 when a file is ingested,
so the patient's dated files must be re-ingested (``ingest --supersede``), which records it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from immunolab.errors import IdentityError
from immunolab.identity.keys import day0_key, file_key
from immunolab.identity.records import Change, IdentityPlan, diff_samples, diff_subjects, to_table
from immunolab.identity.study import StudyIdentity
from immunolab.store.read import filter_in

if TYPE_CHECKING:
    from immunolab.store.read import Store
    from immunolab.store.versions import VersionRecord

__all__ = ["IdentityUpdate", "commit_identity", "plan_identity", "refuse_day0_changes", "require_reason"]


@dataclass
class IdentityUpdate:
    """What applying the files would change: new subjects (no reason needed) and corrections."""

    new_subjects: list[dict[str, object]] = field(default_factory=list)
    corrections: IdentityPlan = field(default_factory=IdentityPlan)
    #: keyed Day 0 hashes of patients the store has none for (no reason needed)
    new_day0: list[dict[str, object]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.new_subjects and not self.corrections.changes and not self.new_day0

    def day0_changes(self) -> list[Change]:
        """Return the corrections of a patient's Day 0 (a different or removed ``day0_date``)."""
        return [c for c in self.corrections.changes if c.kind == "DAY0"]


def _diff_day0(store: Store, identity: StudyIdentity, secret: bytes, reason: str | None,
               upd: IdentityUpdate) -> None:
    """Add to ``upd`` the Day 0 keys the store lacks and the Day 0 corrections (by keyed hash)."""
    from datetime import UTC, datetime

    stored = {r["patient_id"]: r["day0_key"] for r in store.table("identity_day0").to_pylist()}
    for s in identity.subjects.values():
        key = day0_key(secret, s.patient_id, s.day0_date) if s.day0_date is not None else None
        old = stored.get(s.patient_id)
        if key == old or (old is None and key is None):
            continue
        record: dict[str, object] = {"patient_id": s.patient_id, "day0_key": key, "subjects_sha256": identity.subjects_sha256,
                                     "reason": reason, "recorded_at": datetime.now(UTC)}
        if old is None:
            upd.new_day0.append(record)
        else:
            what = "corrected" if key is not None else "removed"
            upd.corrections.changes.append(Change("DAY0", f"DAY0 {s.patient_id} day0_date {what}", record, "identity_day0"))


def plan_identity(store: Store, identity: StudyIdentity, secret: bytes, *, reason: str | None,
                  file_names: Iterable[str] | None = None) -> IdentityUpdate:
    """Return the identity update the files make (``file_names``: only those stored files; None: all)."""
    subj = diff_subjects(store.table("identity_subjects"), identity.subjects.values(),
                         subjects_sha256=identity.subjects_sha256, reason=reason)
    upd = IdentityUpdate()
    for c in subj.changes:
        if c.text.startswith("NEW "):
            upd.new_subjects.append(c.record)
        else:
            upd.corrections.changes.append(c)
    current = store.table("identity_samples")
    if file_names is not None:
        keys = {file_key(secret, n) for n in file_names}
        shas = {r["source_sha256"] for r in current.select(["source_sha256", "file_key"]).to_pylist()
                if r["file_key"] in keys}
        current = filter_in(current, "source_sha256", shas) if shas else current.slice(0, 0)
    upd.corrections.changes.extend(diff_samples(current, identity, secret, reason=reason).changes)
    _diff_day0(store, identity, secret, reason, upd)
    return upd


def refuse_day0_changes(update: IdentityUpdate, *, label: str | None = None) -> None:
    """Raise IML-ID-016 when the subjects file corrects a stored patient's Day 0.

    Study days are computed from Day 0 when a file is ingested and the dates are not kept, so the
    stored study days cannot follow the correction by an identity version alone.
    """
    changed = [c.record["patient_id"] for c in update.day0_changes()]
    if changed:
        raise IdentityError(
            "IML-ID-016", f"the subjects file changes day0_date of {len(changed)} stored patient(s) "
            f"({', '.join(map(str, changed[:20]))}{', ...' if len(changed) > 20 else ''}): the study days stored "
            "at ingest were computed from the old Day 0", path=label,
            hint="If the new Day 0 is right, re-ingest each dated file of these patients with "
            '`immunolab ingest FILE --supersede INGEST_ID --reason "Day 0 corrected"` (ingest ids: `immunolab log '
            "--files`); the first records the new Day 0. Otherwise restore the old day0_date.")


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


def commit_identity(store: Store, update: IdentityUpdate, *, reason: str | None, identity: StudyIdentity,
                    command: str) -> VersionRecord | None:
    """Commit the update as one store version of kind ``identity``; return it (None when empty)."""
    from immunolab.store.versions import VersionRecord
    from immunolab.store.writer import Batch, new_id

    if update.empty:
        return None
    commit_id = new_id("idn")
    batch = Batch(store.loc, "identity", command=command, seen=store.version).begin([commit_id])
    subjects = [*update.new_subjects, *update.corrections.records("identity_subjects")]
    if subjects:
        batch.add_rows("identity_subjects", to_table("identity_subjects", subjects, commit_id))
    samples = update.corrections.records("identity_samples")
    if samples:
        batch.add_rows("identity_samples", to_table("identity_samples", samples, commit_id))
    day0 = [*update.new_day0, *update.corrections.records("identity_day0")]
    if day0:
        batch.add_rows("identity_day0", to_table("identity_day0", day0, commit_id))
    lines = update.corrections.lines() + [f"NEW {r['patient_id']} arm {r['arm']}" for r in update.new_subjects]
    rec = VersionRecord(0, "identity", summary=f"{len(update.corrections.changes)} correction(s), "
                        f"{len(update.new_subjects)} new subject(s)", reason=reason, commit_ids=[commit_id],
                        actions=lines, inputs={"manifest_sha256": identity.manifest_sha256,
                                               "subjects_sha256": identity.subjects_sha256})
    try:
        return batch.commit(lambda _since: rec)
    except BaseException:
        batch.abort()
        raise


def subject_table(records: Sequence[dict[str, object]], commit_id: str) -> pa.Table:
    """Return new subject records as an ``identity_subjects`` table."""
    return to_table("identity_subjects", records, commit_id)
