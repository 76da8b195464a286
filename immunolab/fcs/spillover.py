"""Parse the spillover matrix an FCS file carries (``$SPILLOVER``, ``$SPILL`` or BD's ``SPILL``).

The value is ``n,name_1,...,name_n,s_11,s_12,...,s_nn``: n detector channels (``$PnN`` names)
and the n x n spillover matrix in row-major order (row = fluorochrome's primary detector,
column = detector receiving spillover; diagonal usually 1). Whitespace around fields and one
trailing comma are tolerated; anything else that does not fit raises IML-FCS-012. Messages
name field positions, never the text of the value. FCS 2.0 ``$COMP`` is not read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from immunolab.errors import MalformedInputError

__all__ = [
    "SPILLOVER_KEYWORDS",
    "Spillover",
    "find_spillover_keyword",
    "names_only_spillover",
    "parse_spillover",
    "spillover_from_keywords",
]

#: keywords holding a spillover matrix, in order of preference
SPILLOVER_KEYWORDS: tuple[str, ...] = ("$SPILLOVER", "SPILL", "$SPILL")
_MAX_CHANNELS = 1000
_HINT = "Re-export the file with its compensation, or give the matrix as a CSV file (--comp)."


@dataclass(frozen=True)
class Spillover:
    """A spillover matrix: the keyword it came from, its channel names (PnN) and the float64 matrix."""

    keyword: str
    channels: list[str]
    matrix: np.ndarray


def _error(message: str, label: str | None) -> MalformedInputError:
    return MalformedInputError("IML-FCS-012", message, path=label, hint=_HINT)


def find_spillover_keyword(keywords: Mapping[str, str]) -> str | None:
    """Return the name of the preferred spillover keyword present with a non-blank value, or None."""
    for key in SPILLOVER_KEYWORDS:
        value = keywords.get(key)
        if value is not None and value.strip():
            return key
    return None


def parse_spillover(
    value: str,
    *,
    keyword: str = "$SPILLOVER",
    label: str | None = None,
    channel_names: Sequence[str] | None = None,
) -> Spillover:
    """Parse a spillover keyword value into channel names and an n x n float64 matrix.

    With ``channel_names`` (the file's ``$PnN``), every spillover channel must be one of them;
    names are matched exactly, then ignoring case and surrounding spaces, and returned as the
    ``$PnN`` spelling. Raises IML-FCS-012 when the value is malformed.
    """
    fields = [f.strip() for f in value.split(",")]
    if len(fields) > 1 and fields[-1] == "":
        fields.pop()
    head = fields[0] if fields else ""
    if not head.isdigit() or not head.isascii():
        raise _error(f"{keyword} does not start with the channel count", label)
    n = int(head)
    if n < 1 or n > _MAX_CHANNELS:
        raise _error(f"{keyword} declares {n} channels", label)
    expected = 1 + n + n * n
    if len(fields) != expected:
        raise _error(
            f"{keyword} holds {len(fields)} fields but n = {n} needs {expected} (n, n names, n x n values)",
            label,
        )
    names = fields[1 : 1 + n]
    if any(name == "" for name in names):
        raise _error(f"{keyword} has an empty channel name", label)
    if len(set(names)) != n:
        raise _error(f"{keyword} names a channel twice", label)
    values: list[float] = []
    for pos, text in enumerate(fields[1 + n :], start=2 + n):
        try:
            number = float(text)
        except ValueError:
            raise _error(f"{keyword} field {pos} is not a number", label) from None
        if not math.isfinite(number):
            raise _error(f"{keyword} field {pos} is not a finite number", label)
        values.append(number)
    matrix = np.array(values, dtype=np.float64).reshape(n, n)
    if channel_names is not None:
        names = _match_channels(names, channel_names, keyword, label)
    return Spillover(keyword, names, matrix)


def _match_channels(names: list[str], channel_names: Sequence[str], keyword: str, label: str | None) -> list[str]:
    """Map spillover names onto ``$PnN`` names or raise IML-FCS-012 naming positions."""
    exact = set(channel_names)
    loose = {c.strip().lower(): c for c in channel_names}
    out: list[str] = []
    missing: list[int] = []
    for pos, name in enumerate(names, start=1):
        if name in exact:
            out.append(name)
        elif name.strip().lower() in loose:
            out.append(loose[name.strip().lower()])
        else:
            missing.append(pos)
    if missing:
        shown = ", ".join(str(p) for p in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise _error(
            f"{keyword} names {len(missing)} channel(s) that are not $PnN channels of this file (positions {shown})",
            label,
        )
    if len(set(out)) != len(out):
        raise _error(f"{keyword} names a channel twice (ignoring case)", label)
    return out


def names_only_spillover(keywords: Mapping[str, str]) -> str | None:
    """Return the spillover keyword when it lists channel names but no matrix values, else None.

    MACSQuant (FCS 3.1) writes ``$SPILLOVER`` as ``n,name_1,...,name_n`` with no numbers: FlowIO
    and fcsparser read such files, and immunolab treats them as carrying no matrix (a warning
    when reading; gating then asks for a matrix with ``--comp``).
    """
    key = find_spillover_keyword(keywords)
    if key is None:
        return None
    fields = [f.strip() for f in keywords[key].split(",")]
    while len(fields) > 1 and fields[-1] == "":
        fields.pop()
    head = fields[0] if fields else ""
    if not (head.isdigit() and head.isascii()) or int(head) < 1:
        return None
    names = fields[1:]
    return key if len(names) == int(head) and all(names) else None


def spillover_from_keywords(keywords: Mapping[str, str], channels: Sequence[Any], *, label: str | None = None) -> Spillover | None:
    """Return the parsed spillover of a data set (checked against its channels), or None when absent.

    A keyword that lists channel names without matrix values (:func:`names_only_spillover`)
    counts as absent.

    ``channels`` are :class:`~immunolab.fcs.channels.FcsChannel` objects (anything with ``pnn``).
    """
    key = find_spillover_keyword(keywords)
    if key is None or names_only_spillover(keywords) is not None:
        return None
    return parse_spillover(keywords[key], keyword=key, label=label, channel_names=[c.pnn for c in channels])
