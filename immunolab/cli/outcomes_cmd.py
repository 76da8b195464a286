"""``immunolab outcomes``: the trial's clinical endpoints by arm, written as tables and Kaplan-Meier plots."""

from __future__ import annotations

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
Examples:
  immunolab outcomes --store trial-store --out outcomes/
  immunolab outcomes --store trial-store --out outcomes/ --day 28 --change-day 6 --json
"""


@click.command(epilog=EXAMPLE)
@store_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Folder for the tables (CSV + Parquet), settings.json (store version) and the Kaplan-Meier plots (PNG).")
@click.option("--day", default=28, show_default=True, type=click.IntRange(min=1), help="Mortality / survival horizon (study day).")
@click.option("--change-day", default=6, show_default=True, type=click.IntRange(min=1),
              help="Visit whose change from baseline is related to survival.")
@click.option("--reference-arm", metavar="ARM", help="Reference arm (default: control).")
@click.option("--no-plots", is_flag=True, help="Write the tables only.")
@click.option("--force", is_flag=True, help="Write into --out even when it holds files immunolab did not write.")
@version_options
@json_option
@debug_option
@handle_errors
def outcomes(store: str, storage_options: tuple[str, ...], out_dir: str, day: int, change_day: int,
             reference_arm: str | None, no_plots: bool, force: bool, version: int | None, as_of: str | None,
             as_json: bool, debug: bool) -> None:
    """Compute the clinical endpoints by arm from the ingested clinical files.

    Mortality by DAY (Fisher exact, risk difference with a Newcombe CI), survival (Kaplan-Meier,
    log-rank via lifelines), adverse events (events, patients with >= 1, worst grade, grade >= 3,
    serious, related), time to clinical improvement (2-point fall of the WHO ordinal scale or
    discharge) and IL-6 / CD4+ / CD8+ counts at baseline and their change by survival status.
    With about 10 patients per arm every p-value is exploratory (each table says so).
    """
    import json
    from pathlib import Path

    from immunolab import __version__
    from immunolab.analysis.endpoints import trial_endpoints
    from immunolab.io.csv_safe import write_csv
    from immunolab.outputs import check_folder, mark_folder
    from immunolab.report.plots import save_png

    check_folder(out_dir, force=force)
    s = open_store_cli(store, storage_options, version=version, as_of=as_of)
    ep = trial_endpoints(s, day=day, change_day=change_day, reference_arm=reference_arm)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in ep.tables.items():
        write_csv(df, out / f"{name}.csv")
        df.to_parquet(out / f"{name}.parquet", index=False)
        written.append(name)
    plots = [] if no_plots else [save_png(fig, out / f"{name}.png").name for name, fig in ep.figures().items()]
    settings = {"store_version": int(s.version), "immunolab_version": __version__, "day": day,
                "change_day": change_day, "reference_arm": reference_arm, "notes": ep.notes}
    (out / "settings.json").write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
    mark_folder(out, "outcomes", [out / f"{n}.{ext}" for n in written for ext in ("csv", "parquet")]
                + [out / p for p in plots] + [out / "settings.json"])
    if as_json:
        echo_json({"out": out_dir, "tables": written, "plots": plots, "notes": ep.notes,
                   "store_version": settings["store_version"],
                   "mortality": ep.tables["mortality"].drop(columns=["method", "caveat"]).to_dict(orient="records")
                   if "mortality" in ep.tables else None})
        return
    if "mortality" in ep.tables:
        m = ep.tables["mortality"].iloc[0]
        echo(f"{day}-day mortality: {m['treated']} {m['deaths_treated']}/{m['n_treated']} vs "
                   f"{m['reference']} {m['deaths_reference']}/{m['n_reference']}; risk difference "
                   f"{100 * m['risk_difference']:+.1f} % (95 % CI {100 * m['rd_ci_low']:+.1f} to {100 * m['rd_ci_high']:+.1f}), "
                   f"Fisher p = {m['p']:.3g}; {m['n_censored_before_day']} patient(s) censored before day {day}")
    if "survival_logrank" in ep.tables:
        lr = ep.tables["survival_logrank"].iloc[0]
        echo(f"survival to day {day}: log-rank chi2 = {lr['chi2']:.2f}, p = {lr['p']:.3g}")
    if "adverse_events" in ep.tables:
        any_ae = ep.tables["adverse_events"].iloc[0]
        before = int(any_ae["n_pretreatment_events_excluded"])
        echo(f"treatment-emergent adverse events: {any_ae['treated']} {any_ae['patients_treated']} patient(s) with "
             f">= 1, {any_ae['reference']} {any_ae['patients_reference']}"
             + (f" ({before} event(s) with onset before Day 0 left out)" if before else ""))
    if "improvement_logrank" in ep.tables:
        lr = ep.tables["improvement_logrank"].iloc[0]
        echo(f"clinical improvement: {lr['events_treated']}/{lr['n_treated']} vs {lr['events_reference']}/"
                   f"{lr['n_reference']}, log-rank p = {lr['p']:.3g}")
    for note in ep.notes:
        echo(f"note: {note}")
    echo(f"small numbers: every p-value here is exploratory. Wrote {len(written)} table(s) and "
               f"{len(plots)} plot(s) to {out_dir}")
