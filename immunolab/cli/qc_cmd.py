"""``immunolab qc``: exclude or include values with a reason (recorded), and list the decisions."""

from __future__ import annotations

from collections.abc import Callable

import click

from immunolab.cli.common import (
    echo_json,
    handle_errors,
    json_option,
    open_store_cli,
    reason_callback,
    store_option,
)
from immunolab.cli.text import echo, safe

EXAMPLE = """
\b
Examples:
  immunolab qc exclude --store S --well PLATE-03:B7 --reason "bead aggregate, 12 beads"
  immunolab qc exclude --store S --sample 004-D014-PB --analyte Treg --reason "26-event gate"
  immunolab qc exclude --store S --plate PLATE-05 --reason "standards degraded"
  immunolab qc include --store S --plate PLATE-05 --reason "re-checked: standards fine"
  immunolab qc list --store S
"""


def _target(sample: str | None, well: str | None, plate: str | None, file: str | None) -> tuple[str, str]:
    given = [(k, v) for k, v in (("sample", sample), ("well", well), ("plate", plate), ("file", file)) if v]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --sample, --well, --plate, --file")
    return given[0]


def _decision(action: str) -> Callable[..., None]:
    @store_option
    @click.option("--sample", help="Sample id (as in the manifest).")
    @click.option("--well", help="PLATE:WELL, e.g. PLATE-03:B7.")
    @click.option("--plate", help="Plate code.")
    @click.option("--file", "file", metavar="INGEST_ID", help="A committed file by its ingest id (`immunolab log --files`); a clinical file's adverse events, outcomes and lab results leave the trial tables too.")
    @click.option("--analyte", help="Only this analyte / population (default: all values of the target).")
    @click.option("--reason", callback=reason_callback, required=True, help="Why (recorded).")
    @json_option
    @handle_errors
    def cmd(store: str, storage_options: tuple[str, ...], sample: str | None, well: str | None, plate: str | None,
            file: str | None, analyte: str | None, reason: str, as_json: bool) -> None:
        from immunolab.derive.decisions import decide

        kind, target = _target(sample, well, plate, file)
        rec = decide(open_store_cli(store, storage_options), action=action, kind=kind, target=target,
                     analyte=analyte, reason=reason, command=f"qc {action}")
        if as_json:
            echo_json({"store_version": rec.store_version, "summary": rec.summary})
        else:
            echo(f"{safe(rec.summary)} (store version {rec.store_version})")

    return cmd


@click.group(epilog=EXAMPLE)
def qc() -> None:
    """Record QC decisions: exclude / include values, with a reason; analyses leave excluded values out."""


qc.command("exclude", epilog=EXAMPLE)(_decision("exclude"))
qc.commands["exclude"].help = "Exclude a sample, well, plate or file (optionally one analyte) from analyses."
qc.command("include", epilog=EXAMPLE)(_decision("include"))
qc.commands["include"].help = "Undo an exclusion (the history stays readable)."


@qc.command("list", epilog="\b\nExample:\n  immunolab qc list --store S --history")
@store_option
@click.option("--history", is_flag=True, help="Every decision, not only the current ones.")
@json_option
@handle_errors
def list_(store: str, storage_options: tuple[str, ...], history: bool, as_json: bool) -> None:
    """List QC decisions (current ones by default)."""
    d = open_store_cli(store, storage_options).to_pandas("qc_decisions", history=history)
    if as_json:
        echo_json(d.drop(columns=["commit_id"]).to_dict(orient="records"))
        return
    if d.empty:
        echo("no QC decisions")
    for r in d.itertuples(index=False):
        what = f" {r.analyte}" if r.analyte else ""
        echo(f"{r.action:<8} {r.target_kind:<7} {safe(r.target)}{safe(what)}: {safe(r.reason)} "
                   f"({r.user}, {str(r.recorded_at)[:19]})")
