"""``immunolab flow``: flow-cytometry tools (gate one file; copy a built-in template; export a panel's gating)."""

from __future__ import annotations

import click

from immunolab.cli.common import (
    debug_option,
    echo_json,
    handle_errors,
    json_option,
    open_store_cli,
    store_option,
)
from immunolab.cli.text import echo, safe
from immunolab.flow.templates import builtin_name, builtin_names, builtin_text

GATE_EXAMPLE = """
\b
Examples:
  immunolab flow gate tube.fcs                           # built-in trial template
  immunolab flow gate tube.fcs --strategy panel.xml      # Gating-ML 2.0
  immunolab flow gate tube.fcs --strategy lab.wsp --json # FlowJo 10 workspace
  immunolab flow gate tube.fcs --plot gates.png          # look at every gate
"""


@click.group(epilog="\b\nExample:\n  immunolab flow gate tube.fcs --strategy panel.xml")
def flow() -> None:
    """Flow cytometry tools: gate a file, copy a built-in template, export a panel's active gating strategy."""


TEMPLATE_EXAMPLE = """
\b
Examples:
  immunolab flow template --out lab_panel.yaml                     # the trial panel, to edit
  immunolab flow template --name tcell_tube --out tcell_tube.yaml  # a three-colour T-cell tube
  immunolab flow gate tube.fcs --strategy lab_panel.yaml
"""


def _builtin_option(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Return the canonical name of the built-in template ``value`` (``trial-panel`` is ``trial_panel``)."""
    name = builtin_name(value)
    if name is None:
        raise click.BadParameter(f"{safe(value)!r} is not one of {', '.join(builtin_names())}")
    return name


@flow.command(epilog=TEMPLATE_EXAMPLE)
@click.option("--name", default="trial_panel", show_default=True, callback=_builtin_option,
              help=f"Built-in template to copy: {', '.join(builtin_names())} ('-' for '_' is accepted).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="YAML file to write (refused if it exists, unless --force).")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@json_option
@handle_errors
def template(name: str, out: str, force: bool, as_json: bool) -> None:
    """Write a built-in gating template as YAML, to read or edit and use with --strategy.

    The template finds each gate in every sample's own data (thresholds between populations,
    the lymphocyte cluster), so it is a starting point a lab adapts to its panel: channel
    names, populations and methods are documented in docs/gating.md.
    """
    from pathlib import Path

    from immunolab.errors import InputError
    from immunolab.flow.template import load_template

    target = Path(out)
    if target.exists() and not force:
        raise InputError("IML-IN-010", f"{target.name} already exists", path=target.name,
                         hint="Choose another --out, or pass --force to overwrite it.")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(builtin_text(name), encoding="utf-8")
    tpl = load_template(target)  # what is written reads back as a template
    if as_json:
        echo_json({"path": str(target), "name": tpl.name, "populations": [p.name for p in tpl.populations]})
        return
    echo(f"wrote {target}: template {tpl.name}, {len(tpl.populations)} populations "
         f"({', '.join(p.name for p in tpl.populations)})")


@flow.command(epilog=GATE_EXAMPLE)
@click.argument("fcs_file", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option("--strategy", type=click.Path(dir_okay=False, path_type=str),
              help="Template (.yaml), Gating-ML 2.0 (.xml), FlowJo workspace (.wsp), or a built-in template's name "
              "(trial_panel, also trial-panel; tcell_tube); default: the built-in trial_panel.")
@click.option("--comp", type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="FlowJo-style compensation matrix CSV to use instead of the file's spillover keyword.")
@click.option("--dataset", type=int, help="Data set of a multi-data-set file (0-based).")
@click.option("--accept-offset-error", is_flag=True, help="Tolerate HEADER/TEXT DATA offset disagreements.")
@click.option("--accept-tot-mismatch", is_flag=True, help="Read the events DATA holds when $TOT disagrees.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=str),
              help="Also write a PNG with one panel per gate (parent's events on the gate's axes).")
@json_option
@debug_option
@handle_errors
def gate(fcs_file: str, strategy: str | None, comp: str | None, dataset: int | None, accept_offset_error: bool,
         accept_tot_mismatch: bool, plot: str | None, as_json: bool, debug: bool) -> None:
    """Gate one FCS file and print its population table (count, % of parent, % of total, % of lymphocytes).

    For a technician checking gates before ingest: nothing is written anywhere.
    """
    from immunolab.fcs.reader import read_fcs
    from immunolab.flow.pipeline import gate_fcs, load_strategy

    label = "this file"
    fcs = read_fcs(fcs_file, label=label, dataset=dataset, accept_offset_error=accept_offset_error,
                   accept_tot_mismatch=accept_tot_mismatch)
    loaded = load_strategy(strategy)
    result = gate_fcs(fcs, loaded, label=label, comp=comp)
    # the reader's warnings (non-finite DATA, a spillover without values ...) as ingest prints them, then the gating's
    warnings = [*fcs.warnings, *result.warnings]
    if warnings:
        from pathlib import Path

        from immunolab.diagnostics import warn_file

        for w in warnings:
            warn_file(Path(fcs_file).name, w)  # WARN IML-FCS-019 <file>: ... on stderr, unless `immunolab -q`
    rows = result.population_rows()
    if plot:
        from immunolab.flow.gate_plot import write_gating_plot

        write_gating_plot(fcs, loaded, result, plot, comp=comp)
    if as_json:
        echo_json({"strategy_id": result.strategy_id, "strategy": result.strategy_name,
                   "compensation": result.compensation, "n_events": fcs.n_events, "populations": rows,
                   "qc_flags": result.qc_flags, "not_gated": result.not_gated, "warnings": warnings,
                   "tolerances": fcs.tolerances})
        return
    echo(f"strategy {result.strategy_name} ({result.strategy_id}), {fcs.n_events:,} events, "
               f"compensation: {result.compensation}")
    width = max([len(safe(r["gate_path"])) for r in rows] + [10])
    echo(f"{'population':<{width}}  {'count':>9}  {'%parent':>8}  {'%total':>8}  {'%lymph':>8}")
    not_gated = set(result.not_gated)
    for r in rows:
        if r["gate_path"] in not_gated or _below_any(r["gate_path"], not_gated):
            echo(f"{safe(r['gate_path']):<{width}}  {NOT_GATED_TEXT}")
            continue
        lym = "" if r["pct_lymphocytes"] is None else f"{r['pct_lymphocytes']:8.2f}"
        echo(f"{safe(r['gate_path']):<{width}}  {r['count']:>9,}  {r['pct_parent']:8.2f}  {r['pct_total']:8.2f}  {lym:>8}")


#: what ``flow gate`` prints for a gate not applied (its parent held too few events)
NOT_GATED_TEXT = "not gated (too few events)"


def _below_any(path: str, roots: set[str]) -> bool:
    """Return True when gate ``path`` lies below one of the gate paths ``roots``."""
    return any(path.startswith(r.rstrip("/") + "/") for r in roots)


EXPORT_EXAMPLE = """
\b
Examples:
  immunolab derive gating --store S --panel TBNK-Treg --strategy expert.xml --activate --reason "expert gates"
  immunolab flow export-strategy --store S --panel TBNK-Treg --out strategy.xml
      (a panel gated by a fixed strategy; a data-driven template has no fixed gates: share its YAML)
  immunolab flow export-strategy --store S --panel TBNK --sample 001-D000-PB --out 001.xml  # FlowJo-derived
\b
Read it in FlowKit:  fk.parse_gating_xml("strategy.xml")
Use it again:        immunolab derive gating --store S --panel P --strategy strategy.xml
"""


@flow.command("export-strategy", epilog=EXPORT_EXAMPLE)
@store_option
@click.option("--panel", required=True, help="Panel whose active gating strategy to export.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=str), help="Gating-ML 2.0 file to write.")
@click.option("--sample", help="Export this sample's gates (needed when a FlowJo workspace gated each sample differently).")
@click.option("--force", is_flag=True, help="Overwrite --out even when immunolab did not write it.")
@json_option
@debug_option
@handle_errors
def export_strategy(store: str, storage_options: tuple[str, ...], panel: str, out: str, sample: str | None,
                    force: bool, as_json: bool, debug: bool) -> None:
    """Write the active gating strategy of a panel as Gating-ML 2.0 (FlowKit, FlowJo and cytolib read it).

    Gate ids are valid XML ids even for names such as CD4+; the names themselves travel in each
    gate's custom_info, so `derive gating --strategy` restores them exactly.
    """
    from immunolab.interop.export import export_panel_strategy
    from immunolab.outputs import check_gatingml_file

    check_gatingml_file(out, force=force)
    done = export_panel_strategy(open_store_cli(store, storage_options), panel, out, sample=sample)
    if as_json:
        echo_json({"path": str(done.path), "strategy_id": done.strategy_id, "strategy": done.strategy_name,
                   "files": done.n_files, "gates": done.n_gates})
        return
    echo(f"wrote {safe(str(done.path))}: strategy {done.strategy_name} ({done.strategy_id}), {done.n_gates} gates, "
         f"active for {done.n_files} file(s) of panel {panel}")
