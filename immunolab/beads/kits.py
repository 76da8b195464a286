"""Read bead-array kit definitions: bead groups, bead ids, channel roles, analytes and standards.

A kit definition is a YAML file (format ``immunolab-bead-kit/1``, documented in
``docs/bead_arrays.md``); six are shipped in ``immunolab/beads/kit-definitions/`` and a lab can write
one for any other kit. What a definition says:

* ``channels``: the role of each channel, as name hints matched against ``$PnN`` / ``$PnS``
  (``scatter.fsc``, ``scatter.ssc``, one or two ``classifiers``, one ``reporter``). Hints
  are fluorochrome or detector names (``PE``, ``FL2``, ``BL2``); when several channels match,
  the data decide (see :mod:`immunolab.beads.channels`).
* ``bead_groups``: groups in increasing forward scatter (LEGENDplex A = small beads, B =
  large beads; CBA and MACSPlex have one group), each with its beads in increasing classifier
  intensity. A bead has an ``id``, an ``analyte`` and optional ``levels`` (its position on
  the kit's intensity ladder per classifier channel; the LEGENDplex bead number, a CBA Flex
  Set grid position), used only to tell which bead is missing when a population is absent.
* ``standards``: ``levels`` (C1..Cn; C0 is the blank), ``top_concentration`` of Cn (per-bead
  ``top_concentration`` overrides it) and ``dilution_factor`` between levels, so that
  Ck = top / factor ** (n - k). ``units`` are converted to pg/mL when read.
* ``bead_map_verified``: False when the bead order was not confirmed from a public vendor
  source; every population of such a kit carries the QC flag ``bead_map_unverified``.

Errors: a definition that cannot be read or is invalid is IML-BEAD-001; an unknown kit name
is IML-BEAD-002.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from immunolab.errors import InputError

__all__ = [
    "KIT_FORMAT",
    "Bead",
    "BeadGroup",
    "BeadKit",
    "ChannelRole",
    "StandardSeries",
    "available_kits",
    "load_kit",
    "parse_kit",
]

KIT_FORMAT = "immunolab-bead-kit/1"
_UNIT_TO_PG_ML = {"pg/ml": 1.0, "ng/ml": 1e3, "ug/ml": 1e6, "µg/ml": 1e6, "fg/ml": 1e-3}
_KIT_ID = re.compile(r"^[a-z0-9][a-z0-9_]*$")


@dataclass(frozen=True)
class ChannelRole:
    """A channel role: a display name (``PE``) and the names that may carry it in a file."""

    name: str
    hints: tuple[str, ...]


@dataclass(frozen=True)
class Bead:
    """One bead population: id, analyte, group, ladder levels and standard top (pg/mL)."""

    bead_id: str
    analyte: str
    analyte_reported: str
    group: str
    levels: tuple[float, ...] | None
    top_concentration: float | None


@dataclass(frozen=True)
class BeadGroup:
    """One scatter group and its beads in increasing classifier intensity."""

    name: str
    beads: tuple[Bead, ...]


@dataclass(frozen=True)
class StandardSeries:
    """The standard dilution series: C0 blank, C1..Cn with Cn = top (pg/mL), factor between levels.

    ``levels`` is 0 and the other fields None when the kit definition does not know its
    standards (``standards: null``): such a kit can classify beads but not build a curve.
    """

    levels: int
    top_concentration: float | None
    dilution_factor: float | None

    @property
    def known(self) -> bool:
        """Return True when the series gives concentrations (levels, top and factor are set)."""
        return self.levels > 0 and self.top_concentration is not None and self.dilution_factor is not None

    def concentration(self, level: int, top: float | None = None) -> float | None:
        """Return the expected concentration (pg/mL) of standard ``level`` (0 = blank -> 0.0)."""
        if level == 0:
            return 0.0
        top_value = self.top_concentration if top is None else top
        if top_value is None or self.dilution_factor is None or not 1 <= level <= self.levels:
            return None
        return float(top_value / self.dilution_factor ** (self.levels - level))


@dataclass(frozen=True)
class BeadKit:
    """A bead-array kit definition (see the module doc for the meaning of each part)."""

    kit_id: str
    name: str
    vendor: str
    platform: str
    fsc: ChannelRole
    ssc: ChannelRole
    classifiers: tuple[ChannelRole, ...]
    reporter: ChannelRole
    groups: tuple[BeadGroup, ...]
    standards: StandardSeries
    curve_model: str = "5PL"
    curve_weighting: str = "1/y^2"
    min_bead_count: int = 35
    bead_map_verified: bool = True
    catalog: str | None = None
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    source: str = ""
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def beads(self) -> tuple[Bead, ...]:
        """Return every bead, group by group, in increasing classifier intensity."""
        return tuple(b for g in self.groups for b in g.beads)

    @property
    def analytes(self) -> tuple[str, ...]:
        """Return the analytes in bead order."""
        return tuple(b.analyte for b in self.beads)

    def bead_for(self, analyte: str) -> Bead:
        """Return the bead measuring ``analyte`` (KeyError when the kit has none)."""
        for b in self.beads:
            if b.analyte == analyte:
                return b
        raise KeyError(analyte)

    def standard_concentration(self, analyte: str, level: int) -> float | None:
        """Return the expected concentration (pg/mL) of ``analyte`` in standard ``level``."""
        bead = self.bead_for(analyte)
        return self.standards.concentration(level, bead.top_concentration)


def _bad(source: str, problem: str) -> InputError:
    return InputError(
        "IML-BEAD-001",
        f"the bead kit definition is invalid: {problem}",
        path=source,
        hint="Fix the file; docs/bead_arrays.md describes the format, and the shipped kits in "
        "immunolab/beads/kit-definitions/ are examples.",
    )


def _text(data: Mapping[str, Any], key: str, source: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _bad(source, f"'{key}' is missing")
        return None
    if not isinstance(value, str | int | float):
        raise _bad(source, f"'{key}' must be text")
    return str(value).strip()


def _number(value: Any, source: str, what: str, *, positive: bool = True) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(source, f"{what} must be a number, not {value!r}")
    number = float(value)
    if not math.isfinite(number) or (positive and number <= 0):
        raise _bad(source, f"{what} must be a positive number, not {value!r}")
    return number


def _role(data: Any, source: str, what: str) -> ChannelRole:
    if not isinstance(data, Mapping):
        raise _bad(source, f"channel role '{what}' must be a mapping with 'name' and 'hints'")
    name = _text(data, "name", source) or what
    hints = data.get("hints")
    if not isinstance(hints, Sequence) or isinstance(hints, str) or not hints:
        raise _bad(source, f"channel role '{what}' needs a non-empty list of 'hints'")
    return ChannelRole(name, tuple(str(h) for h in hints))


def _unit_factor(units: str, source: str) -> float:
    key = "".join(units.lower().split())
    if key not in _UNIT_TO_PG_ML:
        raise _bad(source, f"units '{units}' are not one of pg/mL, ng/mL, µg/mL, fg/mL")
    return _UNIT_TO_PG_ML[key]


def _beads(group: Mapping[str, Any], gname: str, factor: float, n_classifiers: int, source: str) -> tuple[Bead, ...]:
    from immunolab.cytokine.analytes import resolve_analyte

    raw = group.get("beads")
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise _bad(source, f"bead group '{gname}' has no 'beads' list")
    out: list[Bead] = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise _bad(source, f"a bead of group '{gname}' is not a mapping with 'id' and 'analyte'")
        bead_id = _text(item, "id", source) or ""
        reported = _text(item, "analyte", source) or ""
        levels_raw = item.get("levels", item.get("level"))
        levels: tuple[float, ...] | None = None
        if levels_raw is not None:
            seq = levels_raw if isinstance(levels_raw, Sequence) and not isinstance(levels_raw, str) else [levels_raw]
            levels = tuple(_number(v, source, f"bead {bead_id} level", positive=False) or 0.0 for v in seq)
            if len(levels) != n_classifiers:
                raise _bad(source, f"bead {bead_id} has {len(levels)} level(s) for {n_classifiers} classifier channel(s)")
        top = _number(item.get("top_concentration"), source, f"bead {bead_id} top_concentration")
        canonical = resolve_analyte(reported).canonical
        out.append(Bead(bead_id, canonical, reported, gname, levels, None if top is None else top * factor))
    return tuple(out)


def _standards(std: Any, factor: float, source: str) -> StandardSeries:
    if std is None:  # explicitly unknown
        return StandardSeries(0, None, None)
    if not isinstance(std, Mapping):
        raise _bad(source, "'standards' must give 'levels', 'top_concentration' and 'dilution_factor' (or be null)")
    n_levels = std.get("levels")
    if isinstance(n_levels, bool) or not isinstance(n_levels, int) or n_levels < 2:
        raise _bad(source, "'standards.levels' must be a whole number >= 2")
    top = _number(std.get("top_concentration"), source, "'standards.top_concentration'")
    dil = _number(std.get("dilution_factor"), source, "'standards.dilution_factor'")
    if top is None or dil is None or dil <= 1:
        raise _bad(source, "'standards' needs a positive 'top_concentration' and a 'dilution_factor' > 1")
    return StandardSeries(n_levels, top * factor, dil)


def parse_kit(data: Any, *, source: str) -> BeadKit:
    """Return the :class:`BeadKit` of a parsed YAML mapping; ``source`` names it in errors."""
    if not isinstance(data, Mapping):
        raise _bad(source, "the file does not hold a mapping")
    fmt = data.get("format")
    if fmt != KIT_FORMAT:
        raise _bad(source, f"'format' is {fmt!r}, expected {KIT_FORMAT!r}")
    kit_id = _text(data, "kit_id", source) or ""
    if not _KIT_ID.match(kit_id):
        raise _bad(source, f"'kit_id' {kit_id!r} must be lower-case letters, digits and underscores")
    channels = data.get("channels")
    if not isinstance(channels, Mapping) or not isinstance(channels.get("scatter"), Mapping):
        raise _bad(source, "'channels' must hold 'scatter', 'classifiers' and 'reporter'")
    scatter = channels["scatter"]
    fsc = ChannelRole("FSC", tuple(str(h) for h in scatter.get("fsc") or ()))
    ssc = ChannelRole("SSC", tuple(str(h) for h in scatter.get("ssc") or ()))
    if not fsc.hints or not ssc.hints:
        raise _bad(source, "'channels.scatter' needs 'fsc' and 'ssc' hint lists")
    raw_cls = channels.get("classifiers")
    if not isinstance(raw_cls, Sequence) or isinstance(raw_cls, str) or not 1 <= len(raw_cls) <= 2:
        raise _bad(source, "'channels.classifiers' must list one or two channel roles")
    classifiers = tuple(_role(c, source, f"classifier {i + 1}") for i, c in enumerate(raw_cls))
    reporter = _role(channels.get("reporter"), source, "reporter")
    units = _text(data, "units", source, required=False) or "pg/mL"
    factor = _unit_factor(units, source)
    standards = _standards(data.get("standards", "missing"), factor, source)
    raw_groups = data.get("bead_groups")
    if not isinstance(raw_groups, Sequence) or isinstance(raw_groups, str) or not raw_groups:
        raise _bad(source, "'bead_groups' must list at least one group")
    groups: list[BeadGroup] = []
    for g in raw_groups:
        if not isinstance(g, Mapping):
            raise _bad(source, "each bead group must be a mapping with 'name' and 'beads'")
        gname = _text(g, "name", source) or ""
        groups.append(BeadGroup(gname, _beads(g, gname, factor, len(classifiers), source)))
    ids = [b.bead_id for g in groups for b in g.beads]
    analytes = [b.analyte for g in groups for b in g.beads]
    for what, values in (("bead id", ids), ("analyte", analytes), ("group name", [g.name for g in groups])):
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise _bad(source, f"{what}(s) {', '.join(dupes)} appear more than once")
    curve = data.get("curve") or {}
    qc = data.get("qc") or {}
    min_beads = qc.get("min_bead_count", 35) if isinstance(qc, Mapping) else 35
    if isinstance(min_beads, bool) or not isinstance(min_beads, int) or min_beads < 1:
        raise _bad(source, "'qc.min_bead_count' must be a positive whole number")
    return BeadKit(
        kit_id=kit_id,
        name=_text(data, "name", source) or kit_id,
        vendor=_text(data, "vendor", source) or "",
        platform=_text(data, "platform", source) or "",
        fsc=fsc,
        ssc=ssc,
        classifiers=classifiers,
        reporter=reporter,
        groups=tuple(groups),
        standards=standards,
        curve_model=str(curve.get("model", "5PL")) if isinstance(curve, Mapping) else "5PL",
        curve_weighting=str(curve.get("weighting", "1/y^2")) if isinstance(curve, Mapping) else "1/y^2",
        min_bead_count=min_beads,
        bead_map_verified=bool(data.get("bead_map_verified", False)),
        catalog=_text(data, "catalog", source, required=False),
        sources=tuple(str(s) for s in data.get("sources") or ()),
        notes=tuple(str(s) for s in data.get("notes") or ()),
        source=source,
        extras={k: v for k, v in data.items() if k.startswith("x_")},
    )


def _shipped() -> Any:
    """Return the folder of the shipped kit definitions (an importlib Traversable)."""
    return resources.files("immunolab.beads").joinpath("kit-definitions")


def available_kits() -> list[str]:
    """Return the ids of the kit definitions shipped with immunolab, sorted."""
    return sorted(p.name[: -len(".yaml")] for p in _shipped().iterdir() if p.name.endswith(".yaml"))


def load_kit(kit: str | Path) -> BeadKit:
    """Return a kit by shipped id (``legendplex_hu_inflammation_13plex``) or from a YAML path.

    Raises IML-BEAD-002 for an unknown id and IML-BEAD-001 for a file that cannot be read
    or is not a valid definition.
    """
    path = Path(kit)
    if isinstance(kit, str) and not kit.endswith((".yaml", ".yml")) and not path.exists():
        if kit not in available_kits():
            raise InputError(
                "IML-BEAD-002",
                f"no bead kit named '{kit}' is shipped",
                path=kit,
                hint=f"Use one of {', '.join(available_kits())}, or give the path of a kit YAML file "
                "(format in docs/bead_arrays.md).",
            )
        source = f"{kit}.yaml (built-in)"
        text = _shipped().joinpath(f"{kit}.yaml").read_text("utf-8")
    else:
        source = path.name
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            raise InputError(
                "IML-BEAD-001", f"the bead kit file {kit} does not exist", path=source,
                hint=f"Check the path (a relative one starts at the current folder), or name a shipped kit: "
                f"{', '.join(available_kits())}.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise _bad(source, f"the file cannot be read ({type(exc).__name__})") from None
    cached = _parse_kit_text(source, text)
    # the kit is frozen but ``extras`` is a dict: each caller gets its own copy of it
    return dataclasses.replace(cached, extras=copy.deepcopy(dict(cached.extras)))


@functools.lru_cache(maxsize=32)
def _parse_kit_text(source: str, text: str) -> BeadKit:
    """Return the kit of one definition's text; cached on (source, text), so an edited file is parsed again.

    Ingest loads the kit of every well: the file is still read each time (cheap), the YAML is
    parsed once. A :class:`BeadKit` is frozen; :func:`load_kit` hands each caller its own ``extras``.
    """
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise _bad(source, f"it is not valid YAML{where}") from None
    return parse_kit(data, source=source)
