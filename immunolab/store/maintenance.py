"""Keep a store small and fast: compact data files, vacuum old ones, purge rows nothing commits.

* ``compact`` rewrites each table's many small data files into few large ones (Delta
  OPTIMIZE); the rows, and therefore every query result, are unchanged. It is recorded as a
  store version (kind ``compact``) with each table's new Delta version. A pending marker (kind
  ``compact``) covers it from the first table to that store version: a compaction killed in
  between is recorded by the next writer, ``store recover`` or ``verify --repair``.
* ``vacuum`` deletes data files no table version newer than ``retain_days`` needs (Delta
  VACUUM). It names the store versions that would no longer be readable, refuses to make any
  unreadable unless told to, keeps the files of the store versions asked for (a locked
  analysis), and records the versions it made unreadable so reading one says so.
* ``purge`` deletes rows whose ``commit_id`` no store version lists and no running batch owns
  (rows of a concurrent duplicate, or of an interrupted batch), with Delta DELETE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from immunolab.errors import InputError, StoreError
from immunolab.store.interrupted import adopt_compactions
from immunolab.store.location import StoreLocation
from immunolab.store.read import Store
from immunolab.store.tables import (
    active_files,
    delta_error,
    describe_files,
    open_table,
    read_delta,
    retry_conflicts,
    stored_tables,
)
from immunolab.store.versions import (
    VersionRecord,
    append_version,
    latest_version,
    read_versions,
    version_ranges,
)
from immunolab.store.writer import COMPACTION, Batch, new_id, recover

__all__ = ["MaintenanceReport", "compact", "purge_orphans", "vacuum", "versions_reading"]

#: target size of a compacted data file
TARGET_FILE_BYTES = 128 * 1024 * 1024


@dataclass
class MaintenanceReport:
    """What a maintenance command did, per table."""

    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    store_version: int | None = None
    #: store versions that read a file the vacuum deletes (vacuum only)
    unreadable: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Return one PHI-free line per table."""
        return [f"{name}: " + ", ".join(f"{k} {v}" for k, v in info.items()) for name, info in sorted(self.tables.items())]


def _tables(loc: StoreLocation) -> list[str]:
    return stored_tables(loc)


def files_per_table(loc: StoreLocation) -> dict[str, int]:
    """Return the number of active data files of every table."""
    return {n: len(open_table(loc, n).file_uris()) for n in _tables(loc)}


def compact(loc: StoreLocation, *, command: str = "store compact") -> MaintenanceReport:
    """Compact every table's small files (Delta OPTIMIZE) and record it as a store version."""
    rep = MaintenanceReport()
    recover(loc, command=command)  # the next writer records what a killed compaction committed
    adopt_compactions(loc, command=command)
    marker = Batch(loc, COMPACTION, command=command, batch_id=new_id("cmp")).begin()
    versions: dict[str, int] = {}
    files: list[dict[str, Any]] = []
    for name in _tables(loc):
        try:
            seen: dict[str, set[str]] = {}

            def _compact(d: Any, s: dict[str, set[str]] = seen) -> Any:
                s["old"] = active_files(d)
                return d.optimize.compact(target_size=TARGET_FILE_BYTES)

            dt, metrics = retry_conflicts(loc, name, _compact)
            old = seen["old"]
            dt.update_incremental()
            new = active_files(dt)
        except Exception as exc:
            if not versions:
                marker.finish()  # nothing committed: nothing to recover (else the marker stays for recovery)
            raise delta_error(exc, loc, f"compact table {name}") from None
        if metrics.get("numFilesRemoved", 0):
            versions[name] = int(dt.version())
            files.extend(describe_files(loc, name, new - old))
        rep.tables[name] = {"files before": len(old), "files after": len(new)}
    if versions:
        rec = VersionRecord(0, "compact", summary=f"compacted {len(versions)} table(s)", tables=versions,
                            actions=rep.lines(), files=files)
        done = append_version(loc, lambda _s: rec, seen=latest_version(loc), command=command)
        rep.store_version = done.store_version if done else None
    marker.finish()
    return rep


def versions_reading(loc: StoreLocation, records: Sequence[VersionRecord], files: dict[str, set[str]]) -> list[int]:
    """Return the store versions whose table versions read one of ``files`` (table -> data file names)."""
    cache: dict[tuple[str, int], bool] = {}
    current: dict[str, int] = {}
    out: list[int] = []
    for rec in records:
        for name, v in rec.tables.items():
            current[name] = max(current.get(name, -1), int(v))
        for name, v in current.items():
            if not files.get(name):
                continue
            if (name, v) not in cache:
                names = {u.rsplit("/", 1)[-1] for u in open_table(loc, name, v).file_uris()}
                cache[(name, v)] = bool(names & files[name])
            if cache[(name, v)]:
                out.append(rec.store_version)
                break
    return out


def vacuum(loc: StoreLocation, *, retain_days: int, dry_run: bool = False, keep_versions: Sequence[int] = (),
           accept_unreadable: bool = False, command: str = "store vacuum") -> MaintenanceReport:
    """Delete data files older than ``retain_days`` that no current table version uses (Delta VACUUM).

    The store versions that would read a deleted file are named first (``rep.unreadable``); every
    data file of the store versions in ``keep_versions`` is kept. A real run that would leave any
    store version unreadable is refused (IML-STORE-014) unless ``accept_unreadable``; the vacuum's
    store version records the versions it made unreadable, so reading one later says so.
    """
    rep = MaintenanceReport()
    records = read_versions(loc)
    latest = records[-1].store_version if records else 0
    missing = sorted({int(n) for n in keep_versions if not 1 <= int(n) <= latest})
    if missing:
        raise StoreError("IML-STORE-011", f"store version {version_ranges(missing)} to keep does not exist "
                         f"(latest is {latest})", path=loc.uri, hint="List versions with `immunolab log --store S`.")
    keep: dict[str, set[int]] = {}  # table -> the Delta versions the kept store versions read
    for n in keep_versions:
        for name, v in Store(loc, records, int(n)).table_versions.items():
            keep.setdefault(name, set()).add(v)
    hours = int(retain_days * 24)
    doomed: dict[str, set[str]] = {}
    for name in _tables(loc):
        try:
            dt = open_table(loc, name)
            # delta-rs lists expired tombstones whether or not their files are still there: count only
            # files that exist, and skip a vacuum with nothing to delete (it would still write commits)
            expired = dt.vacuum(retention_hours=hours, dry_run=True, enforce_retention_duration=False,
                                keep_versions=sorted(keep.get(name, ())) or None)
            doomed[name] = {rel for rel in expired if loc.exists("tables", name, rel)}
        except Exception as exc:
            raise delta_error(exc, loc, f"vacuum table {name}") from None
    rep.unreadable = versions_reading(loc, records, {n: {r.rsplit("/", 1)[-1] for r in f} for n, f in doomed.items()})
    if rep.unreadable and not dry_run and not accept_unreadable:
        raise InputError("IML-STORE-014", f"vacuum would leave store versions {version_ranges(rep.unreadable)} "
                         f"unreadable: it deletes data files older than {retain_days} day(s) that they need",
                         path=loc.uri, hint="Nothing was deleted. Keep a locked version readable with "
                         "--keep-version N, raise --retain-days, or pass --yes to make them unreadable.")
    removed_total = 0
    versions: dict[str, int] = {}  # delta-rs logs a deleting vacuum as table commits: the store version records them
    for name, removed in doomed.items():
        try:
            if removed and not dry_run:
                dt = open_table(loc, name)
                before = int(dt.version())
                dt.vacuum(retention_hours=hours, dry_run=False, enforce_retention_duration=False,
                          keep_versions=sorted(keep.get(name, ())) or None)
                dt.update_incremental()
                # this vacuum's own last commit, not a batch another writer may have committed meanwhile
                ends = [int(h["version"]) for h in dt.history(int(dt.version()) - before)
                        if h.get("operation") == "VACUUM END" and "version" in h]
                if ends:
                    versions[name] = max(ends)
        except Exception as exc:
            raise delta_error(exc, loc, f"vacuum table {name}") from None
        removed_total += len(removed)
        rep.tables[name] = {"files deleted" if not dry_run else "files that would be deleted": len(removed)}
    if (removed_total or versions) and not dry_run:
        lost = f"; store versions {version_ranges(rep.unreadable)} can no longer be read" if rep.unreadable else ""
        rec = VersionRecord(0, "vacuum", summary=f"vacuumed {removed_total} file(s) older than {retain_days} day(s){lost}",
                            tables=versions, actions=rep.lines(),
                            inputs={"retain_days": retain_days, "keep_versions": sorted({int(n) for n in keep_versions}),
                                    "unreadable_versions": rep.unreadable})
        done = append_version(loc, lambda _s: rec, seen=latest_version(loc), command=command)
        rep.store_version = done.store_version if done else None
    return rep


def orphan_commit_ids(loc: StoreLocation) -> dict[str, set[str]]:
    """Return table -> commit ids present in the table but listed by no store version nor live batch."""
    import pyarrow.compute as pc

    from immunolab.store.read import open_store
    from immunolab.store.writer import pending_batches

    store = open_store(loc)
    committed = set(store.commit_version)
    live = {c for m, alive in pending_batches(loc) if alive for c in m.get("commit_ids", [])}
    out: dict[str, set[str]] = {}
    for name in _tables(loc):
        dt = open_table(loc, name)
        ids = pc.unique(read_delta(loc, name, int(dt.version()), columns=["commit_id"]).column("commit_id"))
        extra = {i for i in ids.to_pylist() if i not in committed and i not in live}
        if extra:
            out[name] = extra
    return out


def purge_orphans(loc: StoreLocation, *, command: str = "store recover") -> MaintenanceReport:
    """Delete rows no store version lists (see the module docstring); record it as a store version."""
    rep = MaintenanceReport()
    orphans = orphan_commit_ids(loc)
    versions: dict[str, int] = {}
    files: list[dict[str, Any]] = []
    for name, ids in orphans.items():
        quoted = ", ".join("'" + i.replace("'", "''") + "'" for i in sorted(ids))
        try:
            seen: dict[str, set[str]] = {}

            def _delete(d: Any, q: str = quoted, s: dict[str, set[str]] = seen) -> Any:
                s["old"] = active_files(d)
                return d.delete(f"commit_id IN ({q})")

            dt, metrics = retry_conflicts(loc, name, _delete)
            dt.update_incremental()
            files.extend(describe_files(loc, name, active_files(dt) - seen["old"]))
        except Exception as exc:
            raise delta_error(exc, loc, f"purge table {name}") from None
        versions[name] = int(dt.version())
        rep.tables[name] = {"rows deleted": int(metrics.get("num_deleted_rows", 0) or 0), "commit ids": len(ids)}
    if versions:
        rec = VersionRecord(0, "recover", summary="deleted rows no store version lists", tables=versions,
                            actions=rep.lines(), files=files)
        done = append_version(loc, lambda _s: rec, seen=latest_version(loc), command=command)
        rep.store_version = done.store_version if done else None
    return rep
