"""Run one ingest batch: check identity, dispatch the workers, commit their results in groups.

The batch starts from one store version (the snapshot every check is made against), applies the
identity corrections first (only with ``--reason``), then commits the workers' results in chunks
of ``chunk_files`` files: per chunk one Delta commit per table and one store version. When
another writer committed the same bytes meanwhile, the store version's build step sees it and
reports those files as SKIP instead of committing them twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from immunolab.errors import InputError
from immunolab.identity import StudyIdentity, display_label
from immunolab.identity.apply import (
    IdentityUpdate,
    commit_identity,
    new_samples_after_death,
    plan_identity,
    require_reason,
    subject_table,
)
from immunolab.identity.model import Problem
from immunolab.ingest import (
    CHUNK_FILES,
    FileOutcome,
    IngestOptions,
    IngestReport,
    WorkerResult,
    natural_key,
)
from immunolab.store.layout import create_store, store_key
from immunolab.store.location import StoreLocation
from immunolab.store.raw import hash_file
from immunolab.store.read import Store, filter_in, open_store
from immunolab.store.versions import VersionRecord
from immunolab.store.writer import Batch, new_id, recover

__all__ = ["run_batch"]


def _stored_identity(store: Store) -> dict[str, tuple[str | None, str | None]]:
    """Return sha256 -> (file_key, sample_id) of every stored file's current record."""
    cols = ["source_sha256", "sample_key", "file_key", "sample_id"]
    return {r["source_sha256"]: (r["file_key"], r["sample_id"])
            for r in store.table("identity_samples", columns=cols).to_pylist() if r["sample_key"] == ""}


def _known_and_taken(store: Store) -> tuple[dict[str, str], dict[tuple[str, int, str, str], tuple[str, str, str]]]:
    src = store.table("sources", columns=["source_sha256", "ingest_id"]).to_pylist()
    known = {r["source_sha256"]: r["ingest_id"] for r in src}
    taken: dict[tuple[str, int, str, str], tuple[str, str, str]] = {}
    for r in store.table("samples").to_pylist():
        key = natural_key(r["patient_id"], r["visit_day"], r["specimen"], r["panel"])
        taken.setdefault(key, (r["sample_id"], r["ingest_id"], r["source_sha256"]))
    return known, taken


def _active_strategies(store: Store) -> dict[str, tuple[str, str, str]]:
    """Return panel -> (kind, definition, name) of re-applicable active gating decisions."""
    choices = store.to_pandas("derivation_choices")
    if choices.empty:
        return {}
    strategies = store.to_pandas("flow_strategies").drop_duplicates("derivation_id")
    out = {}
    for row in choices[choices["kind"] == "gating"].itertuples(index=False):
        s = strategies[strategies["derivation_id"] == row.derivation_id]
        if len(s) and s.iloc[0]["kind"] in ("template", "gatingml"):
            out[str(row.scope)] = (str(s.iloc[0]["kind"]), str(s.iloc[0]["definition_json"]), str(s.iloc[0]["strategy_name"]))
    return out


def _supersede(store: Store, identity: StudyIdentity, ingest_id: str | None, reason: str | None,
               files: Sequence[Path]) -> tuple[str | None, list[dict[str, Any]]]:
    """Return (sha256, identity records) of the ingest ``--supersede`` names, refusing what it cannot replace.

    The same bytes again are refused before anything is committed (IML-IN-012): parsed as before,
    they would correct nothing. The exception is a subjects file other than the one the file's
    latest ingest was parsed with (a corrected Day 0): the re-parse can give other study days, so
    it is accepted and its rows replace the old ones (reads take a file's latest ingest).
    """
    if not ingest_id:
        return None, []
    if len(files) != 1:
        raise InputError("IML-IN-001", f"--supersede corrects exactly one file, {len(files)} were given",
                         hint="Ingest the corrected file alone with --supersede INGEST_ID --reason TEXT.")
    if not reason:
        raise InputError("IML-IN-001", "--supersede needs --reason", hint='Add --reason "why the old ingest is wrong".')
    new = hash_file(files[0])[0] if files[0].is_file() else None
    label = display_label(files[0], new, identity.entry_for_file(files[0]))
    src = filter_in(store.table("sources", columns=["source_sha256", "ingest_id"]), "ingest_id", [ingest_id])
    # an older ingest of bytes committed again (a store damaged by a same-bytes supersede) names them too
    again = [sha for sha, ids in store.repeated_ingests.items() if ingest_id in ids]
    if src.num_rows == 0 and not again:
        raise InputError("IML-STORE-006", f"--supersede names ingest {ingest_id}, which is not in this store",
                         path=label, hint="Copy the ingest ID of the file to replace from `immunolab log "
                         "--store S` or `immunolab identity history`.")
    sha = src.column("source_sha256")[0].as_py() if src.num_rows else again[0]
    rows = filter_in(store.table("identity_samples"), "source_sha256", [sha]).drop_columns(["commit_id"]).to_pylist()
    if rows and all(r["status"] == "superseded" for r in rows):
        # the user named the wrong ingest, as with an unknown ID: an input problem (exit 1), not the store's
        chain = _successors(store, rows)
        raise InputError("IML-STORE-006", f"--supersede names ingest {ingest_id}, which is already superseded"
                         + "".join(f" by {c}" if not i else f", itself superseded by {c}" for i, c in enumerate(chain)),
                         path=label,
                         hint=(f"Supersede the ingest that holds the sample now: --supersede {chain[-1]}. "
                               if chain else "") + "`immunolab log --store S --files` lists each file's ingest IDs.")
    if new == sha and not _parsed_with_other_subjects(store, sha, identity):
        raise InputError("IML-IN-012", f"this file is byte for byte the file of ingest {ingest_id}: superseding it "
                         "with itself corrects nothing", path=label,
                         hint="Nothing was changed. To correct who the sample is (patient, visit, arm), fix the "
                         "manifest or subjects row and run `immunolab identity apply --reason \"...\"`; to "
                         "re-analyse it (gating, curve fit), use `immunolab derive`; to replace the data, "
                         "export the file again from the instrument. To apply a corrected Day 0, pass the "
                         "corrected subjects file with --subjects: these bytes are then parsed again.")
    return sha, rows


def _parsed_with_other_subjects(store: Store, sha: str, identity: StudyIdentity) -> bool:
    """Return True when the latest ingest of ``sha`` was parsed with another subjects file than ``identity``'s.

    Study days of a dated file come from the subjects file's day0_date, which the store never
    keeps: the SHA-256 of the subjects file each ingest was parsed with (its store version's
    inputs) is what tells that a re-parse may shift them.
    """
    if identity.subjects_sha256 is None:
        return False
    src = filter_in(store.table("sources", columns=["source_sha256", "ingest_id"]), "source_sha256", [sha])
    if src.num_rows == 0:
        return False
    version = store.commit_version.get(str(src.column("ingest_id")[0].as_py()))
    rec = next((r for r in store.versions() if r.store_version == version), None)
    return rec is not None and rec.inputs.get("subjects_sha256") != identity.subjects_sha256


def _successors(store: Store, rows: list[dict[str, Any]]) -> list[str]:
    """Return the ingests that superseded identity ``rows`` in turn, the one current now last."""
    chain: list[str] = []
    while rows and all(r["status"] == "superseded" for r in rows):
        by = sorted({str(r["superseded_by"]) for r in rows if r.get("superseded_by")} - set(chain))
        if not by:
            break
        chain.append(by[0])
        src = filter_in(store.table("sources", columns=["source_sha256", "ingest_id"]), "ingest_id", [by[0]])
        if src.num_rows == 0:
            break
        rows = filter_in(store.table("identity_samples", columns=["status", "superseded_by", "source_sha256"]),
                         "source_sha256", [src.column("source_sha256")[0].as_py()]).to_pylist()
    return chain


def _options(loc: StoreLocation, identity: StudyIdentity, store: Store, files: Sequence[Path],
             options: dict[str, Any]) -> IngestOptions:
    from immunolab.derive.registry import derive_settings

    given: dict[str, Any] = {k: options[k] for k in ("strategy", "comp", "write_events") if k in options}
    derive = derive_settings({**(options.get("plate_options") or {}), **given, **(options.get("derive_options") or {})},
                             active=_active_strategies(store))
    strategy = derive.gating.strategy
    if strategy:
        from immunolab.derive.gating import gating_spec

        gating_spec(strategy)  # a bad strategy file is one error for the batch, before any work
    known, taken = _known_and_taken(store)
    sup_sha, sup_rows = _supersede(store, identity, options.get("supersede"), options.get("reason"), files)
    return IngestOptions(
        loc=loc, identity=identity, secret=store_key(loc), assay=options.get("assay"),
        supersede=options.get("supersede"), supersede_sha=sup_sha, reason=options.get("reason"),
        replicate=bool(options.get("replicate")), plugin_options=dict(options.get("plugin_options") or {}),
        derive=derive, command=options.get("command", "python-api"),
        known=known, stored=_stored_identity(store), taken=taken, batch_id=new_id("bat"), superseded_rows=sup_rows)


def _identity_first(store: Store, opts: IngestOptions, files: Sequence[Path],
                    batch: Batch) -> tuple[list[str], list[Problem]]:
    """Commit identity corrections (reason required) now; queue new subjects into the batch.

    Return the lines saying what changed and the corrections' coded warnings (IML-ID-021: a
    sample moved onto a visit after its patient's death), which the report prints as
    ``identity apply`` does.
    """
    update = plan_identity(store, opts.identity, opts.secret, reason=opts.reason, files=files)
    require_reason(update, opts.reason)
    lines = update.corrections.lines() + update.notes
    if update.corrections.changes:
        corrections = type(update)(new_subjects=[], corrections=update.corrections)

        def replan(st: Store) -> IdentityUpdate:  # another writer changed identity meanwhile: plan again
            return type(update)(corrections=plan_identity(st, opts.identity, opts.secret, reason=opts.reason,
                                                          files=files).corrections)

        rec = commit_identity(store, corrections, reason=opts.reason, identity=opts.identity, command=opts.command,
                              replan=replan)
        lines = [*(rec.actions if rec is not None else []), *update.notes]
    if update.new_subjects:
        cid = new_id("idn")
        batch.expect([cid])
        batch.add_rows("identity_subjects", subject_table(update.new_subjects, cid))
        batch.__dict__.setdefault("extra_ids", []).append(cid)
    return lines, update.warnings


class _Committer:
    """Collect worker results and commit them in chunks (see the module docstring)."""

    def __init__(self, batch: Batch, opts: IngestOptions, chunk: int,
                 on_outcome: Callable[[FileOutcome], None] | None = None) -> None:
        self.batch, self.opts, self.chunk = batch, opts, chunk
        self.on_outcome = on_outcome
        self.pending: list[WorkerResult] = []
        self.versions: list[int] = []
        self.keys: dict[tuple[str, int, str, str], str] = {}
        self.shas: dict[str, str] = {}
        self.labels: dict[str, str] = {}  # sha256 -> label (sample id) of its first file in this run

    def add(self, res: WorkerResult) -> None:
        o = res.outcome
        if o.status == "OK" and o.source_sha256 in self.shas:  # the same bytes twice in this run
            for f in res.files:
                self.opts.loc.delete("tables", f.table, f.path)
            first = self.labels[str(o.source_sha256)]
            if first != o.label:  # listed as two samples: one of the two exports is wrong
                o.status, o.code, o.exit_code = "FAIL", "IML-ID-014", 1
                o.message = f"these bytes are also in this run as sample {first}, but this file's manifest row names sample {o.label}"
                o.hint = ("If this is a duplicate export, remove it and export the right tube; otherwise correct the "
                          "manifest row of the wrong one.")
                res.tables, res.files = {}, []
            else:
                o.status, o.ingest_id, res.tables, res.files = "SKIP", self.shas[o.source_sha256], {}, []
        elif o.status == "OK":
            self.shas[str(o.source_sha256)] = str(o.ingest_id)
            self.labels[str(o.source_sha256)] = o.label
            clash = next((k for k in res.keys if k in self.keys), None)
            if clash is not None and not self.opts.replicate:
                self.shas.pop(str(o.source_sha256), None)
                self.labels.pop(str(o.source_sha256), None)
                for f in res.files:
                    self.opts.loc.delete("tables", f.table, f.path)
                o.status, o.code, o.exit_code = "FAIL", "IML-ID-013", 1
                o.message = (f"another file of this run ({self.keys[clash]}) is the same sample "
                             f"(patient {clash[0]}, day {clash[1]}, panel {clash[3] or '-'})")
                o.hint = "Keep one file per sample, or pass --replicate for technical replicates."
                res.tables, res.files = {}, []
            else:
                for k in res.keys:
                    self.keys.setdefault(k, o.label)
        if o.status == "OK":
            self._note_runs(res)
        if o.status in ("OK", "FAIL"):
            self.pending.append(res)
        if o.status != "OK" and self.on_outcome is not None:
            self.on_outcome(o)
        if len(self.pending) >= self.chunk:
            self.flush(final=False)

    def runs(self) -> list[str]:
        """Return the multi-file runs (bead-array plates) this batch brought wells of."""

        return sorted(self._runs if hasattr(self, "_runs") else set())

    def _note_runs(self, res: WorkerResult) -> None:
        from immunolab.derive.runs import is_run

        plates = res.tables.get("cytokine_plates")
        if plates is not None:
            self.__dict__.setdefault("_runs", set()).update(p for p in plates.column("plate_id").to_pylist() if is_run(p))

    def _refuse_samples_taken_meanwhile(self, ok: list[WorkerResult], since: Sequence[VersionRecord]) -> list[str]:
        """Fail (IML-ID-013) the files whose sample another writer committed since this batch's snapshot.

        The workers checked each sample against the snapshot; a concurrent ingest (another file of
        the same new sample, or a second supersede of the same export) or a relabel may have taken
        it since. Called by the store version's build step (re-run if another version lands before
        it is appended), and only when other ingest or identity versions were committed since the
        snapshot. Return the ingest ids whose rows are to be dropped.
        """
        ours = {str(r.outcome.ingest_id) for r in ok} | set(self.shas.values())
        if self.opts.replicate or not any(v.kind in ("ingest", "identity") for v in since):
            return []
        now = _known_and_taken(open_store(self.opts.loc))[1]
        moved = {k: v for k, v in now.items() if v[1] not in ours and self.opts.taken.get(k) != v}
        refused: list[str] = []
        for r in ok:
            o = r.outcome
            clash = next((k for k in r.keys if k in moved), None) if o.status == "OK" else None
            if clash is None:
                continue
            refused.append(str(o.ingest_id))
            if moved[clash][2] == o.source_sha256:  # these very bytes, committed by the other writer: a SKIP
                o.status, o.ingest_id = "SKIP", moved[clash][1]  # (the store read may be newer than ``since``)
                self.shas[str(o.source_sha256)] = str(o.ingest_id)
                continue
            self.shas.pop(str(o.source_sha256), None)  # not committed: a copy later in this run is not a SKIP of it
            self.labels.pop(str(o.source_sha256), None)
            for k in r.keys:
                if self.keys.get(k) == o.label:
                    self.keys.pop(k)
            o.status, o.code, o.exit_code = "FAIL", "IML-ID-013", 1
            o.message = (f"another writer committed sample {moved[clash][0]} (patient {clash[0]}, day {clash[1]}, "
                         f"panel {clash[3] or '-'}) while this batch ran; this file was not committed")
            o.hint = ("Run the ingest again: it then says whether this file is a technical replicate (--replicate) "
                      "or replaces the other one (--supersede INGEST_ID --reason ...).")
        return refused

    def _drop(self, ids: list[str]) -> None:
        """Delete the rows of files another writer committed first (recorded as a store version)."""
        from immunolab.store.versions import append_version, latest_version
        from immunolab.store.writer import _roll_back

        rewritten: tuple[dict[str, int], list[dict[str, Any]]] = ({}, [])
        done = _roll_back(self.opts.loc, self.batch.batch_id, ids, rewritten, sweep=False)
        if done:
            rec = VersionRecord(0, "recover", summary=f"dropped {len(ids)} file(s) another writer committed first",
                                actions=done, tables=rewritten[0], files=rewritten[1])
            append_version(self.opts.loc, lambda _s: rec, seen=latest_version(self.opts.loc), command=self.opts.command)

    def flush(self, *, final: bool) -> None:
        if not self.pending and not self.batch.rows:
            if final:
                self.batch.finish()
            return
        chunk, self.pending = self.pending, []
        ok = [r for r in chunk if r.outcome.status == "OK"]
        for r in ok:
            for name, t in r.tables.items():
                self.batch.add_rows(name, t)
            for f in r.files:
                self.batch.add_file(f)
        extra = self.batch.__dict__.pop("extra_ids", [])
        raced: list[str] = []

        def build(since: Sequence[VersionRecord]) -> VersionRecord | None:
            done = {a.get("sha256"): a.get("ingest_id") for rec in since for a in rec.attempts if a.get("outcome") == "OK"}
            for r in ok:
                o = r.outcome
                if o.status == "OK" and o.source_sha256 in done:  # another writer committed it first
                    raced.append(str(o.ingest_id))  # our rows of it are dropped below, theirs stay
                    o.status, o.ingest_id = "SKIP", done[o.source_sha256]
            raced.extend(self._refuse_samples_taken_meanwhile(ok, since))
            ids = [r.outcome.ingest_id for r in ok if r.outcome.status == "OK"] + extra
            attempts = [r.outcome.attempt() for r in chunk if r.outcome.status in ("OK", "FAIL")]
            if not ids and not attempts:
                return None
            n_ok = sum(1 for a in attempts if a["outcome"] == "OK")
            return VersionRecord(0, "ingest", summary=f"{n_ok} file(s) committed, {len(attempts) - n_ok} failed",
                                 reason=self.opts.reason, commit_ids=[i for i in ids if i], attempts=attempts,
                                 inputs={"manifest_sha256": self.opts.identity.manifest_sha256,
                                         "subjects_sha256": self.opts.identity.subjects_sha256,
                                         "options": self.opts.audit_options()})

        rec = self.batch.commit(build, final=False)
        if rec is not None:
            self.versions.append(rec.store_version)
        if raced:
            self._drop(raced)
        if final:
            self.batch.finish()
        for r in ok:
            if self.on_outcome is not None:
                self.on_outcome(r.outcome)


def _dispatch(work: Sequence[tuple[Path, str]], opts: IngestOptions, jobs: int, executor: str | None) -> tuple[Any, str]:
    from immunolab.ingest import _run_dask, _run_local, longest_first

    dask = bool(executor) and str(executor).startswith(("dask://", "tcp://"))
    pool = dask or (jobs > 1 and len(work) > 1)
    if pool:
        work = longest_first(work)  # a pool finishes soonest when its slowest files start first
    if dask:
        address = str(executor).replace("dask://", "tcp://", 1)
        return _run_dask(work, opts, address), f"dask {address}"
    return _run_local(work, opts, jobs), "local processes" if pool else "in-process"


def run_batch(files: Sequence[Path], *, loc: StoreLocation, identity: StudyIdentity, jobs: int,
              executor: str | None, on_outcome: Callable[[FileOutcome], None] | None, t0: float,
              options: dict[str, Any], on_progress: Callable[[FileOutcome], None] | None = None) -> IngestReport:
    """Ingest ``files`` as one batch (see the module docstring)."""
    create_store(loc)
    recover(loc)
    store = open_store(loc)
    opts = _options(loc, identity, store, files, options)
    batch = Batch(loc, "ingest", command=opts.command, batch_id=opts.batch_id, seen=store.version)
    try:
        changes, warned = _identity_first(store, opts, files, batch)
        if changes:
            store = open_store(loc)
            opts.known, opts.taken = _known_and_taken(store)
            opts.stored = _stored_identity(store)
            batch.seen = store.version
        work = [(f, new_id("ing")) for f in files]
        batch.begin([*batch.commit_ids, *(i for _, i in work)])  # the marker names every unit before any write
        committer = _Committer(batch, opts, int(options.get("chunk_files") or CHUNK_FILES), on_outcome)
        results, label = _dispatch(work, opts, jobs, executor)
        outcomes: list[FileOutcome] = []
        for res in results:
            committer.add(res)
            outcomes.append(res.outcome)
            if on_progress is not None:
                on_progress(res.outcome)
        committer.flush(final=True)
        from immunolab.derive.runs import derive_runs, runs_without_fit

        # also the runs an earlier ingest committed wells of but was stopped before fitting
        runs = sorted({*committer.runs(), *runs_without_fit(open_store(loc))})
        if runs:
            rec = derive_runs(open_store(loc), runs, reason="bead-array wells ingested", command=opts.command)
            if rec is not None:
                committer.versions.append(rec.store_version)
        notes = _carry_choices(loc, opts, outcomes, committer.versions)
        # new files put on a visit after their patient's death (outcomes stored before or with this batch)
        committed = [str(o.source_sha256) for o in outcomes if o.status == "OK" and o.source_sha256]
        if committed:
            warned = [*warned, *new_samples_after_death(open_store(loc), committed)]
        if committed and opts.supersede_sha:
            warned = [*warned, *_samples_left_out(open_store(loc), opts, committed[0])]
    except BaseException:
        batch.abort()
        raise
    report = IngestReport(outcomes, time.perf_counter() - t0, jobs, label, committer.versions, changes)
    report.identity_warnings = warned
    report.derivation_notes = notes
    return report


#: the warning's code: a superseding file does not hold every sample of the file it replaces
LEFT_OUT_CODE = "IML-ID-023"


def _samples_left_out(store: Store, opts: IngestOptions, new_sha: str) -> list[Problem]:
    """Return an IML-ID-023 warning when the superseding file lacks samples the superseded one held.

    Superseding replaces the old file's records whole: a sample the re-export no longer holds
    (wells left out, a row deleted) leaves the current view and every analysis with it. That may
    be the correction, or a re-export that lost samples by mistake, so it is said, never silent.
    """
    old = {str(r["sample_id"]): r for r in opts.superseded_rows
           if r.get("status") in ("active", "replicate") and r.get("patient_id") is not None and r.get("sample_id")}
    if not old:
        return []
    new = {str(r["sample_id"]) for r in filter_in(store.table("identity_samples", columns=["source_sha256", "sample_id"]),
                                                   "source_sha256", [new_sha]).to_pylist() if r["sample_id"]}
    gone = sorted(set(old) - new)
    if not gone:
        return []
    shown = ", ".join(f"{sid} (patient {old[sid]['patient_id']}, day {old[sid]['visit_day']})" for sid in gone[:10])
    more = f" and {len(gone) - 10} more" if len(gone) > 10 else ""
    return [Problem(LEFT_OUT_CODE, "manifest", 0,
                    f"the new file does not hold {len(gone)} sample(s) of the ingest it supersedes: {shown}{more}; "
                    "they left the current view and the analyses",
                    hint="If that is the correction, nothing to do. If the re-export lost them by mistake, export the "
                    "file again with every sample and supersede this ingest with it (`immunolab log --files` gives "
                    "its id); the earlier store versions still hold them (`open_store(S, version=N)`).")]


def _carry_choices(loc: StoreLocation, opts: IngestOptions, outcomes: list[FileOutcome], versions: list[int]) -> list[str]:
    """Carry the superseded file's plate curve decisions to the file replacing it; return the notes."""
    new = next((o for o in outcomes if o.status == "OK" and o.source_sha256), None)
    if not opts.supersede_sha or new is None:
        return []
    from immunolab.derive.carry import carry_curve_choices

    done = carry_curve_choices(open_store(loc), opts.supersede_sha, str(new.source_sha256), reason=opts.reason,
                               command=opts.command)
    new.warnings.extend(done.warnings)
    versions.extend(done.store_versions)
    return done.notes

