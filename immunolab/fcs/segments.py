"""Parse the HEADER and TEXT segments of one FCS data set into offsets and keywords.

The HEADER is 58 ASCII bytes: ``FCSx.y``, four spaces, then six right-justified 8-byte
integers (TEXT, DATA and ANALYSIS begin/end offsets, inclusive, relative to the start of the
data set). The TEXT segment opens with its delimiter byte and holds ``key<d>value<d>`` pairs.

TEXT parsing rules (FCS 2.0-3.2, plus the recoverable deviations found in real files):

* the delimiter is the first byte and may be any byte except 0x00 (``/``, ``\\``, ``|``, form
  feed, ``+ ( [ ?`` ... all work);
* a delimiter inside a keyword or value is written twice (``a//b`` is ``a/b``);
* empty values (FCS 2.0 writers, forbidden by 3.x) appear as ``KEY//NEXTKEY``; they are read as
  empty strings when the standard reading would put a delimiter inside a keyword name;
* padding (spaces, NULs, line ends) after the final delimiter is ignored; a missing final
  delimiter is tolerated with a warning;
* at most :data:`immunolab.fcs.keywords.MAX_KEYWORDS` keywords (IML-FCS-040 beyond);
* keywords are upper-cased and stripped; values are decoded as UTF-8, falling back to Latin-1
  with a warning that names the keyword (never the value).

Every failure raises a coded :class:`~immunolab.errors.InputError` naming the file label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from immunolab.errors import InputError, MalformedInputError
from immunolab.fcs import keywords as keywords_module
from immunolab.fcs.keywords import check_keyword_budget

__all__ = [
    "HEADER_BYTES",
    "SUPPORTED_VERSIONS",
    "FcsHeader",
    "ParsedText",
    "fcs_error",
    "int_keyword",
    "parse_header",
    "parse_text",
]

HEADER_BYTES = 58
SUPPORTED_VERSIONS = ("2.0", "3.0", "3.1", "3.2")
_VERSION = re.compile(rb"^FCS(\d\.\d)")
_DIGITS = re.compile(r"^\s*\d+\s*$")
_PADDING = b" \t\r\n\x00"

_REEXPORT = "Re-export the file from the acquisition software"


def fcs_error(
    code: str, message: str, label: str, hint: str, cls: type[InputError] = MalformedInputError
) -> InputError:
    """Return a coded input error for FCS file ``label`` (message and hint are PHI-free)."""
    return cls(code, message, path=label, hint=hint)


@dataclass(frozen=True)
class FcsHeader:
    """The 58-byte HEADER of one data set; offsets are relative to ``dataset_offset`` (bytes).

    A blank or all-zero field is ``0`` (FCS 3.x writes zeros when a segment lies beyond byte
    99,999,999 and gives the offsets in TEXT instead).
    """

    version: str
    dataset_offset: int
    text_begin: int
    text_end: int
    data_begin: int
    data_end: int
    analysis_begin: int
    analysis_end: int


def parse_header(raw: bytes, *, label: str, dataset_offset: int = 0) -> FcsHeader:
    """Parse the HEADER bytes ``raw`` of the data set starting at ``dataset_offset``.

    Raises IML-FCS-001 (not FCS / unsupported version), IML-FCS-016 (HEADER cut short) or
    IML-FCS-002 (an offset field is not a non-negative integer).
    """
    where = "" if dataset_offset == 0 else f" of the data set at byte {dataset_offset}"
    match = _VERSION.match(raw[:6])
    if match is None:
        raise fcs_error(
            "IML-FCS-001",
            f"the HEADER{where} does not start with 'FCSx.y', so this is not an FCS data set",
            label,
            "Check that the file is an FCS export (not a workspace, CSV or image); if it was renamed, restore its origin.",
        )
    version = match.group(1).decode("ascii")
    if version not in SUPPORTED_VERSIONS:
        raise fcs_error(
            "IML-FCS-001",
            f"FCS version {version} is not supported (supported: {', '.join(SUPPORTED_VERSIONS)})",
            label,
            f"{_REEXPORT} as FCS 3.1.",
        )
    if len(raw) < HEADER_BYTES:
        raise fcs_error(
            "IML-FCS-016",
            f"the file ends after {len(raw)} bytes, inside the 58-byte HEADER{where}",
            label,
            "The file was truncated (interrupted copy or export); copy it again from the instrument PC.",
        )
    names = ("TEXT begin", "TEXT end", "DATA begin", "DATA end", "ANALYSIS begin", "ANALYSIS end")
    values: list[int] = []
    for i, name in enumerate(names):
        field = raw[10 + 8 * i : 18 + 8 * i]
        text = field.decode("latin-1").strip()
        if text == "":
            values.append(0)
            continue
        if not text.isdigit() or not text.isascii():
            if i >= 4:  # ANALYSIS offsets are not needed to read events; note and ignore
                values.append(0)
                continue
            raise fcs_error(
                "IML-FCS-002",
                f"HEADER{where} field '{name}' (bytes {10 + 8 * i}-{17 + 8 * i}) is not a non-negative integer",
                label,
                f"The HEADER is damaged. {_REEXPORT}.",
            )
        values.append(int(text))
    return FcsHeader(version, dataset_offset, *values)


def _split_runs(body: bytes, delim: bytes) -> tuple[list[bytes], list[int]]:
    """Split ``body`` into atoms (no delimiter) and the lengths of the delimiter runs between them."""
    parts = body.split(delim)
    atoms: list[bytes] = [parts[0]]
    runs: list[int] = []
    run = 1
    for piece in parts[1:]:
        if piece == b"":
            run += 1
            continue
        runs.append(run)
        atoms.append(piece)
        run = 1
    if len(parts) > 1 and parts[-1] == b"":
        runs.append(run - 1)  # delimiters after the last atom (the final one included)
        atoms.append(b"")
    return atoms, runs


def _tokens_standard(atoms: list[bytes], runs: list[int], d: bytes) -> list[bytes]:
    """Read left to right: 2k delimiters are k literal ones, an odd run ends a token."""
    tokens: list[bytes] = []
    cur = atoms[0]
    for run, atom in zip(runs, atoms[1:], strict=True):
        cur += d * (run // 2)
        if run % 2:
            tokens.append(cur)
            cur = atom
        else:
            cur += atom
    if cur != b"":
        tokens.append(cur)
    return tokens


def _tokens_keys_clean(atoms: list[bytes], runs: list[int], d: bytes) -> list[bytes]:
    """Read assuming keyword names never hold the delimiter (resolves empty values)."""
    tokens: list[bytes] = []
    cur = atoms[0]
    for run, atom in zip(runs, atoms[1:], strict=True):
        at_key = len(tokens) % 2 == 0
        if at_key:
            if run % 2 == 0:  # KEY//NEXT: an empty value
                tokens.extend([cur, b""])
                cur = d * ((run - 2) // 2) + atom
            else:  # KEY///value: the value starts with a literal delimiter
                tokens.append(cur)
                cur = d * (run // 2) + atom
        elif run % 2 == 0:
            cur += d * (run // 2) + atom
        else:
            tokens.append(cur + d * (run // 2))
            cur = atom
    if cur != b"":
        tokens.append(cur)
    return tokens


def _valid(tokens: list[bytes], d: bytes) -> tuple[bool, bool]:
    """Return (structurally valid, no keyword holds the delimiter)."""
    if len(tokens) % 2:
        return False, False
    keys = tokens[0::2]
    if any(k.strip(_PADDING) == b"" for k in keys):
        return False, False
    return True, not any(d in k for k in keys)


def _decode_key(raw: bytes) -> str:
    return raw.decode("latin-1").strip().upper()


@dataclass
class ParsedText:
    """Keywords of one TEXT segment, warnings, and keywords repeated with different values."""

    keywords: dict[str, str]
    warnings: list[str]
    conflicting: list[str]
    delimiter: bytes = b"/"

    @property
    def delimiter_is_ambiguous(self) -> bool:
        """Return True when the delimiter is a letter, digit or ``$``: it can then also start or end keywords and values."""
        return self.delimiter.isalnum() or self.delimiter == b"$"


def _pair_tokens(atoms: list[bytes], runs: list[int], d: bytes, *, segment: str, label: str, warnings: list[str]) -> list[bytes]:
    """Return the keyword/value tokens of a TEXT body: the standard split, else the empty-value reading (IML-FCS-004)."""
    std = _tokens_standard(atoms, runs, d)
    std_ok, std_clean = _valid(std, d)
    tokens: list[bytes] | None = None
    if std_ok and std_clean:
        tokens = std
    else:
        alt = _tokens_keys_clean(atoms, runs, d)
        alt_ok, _ = _valid(alt, d)
        if alt_ok:
            tokens = alt
            n_empty = sum(1 for v in alt[1::2] if v == b"")
            if n_empty:
                warnings.append(f"{segment} segment holds {n_empty} keyword(s) with an empty value (double delimiter)")
        elif std_ok:
            tokens = std
    if tokens is None:
        raise fcs_error(
            "IML-FCS-004",
            f"the {segment} segment (delimiter byte 0x{d[0]:02x}) does not split into keyword/value pairs "
            f"({len(std)} fields)",
            label,
            "A delimiter inside a value was probably not doubled, or the segment offsets are wrong. "
            f"{_REEXPORT}.",
        )
    return tokens


def _keywords_of(tokens: list[bytes], *, segment: str, warnings: list[str]) -> tuple[dict[str, str], list[str]]:
    """Return ``{KEYWORD: value}`` (first value of a repeat; UTF-8, else Latin-1) and the keywords repeated differently."""
    keywords: dict[str, str] = {}
    dup: list[str] = []
    badenc: list[str] = []
    for k_raw, v_raw in zip(tokens[0::2], tokens[1::2], strict=True):
        key = _decode_key(k_raw)
        try:
            value = v_raw.decode("utf-8")
        except UnicodeDecodeError:
            value = v_raw.decode("latin-1")
            badenc.append(key)
        if key in keywords:
            if keywords[key] != value:
                dup.append(key)
            continue
        keywords[key] = value
    if badenc:
        warnings.append(
            f"{segment} values of {', '.join(_short(badenc))} are not UTF-8; read as Latin-1"
        )
    if dup:
        warnings.append(f"{segment} repeats {', '.join(_short(dup))} with different values; the first is used")
    return keywords, dup


def parse_text(raw: bytes, *, label: str, segment: str = "TEXT") -> ParsedText:
    """Parse a TEXT (or supplemental TEXT) segment into ``{KEYWORD: value}`` plus warnings.

    Keys are upper-cased and stripped; values are kept verbatim (decoded). A repeated keyword
    keeps its first value; repeats with a different value are listed in ``conflicting`` (the
    reader rejects them when they matter for decoding). Raises IML-FCS-004 when the segment
    cannot be read as keyword/value pairs.
    """
    warnings: list[str] = []
    if len(raw) < 2:
        raise fcs_error(
            "IML-FCS-004",
            f"the {segment} segment holds {len(raw)} byte(s); it needs a delimiter and keyword/value pairs",
            label,
            f"The TEXT offsets in HEADER are probably wrong. {_REEXPORT}.",
        )
    d = raw[:1]
    if d == b"\x00":
        raise fcs_error(
            "IML-FCS-004",
            f"the {segment} segment starts with a NUL byte, which cannot be a delimiter",
            label,
            f"The TEXT offset in HEADER probably points at padding. {_REEXPORT}.",
        )
    body = raw[1:]
    # refuse a flood before splitting it: each keyword costs two delimiters; allow escapes to double that
    n_delimiters = body.count(d)
    flood = n_delimiters > 4 * keywords_module.MAX_KEYWORDS
    check_keyword_budget(n_delimiters // 2 if flood else 0, label=label, segment=segment, n_bytes=len(raw))
    last = body.rfind(d)
    tail = body[last + 1 :] if last >= 0 else body
    pad = _PADDING.replace(d, b"")
    if last >= 0 and tail.strip(pad) == b"":
        body = body[: last + 1]
    elif tail:
        warnings.append(f"{segment} segment does not end with its delimiter; the last value was read up to the segment end")
    atoms, runs = _split_runs(body, d)

    tokens = _pair_tokens(atoms, runs, d, segment=segment, label=label, warnings=warnings)
    check_keyword_budget(len(tokens) // 2, label=label, segment=segment)  # before decoding any of them
    keywords, dup = _keywords_of(tokens, segment=segment, warnings=warnings)
    return ParsedText(keywords, warnings, dup, d)


def _short(names: list[str], limit: int = 8) -> list[str]:
    """Return at most ``limit`` keyword names, then a count of the rest."""
    shown = [n[:40] for n in names[:limit]]
    if len(names) > limit:
        shown.append(f"and {len(names) - limit} more")
    return shown


def int_keyword(keywords: dict[str, str], key: str) -> int | None:
    """Return keyword ``key`` as a non-negative int, None when absent, or raise ValueError."""
    value = keywords.get(key)
    if value is None:
        return None
    if not _DIGITS.match(value):
        raise ValueError(key)
    return int(value.strip())
