"""The raw vault: one read-only copy of every committed input file, named by its SHA-256.

The vault keeps the original record byte for byte (it still holds whatever the instrument
wrote, names included): restrict access to ``raw/`` as to the instruments' own folders.
On a local disk immunolab does so itself: ``raw/`` is ``rwxr-x---`` (:data:`VAULT_DIR_MODE`) and
each copy ``r--r-----`` (:data:`VAULT_FILE_MODE`): the owner and the lab's group only, like
``key/``, which is the owner's alone. Copies are content-addressed, so writing the same file twice
is harmless.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from immunolab.errors import StoreError
from immunolab.store.location import StoreLocation

__all__ = ["CHUNK", "VAULT_DIR_MODE", "VAULT_FILE_MODE", "copy_to_vault", "hash_file", "open_raw", "raw_exists"]

CHUNK = 1 << 22
#: modes of the local vault: no access for others (the copies hold whatever the instrument wrote)
VAULT_DIR_MODE = 0o750
VAULT_FILE_MODE = 0o440


def hash_file(path: Path, *, head: int = 0) -> tuple[str, bytes]:
    """Return the hex SHA-256 of a file and its first ``head`` bytes, reading it once (4 MiB blocks)."""
    h = hashlib.sha256()
    first = b""
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            if len(first) < head:
                first += block[: head - len(first)]
            h.update(block)
    return h.hexdigest(), first


def raw_exists(loc: StoreLocation, sha256: str) -> bool:
    """Return True when the vault holds ``sha256``."""
    return loc.exists("raw", sha256)


def copy_to_vault(loc: StoreLocation, source: Path, sha256: str) -> bool:
    """Copy ``source`` into ``raw/<sha256>`` unless present; return True when copied.

    The bytes are hashed as they are copied: a file that changed since it was hashed (an
    instrument still writing it) raises IML-STORE-003 and leaves no copy.
    """
    if raw_exists(loc, sha256):
        return False
    h = hashlib.sha256()
    if loc.is_local:
        from immunolab.store import fsops

        final = loc.local_root / "raw" / sha256
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.parent.stat().st_mode & 0o007:  # new, or made by an earlier release (0o755); a stricter mode stays
            os.chmod(final.parent, VAULT_DIR_MODE)
        tmp = final.with_name(f".{sha256}.{os.getpid()}.tmp")

        def _copy(p: Path) -> None:
            with open(source, "rb") as src, open(p, "wb") as out:
                while block := src.read(CHUNK):
                    h.update(block)
                    out.write(block)

        try:
            fsops.write_file(tmp, _copy)
            if h.hexdigest() != sha256:
                raise _changed(source)
            os.chmod(tmp, VAULT_FILE_MODE)
            fsops.rename(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return True
    target = loc.fs_path("raw", sha256)
    with open(source, "rb") as src, loc.fs.open_output_stream(target) as out:
        while block := src.read(CHUNK):
            h.update(block)
            out.write(block)
    if h.hexdigest() != sha256:
        loc.delete("raw", sha256)
        raise _changed(source)
    return True


def _changed(source: Path) -> StoreError:
    return StoreError("IML-STORE-003", "the input file changed while it was being ingested", path=None,
                      hint="Wait until the instrument has finished writing the file, then re-run.")


def open_raw(loc: StoreLocation, sha256: str) -> Path:
    """Return a local path with the bytes of ``raw/<sha256>`` (the vault file itself when local)."""
    if loc.is_local:
        p = loc.local_root / "raw" / sha256
        if not p.is_file():
            raise StoreError("IML-STORE-004", f"raw/{sha256} is missing from the vault", path=loc.uri,
                             hint="Restore it from a backup; `immunolab verify` lists every missing file.")
        return p
    import tempfile

    data = loc.read_bytes("raw", sha256)
    fd, name = tempfile.mkstemp(prefix="immunolab-raw-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)
