"""Store versions: the commit log of a store, one hash-chained row per commit, in a Delta table.

A store version is one commit of the store: an ingest batch (or a chunk of one), an identity
change, a derivation, a QC decision, a recovery, an upgrade. Its row records the Delta version of
every table it touched, the ``commit_id`` of every unit of work it makes visible, who, when, why,
software versions and input hashes, and the outcome of every file it covered.

The row of store version *N* is the only row of Delta version *N* of ``versions/``: appends are
made with no automatic retry, so two writers cannot both become version *N*; the loser re-reads,
re-checks its batch against what the winner committed (exactly once per file) and tries *N+1*.
``prev_hash``/``record_hash`` chain the rows: editing, inserting or deleting one breaks the chain.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from immunolab.errors import StoreError
from immunolab.store.location import StoreLocation

__all__ = [
    "GENESIS",
    "VERSIONS_SCHEMA",
    "VersionRecord",
    "append_version",
    "create_versions_table",
    "read_versions",
    "record_hash",
    "vacuumed_versions",
    "version_ranges",
]

GENESIS = "0" * 64
VERSIONS_DIR = "versions"
MAX_ATTEMPTS = 200

VERSIONS_SCHEMA = pa.schema([
    pa.field("store_version", pa.int64(), nullable=False),
    pa.field("kind", pa.string()),
    pa.field("summary", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("commit_ids", pa.list_(pa.string())),
    pa.field("tables_json", pa.string()),
    pa.field("files_json", pa.string()),
    pa.field("attempts_json", pa.string()),
    pa.field("inputs_json", pa.string()),
    pa.field("actions_json", pa.string()),
    pa.field("user", pa.string()),
    pa.field("host", pa.string()),
    pa.field("command", pa.string()),
    pa.field("created_at", pa.timestamp("us", tz="UTC")),
    pa.field("immunolab_version", pa.string()),
    pa.field("software_json", pa.string()),
    pa.field("prev_hash", pa.string()),
    pa.field("record_hash", pa.string()),
])
_JSON_FIELDS = {"tables_json": "tables", "files_json": "files", "attempts_json": "attempts",
                "inputs_json": "inputs", "actions_json": "actions", "software_json": "software"}


@dataclass
class VersionRecord:
    """One store version (see the module docstring); JSON columns are decoded."""

    store_version: int
    kind: str
    summary: str = ""
    reason: str | None = None
    commit_ids: list[str] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)
    user: str = ""
    host: str = ""
    command: str = ""
    created_at: datetime | None = None
    immunolab_version: str = ""
    software: dict[str, str] = field(default_factory=dict)
    prev_hash: str = GENESIS
    record_hash: str = ""

    def row(self) -> dict[str, Any]:
        """Return the Delta row of this record (JSON columns encoded canonically)."""
        out: dict[str, Any] = {}
        for name in VERSIONS_SCHEMA.names:
            if name in _JSON_FIELDS:
                out[name] = json.dumps(getattr(self, _JSON_FIELDS[name]), sort_keys=True, separators=(",", ":"),
                                       default=str)
            else:
                out[name] = getattr(self, name)
        return out

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> VersionRecord:
        """Decode a Delta row."""
        kwargs: dict[str, Any] = {}
        for name in VERSIONS_SCHEMA.names:
            value = row.get(name)
            if name in _JSON_FIELDS:
                kwargs[_JSON_FIELDS[name]] = json.loads(value) if value else ({} if name in (
                    "tables_json", "inputs_json", "software_json") else [])
            elif name == "commit_ids":
                kwargs[name] = list(value or [])
            else:
                kwargs[name] = value
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for ``immunolab log --json``)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["created_at"] = self.created_at.isoformat() if self.created_at else None
        return d


def record_hash(rec: VersionRecord) -> str:
    """Return the SHA-256 of the record's canonical row, excluding ``record_hash``."""
    row = rec.row()
    row.pop("record_hash", None)
    if isinstance(row.get("created_at"), datetime):
        row["created_at"] = row["created_at"].isoformat(timespec="microseconds")
    blob = json.dumps(row, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def vacuumed_versions(records: Sequence[VersionRecord]) -> dict[int, VersionRecord]:
    """Return store version -> the ``vacuum`` record that deleted data files it needs (it cannot be read)."""
    out: dict[int, VersionRecord] = {}
    for rec in records:
        if rec.kind == "vacuum":
            for n in rec.inputs.get("unreadable_versions") or []:
                out.setdefault(int(n), rec)
    return out


def version_ranges(numbers: Sequence[int]) -> str:
    """Return store version numbers as ranges, e.g. ``[1, 2, 3, 5]`` -> ``"1-3, 5"``."""
    parts: list[str] = []
    for n in sorted(set(numbers)):
        if parts and n == int(parts[-1].rsplit("-", 1)[-1]) + 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{n}"
        else:
            parts.append(str(n))
    return ", ".join(parts)


def _uri(loc: StoreLocation) -> str:
    return loc.join(VERSIONS_DIR)


def create_versions_table(loc: StoreLocation) -> None:
    """Create the empty ``versions`` Delta table (store version 0) unless it exists."""
    from deltalake import DeltaTable

    try:
        DeltaTable.create(_uri(loc), schema=VERSIONS_SCHEMA, mode="ignore", name="versions",
                          description='{"immunolab":"store versions"}', storage_options=loc.delta_options())
    except Exception as exc:  # another process created it at the same moment, or the disk is full
        try:
            DeltaTable(_uri(loc), storage_options=loc.delta_options())
        except Exception:
            raise OSError(f"cannot create the versions table ({exc})") from None


def _open(loc: StoreLocation, version: int | None = None) -> Any:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(_uri(loc), version=version, storage_options=loc.delta_options())
    except TableNotFoundError:
        raise StoreError("IML-STORE-004", "the store's versions table is missing", path=loc.uri,
                         hint="The commit log was deleted: restore versions/ from a backup; `immunolab verify` "
                         "lists what is affected.") from None


def read_versions(loc: StoreLocation, *, after: int = 0, dt: Any = None) -> list[VersionRecord]:
    """Return the store versions after ``after`` (all by default), oldest first."""
    import pyarrow.dataset as ds

    dt = dt if dt is not None else _open(loc)
    try:
        from immunolab.store.tables import _fs_paths

        uris = _files_after(dt, after) if after else dt.file_uris()
        dataset = ds.dataset(_fs_paths(loc, uris), schema=VERSIONS_SCHEMA, format="parquet", filesystem=loc.fs)
        table = dataset.to_table(filter=ds.field("store_version") > after) if after else dataset.to_table()
    except OSError as exc:
        raise StoreError("IML-STORE-004", f"the store's commit log cannot be read ({exc})", path=loc.uri,
                         hint="A file of versions/ was altered or removed: run `immunolab verify` and restore "
                         "versions/ from a backup.") from None
    except Exception as exc:  # pyarrow/delta-rs errors of a damaged log
        raise StoreError("IML-STORE-004", f"the store's commit log cannot be read ({type(exc).__name__})",
                         path=loc.uri, hint="A file of versions/ was altered or removed: run `immunolab verify` "
                         "and restore versions/ from a backup.") from None
    rows = sorted(table.to_pylist(), key=lambda r: r["store_version"])
    return [VersionRecord.from_row(r) for r in rows]


def _files_after(dt: Any, after: int) -> list[str]:
    """Return the data files of the versions table that may hold store versions after ``after``.

    Each commit appends one small file: choosing them by the min/max statistics of the Delta log
    (in memory) keeps a commit from opening every earlier record's file, which made each commit
    cost O(commits so far).
    """
    uris = list(dt.file_uris())
    try:
        actions = pa.table(dt.get_add_actions(flatten=True))
        highest = dict(zip((p.rsplit("/", 1)[-1] for p in actions.column("path").to_pylist()),
                           actions.column("max.store_version").to_pylist(), strict=True))
    except Exception:  # no statistics (a table written by other software): read every file
        return uris
    return [u for u in uris if (m := highest.get(u.rsplit("/", 1)[-1])) is None or int(m) > after]


def latest_version(loc: StoreLocation) -> int:
    """Return the number of the latest store version (0 for an empty store)."""
    return int(_open(loc).version())


def _software() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("deltalake", "pyarrow", "numpy", "pandas"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


Build = Callable[[Sequence[VersionRecord]], "VersionRecord | None"]


def append_version(loc: StoreLocation, build: Build, *, seen: int, command: str = "") -> VersionRecord | None:
    """Append the record ``build`` returns as the next store version; return it (None: nothing to commit).

    ``build`` receives the versions committed after ``seen`` (the version the caller's checks were
    made against) and returns the record to append (its number, chain and identity fields are
    filled here) or None. It is called again, with the longer list, each time another writer
    committed first. A failed or short write raises IML-STORE-003: nothing is reported committed.
    """
    from deltalake import write_deltalake
    from deltalake.exceptions import CommitFailedError
    from deltalake.transaction import CommitProperties

    from immunolab import __version__

    dt = _open(loc)
    since: list[VersionRecord] = read_versions(loc, after=seen, dt=dt) if dt.version() > seen else []
    for attempt in range(MAX_ATTEMPTS):
        latest = int(dt.version())
        rec = build(since)
        if rec is None:
            return None
        prev = since[-1] if since and since[-1].store_version == latest else None
        if prev is None and latest > 0:
            last = read_versions(loc, after=latest - 1, dt=dt)
            prev = last[-1] if last else None
        rec.store_version = latest + 1
        rec.prev_hash = prev.record_hash if prev is not None else GENESIS
        rec.user = rec.user or _user()
        rec.host = rec.host or socket.gethostname()
        rec.command = rec.command or command
        rec.created_at = datetime.now(UTC)
        rec.immunolab_version = __version__
        rec.software = rec.software or _software()
        rec.record_hash = record_hash(rec)
        table = pa.Table.from_pylist([rec.row()], schema=VERSIONS_SCHEMA)
        try:
            write_deltalake(dt, table, mode="append",
                            commit_properties=CommitProperties(max_commit_retries=0,
                                                               custom_metadata={"immunolab_store_version": rec.store_version}))
            return rec
        except CommitFailedError:
            time.sleep(random.uniform(0.005, 0.05) * min(attempt + 1, 10))
            dt.update_incremental()
            since = read_versions(loc, after=seen, dt=dt)
        except OSError as exc:
            from immunolab.store.layout import os_error

            raise os_error(exc, loc, "write the commit record of") from None
        except Exception as exc:  # delta-rs reports a full disk or a read-only store with its own types
            from immunolab.store.tables import delta_error

            raise delta_error(exc, loc, "write the commit record") from None
    raise StoreError("IML-STORE-002", f"could not commit after {MAX_ATTEMPTS} attempts: other writers kept committing first",
                     path=loc.uri, hint="Re-run later; nothing of this batch is visible.")
