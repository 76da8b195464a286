"""Stage, commit, publish and recover ingests: nothing half-written is ever visible.

Protocol (DESIGN section 4):

1. ``stage`` (no lock): write every table of the ingest as Parquet into
   ``.staging/<ingest_id>/``, copy the raw input beside them, fsync everything; ``seal``
   (no lock, optional) writes the ``_ingest.json`` record there too.
2. ``commit`` (store lock held): re-check that the bytes are not already committed, write the
   ``_ingest.json`` record unless sealed, then **one atomic rename** ``.staging/<id>`` -> ``commits/<id>``:
   this is the commit point. Then publish: move each table file to
   ``tables/<table>/<id>.parquet`` and the raw copy to ``raw/<sha256>`` (read-only), append the
   audit record, remove the emptied ``commits/<id>``.
3. ``recover`` (lock held, run before every commit and by ``verify``): finish publishing any
   ``commits/<id>`` left by a crash (roll forward) and delete staging folders of dead processes
   (roll back). A crash at any instant therefore leaves either no trace of the ingest or the
   whole ingest, once the next writer or ``verify`` has run.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from immunolab.errors import StoreError
from immunolab.store import fsops
from immunolab.store.legacy.audit import AuditLog
from immunolab.store.legacy.layout import StorePaths

__all__ = ["StagedIngest", "commit", "new_ingest_id", "recover", "refresh_ingests_table", "seal", "stage"]

RAW_NAME = "raw.bin"
RECORD_NAME = "_ingest.json"
OWNER_NAME = "_owner.json"
STALE_STAGING_SECONDS = 24 * 3600


def new_ingest_id() -> str:
    """Return a new, time-sortable, never-numeric ingest id (``ing-20261125T112512-3f9a2b1c``)."""
    return f"ing-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"


CHUNK = 1 << 22


def hash_file(path: Path, *, head: int = 0, copy_to: Path | None = None) -> tuple[str, bytes]:
    """Return the hex SHA-256 of a file and its first ``head`` bytes, reading it once.

    With ``copy_to`` the bytes are written there as they are hashed, so the digest is that of
    the copy (streamed 4 MiB at a time).
    """
    h = hashlib.sha256()
    first = b""
    with open(path, "rb") as fh, (open(copy_to, "wb") if copy_to is not None else contextlib.nullcontext()) as out:
        while block := fh.read(CHUNK):
            if len(first) < head:
                first += block[: head - len(first)]
            h.update(block)
            if out is not None:
                out.write(block)
    return h.hexdigest(), first


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file's bytes (streamed, 4 MiB at a time)."""
    return hash_file(path)[0]


@dataclass
class StagedIngest:
    """An ingest written to its staging folder, ready to commit."""

    ingest_id: str
    folder: Path
    source_sha256: str
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    has_raw: bool = False
    sealed: dict[str, Any] | None = None


def _io_error(exc: OSError, where: Path) -> StoreError:
    return StoreError(
        "IML-STORE-003",
        f"writing the store failed ({exc.strerror or exc})",
        path=where,
        hint="Check free disk space and permissions, then re-run: nothing was committed.",
    )


def stage(
    paths: StorePaths,
    ingest_id: str,
    tables: dict[str, pa.Table],
    *,
    source: Path,
    source_sha256: str,
) -> StagedIngest:
    """Write ``tables`` and a raw copy of ``source`` into a fresh staging folder (no lock needed)."""
    folder = paths.staging / ingest_id
    staged = StagedIngest(ingest_id, folder, source_sha256)
    try:
        folder.mkdir(parents=True)
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        (folder / OWNER_NAME).write_text(json.dumps(owner))
        for name, table in tables.items():
            target = folder / f"{name}.parquet"
            fsops.write_file(target, functools.partial(_write_parquet, table, always_zstd=name in ALWAYS_ZSTD))
            staged.rows[name] = table.num_rows
            staged.files[name] = file_sha256(target)
        if not paths.raw_file(source_sha256).exists():
            raw = folder / RAW_NAME
            copied: list[str] = []
            fsops.write_file(raw, lambda p: copied.append(hash_file(source, copy_to=p)[0]))
            if copied[0] != source_sha256:
                raise StoreError(
                    "IML-STORE-003",
                    "the input file changed while it was being ingested",
                    path=folder.name,
                    hint="Wait until the instrument has finished writing the file, then re-run.",
                )
            staged.has_raw = True
        fsops.fsync_dir(folder)
    except OSError as exc:
        discard(folder)
        raise _io_error(exc, paths.root) from None
    except BaseException:
        discard(folder)
        raise
    return staged


#: tables below this many rows are written with snappy: zstd's per-column set-up costs more
#: than it saves on a few rows (0.35 ms per table, ~1.4 ms per ingested tube)
ZSTD_MIN_ROWS = 10_000


#: per-event tables are always zstd (issue #3), whatever their size
ALWAYS_ZSTD = frozenset({"flow_events"})


def _write_parquet(table: pa.Table, path: Path, *, always_zstd: bool = False) -> None:
    zstd = always_zstd or table.num_rows >= ZSTD_MIN_ROWS
    pq.write_table(table, path, compression="zstd" if zstd else "snappy")


def discard(folder: Path) -> None:
    """Delete a staging folder (best effort; leftovers are swept by :func:`recover`)."""
    shutil.rmtree(folder, ignore_errors=True)


def seal(paths: StorePaths, staged: StagedIngest, record: dict[str, Any]) -> None:
    """Write the ingest's record into its staging folder, durably, before the lock is taken.

    Optional: :func:`commit` does it itself when it was not done. A sealed staging folder is
    still staging (swept if its process dies); it only saves the commit two fsyncs under the
    store lock, where every writer waits for them.
    """
    record = dict(record, rows=staged.rows, files=staged.files)
    try:
        fsops.write_bytes(staged.folder / RECORD_NAME, json.dumps(record, sort_keys=True, default=str).encode())
        fsops.fsync_dir(staged.folder)
    except OSError as exc:
        discard(staged.folder)
        raise _io_error(exc, paths.root) from None
    staged.sealed = record


def commit(paths: StorePaths, staged: StagedIngest, record: dict[str, Any], log: AuditLog) -> dict[str, Any]:
    """Commit a staged ingest with the store lock held; return the appended audit record.

    ``record`` must be the one given to :func:`seal` when the ingest was sealed.
    """
    final = paths.commits / staged.ingest_id
    try:
        if staged.sealed is None:
            record = dict(record, rows=staged.rows, files=staged.files)
            fsops.write_bytes(staged.folder / RECORD_NAME, json.dumps(record, sort_keys=True, default=str).encode())
            fsops.fsync_dir(staged.folder)
        fsops.rename(staged.folder, final)  # the commit point
    except OSError as exc:
        discard(staged.folder)
        raise _io_error(exc, paths.root) from None
    try:
        fsops.fsync_dir(paths.commits)
        fsops.fsync_dir(paths.staging)
        return _publish(paths, final, log)
    except OSError as exc:
        # committed but not fully published: the next writer or `verify` rolls it forward
        raise StoreError(
            "IML-STORE-003",
            f"the ingest was committed but publishing its files failed ({exc.strerror or exc})",
            path=paths.root,
            hint="Free disk space or fix permissions, then run `immunolab verify`; "
            "the ingest will be completed, not lost or duplicated.",
        ) from None


def _publish(paths: StorePaths, folder: Path, log: AuditLog, *, note: str | None = None) -> dict[str, Any]:
    """Move a committed folder's files to their final places and audit it (idempotent)."""
    record = json.loads((folder / RECORD_NAME).read_text())
    ingest_id = record["ingest_id"]
    touched: set[Path] = set()
    for name in record.get("files", {}):
        src = folder / f"{name}.parquet"
        if src.exists():
            dst_dir = paths.table_dir(name)
            dst_dir.mkdir(parents=True, exist_ok=True)
            fsops.rename(src, paths.table_file(name, ingest_id))
            touched.add(dst_dir)
    raw = folder / RAW_NAME
    if raw.exists():
        dst = paths.raw_file(record["source_sha256"])
        if dst.exists():
            raw.unlink()
        else:
            os.chmod(raw, 0o444)
            fsops.rename(raw, dst)
            touched.add(paths.raw)
    for d in touched:
        fsops.fsync_dir(d)
    committed = log.committed()
    if ingest_id in committed:
        rec = committed[ingest_id]
    else:
        if note:
            record["note"] = note
        rec = log.append(record)
    # No fsync of commits/ for this removal: should a crash undo it, the folder comes back
    # holding only its record, and the next recover() publishes it again as a no-op.
    shutil.rmtree(folder, ignore_errors=True)
    return rec


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(paths: StorePaths, log: AuditLog, *, quick: bool = False) -> list[str]:
    """Roll forward interrupted commits and sweep dead staging folders (lock held).

    Returns one PHI-free line per action taken. ``quick`` (before each commit) looks for an
    interrupted ingests-table rewrite only in ``tables/ingests``, where it is written, instead
    of listing every table folder (which grows by one file per ingest).
    """
    actions: list[str] = []
    if paths.commits.is_dir():
        for folder in sorted(paths.commits.iterdir()):
            if not folder.is_dir():
                continue
            if not (folder / RECORD_NAME).exists():
                shutil.rmtree(folder, ignore_errors=True)
                actions.append(f"removed incomplete commit folder {folder.name}")
                continue
            _publish(paths, folder, log, note="published by recovery after an interrupted ingest")
            actions.append(f"completed interrupted commit {folder.name}")
    if paths.staging.is_dir():
        host = socket.gethostname()
        now = time.time()
        for folder in sorted(paths.staging.iterdir()):
            try:
                owner = json.loads((folder / OWNER_NAME).read_text())
            except (OSError, ValueError):
                owner = None
            age = now - folder.stat().st_mtime if folder.exists() else 0.0
            dead = (
                (owner is None and age > 3600)
                or (owner is not None and owner.get("host") == host and not _pid_alive(int(owner.get("pid", -1))))
                or age > STALE_STAGING_SECONDS
            )
            if dead:
                discard(folder)
                actions.append(f"removed abandoned staging folder {folder.name}")
    pattern = "ingests/.*.tmp" if quick else "*/.*.tmp"
    tmp_marker = list(paths.tables.glob(pattern))
    for p in tmp_marker:
        p.unlink(missing_ok=True)
    return actions


def refresh_ingests_table(paths: StorePaths, log: AuditLog) -> None:
    """Rewrite ``tables/ingests/ingests.parquet`` from the audit log (atomic replace, lock held).

    The audit log is the source of truth; this Parquet mirror (for plain readers) is rebuilt at
    the end of every ingest batch and by ``verify``, so it may lag a batch that is still running.
    """
    d = paths.table_dir("ingests")
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / ".ingests.parquet.tmp"
    table = log.to_table()
    fsops.write_file(tmp, lambda p: pq.write_table(table, p, compression="zstd"))
    fsops.rename(tmp, d / "ingests.parquet")
    fsops.fsync_dir(d)
