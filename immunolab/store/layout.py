"""What a store contains, how one is created, recognised and opened for writing.

::

    <store>/
      immunolab-store.json     marker: format (2 = Delta Lake), schema version, creation time
      key/                     secret key of the name hashes (sample_key, file_key), a one-row Delta
                               table (its creation is atomic, so concurrent creators agree); restrict like raw/
      versions/                Delta table: one row per store version (the commit log, hash-chained)
      tables/<table>/          one Delta Lake table per store table (facts, identity, derivations)
      raw/<sha256>             read-only copy of every committed input file (the original record)
      pending/<batch>.json     intent markers of batches being committed (crash recovery)

A format-1 store (the first release: Parquet files + ``audit/log.jsonl``) is recognised and
refused with IML-STORE-009 until ``immunolab store upgrade`` converts it.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from immunolab.errors import StoreError
from immunolab.schema import FORMAT_VERSION, SCHEMA_VERSION
from immunolab.store.location import StoreLocation

__all__ = ["KEY_FILE", "MARKER", "create_store", "read_marker", "require_store", "store_key"]

MARKER = "immunolab-store.json"
KEY_FILE = "key"
#: what a store being created by another process already holds
_CREATING = {"versions", "key", "tables", "raw", "pending", ".DS_Store"}


def read_marker(loc: StoreLocation) -> dict[str, Any] | None:
    """Return the store marker, or None when ``loc`` holds no store."""
    try:
        if not loc.exists(MARKER):
            return None
        return dict(json.loads(loc.read_bytes(MARKER)))
    except (ValueError, UnicodeDecodeError):
        raise StoreError("IML-STORE-004", "the store marker file is damaged", path=loc.uri,
                         hint=f"Restore {MARKER} from a backup, then run `immunolab verify`.") from None
    except PermissionError as exc:
        raise _os_error(exc, loc, "read") from None
    except OSError as exc:
        raise _os_error(exc, loc, "read") from None


def _os_error(exc: OSError, loc: StoreLocation, what: str) -> StoreError:
    """Return the coded store error of an OS failure (read-only, full disk, permissions, network)."""
    import errno

    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        hint = "The store is read-only for you: ask for write access, or read it with `open_store` / `export`."
        return StoreError("IML-STORE-010", f"cannot {what} the store ({reason})", path=loc.uri, hint=hint)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return StoreError("IML-STORE-003", f"cannot {what} the store: the disk is full ({reason})", path=loc.uri,
                          hint="Free disk space, then re-run: nothing was committed.")
    return StoreError("IML-STORE-003", f"cannot {what} the store ({reason})", path=loc.uri,
                      hint="Check the folder, permissions and free space (or the object store's credentials).")


def require_store(loc: StoreLocation) -> dict[str, Any]:
    """Return the marker of the format-2 store at ``loc`` or raise IML-STORE-001/005/009."""
    marker = read_marker(loc)
    if marker is None:
        raise StoreError("IML-STORE-001", "no immunolab store here", path=loc.uri,
                         hint="Check --store; `immunolab ingest` creates a store on first use.")
    fmt = int(marker.get("format_version", 1))
    if fmt < FORMAT_VERSION:
        raise StoreError("IML-STORE-009", f"this store was written by immunolab 0.1 (store format {fmt})",
                         path=loc.uri,
                         hint=f"Convert it once with `immunolab store upgrade --store {loc.uri}` "
                         "(nothing is lost; the old files are kept until you delete them).")
    if fmt > FORMAT_VERSION or int(marker.get("schema_version", 0)) > SCHEMA_VERSION:
        raise StoreError("IML-STORE-005",
                         f"the store has format {fmt} / schema {marker.get('schema_version')}, this immunolab reads "
                         f"up to format {FORMAT_VERSION} / schema {SCHEMA_VERSION}", path=loc.uri,
                         hint="Upgrade immunolab (pip install -U immunolab).")
    return marker


def create_store(loc: StoreLocation, *, in_place: bool = False) -> dict[str, Any]:
    """Create an empty format-2 store at ``loc`` (idempotent) and return its marker.

    ``in_place`` allows a folder that already holds files (the upgrade of a format-1 store).
    """
    marker = read_marker(loc)
    if marker is not None:
        return require_store(loc)
    if loc.is_local and not in_place and loc.local_root.is_dir():
        _clear_failed_creation(loc.local_root)
    if loc.is_local and not in_place:
        root = loc.local_root
        if root.exists() and not root.is_dir():
            raise StoreError("IML-STORE-001", "the store path exists and is not a folder", path=loc.uri,
                             hint="Choose a folder for --store.")
        if root.is_dir() and any(p.name not in _CREATING and not p.name.startswith(".") for p in root.iterdir()):
            raise StoreError("IML-STORE-001", "the folder is not empty and is not an immunolab store", path=loc.uri,
                             hint="Point --store at an existing store or at a new, empty folder.")
    from immunolab.store.versions import create_versions_table

    try:
        if loc.is_local:
            loc.local_root.mkdir(parents=True, exist_ok=True)
        _create_key(loc)
        create_versions_table(loc)
        marker = {"format": "immunolab-store", "format_version": FORMAT_VERSION, "schema_version": SCHEMA_VERSION,
                  "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        loc.write_bytes(json.dumps(marker, indent=1).encode(), MARKER)
    except OSError as exc:
        raise _os_error(exc, loc, "create") from None
    return marker


def _clear_failed_creation(root: Any) -> None:
    """Remove what an interrupted creation left (no marker, a Delta log without its version 0)."""
    import shutil

    for name in ("versions", KEY_FILE):
        log = root / name / "_delta_log"
        if log.is_dir() and not any(p.suffix == ".json" and p.stat().st_size > 0 for p in log.iterdir()):
            shutil.rmtree(root / name, ignore_errors=True)


def _create_key(loc: StoreLocation) -> None:
    """Create the key table with a random key unless it exists (the first creator wins atomically)."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    table = pa.table({"key": [secrets.token_hex(32)]})
    try:
        write_deltalake(loc.join(KEY_FILE), table, mode="error", storage_options=loc.delta_options())
    except Exception as exc:  # another process created it first (keep theirs), or the disk is full
        try:
            DeltaTable(loc.join(KEY_FILE), storage_options=loc.delta_options()).file_uris()
        except Exception:
            raise OSError(f"cannot create the store key ({exc})") from None
    if loc.is_local:
        (loc.local_root / KEY_FILE).chmod(0o700)


def store_key(loc: StoreLocation) -> bytes:
    """Return the store's secret key for name hashes (see :mod:`immunolab.identity.keys`)."""
    from deltalake import DeltaTable

    try:
        import pyarrow.parquet as pq

        from immunolab.store.tables import _fs_paths

        uris = DeltaTable(loc.join(KEY_FILE), storage_options=loc.delta_options()).file_uris()
        rows = pq.read_table(_fs_paths(loc, uris)[0], filesystem=loc.fs).column("key")
        return str(rows[0].as_py()).encode()
    except Exception:
        raise StoreError("IML-STORE-004", f"the store's {KEY_FILE}/ table is missing or damaged", path=loc.uri,
                         hint="Restore it from a backup: without it corrected manifests cannot be matched.") from None


os_error = _os_error
