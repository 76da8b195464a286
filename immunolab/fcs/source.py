"""Read an FCS file on disk or its bytes in memory by absolute byte offset."""

from __future__ import annotations

import os
from typing import BinaryIO

from immunolab.errors import InputError

__all__ = ["ByteSource"]


class ByteSource:
    """A file on disk or bytes in memory, read by absolute offset."""

    def __init__(self, source: str | os.PathLike[str] | bytes | bytearray | memoryview, label: str) -> None:
        self.label = label
        self._fh: BinaryIO | None = None
        self._buf: memoryview | None = None
        if isinstance(source, bytes | bytearray | memoryview):
            self._buf = memoryview(source).cast("B")
            self.size = len(self._buf)
            return
        try:
            self._fh = open(source, "rb")  # noqa: SIM115 - closed by close()
            self.size = os.fstat(self._fh.fileno()).st_size
        except OSError as exc:
            raise InputError(
                "IML-IN-001",
                f"cannot open the file ({type(exc).__name__})",
                path=label,
                hint="Check that the path exists and is readable.",
            ) from None

    @property
    def handle(self) -> BinaryIO | memoryview:
        """Return what :func:`decode_events` reads from."""
        return self._buf if self._buf is not None else self._fh  # type: ignore[return-value]

    def read(self, offset: int, n: int) -> bytes:
        """Return up to ``n`` bytes at ``offset`` (fewer at the end of the file)."""
        if n <= 0 or offset >= self.size:
            return b""
        if self._buf is not None:
            return bytes(self._buf[offset : offset + n])
        assert self._fh is not None
        self._fh.seek(offset)
        return self._fh.read(n)

    def close(self) -> None:
        """Close the file handle (no-op for bytes)."""
        if self._fh is not None:
            self._fh.close()

