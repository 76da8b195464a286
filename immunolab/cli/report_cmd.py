"""``immunolab report``: write the self-contained HTML report of a store."""

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
from immunolab.cli.text import echo

EXAMPLE = """
\b
Example:
  immunolab report --store trial-store --out report.html
  immunolab report --store trial-store --features IL-6 --features Treg --window 0-14 --out il6_treg.html
"""


@click.command(epilog=EXAMPLE)
@store_option
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=str), help="HTML file to write.")
@click.option("--features", multiple=True, metavar="NAME", help="Feature to include; repeat for several. Default: all.")
@click.option("--measures", multiple=True, metavar="NAME",
              help="Measure to include; repeat for several. Default: pct_parent and concentration.")
@click.option("--window", default="0-28", show_default=True, metavar="START-END", help="AUC window in study days.")
@json_option
@debug_option
@handle_errors
def report(store: str, storage_options: tuple[str, ...], out: str, features: tuple[str, ...], measures: tuple[str, ...], window: str,
           as_json: bool, debug: bool) -> None:
    """Write ONE self-contained HTML file: trajectories, arm comparison, plate and gating QC, provenance.

    Figures are embedded (base64 PNG); no external resource, script or file name is included,
    so the file can be e-mailed or archived as is. Patients appear only as pseudonymous codes.
    """
    from pathlib import Path

    from immunolab.analysis.trajectories import parse_window
    from immunolab.report.html import write_report

    s = open_store_cli(store, storage_options)
    path = write_report(s, Path(out), features=list(features) or None, measures=list(measures) or None,
                        window=parse_window(window))
    text = path.read_text(encoding="utf-8")
    size, figures, tables = path.stat().st_size, text.count("<img "), text.count("<table")
    if as_json:
        echo_json({"out": str(path), "bytes": size, "figures": figures, "tables": tables})
    else:
        echo(f"wrote {out} ({size // 1024} KiB, {figures} figures, {tables} tables)")
