"""Verify a store end to end; change nothing unless asked (``--repair``, which is recorded).

Checks, each reported even when another fails (a read-only or full disk does not stop them):

1. the commit log: store versions numbered 1..N without gaps, each row the only row of its
   Delta version, the hash chain intact (an edited, inserted or deleted record breaks it);
2. every table: its Delta commits are all covered by store versions (a commit no version
   records means an interrupted batch, or a commit log whose tail was deleted);
3. every active data file of every table is recorded by a store version and still hashes to the
   SHA-256 recorded then; files in a table's folder that no table version references are stray
   (except the leftovers of a Delta rewrite that lost a commit race and was retried, recognised
   by delta-rs's file naming: noted, and removed by ``store vacuum`` / ``--repair``);
4. rows whose ``commit_id`` no store version lists (an interrupted or duplicate batch);
5. the raw vault: every committed source's original exists and hashes to its name; originals
   no store version committed are reported;
6. one current result per sample: (patient, visit, specimen, panel) unique among current
   samples, technical replicates aside;
7. the identity state: no file committed by several ingests (a supersede with its own bytes, which
   older releases accepted: IML-STORE-016), unless each ingest after the first was parsed with
   another subjects file than the one before it (a corrected Day 0 re-parsed).

``repair=True`` rolls back interrupted batches, deletes orphan rows and stray files, and records
what it did as a store version (kind ``repair``). When the store cannot be written (read-only,
full disk) the repair is reported as a problem with its coded reason, and every check still runs.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from immunolab.errors import ImmunolabError
from immunolab.store.layout import require_store
from immunolab.store.location import StoreLocation, location_for
from immunolab.store.tables import open_table, stored_tables
from immunolab.store.versions import GENESIS, VersionRecord, read_versions, record_hash

__all__ = ["VerifyResult", "verify_store"]

#: file names delta-rs gives the files it rewrites (DELETE, OPTIMIZE); one left behind by a commit
#: conflict is garbage for VACUUM, not tampering
_DELTA_LEFTOVER = re.compile(r"^part-\d{5}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-c\d{3}(\.[a-z0-9]+)?\.parquet$")


@dataclass
class VerifyResult:
    """What verify found (``problems``), noted (``notes``) and repaired (``actions``)."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)
    versions: int = 0
    data_files: int = 0
    raw_files: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary_line(self) -> str:
        state = "OK" if self.ok else f"{len(self.problems)} PROBLEM(S)"
        return (f"verify {state}: {self.versions} store versions, {self.data_files} data files, "
                f"{self.raw_files} raw files checked; {len(self.actions)} repair(s)")

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": self.problems, "notes": self.notes, "actions": self.actions,
                "checks": self.checks, "versions": self.versions, "data_files": self.data_files,
                "raw_files": self.raw_files}


def _sha_of(loc: StoreLocation, *parts: str) -> str:
    h = hashlib.sha256()
    with loc.fs.open_input_stream(loc.fs_path(*parts)) as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _check(res: VerifyResult, name: str, func: Any, *args: Any) -> Any:
    """Run one check; an error in it is a problem of that check, and the others still run."""
    before = len(res.problems)
    try:
        out = func(res, *args)
    except ImmunolabError as exc:
        res.problems.append(f"{name}: {exc.code} {exc.message}. {exc.hint or ''}".strip())
        out = None
    except OSError as exc:
        res.problems.append(f"{name}: cannot be checked ({exc.strerror or exc}).")
        out = None
    except Exception as exc:  # a damaged Delta log or data file: a finding, never a traceback
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        res.problems.append(f"{name}: cannot be read ({type(exc).__name__}: {first}); a file was altered or "
                            "removed. Restore the store from a backup.")
        out = None
    res.checks[name] = "ok" if len(res.problems) == before else "problems"
    return out


def _chain(res: VerifyResult, records: list[VersionRecord], delta_version: int) -> None:
    res.versions = len(records)
    prev = GENESIS
    for i, rec in enumerate(records, start=1):
        if rec.store_version != i:
            res.problems.append(f"store version {i} is missing (found {rec.store_version} next): the commit log "
                                "was edited. Restore versions/ from a backup and investigate who changed it.")
            break
        if rec.prev_hash != prev or record_hash(rec) != rec.record_hash:
            res.problems.append(f"store version {i} does not match its hash chain: the commit log was tampered with. "
                                "Restore versions/ from a backup and investigate who changed it.")
            break
        prev = rec.record_hash
    if records and delta_version != records[-1].store_version:
        res.problems.append(f"the commit log has {delta_version} Delta versions but {len(records)} store versions: "
                            "records were added or removed outside immunolab. Restore versions/ from a backup.")


#: commits delta-rs writes around a vacuum that deletes files; they add and remove no rows
_VACUUM_OPERATIONS = frozenset({"VACUUM START", "VACUUM END"})


def _tables(res: VerifyResult, loc: StoreLocation, records: list[VersionRecord], live: set[str],
            dead: set[str], compacting: bool = False) -> None:
    from immunolab.store.interrupted import find_unrecorded_compactions

    compactions = find_unrecorded_compactions(loc, records)
    recorded_files = {(f["table"], f["path"]): f.get("sha256") for r in records for f in r.files}
    max_version: dict[str, int] = {}
    for r in records:
        for name, v in r.tables.items():
            max_version[name] = max(max_version.get(name, -1), int(v))
    for name in stored_tables(loc):
        dt = open_table(loc, name)
        latest = int(dt.version())
        recorded = max_version.get(name, 0)
        cmp = compactions.get(name)
        vacuum_only = latest > recorded and all(h.get("operation") in _VACUUM_OPERATIONS
                                                for h in dt.history(latest - recorded))
        if cmp is not None and (cmp.files or (cmp.covers_all and cmp.version == latest)) and not vacuum_only:
            _compaction(res, name, cmp.commits, len(cmp.files), compacting)
            if cmp.covers_all and cmp.version == latest:
                recorded = latest  # reported: the commits change no rows
        if latest > recorded:
            unrecorded = dt.history(latest - recorded)
            batches = {str(h.get("immunolab_batch")) for h in unrecorded if h.get("immunolab_batch")}
            unknown = batches - live - dead
            if all(h.get("operation") in _VACUUM_OPERATIONS for h in unrecorded):
                res.notes.append(f"table {name}: {len(unrecorded)} vacuum commit(s) of an earlier `store vacuum` "
                                 "that no store version records (they change no rows)")
            elif batches & dead:
                res.problems.append(f"table {name}: an interrupted batch left commits no store version records. "
                                    "Run `immunolab store recover` (or `verify --repair`) to roll it back.")
            elif unknown or not batches:
                res.problems.append(f"table {name} has {latest - recorded} Delta commit(s) no store version records: "
                                    "the tail of the commit log was deleted, or something else wrote the table. "
                                    "Restore versions/ from a backup; `verify --repair` removes the unrecorded rows.")
            else:
                res.notes.append(f"table {name}: a batch is being committed right now")
        active = {uri.rsplit("/", 1)[-1] for uri in dt.file_uris()}
        for rel in sorted(active):
            res.data_files += 1
            digest = recorded_files.get((name, rel))
            if digest is None and cmp is not None and rel in cmp.files:
                continue  # reported with its compaction
            if digest is None:
                res.problems.append(f"tables/{name}/{rel} is in the table but no store version recorded it. "
                                    "Restore the table from a backup, or `verify --repair` to drop unrecorded rows.")
            elif _sha_of(loc, "tables", name, rel) != digest:
                res.problems.append(f"tables/{name}/{rel} no longer matches the SHA-256 recorded when it was committed "
                                    "(it was altered). Restore it from a backup.")
        known = _all_paths(loc, name, dt)
        for rel, _size, _mtime in loc.list_files("tables", name):
            if not rel.endswith(".parquet") or rel in known or rel in active:
                continue
            if any(rel.startswith(f"part-{b}-") for b in live):
                continue  # a batch being written right now
            if _DELTA_LEFTOVER.match(rel):
                res.notes.append(f"tables/{name}/{rel} was written by a Delta operation that lost a commit race and "
                                 "was retried; no version uses it (`store vacuum` or `verify --repair` removes it).")
                continue
            res.problems.append(f"tables/{name}/{rel} is a stray data file no table version references. "
                                "Remove it (`verify --repair` does, and records it).")


def _compaction(res: VerifyResult, name: str, commits: int, files: int, compacting: bool) -> None:
    """Report what a compaction left in table ``name`` that no store version records yet."""
    what = f"{commits} Delta commit(s) and {files} data file(s) of a `store compact`"
    if compacting:
        res.notes.append(f"table {name}: {what} being committed right now (they change no rows)")
        return
    code = "IML-STORE-017"
    res.problems.append(f"{code} table {name}: {what} that stopped before its store version; no store "
                        "version records them (they change no rows: every result reads the same). Run `immunolab "
                        "store recover` (or `verify --repair`) to record them.")


def _all_paths(loc: StoreLocation, name: str, dt: Any) -> set[str]:
    """Return every data file path the table's log mentions (active, removed or compacted away)."""
    import json

    paths = {uri.rsplit("/", 1)[-1] for uri in dt.file_uris()}
    for rel, _size, _mtime in loc.list_files("tables", name, "_delta_log"):
        if not rel.endswith(".json"):
            continue
        for line in loc.read_bytes("tables", name, "_delta_log", rel).decode().splitlines():
            try:
                action = json.loads(line)
            except ValueError:
                continue
            for key in ("add", "remove"):
                if isinstance(action.get(key), dict) and "path" in action[key]:
                    paths.add(str(action[key]["path"]).rsplit("/", 1)[-1])
    return paths


def _raw(res: VerifyResult, loc: StoreLocation, store: Any) -> None:
    shas = set(store.table("sources", columns=["source_sha256"]).column("source_sha256").to_pylist()) \
        if store is not None else set()
    on_disk = {rel for rel, _s, _m in loc.list_files("raw") if not rel.startswith(".")}
    for sha in sorted(shas):
        if sha not in on_disk:
            res.problems.append(f"raw/{sha} (original of a committed file) is missing. Restore it from a backup.")
    for rel in sorted(on_disk):
        res.raw_files += 1
        if _sha_of(loc, "raw", rel) != rel:
            res.problems.append(f"raw/{rel} no longer hashes to its name: the original file was altered. "
                                "Restore it from a backup; the store's tables still describe the original bytes.")
        elif store is not None and rel not in shas:
            res.notes.append(f"raw/{rel} belongs to no committed file (an interrupted or failed ingest); "
                             "harmless, removed by `verify --repair`.")


def _orphans(res: VerifyResult, loc: StoreLocation) -> None:
    from immunolab.store.maintenance import orphan_commit_ids

    for name, ids in sorted(orphan_commit_ids(loc).items()):
        res.problems.append(f"table {name} holds rows of {len(ids)} unit(s) of work no store version lists "
                            "(an interrupted or duplicate batch; invisible to the API). Run `immunolab store recover`.")


def _unique(res: VerifyResult, store: Any) -> None:
    s = store.to_pandas("samples")
    if s.empty:
        return
    s = s[s["status"] == "active"]
    keys = Counter(zip(s["patient_id"], s["visit_day"], s["specimen"].fillna(""), s["panel"].fillna(""), strict=True))
    for key, n in sorted(keys.items(), key=lambda kv: str(kv[0])):
        if n > 1:
            res.problems.append(f"patient {key[0]} day {key[1]} {key[2] or '-'} panel {key[3] or '-'} has {n} current "
                                "samples: supersede one (`immunolab ingest --supersede`) or mark them replicates.")


def _identity_state(res: VerifyResult, store: Any) -> None:
    labels = dict(zip(*store.table("sources", columns=["source_sha256", "label"]).to_pydict().values(), strict=True))
    code = "IML-STORE-016"
    subjects = {cid: rec.inputs.get("subjects_sha256") for rec in store.versions() for cid in rec.commit_ids}
    for sha, ids in sorted(store.repeated_ingests.items()):
        if all(subjects.get(new) != subjects.get(old) for old, new in pairwise(ids)):
            continue  # each one a re-parse with another subjects file (a corrected Day 0): not damage
        res.problems.append(
            f"{code} file {labels.get(sha) or 'file:' + sha[:12]} (raw/{sha[:12]}...) was committed by "
            f"{len(ids)} ingests ({', '.join(ids)}): an `ingest --supersede` of the very same bytes, so its "
            f"identity history marks it both current and superseded by {ids[-1]}. Reads count it once, as ingest "
            f"{ids[-1]} (the bytes are the same: no result differs). Nothing is lost; to correct the sample use "
            "`immunolab identity apply`, to re-analyse it `immunolab derive`, never a supersede with the same file.")


def verify_store(store: str | Any, *, repair: bool = False, storage_options: dict[str, str] | None = None) -> VerifyResult:
    """Verify (and with ``repair``, repair and record) the store at ``store``."""
    from immunolab.store.read import open_store
    from immunolab.store.writer import pending_batches

    loc = location_for(store, storage_options)
    require_store(loc)
    res = VerifyResult()
    if repair:  # a store that cannot be written is a problem of this step; every check still runs
        _check(res, "repair", lambda r: _repair(loc, r))
    from immunolab.store.versions import _open

    pend = pending_batches(loc)
    live = {str(m.get("batch_id")) for m, alive in pend if alive}
    compacting = any(alive and m.get("kind") == "compact" for m, alive in pend)
    dead = {str(m.get("batch_id")) for m, alive in pend if not alive}
    records = _check(res, "commit log", lambda r: read_versions(loc)) or []
    _check(res, "commit chain", lambda r: _chain(r, records, int(_open(loc).version())))
    _check(res, "tables", lambda r: _tables(r, loc, records, live, dead, compacting))
    _check(res, "uncommitted rows", lambda r: _orphans(r, loc))
    _check(res, "older versions", lambda r: _unreadable(r, loc, records))
    st = _check(res, "snapshot", lambda r: open_store(loc))
    _check(res, "raw vault", lambda r: _raw(r, loc, st))  # originals are re-hashed even without a snapshot
    if st is not None:
        _check(res, "one result per sample", lambda r: _unique(r, st))
        _check(res, "identity state", lambda r: _identity_state(r, st))
    return res


def _unreadable(res: VerifyResult, loc: StoreLocation, records: list[VersionRecord]) -> None:
    """Note the store versions that can no longer be read because data files they need are gone (vacuumed)."""
    from immunolab.store.maintenance import versions_reading
    from immunolab.store.versions import vacuumed_versions, version_ranges

    missing: dict[str, set[str]] = {}
    for name in stored_tables(loc):
        on_disk = {rel for rel, _size, _mtime in loc.list_files("tables", name)}
        missing[name] = {p for p in _all_paths(loc, name, open_table(loc, name)) if p not in on_disk}
    gone = versions_reading(loc, records, missing)
    recorded = vacuumed_versions(records)
    by: dict[int, list[int]] = {}
    for n in gone:
        by.setdefault(recorded[n].store_version if n in recorded else 0, []).append(n)
    for vac, nums in sorted(by.items()):
        if vac:
            res.notes.append(f"store versions {version_ranges(nums)} can no longer be read: the vacuum of store "
                             f"version {vac} (--retain-days {recorded[nums[0]].inputs.get('retain_days')}) deleted "
                             "data files they need")
        else:
            res.notes.append(f"store versions {version_ranges(nums)} can no longer be read: data files they need are "
                             "gone (a vacuum no store version records, or files removed by hand); restore tables/ "
                             "from a backup if they matter")


def _repair(loc: StoreLocation, res: VerifyResult) -> None:
    """Roll back interrupted batches, purge orphan rows, remove stray files; record it.

    A store that cannot be written (read-only, full disk) raises a coded store error; the stray
    files are recorded before they are deleted, so a failed record deletes nothing.
    """
    from immunolab.store.interrupted import adopt_compactions
    from immunolab.store.layout import os_error
    from immunolab.store.maintenance import purge_orphans
    from immunolab.store.tables import delta_error
    from immunolab.store.versions import append_version, latest_version
    from immunolab.store.writer import recover

    try:
        res.actions.extend(recover(loc, command="verify --repair"))
        res.actions.extend(adopt_compactions(loc, command="verify --repair"))
        res.actions.extend(purge_orphans(loc, command="verify --repair").lines())
        stray: list[tuple[str, str]] = []
        for name in stored_tables(loc):
            known = _all_paths(loc, name, open_table(loc, name))
            stray += [(name, rel) for rel, _size, _mtime in loc.list_files("tables", name)
                      if rel.endswith(".parquet") and rel not in known]
        if not stray:
            return
        lines = [f"removed stray data file tables/{name}/{rel}" for name, rel in stray]
        rec = VersionRecord(0, "repair", summary=f"removed {len(stray)} stray data file(s)", actions=lines)
        append_version(loc, lambda _s: rec, seen=latest_version(loc), command="verify --repair")
        for name, rel in stray:
            loc.delete("tables", name, rel)
        res.actions.extend(lines)
    except ImmunolabError:
        raise
    except OSError as exc:
        raise os_error(exc, loc, "repair") from None
    except Exception as exc:  # delta-rs reports I/O failures with its own exception types
        raise delta_error(exc, loc, "repair") from None
