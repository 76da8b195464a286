"""The hash-chained audit log: one JSON line per ingest attempt, never rewritten.

Each record carries ``prev_hash`` (the previous record's hash) and ``record_hash`` = SHA-256 of
its canonical JSON without ``record_hash``. Changing, inserting or deleting a record breaks the
chain, which ``immunolab verify`` reports. Appends happen under the store lock; a torn last line
left by a crash is cut off (and said so) before the next append.

Records hold no patient-identifying text: files are named by PHI-safe labels and hashes, and
commands by their option names only.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from immunolab.store import fsops
from immunolab.store.legacy.schema_v1 import SCHEMA_VERSION, TABLES

__all__ = ["GENESIS", "AuditLog", "ChainProblem", "new_record", "record_hash"]

GENESIS = "0" * 64
OUTCOMES = ("COMMITTED", "SKIP", "FAIL")


def record_hash(record: dict[str, Any]) -> str:
    """Return the SHA-256 of ``record``'s canonical JSON, excluding ``record_hash``."""
    body = {k: v for k, v in record.items() if k != "record_hash"}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def new_record(
    *,
    ingest_id: str,
    outcome: str,
    source_sha256: str | None,
    source_label: str,
    source_bytes: int | None,
    command: str,
    plugin: str | None = None,
    plugin_version: str | None = None,
    options: dict[str, Any] | None = None,
    rows: dict[str, int] | None = None,
    files: dict[str, str] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    supersedes: str | None = None,
    supersede_reason: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Return an audit record (without chain fields) for one ingest attempt."""
    from immunolab import __version__

    assert outcome in OUTCOMES
    return {
        "ingest_id": ingest_id,
        "attempted_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "outcome": outcome,
        "source_sha256": source_sha256,
        "source_label": source_label,
        "source_bytes": source_bytes,
        "plugin": plugin,
        "plugin_version": plugin_version,
        "immunolab_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "user": _user(),
        "host": socket.gethostname(),
        "command": command,
        "options": options or {},
        "rows": rows or {},
        "files": files or {},
        "error_code": error_code,
        "error_message": error_message,
        "supersedes": supersedes,
        "supersede_reason": supersede_reason,
        "note": note,
    }


@dataclass(frozen=True)
class ChainProblem:
    """One break in the audit chain found by :meth:`AuditLog.check_chain`."""

    line: int
    message: str


class AuditLog:
    """Append-only, hash-chained JSONL log of ingest attempts.

    One instance may be kept for the life of a process (ingest keeps one per store) and shared
    by threads (a Dask worker runs several tasks at once): reads are incremental and locked.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: list[dict[str, Any]] = []
        self._offset = 0
        self._head = b""
        self._file_id: tuple[int, int] = (0, 0)  # (device, inode): a re-created log is read afresh
        self._lock = threading.RLock()
        self._reset_index()

    def _reset_index(self) -> None:
        """Forget the derived views (committed records, active sources); rebuilt from the cache."""
        self._indexed = 0  # records of the cache folded into the views below
        self._committed: dict[str, dict[str, Any]] = {}
        self._pending_supersede: dict[str, str] = {}  # superseded id seen before its own record
        self._active: dict[str, str] = {}  # source sha256 -> committed, not superseded ingest id

    def records(self) -> list[dict[str, Any]]:
        """Return every complete record in order (a torn last line is ignored).

        The log only grows, so records already read are cached and only new bytes are parsed;
        a log that shrank or whose beginning changed is read again from the start.
        """
        with self._lock:
            self._refresh()
            return list(self._cache)

    def _refresh(self) -> None:
        """Parse the bytes appended since the last read into the cache (lock held)."""
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(256)
                st = os.fstat(fh.fileno())
                size, file_id = st.st_size, (st.st_dev, st.st_ino)
                if size < self._offset or head[: len(self._head)] != self._head or file_id != self._file_id:
                    self._cache, self._offset, self._head = [], 0, b""
                    self._file_id = file_id
                    self._reset_index()
                if size == self._offset:
                    return
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            if self._offset or self._cache:
                self._reset_index()
            self._cache, self._offset, self._head = [], 0, b""
            return
        end = data.rfind(b"\n") + 1  # a torn last line (crash during append) is ignored
        if end == 0:
            return
        for ln in data[:end].split(b"\n"):
            if not ln.strip():
                continue
            try:
                self._cache.append(json.loads(ln))
            except ValueError:
                self._cache.append({"_unreadable": True})
        self._offset += end
        self._head = head[: min(len(head), self._offset)]

    def _index(self) -> None:
        """Fold records read since the last call into the committed and active views (lock held)."""
        for r in self._cache[self._indexed :]:
            if r.get("outcome") != "COMMITTED":
                continue
            rid = r["ingest_id"]
            previous = self._committed.get(rid)
            entry = dict(r, superseded_by=self._pending_supersede.pop(rid, None))
            if previous is not None and previous["superseded_by"] and not entry["superseded_by"]:
                entry["superseded_by"] = previous["superseded_by"]
            self._committed[rid] = entry
            old = r.get("supersedes")
            if old and old in self._committed:
                # a new dict, so that views handed out earlier never change under their holder
                self._committed[old] = dict(self._committed[old], superseded_by=rid)
                self._rebuild_active(self._committed[old].get("source_sha256"))
            elif old:
                self._pending_supersede[old] = rid
            if self._committed[rid]["superseded_by"]:
                self._rebuild_active(entry.get("source_sha256"))
            else:
                self._active[entry.get("source_sha256")] = rid  # type: ignore[index]
        self._indexed = len(self._cache)

    def _rebuild_active(self, sha: str | None) -> None:
        """Recompute the active ingest of one source (rare: after a supersede)."""
        self._active.pop(sha, None)  # type: ignore[arg-type]
        for rid, rec in self._committed.items():
            if rec.get("source_sha256") == sha and not rec["superseded_by"]:
                self._active[sha] = rid  # type: ignore[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records())

    def _repair_torn_tail(self) -> None:
        """Cut a torn last line (crash during append); reads only the tail of the log."""
        try:
            fh = open(self.path, "r+b")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return
        with fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            keep, pos, block = 0, size, 1 << 16
            while pos > 0:  # find the last complete line, reading backwards
                start = max(0, pos - block)
                fh.seek(start)
                chunk = fh.read(pos - start)
                nl = chunk.rfind(b"\n")
                if nl >= 0:
                    keep = start + nl + 1
                    break
                pos = start
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Chain ``record`` to the last one, append it durably and return it (lock held)."""
        self._repair_torn_tail()
        with self._lock:
            self._refresh()
            last = self._cache[-1] if self._cache else None
            count = len(self._cache)
        prev = last.get("record_hash", GENESIS) if last else GENESIS
        rec = dict(record)
        rec["seq"] = (last.get("seq", count - 1) + 1) if last else 0
        rec["prev_hash"] = prev
        rec["record_hash"] = record_hash(rec)
        line = (json.dumps(rec, sort_keys=True, separators=(",", ":"), default=str) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fsops.FAULTS.tick("write")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            fsops.FAULTS.tick("fsync")
            os.fsync(fd)
        finally:
            os.close(fd)
        return rec

    def check_chain(self) -> list[ChainProblem]:
        """Return every place where the hash chain is broken (empty list: intact)."""
        problems: list[ChainProblem] = []
        prev = GENESIS
        for i, rec in enumerate(self.records(), start=1):
            if rec.get("_unreadable"):
                problems.append(ChainProblem(i, "record is not valid JSON (edited by hand?)"))
                prev = "?"
                continue
            if rec.get("prev_hash") != prev and prev != "?":
                problems.append(ChainProblem(i, "record does not follow the previous one (a record was removed or inserted)"))
            if record_hash(rec) != rec.get("record_hash"):
                problems.append(ChainProblem(i, "record content does not match its hash (the record was altered)"))
            prev = rec.get("record_hash", "?")
        return problems

    def committed(self) -> dict[str, dict[str, Any]]:
        """Return COMMITTED records by ingest_id, with ``superseded_by`` filled in.

        Maintained incrementally as the log grows (O(new records) per call, plus a copy of
        the dict); the record dicts in it are shared and must not be modified.
        """
        with self._lock:
            self._refresh()
            self._index()
            return dict(self._committed)

    def active_sources(self) -> dict[str, str]:
        """Return source sha256 -> ingest id of committed ingests that are not superseded."""
        with self._lock:
            self._refresh()
            self._index()
            return dict(self._active)

    def to_table(self) -> pa.Table:
        """Return the log as the ``ingests`` table (superseded_by derived)."""
        recs = [r for r in self.records() if not r.get("_unreadable")]
        superseded: dict[str, str] = {}
        for r in recs:
            if r.get("outcome") == "COMMITTED" and r.get("supersedes"):
                superseded[r["supersedes"]] = r["ingest_id"]
        schema = TABLES["ingests"].schema
        cols: dict[str, list[Any]] = {f.name: [] for f in schema}
        for r in recs:
            for f in schema:
                if f.name == "attempted_at":
                    v: Any = datetime.fromisoformat(r["attempted_at"]) if r.get("attempted_at") else None
                elif f.name == "options_json":
                    v = json.dumps(r.get("options") or {}, sort_keys=True)
                elif f.name == "rows_json":
                    v = json.dumps(r.get("rows") or {}, sort_keys=True)
                elif f.name == "superseded_by":
                    v = superseded.get(r.get("ingest_id", "")) if r.get("outcome") == "COMMITTED" else None
                else:
                    v = r.get(f.name)
                cols[f.name].append(v)
        return pa.table(cols, schema=schema)
