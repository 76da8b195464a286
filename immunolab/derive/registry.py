"""The derivations ingest runs on a new file, by the fact tables it has (``TableSpec.derivations``).

A derivation is a function ``(facts, ctx) -> (tables, warnings)``: ``facts`` are the file's
fact tables (keys filled, names already replaced by keyed hashes), ``ctx`` a
:class:`DeriveContext`. Tables come back without ``commit_id`` (ingest sets it). Plugins may
register their own (e.g. bead-array curves) with :func:`register_derivation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from immunolab.cytokine.assemble import PlateSettings
from immunolab.derive.gating import GatingSettings

__all__ = ["DERIVATIONS", "DeriveContext", "DeriveSettings", "register_derivation", "run_derivations"]


@dataclass(frozen=True)
class DeriveSettings:
    """Settings of the derivations run at ingest (picklable)."""

    gating: GatingSettings = field(default_factory=GatingSettings)
    plates: PlateSettings = field(default_factory=PlateSettings)


@dataclass
class DeriveContext:
    """What a derivation may know about the file it derives from."""

    sha: str
    label: str
    panel: str | None
    settings: DeriveSettings
    payload: dict[str, Any] = field(default_factory=dict)
    raw_path: Any = None  # a local path with the file's bytes (the input, or the vault copy)
    qc_status: list[str] = field(default_factory=list)


Derivation = Callable[[dict[str, pa.Table], DeriveContext], tuple[dict[str, pa.Table], list[str]]]
DERIVATIONS: dict[str, Derivation] = {}


def register_derivation(name: str, func: Derivation) -> None:
    """Register derivation ``name`` (a fact table lists it in ``TableSpec.derivations``)."""
    DERIVATIONS[name] = func


def _gating(facts: dict[str, pa.Table], ctx: DeriveContext) -> tuple[dict[str, pa.Table], list[str]]:
    from immunolab.derive.gating import gating_spec, safe_gate, spec_from_definition

    fcs = ctx.payload.get("fcs")
    if fcs is None:
        from immunolab.fcs.reader import read_fcs

        fcs = read_fcs(ctx.raw_path, label=ctx.label)
    gs = ctx.settings.gating
    warnings: list[str] = []
    if gs.strategy:
        spec = gating_spec(gs.strategy)
    elif ctx.panel is not None and ctx.panel in gs.active:
        kind, definition, name = gs.active[ctx.panel]
        spec = spec_from_definition(kind, definition, name)
    else:
        spec = gating_spec(None)
    tables, w = safe_gate(fcs, spec, sha=ctx.sha, label=ctx.label, comp=gs.comp, write_events=gs.write_events)
    return tables, warnings + w


def _curves(facts: dict[str, pa.Table], ctx: DeriveContext) -> tuple[dict[str, pa.Table], list[str]]:
    from immunolab.cytokine.facts import plates_from_facts
    from immunolab.derive.curves import INSTRUMENT, derive_plate, has_instrument_results, rows_to_tables

    from immunolab.derive.runs import is_run

    rows: dict[str, list[dict[str, Any]]] = {}
    warnings: list[str] = []
    for pid, plate in plates_from_facts(facts["cytokine_plates"], facts["cytokine_wells"], facts.get("instrument_curves")):
        if is_run(pid):  # one well of a multi-file run: fitted once the run's wells are stored
            continue
        kinds = ["refit", INSTRUMENT] if has_instrument_results(plate) else ["refit"]
        status_of: dict[str, str] = {}
        for kind in kinds:
            part, status = derive_plate(plate, sha=ctx.sha, plate_id=pid, settings=ctx.settings.plates, kind=kind,
                                        label=ctx.label)
            status_of[kind] = status
            for name, recs in part.items():
                rows.setdefault(name, []).extend(recs)
        shown = status_of.get(INSTRUMENT, status_of["refit"])
        ctx.qc_status.append(shown)
        if status_of.get("refit") == "fail":
            warnings.append(f"plate {plate.plate_index}: the refit failed QC or could not be computed")
    return rows_to_tables(rows), warnings


def run_derivations(facts: dict[str, pa.Table], ctx: DeriveContext) -> tuple[dict[str, pa.Table], list[str]]:
    """Run every derivation the file's fact tables declare; return (tables, warnings)."""
    from immunolab.schema import table_spec

    wanted: list[str] = []
    for name, t in facts.items():
        if t.num_rows:
            wanted.extend(d for d in table_spec(name).derivations if d not in wanted)
    out: dict[str, pa.Table] = {}
    warnings: list[str] = []
    for d in wanted:
        func = DERIVATIONS.get(d)
        if func is None:
            warnings.append(f"derivation {d!r} is not installed; only facts were stored")
            continue
        tables, w = func(facts, ctx)
        warnings.extend(w)
        for name, t in tables.items():
            out[name] = pa.concat_tables([out[name], t], promote_options="permissive") if name in out else t
    return out, warnings


register_derivation("gating", _gating)
register_derivation("curves", _curves)
