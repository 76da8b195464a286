"""Write a batch into a store: intent marker, one Delta commit per table, then the store version.

Protocol (each step is atomic on its own; the store version is the commit point):

1. ``begin``: write ``pending/<batch>.json`` naming the batch, its owner (host, pid) and every
   ``commit_id`` it may write;
2. workers write data files into the tables' folders (invisible to every Delta reader);
3. ``commit``: per table, one Delta transaction adding that batch's files;
4. append the store version listing the batch's ``commit_id`` s: from now on the API shows the
   batch; then delete the pending marker.

A crash before step 4 leaves rows that no store version lists: the API never shows them, and
:func:`recover` (run by the next writer, ``immunolab store recover`` and ``verify --repair``)
deletes them with Delta's own DELETE and records what it rolled back as a store version.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from immunolab.errors import StoreError
from immunolab.schema import conform
from immunolab.store.location import StoreLocation
from immunolab.store.tables import DataFile, commit_files, delta_error, write_data_file
from immunolab.store.versions import VersionRecord, append_version, latest_version

__all__ = ["Batch", "new_id", "pending_batches", "recover"]

PENDING = "pending"
#: the ``kind`` of a pending marker a ``store compact`` writes (it commits no rows: recovery records it)
COMPACTION = "compact"
#: a pending batch of another host is presumed dead after this long
STALE_SECONDS = 6 * 3600


def new_id(prefix: str) -> str:
    """Return a new time-sortable id such as ``ing-20261130T061720-3f9a2b1c``."""
    return f"{prefix}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"


@dataclass
class Batch:
    """One batch of writes that becomes one store version (or nothing)."""

    loc: StoreLocation
    kind: str
    command: str = ""
    batch_id: str = field(default_factory=lambda: new_id("bat"))
    seen: int = 0
    rows: dict[str, list[pa.Table]] = field(default_factory=lambda: defaultdict(list))
    files: dict[str, list[DataFile]] = field(default_factory=lambda: defaultdict(list))
    commit_ids: list[str] = field(default_factory=list)
    started: bool = False
    #: tables that received a Delta commit of this batch not yet covered by a store version
    exposed: set[str] = field(default_factory=set)

    def begin(self, commit_ids: Sequence[str] = ()) -> Batch:
        """Write the pending marker (before any data file) and remember the version the checks saw."""
        self.commit_ids = list(dict.fromkeys(commit_ids))
        marker = {"batch_id": self.batch_id, "kind": self.kind, "host": socket.gethostname(), "pid": os.getpid(),
                  "started": time.time(), "commit_ids": self.commit_ids}
        try:
            self.loc.write_bytes(json.dumps(marker).encode(), PENDING, f"{self.batch_id}.json")
        except OSError as exc:
            from immunolab.store.layout import os_error

            raise os_error(exc, self.loc, "write to") from None
        self.started = True
        return self

    def expect(self, commit_ids: Sequence[str]) -> None:
        """Add ``commit_ids`` to the pending marker (units decided after ``begin``)."""
        new = [c for c in commit_ids if c not in self.commit_ids]
        if new:
            self.begin([*self.commit_ids, *new])

    def add_rows(self, name: str, table: pa.Table, *, who: str = "immunolab") -> None:
        """Queue rows for table ``name`` (validated against its schema now)."""
        if table.num_rows:
            self.rows[name].append(conform(name, table, who=who))

    def add_file(self, data_file: DataFile) -> None:
        """Queue a data file a worker already wrote into a table's folder."""
        self.files[data_file.table].append(data_file)

    def flush_rows(self) -> None:
        """Write queued rows as one data file per table (called by :meth:`commit`)."""
        for name, parts in list(self.rows.items()):
            if not parts:
                continue
            table = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
            self.files[name].append(write_data_file(self.loc, name, table, batch=self.batch_id, unit="rows"))
        self.rows.clear()

    def commit(self, build: Callable[[Sequence[VersionRecord]], VersionRecord | None], *,
               final: bool = True) -> VersionRecord | None:
        """Commit the queued tables, then append the store version ``build`` returns (the commit point).

        ``build(versions_since)`` sees the versions other writers committed since :attr:`seen` and
        returns the record (listing the ``commit_ids`` to make visible) or None to commit nothing.
        A large batch commits in chunks: ``final=False`` keeps the pending marker for the next one.
        """
        if not self.started:
            self.begin(self.commit_ids)
        self.flush_rows()
        tables: dict[str, int] = {}
        file_records: list[dict[str, Any]] = []
        for name, files in sorted(self.files.items()):
            if not files:
                continue
            schema = _union_schema(self.loc, name, files)
            tables[name] = commit_files(self.loc, name, files, schema, batch=self.batch_id)
            self.exposed.add(name)
            file_records.extend(f.to_dict() for f in files)
            self.files[name] = []  # in the table now: an abort rolls them back by DELETE (deleting them broke that)

        def _build(since: Sequence[VersionRecord]) -> VersionRecord | None:
            rec = build(since)
            if rec is not None:
                rec.tables = {**tables, **rec.tables}
                rec.files = [*file_records, *rec.files]
                rec.inputs = {**rec.inputs, "batch_id": self.batch_id}
            return rec

        rec = append_version(self.loc, _build, seen=self.seen, command=self.command)
        self.exposed.clear()
        self.files.clear()
        if final:
            self.finish()
        return rec

    def finish(self) -> None:
        """Delete the pending marker (the batch is fully committed or was empty)."""
        if self.started:
            self.loc.delete(PENDING, f"{self.batch_id}.json")
            self.started = False

    def abort(self) -> None:
        """Forget what is not committed: data files, and rows already in tables (rolled back now, or
        by the next writer if that fails: the pending marker stays until they are gone)."""
        for files in self.files.values():
            for f in files:
                self.loc.delete("tables", f.table, f.path)
        self.files.clear()
        self.rows.clear()
        if self.exposed:
            try:
                from immunolab.store.read import open_store

                committed = set(open_store(self.loc).commit_version)
                rewritten: tuple[dict[str, int], list[dict[str, Any]]] = ({}, [])
                done = _roll_back(self.loc, self.batch_id, [c for c in self.commit_ids if c not in committed], rewritten)
                if done:
                    rec = VersionRecord(0, "recover", summary=f"rolled back failed batch {self.batch_id}",
                                        reason="the batch failed before its commit record", actions=done,
                                        tables=rewritten[0], files=rewritten[1])
                    append_version(self.loc, lambda _s: rec, seen=latest_version(self.loc), command=self.command)
                self.exposed.clear()
            except Exception:  # leave the marker: recovery finishes the job
                return
        if self.started:
            self.loc.delete(PENDING, f"{self.batch_id}.json")
            self.started = False


def _union_schema(loc: StoreLocation, name: str, files: list[DataFile]) -> pa.Schema:
    """Return the table schema extended by the columns of ``files`` (per-event channel columns)."""
    import pyarrow.parquet as pq

    from immunolab.schema import table_spec

    spec = table_spec(name)
    if spec.extra_column_type is None:
        return spec.schema
    names = list(spec.schema.names)
    fields = list(spec.schema)
    for f in files:
        with loc.fs.open_input_file(loc.fs_path("tables", name, f.path)) as fh:
            for fld in pq.read_schema(fh):
                if fld.name not in names:
                    names.append(fld.name)
                    fields.append(pa.field(fld.name, spec.extra_column_type))
    return pa.schema(fields)


# --------------------------------------------------------------------------- recovery


def _alive(marker: dict[str, Any]) -> bool:
    """Return True when the process that wrote ``marker`` may still be running."""
    if marker.get("host") == socket.gethostname():
        try:
            os.kill(int(marker.get("pid", -1)), 0)
        except ProcessLookupError:
            return False
        except (PermissionError, ValueError):
            return True
        return True
    return time.time() - float(marker.get("started", 0)) < STALE_SECONDS


def pending_batches(loc: StoreLocation) -> list[tuple[dict[str, Any], bool]]:
    """Return (marker, alive) for every pending batch of the store."""
    out: list[tuple[dict[str, Any], bool]] = []
    for rel, _size, _mtime in loc.list_files(PENDING):
        if not rel.endswith(".json"):
            continue
        try:
            marker = json.loads(loc.read_bytes(PENDING, rel))
        except (OSError, ValueError):
            continue
        out.append((marker, _alive(marker)))
    return out


def recover(loc: StoreLocation, *, force: bool = False, command: str = "recover") -> list[str]:
    """Roll back batches whose writer died before committing; return one line per action.

    Rows of such a batch are deleted from every table with Delta DELETE, its uncommitted data
    files are removed, and a store version of kind ``recover`` records what was done. ``force``
    also rolls back batches whose owner looks alive (use only when you know it is gone).

    A dead ``store compact`` (its marker's ``kind`` is ``compact``) rolls nothing back: the
    compactions it committed are recorded (see :mod:`immunolab.store.interrupted`), unless another
    compaction is still running.
    """
    from immunolab.store.read import open_store

    markers = pending_batches(loc)
    dead = [m for m, alive in markers if (force or not alive) and m.get("kind") != COMPACTION]
    compactions = [m for m, alive in markers if (force or not alive) and m.get("kind") == COMPACTION]
    actions: list[str] = []
    if dead:
        actions.extend(_recover_batches(loc, dead, open_store(loc), command))
    if compactions and (force or not any(alive for m, alive in markers if m.get("kind") == COMPACTION)):
        from immunolab.store.interrupted import adopt_compactions

        actions.extend(adopt_compactions(loc, command=command, force=True))
        for marker in compactions:
            loc.delete(PENDING, f"{marker.get('batch_id')}.json")
    return actions


def _recover_batches(loc: StoreLocation, dead: list[dict[str, Any]], store: Any, command: str) -> list[str]:
    """Roll back the batches of the ``dead`` markers and record each rollback."""
    committed = set(store.commit_version)
    actions: list[str] = []
    for marker in dead:
        batch = str(marker.get("batch_id"))
        ids = [c for c in marker.get("commit_ids", []) if c not in committed]
        rewritten: tuple[dict[str, int], list[dict[str, Any]]] = ({}, [])
        done = _roll_back(loc, batch, ids, rewritten)
        actions.extend(done)
        if done:
            rec = VersionRecord(store_version=0, kind="recover",
                                summary=f"rolled back interrupted batch {batch} ({len(ids)} unit(s))",
                                reason="the writer died before its commit record", actions=done,
                                tables=rewritten[0], files=rewritten[1])

            def build(_since: Sequence[VersionRecord], r: VersionRecord = rec) -> VersionRecord:
                return r

            append_version(loc, build, seen=latest_version(loc), command=command)
        loc.delete(PENDING, f"{batch}.json")
    return actions


def _roll_back(loc: StoreLocation, batch: str, ids: list[str],
               record: tuple[dict[str, int], list[dict[str, Any]]] | None = None, *, sweep: bool = True) -> list[str]:
    """Delete the rows of ``ids`` and the untracked data files of ``batch`` from every table.

    ``record`` (tables, files) receives each rewritten table's Delta version and new data files.
    """
    from immunolab.store.tables import (
        active_files,
        describe_files,
        open_table,
        retry_conflicts,
        stored_tables,
    )

    actions: list[str] = []
    folders = sorted({rel.split("/", 1)[0] for rel, _s, _m in loc.list_files("tables", recursive=True) if "/" in rel})
    delta = set(stored_tables(loc))
    for name in folders:
        tracked: set[str] = set()
        if name in delta:
            try:
                dt = open_table(loc, name)
                tracked = active_files(dt)
                if ids:
                    quoted = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
                    before: dict[str, set[str]] = {}

                    def _delete(d: Any, q: str = quoted, b: dict[str, set[str]] = before) -> Any:
                        b["files"] = active_files(d)
                        return d.delete(f"commit_id IN ({q})")

                    dt, metrics = retry_conflicts(loc, name, _delete)
                    tracked = before["files"]
                    n = int(metrics.get("num_deleted_rows", 0) or 0)
                    if n:
                        dt.update_incremental()
                        new_files = active_files(dt)
                        actions.append(f"deleted {n} uncommitted row(s) of batch {batch} from table {name}")
                        if record is not None:
                            record[0][name] = int(dt.version())
                            record[1].extend(describe_files(loc, name, new_files - tracked))
                        tracked = new_files
            except Exception as exc:
                raise delta_error(exc, loc, f"roll back table {name}") from None
        for rel, _size, _mtime in loc.list_files("tables", name) if sweep else ():
            if rel.startswith(f"part-{batch}-") and rel not in tracked:
                loc.delete("tables", name, rel)
                actions.append(f"removed uncommitted data file tables/{name}/{rel}")
    return actions


def _raise_if_none(rec: VersionRecord | None, what: str) -> VersionRecord:
    if rec is None:
        raise StoreError("IML-STORE-003", f"{what} was not committed", hint="Re-run the command.")
    return rec
