"""Build FCS files byte by byte, valid or deliberately broken, for the FCS reader tests.

:func:`build_fcs` assembles HEADER, TEXT and DATA from a :class:`FcsSpec` with full control
(any delimiter, escaping on or off, keywords dropped or overridden, HEADER fields replaced,
trailing bytes), so a test can produce exactly the defect it names. :func:`malformed_variants`
yields hundreds of named broken variants of a few valid base files for the reliability test.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

HEADER_LEN = 58
TEXT_START = HEADER_LEN


@dataclass
class FcsSpec:
    """A synthetic FCS data set; ``bits`` is one width for all channels or one per channel."""

    events: np.ndarray
    version: str = "3.1"
    datatype: str = "F"
    bits: int | list[int] = 32
    byteord: str = "1,2,3,4"
    delimiter: bytes = b"/"
    pnr: list[str] | None = None
    extra: list[tuple[str, str | bytes]] = field(default_factory=list)
    drop: set[str] = field(default_factory=set)
    override: dict[str, str | bytes] = field(default_factory=dict)
    channel_datatypes: list[str] | None = None  # FCS 3.2 $PnDATATYPE
    offsets_in_text: bool = True
    escape: bool = True
    header_override: dict[int, bytes] = field(default_factory=dict)
    data_override: bytes | None = None
    text_padding: bytes = b""
    final_delimiter: bool = True
    trailing: bytes = b""
    names: list[str] | None = None

    @property
    def widths(self) -> list[int]:
        """Return the bits of every channel."""
        n = self.events.shape[1]
        return list(self.bits) if isinstance(self.bits, list) else [self.bits] * n


def pack_bits(events: np.ndarray, widths: list[int]) -> bytes:
    """Return integer ``events`` as one bit stream, least-significant bit first (FCS 2.0 packing)."""
    n = events.shape[0]
    fields = []
    for j, bits in enumerate(widths):
        vals = np.asarray(events[:, j]).astype(np.uint64)
        fields.append(((vals[:, None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8))
    stream = np.concatenate(fields, axis=1).reshape(-1) if n else np.zeros(0, dtype=np.uint8)
    return np.packbits(stream, bitorder="little").tobytes()


def encode_data(spec: FcsSpec) -> bytes:
    """Return the DATA bytes of ``spec`` (row-major; whole-byte widths, or a bit stream when a
    width is not a multiple of 8)."""
    events = np.asarray(spec.events)
    n, p = events.shape
    if spec.datatype == "I" and any(b % 8 for b in spec.widths):
        return pack_bits(events, spec.widths) if n else b""
    little = spec.byteord.replace(" ", "").startswith("1")
    kinds = spec.channel_datatypes or [spec.datatype] * p
    cols: list[np.ndarray] = []
    for j, (kind, bits) in enumerate(zip(kinds, spec.widths, strict=True)):
        width = bits // 8
        col = events[:, j]
        if kind in ("F", "D"):
            dt = np.dtype(("<" if little else ">") + ("f4" if kind == "F" else "f8"))
            raw = col.astype(dt).view(np.uint8).reshape(n, width)
        else:
            vals = col.astype(np.uint64)
            raw = np.zeros((n, width), dtype=np.uint8)
            for b in range(width):
                byte = ((vals >> np.uint64(8 * b)) & np.uint64(0xFF)).astype(np.uint8)
                raw[:, b if little else width - 1 - b] = byte
        cols.append(raw)
    if not cols or n == 0:
        return b""
    return np.concatenate(cols, axis=1).tobytes()


def _to_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def _keywords(spec: FcsSpec, begin: int, end: int) -> list[tuple[str, bytes]]:
    n, p = np.asarray(spec.events).shape
    kw: list[tuple[str, str | bytes]] = [
        ("$BEGINANALYSIS", "0"),
        ("$ENDANALYSIS", "0"),
        ("$BEGINSTEXT", "0"),
        ("$ENDSTEXT", "0"),
    ]
    if spec.offsets_in_text:
        kw += [("$BEGINDATA", str(begin)), ("$ENDDATA", str(end))]
    kw += [
        ("$BYTEORD", spec.byteord),
        ("$DATATYPE", spec.datatype),
        ("$MODE", "L"),
        ("$NEXTDATA", "0"),
        ("$PAR", str(p)),
        ("$TOT", str(n)),
    ]
    names = spec.names or [f"CH{j + 1}" for j in range(p)]
    for j, bits in enumerate(spec.widths, start=1):
        kw.append((f"$P{j}N", names[j - 1]))
        kw.append((f"$P{j}B", str(bits)))
        kw.append((f"$P{j}E", "0,0"))
        rng = spec.pnr[j - 1] if spec.pnr else (str(2**bits) if spec.datatype == "I" else "262144")
        kw.append((f"$P{j}R", rng))
        if spec.channel_datatypes:
            kw.append((f"$P{j}DATATYPE", spec.channel_datatypes[j - 1]))
    kw += spec.extra
    out: list[tuple[str, bytes]] = []
    for key, value in kw:
        if key in spec.drop:
            continue
        out.append((key, _to_bytes(spec.override.get(key, value))))
    for key, value in spec.override.items():
        if key not in {k for k, _ in out} and key not in spec.drop:
            out.append((key, _to_bytes(value)))
    return out


def _text(spec: FcsSpec, begin: int, end: int) -> bytes:
    d = spec.delimiter
    parts = [d]
    for key, value in _keywords(spec, begin, end):
        k = key.encode("utf-8")
        if spec.escape:
            k, value = k.replace(d, d + d), value.replace(d, d + d)
        parts.append(k + d + value + d)
    text = b"".join(parts)
    if not spec.final_delimiter:
        text = text[:-1]
    return text + spec.text_padding


def build_fcs(spec: FcsSpec) -> bytes:
    """Return the bytes of the FCS file described by ``spec`` (offsets computed to a fixpoint)."""
    data = spec.data_override if spec.data_override is not None else encode_data(spec)
    begin = end = 0
    for _ in range(12):
        text = _text(spec, begin, end)
        new_begin = TEXT_START + len(text)
        new_end = new_begin + len(data) - 1 if data else 0
        if data == b"":
            new_begin = 0
        if (new_begin, new_end) == (begin, end):
            break
        begin, end = new_begin, new_end
    text_end = TEXT_START + len(text) - 1
    fields = [TEXT_START, text_end, begin, end, 0, 0]
    header = f"FCS{spec.version}    ".encode("ascii")
    for i, value in enumerate(fields):
        header += spec.header_override.get(i, f"{value:>8d}".encode("ascii"))
    return header + text + data + spec.trailing


def base_specs() -> dict[str, FcsSpec]:
    """Return the valid base files the malformed variants start from."""
    rng = np.random.default_rng(7)
    n = 12
    floats = rng.normal(1000, 300, size=(n, 3)).astype(np.float32)
    ints = rng.integers(0, 1024, size=(n, 4))
    return {
        "f32_le_31": FcsSpec(floats, version="3.1", datatype="F", bits=32),
        "i16_be_20": FcsSpec(
            ints, version="2.0", datatype="I", bits=16, byteord="4,3,2,1", pnr=["1024"] * 4,
            offsets_in_text=False, delimiter=b"\\", override={"$P3E": "4,1"},
            extra=[("$P2G", "2.5"), ("$FIL", "SMITH_JOHN.fcs"), ("$DATE", "25-NOV-26")],
        ),
        "d64_be_30": FcsSpec(floats.astype(np.float64), version="3.0", datatype="D", bits=64, byteord="4,3,2,1",
                             delimiter=b"|"),
        "mixed_int_30": FcsSpec(ints % np.array([256, 1024, 1024, 1024]), version="3.0", datatype="I", bits=[8, 16, 32, 24],
                                pnr=["256", "1024", "11209599", "16777216"], delimiter=b"\x0c"),
        "mixed_type_32": FcsSpec(
            np.column_stack([ints[:, :2], floats[:, :1]]).astype(np.float64), version="3.2", datatype="I",
            bits=[16, 32, 32], pnr=["65536", "65536", "262144"], channel_datatypes=["I", "I", "F"],
        ),
    }


Variant = tuple[str, bytes]


def _spec_variants(name: str, spec: FcsSpec) -> Iterator[Variant]:
    """Yield variants built by changing the spec (keywords, delimiters, escaping, sizes)."""
    n, p = np.asarray(spec.events).shape
    required = ["$PAR", "$TOT", "$DATATYPE", "$BYTEORD", "$MODE", "$P1B", "$P1N", "$P1R", "$P1E",
                "$BEGINDATA", "$ENDDATA", "$NEXTDATA"]
    for key in required:
        yield f"{name}/missing{key}", build_fcs(replace(spec, drop={key}))
    bad_values = {
        "$TOT": [str(n + 1), str(n - 1), "0", "99999999999999999999", "-3", "ten", "12.0", ""],
        "$PAR": [str(p + 1), str(p - 1), "0", "-1", "many", "1000000", ""],
        "$DATATYPE": ["X", "", "f", "A", "i"],
        "$BYTEORD": ["3,4,1,2", "little", "", "1,2", "4,3,2,1", "1,2,3,4,5,6,7,8", "2,1"],
        "$MODE": ["C", "U", "", "l"],
        "$P1B": ["0", "12", "7", "128", "abc", "24", "-16", "", "*"],
        "$P1R": ["0", "-5", "1e400", "nan", "inf", "1e30", "1024.5", "abc", "", "1"],
        "$P1E": ["4", "a,b", "-1,0", "4,0", "0,0,0", "", "inf,1"],
        "$P1G": ["0", "-1", "nan", "abc", "1e308"],
        "$P1N": ["", "CH2"],
        "$NEXTDATA": ["58", "1", "999999999", "abc", "-1", str(len(build_fcs(spec)))],
        "$BEGINSTEXT": ["5", "999999999", "abc"],
        "$ENDSTEXT": ["999999999", "3"],
        "$BEGINDATA": ["0", "1", "abc", "999999999", "-1"],
        "$ENDDATA": ["0", "1", "abc", "999999999", "-1"],
        "$TIMESTEP": ["abc", "", "nan"],
        "$SPILLOVER": ["2,CH1,CH2,1,0,0,1", "2,CH1,XX,1,0,0,1", "3,CH1", "x", "1,CH1,nan", "2,CH1,CH1,1,0,0,1"],
        "$DATE": ["31-FEB-2026", "garbage", "2026-13-01"],
    }
    for key, values in bad_values.items():
        for value in values:
            yield f"{name}/{key}={value!r}", build_fcs(replace(spec, override={**spec.override, key: value}))
    # every legal delimiter byte
    for code in range(1, 256):
        d = bytes([code])
        yield f"{name}/delimiter=0x{code:02x}", build_fcs(replace(spec, delimiter=d))
    yield f"{name}/delimiter=NUL", build_fcs(replace(spec, delimiter=b"\x00"))
    d = spec.delimiter
    # delimiters inside values, escaped and not
    for raw in (b"a" + d + b"b", d + b"lead", b"trail" + d, b"x" + d + d + b"y"):
        yield f"{name}/escaped-value", build_fcs(replace(spec, extra=[*spec.extra, ("$COM", raw)]))
        yield f"{name}/unescaped-value", build_fcs(replace(spec, escape=False, extra=[*spec.extra, ("$COM", raw)]))
    # empty values (double delimiters)
    for key in ("$COM", "$P1S", "$TIMESTEP", "$CYT"):
        yield f"{name}/empty{key}", build_fcs(replace(spec, extra=[*spec.extra, (key, "")]))
    yield f"{name}/empty$TOT", build_fcs(replace(spec, override={**spec.override, "$TOT": ""}))
    # non-UTF-8 text
    yield f"{name}/latin1-value", build_fcs(replace(spec, extra=[*spec.extra, ("$OP", b"J\xe9r\xf4me M\xfcller")]))
    yield f"{name}/binary-key", build_fcs(replace(spec, extra=[*spec.extra, ("\xff\xfeKEY", "v")]))
    yield f"{name}/latin1-pnn", build_fcs(replace(spec, override={**spec.override, "$P1N": b"CD4 \xb5"}))
    # duplicate keywords
    yield f"{name}/duplicate-$TOT", build_fcs(replace(spec, extra=[*spec.extra, ("$TOT", str(n + 5))]))
    yield f"{name}/duplicate-$COM", build_fcs(replace(spec, extra=[*spec.extra, ("$COM", "a"), ("$COM", "b")]))
    # zero events and DATA size mismatches
    zero = replace(spec, events=np.asarray(spec.events)[:0])
    yield f"{name}/zero-events", build_fcs(zero)
    data = encode_data(spec)
    for cut in (1, 2, 3, len(data) // 2, len(data) - 1):
        yield f"{name}/data-short-{cut}", build_fcs(replace(spec, data_override=data[:cut]))
    for extra_bytes in (1, 2, 7, len(data)):
        yield f"{name}/data-long-{extra_bytes}", build_fcs(replace(spec, data_override=data + b"\x00" * extra_bytes))
    yield f"{name}/no-final-delimiter", build_fcs(replace(spec, final_delimiter=False))
    yield f"{name}/text-padding", build_fcs(replace(spec, text_padding=b"   \x00\r\n"))
    yield f"{name}/trailing-crc", build_fcs(replace(spec, trailing=b"00000000"))


def _header_variants(name: str, blob: bytes) -> Iterator[Variant]:
    """Yield variants with HEADER fields or version replaced."""
    for i, field_name in enumerate(("text_begin", "text_end", "data_begin", "data_end", "ana_begin", "ana_end")):
        start = 10 + 8 * i
        current = int(blob[start : start + 8].strip() or b"0")
        for label, value in (
            ("blank", b" " * 8), ("zero", b"       0"), ("negative", b"      -1"), ("garbage", b"abcdefgh"),
            ("beyond", f"{len(blob) + 1000:>8d}".encode()), ("plus1", f"{current + 1:>8d}".encode()),
            ("minus1", f"{max(current - 1, 0):>8d}".encode()), ("huge", b"99999999"),
            ("zeropad", f"{current:08d}".encode()), ("leftjust", f"{current:<8d}".encode()),
        ):
            yield f"{name}/header-{field_name}-{label}", blob[:start] + value + blob[start + 8 :]
    for version in (b"FCS1.0", b"FCS3.3", b"FCS9.9", b"XCS3.1", b"fcs3.1", b"FCS3,1", b"FCS4.0"):
        yield f"{name}/version-{version!r}", version + blob[6:]
    yield f"{name}/header-nonspace-gap", blob[:6] + b"XXXX" + blob[10:]


def _truncations(name: str, blob: bytes, count: int) -> Iterator[Variant]:
    """Yield the file cut at ``count`` positions spread over HEADER, TEXT and DATA."""
    positions = sorted({0, 1, 5, 10, 57, 58, 59, len(blob) - 1, len(blob) - 2,
                        *np.linspace(0, len(blob) - 1, num=count, dtype=int).tolist()})
    for pos in positions:
        yield f"{name}/truncated-at-{pos}", blob[:pos]


def _bit_flips(name: str, blob: bytes, count: int, seed: int) -> Iterator[Variant]:
    """Yield copies of ``blob`` with one random byte replaced (mostly HEADER and TEXT)."""
    rnd = random.Random(seed)
    text_end = int(blob[18:26])
    for i in range(count):
        pos = rnd.randrange(0, text_end + 1) if rnd.random() < 0.85 else rnd.randrange(0, len(blob))
        byte = rnd.choice([0, 0x2F, 0x5C, 0x7C, 0x20, 0x30, 0x39, 0x24, 0xFF, rnd.randrange(256)])
        yield f"{name}/flip-{i}-at-{pos}", blob[:pos] + bytes([byte]) + blob[pos + 1 :]


def chain_datasets(specs: list[FcsSpec]) -> bytes:
    """Return one file holding ``specs`` as data sets linked by ``$NEXTDATA`` (offsets relative)."""
    blobs: list[bytes] = []
    for i, spec in enumerate(specs):
        if i == len(specs) - 1:
            blobs.append(build_fcs(spec))
            continue
        probe = build_fcs(replace(spec, override={**spec.override, "$NEXTDATA": "00000000"}))
        blobs.append(build_fcs(replace(spec, override={**spec.override, "$NEXTDATA": f"{len(probe):08d}"})))
    return b"".join(blobs)


def _multi_dataset_variants(name: str, spec: FcsSpec) -> Iterator[Variant]:
    """Yield two-data-set files with good and broken $NEXTDATA chains."""
    first, second = replace(spec, version="2.0"), replace(spec, version="3.0")
    blob = chain_datasets([first, second])
    split = len(blob) - len(build_fcs(second))
    yield f"{name}/two-datasets", blob
    yield f"{name}/two-datasets-second-truncated", blob[: split + 100]
    yield f"{name}/two-datasets-second-not-fcs", blob[:split] + b"XXX" + blob[split + 3 :]
    yield f"{name}/two-fcs3-datasets", chain_datasets([second, second])
    yield f"{name}/three-datasets", chain_datasets([first, second, replace(spec, version="3.1")])


def malformed_variants(*, large: bool | None = None) -> list[Variant]:
    """Return named malformed (and some still valid) FCS byte strings; ``large`` multiplies fuzzing.

    ``large`` defaults to the environment variable ``IMMUNOLAB_RELIABILITY=large``.
    """
    if large is None:
        large = os.environ.get("IMMUNOLAB_RELIABILITY", "") == "large"
    n_cut, n_flip = (400, 2000) if large else (25, 30)
    out: list[Variant] = []
    for i, (name, spec) in enumerate(base_specs().items()):
        blob = build_fcs(spec)
        out.extend(_spec_variants(name, spec))
        out.extend(_header_variants(name, blob))
        out.extend(_truncations(name, blob, n_cut))
        out.extend(_bit_flips(name, blob, n_flip, seed=i))
        out.extend(_multi_dataset_variants(name, spec))
    return out


def valid_file(name: str = "f32_le_31", **changes: object) -> bytes:
    """Return a valid base file, optionally with ``FcsSpec`` fields changed."""
    spec = base_specs()[name]
    return build_fcs(replace(spec, **changes))  # type: ignore[arg-type]

