"""``immunolab plugins``: list installed assay plugins, versions and load errors."""

from __future__ import annotations

import click

from immunolab.cli.common import echo_json, handle_errors, json_option
from immunolab.cli.text import echo, safe


@click.command(epilog="\b\nExample:\n  immunolab plugins\n  immunolab plugins --json")
@json_option
@handle_errors
def plugins(as_json: bool) -> None:
    """List the assay plugins installed (entry-point group immunolab.assays)."""
    from immunolab.plugins import get_registry

    rows = get_registry().describe()
    if as_json:
        echo_json(rows)
        return
    if not rows:
        echo("no assay plugins installed")
        return
    w = max(len(safe(r["name"])) for r in rows)
    for r in rows:
        if r["status"] == "ok":
            echo(f"{safe(r['name']):<{w}}  {safe(r['version']):<8} {r['assay_kind']:<9} "
                 f"{' '.join(r['file_extensions']):<16} -> {', '.join(r['produces'])}")
        else:
            echo(f"{safe(r['name']):<{w}}  FAILED   {r['status']}  [{r['origin']}]")
