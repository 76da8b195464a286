"""``immunolab ingest``: ingest files and folders into a store, one line per file.

Every assay- or derivation-specific flag is built from a declaration: the plugins' own options
(``PluginOption`` on the plugin) and the settings the core's derivations declare
(:func:`immunolab.derive.registry.derivation_options`: gating strategy, compensation, per-event
rows, curve model and substitution rules). Only identity, batch and output flags are written here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

from immunolab.cli.common import (
    debug_option,
    echo_json,
    handle_errors,
    json_option,
    reason_callback,
    store_option,
)
from immunolab.cli.common import storage_options as _opts
from immunolab.cli.text import echo, safe
from immunolab.plugins import PluginOption

EXAMPLE = """
\b
Examples:
  immunolab ingest runs/day14/ --store trial-store --manifest manifest.csv
  immunolab ingest P07_D14.fcs --store trial-store --manifest manifest.csv \\
      --supersede ing-20261125T101500-3f9a2b1c --reason "wrong tube was exported"
  immunolab ingest runs/day14/ --store trial-store --manifest manifest.csv \\
      --reason "patient 010's D14 tube was typed as 012"      (applies manifest corrections)
  immunolab ingest plates/ --store trial-store --manifest manifest.csv --json --jobs 2
  immunolab ingest runs/ --store s3://lab-bucket/trial --manifest manifest.csv \\
      --storage-option AWS_REGION=eu-west-1
"""


def _changed(values: dict[str, Any]) -> dict[str, Any]:
    """Return the derivation settings whose value differs from the declared default."""
    from immunolab.derive.registry import derivation_options

    default = {opt.name: opt.default for _name, opt in derivation_options()}
    return {k: v for k, v in values.items() if v != default.get(k)}


def _command_line(opts: dict[str, Any]) -> str:
    """Describe the invocation by option names only (paths may hold patient names)."""
    flags = [f"--{k.replace('_', '-')}" for k, v in sorted(opts.items()) if v not in (None, False, (), "")]
    return "immunolab ingest " + " ".join(flags)


def _click_option(opt: PluginOption, help_text: str) -> Callable[[Any], Any]:
    """Return the click option of a declared option (plugin or derivation setting)."""
    if opt.type == "bool":
        return click.option(opt.flag, opt.name, is_flag=True, default=False, help=help_text)
    if opt.type == "choice":
        return click.option(opt.flag, opt.name, type=click.Choice(list(opt.choices)), default=opt.default,
                            show_default=opt.show_default, help=help_text)
    typ: Any = {"int": int, "float": float}.get(opt.type, str)
    if opt.type == "path":
        typ = click.Path(exists=opt.must_exist, dir_okay=False, path_type=str)
    return click.option(opt.flag, opt.name, type=typ, default=opt.default, show_default=opt.show_default,
                        help=help_text)


def _derivation_option_decorators() -> list[Callable[[Any], Any]]:
    """Return one click option per setting the core's derivations declare (gating, curves...)."""
    from immunolab.derive.registry import derivation_options

    return [_click_option(opt, opt.help) for _name, opt in derivation_options()]


def _plugin_option_decorators() -> list[Callable[[Any], Any]]:
    """Return one click option per option the installed plugins declare (deduplicated by name)."""
    from immunolab.plugins import get_registry

    reserved = _CORE | _derivation_names()
    seen: dict[str, Any] = {}
    for plugin in get_registry().plugins.values():
        for opt in getattr(plugin, "options", ()) or ():
            if opt.name in seen or opt.name in reserved:
                continue
            seen[opt.name] = (opt, plugin.name)
    return [_click_option(opt, f"{opt.help} [plugin {owner}]") for _name, (opt, owner) in sorted(seen.items())]


def _derivation_names() -> set[str]:
    from immunolab.derive.registry import derivation_options

    return {opt.name for _name, opt in derivation_options()}


#: the core's own flags (identity, batch, output); plugins and derivations cannot reuse these names
_CORE = {"store", "manifest", "subjects", "assay", "supersede", "reason", "replicate", "jobs", "executor",
         "filename_rule", "show_paths", "quiet", "storage_options", "chunk_files", "as_json", "debug"}


def _with_options(decorators: Callable[[], list[Callable[[Any], Any]]]) -> Callable[[Any], Any]:
    """Return a decorator applying the declared options of ``decorators()`` in their order."""

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for deco in reversed(decorators()):
            func = deco(func)
        return func

    return apply


def _progress(as_json: bool, quiet: bool) -> tuple[Callable[[int], None], Callable[[Any], None], Callable[[], None], Any]:
    tty = sys.stderr.isatty() and not as_json and not quiet
    state: dict[str, Any] = {"bar": None}

    def on_start(total: int) -> None:
        if tty:
            import shutil

            from tqdm import tqdm

            width = shutil.get_terminal_size((100, 20)).columns or 100  # a bare pty reports 0 columns
            state["bar"] = tqdm(total=total, unit="file", file=sys.stderr, leave=False, ncols=min(width, 120))

    def on_progress(_o: Any) -> None:
        if state["bar"] is not None:
            state["bar"].update(1)

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    return on_start, on_progress, close, state


@click.command(epilog=EXAMPLE)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@store_option
@click.option("--manifest", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Sample manifest CSV: file, sample_id, patient_id, visit_day, specimen, panel (+ sample_name, "
              "plate, assay).")
@click.option("--subjects", type=click.Path(dir_okay=False, path_type=str),
              help="Subjects CSV (patient_id, arm, site, age, sex); default: subjects.csv beside the manifest.")
@click.option("--assay", help="Force the assay plugin (see `immunolab plugins`) instead of detecting it.")
@click.option("--supersede", metavar="INGEST_ID", help="This file replaces a committed ingest; both stay readable.")
@click.option("--replicate", is_flag=True, help="Keep files of an already measured sample as technical replicates.")
@click.option("--reason", callback=reason_callback, help="Why: required with --supersede and to apply manifest/subjects corrections.")
@click.option("--jobs", "-j", type=click.IntRange(1), default=None, help="Worker processes (default: all cores).")
@click.option("--executor", metavar="URL", help="dask://HOST:PORT runs the workers on a Dask cluster.")
@_with_options(_derivation_option_decorators)
@click.option("--filename-rule", metavar="REGEX",
              help="Opt-in: take patient/visit from file names matching REGEX with groups patient_id, visit_day.")
@click.option("--chunk-files", type=click.IntRange(min=1), default=None,
              help="Files per store version in a large batch (default 500).")
@click.option("--show-paths", is_flag=True, help="Show file paths on this terminal (never logged; may hold names).")
@click.option("--quiet", "-q", is_flag=True,
              help="Print only PROBLEM and FAIL lines, files whose gating FAILED, the changes the batch commits "
                   "(RELABEL/UPDATE lines of a correction, carried curve choices) and the summary: no WARN lines, "
                   "no bar.")
@_with_options(_plugin_option_decorators)
@json_option
@debug_option
@handle_errors
def ingest(paths: tuple[str, ...], store: str, storage_options: tuple[str, ...], manifest: str, subjects: str | None,
           assay: str | None, supersede: str | None, replicate: bool, reason: str | None, jobs: int | None,
           executor: str | None, filename_rule: str | None, chunk_files: int | None, show_paths: bool, quiet: bool, as_json: bool, debug: bool, **kwargs: Any) -> None:
    """Ingest instrument files (FCS, plate exports, clinical tables) and folders into a store.

    Each file is detected by exactly one assay plugin (or routed by the manifest's assay
    column), tied to a patient and visit through the manifest, de-identified, validated; its
    facts and what is derived from them (gating, curve fits) are committed with the batch.
    Prints one line per problem of the subjects file (PROBLEM <code> subjects line N: ...; its
    patients' files are refused), then one line per file: OK, SKIP (same bytes already
    ingested), IGNORED (not an instrument file and not in the manifest) or FAIL <code>
    <message>, then a summary.
    Exit code 0 when nothing failed, 1 for input errors, 3 store, 4 plugin, 70 internal.
    """
    import logging

    from immunolab.ingest import FileOutcome, ingest_paths

    if debug:
        logging.basicConfig(level=logging.DEBUG)
    from immunolab.diagnostics import install_cli_handler, is_quiet, warn_file

    quiet = quiet or is_quiet()  # `immunolab -q ingest` is `immunolab ingest -q`
    install_cli_handler(quiet=quiet)
    n_jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    on_start, on_progress, close, state = _progress(as_json, quiet)

    def on_outcome(o: FileOutcome) -> None:
        if as_json or (quiet and o.status != "FAIL" and not o.failed_derivations):
            return
        line = o.line(show_paths=show_paths)
        if state["bar"] is not None:
            state["bar"].write(safe(line), file=sys.stdout)
        else:
            echo(line)

    def on_problems(problems: list[Any]) -> None:
        if not as_json:
            for p in problems:
                echo(safe(f"PROBLEM {p.code} {p.text()}"))

    derive_options = {k: kwargs.pop(k) for k in _derivation_names() if k in kwargs}
    # `is`, not `in (None, False)`: 0 == False, and `--dataset 0` is a real choice
    plugin_options = {k: v for k, v in kwargs.items() if v is not None and v is not False}
    opts = dict(assay=assay, supersede=supersede, reason=reason, replicate=replicate, chunk_files=chunk_files)
    command = _command_line(dict(opts, jobs=jobs, executor=executor, subjects=subjects, manifest=manifest,
                                 store=store, filename_rule=filename_rule, json=as_json, **plugin_options,
                                 **_changed(derive_options)))
    try:
        report = ingest_paths(paths, store=store, storage_options=_opts(storage_options),
                              manifest=manifest, subjects=subjects, jobs=n_jobs, executor=executor,
                              on_outcome=on_outcome, on_start=on_start, on_progress=on_progress, on_problems=on_problems,
                              filename_rule=filename_rule, command=command, derive_options=derive_options,
                              plugin_options=plugin_options, **opts)
    finally:
        close()
    if as_json:
        echo_json({
            "files": [o.to_dict(show_paths=show_paths) for o in report.outcomes],
            "counts": report.counts, "seconds": report.seconds, "events": report.n_events,
            "store_versions": report.store_versions, "identity_changes": report.identity_changes,
            "derivation_notes": report.derivation_notes,
            "identity_problems": [{"code": p.code, "file": p.file, "line": p.line, "message": p.message, "hint": p.hint}
                                  for p in report.identity_problems],
            "identity_warnings": [{"code": p.code, "message": p.message} for p in report.identity_warnings],
            "exit_code": report.exit_code,
        })
    else:
        for line in [*report.identity_changes, *report.derivation_notes]:  # what was committed: kept under -q
            echo(line)
        for p in report.identity_warnings if not quiet else ():
            echo(safe(f"WARN {p.code} {p.text()}"), err=True)
        for o in report.outcomes:
            for w in o.warnings:
                warn_file(o.label, w)  # WARN <code> <label>: <message> on stderr, unless quiet
        echo(report.summary_line())
    sys.exit(report.exit_code)


