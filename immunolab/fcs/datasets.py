"""Find the data sets of an FCS file ($NEXTDATA chain), choose one, and assemble its keywords.

A file may chain several data sets (Beckman LMD files carry an FCS 2.0 and an FCS 3.0 copy of
one acquisition); their offsets are relative to each data set's first byte. ``dataset=i``
(0-based) chooses one; by default the only FCS 3.x data set is read with a warning, otherwise
IML-FCS-008. A broken chain is IML-FCS-002 unless offset errors are accepted (then the chain
stops and the tolerance is recorded). Supplemental TEXT ($BEGINSTEXT/$ENDSTEXT) adds keywords;
the primary TEXT wins on conflicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from immunolab.errors import AmbiguousInputError, InputError
from immunolab.fcs.keywords import check_keyword_budget
from immunolab.fcs.segments import (
    HEADER_BYTES,
    FcsHeader,
    ParsedText,
    fcs_error,
    int_keyword,
    parse_header,
    parse_text,
)
from immunolab.fcs.source import ByteSource

__all__ = [
    "MISREAD_CODES",
    "DataSetHead",
    "ambiguous_delimiter",
    "binary_kind",
    "check_conflicts",
    "choose_dataset",
    "merge_supplemental",
    "read_text",
    "walk_datasets",
]

_REEXPORT = "Re-export the file from the acquisition software"
_MAX_DATASETS = 1000
#: keywords that decide how DATA is decoded: a repeat with a different value is fatal
_CRITICAL = ("$PAR", "$TOT", "$DATATYPE", "$BYTEORD", "$MODE", "$BEGINDATA", "$ENDDATA", "$NEXTDATA", "$TIMESTEP")
_CRITICAL_PARAM = ("B", "R", "E", "N", "G", "DATATYPE")

#: codes that a TEXT misread through an ambiguous delimiter produces
MISREAD_CODES = ("IML-FCS-002", "IML-FCS-005", "IML-FCS-006", "IML-FCS-009")


def ambiguous_delimiter(delimiter: bytes, code: str, label: str) -> InputError:
    """Return IML-FCS-004 for a TEXT whose letter/digit/$ delimiter makes keywords unreadable."""
    return fcs_error(
        "IML-FCS-004",
        f"the TEXT delimiter is the character {delimiter.decode('latin-1')!r}, which also occurs at the edge of "
        f"keywords or values, so the keywords cannot be told apart (reading them gave {code})",
        label,
        f"{_REEXPORT} with a delimiter such as '/' or '|'.",
    )


@dataclass
class DataSetHead:
    header: FcsHeader
    text: ParsedText


def read_text(src: ByteSource, header: FcsHeader, label: str) -> ParsedText:
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


def walk_datasets(src: ByteSource, label: str, accept_offset_error: bool, tolerances: list[str]) -> list[DataSetHead]:
    """Return the HEADER and TEXT of every data set chained by ``$NEXTDATA``."""
    heads: list[DataSetHead] = []
    offset = 0
    seen: set[int] = set()
    while True:
        seen.add(offset)
        header = parse_header(src.read(offset, HEADER_BYTES), label=label, dataset_offset=offset)
        text = read_text(src, header, label)
        heads.append(DataSetHead(header, text))
        try:
            nextdata = int_keyword(text.keywords, "$NEXTDATA")
        except ValueError:
            if text.delimiter_is_ambiguous:
                raise ambiguous_delimiter(text.delimiter, "IML-FCS-005", label) from None
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


def choose_dataset(heads: list[DataSetHead], dataset: Any, label: str, warnings: list[str]) -> int:
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


_MAGIC = ((b"PK\x03\x04", "a ZIP archive"), (b"\x1f\x8b", "gzip data"), (b"%PDF", "a PDF document"),
          (b"\x89PNG", "a PNG image"), (b"<?xml", "XML"))


def binary_kind(raw: bytes) -> str | None:
    """Return what a supplemental TEXT segment holds when it is not TEXT (``a ZIP archive`` ...), else None.

    TEXT opens with a delimiter that is not a letter or digit and holds printable text; a
    segment that starts with a known file signature or a NUL byte, or whose bytes
    are more than 5 % control characters (other than tab, line ends and the delimiter) is binary.
    """
    for magic, what in _MAGIC:
        if raw.startswith(magic):
            return what
    if not raw or raw[:1] == b"\x00":
        return "binary data"
    d = raw[0]
    control = sum(1 for b in raw if (b < 32 and b not in (9, 10, 13, d)) or b == 127)
    return "binary data" if control > 0.05 * len(raw) else None


def merge_supplemental(src: ByteSource, head: DataSetHead, label: str, accept_offset_error: bool,
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
    raw = src.read(base + begin, end - begin + 1)
    kind = binary_kind(raw)
    if kind is not None:
        note = f"supplemental TEXT ($BEGINSTEXT-$ENDSTEXT, {len(raw)} bytes) holds {kind}, not keywords; it was skipped"
        warnings.append(note)
        tolerances.append(f"supplemental_text_not_text: {note}")
        return keywords
    extra = parse_text(raw, label=label, segment="supplemental TEXT")
    warnings.extend(extra.warnings)
    clash = [k for k, v in extra.keywords.items() if k in keywords and keywords[k] != v]
    if clash:
        warnings.append(f"supplemental TEXT repeats {len(clash)} keyword(s) with other values; the primary TEXT wins")
    for k, v in extra.keywords.items():
        keywords.setdefault(k, v)
    check_keyword_budget(len(keywords), label=label, segment="TEXT and supplemental TEXT")
    return keywords


def check_conflicts(conflicting: list[str], label: str) -> None:
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

