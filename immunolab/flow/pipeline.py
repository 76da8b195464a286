"""The per-sample flow pipeline called by the FCS plugin: gate one file, return its store tables.

Strategy choice (``--strategy``): none = the built-in trial template
(:mod:`immunolab.flow.template`, data-driven thresholds); ``.yaml``/``.yml`` = another template;
``.xml`` = Gating-ML 2.0 (:mod:`immunolab.flow.gatingml`); ``.wsp`` = a FlowJo 10 workspace
(:mod:`immunolab.flow.flowjo`; the workspace sample whose data file is this FCS file, or the
only sample). Every route ends in :mod:`immunolab.flow.populations`, so ``flow_populations``
means the same whatever gated it, keyed by the strategy's content hash.

With ``write_events`` the compensated, transformed channels (float32) and each event's leaf
population go to ``flow_events``, and every gate's per-event membership to ``flow_event_gates``. Only one sample's events are ever in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from immunolab.errors import InconsistentInputError, MalformedInputError
from immunolab.fcs.keywords import clean_free_text
from immunolab.flow.populations import PopulationStat, population_stats, stats_rows, stats_table

if TYPE_CHECKING:
    import pyarrow as pa

    from immunolab.fcs.reader import FcsData
    from immunolab.flow.strategy import Strategy
    from immunolab.flow.template import Template
    from immunolab.plugins import ParseContext

__all__ = [
    "GatingResult",
    "LoadedStrategy",
    "analyze_sample",
    "display_values",
    "event_gates_table",
    "gate_fcs",
    "load_compensation",
    "load_strategy",
    "spillover_for",
    "strategies_table",
    "uncompensated_fluorescence",
    "uncompensated_warning",
    "unpack_members",
]

LYMPHOCYTE_NAMES = {"lymphocytes", "lymphocyte", "lymphs", "lymph"}
#: the warning of a FlowJo workspace sample applied to a file of another name
WORKSPACE_NAME_WARNING = "IML-FCS-019"
#: the warning of a file whose fluorescence was gated uncompensated (no matrix in the file, none given)
UNCOMPENSATED_WARNING = "IML-FCS-020"
#: the QC flag every population of such a gating carries (and its ``flow_gating`` row)
UNCOMPENSATED_FLAG = "uncompensated"
#: the compensation source of a gating that applied no matrix
NO_COMPENSATION = "none"


@dataclass(frozen=True)
class LoadedStrategy:
    """A gating strategy ready to apply: a data-driven template or a fixed gate tree."""

    kind: str  # "template" | "gatingml" | "flowjo"
    name: str
    template: Template | None = None
    strategy: Strategy | None = None
    workspace: tuple[Any, ...] = ()

    @property
    def strategy_id(self) -> str:
        if self.template is not None:
            return self.template.strategy_id
        if self.strategy is not None:
            return self.strategy.strategy_id
        return ""


@dataclass
class GatingResult:
    """Masks, population statistics and the strategy used for one sample."""

    masks: dict[str, np.ndarray]
    stats: list[PopulationStat]
    strategy_id: str
    strategy_name: str
    kind: str = "template"
    definition_json: str = "{}"
    compensation: str = "none"
    strategy: Any = None  # the fixed gate tree used (Gating-ML / FlowJo), None for a template
    warnings: list[str] = field(default_factory=list)  # coded one-line warnings ("IML-FCS-019 ...")
    qc_flags: list[str] = field(default_factory=list)  # flags of the whole gating, for every population ("uncompensated")
    not_gated: list[str] = field(default_factory=list)  # gate paths left ungated (parent too few events): NaN frequencies

    def population_rows(self) -> list[dict[str, Any]]:
        """Return the ``flow_populations`` records as plain dicts (no pyarrow import)."""
        return stats_rows(self.stats, strategy_id=self.strategy_id, strategy_name=self.strategy_name)

    @cached_property
    def populations(self) -> pa.Table:
        """Return the ``flow_populations`` rows as an Arrow table (built on first use)."""
        return stats_table(self.stats, strategy_id=self.strategy_id, strategy_name=self.strategy_name)


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> LoadedStrategy:
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".yaml", ".yml"):
        from immunolab.flow.template import load_template

        tpl = load_template(p)
        return LoadedStrategy("template", getattr(tpl, "name", p.stem) or p.stem, template=tpl)
    if suffix == ".xml" and _is_flowjo_workspace(p):  # FlowJo 8-9 (Mac) save workspaces as .xml
        suffix = ".wsp"
    if suffix == ".xml":
        from immunolab.flow.gatingml import read_gatingml

        return LoadedStrategy("gatingml", p.stem, strategy=read_gatingml(p, name=p.stem, label=p.name))
    if suffix == ".wsp":
        from immunolab.flow.flowjo import read_flowjo_workspace

        samples = read_flowjo_workspace(p, name=p.stem, label=p.name)
        return LoadedStrategy("flowjo", p.stem, workspace=tuple(samples))
    raise MalformedInputError(
        "IML-FCS-013",
        f"the gating strategy file has an unknown type ({suffix or 'no extension'})",
        path=p.name,
        hint="Use a template (.yaml), a Gating-ML 2.0 file (.xml) or a FlowJo 7-10 workspace (.wsp, or .xml from FlowJo 8-9).",
    )


def _is_flowjo_workspace(path: Path) -> bool:
    """Return True when an .xml file is a FlowJo workspace (its root names a flowJoVersion)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return b"<Workspace" in head and b"flowJoVersion" in head


@lru_cache(maxsize=4)
def _builtin(name: str = "trial_panel") -> LoadedStrategy:
    from immunolab.flow.template import load_template

    return LoadedStrategy("template", name, template=load_template(builtin=name))


def load_strategy(path: str | Path | None) -> LoadedStrategy:
    """Return the strategy in ``path`` (None: the built-in trial template); cached per process.

    A ``path`` that is no file but names a built-in template (``trial_panel``, also written
    ``trial-panel``; ``tcell_tube``) is that template, under its canonical (file) name.
    """
    if path is None:
        return _builtin()
    p = Path(path)
    if not p.is_file():
        from immunolab.flow.templates import builtin_name, builtin_names

        name = builtin_name(str(path))
        if name is not None:
            return _builtin(name)
        raise MalformedInputError("IML-FCS-013", "the gating strategy file does not exist", path=p.name,
                                  hint=f"Check the --strategy path, or name a built-in template "
                                       f"({', '.join(builtin_names())}).")
    return _load_cached(str(p.resolve()), os.stat(p).st_mtime_ns)


def _lymphocyte_path(paths: list[str]) -> str | None:
    for path in paths:
        if path.rstrip("/").rsplit("/", 1)[-1].casefold() in LYMPHOCYTE_NAMES:
            return path
    return None


def _workspace_strategy(loaded: LoadedStrategy, fcs: FcsData, label: str) -> tuple[Strategy, list[str]]:
    """Return the strategy of the workspace sample that is this file, and a warning when names disagree.

    The sample whose data file is ``$FIL`` is this file; a workspace of one sample is used for
    any file. Either way a sample whose name (or, for the only sample, whose data file) is not
    this file's ``$FIL`` is applied with warning IML-FCS-019: its gates may be another sample's.
    Names are shown by shape only (a sample name or ``$FIL`` can hold a patient name).
    """
    from immunolab.redact import value_shape

    samples = list(loaded.workspace)
    fil = (fcs.keywords.get("$FIL") or "").strip()
    match = [s for s in samples if fil and Path(s.file_name).name == Path(fil).name]
    if len(match) == 1 or len(samples) == 1:
        chosen = match[0] if len(match) == 1 else samples[0]
        workspace = chosen.strategy.label or loaded.name
        data_file = Path(chosen.file_name).name
        if len(match) != 1 and fil:  # without $FIL the file has no name to check the sample against
            return chosen.strategy, [
                f"{WORKSPACE_NAME_WARNING} FlowJo workspace {workspace}: its only sample's data file (written as "
                f"{value_shape(data_file)}) is not this file by name ($FIL written as {value_shape(Path(fil).name)}); "
                "its gates were applied anyway. Check that the workspace was saved for this file, or pass the "
                "workspace saved with it."]
        if chosen.sample_name and chosen.sample_name != data_file:
            return chosen.strategy, [
                f"{WORKSPACE_NAME_WARNING} FlowJo workspace {workspace}: the sample matched to this file is named "
                f"differently from its data file (sample name written as {value_shape(chosen.sample_name)}, data file "
                f"{value_shape(data_file)}); its gates were applied. Check in FlowJo that this sample's gates "
                "belong to this file (or rename the sample after its file) and save the workspace again."]
        return chosen.strategy, []
    raise InconsistentInputError(
        "IML-FCS-013",
        f"the FlowJo workspace holds {len(samples)} samples and none is unambiguously this file",
        path=label,
        hint="Export a workspace with this sample's gates only, or a Gating-ML file, and pass it with --strategy.",
    )


def load_compensation(path: str | Path, *, label: str | None = None) -> Any:
    """Read a FlowJo-style compensation matrix CSV (cached per process by path and mtime)."""
    p = Path(path)
    if not p.is_file():
        raise MalformedInputError("IML-FCS-015", "the compensation matrix file does not exist", path=p.name,
                                  hint="Check the --comp path.")
    return _load_comp_cached(str(p.resolve()), os.stat(p).st_mtime_ns, label or p.name)


@lru_cache(maxsize=4)
def _load_comp_cached(path: str, mtime_ns: int, label: str) -> Any:
    from immunolab.flow.compensation import read_matrix_csv

    return read_matrix_csv(path, label=label)


def spillover_for(fcs: FcsData, comp: str | Path | None) -> tuple[Any, str]:
    """Return the matrix that compensates ``fcs`` and where it came from.

    ``comp`` (a FlowJo-style matrix CSV) replaces the file's own spillover keyword.
    """
    from immunolab.fcs.spillover import names_only_spillover
    from immunolab.flow.compensation import as_spillover_matrix

    if comp is not None:
        return load_compensation(comp), f"matrix file {Path(comp).name}"
    matrix = as_spillover_matrix(fcs.spillover())
    if matrix is None:
        key = names_only_spillover(fcs.keywords)
        if key is not None:
            raise MalformedInputError(
                "IML-FCS-012", f"{key} names the compensated channels but holds no matrix values, so the events "
                "cannot be compensated", path=None,
                hint="Gate with a compensation matrix: `immunolab derive gating --panel P --comp matrix.csv` "
                "(or `ingest --comp`); the file's facts are stored already.")
    return matrix, "file spillover keyword" if matrix is not None else NO_COMPENSATION


def uncompensated_fluorescence(fcs: FcsData, loaded: LoadedStrategy, strategy: Strategy | None, *,
                               label: str) -> list[str]:
    """Return the fluorescence channels the gates read that a spillover matrix would have compensated.

    A template compensates every fluorescence channel it reads; a fixed gate tree (Gating-ML,
    FlowJo) compensates the dimensions it reads with the file's matrix (``FCS``), while those it
    reads ``uncompensated`` or with a matrix of its own are its author's choice. Scatter and time
    channels are never compensated.
    """
    from immunolab.flow.transforms import is_scatter_or_time

    if loaded.template is not None:
        from immunolab.flow.template import fluorescence_columns

        return [fcs.channels[i].pnn for i in fluorescence_columns(loaded.template, fcs.channels, label=label)]
    if strategy is None:
        return []
    from immunolab.flow.strategy import FCS_COMPENSATION

    names = [name for dim in strategy.dimensions() if dim.compensation == FCS_COMPENSATION
             for name in (dim.channel, dim.denominator) if name is not None]
    return sorted({n for n in names if not is_scatter_or_time(n)})


def uncompensated_warning(channels: list[str]) -> str:
    """Return the coded warning of a gating that read ``channels`` (2 or more fluorescence channels) uncompensated."""
    return (f"{UNCOMPENSATED_WARNING} gated without compensation: the file has no spillover matrix ($SPILLOVER, "
            f"$SPILL or SPILL) and the gates read {len(channels)} fluorescence channels ({', '.join(channels)}); "
            "populations of overlapping dyes may be wrong. Export the file with its compensation, or give a "
            "matrix with --comp FILE (a FlowJo-style CSV).")


def display_values(fcs: FcsData, loaded: LoadedStrategy, matrix: Any, columns: list[int]) -> list[np.ndarray]:
    """Return float32 display values of event ``columns``: compensated fluorescence, scale-transformed.

    Scatter/time are linear, fluorescence logicle (the template's transforms when ``loaded`` is a
    template); computed block-wise from the stored events (:class:`immunolab.flow.display.DisplayColumns`).
    """
    from immunolab.flow.display import DisplayColumns
    from immunolab.flow.transforms import Linear, Logicle, Transform, is_scatter_or_time

    if fcs.events is None:
        raise ValueError("events were not read (read_fcs(..., events=False))")
    pnn = [c.pnn for c in fcs.channels]
    tpl = loaded.template
    transforms: dict[int, Transform] = {}
    for i in columns:
        kind = "scatter" if is_scatter_or_time(pnn[i]) else "fluorescence"
        if tpl is not None:  # the scale the template's gates used for this channel ($PnR, log data)
            from immunolab.flow.template import resolve_transform

            transforms[i] = resolve_transform(tpl.transform_specs[kind], fcs.channels[i])
        else:
            transforms[i] = Linear() if kind == "scatter" else Logicle()
    display = DisplayColumns(fcs.events, pnn, transforms, matrix, {i: 1 for i in columns},
                             compensate=[i for i in columns if not is_scatter_or_time(pnn[i])],
                             preprocess=fcs.preprocess_block)
    values = display.get(columns)
    display.release(columns)
    return values


def gate_fcs(fcs: FcsData, loaded: LoadedStrategy, *, label: str, comp: str | Path | None = None) -> GatingResult:
    """Gate one read FCS data set with ``loaded``; return masks and ``flow_populations`` rows.

    ``comp`` names a FlowJo-style matrix CSV that replaces the file's own spillover matrix.
    Both routes read the events as stored and preprocess ($PnE, $PnG, $TIMESTEP) only the
    channels they gate on, a block at a time: no float64 copy of the whole sample is made. A
    fixed gate tree (Gating-ML, FlowJo) sees the same float64 data values as FlowKit does.
    """
    import json

    spill, comp_source = spillover_for(fcs, comp)
    if fcs.events is None:
        raise ValueError("events were not read (read_fcs(..., events=False))")
    n = int(fcs.events.shape[0])
    if loaded.template is not None:
        from immunolab.flow.template import apply_template

        tpl = loaded.template
        run = apply_template(fcs.events, fcs.channels, spill, tpl, label=label, preprocess=fcs.preprocess_block)
        definition = json.dumps(tpl.canonical(), sort_keys=True, default=str)
        result = GatingResult(run.masks, run.population_stats(n_total=n, lymphocyte_path=tpl.lymphocyte_path),
                              tpl.strategy_id, loaded.name, "template", definition, comp_source,
                              not_gated=run.not_gated)
    else:
        from immunolab.flow.strategy import gate_events

        strategy, warnings = ((loaded.strategy, []) if loaded.strategy is not None
                              else _workspace_strategy(loaded, fcs, label))
        masks = gate_events(fcs.events, [c.pnn for c in fcs.channels], strategy, spill,
                            channel_labels=[c.pns for c in fcs.channels], label=label,
                            preprocess=fcs.preprocess_block if fcs.needs_preprocessing() else None)
        stats = population_stats(masks, n_total=n, lymphocyte_path=_lymphocyte_path(list(masks)))
        result = GatingResult(masks, stats, strategy.strategy_id, loaded.name, loaded.kind, strategy.canonical_json(),
                              comp_source, strategy, warnings)
    if comp_source == NO_COMPENSATION:
        channels = uncompensated_fluorescence(fcs, loaded, result.strategy, label=label)
        if len(channels) >= 2:
            result.warnings.append(uncompensated_warning(channels))
            result.qc_flags.append(UNCOMPENSATED_FLAG)
    return result


def strategies_table(result: GatingResult) -> pa.Table:
    """Return the one-row ``flow_strategies`` table describing how this sample was gated."""
    import pyarrow as pa

    return pa.table({
        "strategy_id": [result.strategy_id],
        "strategy_name": [result.strategy_name],
        "kind": [result.kind],
        "compensation": [result.compensation],
        "definition_json": [result.definition_json],
    })


def leaf_labels(masks: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Return each event's deepest population name (``ungated`` when in none); ties: later gate wins."""
    names, codes = _leaf_codes(masks, n)
    return np.asarray(names, dtype=object)[codes]


def _leaf_codes(masks: dict[str, np.ndarray], n: int) -> tuple[list[str], np.ndarray]:
    """Return (population names, per-event index into them) of :func:`leaf_labels` (no strings per event)."""
    names = ["ungated"]
    codes = np.zeros(n, dtype=np.int32)
    for path in sorted(masks, key=lambda p: p.count("/")):
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if name not in names:
            names.append(name)
        codes[masks[path]] = names.index(name)
    return names, codes


def _constant_strings(value: str, n: int) -> pa.Array:
    """Return a string array of ``n`` times ``value`` built inside Arrow (no Python list of n items)."""
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int8)), pa.array([value])).cast(pa.string())


def events_table(fcs: FcsData, result: GatingResult, loaded: LoadedStrategy, comp: str | Path | None = None) -> pa.Table:
    """Return ``flow_events`` rows: compensated, transformed channels (float32) and leaf population.

    The channels are computed from the stored events a block of rows at a time
    (:class:`immunolab.flow.display.DisplayColumns`): no float64 copy of the sample is made,
    and the float32 columns become the Arrow columns without another copy.
    """
    import pyarrow as pa

    if fcs.events is None:
        raise ValueError("events were not read (read_fcs(..., events=False))")
    n = int(fcs.events.shape[0])
    matrix, _source = spillover_for(fcs, comp)
    keep = [i for i, ch in enumerate(fcs.channels) if ch.pnn.casefold() != "time"]
    names, codes = _leaf_codes(result.masks, n)
    cols: dict[str, Any] = {
        "strategy_id": _constant_strings(result.strategy_id, n),
        "event_index": pa.array(np.arange(n, dtype=np.int64)),
        "population": pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(names)).cast(pa.string()),
    }
    del codes
    used: set[str] = set(cols)
    for i, values in zip(keep, display_values(fcs, loaded, matrix, keep), strict=True):
        ch = fcs.channels[i]
        # stored names are cleaned as fcs_files.channels are (a date typed into $PnS must not become a column)
        pns = clean_free_text(ch.pns).strip() if ch.pns else ""
        name = pns if pns and pns not in used else clean_free_text(ch.pnn, cap=False)
        used.add(name)
        cols[name] = pa.array(values)  # float32, zero-copy
    return pa.table(cols)


def event_gates_table(result: GatingResult, n: int) -> pa.Table:
    """Return ``flow_event_gates`` rows: every gate's per-event mask, bit-packed (one row per gate path).

    ``flow_events`` keeps one ``population`` label per event (the deepest gate), which cannot say
    that an event is in two overlapping gates (Treg and HLA-DR+ CD4 T, CD4+ and CD8+); these masks
    are the ones ``flow_populations`` counted, so counting them reproduces its counts exactly.
    """
    import pyarrow as pa

    paths = [p for p in result.masks if p != "/"]
    return pa.table({
        "gate_path": pa.array(paths, pa.string()),
        "n_events": pa.array([n] * len(paths), pa.int64()),
        "count": pa.array([int(np.count_nonzero(result.masks[p])) for p in paths], pa.int64()),
        "members": pa.array([np.packbits(np.asarray(result.masks[p], dtype=bool)).tobytes() for p in paths],
                            pa.binary()),
    })


def unpack_members(members: bytes, n_events: int) -> np.ndarray:
    """Return the boolean per-event mask of a ``flow_event_gates`` row (inverse of :func:`event_gates_table`)."""
    return np.unpackbits(np.frombuffer(members, dtype=np.uint8), count=n_events).astype(bool)


def analyze_sample(fcs: FcsData, ctx: ParseContext) -> dict[str, pa.Table]:
    """Gate one sample for the FCS plugin; return ``flow_populations`` (and ``flow_events``)."""
    loaded = load_strategy(ctx.option("strategy"))
    result = gate_fcs(fcs, loaded, label=ctx.label, comp=ctx.option("comp"))
    out = {"flow_populations": result.populations, "flow_strategies": strategies_table(result)}
    if ctx.option("write_events"):
        out["flow_events"] = events_table(fcs, result, loaded, comp=ctx.option("comp"))
        out["flow_event_gates"] = event_gates_table(result, int(fcs.events.shape[0]) if fcs.events is not None else 0)
    return out
