"""``immunolab verify``: check a store end to end."""

from __future__ import annotations

import sys

import click

from immunolab.cli.common import echo_json, handle_errors, json_option, store_option


@click.command(epilog="\b\nExample:\n  immunolab verify --store trial-store")
@store_option
@json_option
@handle_errors
def verify(store: str, as_json: bool) -> None:
    """Finish interrupted commits, sweep leftovers, re-hash raw files and table files, check the audit chain.

    Exit code 0 when the store is intact, 3 when a problem was found (each listed with what to do).
    """
    from immunolab.store.verify import verify_store

    result = verify_store(store)
    if as_json:
        echo_json(result.to_dict())
    else:
        for a in result.actions:
            click.echo(f"REPAIRED {a}")
        for p in result.problems:
            click.echo(f"PROBLEM {p}")
        click.echo(result.summary_line())
    sys.exit(0 if result.ok else 3)
