"""Decode the DATA segment of an FCS data set into an events matrix with numpy, no per-event loops.

Supported layouts (list mode only):

* ``$DATATYPE`` F (float32), D (float64), I (unsigned integers of any whole-byte width 8-64,
  e.g. 24-bit FlowJo CE files, or bit-packed widths that are not a multiple of 8, as FCS 2.0
  allows) and A (ASCII: fixed width per ``$PnB``, or ``*`` = delimited);
* FCS 3.2 per-channel ``$PnDATATYPE`` (mixed integer and float channels);
* ``$BYTEORD`` ascending (``1,2,3,4`` little-endian) or descending (``4,3,2,1`` big-endian),
  of any length.

Uniform standard widths are read with one ``np.fromfile`` (or ``np.frombuffer`` for in-memory
files) into the final array; big-endian data are byte-swapped in place. Integers are masked to
the bits implied by ``$PnR`` (the next power of two at or above the range, when that is below
``2**$PnB``), as FCS 3.1 section 3.3.36 prescribes.

Bit-packed integers (``$PnB`` 1-63 and not a multiple of 8, e.g. the 9-bit ``$PnR=512``
files FlowJo's tutorial ships) form one continuous bit stream with no padding between values
or events. Each value is read least-significant bit first from the stream (bit ``k`` of the
stream is bit ``k % 8`` of byte ``k // 8``). That order is what reproduces FlowJo 7.6.5's own
rectangle and quadrant counts on those files exactly; the most-significant-bit-first reading
gives a structureless histogram and counts 40-60 % off. ``$BYTEORD`` does not apply inside a
packed stream.

The output dtype is the channels' common type: float32 / float64 / uint8-64 for uniform data;
the smallest unsigned type that holds every width for mixed integer widths; float64 when
integer and float channels are mixed, and for ASCII.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

__all__ = ["ChannelLayout", "DataLayout", "decode_events", "integer_mask"]

_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


@dataclass(frozen=True)
class ChannelLayout:
    """How one channel is stored: ``kind`` I/F/D/A, ``width`` in bytes (0 = ASCII delimited).

    ``bits`` is set (1-63) only for a bit-packed integer channel; ``width`` is then the bytes
    its decoded value needs, not what it occupies in DATA.
    """

    kind: str
    width: int
    mask: int | None = None
    bits: int = 0


@dataclass(frozen=True)
class DataLayout:
    """How one event is stored: per-channel layouts and the byte order (``<`` or ``>``)."""

    channels: tuple[ChannelLayout, ...]
    order: str

    @property
    def packed(self) -> bool:
        """Return True when some channel is a bit-packed integer (DATA is a bit stream)."""
        return any(c.bits for c in self.channels)

    @property
    def row_bytes(self) -> int:
        """Return the bytes per event (0 for delimited ASCII, whose rows have no fixed size).

        For bit-packed data an event need not end on a byte boundary: use :attr:`row_bits`.
        """
        if any(c.kind == "A" and c.width == 0 for c in self.channels):
            return 0
        return sum(c.width for c in self.channels)

    @property
    def row_bits(self) -> int:
        """Return the bits per event in DATA (0 for delimited ASCII)."""
        if self.row_bytes == 0:
            return 0
        return sum(c.bits or 8 * c.width for c in self.channels)

    @property
    def output_dtype(self) -> np.dtype:
        """Return the dtype of the decoded events matrix."""
        kinds = {c.kind for c in self.channels}
        if kinds == {"F"}:
            return np.dtype(np.float32)
        if kinds == {"I"}:
            width = max(c.width for c in self.channels)
            size = next(s for s in (1, 2, 4, 8) if s >= width)
            return np.dtype(_UINT[size])
        return np.dtype(np.float64)

    def uniform_dtype(self) -> np.dtype | None:
        """Return the on-disk dtype when every channel shares one standard type, else None."""
        first = self.channels[0]
        if self.packed or any(c.kind != first.kind or c.width != first.width for c in self.channels):
            return None
        if first.kind == "F" and first.width == 4:
            return np.dtype(f"{self.order}f4")
        if first.kind == "D" and first.width == 8:
            return np.dtype(f"{self.order}f8")
        if first.kind == "I" and first.width in _UINT:
            return np.dtype(f"{self.order}u{first.width}")
        return None


def integer_mask(bits: int, pnr: float) -> int | None:
    """Return the bit mask implied by ``$PnR`` for a ``bits``-wide integer, or None when none applies.

    The range is rounded up to a power of two; values are masked to that many bits when it is
    narrower than the stored width (FCS 3.1: "bits beyond $PnR are ignored").
    """
    if not math.isfinite(pnr) or pnr <= 0:
        return None
    if pnr > 2.0**bits:
        return None
    power = max(0, math.ceil(math.log2(pnr)))
    while 2**power < pnr:  # guard against log2 rounding
        power += 1
    if power >= bits:
        return None
    return (1 << power) - 1


def _read_array(src: BinaryIO | memoryview, offset: int, dtype: np.dtype, count: int) -> np.ndarray:
    """Read ``count`` items of ``dtype`` at absolute byte ``offset`` into a fresh writable array."""
    if isinstance(src, memoryview):
        return np.frombuffer(src, dtype=dtype, count=count, offset=offset).copy()
    src.seek(offset)
    arr = np.fromfile(src, dtype=dtype, count=count)
    if arr.size != count:  # the caller checked the size; a short read means the file changed
        raise OSError(f"short read: {arr.size} of {count} items")
    return arr


def _read_bytes(src: BinaryIO | memoryview, offset: int, n: int) -> bytes:
    if isinstance(src, memoryview):
        return bytes(src[offset : offset + n])
    src.seek(offset)
    data = src.read(n)
    if len(data) != n:
        raise OSError(f"short read: {len(data)} of {n} bytes")
    return data


def _to_native(arr: np.ndarray) -> np.ndarray:
    """Byte-swap a non-native array in place and return a native view (no copy)."""
    if arr.dtype.isnative:
        return arr
    arr.byteswap(inplace=True)
    return arr.view(arr.dtype.newbyteorder("="))


def _apply_masks(events: np.ndarray, layout: DataLayout) -> None:
    """Mask integer columns in place to their ``$PnR`` bits."""
    masks = [c.mask for c in layout.channels]
    if not any(m is not None for m in masks) or events.dtype.kind == "f":
        return
    full = np.iinfo(events.dtype).max
    row = np.array([full if m is None else m for m in masks], dtype=events.dtype)
    if all(m is not None for m in masks) and len(set(masks)) == 1:
        events &= row[0]
    else:
        events &= row


def _column_from_bytes(raw: np.ndarray, start: int, ch: ChannelLayout, order: str) -> np.ndarray:
    """Decode one channel from the (n_events, row_bytes) uint8 matrix ``raw``."""
    cols = raw[:, start : start + ch.width]
    if ch.kind == "A":
        text = np.ascontiguousarray(cols).view(f"S{ch.width}").ravel()
        return _ascii_to_float(text)
    if ch.kind in ("F", "D") or ch.width in _UINT:
        code = {"F": "f", "D": "f"}.get(ch.kind, "u")
        dt = np.dtype(f"{order}{code}{ch.width}")
        return np.ascontiguousarray(cols).view(dt).ravel()
    # non-standard integer width (24, 40, 48, 56 bits): assemble from bytes
    out_t = np.uint32 if ch.width <= 4 else np.uint64
    value: np.ndarray = np.zeros(cols.shape[0], dtype=out_t)
    byte_cols = range(ch.width) if order == ">" else range(ch.width - 1, -1, -1)
    for b in byte_cols:
        value = np.bitwise_or(np.left_shift(value, out_t(8)), cols[:, b].astype(out_t))
    return value


_PACKED_BLOCK = 1 << 15  # events unpacked per step (one byte per bit while unpacking)


def _decode_packed(src: BinaryIO | memoryview, offset: int, n_events: int, layout: DataLayout) -> np.ndarray:
    """Decode a bit-packed integer stream (least-significant bit first; see the module doc)."""
    row_bits = layout.row_bits
    raw = _read_array(src, offset, np.dtype(np.uint8), -(-n_events * row_bits // 8))
    out = np.empty((n_events, len(layout.channels)), dtype=layout.output_dtype)
    starts = np.cumsum([0, *(c.bits or 8 * c.width for c in layout.channels)])
    for first in range(0, n_events, _PACKED_BLOCK):
        n = min(_PACKED_BLOCK, n_events - first)
        lo_bit = first * row_bits  # a multiple of 8 because _PACKED_BLOCK is
        stream = np.unpackbits(raw[lo_bit // 8 : -(-(lo_bit + n * row_bits) // 8)], bitorder="little")
        rows = stream[: n * row_bits].reshape(n, row_bits)
        for j, ch in enumerate(layout.channels):
            width = ch.bits or 8 * ch.width
            weights = np.left_shift(np.uint64(1), np.arange(width, dtype=np.uint64))
            value = rows[:, starts[j] : starts[j] + width].astype(np.uint64) @ weights
            if ch.mask is not None:
                value &= np.uint64(ch.mask)
            out[first : first + n, j] = value
    return out


def _ascii_to_float(text: np.ndarray) -> np.ndarray:
    """Convert fixed-width ASCII numbers (bytes array) to float64; raise ValueError when not numbers."""
    stripped = np.char.strip(text)
    return stripped.astype(np.float64)


def decode_events(
    src: BinaryIO | memoryview, offset: int, n_events: int, layout: DataLayout, data_bytes: int
) -> np.ndarray:
    """Return the (n_events, n_channels) events stored at absolute byte ``offset``.

    ``data_bytes`` bounds delimited-ASCII DATA. Raises ValueError for ASCII text that is not
    numeric (the reader turns it into a coded error).
    """
    n_par = len(layout.channels)
    if n_events == 0:
        return np.empty((0, n_par), dtype=layout.output_dtype)
    row = layout.row_bytes
    if row == 0:  # delimited ASCII
        blob = _read_bytes(src, offset, data_bytes)
        for sep in (b",", b"\t", b"\r", b"\n"):
            blob = blob.replace(sep, b" ")
        values = np.array(blob.split()[: n_events * n_par], dtype=np.float64)
        if values.size != n_events * n_par:
            raise ValueError("delimited ASCII DATA holds fewer values than $TOT x $PAR")
        return values.reshape(n_events, n_par)
    if layout.packed:
        return _decode_packed(src, offset, n_events, layout)
    dtype = layout.uniform_dtype()
    if dtype is not None:
        events = _to_native(_read_array(src, offset, dtype, n_events * n_par)).reshape(n_events, n_par)
        _apply_masks(events, layout)
        return events
    raw = _read_array(src, offset, np.dtype(np.uint8), n_events * row).reshape(n_events, row)
    out = np.empty((n_events, n_par), dtype=layout.output_dtype)
    start = 0
    for j, ch in enumerate(layout.channels):
        col = _column_from_bytes(raw, start, ch, layout.order)
        if ch.kind == "I" and ch.mask is not None:
            col = col & col.dtype.type(ch.mask)
        out[:, j] = col
        start += ch.width
    return out
