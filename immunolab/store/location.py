"""Where a store lives: a local folder or an object-store prefix (``s3://``, ``gs://``, ``az://``).

A :class:`StoreLocation` gives the Delta Lake URI of each table (read and written by
``deltalake``) and a pyarrow file system for everything else (raw vault, marker, pending
markers, data files written by workers). Storage options are the ones delta-rs understands
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_REGION``, ``AWS_ALLOW_HTTP`` ...); they are
taken from the environment as delta-rs does and from ``--storage-option KEY=VALUE``. They may hold
secrets, so they are never logged, stored or printed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from immunolab.errors import StoreError

__all__ = ["OBJECT_SCHEMES", "StoreLocation", "location_for"]

OBJECT_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")
_ENV_PREFIXES = ("AWS_", "GOOGLE_", "AZURE_")


def _env_options() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)}


@dataclass(frozen=True)
class StoreLocation:
    """A store's root: ``uri`` (absolute local path or ``scheme://bucket/prefix``) and storage options."""

    uri: str
    storage_options: dict[str, str] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @property
    def is_local(self) -> bool:
        """Return True for a local folder."""
        return "://" not in self.uri

    @property
    def local_root(self) -> Path:
        """Return the folder of a local store (raises for object storage)."""
        if not self.is_local:
            raise ValueError("not a local store")
        return Path(self.uri)

    def __str__(self) -> str:
        return self.uri

    # ---------------------------------------------------------------- delta-rs side

    def delta_options(self) -> dict[str, str] | None:
        """Return the storage options for ``deltalake`` (None for a local store)."""
        if self.is_local:
            return None
        opts = {**_env_options(), **self.storage_options}
        scheme = urlparse(self.uri).scheme
        if scheme in ("s3", "s3a"):
            # S3 has put-if-absent since 2024: safe concurrent commits without a lock table
            opts.setdefault("conditional_put", "etag")
        return opts

    def table_uri(self, name: str) -> str:
        """Return the Delta table URI of table ``name`` (``tables/<name>``)."""
        return self.join("tables", name)

    def join(self, *parts: str) -> str:
        """Return the URI (or local path) of ``parts`` below the store root."""
        base = self.uri.rstrip("/")
        return "/".join([base, *parts]) if not self.is_local else str(Path(base).joinpath(*parts))

    # ---------------------------------------------------------------- pyarrow file system side

    @cached_property
    def _fs_and_base(self) -> tuple[Any, str]:
        import pyarrow.fs as pafs

        if self.is_local:
            return pafs.LocalFileSystem(), str(Path(self.uri))
        parsed = urlparse(self.uri)
        base = (parsed.netloc + parsed.path).rstrip("/")
        opts = self.delta_options() or {}
        if parsed.scheme in ("s3", "s3a"):
            kwargs: dict[str, Any] = {}
            endpoint = opts.get("AWS_ENDPOINT_URL") or opts.get("aws_endpoint_url") or opts.get("endpoint")
            if endpoint:
                ep = urlparse(endpoint)
                kwargs["endpoint_override"] = ep.netloc or ep.path
                kwargs["scheme"] = ep.scheme or "https"
            for key, arg in (("AWS_ACCESS_KEY_ID", "access_key"), ("AWS_SECRET_ACCESS_KEY", "secret_key"),
                             ("AWS_SESSION_TOKEN", "session_token"), ("AWS_REGION", "region")):
                value = opts.get(key) or opts.get(key.lower())
                if value:
                    kwargs[arg] = value
            return pafs.S3FileSystem(**kwargs), base
        if parsed.scheme in ("gs", "gcs"):
            return pafs.GcsFileSystem(), base
        if parsed.scheme in ("az", "abfs", "abfss"):
            account = opts.get("AZURE_STORAGE_ACCOUNT_NAME") or opts.get("azure_storage_account_name")
            account_key = opts.get("AZURE_STORAGE_ACCOUNT_KEY") or opts.get("azure_storage_account_key")
            if not account:
                raise StoreError("IML-STORE-001", "an Azure store needs AZURE_STORAGE_ACCOUNT_NAME", path=self.uri,
                                 hint="Set AZURE_STORAGE_ACCOUNT_NAME (and a key or token) in the environment.")
            container = parsed.netloc.split("@")[0]
            return pafs.AzureFileSystem(account_name=account, account_key=account_key), (container + parsed.path).rstrip("/")
        raise StoreError("IML-STORE-001", f"unsupported store scheme {parsed.scheme!r}", path=self.uri,
                         hint="Use a local folder, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix.")

    @property
    def fs(self) -> Any:
        """Return the pyarrow file system of the store."""
        return self._fs_and_base[0]

    def fs_path(self, *parts: str) -> str:
        """Return the file-system path of ``parts`` below the root (for :attr:`fs`)."""
        base = self._fs_and_base[1]
        return "/".join([base, *parts]) if parts else base

    def exists(self, *parts: str) -> bool:
        """Return True when the file or folder ``parts`` exists."""
        import pyarrow.fs as pafs

        info = self.fs.get_file_info(self.fs_path(*parts))
        return bool(info.type != pafs.FileType.NotFound)

    def read_bytes(self, *parts: str) -> bytes:
        """Return the bytes of file ``parts``."""
        with self.fs.open_input_stream(self.fs_path(*parts)) as fh:
            data: bytes = fh.read()
        return data

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Write ``data`` to file ``parts`` (durably and atomically on a local disk)."""
        if self.is_local:
            from immunolab.store import fsops

            target = Path(self.fs_path(*parts))
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            try:
                fsops.write_bytes(tmp, data)
                fsops.rename(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            return
        with self.fs.open_output_stream(self.fs_path(*parts)) as fh:
            fh.write(data)

    def delete(self, *parts: str) -> None:
        """Delete file ``parts`` if it exists."""
        import contextlib

        with contextlib.suppress(FileNotFoundError, OSError):
            self.fs.delete_file(self.fs_path(*parts))

    def list_files(self, *parts: str, recursive: bool = False) -> list[tuple[str, int, float]]:
        """Return (name relative to ``parts``, size, mtime seconds) of the files below folder ``parts``."""
        import pyarrow.fs as pafs

        base = self.fs_path(*parts)
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=recursive, allow_not_found=True))
        except (FileNotFoundError, OSError):
            return []
        out: list[tuple[str, int, float]] = []
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            rel = info.path[len(base):].lstrip("/")
            mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
            out.append((rel, int(info.size or 0), mtime))
        return sorted(out)


def location_for(store: str | Path | StoreLocation, storage_options: dict[str, str] | None = None) -> StoreLocation:
    """Return the :class:`StoreLocation` of a ``--store`` argument (folder or object-store URI)."""
    if isinstance(store, StoreLocation):
        if storage_options:
            return StoreLocation(store.uri, {**store.storage_options, **storage_options})
        return store
    text = str(store)
    scheme = urlparse(text).scheme.lower() if "://" in text else ""
    if scheme:
        if scheme not in OBJECT_SCHEMES and scheme != "file":
            raise StoreError("IML-STORE-001", f"unsupported store URI scheme {scheme!r}", path=text,
                             hint="Use a folder, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix.")
        if scheme == "file":
            return StoreLocation(str(Path(urlparse(text).path).absolute()))
        return StoreLocation(text.rstrip("/"), dict(storage_options or {}))
    return StoreLocation(str(Path(text).absolute()), {})
