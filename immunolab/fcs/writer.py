"""Write standard-conforming FCS 3.0/3.1 files (demo trial, tests, benchmarks).

The writer is deliberately plain: list-mode data, one data set, $DATATYPE F, D or I. Offsets
above 99,999,999 bytes are written as zeros in HEADER and given in TEXT ($BEGINDATA/$ENDDATA),
as FCS 3.1 requires for large files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["build_fcs_bytes", "write_fcs"]

_HEADER_LEN = 58


def _escape(value: str, delim: str) -> str:
    return value.replace(delim, delim + delim)


def _text_segment(keywords: Mapping[str, str], delim: str) -> bytes:
    parts = [delim]
    for key, value in keywords.items():
        if value == "":
            raise ValueError(f"FCS keyword {key} has an empty value; FCS 3.x forbids that")
        parts.append(_escape(key, delim) + delim + _escape(value, delim) + delim)
    return "".join(parts).encode("utf-8")


def _data_type(datatype: str, bits: int | None, endian: str) -> tuple[np.dtype[Any], int]:
    """Return the numpy dtype and bit width of DATA for ``$DATATYPE`` ``datatype``."""
    if datatype == "F":
        return np.dtype(f"{endian}f4"), 32
    if datatype == "D":
        return np.dtype(f"{endian}f8"), 64
    if datatype == "I":
        width = bits or 16
        return np.dtype(f"{endian}u{width // 8}"), width
    raise ValueError(f"unsupported datatype {datatype}")


def _text_keywords(events: np.ndarray, pnn: Sequence[str], pns: Sequence[str | None] | None,
                   pnr: Sequence[float] | None, keywords: Mapping[str, str] | None, *, datatype: str, width: int,
                   byteord: str) -> dict[str, str]:
    """Return the TEXT keywords: the required ones (offsets still 0), one set per channel, then ``keywords``."""
    n_ev, n_par = events.shape
    if pnr is None:
        if datatype == "I":
            pnr = [float(2**width)] * n_par
        else:
            top = np.nanmax(events, axis=0) if n_ev else np.zeros(n_par)
            pnr = [float(max(1024.0, np.ceil(t) + 1)) for t in top]
    kw: dict[str, str] = {
        "$BEGINANALYSIS": "0", "$ENDANALYSIS": "0", "$BEGINSTEXT": "0", "$ENDSTEXT": "0", "$BEGINDATA": "0",
        "$ENDDATA": "0", "$BYTEORD": byteord, "$DATATYPE": datatype, "$MODE": "L", "$NEXTDATA": "0",
        "$PAR": str(n_par), "$TOT": str(n_ev),
    }
    for i, name in enumerate(pnn, start=1):
        kw[f"$P{i}N"] = name
        if pns is not None and pns[i - 1]:
            kw[f"$P{i}S"] = str(pns[i - 1])
        kw[f"$P{i}B"] = str(width)
        kw[f"$P{i}E"] = "0,0"
        r = pnr[i - 1]
        kw[f"$P{i}R"] = str(int(r)) if float(r).is_integer() else repr(float(r))
    for k, v in (keywords or {}).items():
        kw[k] = v
    return kw


def _text_and_data_offsets(kw: dict[str, str], delimiter: str, n_data: int) -> tuple[bytes, int, int]:
    """Return the TEXT segment and DATA's first/last byte offsets (``$BEGINDATA`` set in ``kw``).

    ``$BEGINDATA`` depends on the TEXT length, which depends on ``$BEGINDATA``: iterate to a fixpoint.
    """
    begin = end = 0
    text = b""
    for _ in range(10):
        kw["$BEGINDATA"], kw["$ENDDATA"] = str(begin), str(end)
        text = _text_segment(kw, delimiter)
        new_begin = _HEADER_LEN + len(text)
        new_end = new_begin + n_data - 1 if n_data else new_begin
        if (new_begin, new_end) == (begin, end):
            break
        begin, end = new_begin, new_end
    return text, begin, end


def _header(version: str, text_len: int, begin: int, end: int, has_data: bool) -> bytes:
    """Return the 58-byte HEADER (DATA offsets 0 when they exceed 8 digits: ``$BEGINDATA`` holds them)."""

    def off(v: int) -> str:
        return f"{v:>8d}" if v <= 99_999_999 else f"{0:>8d}"

    data_begin_h, data_end_h = (begin, end) if has_data else (0, 0)
    header = f"FCS{version}    " + off(_HEADER_LEN) + off(_HEADER_LEN + text_len - 1)
    if end > 99_999_999:
        header += off(0) + off(0)
    else:
        header += off(data_begin_h) + off(data_end_h)
    header += off(0) + off(0)
    assert len(header) == _HEADER_LEN
    return header.encode("ascii")


def build_fcs_bytes(
    events: np.ndarray,
    pnn: Sequence[str],
    *,
    pns: Sequence[str | None] | None = None,
    pnr: Sequence[float] | None = None,
    keywords: Mapping[str, str] | None = None,
    version: str = "3.1",
    datatype: str = "F",
    bits: int | None = None,
    byteord: str = "1,2,3,4",
    delimiter: str = "/",
) -> bytes:
    """Return the bytes of an FCS file holding ``events`` (n_events x n_channels).

    ``datatype`` is ``F`` (float32), ``D`` (float64) or ``I`` (unsigned ints of ``bits`` = 8,
    16, 32 or 64). ``byteord`` ``1,2,3,4`` is little-endian, ``4,3,2,1`` big-endian.
    ``keywords`` are added after the required ones (values must be non-empty strings).
    """
    events = np.asarray(events)
    if events.ndim != 2 or events.shape[1] != len(pnn):
        raise ValueError("events must be n_events x len(pnn)")
    dtype, width = _data_type(datatype, bits, "<" if byteord.startswith("1") else ">")
    data = np.ascontiguousarray(events.astype(dtype, copy=False)).tobytes()
    kw = _text_keywords(events, pnn, pns, pnr, keywords, datatype=datatype, width=width, byteord=byteord)
    text, begin, end = _text_and_data_offsets(kw, delimiter, len(data))
    return _header(version, len(text), begin, end, bool(data)) + text + data


def write_fcs(path: str | os.PathLike[str], events: np.ndarray, pnn: Sequence[str], **kwargs: object) -> Path:
    """Write an FCS file to ``path`` (see :func:`build_fcs_bytes` for the options)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    blob = build_fcs_bytes(events, pnn, **kwargs)  # type: ignore[arg-type]
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, out)
    return out
