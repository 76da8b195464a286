"""``immunolab ingest``: ingest files and folders into a store, one line per file."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from immunolab.cli.common import debug_option, echo_json, handle_errors, json_option

EXAMPLE = """
\b
Examples:
  immunolab ingest runs/day14/ --store trial-store --manifest manifest.csv
  immunolab ingest P07_D14.fcs --store trial-store --manifest manifest.csv \\
      --supersede ing-20261125T101500-3f9a2b1c --reason "wrong tube was exported"
  immunolab ingest plates/ --store trial-store --manifest manifest.csv --json --jobs 2
"""


def _command_line(opts: dict[str, Any]) -> str:
    """Describe the invocation by option names only (paths may hold patient names)."""
    flags = [f"--{k.replace('_', '-')}" for k, v in sorted(opts.items()) if v not in (None, False, (), "")]
    return "immunolab ingest " + " ".join(flags)


@click.command(epilog=EXAMPLE)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--store", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Store folder; created on first use.")
@click.option("--manifest", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Sample manifest CSV: file, sample_id, patient_id, visit_day, specimen, panel.")
@click.option("--subjects", type=click.Path(dir_okay=False, path_type=str),
              help="Subjects CSV (patient_id, arm, site, age, sex); default: subjects.csv beside the manifest.")
@click.option("--assay", help="Force the assay plugin (see `immunolab plugins`) instead of detecting it.")
@click.option("--supersede", metavar="INGEST_ID", help="Correct a committed ingest; both stay readable.")
@click.option("--reason", help="Why the superseded ingest was wrong (required with --supersede).")
@click.option("--jobs", "-j", type=int, default=None, help="Worker processes (default: all cores).")
@click.option("--executor", metavar="URL", help="dask://HOST:PORT runs the workers on a Dask cluster.")
@click.option("--accept-offset-error", is_flag=True, help="FCS: tolerate HEADER/TEXT DATA offset disagreements.")
@click.option("--accept-tot-mismatch", is_flag=True, help="FCS: read the events DATA holds when $TOT disagrees.")
@click.option("--dataset", type=int, help="FCS/LMD: which data set of a multi-data-set file (0-based).")
@click.option("--strategy", type=click.Path(dir_okay=False, path_type=str),
              help="Gating strategy (template YAML, GatingML 2.0 XML or FlowJo .wsp) instead of the built-in template.")
@click.option("--comp", type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="FCS: FlowJo-style compensation matrix CSV instead of each file's spillover keyword.")
@click.option("--events", "write_events", is_flag=True, help="Also store per-event flow data (flow_events).")
@click.option("--curve-model", type=click.Choice(["5PL", "4PL"]), default="5PL", show_default=True,
              help="Plates: standard curve model.")
@click.option("--curve-weighting", type=click.Choice(["1/y^2", "1/y", "none", "1/x", "1/x^2"]), default="1/y^2",
              show_default=True, help="Plates: least-squares weights (1/y^2 reproduces xPONENT).")
@click.option("--curve-source", type=click.Choice(["immunolab", "instrument"]), default="immunolab",
              show_default=True, help="Plates: back-calculate with immunolab's refit or the instrument's printed curve.")
@click.option("--below-rule", type=click.Choice(["LLOQ/2", "LLOQ/sqrt2", "LLOQ", "zero", "none"]), default="LLOQ/2",
              show_default=True, help="Plates: substitution for values below the LLOQ (recorded on every row).")
@click.option("--above-rule", type=click.Choice(["ULOQ", "none"]), default="ULOQ", show_default=True,
              help="Plates: substitution for values above the ULOQ (recorded on every row).")
@click.option("--strict-curves", is_flag=True, help="Plates: refuse a plate when any analyte's curve cannot be fitted.")
@click.option("--require-known-analytes", is_flag=True,
              help="Plates: refuse analyte names without a canonical mapping (IML-CYT-008).")
@click.option("--filename-rule", metavar="REGEX",
              help="Opt-in: take patient/visit from file names matching REGEX with groups patient_id, visit_day.")
@click.option("--lock-timeout", type=float, default=600.0, show_default=True, help="Seconds to wait for the store lock.")
@click.option("--show-paths", is_flag=True, help="Show file paths on this terminal (never logged; may hold names).")
@json_option
@debug_option
@handle_errors
def ingest(paths: tuple[str, ...], store: str, manifest: str, subjects: str | None, assay: str | None,
           supersede: str | None, reason: str | None, jobs: int | None, executor: str | None,
           accept_offset_error: bool, accept_tot_mismatch: bool, dataset: int | None, strategy: str | None,
           comp: str | None, write_events: bool, curve_model: str, curve_weighting: str, curve_source: str,
           below_rule: str, above_rule: str, strict_curves: bool, require_known_analytes: bool,
           filename_rule: str | None, lock_timeout: float, show_paths: bool,
           as_json: bool, debug: bool) -> None:
    """Ingest instrument files (FCS, plate exports) and folders into a store.

    Each file is detected by exactly one assay plugin, tied to a patient and visit through the
    manifest, de-identified, validated and committed atomically. Prints one line per file:
    OK, SKIP (same bytes already ingested) or FAIL <code> <message>, then a summary. Exit code 0
    when nothing failed, 1 for input errors, 3 store, 4 plugin, 70 internal.
    """
    import logging
    from pathlib import Path

    from immunolab.ingest import FileOutcome, ingest_paths

    if debug:
        logging.basicConfig(level=logging.DEBUG)
    n_jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    tty = sys.stderr.isatty() and not as_json
    bar: Any = None

    def on_start(total: int) -> None:
        nonlocal bar
        if tty:
            import shutil

            from tqdm import tqdm

            width = shutil.get_terminal_size((100, 20)).columns or 100  # a bare pty reports 0 columns
            bar = tqdm(total=total, unit="file", file=sys.stderr, leave=False, ncols=min(width, 120))

    def on_outcome(o: FileOutcome) -> None:
        if as_json:
            return
        line = o.line(show_paths=show_paths)
        if bar is not None:
            bar.write(line, file=sys.stdout)
            bar.update(1)
        else:
            click.echo(line)

    opts = dict(assay=assay, supersede=supersede, reason=reason, accept_offset_error=accept_offset_error,
                accept_tot_mismatch=accept_tot_mismatch, dataset=dataset,
                strategy=Path(strategy) if strategy else None, comp=Path(comp) if comp else None,
                write_events=write_events)
    plate_options = {"curve_model": curve_model, "curve_weighting": curve_weighting, "curve_source": curve_source,
                     "below_rule": below_rule, "above_rule": above_rule, "strict_curves": strict_curves,
                     "require_known_analytes": require_known_analytes}
    command = _command_line(dict(opts, jobs=jobs, executor=executor, subjects=subjects, manifest=manifest,
                                 store=store, filename_rule=filename_rule, json=as_json))
    try:
        report = ingest_paths(paths, store=store, manifest=manifest, subjects=subjects, jobs=n_jobs,
                              executor=executor, on_outcome=on_outcome, on_start=on_start, filename_rule=filename_rule,
                              lock_timeout=lock_timeout, command=command, plate_options=plate_options, **opts)
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        echo_json({
            "files": [o.to_dict(show_paths=show_paths) for o in report.outcomes],
            "counts": report.counts,
            "seconds": report.seconds,
            "events": report.n_events,
            "exit_code": report.exit_code,
        })
    else:
        click.echo(report.summary_line())
    sys.exit(report.exit_code)
