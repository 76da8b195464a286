"""Read a store at one store version, consistently across all tables.

``open_store(S)`` reads the latest store version; ``open_store(S, version=N)`` or
``open_store(S, as_of=datetime)`` an older one (Delta time travel to the table versions that
store version recorded). A row is visible when its ``commit_id`` was committed at or before the
version read, so a batch whose commit record was never written (a crash between table commits,
a concurrent writer still at work) is invisible through this API, whatever the tables hold.

Every table is also readable without immunolab (``deltalake``, Polars, DuckDB, Spark); such
readers see the tables' latest Delta versions, including rows of a batch not yet committed or
rolled back. ``immunolab export parquet`` writes the exact current view for them.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from immunolab.errors import InputError, StoreError
from immunolab.schema import TABLES, VIEWS, table_spec
from immunolab.store.layout import require_store
from immunolab.store.location import StoreLocation, location_for
from immunolab.store.tables import read_delta, table_exists
from immunolab.store.versions import VersionRecord, read_versions, vacuumed_versions

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Store", "open_store"]


class Store:
    """A store opened for reading at one store version (an immutable snapshot)."""

    def __init__(self, loc: StoreLocation, records: list[VersionRecord], version: int) -> None:
        self.loc = loc
        self.version = version
        self.records = [r for r in records if r.store_version <= version]
        self._cache: dict[tuple[str, bool], pa.Table] = {}

    def __repr__(self) -> str:
        return f"Store({self.loc.uri!r}, version={self.version})"

    @property
    def root(self) -> Path | str:
        """Return the local folder (or the URI of an object-store store)."""
        return self.loc.local_root if self.loc.is_local else self.loc.uri

    # ---------------------------------------------------------------- versions

    @cached_property
    def commit_version(self) -> dict[str, int]:
        """Return commit_id -> the store version that made it visible."""
        out: dict[str, int] = {}
        for rec in self.records:
            for cid in rec.commit_ids:
                out.setdefault(cid, rec.store_version)
        return out

    @cached_property
    def table_versions(self) -> dict[str, int]:
        """Return table -> the Delta version to read (the latest recorded up to this store version)."""
        out: dict[str, int] = {}
        for rec in self.records:
            for name, v in rec.tables.items():
                out[name] = max(out.get(name, -1), int(v))
        return out

    @property
    def committed_at(self) -> datetime | None:
        """Return when the store version read was committed (None for the empty store, version 0)."""
        return self.records[-1].created_at if self.records else None

    @cached_property
    def repeated_ingests(self) -> dict[str, list[str]]:
        """Return source_sha256 -> its ingest ids, oldest first, of files committed by more than one ingest.

        A re-parse with a corrected Day 0 (``ingest --supersede`` of the same bytes with another
        subjects file) makes them, as did a same-bytes supersede of older releases (refused since,
        IML-IN-012): reads count each once, from its latest ingest.
        """
        src = self._read("sources", ["source_sha256", "ingest_id", "commit_id"], dedupe=False).to_pylist()
        by_sha: dict[str, list[str]] = {}
        for r in sorted(src, key=lambda r: self.commit_version.get(r["commit_id"], 0)):
            ids = by_sha.setdefault(r["source_sha256"], [])
            if r["ingest_id"] not in ids:
                ids.append(r["ingest_id"])
        return {sha: ids for sha, ids in by_sha.items() if len(ids) > 1}

    def versions(self) -> list[VersionRecord]:
        """Return the store versions up to the one read, oldest first."""
        return list(self.records)

    # ---------------------------------------------------------------- tables

    def scan(self, name: str, *, where: dict[str, list[Any]] | None = None, columns: list[str] | None = None) -> pa.Table:
        """Return committed rows of ``name`` whose columns hold one of the given values (read only those).

        ``where`` maps a column to its wanted values, e.g. ``{"source_sha256": [...]}``; the filter
        is pushed down to the Delta scan, so a few samples' events are read without the others.
        """
        return self._read(name, columns, where)

    def _read(self, name: str, columns: list[str] | None = None, where: dict[str, list[Any]] | None = None, *,
              dedupe: bool = True) -> pa.Table:
        """Return every committed row of table ``name`` (all derivations, all identity versions).

        Facts and derivations of a file committed by several ingests (:attr:`repeated_ingests`)
        are those of its latest ingest (unless ``dedupe=False``).

        Files rewritten by Delta operations (compaction, rollback) may store strings as
        ``string_view``: rows are read without a pushed-down filter on them (pyarrow cannot
        compare the two in statistics), cast to the declared schema, then filtered in memory.
        """
        spec = table_spec(name)
        version = self.table_versions.get(name)
        if version is None or not table_exists(self.loc, name):
            empty = spec.schema.empty_table()
            return empty.select(columns) if columns else empty
        try:
            table = read_delta(self.loc, name, version, where=where,
                               columns=None if columns is None else list(dict.fromkeys([*columns, "commit_id"])))
        except Exception as exc:
            raise StoreError("IML-STORE-004", f"store version {self.version} cannot be read: data files of table {name} "
                             f"it needs are missing or damaged ({type(exc).__name__})", path=self.loc.uri,
                             hint="Run `immunolab verify`; if old versions were vacuumed, read the latest store "
                             "version instead, or restore tables/ from a backup.") from None
        table = _plain_strings(table, spec)
        visible = pa.array(sorted(self.commit_version), pa.string())
        table = table.filter(pc.is_in(table.column("commit_id"), value_set=visible))
        if dedupe and spec.layer not in ("identity", "decision") and self.repeated_ingests:
            stale = pa.array(sorted({i for ids in self.repeated_ingests.values() for i in ids[:-1]}), pa.string())
            table = table.filter(pc.invert(pc.is_in(table.column("commit_id"), value_set=stale)))
        if columns is not None:
            return table.select(columns)
        if spec.extra_column_type is None:
            table = table.select([n for n in spec.schema.names if n in table.column_names])
        return table

    def table(self, name: str, *, columns: list[str] | None = None, history: bool = False) -> pa.Table:
        """Return table or view ``name`` as seen at this store version.

        Facts and derivations: every committed row (derivations of every strategy / fit; the
        views choose the active ones). Identity and decisions: the current record per key, or
        every version of it with ``history=True``. Views (``samples``, ``measurements``) are
        computed (:mod:`immunolab.derive.views`).
        """
        if name in VIEWS:
            from immunolab.derive import views

            t = views.view(self, name)
            return _columns(t, columns, name) if columns else t
        key = (name, history)
        if key not in self._cache:
            spec = table_spec(name)
            t = self._read(name)
            if name == "identity_samples" and not history and self.repeated_ingests:
                t = self._without_self_supersessions(t)
            if spec.layer in ("identity", "decision"):
                t = latest_per_key(t, spec.key, self.commit_version) if not history else \
                    in_version_order(t, self.commit_version)
            self._cache[key] = t
        t = self._cache[key]
        return _columns(t, columns, name) if columns else t

    def _without_self_supersessions(self, t: pa.Table) -> pa.Table:
        """Return identity records without those marking a file superseded by an ingest of its own bytes.

        Such a record (written beside the file's ``active`` one by the same commit) corrects
        nothing: the file stays current, as its latest ingest.
        """
        own = {(sha, i) for sha, ids in self.repeated_ingests.items() for i in ids}
        void = [r["status"] == "superseded" and (r["source_sha256"], r["superseded_by"]) in own
                for r in t.select(["source_sha256", "status", "superseded_by"]).to_pylist()]
        return t.filter(pc.invert(pa.array(void, pa.bool_()))) if any(void) else t

    def to_pandas(self, name: str, **kwargs: Any) -> pd.DataFrame:
        """Return table or view ``name`` as a pandas DataFrame (IDs stay strings)."""
        return self.table(name, **kwargs).to_pandas()

    def tables(self) -> list[str]:
        """Return the names of the stored tables holding rows at this version, plus the views."""
        names = [n for n in TABLES if n in self.table_versions and self.table(n, columns=["commit_id"]).num_rows]
        return sorted([*names, *VIEWS])

    def measurements(self, **kwargs: Any) -> pa.Table:
        """Return the measurements view (see :func:`immunolab.derive.views.measurements`)."""
        from immunolab.derive import views

        return views.measurements(self, **kwargs)

    def summary(self) -> dict[str, Any]:
        """Return a PHI-free summary: rows per table, versions, files, patients and samples."""
        rows = {n: self.table(n).num_rows for n in self.tables() if n != "measurements"}
        samples = self.table("samples")
        attempts: dict[str, int] = {}
        for rec in self.records:
            for a in rec.attempts:
                attempts[a.get("outcome", "?")] = attempts.get(a.get("outcome", "?"), 0) + 1
        return {
            "store": self.loc.uri,
            "store_version": self.version,
            "tables": rows,
            "attempts": attempts,
            "sources": self.table("sources", columns=["source_sha256"]).num_rows,
            # patients with a sample or any measurement (a clinical-only store has results but no samples)
            "patients": len(set(samples.column("patient_id").drop_null().to_pylist())
                            | set(self.table("measurements", columns=["patient_id"]).column("patient_id")
                                  .drop_null().to_pylist())),
            "samples": samples.num_rows,
        }


def _columns(table: pa.Table, columns: list[str], name: str) -> pa.Table:
    """Return ``columns`` of ``table``; a name it lacks is ``IML-STORE-013`` listing the valid ones."""
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InputError("IML-STORE-013", f"{name} has no column {', '.join(repr(c) for c in missing)}",
                         hint=f"Columns of {name}: {', '.join(table.column_names)}.")
    return table.select(columns)


def _plain_strings(table: pa.Table, spec: Any) -> pa.Table:
    """Return ``table`` with view types cast back to the declared types (``string_view`` -> ``string``)."""
    declared = {f.name: f.type for f in spec.schema}
    for i, f in enumerate(table.schema):
        want = declared.get(f.name)
        if want is None and pa.types.is_string_view(f.type):
            want = pa.string()
        if want is not None and not f.type.equals(want):
            table = table.set_column(i, pa.field(f.name, want), table.column(i).cast(want))
    return table


def in_version_order(table: pa.Table, commit_version: dict[str, int]) -> pa.Table:
    """Return ``table`` sorted by the store version of each row's commit (stable within a commit)."""
    if table.num_rows == 0:
        return table
    versions = pa.array([commit_version.get(c, 0) for c in table.column("commit_id").to_pylist()], pa.int64())
    order = pa.array(range(table.num_rows), pa.int64())
    t = table.append_column("__v", versions).append_column("__i", order)
    return t.sort_by([("__v", "ascending"), ("__i", "ascending")]).drop_columns(["__v", "__i"])


def latest_per_key(table: pa.Table, key: tuple[str, ...], commit_version: dict[str, int]) -> pa.Table:
    """Return the last record per ``key`` by store version (then by row order within a commit)."""
    if table.num_rows == 0:
        return table
    versions = pa.array([commit_version.get(c, 0) for c in table.column("commit_id").to_pylist()], pa.int64())
    order = pa.array(range(table.num_rows), pa.int64())
    t = table.append_column("__v", versions).append_column("__i", order)
    t = t.sort_by([("__v", "ascending"), ("__i", "ascending")])
    keys = list(zip(*[t.column(k).to_pylist() for k in key], strict=True)) if key else [()] * t.num_rows
    last: dict[tuple[Any, ...], int] = {}
    for i, k in enumerate(keys):
        last[k] = i
    idx = pa.array(sorted(last.values()), pa.int64())
    return t.take(idx).drop_columns(["__v", "__i"])


def open_store(path: str | Path | StoreLocation, *, version: int | None = None, as_of: datetime | str | None = None,
               storage_options: dict[str, str] | None = None, create: bool = False) -> Store:
    """Open the store at ``path`` (folder or ``s3://``/``gs://``/``az://`` URI) for reading.

    ``version`` reads that store version, ``as_of`` the last version committed at or before
    that time; by default the latest. ``create=True`` creates an empty store if there is none.
    """
    loc = location_for(path, storage_options)
    if create:
        from immunolab.store.layout import create_store

        create_store(loc)
    require_store(loc)
    records = read_versions(loc)
    latest = records[-1].store_version if records else 0
    chosen = latest
    if version is not None and as_of is not None:
        raise InputError("IML-STORE-012", "both version and as_of were given: one store version can be read at a time",
                         path=loc.uri, hint="Pass either version (a store version number) or as_of (a date-time).")
    if version is not None:
        if not 0 <= int(version) <= latest:
            raise StoreError("IML-STORE-011", f"store version {version} does not exist (latest is {latest})",
                             path=loc.uri, hint="List versions with `immunolab log --store S`.")
        chosen = int(version)
    elif as_of is not None:
        try:
            when = datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
        except ValueError:
            raise InputError("IML-STORE-012", "as_of is not an ISO 8601 date-time", path=loc.uri,
                             hint="Pass e.g. as_of='2026-11-30T14:00:00+00:00' (UTC when no zone is given), "
                                  "or a datetime.") from None
        if when.tzinfo is None:
            from datetime import UTC

            when = when.replace(tzinfo=UTC)
        older = [r.store_version for r in records if r.created_at is not None and r.created_at <= when]
        first = min((r.created_at for r in records if r.created_at is not None), default=None)
        if not older and first is not None:
            raise StoreError("IML-STORE-011", "no store version was committed at or before as_of: the store did not "
                             "exist yet", path=loc.uri, hint=f"The first store version was committed at "
                             f"{first.isoformat(timespec='seconds')}; list versions with `immunolab log --store S`.")
        chosen = older[-1] if older else 0
    _require_not_vacuumed(loc, records, chosen)
    return Store(loc, records, chosen)


def _require_not_vacuumed(loc: StoreLocation, records: list[VersionRecord], version: int) -> None:
    """Raise IML-STORE-015 when a recorded vacuum deleted data files store version ``version`` needs."""
    gone = vacuumed_versions(records)
    by = gone.get(version)
    if by is None:
        return
    when = by.created_at.isoformat(timespec="seconds").replace("+00:00", "Z") if by.created_at else "?"
    later = next((r.store_version for r in records if r.store_version > version and r.store_version not in gone), None)
    raise StoreError("IML-STORE-015", f"store version {version} cannot be read: it was vacuumed by store version "
                     f"{by.store_version} ({when}, --retain-days {by.inputs.get('retain_days')}), which deleted data "
                     "files it needs", path=loc.uri,
                     hint=(f"Read store version {later} or later" if later else "Read a later store version")
                     + ", or restore tables/ from a backup taken before that vacuum; `immunolab log` marks the "
                     "versions that can no longer be read. Keep a locked version with `store vacuum --keep-version N`.")


def filter_in(table: pa.Table, column: str, values: list[Any] | set[Any]) -> pa.Table:
    """Return the rows of ``table`` whose ``column`` is in ``values``."""
    return table.filter(pc.is_in(table.column(column), value_set=pa.array(sorted(values), table.schema.field(column).type)))
