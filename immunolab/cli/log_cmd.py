"""``immunolab log``: the audit trail of ingest attempts."""

from __future__ import annotations

import click

from immunolab.cli.common import echo_json, handle_errors, json_option, store_option


@click.command("log", epilog="\b\nExamples:\n  immunolab log --store trial-store\n"
               "  immunolab log --store trial-store --outcome FAIL --limit 20 --json")
@store_option
@click.option("--outcome", type=click.Choice(["COMMITTED", "SKIP", "FAIL"]), help="Only attempts with this outcome.")
@click.option("--limit", type=int, default=50, show_default=True, help="Show the last N attempts (0: all).")
@json_option
@handle_errors
def log_(store: str, outcome: str | None, limit: int, as_json: bool) -> None:
    """Show who ingested what, when, with which versions, and what happened."""
    from immunolab.store import open_store

    s = open_store(store)
    superseded = {i: r.get("superseded_by") for i, r in s.log.committed().items()}
    recs = [r for r in s.log.records() if not outcome or r.get("outcome") == outcome]
    if limit:
        recs = recs[-limit:]
    if as_json:
        echo_json([dict(r, superseded_by=superseded.get(str(r.get("ingest_id")))) for r in recs])
        return
    for r in recs:
        when = str(r.get("attempted_at", ""))[:19].replace("T", " ")
        what = r.get("outcome", "?")
        line = f"{r.get('seq', '?'):>5} {when} {what:<9} {r.get('ingest_id')} {r.get('source_label')}"
        if what == "COMMITTED":
            line += f" {r.get('plugin')} {r.get('plugin_version')} rows={sum((r.get('rows') or {}).values())}"
            if superseded.get(str(r.get("ingest_id"))):
                line += f" [superseded by {superseded[r['ingest_id']]}]"
            if r.get("supersedes"):
                line += f" [supersedes {r['supersedes']}: {r.get('supersede_reason')}]"
        elif what == "FAIL":
            line += f" {r.get('error_code')} {r.get('error_message')}"
        else:
            line += f" {r.get('note') or ''}"
        click.echo(line + f" by {r.get('user')}@{r.get('host')}")
