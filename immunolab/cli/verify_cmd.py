"""``immunolab verify``: check the store end to end; repair only when asked."""

from __future__ import annotations

import sys

import click

from immunolab.cli.common import debug_option, echo_json, handle_errors, json_option, store_option
from immunolab.cli.common import storage_options as _opts
from immunolab.cli.text import echo, safe


@click.command(epilog="\b\nExamples:\n  immunolab verify --store trial-store\n"
               "  immunolab verify --store trial-store --repair     (rolls back interrupted batches; recorded)")
@store_option
@click.option("--repair", is_flag=True, help="Roll back interrupted batches, drop rows and files no store version "
              "records; every action is recorded as a store version.")
@json_option
@debug_option
@handle_errors
def verify(store: str, storage_options: tuple[str, ...], repair: bool, as_json: bool, debug: bool) -> None:
    """Re-hash raw files and table data files, check the commit log's hash chain and one result per sample.

    Changes nothing unless --repair is given. Exit code 0 when every check passed, 3 otherwise.
    """
    from immunolab.store.verify import verify_store

    res = verify_store(store, repair=repair, storage_options=_opts(storage_options))
    if as_json:
        echo_json(res.to_dict())
    else:
        for name, state in res.checks.items():
            echo(f"check {name:<24} {state}")
        for a in res.actions:
            echo(f"REPAIRED {safe(a)}")
        for n in res.notes:
            echo(f"NOTE {safe(n)}")
        for p in res.problems:
            echo(f"PROBLEM {safe(p)}")
        echo(res.summary_line())
    sys.exit(0 if res.ok else 3)
