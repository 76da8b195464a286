"""``immunolab store``: inspect a store."""

from __future__ import annotations

import click

from immunolab.cli.common import echo_json, handle_errors, json_option, store_option


@click.group(epilog="\b\nExample:\n  immunolab store info --store trial-store --per-visit")
def store() -> None:
    """Inspect a store."""


@store.command(epilog="\b\nExamples:\n  immunolab store info --store trial-store\n"
               "  immunolab store info --store trial-store --per-visit --json")
@store_option
@click.option("--per-visit", is_flag=True, help="Also print patients x visits with what was measured.")
@json_option
@handle_errors
def info(store: str, per_visit: bool, as_json: bool) -> None:
    """Summarise a store: rows per table, ingest outcomes, and per patient and visit what it holds."""
    from immunolab.store import open_store
    from immunolab.store.summary import per_visit_table

    s = open_store(store)
    summary = s.summary()
    grid = per_visit_table(s) if per_visit else None
    if as_json:
        if grid is not None:
            summary["per_visit"] = grid.to_dict(orient="records")
        echo_json(summary)
        return
    click.echo(f"store {store}")
    click.echo(f"  ingests: {summary['committed_ingests']} committed"
               f" ({summary['superseded_ingests']} superseded); attempts "
               + ", ".join(f"{k} {v}" for k, v in sorted(summary["attempts"].items())))
    click.echo(f"  patients: {summary['patients']}, samples: {summary['samples']}")
    click.echo("  tables:")
    for name, n in summary["tables"].items():
        click.echo(f"    {name:<18} {n:>9,} rows")
    if grid is not None:
        from immunolab.store.summary import render_grid

        click.echo("")
        click.echo(render_grid(grid))


@store.command(epilog="\b\nExamples:\n  immunolab store qc --store trial-store\n  immunolab store qc --store trial-store --json")
@store_option
@json_option
@handle_errors
def qc(store: str, as_json: bool) -> None:
    """Show quality control: per plate (curves, recovery, bead counts, CVs) and per gated flow sample."""
    from immunolab.store import open_store
    from immunolab.store.summary import flow_qc_rows, plate_qc_rows

    s = open_store(store)
    plates = plate_qc_rows(s)
    flow = flow_qc_rows(s)
    if as_json:
        echo_json({"plates": plates, "flow": flow})
        return
    click.echo(f"plates: {len(plates)}")
    for p in plates:
        click.echo(f"  {p['plate']:<12} {p['status']:<5} {p['instrument'] or '?'}; run day {p['run_study_day']}; "
                   f"{p['n_analytes']} analytes, {p['n_wells']} wells")
        for a in p["analytes"]:
            if a["flags"]:
                click.echo(f"      {a['analyte']:<10} R2 {a['r_squared']:.4f}  LLOQ {a['lloq']:g}  ULOQ {a['uloq']:g}  "
                           f"flags: {', '.join(a['flags'])}")
    click.echo(f"flow samples: {len(flow)}")
    flagged = [f for f in flow if f["flags"]]
    for f in flagged:
        click.echo(f"  {f['sample_id']:<14} {f['n_events']:>8,} events  lymphocytes {f['pct_lymphocytes_of_total']:.1f} %  "
                   f"flags: {', '.join(f['flags'])}")
    if not flagged:
        click.echo("  no flow sample flagged (>= 10,000 events, lymphocytes >= 5 % of events, every population gated)")
