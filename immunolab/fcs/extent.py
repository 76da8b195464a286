"""Locate the DATA segment and decide how many events to read, cross-checking every source.

* HEADER and TEXT DATA offsets must agree (IML-FCS-009). Zeros in HEADER mean "see TEXT"
  (large files). ``accept_offset_error`` reads with the pair consistent with ``$TOT`` and the
  file (TEXT first) and records the tolerance.
* DATA must hold exactly ``$TOT x bytes per event`` (IML-FCS-003), except one recoverable,
  automatically recorded deviation: DATA exactly one byte longer (``data_end_off_by_one``, the
  writer bug of an exclusive end offset). ``accept_tot_mismatch`` reads ``min($TOT, whole
  events in DATA)``.
* DATA beyond the end of the file is IML-FCS-007; ``accept_tot_mismatch`` reads the whole
  events present.
* Sizes are counted in bits per event, so bit-packed FCS 2.0 data (events that do not end on a
  byte boundary) is checked like any other: DATA must hold ``ceil($TOT x bits / 8)`` bytes.
* FCS 2.0 does not define ``$BEGINDATA``/``$ENDDATA``; when an FCS 2.0 file carries them
  unreadable (FlowJo's tutorial files say ``768I``) and HEADER gives the offsets, HEADER is
  used and a warning says so. In FCS 3.x they are required and must be whole numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from immunolab.errors import InconsistentInputError
from immunolab.fcs.datasets import DataSetHead
from immunolab.fcs.segments import HEADER_BYTES, FcsHeader, fcs_error, int_keyword
from immunolab.fcs.source import ByteSource

__all__ = ["DataSpan", "data_span", "event_count"]

_REEXPORT = "Re-export the file from the acquisition software"

@dataclass
class DataSpan:
    begin: int  # absolute byte
    declared: int  # bytes between the declared offsets, inclusive
    source: str


def data_bytes(n_events: int, row_bits: int) -> int:
    """Return the bytes ``n_events`` events of ``row_bits`` bits each occupy in DATA."""
    return -(-n_events * row_bits // 8)


def data_span(src: ByteSource, head: DataSetHead, keywords: dict[str, str], label: str, row_bits: int,
              tot: int | None, accept_offset_error: bool, tolerances: list[str],
              warnings: list[str] | None = None) -> DataSpan | None:
    """Return where DATA lies, cross-checking HEADER and TEXT offsets; None when there is no DATA.

    ``row_bits`` is the size of one event in bits (0 for delimited ASCII).
    """
    h = head.header
    from_header = (h.data_begin, h.data_end) if h.data_begin and h.data_end else None
    try:
        tb = int_keyword(keywords, "$BEGINDATA")
        te = int_keyword(keywords, "$ENDDATA")
    except ValueError:
        if h.version != "2.0" or from_header is None:
            raise fcs_error("IML-FCS-005", "keyword $BEGINDATA or $ENDDATA is not a whole number", label,
                            f"{_REEXPORT}.") from None
        tb = te = None
        if warnings is not None:
            warnings.append("$BEGINDATA/$ENDDATA are not whole numbers (FCS 2.0 does not define them); "
                            "HEADER DATA offsets used")
    from_text = (tb, te) if tb is not None and te is not None and (tb, te) != (0, 0) else None
    chosen: tuple[str, tuple[int, int]] | None = None
    if from_header and from_text and from_header != from_text:
        if not accept_offset_error:
            raise fcs_error(
                "IML-FCS-009",
                f"HEADER puts DATA at bytes {from_header[0]}-{from_header[1]} but TEXT ($BEGINDATA/$ENDDATA) "
                f"at {from_text[0]}-{from_text[1]}",
                label,
                "One of them was not updated when the file was written or edited. Re-export the file, or "
                "pass --accept-offset-error to read the offsets that agree with $TOT and the file size.",
                InconsistentInputError,
            )
        candidates = [("TEXT", from_text), ("HEADER", from_header)]
        need = data_bytes(tot or 0, row_bits)
        for name, (b, e) in candidates:
            declared = e - b + 1
            fits = b >= HEADER_BYTES and e >= b and h.dataset_offset + b + need <= src.size
            if fits and (tot is None or declared in (need, need + 1)) and not _overlaps_text(h, b, e):
                chosen = (name, (b, e))
                break
        if chosen is None:
            chosen = candidates[0]
        other = "HEADER" if chosen[0] == "TEXT" else "TEXT"
        tolerances.append(f"accept_offset_error: HEADER and TEXT disagree on DATA offsets; {chosen[0]} used, {other} ignored")
    elif from_text:
        chosen = ("TEXT", from_text)
    elif from_header:
        chosen = ("HEADER", from_header)
    if chosen is None:
        return None
    name, (b, e) = chosen
    if b < HEADER_BYTES or e < b:
        raise fcs_error(
            "IML-FCS-002",
            f"{name} DATA offsets {b}-{e} are out of order or overlap the HEADER",
            label,
            f"The offsets are damaged. {_REEXPORT}.",
        )
    if _overlaps_text(h, b, e):
        raise fcs_error(
            "IML-FCS-002",
            f"{name} DATA offsets {b}-{e} overlap the TEXT segment ({h.text_begin}-{h.text_end})",
            label,
            f"The offsets are damaged. {_REEXPORT}.",
        )
    return DataSpan(h.dataset_offset + b, e - b + 1, name)


def _overlaps_text(h: FcsHeader, b: int, e: int) -> bool:
    return b <= h.text_end and e >= h.text_begin


def event_count(span: DataSpan | None, src: ByteSource, tot: int | None, row_bits: int, label: str,
                accept_tot_mismatch: bool, tolerances: list[str], warnings: list[str]) -> int:
    """Return how many events to read, after checking $TOT against the DATA size (``row_bits`` per event)."""
    declared = span.declared if span else 0
    available = max(0, min(declared, src.size - span.begin)) if span else 0
    if row_bits == 0:  # delimited ASCII: sizes cannot be cross-checked before decoding
        if tot is None:
            raise fcs_error("IML-FCS-005", "keyword $TOT is missing (required for delimited ASCII data)", label,
                            f"{_REEXPORT}.")
        if span is not None and available < declared:
            raise fcs_error("IML-FCS-007", f"DATA runs to byte {span.begin + declared - 1} but the file ends at "
                            f"byte {src.size - 1}", label, "Copy the file again from the instrument PC.")
        return tot
    whole, rest_bits = divmod(available * 8, row_bits)
    rest = rest_bits // 8
    size = f"{row_bits // 8}-byte" if row_bits % 8 == 0 else f"{row_bits}-bit"
    if tot is None:
        count = declared * 8 // row_bits
        extra = declared - data_bytes(count, row_bits)
        if extra not in (0, 1):
            raise fcs_error(
                "IML-FCS-003",
                f"$TOT is missing and DATA ({declared} bytes) is not a whole number of {size} events",
                label,
                f"{_REEXPORT}.",
                InconsistentInputError,
            )
        warnings.append("$TOT is missing (allowed in FCS 2.0); event count taken from the DATA size")
        tot = count
        if extra == 1:
            tolerances.append("data_end_off_by_one: DATA end offset is one byte past the last event; extra byte ignored")
    need = data_bytes(tot, row_bits)
    if tot == 0 and declared <= 1:
        return 0
    if declared in (need, need + 1) and tot > 0:
        if available >= need:
            if declared == need + 1:
                tolerances.append("data_end_off_by_one: DATA end offset is one byte past the last event; extra byte ignored")
            return tot
        if not accept_tot_mismatch:
            assert span is not None
            raise fcs_error(
                "IML-FCS-007",
                f"DATA should hold {tot} events ({need} bytes from byte {span.begin}) but the file ends after "
                f"{whole} whole events",
                label,
                "The file was truncated (interrupted copy or acquisition). Copy it again from the instrument PC, "
                f"or pass --accept-tot-mismatch to read the {whole} complete events.",
            )
    elif not accept_tot_mismatch:
        d_whole, d_rest = divmod(declared * 8, row_bits)
        d_rest //= 8
        per_event = f"{row_bits // 8} bytes" if row_bits % 8 == 0 else f"{row_bits} bits"
        raise fcs_error(
            "IML-FCS-003",
            f"$TOT says {tot} events ({need} bytes at {per_event} per event) but DATA holds {declared} bytes "
            f"({d_whole} whole events" + (f" + {d_rest} bytes)" if d_rest else ")"),
            label,
            "The file was probably exported before acquisition finished, or its offsets are wrong. Re-export it, "
            f"or pass --accept-tot-mismatch to read the {min(tot, whole)} complete events.",
            InconsistentInputError,
        )
    count = min(tot, whole)
    tolerances.append(
        f"accept_tot_mismatch: $TOT {tot}, DATA holds {whole} whole events" + (f" + {rest} bytes" if rest else "")
        + f"; read {count}"
    )
    return count

