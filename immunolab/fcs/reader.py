"""Read FCS 2.0/3.0/3.1/3.2 files into numpy, checking every offset and count instead of trusting it.

Public API::

    read_fcs(source, *, label=None, dataset=None, accept_offset_error=False,
             accept_tot_mismatch=False, events=True, allow_empty=False) -> FcsData
    read_fcs_metadata(source, **same options) -> FcsData      # HEADER + TEXT only, events None

``source`` is a path or the file's bytes. ``label`` is the PHI-safe display name used in every
message (default: the file name). All failures are coded :class:`~immunolab.errors.InputError`
subclasses (``IML-FCS-0xx``, ``IML-IN-001``/``005``); see ``ERROR_CODES``.

Consistency rules (each violation is an error unless stated):

* HEADER and TEXT DATA offsets must agree (IML-FCS-009). Zeros in HEADER mean "see TEXT"
  (large files). ``accept_offset_error=True`` reads anyway with the pair that is consistent
  with ``$TOT`` and the file (TEXT first) and records the tolerance.
* DATA must hold exactly ``$TOT x bytes per event`` (IML-FCS-003). One recoverable deviation
  is accepted automatically and recorded as the tolerance ``data_end_off_by_one``: DATA is
  exactly one byte longer, the well-known writer bug of an exclusive end offset (FlowJo-era
  LSRII exports such as ``test_comp_example.fcs``, Beckman LMD). The extra byte is ignored.
  ``accept_tot_mismatch=True`` reads ``min($TOT, whole events in DATA)`` events instead.
* DATA beyond the end of the file is IML-FCS-007 (truncated); ``accept_tot_mismatch`` reads the
  whole events present.
* Several data sets (``$NEXTDATA``, e.g. Beckman LMD files carrying an FCS 2.0 and an FCS 3.0
  copy): ``dataset=i`` (0-based) chooses one; by default the only FCS 3.x data set is read and
  a warning says so; otherwise IML-FCS-008.
* ``$TOT`` = 0 raises IML-FCS-010 unless ``allow_empty=True``.

Speed: events of uniform standard width are read by one ``np.fromfile`` into their final
array (byte-swapped in place when big-endian, masked in place when ``$PnR`` asks), so a
float32 file costs about one raw read of its DATA segment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from immunolab.errors import (
    AmbiguousInputError,
    InconsistentInputError,
    InputError,
    MalformedInputError,
)
from immunolab.fcs.channels import (
    FcsChannel,
    build_channels,
    preprocess_events,
    time_channel_index,
    timestep,
)
from immunolab.fcs.decode import DataLayout, decode_events
from immunolab.fcs.segments import (
    HEADER_BYTES,
    FcsHeader,
    ParsedText,
    fcs_error,
    int_keyword,
    parse_header,
    parse_text,
)

__all__ = ["FcsData", "read_fcs", "read_fcs_metadata"]

_REEXPORT = "Re-export the file from the acquisition software"
_MAX_DATASETS = 1000
#: keywords that decide how DATA is decoded: a repeat with a different value is fatal
_CRITICAL = ("$PAR", "$TOT", "$DATATYPE", "$BYTEORD", "$MODE", "$BEGINDATA", "$ENDDATA", "$NEXTDATA", "$TIMESTEP")
_CRITICAL_PARAM = ("B", "R", "E", "N", "G", "DATATYPE")


@dataclass
class FcsData:
    """One data set of an FCS file.

    ``keywords`` is the raw TEXT (upper-cased keys) and may hold patient-identifying text: it
    is for internal use only and must go through :mod:`immunolab.fcs.keywords` before anything
    is stored or shown. ``events`` is (n_events, n_channels) of raw stored values (integers
    masked to their ``$PnR`` bits), or None when read with ``events=False``. Offsets are bytes.
    """

    label: str
    version: str
    keywords: dict[str, str]
    channels: list[FcsChannel]
    events: np.ndarray | None
    n_events: int
    n_datasets: int = 1
    dataset_index: int = 0
    dataset_versions: list[str] = field(default_factory=list)
    datatype: str = ""
    byteord: str = ""
    data_offset: int = 0
    tolerances: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_channels(self) -> int:
        """Return the number of channels ($PAR)."""
        return len(self.channels)

    @property
    def pnn(self) -> list[str]:
        """Return the channel names ($PnN) in column order."""
        return [c.pnn for c in self.channels]

    @property
    def time_index(self) -> int | None:
        """Return the events column of the time channel, or None."""
        return time_channel_index(self.channels)

    @property
    def timestep(self) -> float | None:
        """Return ``$TIMESTEP`` (seconds per time tick), or None when absent or not a number."""
        return timestep(self.keywords)

    def preprocessed(self) -> np.ndarray:
        """Return float64 events with $PnE log decoding, $PnG gain and $TIMESTEP applied (FlowKit-compatible)."""
        if self.events is None:
            raise ValueError("events were not read (read_fcs(..., events=False))")
        return preprocess_events(self.events, self.channels, self.keywords)

    def spillover(self) -> Any:
        """Return the file's spillover matrix (see :func:`immunolab.fcs.spillover.spillover_from_keywords`) or None."""
        from immunolab.fcs.spillover import spillover_from_keywords

        return spillover_from_keywords(self.keywords, self.channels, label=self.label)


class _Source:
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


#: codes that a TEXT misread through an ambiguous delimiter produces
_MISREAD_CODES = ("IML-FCS-002", "IML-FCS-005", "IML-FCS-006", "IML-FCS-009")


def _ambiguous_delimiter(delimiter: bytes, code: str, label: str) -> InputError:
    """Return IML-FCS-004 for a TEXT whose letter/digit/$ delimiter makes keywords unreadable."""
    return fcs_error(
        "IML-FCS-004",
        f"the TEXT delimiter is the character {delimiter.decode('latin-1')!r}, which also occurs at the edge of "
        f"keywords or values, so the keywords cannot be told apart (reading them gave {code})",
        label,
        f"{_REEXPORT} with a delimiter such as '/' or '|'.",
    )


@dataclass
class _DataSetHead:
    header: FcsHeader
    text: ParsedText


def _read_text(src: _Source, header: FcsHeader, label: str) -> ParsedText:
    """Check the TEXT offsets of ``header`` and parse the segment."""
    base, begin, end = header.dataset_offset, header.text_begin, header.text_end
    where = "" if base == 0 else f" (data set at byte {base})"
    if begin == 0 and end == 0:
        raise fcs_error("IML-FCS-002", f"HEADER gives no TEXT offsets{where}", label, f"{_REEXPORT}.")
    if begin < HEADER_BYTES or end < begin:
        raise fcs_error(
            "IML-FCS-002",
            f"HEADER TEXT offsets {begin}-{end}{where} are out of order or overlap the HEADER",
            label,
            f"The HEADER is damaged. {_REEXPORT}.",
        )
    if base + end >= src.size:
        raise fcs_error(
            "IML-FCS-016",
            f"the TEXT segment{where} runs to byte {base + end} but the file ends at byte {src.size - 1}",
            label,
            "The file was truncated (interrupted copy or export); copy it again from the instrument PC.",
        )
    return parse_text(src.read(base + begin, end - begin + 1), label=label)


def _walk_datasets(src: _Source, label: str, accept_offset_error: bool, tolerances: list[str]) -> list[_DataSetHead]:
    """Return the HEADER and TEXT of every data set chained by ``$NEXTDATA``."""
    heads: list[_DataSetHead] = []
    offset = 0
    seen: set[int] = set()
    while True:
        seen.add(offset)
        header = parse_header(src.read(offset, HEADER_BYTES), label=label, dataset_offset=offset)
        text = _read_text(src, header, label)
        heads.append(_DataSetHead(header, text))
        try:
            nextdata = int_keyword(text.keywords, "$NEXTDATA")
        except ValueError:
            if text.delimiter_is_ambiguous:
                raise _ambiguous_delimiter(text.delimiter, "IML-FCS-005", label) from None
            raise fcs_error(
                "IML-FCS-005", "keyword $NEXTDATA is not a whole number", label, f"{_REEXPORT}."
            ) from None
        if not nextdata:
            return heads
        target = offset + nextdata
        problem = None
        if target in seen:
            problem = "points back to an earlier data set"
        elif target + HEADER_BYTES > src.size:
            problem = f"points to byte {target}, beyond the end of the file ({src.size} bytes)"
        elif src.read(target, 3) != b"FCS":
            problem = f"points to byte {target}, where no FCS HEADER starts"
        elif len(heads) >= _MAX_DATASETS:
            problem = f"chains more than {_MAX_DATASETS} data sets"
        if problem is not None:
            if accept_offset_error:
                tolerances.append(f"accept_offset_error: $NEXTDATA of data set {len(heads) - 1} ignored ({problem})")
                return heads
            raise fcs_error(
                "IML-FCS-002",
                f"$NEXTDATA of data set {len(heads) - 1} {problem}",
                label,
                f"The data-set chain is damaged. {_REEXPORT}, or pass --accept-offset-error to read the data sets before it.",
            )
        offset = target


def _choose_dataset(heads: list[_DataSetHead], dataset: Any, label: str, warnings: list[str]) -> int:
    """Return the 0-based index of the data set to read (see the module doc)."""
    versions = [h.header.version for h in heads]
    listing = ", ".join(f"{i} (FCS {v})" for i, v in enumerate(versions))
    if dataset is not None:
        try:
            index = int(dataset)
        except (TypeError, ValueError):
            index = -1
        if not 0 <= index < len(heads):
            raise AmbiguousInputError(
                "IML-FCS-008",
                f"data set {dataset!r} does not exist; the file holds {len(heads)}: {listing}",
                path=label,
                hint="Pass --dataset with one of the listed 0-based indices.",
            )
        return index
    if len(heads) == 1:
        return 0
    modern = [i for i, v in enumerate(versions) if v >= "3.0"]
    if len(modern) == 1:
        index = modern[0]
        warnings.append(
            f"the file holds {len(heads)} data sets ({listing}); read data set {index}, the only FCS 3.x one "
            "(choose another with --dataset)"
        )
        return index
    raise AmbiguousInputError(
        "IML-FCS-008",
        f"the file holds {len(heads)} data sets: {listing}",
        path=label,
        hint="Choose one with --dataset INDEX (0-based).",
    )


def _merge_supplemental(src: _Source, head: _DataSetHead, label: str, accept_offset_error: bool,
                        tolerances: list[str], warnings: list[str]) -> dict[str, str]:
    """Return the data set's keywords with those of its supplemental TEXT (primary wins)."""
    keywords = dict(head.text.keywords)
    try:
        begin = int_keyword(keywords, "$BEGINSTEXT") or 0
        end = int_keyword(keywords, "$ENDSTEXT") or 0
    except ValueError:
        raise fcs_error("IML-FCS-005", "keyword $BEGINSTEXT or $ENDSTEXT is not a whole number", label,
                        f"{_REEXPORT}.") from None
    h = head.header
    if (begin, end) == (0, 0) or (begin, end) == (h.text_begin, h.text_end):
        return keywords
    base = h.dataset_offset
    if begin < HEADER_BYTES or end < begin or base + end >= src.size:
        if accept_offset_error:
            tolerances.append("accept_offset_error: supplemental TEXT offsets out of range; ignored")
            return keywords
        raise fcs_error(
            "IML-FCS-002",
            f"supplemental TEXT offsets {begin}-{end} are out of order or beyond the end of the file ({src.size} bytes)",
            label,
            f"{_REEXPORT}, or pass --accept-offset-error to ignore the supplemental TEXT.",
        )
    extra = parse_text(src.read(base + begin, end - begin + 1), label=label, segment="supplemental TEXT")
    warnings.extend(extra.warnings)
    clash = [k for k, v in extra.keywords.items() if k in keywords and keywords[k] != v]
    if clash:
        warnings.append(f"supplemental TEXT repeats {len(clash)} keyword(s) with other values; the primary TEXT wins")
    for k, v in extra.keywords.items():
        keywords.setdefault(k, v)
    return keywords


def _check_conflicts(conflicting: list[str], label: str) -> None:
    """Reject repeated decoding keywords whose values differ."""
    for key in conflicting:
        param = key.startswith("$P") and key[2:3].isdigit()
        suffix = key.lstrip("$P0123456789") if param else ""
        if key in _CRITICAL or suffix in _CRITICAL_PARAM:
            raise fcs_error(
                "IML-FCS-004",
                f"keyword {key[:20]} appears twice in TEXT with different values",
                label,
                f"The file was edited by a tool that appended keywords. {_REEXPORT}.",
            )


@dataclass
class _Span:
    begin: int  # absolute byte
    declared: int  # bytes between the declared offsets, inclusive
    source: str


def _data_span(src: _Source, head: _DataSetHead, keywords: dict[str, str], label: str, row: int,
               tot: int | None, accept_offset_error: bool, tolerances: list[str]) -> _Span | None:
    """Return where DATA lies, cross-checking HEADER and TEXT offsets; None when there is no DATA."""
    h = head.header
    try:
        tb = int_keyword(keywords, "$BEGINDATA")
        te = int_keyword(keywords, "$ENDDATA")
    except ValueError:
        raise fcs_error("IML-FCS-005", "keyword $BEGINDATA or $ENDDATA is not a whole number", label,
                        f"{_REEXPORT}.") from None
    from_header = (h.data_begin, h.data_end) if h.data_begin and h.data_end else None
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
        need = (tot or 0) * row
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
    return _Span(h.dataset_offset + b, e - b + 1, name)


def _overlaps_text(h: FcsHeader, b: int, e: int) -> bool:
    return b <= h.text_end and e >= h.text_begin


def _event_count(span: _Span | None, src: _Source, tot: int | None, row: int, label: str,
                 accept_tot_mismatch: bool, tolerances: list[str], warnings: list[str]) -> int:
    """Return how many events to read, after checking $TOT against the DATA size."""
    declared = span.declared if span else 0
    available = max(0, min(declared, src.size - span.begin)) if span else 0
    if row == 0:  # delimited ASCII: sizes cannot be cross-checked before decoding
        if tot is None:
            raise fcs_error("IML-FCS-005", "keyword $TOT is missing (required for delimited ASCII data)", label,
                            f"{_REEXPORT}.")
        if span is not None and available < declared:
            raise fcs_error("IML-FCS-007", f"DATA runs to byte {span.begin + declared - 1} but the file ends at "
                            f"byte {src.size - 1}", label, "Copy the file again from the instrument PC.")
        return tot
    whole, rest = divmod(available, row)
    if tot is None:
        count, extra = divmod(declared, row)
        if extra not in (0, 1):
            raise fcs_error(
                "IML-FCS-003",
                f"$TOT is missing and DATA ({declared} bytes) is not a whole number of {row}-byte events",
                label,
                f"{_REEXPORT}.",
                InconsistentInputError,
            )
        warnings.append("$TOT is missing (allowed in FCS 2.0); event count taken from the DATA size")
        tot = count
        if extra == 1:
            tolerances.append("data_end_off_by_one: DATA end offset is one byte past the last event; extra byte ignored")
    need = tot * row
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
        d_whole, d_rest = divmod(declared, row)
        raise fcs_error(
            "IML-FCS-003",
            f"$TOT says {tot} events ({need} bytes at {row} bytes per event) but DATA holds {declared} bytes "
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


def read_fcs(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    label: str | None = None,
    dataset: int | None = None,
    accept_offset_error: bool = False,
    accept_tot_mismatch: bool = False,
    events: bool = True,
    allow_empty: bool = False,
) -> FcsData:
    """Read one data set of an FCS file (path or bytes) and check it (see the module doc).

    ``events=False`` reads HEADER and TEXT only (offsets and counts are still checked against
    the file size); ``FcsData.events`` is then None.
    """
    if label is None:
        label = Path(source).name if isinstance(source, str | os.PathLike) else "<bytes>"
    src = _Source(source, label)
    try:
        return _read(src, label, dataset, accept_offset_error, accept_tot_mismatch, events, allow_empty)
    except OSError as exc:
        raise InputError(
            "IML-IN-001", f"reading the file failed ({type(exc).__name__})", path=label,
            hint="Check the disk and that no other program is writing the file.",
        ) from None
    finally:
        src.close()


def read_fcs_metadata(source: str | os.PathLike[str] | bytes, **options: Any) -> FcsData:
    """Read HEADER and TEXT of one data set without its events (same options as :func:`read_fcs`)."""
    options["events"] = False
    options.setdefault("allow_empty", True)
    return read_fcs(source, **options)


def _read(src: _Source, label: str, dataset: int | None, accept_offset_error: bool,
          accept_tot_mismatch: bool, want_events: bool, allow_empty: bool) -> FcsData:
    if src.size == 0:
        raise InputError("IML-IN-005", "the file is empty (0 bytes)", path=label,
                         hint="Re-export the file from the instrument software.")
    tolerances: list[str] = []
    warnings: list[str] = []
    heads = _walk_datasets(src, label, accept_offset_error, tolerances)
    index = _choose_dataset(heads, dataset, label, warnings)
    head = heads[index]
    version = head.header.version
    warnings.extend(head.text.warnings)
    _check_conflicts(head.text.conflicting, label)
    try:
        keywords = _merge_supplemental(src, head, label, accept_offset_error, tolerances, warnings)
        channels, layout, channel_warnings = build_channels(keywords, version, label)
        warnings.extend(channel_warnings)
        try:
            tot = int_keyword(keywords, "$TOT")
        except ValueError:
            raise fcs_error("IML-FCS-005", "keyword $TOT is not a whole number", label, f"{_REEXPORT}.") from None
        if tot is None and version != "2.0":
            raise fcs_error("IML-FCS-005", f"keyword $TOT is missing (required in FCS {version})", label,
                            f"{_REEXPORT}.")
        row = layout.row_bytes
        span = _data_span(src, head, keywords, label, row, tot, accept_offset_error, tolerances)
    except InputError as exc:
        if head.text.delimiter_is_ambiguous and exc.code in _MISREAD_CODES:
            raise _ambiguous_delimiter(head.text.delimiter, exc.code, label) from None
        raise
    if span is None and (tot or 0) > 0:
        raise fcs_error(
            "IML-FCS-002",
            f"neither HEADER nor TEXT gives DATA offsets, but $TOT says {tot} events",
            label,
            f"{_REEXPORT}.",
        )
    n_events = _event_count(span, src, tot, row, label, accept_tot_mismatch, tolerances, warnings)
    if n_events == 0 and not allow_empty:
        raise fcs_error(
            "IML-FCS-010",
            "the data set holds zero events",
            label,
            "The tube recorded nothing (clog, empty tube, or acquisition stopped at once). Re-acquire it or remove it from the manifest.",
            InconsistentInputError,
        )
    if timestep(keywords) is None and "$TIMESTEP" in keywords and time_channel_index(channels) is not None:
        warnings.append("$TIMESTEP is not a number; the time channel stays in instrument ticks when preprocessed")
    matrix = None
    if want_events:
        matrix = _decode(src, span, n_events, layout, label)
    return FcsData(
        label=label,
        version=version,
        keywords=keywords,
        channels=channels,
        events=matrix,
        n_events=n_events,
        n_datasets=len(heads),
        dataset_index=index,
        dataset_versions=[h.header.version for h in heads],
        datatype=keywords.get("$DATATYPE", "").strip().upper(),
        byteord=keywords.get("$BYTEORD", "").strip(),
        data_offset=span.begin if span else 0,
        tolerances=tolerances,
        warnings=warnings,
    )


def _decode(src: _Source, span: _Span | None, n_events: int, layout: DataLayout, label: str) -> np.ndarray:
    """Decode the events, turning undecodable values into a coded error."""
    if span is None or n_events == 0:
        return np.empty((0, len(layout.channels)), dtype=layout.output_dtype)
    try:
        return decode_events(src.handle, span.begin, n_events, layout, span.declared)
    except ValueError:
        raise MalformedInputError(
            "IML-FCS-017",
            "DATA holds values that cannot be decoded (ASCII data that is not numeric)",
            path=label,
            hint=f"{_REEXPORT} with binary (I, F or D) data.",
        ) from None

