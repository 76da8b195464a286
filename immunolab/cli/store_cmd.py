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
