"""Resolve the channels of a bead-array well by role: scatter, classifier(s) and reporter.

Instruments name the same detector differently (``FL2-A``, ``PE-A``, ``FL2 INT LOG``, ``BL2-A``,
``YL1-A``), so a kit lists *hints* per role and a channel matches a hint when their normalised
names are equal. Normalising upper-cases the name, splits it at blanks, ``-``, ``_`` and ``:``
and drops the tokens that only say how the pulse was measured or stored (``A``, ``H``, ``W``,
``AREA``, ``HEIGHT``, ``WIDTH``, ``PEAK``, ``INT``, ``LIN``, ``LOG``, ``HLIN``, ``HLOG``):
``FL2 INT LOG`` and ``FL2-A`` are both ``FL2``; ``PE-Cy7-A`` is ``PE CY7`` and does not match
``PE``. Both ``$PnN`` and ``$PnS`` are tried. Pulse areas are preferred to heights, widths and
the time channel are never used.

Scatter and reporter take the first matching hint (hint order is priority). A classifier role
keeps every matching channel as a *candidate* (on a Navios ``FL4`` is PC5.5 but on a
FACSCalibur it is APC); :func:`~immunolab.beads.classify.classify_bead_well` lets the data
decide between candidates, and when no hint matches at all every other fluorescence channel
is a candidate (the well then carries the flag ``classifier_by_data``).

A role without any matching channel is IML-BEAD-003 (the reporter is never guessed).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from immunolab.beads.kits import BeadKit, ChannelRole
from immunolab.errors import InconsistentInputError
from immunolab.fcs.channels import FcsChannel

__all__ = ["ChannelPlan", "normalise_channel_name", "plan_channels", "pulse_kind"]

_PULSE_TOKENS = {"A", "H", "W", "AREA", "HEIGHT", "WIDTH", "PEAK", "INT", "LIN", "LOG", "HLIN", "HLOG"}
_SPLIT = re.compile(r"[\s\-_:.]+")


def normalise_channel_name(name: str | None) -> str:
    """Return the comparable form of a channel name (upper case, pulse/scale tokens dropped)."""
    tokens = [t for t in _SPLIT.split((name or "").upper()) if t]
    return " ".join(t for t in tokens if t not in _PULSE_TOKENS)


def pulse_kind(name: str | None) -> int:
    """Return 0 for a pulse area (or unspecified), 1 for a height, 2 for a width."""
    tokens = set(_SPLIT.split((name or "").upper()))
    if tokens & {"W", "WIDTH"}:
        return 2
    if tokens & {"H", "HEIGHT", "HLIN", "HLOG", "PEAK"}:
        return 1
    return 0


@dataclass(frozen=True)
class ChannelPlan:
    """Column indices (0-based) per role; ``classifier_candidates`` holds one tuple per classifier."""

    fsc: int
    ssc: int
    reporter: int
    classifier_candidates: tuple[tuple[int, ...], ...]
    classifier_by_data: bool
    names: tuple[str, ...]


def _channel_names(ch: FcsChannel | str) -> tuple[str, str | None]:
    if isinstance(ch, str):
        return ch, None
    return ch.pnn, ch.pns


def _matches(channels: Sequence[FcsChannel | str], role: ChannelRole, exclude: set[int]) -> list[int]:
    """Return matching columns ordered by hint priority, pulse area first; one column per detector."""
    found: list[tuple[int, int, int]] = []  # (hint rank, pulse kind, column)
    hints = [normalise_channel_name(h) for h in role.hints]
    for j, ch in enumerate(channels):
        if j in exclude:
            continue
        pnn, pns = _channel_names(ch)
        if normalise_channel_name(pnn) == "TIME":
            continue
        kind = pulse_kind(pnn)
        if kind == 2:
            continue
        ranks = [hints.index(n) for n in (normalise_channel_name(pnn), normalise_channel_name(pns)) if n and n in hints]
        if ranks:
            found.append((min(ranks), kind, j))
    found.sort()
    seen: set[str] = set()
    out: list[int] = []
    for _, _, j in found:
        base = normalise_channel_name(_channel_names(channels[j])[0])
        if base in seen:
            continue
        seen.add(base)
        out.append(j)
    return out


def _missing(role: str, kit: BeadKit, hints: Sequence[str], channels: Sequence[FcsChannel | str], label: str) -> InconsistentInputError:
    names = ", ".join(_channel_names(c)[0] for c in channels)
    return InconsistentInputError(
        "IML-BEAD-003",
        f"no channel of this file can be the {role} of kit {kit.kit_id} (looked for {', '.join(hints)}; "
        f"the file has {names})",
        path=label,
        hint="Check that the file is a well of this kit, or add the instrument's channel name to the "
        "kit's channel hints (docs/bead_arrays.md).",
    )


def plan_channels(channels: Sequence[FcsChannel | str], kit: BeadKit, *, label: str) -> ChannelPlan:
    """Return the :class:`ChannelPlan` of a file for ``kit``; IML-BEAD-003 when a role has no channel."""
    used: set[int] = set()
    picks: dict[str, int] = {}
    for key, role in (("fsc", kit.fsc), ("ssc", kit.ssc), ("reporter", kit.reporter)):
        cols = _matches(channels, role, used)
        if not cols:
            raise _missing(f"{role.name} channel", kit, role.hints, channels, label)
        picks[key] = cols[0]
        used.add(cols[0])
    candidates: list[tuple[int, ...]] = []
    by_data = False
    for role in kit.classifiers:
        cols = _matches(channels, role, used)
        if not cols:
            by_data = True
            cols = [
                j for j, ch in enumerate(channels)
                if j not in used and pulse_kind(_channel_names(ch)[0]) == 0
                and normalise_channel_name(_channel_names(ch)[0]) not in ("TIME", "")
                and not _is_scatter(_channel_names(ch)[0])
            ]
            if not cols:
                raise _missing(f"{role.name} classifier channel", kit, role.hints, channels, label)
        candidates.append(tuple(cols))
    return ChannelPlan(
        fsc=picks["fsc"], ssc=picks["ssc"], reporter=picks["reporter"],
        classifier_candidates=tuple(candidates), classifier_by_data=by_data,
        names=tuple(_channel_names(c)[0] for c in channels),
    )


def _is_scatter(name: str) -> bool:
    base = normalise_channel_name(name)
    return bool(re.search(r"\b(FSC|SSC|FS|SS)\b", base)) or "SCATTER" in base
