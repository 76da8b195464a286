"""The derivations ingest runs on a new file, by the fact tables it has (``TableSpec.derivations``).

A derivation is a function ``(facts, ctx) -> (tables, warnings)``: ``facts`` are the file's
fact tables (keys filled, names already replaced by keyed hashes), ``ctx`` a
:class:`DeriveContext`. Tables come back without ``commit_id`` (ingest sets it). Plugins may
register their own (e.g. bead-array curves) with :func:`register_derivation`.

A derivation declares the settings it reads as :class:`~immunolab.plugins.PluginOption`
(``options=``): ``immunolab ingest`` builds a flag for each (:func:`derivation_options`), as it
does for the plugins' own options, and :func:`derive_settings` turns the values into the
:class:`DeriveSettings` every worker receives. The built-in ``gating`` derivation declares
``--strategy``, ``--comp`` and ``--events``; ``curves`` declares the curve model, weighting,
substitution rules and ``--strict-curves``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from immunolab.cytokine.assemble import PlateSettings
from immunolab.derive.gating import GatingSettings
from immunolab.plugins import PluginOption

__all__ = [
    "CURVE_OPTIONS",
    "DERIVATIONS",
    "GATING_OPTIONS",
    "DeriveContext",
    "DeriveSettings",
    "derivation_options",
    "derive_settings",
    "refit_failure",
    "register_derivation",
    "run_derivations",
]

#: settings of the ``gating`` derivation (a strategy file, a compensation file, per-event rows)
GATING_OPTIONS: tuple[PluginOption, ...] = (
    PluginOption("strategy", "path", "Gating strategy: a template (.yaml, see the README), Gating-ML 2.0 (.xml) or "
                 "FlowJo workspace (.wsp/.xml) instead of the panel's active strategy or the built-in template.",
                 must_exist=False),
    PluginOption("comp", "path", "FCS: FlowJo-style compensation matrix CSV instead of each file's spillover keyword."),
    PluginOption("write_events", "bool", "Also store per-event flow data (flow_events).", flag_name="events"),
)
#: settings of the ``curves`` derivation (:class:`~immunolab.cytokine.assemble.PlateSettings`)
CURVE_OPTIONS: tuple[PluginOption, ...] = (
    PluginOption("curve_model", "choice", "Plates: model of immunolab's refit; vendor = the model of the instrument's "
                 "printed curve (MSD 4PL, else 5PL).", default="vendor", choices=("vendor", "5PL", "4PL"),
                 show_default=True),
    PluginOption("curve_weighting", "choice", "Plates: weights of the refit; vendor picks per plate the recipe of its "
                 "software (1/y^2 xPONENT, bioplex Bio-Plex Manager, msd MSD Workbench).", default="vendor",
                 choices=("vendor", "1/y^2", "1/y", "none", "1/x", "1/x^2", "bioplex", "msd"), show_default=True),
    PluginOption("below_rule", "choice", "Plates: substitution below the LLOQ (recorded on every row).",
                 default="LLOQ/2", choices=("LLOQ/2", "LLOQ/sqrt2", "LLOQ", "zero", "none"), show_default=True),
    PluginOption("above_rule", "choice", "Plates: substitution above the ULOQ (recorded on every row).",
                 default="ULOQ", choices=("ULOQ", "none"), show_default=True),
    PluginOption("strict_curves", "bool", "Plates: a curve that cannot be fitted fails the plate's QC."),
)


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
    #: derivations that failed on this file, with the error code (``"gating IML-FCS-014"``); the
    #: file's facts are still committed, the failure is a ``failed`` derivation row
    failed: list[str] = field(default_factory=list)


Derivation = Callable[[dict[str, pa.Table], DeriveContext], tuple[dict[str, pa.Table], list[str]]]
DERIVATIONS: dict[str, Derivation] = {}
#: derivation name -> the settings it declares (flags of ``immunolab ingest``)
OPTIONS: dict[str, tuple[PluginOption, ...]] = {}


def register_derivation(name: str, func: Derivation, *, options: tuple[PluginOption, ...] = ()) -> None:
    """Register derivation ``name`` (a fact table lists it in ``TableSpec.derivations``) and its settings."""
    DERIVATIONS[name] = func
    OPTIONS[name] = tuple(options)


def derivation_options() -> list[tuple[str, PluginOption]]:
    """Return (derivation, option) for every setting the registered derivations declare, in order."""
    return [(name, opt) for name, opts in OPTIONS.items() for opt in opts]


def derive_settings(options: Mapping[str, Any], *, active: Mapping[str, tuple[str, str, str]] | None = None,
                    label: str | None = None) -> DeriveSettings:
    """Return the settings of the built-in derivations from option values (IML-CYT-009 for a bad one).

    ``options`` holds values by option name (``strategy``, ``curve_model``...; a path as text) plus
    any further plate analysis keys :meth:`PlateSettings.from_options` reads (QC thresholds,
    ``control_ranges``, ``curve_source``); ``active`` maps a panel to its active stored strategy.
    """
    from immunolab.cytokine.parsed import settings_from_options

    gating_names = {o.name for o in GATING_OPTIONS}
    strategy, comp = options.get("strategy"), options.get("comp")
    gating = GatingSettings(strategy=str(strategy) if strategy else None, comp=str(comp) if comp else None,
                            write_events=bool(options.get("write_events")), active=dict(active or {}))
    plates = settings_from_options({k: v for k, v in options.items() if k not in gating_names}, label=label)
    return DeriveSettings(gating=gating, plates=plates)


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
    gating = tables["flow_gating"].to_pylist()[0]
    if gating["status"] == "failed":
        ctx.failed.append(f"gating {gating['error_code']}")
    return tables, warnings + w


_FAILING = {"curve_failed": "no curve could be fitted", "r_squared_low": "R^2 below the minimum",
            "control_out_of_range": "a control outside its expected range"}


def refit_failure(qc_json: str) -> str:
    """Return why a plate's refit failed QC, naming each failing analyte, from its ``plate_qc`` record."""
    qc = json.loads(qc_json)
    if "error" in qc:
        return f"{qc['error'].get('code', '')} {qc['error'].get('message', '')}".strip()
    parts = [f"{analyte}: {', '.join(_FAILING[f] for f in info.get('flags', []) if f in _FAILING)}"
             for analyte, info in sorted((qc.get("analytes") or {}).items())
             if set(info.get("flags", [])) & set(_FAILING)]
    bead = qc.get("bead_count") or {}
    if bead.get("fail"):
        parts.append(f"{bead['fail']} of {bead.get('readings')} bead counts below the minimum")
    return "; ".join(parts) or "see its plate_qc record"


def _curves(facts: dict[str, pa.Table], ctx: DeriveContext) -> tuple[dict[str, pa.Table], list[str]]:
    from immunolab.cytokine.facts import plates_from_facts
    from immunolab.derive.curves import (
        INSTRUMENT,
        derive_plate,
        has_instrument_results,
        rows_to_tables,
    )
    from immunolab.derive.runs import is_run

    rows: dict[str, list[dict[str, Any]]] = {}
    warnings: list[str] = []
    for pid, plate in plates_from_facts(facts["cytokine_plates"], facts["cytokine_wells"], facts.get("instrument_curves")):
        if is_run(pid):  # one well of a multi-file run: fitted once the run's wells are stored
            continue
        kinds = ["refit", INSTRUMENT] if has_instrument_results(plate) else ["refit"]
        status_of: dict[str, str] = {}
        refit_qc = "{}"
        for kind in kinds:
            part, status = derive_plate(plate, sha=ctx.sha, plate_id=pid, settings=ctx.settings.plates, kind=kind,
                                        label=ctx.label)
            status_of[kind] = status
            if kind == "refit" and part.get("plate_qc"):
                refit_qc = part["plate_qc"][0]["qc_json"]
            for name, recs in part.items():
                rows.setdefault(name, []).extend(recs)
        shown = status_of.get(INSTRUMENT, status_of["refit"])
        ctx.qc_status.append(shown)
        if status_of.get("refit") == "fail":
            warnings.append(f"plate {plate.plate_index}: the refit failed QC: {refit_failure(refit_qc)}")
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


register_derivation("gating", _gating, options=GATING_OPTIONS)
register_derivation("curves", _curves, options=CURVE_OPTIONS)
