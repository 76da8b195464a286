"""``immunolab report``: write the self-contained HTML report of a store."""

from __future__ import annotations

from typing import Any

import click

from immunolab.cli.common import (
    debug_option,
    echo_json,
    handle_errors,
    json_option,
    open_store_cli,
    store_option,
    version_options,
)
from immunolab.cli.text import echo

EXAMPLE = """
\b
Example:
  immunolab report --store trial-store --out report.html
  immunolab report --store trial-store --adjust site,age --out adjusted.html
  immunolab report --store trial-store --features IL-6 --features Treg --window 0-14 --out il6_treg.html
"""


def _adjust(text: str) -> list[str] | None:
    """Return the covariates of ``--adjust`` (None: the default, [] for ``none``)."""
    if text.strip().lower() == "auto":
        return None
    if text.strip().lower() == "none":
        return []
    return [c.strip() for c in text.split(",") if c.strip()]


@click.command(epilog=EXAMPLE)
@store_option
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=str), help="HTML file to write.")
@click.option("--features", multiple=True, metavar="NAME", help="Feature to include; repeat for several. Default: all.")
@click.option("--measures", multiple=True, metavar="NAME",
              help="Measure to include; repeat for several. Default: pct_parent and concentration, plus cells_per_uL "
                   "of CD4+ T and CD8+ T.")
@click.option("--window", default="0-28", show_default=True, metavar="START-END", help="AUC window in study days.")
@click.option("--adjust", default="auto", show_default=True, metavar="COVARIATES",
              help="Covariates of the adjusted comparison, comma-separated; 'auto' = site, specimen and age where "
                   "they vary; 'none' = unadjusted only.")
@click.option("--max-gating-samples", default=12, show_default=True, type=click.IntRange(0),
              help="Flagged flow samples drawn gate by gate (the rest are listed).")
@click.option("--no-gating-figures", is_flag=True, help="Do not re-gate the raw files (no gate overlay or gate figures).")
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(1), help="Worker processes.")
@version_options
@click.option("--force", is_flag=True, help="Overwrite --out even when it is not an immunolab report.")
@json_option
@debug_option
@handle_errors
def report(store: str, storage_options: tuple[str, ...], out: str, features: tuple[str, ...], measures: tuple[str, ...],
           window: str, adjust: str, max_gating_samples: int, no_gating_figures: bool, jobs: int,
           version: int | None, as_of: str | None, force: bool, as_json: bool, debug: bool) -> None:
    """Write ONE self-contained HTML file: scope, cohort, arm comparisons, endpoints, cytokine and flow QC, provenance.

    Figures are embedded (base64 PNG); no external resource, script, file name, date or plate
    sample name is included, so the file can be e-mailed or archived as is. Patients appear
    only as pseudonymous codes, samples as patient|Dday, plates by their lab code.
    """
    import time
    from pathlib import Path

    from immunolab.analysis.trajectories import parse_window
    from immunolab.outputs import check_report_file
    from immunolab.report.html import write_report

    check_report_file(out, force=force)
    t0 = time.perf_counter()
    s = open_store_cli(store, storage_options, version=version, as_of=as_of)
    given = click.get_current_context().get_parameter_source("window") == click.core.ParameterSource.COMMANDLINE
    _check_request(s, features, parse_window(window) if given else None)  # the default window may not fit a small store
    path = write_report(s, Path(out), features=list(features) or None, measures=list(measures) or None,
                        window=parse_window(window), adjust=_adjust(adjust), max_gating_samples=max_gating_samples,
                        gating_figures=not no_gating_figures, jobs=jobs)
    text = path.read_text(encoding="utf-8")
    size, figures, tables = path.stat().st_size, text.count("<img "), text.count("<table")
    seconds = time.perf_counter() - t0
    if as_json:
        echo_json({"store_version": s.version, "out": str(path), "bytes": size, "figures": figures, "tables": tables, "seconds": round(seconds, 1)})
    else:
        echo(f"wrote {out} of store version {s.version} ({size // 1024} KiB, {figures} figures, {tables} tables, "
             f"{seconds:.0f} s)")


def _check_request(s: Any, features: tuple[str, ...], window: tuple[int, int] | None) -> None:
    """Refuse, before any work, what ``compare`` refuses: an unknown feature, a window not on visit days.

    The report used to accept them and write sections saying they could not be computed (exit 0).
    """
    from immunolab.analysis.compare import resolve_features
    from immunolab.analysis.measurements_view import measurements_view
    from immunolab.analysis.trajectories import check_window

    if not features and window is None:  # nothing asked that could be refused: no extra read of the view
        return
    view = measurements_view(s)
    if features:
        resolve_features(list(features), view["feature"].unique())
    if window is not None and len(view):
        check_window(view, window)
