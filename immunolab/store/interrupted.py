"""Find and record the table commits an interrupted ``store compact`` left behind.

Compaction commits each table's Delta OPTIMIZE on its own and then appends one store version: a
writer killed in between leaves OPTIMIZE commits, and the data files they added, that no store
version records. An OPTIMIZE only rewrites rows into fewer files (every action it logs has
``dataChange`` false), so the rows and every query result are the same before and after it:
recording its Delta version in a store version of kind ``recover`` is safe, and is what
:func:`adopt_compactions` does (run by ``store recover``, ``verify --repair``, ``store compact``,
and by the next writer when a compaction's pending marker is left by a dead process).

Only commits proven to change no rows are adopted: OPTIMIZE commits whose actions all have
``dataChange`` false, and the VACUUM START/END commits delta-rs logs around a deleting vacuum.
Anything else (a batch's WRITE, a DELETE) is left to the batch recovery or reported by verify.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from immunolab.store.location import StoreLocation
from immunolab.store.tables import active_files, describe_files, open_table, stored_tables
from immunolab.store.versions import VersionRecord, append_version, latest_version, read_versions

__all__ = ["UnrecordedCompaction", "adopt_compactions", "compaction_running", "find_unrecorded_compactions"]

#: operations of commits that change no rows (OPTIMIZE must also log every action with dataChange false)
_ROWLESS_OPERATIONS = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})


@dataclass
class UnrecordedCompaction:
    """What an interrupted compaction left in one table that no store version records."""

    table: str
    #: highest Delta version to record (None: a store version already records a version that high)
    version: int | None = None
    #: unrecorded Delta commits up to ``version`` (all of them change no rows)
    commits: int = 0
    #: every unrecorded commit after the recorded version changes no rows (False: others follow)
    covers_all: bool = True
    #: active data files an OPTIMIZE commit added that no store version records
    files: set[str] = field(default_factory=set)
    #: the operations of the unrecorded commits up to ``version``
    operations: list[str] = field(default_factory=list)


def _commit(loc: StoreLocation, name: str, version: int) -> list[dict[str, Any]] | None:
    """Return the actions of one Delta commit of table ``name`` (None: its log file is gone)."""
    try:
        text = loc.read_bytes("tables", name, "_delta_log", f"{version:020d}.json").decode()
    except (OSError, FileNotFoundError):
        return None
    out = []
    for line in text.splitlines():
        try:
            action = json.loads(line)
        except ValueError:
            return None
        if isinstance(action, dict):
            out.append(action)
    return out


def _operation(actions: list[dict[str, Any]] | None) -> str:
    """Return the operation name a commit's ``commitInfo`` logs ("" when there is none)."""
    info: dict[str, Any] = next((a["commitInfo"] for a in actions or [] if isinstance(a.get("commitInfo"), dict)), {})
    return str(info.get("operation") or "")


def _changes_no_rows(actions: list[dict[str, Any]] | None) -> bool:
    """Return True when a commit's actions are a compaction or a vacuum: rows unchanged."""
    if actions is None or _operation(actions) not in _ROWLESS_OPERATIONS:
        return False
    return all(not a[k].get("dataChange", True) for a in actions for k in ("add", "remove")
               if isinstance(a.get(k), dict))


def _added_by_compaction(loc: StoreLocation, name: str, wanted: set[str]) -> set[str]:
    """Return the files of ``wanted`` that a row-preserving OPTIMIZE commit of table ``name`` added."""
    out: set[str] = set()
    for rel, _size, _mtime in loc.list_files("tables", name, "_delta_log"):
        if not rel.endswith(".json") or not rel[:-5].isdigit():
            continue
        actions = _commit(loc, name, int(rel[:-5]))
        added = {str(a["add"].get("path", "")).rsplit("/", 1)[-1] for a in actions or [] if isinstance(a.get("add"), dict)}
        if added & wanted and _changes_no_rows(actions):
            out |= added & wanted
    return out


def find_unrecorded_compactions(loc: StoreLocation, records: Sequence[VersionRecord]) -> dict[str, UnrecordedCompaction]:
    """Return table -> the row-preserving commits and files no store version in ``records`` records."""
    recorded_files = {(str(f.get("table")), str(f.get("path"))) for r in records for f in r.files}
    recorded: dict[str, int] = {}
    for r in records:
        for name, v in r.tables.items():
            recorded[name] = max(recorded.get(name, -1), int(v))
    out: dict[str, UnrecordedCompaction] = {}
    for name in stored_tables(loc):
        dt = open_table(loc, name)
        latest = int(dt.version())
        found = UnrecordedCompaction(name)
        for v in range(recorded.get(name, 0) + 1, latest + 1):
            actions = _commit(loc, name, v)
            if not _changes_no_rows(actions):
                found.covers_all = False
                break
            found.version, found.commits = v, found.commits + 1
            found.operations.append(_operation(actions))
        if "OPTIMIZE" not in found.operations:  # a killed vacuum alone is verify's note, not a compaction
            found.version, found.commits, found.operations = None, 0, []
        unrecorded = {f for f in active_files(dt) if (name, f) not in recorded_files}
        if unrecorded:
            found.files = _added_by_compaction(loc, name, unrecorded)
        if found.version is not None or found.files:
            out[name] = found
    return out


def compaction_running(loc: StoreLocation) -> bool:
    """Return True when the pending marker of a ``store compact`` whose process may be alive exists."""
    from immunolab.store.writer import COMPACTION, pending_batches

    return any(alive and m.get("kind") == COMPACTION for m, alive in pending_batches(loc))


def adopt_compactions(loc: StoreLocation, *, command: str = "store recover", force: bool = False) -> list[str]:
    """Record, as one store version of kind ``recover``, what interrupted compactions left; return the actions.

    Nothing is done while a compaction is running (it records its own commits), unless ``force``.
    """
    if not force and compaction_running(loc):
        return []
    found = find_unrecorded_compactions(loc, read_versions(loc))
    if not found:
        return []
    tables = {name: f.version for name, f in found.items() if f.version is not None}
    files: list[dict[str, Any]] = []
    actions: list[str] = []
    for name, f in sorted(found.items()):
        files.extend(describe_files(loc, name, f.files))
        ops = ", ".join(dict.fromkeys(f.operations))
        what = f"{f.commits} Delta commit(s) ({ops}) up to version {f.version}" if f.version is not None \
            else "no new commit"
        actions.append(f"recorded the interrupted compaction of table {name}: {what}, {len(f.files)} data file(s)")
    rec = VersionRecord(0, "recover", summary=f"recorded an interrupted compaction of {len(found)} table(s)",
                        reason="a `store compact` stopped before its store version; compaction changes no rows",
                        tables={k: int(v) for k, v in tables.items() if v is not None}, files=files, actions=actions)
    append_version(loc, lambda _s: rec, seen=latest_version(loc), command=command)
    return actions
