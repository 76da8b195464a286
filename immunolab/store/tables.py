"""Delta Lake tables of a store: data files written by workers, committed in groups, read at a version.

Workers write Parquet data files straight into a table's folder (:func:`write_data_file`), named
``part-<batch>-<unit>-<n>.parquet``; they are invisible to every Delta reader until
:func:`commit_files` adds them to the table's log in one transaction per table and batch. The
SHA-256 of each data file goes into the store version that commits it, so ``verify`` can re-hash.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from immunolab.errors import StoreError
from immunolab.schema import table_spec
from immunolab.store.location import StoreLocation

__all__ = [
    "DataFile",
    "active_files",
    "commit_files",
    "delta_error",
    "describe_files",
    "ensure_table",
    "open_table",
    "read_delta",
    "table_exists",
    "write_data_file",
]


@dataclass(frozen=True)
class DataFile:
    """A data file written into a table's folder, not yet (or already) committed."""

    table: str
    path: str  # relative to the table folder
    size: int
    rows: int
    sha256: str
    mtime_ms: int
    stats: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the record stored in the store version (for ``verify``)."""
        return {"table": self.table, "path": self.path, "size": self.size, "rows": self.rows, "sha256": self.sha256}


def delta_error(exc: BaseException, loc: StoreLocation, what: str) -> StoreError:
    """Return the coded store error for a failure of delta-rs or the file system while doing ``what``."""
    import errno

    from immunolab.store.layout import os_error

    where = f"{what} in" if " " in what else what  # "cannot compact table x in the store (...)"
    if isinstance(exc, OSError) and exc.errno is not None:
        return os_error(exc, loc, where)
    text = str(exc)
    low = text.lower()
    if "read-only" in low or "permission denied" in low or "os error 30" in low or "os error 13" in low:
        return os_error(OSError(errno.EROFS, text.splitlines()[0][:200]), loc, where)
    if "no space" in low or "os error 28" in low or "file too large" in low or "os error 27" in low:
        return os_error(OSError(errno.ENOSPC, text.splitlines()[0][:200]), loc, where)
    return StoreError("IML-STORE-003", f"cannot {what} ({type(exc).__name__}: {text.splitlines()[0][:200]})",
                      path=loc.uri, hint="Check the store's disk, permissions or object-store credentials; "
                      "nothing half-written is visible, and the next writer rolls it back.")


def table_exists(loc: StoreLocation, name: str) -> bool:
    """Return True when the Delta table ``name`` exists."""
    return loc.exists("tables", name, "_delta_log")


def ensure_table(loc: StoreLocation, name: str) -> None:
    """Create the Delta table ``name`` with its declared schema unless it exists."""
    from deltalake import DeltaTable

    from immunolab.schema import SCHEMA_VERSION

    if table_exists(loc, name):
        return
    spec = table_spec(name)
    try:
        DeltaTable.create(loc.table_uri(name), schema=spec.schema, mode="ignore", name=name,
                          description=json.dumps({"immunolab_table": name, "layer": spec.layer,
                                                  "schema_version": SCHEMA_VERSION, "about": spec.description}),
                          storage_options=loc.delta_options())
    except Exception as exc:  # delta-rs raises its own error types for I/O problems
        if table_exists(loc, name):  # another writer created it at the same moment
            return
        raise delta_error(exc, loc, f"create table {name}") from None


def open_table(loc: StoreLocation, name: str, version: int | None = None) -> Any:
    """Return the ``deltalake.DeltaTable`` of ``name`` (at ``version``)."""
    from deltalake import DeltaTable

    return DeltaTable(loc.table_uri(name), version=version, storage_options=loc.delta_options())


def write_data_file(loc: StoreLocation, name: str, table: pa.Table, *, batch: str, unit: str) -> DataFile:
    """Write ``table`` as one Parquet data file into table ``name``'s folder (not committed yet)."""
    import pyarrow.parquet as pq

    spec = table_spec(name)
    buf = pa.BufferOutputStream()
    compression = "zstd" if (table.num_rows >= 10_000 or spec.compression == "zstd") else "snappy"
    pq.write_table(table, buf, compression=compression)
    data = buf.getvalue()
    rel = f"part-{batch}-{unit}-{uuid.uuid4().hex[:8]}.parquet"
    try:
        if loc.is_local:
            from immunolab.store import fsops

            target = loc.local_root / "tables" / name / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            fsops.write_bytes(target, data.to_pybytes())
        else:
            with loc.fs.open_output_stream(loc.fs_path("tables", name, rel)) as fh:
                fh.write(data)
    except OSError as exc:
        from immunolab.store.layout import os_error

        _remove_partial(loc, name, rel)  # a full disk leaves part of the file: no stray data file
        raise os_error(exc, loc, f"write table {name}") from None
    digest = hashlib.sha256(memoryview(data)).hexdigest()
    return DataFile(name, rel, data.size, table.num_rows, digest, int(time.time() * 1000), _stats(table))


def _remove_partial(loc: StoreLocation, name: str, rel: str) -> None:
    """Delete what a failed write left of data file ``rel`` of table ``name`` (nothing if it cannot)."""
    import contextlib

    with contextlib.suppress(Exception):
        loc.delete("tables", name, rel)


#: columns whose min/max go into each data file's Delta statistics (file pruning by source or unit)
STATS_COLUMNS = ("commit_id", "source_sha256")


def _stats(table: pa.Table) -> str:
    """Return the Delta ``stats`` JSON of a data file: row count, and min/max/nulls of the key columns."""
    import pyarrow.compute as pc

    stats: dict[str, Any] = {"numRecords": table.num_rows, "minValues": {}, "maxValues": {}, "nullCount": {}}
    for col in STATS_COLUMNS:
        if col in table.column_names and table.num_rows:
            mm = pc.min_max(table.column(col))
            if mm["min"].is_valid:
                stats["minValues"][col] = mm["min"].as_py()
                stats["maxValues"][col] = mm["max"].as_py()
            stats["nullCount"][col] = table.column(col).null_count
    return json.dumps(stats)


def _add_missing_columns(dt: Any, schema: pa.Schema) -> None:
    """Add columns of ``schema`` missing from the table (per-event channel columns) to its Delta schema."""
    from deltalake.schema import Field, PrimitiveType

    current = set(_arrow_schema(dt).names)
    new = [f for f in schema if f.name not in current]
    if not new:
        return
    types = {pa.float32(): "float", pa.float64(): "double", pa.string(): "string", pa.int64(): "long"}
    dt.alter.add_columns([Field(f.name, PrimitiveType(types[f.type]), nullable=True) for f in new])


def _arrow_schema(dt: Any) -> pa.Schema:
    return pa.schema(dt.schema().to_arrow())


_APPEND_ATTEMPTS = 40


def commit_files(loc: StoreLocation, name: str, files: list[DataFile], schema: pa.Schema, *, batch: str) -> int:
    """Add ``files`` to table ``name`` in one Delta transaction; return a table version that includes them."""
    from deltalake.transaction import AddAction, CommitProperties

    if not files:
        raise ValueError("no files to commit")
    from deltalake.exceptions import CommitFailedError

    ensure_table(loc, name)
    actions = [AddAction(f.path, f.size, {}, f.mtime_ms, True, f.stats or json.dumps({"numRecords": f.rows}))
               for f in files]
    for attempt in range(_APPEND_ATTEMPTS):
        try:
            dt = open_table(loc, name)
            if table_spec(name).extra_column_type is not None:
                _add_missing_columns(dt, schema)
                dt.update_incremental()
            dt.create_write_transaction(actions, mode="append", schema=_arrow_schema(dt),
                                        commit_properties=CommitProperties(custom_metadata={"immunolab_batch": batch},
                                                                           max_commit_retries=50))
            dt.update_incremental()
            return int(dt.version())
        except StoreError:
            raise
        except CommitFailedError as exc:
            # delta-rs counts the append as reading the table: a concurrent DELETE (another batch rolling
            # back its own files) fails it. The files added here are new and nobody else's, so the same
            # append on the new table version is correct.
            if attempt + 1 == _APPEND_ATTEMPTS:
                raise delta_error(exc, loc, f"commit table {name}") from None
            time.sleep(0.01 * min(attempt + 1, 20))
        except Exception as exc:
            raise delta_error(exc, loc, f"commit table {name}") from None
    raise AssertionError("unreachable")


def stored_tables(loc: StoreLocation) -> list[str]:
    """Return the names of every Delta table in the store (plugins' own tables included)."""
    names = {rel.split("/", 1)[0] for rel, _s, _m in loc.list_files("tables", recursive=True)
             if "/_delta_log/" in rel}
    return sorted(names)


def active_files(dt: Any) -> set[str]:
    """Return the names of the data files of a table's current version."""
    return {uri.rsplit("/", 1)[-1] for uri in dt.file_uris()}


def describe_files(loc: StoreLocation, name: str, rels: set[str] | list[str]) -> list[dict[str, Any]]:
    """Return the store-version records (size, rows unknown, SHA-256) of data files delta-rs wrote itself."""
    out = []
    for rel in sorted(rels):
        h = hashlib.sha256()
        size = 0
        with loc.fs.open_input_stream(loc.fs_path("tables", name, rel)) as fh:
            while block := fh.read(1 << 22):
                h.update(block)
                size += len(block)
        out.append({"table": name, "path": rel, "size": size, "sha256": h.hexdigest()})
    return out


def retry_conflicts(loc: StoreLocation, name: str, operation: Any, *, attempts: int = 60) -> Any:
    """Run ``operation(dt)`` on a freshly loaded table, again after each commit conflict.

    DELETE and OPTIMIZE read the whole table: a concurrent writer's append makes their commit fail
    (Delta's serializable check). The rows they target never belong to a running batch, so
    re-running on the new version is always correct.
    """
    import random

    from deltalake.exceptions import CommitFailedError, DeltaError

    for attempt in range(attempts):
        dt = open_table(loc, name)
        try:
            return dt, operation(dt)
        except CommitFailedError:
            pass
        except DeltaError as exc:  # a file read while a concurrent writer replaced it, a version race
            text = str(exc).lower()
            if not any(w in text for w in ("commit", "concurrent", "version", "not found", "no such file")):
                raise
        time.sleep(random.uniform(0.01, 0.1) * min(attempt + 1, 10))
    raise StoreError("IML-STORE-002", f"table {name} kept changing under concurrent writers", path=loc.uri,
                     hint="Run the command again when fewer writers are active.")


def _fs_paths(loc: StoreLocation, uris: list[str]) -> list[str]:
    """Return the pyarrow file-system paths of data file URIs (``s3://b/k`` -> ``b/k``, ``file://`` stripped)."""
    out = []
    for uri in uris:
        if uri.startswith("file://"):
            out.append(uri[len("file://"):])
        elif "://" in uri:
            out.append(uri.split("://", 1)[1])
        else:
            out.append(uri)
    return out


def read_delta(loc: StoreLocation, name: str, version: int, *, columns: list[str] | None = None,
               where: dict[str, list[Any]] | None = None) -> pa.Table:
    """Return the rows of Delta table ``name`` at ``version`` (``where``: column -> wanted values).

    The data files are listed by delta-rs but read with pyarrow's own file system (a pyarrow
    scan through delta-rs' Python file-system handler can leave threads that abort the
    interpreter at exit), and files whose statistics exclude the wanted values are skipped.
    Filtering is done in memory: files rewritten by Delta operations store strings as
    ``string_view``, which pyarrow's pushed-down filters cannot compare with ``string``.
    """
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    dt = open_table(loc, name, version)
    uris = dt.file_uris()
    if where:
        actions = pa.table(dt.get_add_actions(flatten=True))
        keep = _prune(actions, where)
        uris = [u for u in uris if u.rsplit("/", 1)[-1] in keep]
    schema = _plain_schema(pa.schema(dt.schema().to_arrow()))
    if not uris:
        empty = schema.empty_table()
        return empty.select(columns) if columns else empty
    dataset = ds.dataset(_fs_paths(loc, uris), schema=schema, format="parquet", filesystem=loc.fs)
    # the filter's columns are read even when not asked for, then dropped
    read = None if columns is None else list(dict.fromkeys([*columns, *(where or {})]))
    table = dataset.to_table(columns=read)
    for col, values in (where or {}).items():
        table = table.filter(pc.is_in(table.column(col), value_set=pa.array(list(values), table.schema.field(col).type)))
    return table if columns is None else table.select(columns)


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    """Return ``schema`` with view types replaced by their plain types."""
    fields = []
    for f in schema:
        t = f.type
        if pa.types.is_string_view(t) or pa.types.is_large_string(t):
            t = pa.string()
        elif pa.types.is_binary_view(t):
            t = pa.binary()
        fields.append(pa.field(f.name, t, nullable=f.nullable))
    return pa.schema(fields)


def _prune(actions: pa.Table, where: dict[str, list[Any]]) -> set[str]:
    """Return the data file names whose min/max statistics may hold the wanted values."""
    names = [p.rsplit("/", 1)[-1] for p in actions.column("path").to_pylist()]
    keep = [True] * len(names)
    for col, values in where.items():
        lo_name, hi_name = f"min.{col}", f"max.{col}"
        if lo_name not in actions.column_names or hi_name not in actions.column_names:
            continue
        wanted = sorted(str(v) for v in values)
        for i, (lo, hi) in enumerate(zip(actions.column(lo_name).to_pylist(), actions.column(hi_name).to_pylist(),
                                         strict=True)):
            if lo is None or hi is None:
                continue
            import bisect

            j = bisect.bisect_left(wanted, str(lo))
            keep[i] = keep[i] and j < len(wanted) and wanted[j] <= str(hi)
    return {n for n, k in zip(names, keep, strict=True) if k}
