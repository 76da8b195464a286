"""``immunolab log``: the store versions (every commit) and the file attempts they record."""

from __future__ import annotations

import click

from immunolab.cli.common import echo_json, handle_errors, json_option, open_store_cli, store_option
from immunolab.cli.text import echo, safe

#: every kind of store version (the ``kind`` of :class:`immunolab.store.versions.VersionRecord`);
#: kept here so ``immunolab --help`` imports no pyarrow (a test checks the writers use no other)
VERSION_KINDS = ("ingest", "identity", "derive", "choice", "qc", "recover", "compact", "vacuum", "repair", "upgrade")


@click.command("log", epilog="\b\nExamples:\n  immunolab log --store trial-store\n"
               "  immunolab log --store trial-store --files --outcome FAIL --json\n"
               "  immunolab log --store trial-store --kind identity")
@store_option
@click.option("--files", is_flag=True, help="List the file attempts (OK / FAIL) of each version.")
@click.option("--outcome", type=click.Choice(["OK", "FAIL"]), help="Only file attempts with this outcome (implies --files).")
@click.option("--kind", type=click.Choice(VERSION_KINDS), help="Only versions of this kind.")
@click.option("--limit", type=int, default=50, show_default=True, help="Show the last N versions (0: all).")
@json_option
@handle_errors
def log_(store: str, storage_options: tuple[str, ...], files: bool, outcome: str | None, kind: str | None, limit: int,
         as_json: bool) -> None:
    """Show every store version: who committed what, when, why, with which software; and the files' outcomes."""
    from immunolab.store.versions import vacuumed_versions

    s = open_store_cli(store, storage_options)
    gone = vacuumed_versions(s.versions())
    recs = [r for r in s.versions() if kind is None or r.kind == kind]
    if outcome:  # only the versions that hold such an attempt
        recs = [r for r in recs if any(a.get("outcome") == outcome for a in r.attempts)]
    if limit:
        recs = recs[-limit:]
    files = files or outcome is not None
    if as_json:
        out = []
        for r in recs:
            d = r.to_dict()
            d.pop("files", None)
            d["readable"] = r.store_version not in gone
            if r.store_version in gone:
                d["vacuumed_by"] = gone[r.store_version].store_version
            if outcome:
                d["attempts"] = [a for a in r.attempts if a.get("outcome") == outcome]
            out.append(d)
        echo_json(out)
        return
    if outcome and not recs:
        echo(f"no store version holds a file attempt with outcome {outcome}")
    for r in recs:
        when = r.created_at.isoformat(timespec="seconds").replace("+00:00", "Z") if r.created_at else "?"
        reason = f" - {safe(r.reason)}" if r.reason else ""
        mark = f" (unreadable: vacuumed by v{gone[r.store_version].store_version})" if r.store_version in gone else ""
        echo(f"v{r.store_version:<5} {when} {r.kind:<9} {safe(r.summary)}{reason} "
                   f"[{r.user}@{r.host}, immunolab {r.immunolab_version}]{mark}")
        for line in r.actions[:20]:
            echo(f"        {safe(line)}")
        if files:
            for a in r.attempts:
                if outcome and a.get("outcome") != outcome:
                    continue
                tail = f"{a.get('code')} {safe(a.get('message'))}" if a.get("outcome") == "FAIL" else \
                    f"{a.get('plugin')} {sum((a.get('rows') or {}).values())} rows"
                echo(f"        {a.get('outcome'):<4} {safe(a.get('label'))} {a.get('ingest_id')} {tail}")
                for tolerance in a.get("tolerances") or []:
                    echo(f"             tolerance applied: {safe(tolerance)}")
