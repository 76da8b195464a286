"""``immunolab flow``: flow-cytometry tools that do not touch a store."""

from __future__ import annotations

import click

from immunolab.cli.common import debug_option, echo_json, handle_errors, json_option
from immunolab.cli.text import echo, safe

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
    """Flow cytometry tools (no store needed)."""


@flow.command(epilog=GATE_EXAMPLE)
@click.argument("fcs_file", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option("--strategy", type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="Template (.yaml), Gating-ML 2.0 (.xml) or FlowJo workspace (.wsp); default: built-in template.")
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
    rows = result.populations.to_pylist()
    if plot:
        from immunolab.flow.gate_plot import write_gating_plot

        write_gating_plot(fcs, loaded, result, plot, comp=comp)
    if as_json:
        echo_json({"strategy_id": result.strategy_id, "strategy": result.strategy_name,
                   "compensation": result.compensation, "n_events": fcs.n_events, "populations": rows})
        return
    echo(f"strategy {result.strategy_name} ({result.strategy_id}), {fcs.n_events:,} events, "
               f"compensation: {result.compensation}")
    width = max([len(safe(r["gate_path"])) for r in rows] + [10])
    echo(f"{'population':<{width}}  {'count':>9}  {'%parent':>8}  {'%total':>8}  {'%lymph':>8}")
    for r in rows:
        lym = "" if r["pct_lymphocytes"] is None else f"{r['pct_lymphocytes']:8.2f}"
        echo(f"{safe(r['gate_path']):<{width}}  {r['count']:>9,}  {r['pct_parent']:8.2f}  {r['pct_total']:8.2f}  {lym:>8}")
