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
* Events that would need more memory than is available (:mod:`immunolab.fcs.budget`: 4 x the
  event matrix) raise IML-FCS-042 before anything is allocated.

Speed: events of uniform standard width are read by one ``np.fromfile`` into their final
array (byte-swapped in place when big-endian, masked in place when ``$PnR`` asks), so a
float32 file costs about one raw read of its DATA segment.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from immunolab.errors import InconsistentInputError, InputError, MalformedInputError
from immunolab.fcs.budget import check_memory
from immunolab.fcs.channels import (
    FcsChannel,
    build_channels,
    needs_preprocessing,
    preprocess_events,
    preprocess_in_place,
    time_channel_index,
    timestep,
)
from immunolab.fcs.datasets import (
    MISREAD_CODES,
    ambiguous_delimiter,
    check_conflicts,
    choose_dataset,
    merge_supplemental,
    walk_datasets,
)
from immunolab.fcs.decode import DataLayout, decode_events
from immunolab.fcs.extent import DataSpan, data_span, event_count
from immunolab.fcs.segments import fcs_error, int_keyword
from immunolab.fcs.source import ByteSource
from immunolab.fcs.spillover import names_only_spillover

if TYPE_CHECKING:
    from immunolab.fcs.spillover import Spillover

__all__ = ["FcsData", "read_fcs", "read_fcs_metadata"]

_REEXPORT = "Re-export the file from the acquisition software"


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

    def preprocess_block(self, block: np.ndarray, columns: Sequence[int]) -> None:
        """Apply what :meth:`preprocessed` applies, in place, to a float64 block of events.

        Column ``k`` of ``block`` holds channel ``columns[k]``: the flow pipeline preprocesses
        only the channels it gates on, a few thousand events at a time, instead of copying
        the whole matrix to float64.
        """
        preprocess_in_place(block, columns, self.channels, self.keywords)

    def needs_preprocessing(self, columns: Sequence[int] | None = None) -> bool:
        """Return True when :meth:`preprocessed` changes any of ``columns`` (default: all)."""
        cols = range(self.n_channels) if columns is None else columns
        return needs_preprocessing(self.channels, self.keywords, cols)

    def spillover(self) -> Spillover | None:
        """Return the file's spillover matrix (see :func:`immunolab.fcs.spillover.spillover_from_keywords`) or None."""
        from immunolab.fcs.spillover import spillover_from_keywords

        return spillover_from_keywords(self.keywords, self.channels, label=self.label)


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
    src = ByteSource(source, label)
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


def _read(src: ByteSource, label: str, dataset: int | None, accept_offset_error: bool,
          accept_tot_mismatch: bool, want_events: bool, allow_empty: bool) -> FcsData:
    if src.size == 0:
        raise InputError("IML-IN-005", "the file is empty (0 bytes)", path=label,
                         hint="Re-export the file from the instrument software.")
    tolerances: list[str] = []
    warnings: list[str] = []
    heads = walk_datasets(src, label, accept_offset_error, tolerances)
    index = choose_dataset(heads, dataset, label, warnings)
    head = heads[index]
    version = head.header.version
    warnings.extend(head.text.warnings)
    check_conflicts(head.text.conflicting, label)
    try:
        keywords = merge_supplemental(src, head, label, accept_offset_error, tolerances, warnings)
        channels, layout, channel_warnings = build_channels(keywords, version, label)
        warnings.extend(channel_warnings)
        try:
            tot = int_keyword(keywords, "$TOT")
        except ValueError:
            raise fcs_error("IML-FCS-005", "keyword $TOT is not a whole number", label, f"{_REEXPORT}.") from None
        if tot is None and version != "2.0":
            raise fcs_error("IML-FCS-005", f"keyword $TOT is missing (required in FCS {version})", label,
                            f"{_REEXPORT}.")
        row_bits = layout.row_bits
        span = data_span(src, head, keywords, label, row_bits, tot, accept_offset_error, tolerances, warnings)
    except InputError as exc:
        if head.text.delimiter_is_ambiguous and exc.code in MISREAD_CODES:
            raise ambiguous_delimiter(head.text.delimiter, exc.code, label) from None
        raise
    if span is None and (tot or 0) > 0:
        raise fcs_error(
            "IML-FCS-002",
            f"neither HEADER nor TEXT gives DATA offsets, but $TOT says {tot} events",
            label,
            f"{_REEXPORT}.",
        )
    n_events = event_count(span, src, tot, row_bits, label, accept_tot_mismatch, tolerances, warnings)
    if n_events == 0 and not allow_empty:
        raise fcs_error(
            "IML-FCS-010",
            "the data set holds zero events",
            label,
            "The tube recorded nothing (clog, empty tube, or acquisition stopped at once). Re-acquire it or remove it from the manifest.",
            InconsistentInputError,
        )
    if timestep(keywords) is None and "$TIMESTEP" in keywords and time_channel_index(channels) is not None:
        warnings.append("$TIMESTEP is not a usable number; the time channel stays in instrument ticks when preprocessed")
    spill_names = names_only_spillover(keywords)
    if spill_names is not None:
        warnings.append(f"{spill_names} lists channel names but no matrix values: the file carries no spillover matrix")
    matrix = None
    if want_events:
        check_memory(n_events, len(layout.channels), layout.output_dtype.itemsize, label=label,
                     ascii_data=layout.row_bytes == 0)  # IML-FCS-042 before a byte of DATA is read
        matrix = _decode(src, span, n_events, layout, label)
        warnings.extend(_non_finite_warning(matrix, channels))
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


def _non_finite_warning(matrix: np.ndarray, channels: Sequence[FcsChannel]) -> list[str]:
    """Return a coded warning (IML-FCS-041) when float events hold NaN or infinity (counted in blocks)."""
    if matrix.dtype.kind != "f" or matrix.size == 0:
        return []
    if np.isfinite(matrix.min()) and np.isfinite(matrix.max()):  # NaN and infinity reach min or max: ~2 ms / 12M values
        return []
    bad = np.zeros(matrix.shape[1], dtype=np.int64)
    for start in range(0, matrix.shape[0], 1 << 16):
        bad += (~np.isfinite(matrix[start:start + (1 << 16)])).sum(axis=0)
    if not bad.any():
        return []
    names = [channels[int(j)].pnn for j in np.flatnonzero(bad)][:8]
    return [f"IML-FCS-041 DATA holds {int(bad.sum()):,} value(s) that are not finite numbers (NaN or infinity) in "
            f"{', '.join(names)}; events holding them may be left out or mis-gated (check the acquisition software's "
            "export settings)."]


def _decode(src: ByteSource, span: DataSpan | None, n_events: int, layout: DataLayout, label: str) -> np.ndarray:
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

