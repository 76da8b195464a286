"""Gate a sample with a readable, data-driven gating template (openCyto-style YAML).

A template lists populations (name, parent, channels, method, arguments) and the scale
transforms. Channels are marker names resolved through ``$PnS`` (``CD3``) or detector names
matched to ``$PnN`` (``FSC-A``). Thresholds are found in each sample's own data by the methods
of :mod:`immunolab.flow.density_gates`, so one template serves every patient and visit.

Pipeline of :func:`gate_sample`: compensate the fluorescence channels with the file's spillover
(:mod:`immunolab.flow.compensation`), transform (:mod:`immunolab.flow.transforms`: logicle for
fluorescence, linear for scatter), apply the populations parent first, and summarise with
:func:`immunolab.flow.populations.population_stats` (lymphocyte-relative percentages from the
template's lymphocyte population).

``Template.strategy_id`` is the first 16 hex digits of the sha256 of the template's canonical
content (engine version, transforms, populations with every default filled in), so a result in
the store names exactly how it was gated; comments and the description do not count.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from immunolab.errors import InconsistentInputError, MalformedInputError
from immunolab.flow.compensation import as_spillover_matrix
from immunolab.flow.density_gates import (
    NoValleyError,
    density_basin_mask,
    mindensity_cut,
    split_above_lowest,
)
from immunolab.flow.display import DisplayColumns, Preprocess
from immunolab.flow.populations import PopulationStat, population_stats, with_unknown_frequencies
from immunolab.flow.template_rules import NOT_GATED, Outcome, gate_population, split_values
from immunolab.flow.templates import builtin_text
from immunolab.flow.transforms import (
    Transform,
    TransformParameterError,
    is_scatter_or_time,
    transform_from_dict,
)

__all__ = [
    "ENGINE_VERSION",
    "METHODS",
    "GatingRun",
    "PopulationSpec",
    "Template",
    "apply_template",
    "display_values",
    "fluorescence_columns",
    "gate_fcs_file",
    "gate_sample",
    "load_template",
    "template_from_dict",
]

#: Bumped whenever a method's algorithm changes, so strategy IDs change with it. (Display values
#: became float32 instead of float64 without a bump: identical counts on 201 test files.)
#: /2: 1-D cuts above the lowest population with a mixture fallback, rule statuses, t: auto.
#: /3: a gate not applied (parent under 50 events) has unknown (NaN) frequencies, not 0 %, and a gating
#: without compensation is flagged: `derive gating` recomputes files ingested before (their IDs differ).
ENGINE_VERSION = "immunolab-template/3"
ROOT = "root"

Channels = Sequence[Any]  # (pnn, pns) pairs, or objects with .pnn / .pns (FcsChannel)
#: a SpilloverMatrix, the FCS reader's Spillover (.channels / .matrix), (names, matrix) or None
SpilloverLike = Any


@dataclass(frozen=True)
class _Method:
    n_channels: int
    defaults: Mapping[str, Any]
    required: tuple[str, ...] = ()


_CLUSTER = {"bins": 256, "smooth": 0.007, "merge": 0.4, "level": 0.004}

#: Gate methods: channel count, arguments with their defaults, required arguments. Defaults are
#: algorithm settings on the display scale (0-1) or shares of the parent's events, never a
#: position of a population in data units (see :mod:`immunolab.flow.template_rules`).
METHODS: dict[str, _Method] = {
    "mindensity": _Method(
        1, {"positive": True, "range": None, "adjust": 1.0, "min_mass": 0.004, "positive_by_definition": False}
    ),
    "quadrant": _Method(2, {"signs": ["+", "+"], "adjust": 1.0, "min_mass": 0.004}),
    "singlet_ratio": _Method(2, {"adjust": 1.0, "min_mass": 0.004}),
    "lowest_cluster": _Method(2, {**_CLUSTER, "min_mass": 0.035, "debris_ratio": 0.4}),
    "off_main_cluster": _Method(
        2, {**_CLUSTER, "bins": 128, "smooth": 0.022, "min_mass": 0.004, "direction": ["-", "+"], "adjust": 1.0}
    ),
    "density_basin": _Method(
        2,
        {"target": None, "bins": 256, "smooth": 0.01, "merge": 0.5, "level": 0.005, "min_mass": 0.01},
        required=("target",),
    ),
}


@dataclass(frozen=True)
class PopulationSpec:
    """One population of a template; ``arguments`` has every default filled in."""

    name: str
    parent: str
    channels: tuple[str, ...]
    method: str
    arguments: Mapping[str, Any]


#: top of scale assumed when ``t: auto`` meets a channel of unknown range and no events (2**18,
#: the range of most digital cytometers); a file's $PnR or its data always take precedence
FALLBACK_TOP = 262144.0


def _top_of_scale(channel: Any, column: np.ndarray | None) -> float:
    """Return the top of a channel's scale in preprocessed data units ($PnR / $PnG, or the data)."""
    rng = getattr(channel, "range", None)
    if rng:
        gain = getattr(channel, "gain", 1.0) or 1.0
        return float(rng) / (gain if getattr(channel, "decades", 0.0) == 0 else 1.0)
    if column is not None and len(column):
        top = float(np.nanmax(np.abs(column)))
        if np.isfinite(top) and top > FALLBACK_TOP:
            return float(2.0 ** math.ceil(math.log2(top)))
    return FALLBACK_TOP


def resolve_transform(spec: Mapping[str, Any], channel: Any = None, column: np.ndarray | None = None) -> Transform:
    """Return the transform of ``spec`` for one channel, filling ``t: auto`` from the file.

    A log-amplified FCS 2.0 channel ($PnE decades > 0) is always shown on a log scale over its
    own decades (its values are already exponential channel numbers). ``t: auto`` takes the
    channel's $PnR (divided by $PnG for linear channels); when the range is unknown (bare
    channel names), :data:`FALLBACK_TOP`, or the next power of two above the largest value in
    ``column`` if the data exceed it.
    """
    decades = float(getattr(channel, "decades", 0.0) or 0.0)
    if decades > 0:
        log_zero = float(getattr(channel, "log_zero", 0.0) or 1.0)
        return transform_from_dict({"kind": "log", "t": log_zero * 10.0**decades, "m": decades})
    params = dict(spec)
    if params.get("t") == "auto":
        params["t"] = _top_of_scale(channel, column)
    return transform_from_dict(params)


@dataclass(frozen=True)
class Template:
    """A parsed, validated gating template (transforms as specs: ``t`` may be ``"auto"``)."""

    name: str
    version: str
    description: str
    transform_specs: Mapping[str, Mapping[str, Any]]
    populations: tuple[PopulationSpec, ...]
    lymphocytes: str | None
    source: str = "<template>"
    gate_paths: Mapping[str, str] = field(default_factory=dict)

    def canonical(self) -> dict[str, Any]:
        """Return the content that defines the gating (hashed into :attr:`strategy_id`)."""
        return {
            "engine": ENGINE_VERSION,
            "name": self.name,
            "version": self.version,
            "lymphocytes": self.lymphocytes,
            "transforms": {k: dict(v) for k, v in sorted(self.transform_specs.items())},
            "populations": [
                {
                    "name": p.name,
                    "parent": p.parent,
                    "channels": list(p.channels),
                    "method": p.method,
                    "arguments": dict(p.arguments),
                }
                for p in self.populations
            ],
        }

    @property
    def strategy_id(self) -> str:
        """Return the first 16 hex digits of the sha256 of :meth:`canonical` (sorted JSON)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    @property
    def lymphocyte_path(self) -> str | None:
        """Return the gate path of the lymphocyte population (None when the template has none)."""
        return self.gate_paths.get(self.lymphocytes) if self.lymphocytes else None


def _bad(source: str, fact: str) -> MalformedInputError:
    return MalformedInputError(
        "IML-FCS-013",
        f"gating template is invalid: {fact}",
        path=source,
        hint="Fix the template (see immunolab/flow/templates/trial_panel.yaml for the format).",
    )


def _parse_population(raw: Any, index: int, source: str) -> PopulationSpec:
    if not isinstance(raw, Mapping):
        raise _bad(source, f"population #{index + 1} is not a mapping")
    unknown = set(raw) - {"name", "parent", "channels", "method", "arguments"}
    if unknown:
        raise _bad(source, f"population #{index + 1} has unknown key(s) {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise _bad(source, f"population #{index + 1} needs a name without '/'")
    method = raw.get("method")
    if method not in METHODS:
        raise _bad(source, f"population {name!r}: unknown method {method!r}; known: {sorted(METHODS)}")
    spec = METHODS[method]
    channels = raw.get("channels")
    if (
        not isinstance(channels, list)
        or len(channels) != spec.n_channels
        or not all(isinstance(c, str) and c.strip() for c in channels)
    ):
        raise _bad(source, f"population {name!r}: method {method} needs {spec.n_channels} channel name(s)")
    args = raw.get("arguments") or {}
    if not isinstance(args, Mapping):
        raise _bad(source, f"population {name!r}: arguments must be a mapping")
    unknown = set(args) - set(spec.defaults)
    if unknown:
        raise _bad(source, f"population {name!r}: unknown argument(s) {sorted(unknown)} for {method}")
    missing = [a for a in spec.required if args.get(a) is None]
    if missing:
        raise _bad(source, f"population {name!r}: method {method} needs argument(s) {missing}")
    merged = {**spec.defaults, **args}
    _check_arguments(name, method, merged, source)
    parent = raw.get("parent", ROOT)
    if not isinstance(parent, str):
        raise _bad(source, f"population {name!r}: parent must be a population name or 'root'")
    return PopulationSpec(name.strip(), parent.strip(), tuple(c.strip() for c in channels), method, merged)


def _check_arguments(name: str, method: str, args: Mapping[str, Any], source: str) -> None:
    def pair(key: str) -> bool:
        v = args.get(key)
        return isinstance(v, list) and len(v) == 2 and all(isinstance(e, int | float) for e in v)

    if method == "mindensity" and args["range"] is not None and not pair("range"):
        raise _bad(source, f"population {name!r}: range must be [low, high] in data units")
    if method == "density_basin" and not pair("target"):
        raise _bad(source, f"population {name!r}: target must be [x, y] in data units")
    for key in ("signs", "direction"):
        signs = args.get(key)
        if key in args and (not isinstance(signs, list) or len(signs) != 2 or not all(s in ("+", "-") for s in signs)):
            raise _bad(source, f'population {name!r}: {key} must be two of "+" / "-"')
    for key in ("positive", "positive_by_definition"):
        if key in args and not isinstance(args[key], bool):
            raise _bad(source, f"population {name!r}: {key} must be true or false")
    for key in ("adjust", "smooth", "merge", "level", "min_mass", "bins", "debris_ratio"):
        if key in args and (not isinstance(args[key], int | float) or args[key] <= 0):
            raise _bad(source, f"population {name!r}: {key} must be a positive number")


_DEFAULT_SCATTER: dict[str, Any] = {"kind": "linear", "t": "auto", "a": 0}
_DEFAULT_FLUORESCENCE: dict[str, Any] = {"kind": "logicle", "t": "auto", "w": 0.72, "m": 4.5, "a": 0}


def template_from_dict(data: Any, *, source: str = "<template>") -> Template:
    """Validate a parsed template document and return a :class:`Template` (``IML-FCS-013``)."""
    if not isinstance(data, Mapping):
        raise _bad(source, "the document is not a mapping")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _bad(source, "a template needs a name")
    raw_pops = data.get("populations")
    if not isinstance(raw_pops, list) or not raw_pops:
        raise _bad(source, "a template needs a non-empty list of populations")
    transforms = data.get("transforms") or {}
    if not isinstance(transforms, Mapping) or set(transforms) - {"scatter", "fluorescence"}:
        raise _bad(source, "transforms must be a mapping with 'scatter' and/or 'fluorescence'")
    specs: dict[str, dict[str, Any]] = {}
    for key, default in (("scatter", _DEFAULT_SCATTER), ("fluorescence", _DEFAULT_FLUORESCENCE)):
        spec = transforms.get(key, default)
        try:
            specs[key] = transform_from_dict(dict(spec)).to_dict() if spec.get("t") != "auto" else dict(spec)
            resolve_transform(specs[key])  # checks the other parameters with a nominal range
        except (TransformParameterError, AttributeError, TypeError, ValueError) as exc:
            raise _bad(source, f"bad transform: {exc}") from None
    pops = [_parse_population(p, i, source) for i, p in enumerate(raw_pops)]
    paths: dict[str, str] = {}
    for p in pops:
        if p.name in paths or p.name == ROOT:
            raise _bad(source, f"population name {p.name!r} is used twice or reserved")
        if p.parent == ROOT:
            paths[p.name] = "/" + p.name
        elif p.parent in paths:
            paths[p.name] = paths[p.parent] + "/" + p.name
        else:
            raise _bad(source, f"population {p.name!r}: parent {p.parent!r} must be defined above it")
    lymph = data.get("lymphocytes")
    if lymph is not None and lymph not in paths:
        raise _bad(source, f"lymphocytes names {lymph!r}, which is not a population")
    return Template(
        name=name.strip(),
        version=str(data.get("version", "1")),
        description=str(data.get("description", "")),
        transform_specs=specs,
        populations=tuple(pops),
        lymphocytes=lymph,
        source=source,
        gate_paths=paths,
    )


def load_template(path: str | Path | None = None, *, builtin: str = "trial_panel") -> Template:
    """Read a YAML gating template; without ``path``, the built-in template ``builtin`` (the trial panel)."""
    import yaml

    if path is None:
        source = f"{builtin}.yaml (built-in)"
        text = builtin_text(builtin)
    else:
        source = Path(path).name
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _bad(source, f"the file cannot be read ({type(exc).__name__})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" near line {mark.line + 1}" if mark is not None else ""
        raise _bad(source, f"the YAML cannot be parsed{where}") from None
    return template_from_dict(data, source=source)


@dataclass
class GatingRun:
    """Per-event masks by gate path, the thresholds each gate chose, how it decided, QC flags.

    ``status`` per gate path: ``found``, ``mixture``, ``tail``, ``not_needed``, ``keep_all``,
    ``all_positive``, ``all_negative``, ``quadrant_fallback`` or ``too_few_events`` (see
    :mod:`immunolab.flow.template_rules`); ``flags`` holds a sentence for every gate a human
    should look at (the report draws those samples' gates).
    """

    masks: dict[str, np.ndarray]
    thresholds: dict[str, dict[str, float]]
    status: dict[str, str] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)

    @property
    def not_gated(self) -> list[str]:
        """Return the gate paths left ungated because their parent held too few events."""
        return [path for path, status in self.status.items() if status == NOT_GATED]

    def population_stats(self, *, n_total: int, lymphocyte_path: str | None) -> list[PopulationStat]:
        """Return the statistics of every gate; a gate :attr:`not_gated` (and its children) has NaN frequencies."""
        stats = population_stats(self.masks, n_total=n_total, lymphocyte_path=lymphocyte_path)
        return with_unknown_frequencies(stats, self.not_gated)


def _marker_of(pns: str) -> str:
    """Return the marker a ``$PnS`` names: its first word (``CD25 BB515`` and ``CD25 (BB515)`` -> ``CD25``)."""
    words = pns.replace("(", " ").split()
    return words[0] if words else ""


def _resolve(name: str, pnn: list[str], pns: list[str | None], *, label: str, population: str) -> int:
    """Return the column of channel ``name``: a detector ($PnN), else the one $PnS naming that marker.

    A $PnS matches when it is the marker (``CD25``) or starts with it followed by the dye
    (``CD25 BB515``, as many cytometers write it); a marker on two channels is refused.
    """
    if name in pnn:
        return pnn.index(name)
    hits = [i for i, s in enumerate(pns) if s is not None and s.strip().casefold() == name.casefold()]
    if not hits:
        hits = [i for i, s in enumerate(pns) if s is not None and _marker_of(s).casefold() == name.casefold()]
    if len(hits) == 1:
        return hits[0]
    from immunolab.fcs.keywords import clean_free_text

    fact = "is carried by several channels" if hits else "is missing"
    # $PnS as fcs_files stores it (a date typed into it never reaches a message)
    shown = ", ".join(f"{n} ({clean_free_text(s).strip()})" if s and s.strip() else n
                      for n, s in zip(pnn, pns, strict=True))
    raise InconsistentInputError(
        "IML-FCS-011",
        f"channel {name!r} needed by gate {population!r} {fact}; the file's channels ($PnN ($PnS)) are {shown}",
        path=label,
        hint="Check that the file was stained with this panel and that $PnS names the markers; "
        "or edit the template to name the detector ($PnN) directly.",
    )


def _channel_names(channels: Channels) -> tuple[list[str], list[str | None]]:
    pnn: list[str] = []
    pns: list[str | None] = []
    for c in channels:
        name, marker = (c.pnn, c.pns) if hasattr(c, "pnn") else (c[0], c[1])
        pnn.append(str(name))
        pns.append(str(marker) if marker else None)
    return pnn, pns


def _to_display(transform: Transform, value: float) -> float:
    return float(transform.apply(np.array([float(value)]))[0])


def _legacy_gate(pop: PopulationSpec, values: list[np.ndarray], transforms: list[Transform]) -> Outcome:
    """Apply the two methods that take positions in data units (a lab's own ``range`` / ``target``)."""
    a = pop.arguments
    if pop.method == "mindensity":
        rng = a["range"]
        search = (_to_display(transforms[0], rng[0]), _to_display(transforms[0], rng[1]))
        cut = mindensity_cut(values[0], search_range=search, adjust=a["adjust"], min_mass=a["min_mass"])
        mask = values[0] > np.float64(cut) if a["positive"] else values[0] <= np.float64(cut)
        return Outcome(mask, {pop.channels[0]: cut})
    target = (_to_display(transforms[0], a["target"][0]), _to_display(transforms[1], a["target"][1]))
    extent = []
    for v, t in zip(values, target, strict=True):
        lo, hi = np.percentile(v, [0.05, 99.95]) if len(v) else (0.0, 1.0)
        lo, hi = min(lo, t), max(hi, t)
        pad = 0.02 * max(hi - lo, 1e-6)
        extent.append((float(lo - pad), float(hi + pad)))
    mask = density_basin_mask(
        values[0], values[1], target=target, extent=(extent[0], extent[1]), bins=int(a["bins"]),
        smooth=float(a["smooth"]), merge=float(a["merge"]), level=float(a["level"]), min_mass=float(a["min_mass"]),
    )
    return Outcome(mask)


@dataclass
class _FileCuts:
    """Per-channel cut over all events of the file (the landmark a one-population gate is compared with)."""

    display: DisplayColumns
    adjust: float
    min_mass: float
    cache: dict[int, float | None] = field(default_factory=dict)

    def __call__(self, column: int) -> float | None:
        if column not in self.cache:
            values = self.display.peek(column)  # counts no use: the gates' columns live as long as before
            try:
                self.cache[column] = split_above_lowest(values, adjust=self.adjust, min_mass=self.min_mass).cut
            except NoValleyError:
                self.cache[column] = None
            finally:
                del values
        return self.cache[column]


def _column_cut(file_cuts: _FileCuts, used: list[int], k: int) -> float | None:
    return file_cuts(used[k])


#: (parent gate path, events column, adjust, min_mass) -> :func:`split_values` of that parent's column
_SplitMemo = dict[tuple[str, int, float, float], "tuple[float, str, float] | None"]


def _memo_split(memo: _SplitMemo, parent: str, used: list[int], k: int, v: np.ndarray,
                a: Mapping[str, Any]) -> tuple[float, str, float] | None:
    """Split channel k of a gate once per parent: T, B and NK cells all cut CD3 within CD45+."""
    key = (parent, used[k], float(a["adjust"]), float(a["min_mass"]))
    if key not in memo:
        memo[key] = split_values(v, a)
    return memo[key]


def _gate_error(pop: PopulationSpec, n_parent: int, exc: Exception, label: str) -> InconsistentInputError:
    return InconsistentInputError(
        "IML-FCS-014",
        f"gate {pop.name!r} ({pop.method} on {', '.join(pop.channels)}, {n_parent} parent events) "
        f"found no population: {exc}",
        path=label,
        hint="The sample may lack this population or be poorly stained or acquired; look at "
        f"{', '.join(pop.channels)} within {pop.parent} (--plot draws every gate), then gate this file "
        "with a hand-made strategy (Gating-ML, a FlowJo workspace, or your own YAML template passed "
        "to --strategy) or exclude it.",
    )


def apply_template(
    events: np.ndarray,
    channels: Channels,
    spillover: SpilloverLike,
    template: Template,
    *,
    label: str = "sample",
    preprocess: Preprocess | None = None,
) -> GatingRun:
    """Compensate, transform and gate ``events`` (n_events x n_channels, raw data units).

    With ``preprocess`` (e.g. ``FcsData.preprocess_block``), ``events`` are the values as
    stored in the file and only the gated channels are preprocessed, a block of events at a
    time. Display values are float32 and built per channel on first use, a few compensated
    ones ahead (:class:`immunolab.flow.display.DisplayColumns`), so the peak memory stays
    near the size of ``events`` itself. Transforms with ``t: auto`` take each channel's range from
    ``channels`` (FCS reader channels) or, for (PnN, PnS) pairs, from the data.
    """
    pnn, pns = _channel_names(channels)
    events = np.asarray(events)
    if events.ndim != 2 or events.shape[1] != len(pnn):
        raise ValueError("events must be n_events x len(channels)")
    cols = {
        name: _resolve(name, pnn, pns, label=label, population=p.name)
        for p in template.populations
        for name in p.channels
    }
    channel_objs = list(channels)
    transform_of: dict[int, Transform] = {}
    for i in sorted(set(cols.values())):
        kind = "scatter" if is_scatter_or_time(pnn[i]) else "fluorescence"
        meta = channel_objs[i] if hasattr(channel_objs[i], "pnn") else None
        column = None if meta is not None else np.asarray(events[:, i])
        transform_of[i] = resolve_transform(template.transform_specs[kind], meta, column)
    requests = [[cols[c] for c in p.channels] for p in template.populations]
    display = DisplayColumns(
        events, pnn, transform_of, as_spillover_matrix(spillover), Counter(i for used in requests for i in used),
        compensate=[i for i in transform_of if not is_scatter_or_time(pnn[i])],
        preprocess=preprocess, label=label,
    )
    file_cuts = _FileCuts(display, adjust=1.0, min_mass=METHODS["mindensity"].defaults["min_mass"])
    splits: _SplitMemo = {}
    run = GatingRun({}, {})
    for index, (pop, used) in enumerate(zip(template.populations, requests, strict=True)):
        path = template.gate_paths[pop.name]
        display.prefetch(requests[index:])  # the compensated columns of the next gates in the same pass
        columns = display.get(used)
        parent = None if pop.parent == ROOT else run.masks[template.gate_paths[pop.parent]]
        if parent is None:
            values = columns
        else:
            rows = np.flatnonzero(parent)  # one scan of the mask for all channels
            values = [v[rows] for v in columns]
            del rows  # 8 bytes per parent event: not kept through the gate
        del columns
        try:
            if pop.method == "density_basin" or (pop.method == "mindensity" and pop.arguments["range"] is not None):
                outcome = _legacy_gate(pop, values, [transform_of[i] for i in used])
            else:
                outcome = gate_population(pop.method, pop.channels, values, pop.arguments,
                                          functools.partial(_column_cut, file_cuts, used),
                                          functools.partial(_memo_split, splits, pop.parent, used))
        except NoValleyError as exc:
            raise _gate_error(pop, len(values[0]), exc, label) from None
        del values
        display.release(used)  # after the gate: the file's own cut of a one-population gate reads them
        if parent is None:
            full = np.asarray(outcome.mask, dtype=bool)
        else:
            full = parent.copy()
            full[parent] = outcome.mask
        run.masks[path] = full
        run.thresholds[path] = outcome.thresholds
        run.status[path] = outcome.status
        if outcome.flag:
            run.flags[path] = outcome.flag
    return run


def display_values(
    events: np.ndarray,
    channels: Channels,
    spillover: SpilloverLike,
    template: Template,
    names: Sequence[str],
    *,
    label: str = "sample",
    preprocess: Preprocess | None = None,
) -> dict[str, np.ndarray]:
    """Return the display-scale values (as the gates saw them) of channels ``names`` (PnN or marker)."""
    pnn, pns = _channel_names(channels)
    events = np.asarray(events)
    cols = {name: _resolve(name, pnn, pns, label=label, population="plot") for name in names}
    channel_objs = list(channels)
    transform_of: dict[int, Transform] = {}
    for i in sorted(set(cols.values())):
        kind = "scatter" if is_scatter_or_time(pnn[i]) else "fluorescence"
        meta = channel_objs[i] if hasattr(channel_objs[i], "pnn") else None
        transform_of[i] = resolve_transform(template.transform_specs[kind], meta, None if meta else np.asarray(events[:, i]))
    display = DisplayColumns(events, pnn, transform_of, as_spillover_matrix(spillover), dict.fromkeys(transform_of, 1),
                             compensate=[i for i in transform_of if not is_scatter_or_time(pnn[i])],
                             preprocess=preprocess, label=label)
    order = sorted(transform_of)
    values = dict(zip(order, display.get(order), strict=True))
    return {name: values[i] for name, i in cols.items()}


def gate_sample(
    events: np.ndarray,
    channels: Channels,
    spillover: SpilloverLike,
    template: Template | None = None,
    *,
    label: str = "sample",
    preprocess: Preprocess | None = None,
) -> tuple[dict[str, np.ndarray], list[PopulationStat]]:
    """Gate one sample and return ``({gate_path: mask}, population statistics)``.

    ``events`` are raw (uncompensated) values, ``channels`` the ($PnN, $PnS) pairs in column
    order (or the FCS reader's channels), ``spillover`` the file's matrix (a
    :class:`SpilloverMatrix`, the reader's ``Spillover`` or ``(names, matrix)``; None skips
    compensation). ``label`` names the file in error messages. ``preprocess``: see
    :func:`apply_template` (then ``events`` are the file's stored values). Statistics are in
    percent; ``pct_lymphocytes`` is relative to the template's lymphocyte population.
    """
    tpl = template or load_template()
    run = apply_template(events, channels, spillover, tpl, label=label, preprocess=preprocess)
    return run.masks, run.population_stats(n_total=int(np.asarray(events).shape[0]), lymphocyte_path=tpl.lymphocyte_path)




def fluorescence_columns(template: Template, channels: Channels, *, label: str = "sample") -> list[int]:
    """Return the columns of ``channels`` holding the fluorescence (not scatter, not time) the template's gates read."""
    pnn, pns = _channel_names(channels)
    cols = {_resolve(name, pnn, pns, label=label, population=p.name) for p in template.populations for name in p.channels}
    return sorted(i for i in cols if not is_scatter_or_time(pnn[i]))


def gate_fcs_file(
    path: str | Path, template: Template | None = None, *, label: str | None = None
) -> tuple[dict[str, np.ndarray], list[PopulationStat]]:
    """Read an FCS file with :func:`immunolab.fcs.reader.read_fcs` and gate it with ``template``."""
    from immunolab.fcs.reader import read_fcs

    data = read_fcs(path, label=label)
    assert data.events is not None
    return gate_sample(data.events, data.channels, data.spillover(), template, label=data.label,
                       preprocess=data.preprocess_block)
