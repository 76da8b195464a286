"""``immunolab store``: inspect and maintain a store (info, qc, compact, vacuum, recover, upgrade)."""

from __future__ import annotations

import click

from immunolab.cli.common import echo_json, handle_errors, json_option, open_store_cli, store_option
from immunolab.cli.common import storage_options as _opts
from immunolab.cli.text import echo, safe


@click.group(epilog="\b\nExamples:\n  immunolab store info --store trial-store --per-visit\n"
             "  immunolab store qc --store trial-store\n  immunolab store compact --store trial-store")
def store() -> None:
    """Inspect and maintain a store: info, qc, compact, vacuum, recover, upgrade."""


@store.command(epilog="\b\nExamples:\n  immunolab store info --store trial-store\n"
               "  immunolab store info --store trial-store --per-visit --json\n"
               "  immunolab store info --store trial-store --version 3")
@store_option
@click.option("--per-visit", is_flag=True, help="Also print patients x visits with what was measured.")
@click.option("--version", "version", type=int, help="Read this store version instead of the latest.")
@json_option
@handle_errors
def info(store: str, storage_options: tuple[str, ...], per_visit: bool, version: int | None, as_json: bool) -> None:
    """Summarise a store: store version, rows per table, attempts, and per patient and visit what it holds."""
    from immunolab.store.summary import per_visit_table

    s = open_store_cli(store, storage_options, version=version)
    summary = s.summary()
    grid = per_visit_table(s) if per_visit else None
    if as_json:
        if grid is not None:
            summary["per_visit"] = grid.to_dict(orient="records")
        echo_json(summary)
        return
    echo(f"store {store} (store version {summary['store_version']})")
    echo(f"  files: {summary['sources']} committed; attempts "
               + (", ".join(f"{k} {v}" for k, v in sorted(summary["attempts"].items())) or "none"))
    echo(f"  patients: {summary['patients']}, samples: {summary['samples']}")
    echo("  tables:")
    for name, n in summary["tables"].items():
        echo(f"    {name:<20} {n:>9,} rows")
    if grid is not None:
        from immunolab.store.summary import render_grid

        echo("")
        for line in render_grid(grid).splitlines():
            echo(line)


@store.command(epilog="\b\nExamples:\n  immunolab store qc --store trial-store\n"
               "  immunolab store qc --store trial-store --all --json")
@store_option
@click.option("--all", "show_all", is_flag=True, help="Also list the checks that passed.")
@json_option
@handle_errors
def qc(store: str, storage_options: tuple[str, ...], show_all: bool, as_json: bool) -> None:
    """Show quality control of the current view: plates (curves, recovery, controls, beads, CVs) and flow samples."""
    from immunolab.derive.qc import qc_checks

    s = open_store_cli(store, storage_options)
    checks = qc_checks(s)
    if as_json:
        echo_json([c.to_dict() for c in checks])
        return
    for scope in ("plate", "sample"):
        mine = [c for c in checks if c.scope == scope]
        bad = [c for c in mine if c.status != "pass"]
        targets = sorted({c.target for c in mine})
        echo(f"{scope}s: {len(targets)} checked, {len({c.target for c in bad})} with warnings or failures")
        for c in (mine if show_all else bad):
            what = f"{c.analyte} " if c.analyte else ""
            echo(f"  {safe(c.target):<14} {c.status:<4} {safe(what)}{c.check}: {safe(c.detail)}")


@store.command(epilog="\b\nExample:\n  immunolab store compact --store trial-store")
@store_option
@json_option
@handle_errors
def compact(store: str, storage_options: tuple[str, ...], as_json: bool) -> None:
    """Rewrite each table's many small data files into few large ones (Delta OPTIMIZE); results unchanged."""
    from immunolab.store.location import location_for
    from immunolab.store.maintenance import compact as run

    rep = run(location_for(store, _opts(storage_options)))
    if as_json:
        echo_json({"tables": rep.tables, "store_version": rep.store_version})
        return
    for line in rep.lines():
        echo(line)
    echo(f"store version {rep.store_version}" if rep.store_version else "nothing to compact")


@store.command(epilog="\b\nExamples:\n  immunolab store vacuum --store trial-store --retain-days 30 --dry-run\n"
               "  immunolab store vacuum --store trial-store --retain-days 30 --keep-version 3\n"
               "  immunolab store vacuum --store trial-store --retain-days 30 --yes")
@store_option
@click.option("--retain-days", type=click.IntRange(min=0), required=True,
              help="Keep every data file a table version of the last N days needs.")
@click.option("--keep-version", "keep_versions", type=click.IntRange(min=1), multiple=True,
              help="Keep every data file store version N needs, so it stays readable (a locked analysis); repeatable.")
@click.option("--yes", "accept_unreadable", is_flag=True,
              help="Delete even when older store versions become unreadable (they are named, and recorded).")
@click.option("--dry-run", is_flag=True, help="Only list how many files would be deleted and which store versions "
              "could no longer be read.")
@json_option
@handle_errors
def vacuum(store: str, storage_options: tuple[str, ...], retain_days: int, keep_versions: tuple[int, ...],
           accept_unreadable: bool, dry_run: bool, as_json: bool) -> None:
    """Delete data files no recent table version uses (Delta VACUUM); names the store versions that become unreadable."""
    from immunolab.store.location import location_for
    from immunolab.store.maintenance import vacuum as run
    from immunolab.store.versions import version_ranges

    rep = run(location_for(store, _opts(storage_options)), retain_days=retain_days, dry_run=dry_run,
              keep_versions=keep_versions, accept_unreadable=accept_unreadable)
    if as_json:
        echo_json({"tables": rep.tables, "store_version": rep.store_version, "dry_run": dry_run,
                   "unreadable_versions": rep.unreadable})
        return
    for line in rep.lines():
        echo(line)
    if rep.unreadable:
        ranges = version_ranges(rep.unreadable)
        echo(f"store versions {ranges} would no longer be readable" if dry_run
             else f"store versions {ranges} can no longer be read (recorded in store version {rep.store_version})")
    else:
        echo("every store version stays readable")


@store.command(epilog="\b\nExamples:\n  immunolab store recover --store trial-store\n"
               "  immunolab store recover --store trial-store --force   (the writer is known to be gone)")
@store_option
@click.option("--force", is_flag=True, help="Also roll back batches whose writer still looks alive.")
@json_option
@handle_errors
def recover(store: str, storage_options: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Roll back batches whose writer died before committing, record killed compactions, drop unlisted rows (recorded)."""
    from immunolab.store.interrupted import adopt_compactions
    from immunolab.store.location import location_for
    from immunolab.store.maintenance import purge_orphans
    from immunolab.store.writer import recover as run

    loc = location_for(store, _opts(storage_options))
    actions = run(loc, force=force, command="store recover")
    actions += adopt_compactions(loc, command="store recover", force=force)
    actions += purge_orphans(loc).lines()
    if as_json:
        echo_json({"actions": actions})
        return
    for line in actions:
        echo(line)
    echo(f"{len(actions)} action(s)" if actions else "nothing to recover")


@store.command(epilog="\b\nExample:\n  immunolab store upgrade --store old-trial-store")
@click.option("--store", required=True, type=click.Path(file_okay=False, path_type=str), help="A format-1 store folder.")
@json_option
@handle_errors
def upgrade(store: str, as_json: bool) -> None:
    """Convert a store written by immunolab 0.1 into the Delta Lake store; nothing is lost (old files kept)."""
    from immunolab.store.upgrade import upgrade_store

    out = upgrade_store(store)
    if as_json:
        echo_json(out)
        return
    if out.get("up_to_date"):
        echo(f"the store is already format {out['format_version']}: nothing to upgrade")
        return
    echo(f"upgraded {out['ingests']} ingests; the old files are in {out['legacy_folder']}")
    for name, n in sorted(out["tables"].items()):
        echo(f"  {name:<20} {n:>9,} rows")
