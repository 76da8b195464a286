"""Describe FCS channels from TEXT keywords, and undo log amplification, gain and time scaling.

A channel's facts come from ``$PnN`` (name), ``$PnS`` (stain / marker, may hold free text),
``$PnB`` (bits), ``$PnR`` (range), ``$PnE`` (``decades,log_zero`` of log amplification),
``$PnG`` (amplifier gain) and, in FCS 3.2, ``$PnDATATYPE``.

:func:`preprocess_events` reproduces FlowIO/FlowKit preprocessing (and so their published truth
arrays): the time channel (``$PnN`` equal to ``Time``, any case) is multiplied by
``$TIMESTEP`` and never divided by a gain; log channels become ``10 ** (decades * x / range)
* log_zero`` (``log_zero`` 0 read as 1, per the standard); then values are divided by
``$PnG`` when it is neither 0 nor 1. Output is float64 in instrument units.

Numeric safety: a ``$PnE`` beyond :data:`MAX_LOG_DECADES` decades or with a ``log_zero`` above
:data:`MAX_LOG_ZERO`, and a ``$PnG`` outside :data:`GAIN_LIMITS`, are refused (IML-FCS-005): no
cytometer writes them, and they overflow float64 (``$PnE`` ``1e308,1`` crashed the first
release). A ``$TIMESTEP`` outside :data:`TIMESTEP_LIMITS` is ignored like a non-number (the
reader warns). The exponent of a log channel is capped at ``2 x MAX_LOG_DECADES``, so a float
value far above ``$PnR`` saturates instead of becoming infinite; values within the range are
unchanged, so FlowKit's truth arrays are still reproduced exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from immunolab.errors import MalformedInputError
from immunolab.fcs.decode import ChannelLayout, DataLayout, integer_mask
from immunolab.fcs.segments import fcs_error

__all__ = [
    "FcsChannel",
    "build_channels",
    "byte_order",
    "needs_preprocessing",
    "preprocess_events",
    "preprocess_in_place",
    "time_channel_index",
    "timestep",
]

_REEXPORT = "Re-export the file from the acquisition software"

#: most decades a log amplifier may span ($PnE f1); real ones span 3-6
MAX_LOG_DECADES = 20.0
#: largest $PnE log_zero (f2, the linear value of channel 0); real ones are 0.01-10
MAX_LOG_ZERO = 1e6
#: accepted amplifier gains $PnG (real ones are 0.1-1000; 0 means "not recorded")
GAIN_LIMITS = (1e-6, 1e6)
#: accepted $TIMESTEP in seconds per tick (real ones are 1e-6-1)
TIMESTEP_LIMITS = (1e-12, 1e3)


@dataclass(frozen=True)
class FcsChannel:
    """One parameter of an FCS data set.

    ``index`` is the parameter number n of ``$PnN`` (1-based; the events column is
    ``index - 1``). ``bits`` is None for delimited ASCII (``$PnB`` = ``*``). ``range`` is None
    only for float channels without ``$PnR``. ``decades``/``log_zero`` come from ``$PnE``
    (0, 0 = linear); ``gain`` is ``$PnG`` (1.0 when absent); ``datatype`` is I, F, D or A.
    ``pns`` may hold free text typed by the operator: it is kept because marker names live
    there, but it must be treated as potentially identifying when displayed.
    """

    index: int
    pnn: str
    pns: str | None
    bits: int | None
    range: float | None
    decades: float
    log_zero: float
    gain: float
    datatype: str
    voltage: float | None = None

    @property
    def amplification(self) -> str:
        """Return ``$PnE`` as ``decades,log_zero`` (``0,0`` = linear)."""
        return f"{self.decades:g},{self.log_zero:g}"

    @property
    def is_log(self) -> bool:
        """Return True when the channel was stored with log amplification (``$PnE`` decades > 0)."""
        return self.decades > 0


def _bad(label: str, key: str, what: str) -> MalformedInputError:
    err = fcs_error(
        "IML-FCS-005",
        f"keyword {key} {what}",
        label,
        f"The TEXT segment is incomplete or damaged. {_REEXPORT}.",
    )
    assert isinstance(err, MalformedInputError)
    return err


def _number(value: str | None, label: str, key: str, *, allow_inf: bool = False) -> float | None:
    """Parse a finite float keyword, None when absent; raise IML-FCS-005 when not a number.

    ``allow_inf`` accepts +infinity (a ``$PnR`` too large for a float only means "no mask").
    """
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        raise _bad(label, key, "is not a number") from None
    if not math.isfinite(number) and not (allow_inf and number == math.inf):
        raise _bad(label, key, "is not a finite number")
    return number


def byte_order(keywords: Mapping[str, str], label: str, *, required: bool) -> str:
    """Return ``<`` or ``>`` from ``$BYTEORD`` (ascending = little-endian, descending = big-endian)."""
    raw = keywords.get("$BYTEORD")
    if raw is None or raw.strip() == "":
        if required:
            raise _bad(label, "$BYTEORD", "is missing; it is required for multi-byte values")
        return "<"
    try:
        order = [int(p) for p in raw.replace(" ", "").split(",")]
    except ValueError:
        raise fcs_error(
            "IML-FCS-006", "$BYTEORD is not a list of byte numbers", label, f"{_REEXPORT}."
        ) from None
    n = len(order)
    if order == list(range(1, n + 1)):
        return "<"
    if order == list(range(n, 0, -1)):
        return ">"
    raise fcs_error(
        "IML-FCS-006",
        f"$BYTEORD {','.join(map(str, order))} is a mixed byte order, which is not supported",
        label,
        f"{_REEXPORT} with little- (1,2,3,4) or big-endian (4,3,2,1) byte order.",
    )


def _datatype(value: str | None, label: str, key: str) -> str:
    if value is None or value.strip() == "":
        raise _bad(label, key, "is missing")
    kind = value.strip().upper()
    if kind not in ("I", "F", "D", "A"):
        raise fcs_error(
            "IML-FCS-006",
            f"{key} is not one of I, F, D, A",
            label,
            f"{_REEXPORT} with integer or float data.",
        )
    return kind


def _width(kind: str, bits_text: str | None, n: int, label: str) -> tuple[int | None, int]:
    """Return (bits, bytes) of channel n; bytes 0 means delimited ASCII.

    A bit-packed integer channel (``$PnB`` not a multiple of 8) returns the bytes its decoded
    value needs; :func:`build_channels` marks it packed.
    """
    key = f"$P{n}B"
    if bits_text is None:
        raise _bad(label, key, "is missing")
    text = bits_text.strip()
    if kind == "A" and text == "*":
        return None, 0
    if not text.isdigit() or not text.isascii():
        raise _bad(label, key, "is not a whole number of bits")
    bits = int(text)
    if kind == "A":
        if bits < 1 or bits > 64:
            raise fcs_error("IML-FCS-006", f"{key} gives {bits} ASCII characters", label, f"{_REEXPORT}.")
        return bits, bits
    expected = {"F": 32, "D": 64}.get(kind)
    if expected is not None and bits != expected:
        raise fcs_error(
            "IML-FCS-006",
            f"{key} is {bits} but data type {kind} stores {expected}-bit values",
            label,
            f"{_REEXPORT}; $PnB must be 32 for F and 64 for D data.",
        )
    if kind == "I" and (bits == 0 or bits > 64):
        raise fcs_error(
            "IML-FCS-006",
            f"{key} is {bits}: integer widths must be 1 to 64 bits",
            label,
            f"{_REEXPORT} with integer or float data.",
        )
    return bits, -(-bits // 8)


def _channel_count(keywords: Mapping[str, str], label: str) -> int:
    """Return ``$PAR``, the number of channels (IML-FCS-005 when missing or implausible)."""
    par_text = keywords.get("$PAR")
    if par_text is None:
        raise _bad(label, "$PAR", "is missing")
    if not (par_text.strip().isdigit() and par_text.strip().isascii()) or int(par_text.strip()) < 1:
        raise _bad(label, "$PAR", "is not a positive whole number")  # isascii: "²".isdigit() is True
    n_par = int(par_text.strip())
    if n_par > 100_000:
        raise _bad(label, "$PAR", f"claims {n_par} channels, which no cytometer records")
    return n_par


def _check_mode(keywords: Mapping[str, str], version: str, label: str, warnings: list[str]) -> None:
    """Accept list-mode data only (IML-FCS-006 for histograms); a missing ``$MODE`` before 3.2 is a warning."""
    mode = keywords.get("$MODE", "").strip().upper()
    if mode == "" and version < "3.2":
        warnings.append("$MODE is missing; list mode (L) assumed")
    elif mode not in ("", "L"):
        raise fcs_error(
            "IML-FCS-006",
            f"$MODE is {mode if mode in ('C', 'U') else 'not L'}: only list mode (L) data can be read, not histograms",
            label,
            f"{_REEXPORT} as list-mode data.",
        )


def _amplification(keywords: Mapping[str, str], n: int, pnr: float | None, label: str) -> tuple[float, float] | None:
    """Return channel ``n``'s ``$PnE`` (decades, log zero), or None when the keyword is absent."""
    pne = keywords.get(f"$P{n}E")
    if pne is None:
        return None
    parts = pne.split(",")
    values = [_number(p, label, f"$P{n}E") for p in parts] if len(parts) == 2 else []
    if len(values) != 2 or any(v is None or v < 0 for v in values):
        raise _bad(label, f"$P{n}E", "must be two non-negative numbers 'decades,log_zero'")
    decades, log_zero = float(values[0] or 0.0), float(values[1] or 0.0)
    if decades > MAX_LOG_DECADES or log_zero > MAX_LOG_ZERO:
        raise _bad(label, f"$P{n}E", f"gives {decades:g} decades from {log_zero:g}; log amplifiers span at "
                   f"most {MAX_LOG_DECADES:g} decades from at most {MAX_LOG_ZERO:g}")
    if decades > 0 and pnr is None:
        raise _bad(label, f"$P{n}R", "is missing but the channel is log-amplified")
    return decades, log_zero


def _voltage(text: str | None) -> float | None:
    """Return a ``$PnV`` detector voltage (V); descriptive only, so a bad value reads as None."""
    try:
        voltage = float(text) if text is not None else None
    except ValueError:
        return None
    return voltage if voltage is not None and math.isfinite(voltage) else None


def _channel(keywords: Mapping[str, str], n: int, base_kind: str, version: str, label: str,
             unnamed: list[int], pne_missing: list[int]) -> tuple[FcsChannel, ChannelLayout]:
    """Return channel ``n`` (1-based) and its DATA layout from its ``$Pn*`` keywords."""
    kind = base_kind
    if f"$P{n}DATATYPE" in keywords:
        kind = _datatype(keywords[f"$P{n}DATATYPE"], label, f"$P{n}DATATYPE")
    bits, width = _width(kind, keywords.get(f"$P{n}B"), n, label)
    pnn = keywords.get(f"$P{n}N")
    if pnn is None or pnn.strip() == "":
        if version != "2.0":
            raise _bad(label, f"$P{n}N", "is missing (FCS 3.x requires a name for every channel)")
        unnamed.append(n)
        pnn = f"P{n}"
    pnr = _number(keywords.get(f"$P{n}R"), label, f"$P{n}R", allow_inf=True)
    if pnr is None and kind in ("I", "A"):
        raise _bad(label, f"$P{n}R", "is missing (it sets the range of integer data)")
    if pnr is not None and pnr <= 0:
        raise _bad(label, f"$P{n}R", "must be positive")
    amplification = _amplification(keywords, n, pnr, label)
    if amplification is None:
        pne_missing.append(n)
    decades, log_zero = amplification or (0.0, 0.0)
    gain = _number(keywords.get(f"$P{n}G"), label, f"$P{n}G")
    if gain is not None and gain < 0:
        raise _bad(label, f"$P{n}G", "is negative")
    if gain and not GAIN_LIMITS[0] <= gain <= GAIN_LIMITS[1]:
        raise _bad(label, f"$P{n}G", f"is {gain:g}; amplifier gains lie between {GAIN_LIMITS[0]:g} and "
                   f"{GAIN_LIMITS[1]:g}")
    pns = keywords.get(f"$P{n}S")
    channel = FcsChannel(
        index=n,
        pnn=pnn.strip(),
        pns=pns.strip() if pns is not None and pns.strip() else None,
        bits=bits,
        range=pnr,
        decades=decades,
        log_zero=log_zero,
        gain=1.0 if gain is None else gain,
        datatype=kind,
        voltage=_voltage(keywords.get(f"$P{n}V")),
    )
    mask = integer_mask(bits, pnr) if kind == "I" and bits and pnr is not None else None
    packed_bits = bits if kind == "I" and bits and bits % 8 else 0
    return channel, ChannelLayout(kind, width, mask, packed_bits)


def build_channels(
    keywords: Mapping[str, str], version: str, label: str
) -> tuple[list[FcsChannel], DataLayout, list[str]]:
    """Return the channels, the DATA layout and warnings of a data set from its keywords.

    Raises IML-FCS-005 for missing or invalid channel keywords and IML-FCS-006 for layouts
    that cannot be decoded.
    """
    warnings: list[str] = []
    n_par = _channel_count(keywords, label)
    base_kind = _datatype(keywords.get("$DATATYPE"), label, "$DATATYPE")
    _check_mode(keywords, version, label, warnings)
    unnamed: list[int] = []
    pne_missing: list[int] = []
    pairs = [_channel(keywords, n, base_kind, version, label, unnamed, pne_missing) for n in range(1, n_par + 1)]
    channels = [c for c, _lay in pairs]
    layouts = [lay for _c, lay in pairs]
    if unnamed:
        warnings.append(f"{len(unnamed)} channel(s) have no $PnN; named P<n>")
    if pne_missing:
        warnings.append(f"{len(pne_missing)} channel(s) have no $PnE; linear amplification assumed")
    names = [c.pnn for c in channels]
    if len(set(names)) != len(names):
        warnings.append("$PnN channel names are not unique; select channels by index")
    multibyte = any(lay.width > 1 and lay.kind != "A" and not lay.bits for lay in layouts)
    order = byte_order(keywords, label, required=multibyte)
    return channels, DataLayout(tuple(layouts), order), warnings


def time_channel_index(channels: list[FcsChannel]) -> int | None:
    """Return the events column of the time channel (``$PnN`` 'Time', any case), or None."""
    for j, ch in enumerate(channels):
        if ch.pnn.strip().lower() == "time":
            return j
    return None


def timestep(keywords: Mapping[str, str]) -> float | None:
    """Return ``$TIMESTEP`` in seconds per tick, 1.0 when blank, None when absent, not a number or implausible."""
    raw = keywords.get("$TIMESTEP")
    if raw is None:
        return None
    if raw.strip() == "":
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and TIMESTEP_LIMITS[0] <= abs(value) <= TIMESTEP_LIMITS[1] else None


def preprocess_events(
    events: np.ndarray, channels: list[FcsChannel], keywords: Mapping[str, str]
) -> np.ndarray:
    """Return float64 events with log amplification, gain and time step undone (see module doc)."""
    out = np.array(events, dtype=np.float64, copy=True)
    preprocess_in_place(out, range(len(channels)), channels, keywords)
    return out


def preprocess_in_place(
    block: np.ndarray, columns: Sequence[int], channels: list[FcsChannel], keywords: Mapping[str, str]
) -> None:
    """Undo log amplification, gain and time step in place in a float64 ``block`` of events.

    Column ``k`` of ``block`` (rows = any run of events) holds channel ``columns[k]``, so a
    caller can preprocess a few channels of a few thousand events at a time; the arithmetic per
    value is that of :func:`preprocess_events`.
    """
    t_idx = time_channel_index(channels)
    step = timestep(keywords)
    for k, j in enumerate(columns):
        ch = channels[j]
        if j == t_idx and step is not None:
            block[:, k] *= step
        if ch.decades > 0 and ch.range:
            log_zero = ch.log_zero if ch.log_zero != 0 else 1.0
            exponent = ch.decades * block[:, k] / ch.range
            np.minimum(exponent, 2 * MAX_LOG_DECADES, out=exponent)  # saturate far-off-scale floats, never inf
            block[:, k] = 10.0 ** exponent * log_zero
        gain = 1.0 if j == t_idx else ch.gain
        if gain not in (0.0, 1.0):
            block[:, k] /= gain


def needs_preprocessing(channels: list[FcsChannel], keywords: Mapping[str, str], columns: Sequence[int]) -> bool:
    """Return True when :func:`preprocess_in_place` would change any of ``columns``."""
    t_idx = time_channel_index(channels)
    step = timestep(keywords)
    for j in columns:
        ch = channels[j]
        if (j == t_idx and step is not None and step != 1.0) or (ch.decades > 0 and ch.range):
            return True
        if j != t_idx and ch.gain not in (0.0, 1.0):
            return True
    return False
