"""The gating derivation: FCS facts + a strategy -> flow_gating, flow_populations, flow_strategies (+ events).

A derivation is keyed by its ``derivation_id``: the strategy's content hash for a template or a
Gating-ML file, the hash of every sample's gate tree for a FlowJo workspace (whose gates differ
per sample). Gating that fails for one file (no spillover matrix, a gate that finds no
population) is recorded in ``flow_gating`` with its code and message: the file's facts are
kept, and re-gating it later is one ``immunolab derive gating`` away.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from immunolab.errors import ImmunolabError, InputError

if TYPE_CHECKING:
    from immunolab.fcs.reader import FcsData
    from immunolab.flow.pipeline import LoadedStrategy

__all__ = ["GatingSettings", "GatingSpec", "gate_source", "gating_spec", "spec_from_definition", "spec_from_strategy"]

#: a population with fewer events than this gets the QC flag ``low_event_count``
MIN_POPULATION_EVENTS = 50
#: a sample with fewer events than this gets the QC flag ``low_total_events``
MIN_SAMPLE_EVENTS = 10_000


@dataclass(frozen=True)
class GatingSettings:
    """How to gate at ingest (picklable): strategy file, compensation file, per-event output."""

    strategy: str | None = None
    comp: str | None = None
    write_events: bool = False
    #: panel -> (kind, definition_json, name) of the active re-applicable strategy in the store
    active: dict[str, tuple[str, str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class GatingSpec:
    """A strategy ready to apply and the id of the derivation it produces."""

    loaded: LoadedStrategy
    derivation_id: str
    kind: str
    name: str
    reusable: bool  # can be re-applied to new files (template, Gating-ML), unlike a FlowJo workspace


def _workspace_id(loaded: LoadedStrategy) -> str:
    blob = json.dumps(sorted(s.strategy.canonical_json() for s in loaded.workspace)).encode()
    return "wsp-" + hashlib.sha256(blob).hexdigest()[:12]


def gating_spec(strategy: str | Path | None) -> GatingSpec:
    """Return the spec of a strategy file (None: the built-in trial template)."""
    from immunolab.flow.pipeline import load_strategy

    loaded = load_strategy(strategy)
    if loaded.kind == "flowjo":
        return GatingSpec(loaded, _workspace_id(loaded), "flowjo", loaded.name, False)
    return GatingSpec(loaded, loaded.strategy_id, loaded.kind, loaded.name, True)


def spec_from_strategy(strategy: Any, *, name: str | None = None) -> GatingSpec:
    """Return the spec of a strategy object: an immunolab ``Strategy`` or a ``flowkit.GatingStrategy``."""
    from immunolab.flow.pipeline import LoadedStrategy
    from immunolab.flow.strategy import Strategy

    if not isinstance(strategy, Strategy):
        from immunolab.interop.flowkit_io import from_flowkit

        strategy = from_flowkit(strategy, name=name or "flowkit")
    label = name or strategy.name
    loaded = LoadedStrategy("gatingml", label, strategy=strategy)
    return GatingSpec(loaded, strategy.strategy_id, "gatingml", label, True)


def spec_from_definition(kind: str, definition_json: str, name: str) -> GatingSpec:
    """Rebuild a re-applicable strategy stored in ``flow_strategies`` (template or fixed gate tree)."""
    from immunolab.flow.pipeline import LoadedStrategy

    data = json.loads(definition_json)
    if kind == "template":
        from immunolab.flow.template import template_from_dict

        tpl = template_from_dict(data, source=name)
        loaded = LoadedStrategy("template", name, template=tpl)
    else:
        from immunolab.flow.strategy import Strategy

        loaded = LoadedStrategy(kind, name, strategy=Strategy.from_dict({"name": name, **data}))
    return GatingSpec(loaded, loaded.strategy_id, kind, name, True)


def definition_of(spec: GatingSpec, strategy: Any = None) -> str:
    """Return the canonical JSON stored in ``flow_strategies`` for the strategy actually applied."""
    if spec.loaded.template is not None:
        return json.dumps(spec.loaded.template.canonical(), sort_keys=True, default=str)
    tree = strategy if strategy is not None else spec.loaded.strategy
    return json.dumps(tree.content_dict(), sort_keys=True) if tree is not None else "{}"


def _flags(populations: pa.Table, n_total: int, *, gating_flags: list[str], not_gated: set[str]) -> pa.Table:
    """Return ``populations`` with their QC flags: few events, not gated (``too_few_events``), the gating's own."""
    from immunolab.flow.template_rules import NOT_GATED

    counts = populations.column("count").to_pylist()
    paths = populations.column("gate_path").to_pylist()
    flags = [(["low_event_count"] if (c is not None and c < MIN_POPULATION_EVENTS) else [])
             + ([NOT_GATED] if p in not_gated else []) for c, p in zip(counts, paths, strict=True)]
    if n_total < MIN_SAMPLE_EVENTS:
        flags = [[*f, "low_total_events"] for f in flags]
    flags = [[*f, *gating_flags] for f in flags]
    return populations.append_column("qc_flags", pa.array(flags, pa.list_(pa.string())))


def _below(roots: list[str], populations: pa.Table) -> set[str]:
    """Return the gate paths of ``populations`` that are one of ``roots`` or lie below one."""
    tops = [r.rstrip("/") for r in roots]
    return {p for p in populations.column("gate_path").to_pylist()
            if any(p.rstrip("/") == t or p.startswith(t + "/") for t in tops)}


def _with(table: pa.Table, **columns: Any) -> pa.Table:
    n = table.num_rows
    for name, value in columns.items():
        table = table.append_column(name, pa.array([value] * n, pa.string()))
    return table


def gate_source(fcs: FcsData, spec: GatingSpec, *, sha: str, label: str, comp: str | None = None,
                write_events: bool = False) -> tuple[dict[str, pa.Table], list[str]]:
    """Gate one read FCS file; return (derivation tables without commit_id, warnings).

    A coded input error while gating becomes a ``flow_gating`` row with status ``failed``.
    """
    from immunolab.flow.pipeline import _constant_strings, event_gates_table, events_table, gate_fcs
    from immunolab.flow.populations import unique_population_names

    n = int(fcs.n_events)
    try:
        result = gate_fcs(fcs, spec.loaded, label=label, comp=comp)
    except InputError as exc:
        row = {"source_sha256": sha, "derivation_id": spec.derivation_id, "strategy_id": None,
               "compensation": None, "status": "failed", "error_code": exc.code, "message": exc.message,
               "n_events": n, "qc_flags": ["gating_failed"]}
        return {"flow_gating": pa.Table.from_pylist([row])}, [f"{exc.code} gating failed: {exc.message}"]
    pops = result.populations.drop_columns([c for c in ("strategy_name",) if c in result.populations.column_names])
    pops = _flags(pops, n, gating_flags=result.qc_flags, not_gated=_below(result.not_gated, pops))
    pops = _with(pops, source_sha256=sha, derivation_id=spec.derivation_id)
    paths = pops.column("gate_path").to_pylist()
    names = unique_population_names(paths)  # the names measurements gives them: two "Lymphocytes" gates differ
    low = [names.get(p, p) for p, c in zip(paths, pops.column("count").to_pylist(), strict=True)
           if c is not None and c < MIN_POPULATION_EVENTS]
    gating_flags = ((["low_event_count"] if low else []) + (["low_total_events"] if n < MIN_SAMPLE_EVENTS else [])
                    + result.qc_flags)
    tables = {
        "flow_gating": pa.Table.from_pylist([{
            "source_sha256": sha, "derivation_id": spec.derivation_id, "strategy_id": result.strategy_id,
            "compensation": result.compensation, "status": "ok", "error_code": None, "message": None,
            "n_events": n, "qc_flags": gating_flags}]),
        "flow_populations": pops,
        "flow_strategies": pa.Table.from_pylist([{
            "strategy_id": result.strategy_id, "derivation_id": spec.derivation_id,
            "strategy_name": spec.name, "kind": spec.kind,
            "definition_json": definition_of(spec, result.strategy)}]),
    }
    if write_events:
        ev = events_table(fcs, result, spec.loaded, comp=comp)
        ev = ev.append_column("source_sha256", _constant_strings(sha, ev.num_rows))
        ev = ev.append_column("derivation_id", _constant_strings(spec.derivation_id, ev.num_rows))
        tables["flow_events"] = ev
        gates = event_gates_table(result, ev.num_rows)
        gates = gates.append_column("source_sha256", _constant_strings(sha, gates.num_rows))
        tables["flow_event_gates"] = gates.append_column("derivation_id", _constant_strings(spec.derivation_id,
                                                                                           gates.num_rows))
    roots = [r.rstrip("/") + "/" for r in result.not_gated]
    ungated = [names.get(p, p) for p in paths if p in result.not_gated or any(p.startswith(r) for r in roots)]
    small = [n for n in low if n not in set(ungated)]
    warnings = [*result.warnings,
                *([f"{len(small)} population(s) under {MIN_POPULATION_EVENTS} events ({', '.join(small[:4])})"]
                  if small else []),
                *([f"{len(ungated)} population(s) not gated: a parent holds under {MIN_POPULATION_EVENTS} events "
                   f"({', '.join(ungated[:4])}); their frequencies are unknown (NaN), not 0"] if ungated else [])]
    return tables, warnings


def safe_gate(fcs: FcsData, spec: GatingSpec, **kw: Any) -> tuple[dict[str, pa.Table], list[str]]:
    """Like :func:`gate_source`, but any coded error (including a bad strategy file) becomes a failed row."""
    try:
        return gate_source(fcs, spec, **kw)
    except ImmunolabError as exc:
        row = {"source_sha256": kw["sha"], "derivation_id": spec.derivation_id, "status": "failed",
               "error_code": exc.code, "message": exc.message, "n_events": int(fcs.n_events),
               "qc_flags": ["gating_failed"]}
        return {"flow_gating": pa.Table.from_pylist([row])}, [f"{exc.code} gating failed: {exc.message}"]
