"""``immunolab export``: export a store for analysis tools (AnnData for scanpy)."""

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

GROUP_EXAMPLE = """
\b
Examples:
  immunolab export anndata --store trial-store --out trial.h5ad
  immunolab export parquet --store trial-store --out snapshot/
  immunolab export adam --store trial-store --out adam/
"""

ADAM_EXAMPLE = """
\b
Examples:
  immunolab export adam --store trial-store --out adam/
  immunolab export adam --store trial-store --out adam/ --studyid MSC-COVID --no-xpt
  immunolab export adam --store trial-store --out adam-v3/ --version 3
  python -c "import pandas as pd; print(pd.read_parquet('adam/adlb.parquet').head())"
"""

PARQUET_EXAMPLE = """
\b
Examples:
  immunolab export parquet --store trial-store --out snapshot/
  immunolab export parquet --store trial-store --out v3/ --version 3
  python -c "import pandas as pd; print(pd.read_parquet('snapshot/measurements').head())"
"""

ANNDATA_EXAMPLE = """
\b
Examples:
  immunolab export anndata --store trial-store --out trial.h5ad
      (writes trial.h5ad = per-sample summary and trial.events.h5ad = flow events)
  immunolab export anndata --store trial-store --out trial.h5ad --kind summary
  immunolab export anndata --store trial-store --out locked.h5ad --kind summary --version 3
  immunolab export anndata --store trial-store --out d0.h5ad --kind events --samples "001|D0" --max-events 20000
"""


@click.group(epilog=GROUP_EXAMPLE)
def export() -> None:
    """Export a store for analysis tools."""


@export.command(epilog=PARQUET_EXAMPLE)
@store_option
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Output folder (one sub-folder of Parquet per table and view).")
@version_options
@click.option("--history", is_flag=True, help="Identity and decision tables with every record, not only current ones.")
@click.option("--force", is_flag=True, help="Write into --out even when it holds files immunolab did not write.")
@json_option
@handle_errors
def parquet(store: str, storage_options: tuple[str, ...], out: str, version: int | None, as_of: str | None,
            history: bool, force: bool, as_json: bool) -> None:
    """Write a plain-Parquet snapshot of the current view for readers without Delta Lake support.

    One folder per table (facts, identity, derivations, decisions) and per view (samples,
    measurements), exactly as the Python API returns them at that store version; IDs are strings.
    """
    from immunolab.outputs import check_folder
    from immunolab.store.export import export_parquet

    check_folder(out, force=force)
    s = open_store_cli(store, storage_options, version=version, as_of=as_of)
    written = export_parquet(s, out, history=history)
    if as_json:
        echo_json({"store_version": s.version, "tables": written})
        return
    for name, n in written.items():
        echo(f"  {name:<20} {n:>9,} rows")
    echo(f"wrote store version {s.version} to {out}")


@export.command(epilog=ANNDATA_EXAMPLE)
@store_option
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Output .h5ad; with --kind both the events go to the sibling <name>.events.h5ad.")
@click.option("--kind", type=click.Choice(["summary", "events", "both"]), default="both", show_default=True,
              help="summary: samples x features; events: flow events x channels; both: two files.")
@click.option("--samples", multiple=True, metavar="ID",
              help="Events: sample id or patient|Dday (e.g. 001|D14); repeat for several. Default: all.")
@click.option("--max-events", type=click.IntRange(min=1), metavar="N",
              help="Events: keep a reproducible random subset of N events per sample.")
@click.option("--gating", "gating_id", metavar="DERIVATION",
              help="Events: label them with this stored gating derivation (`immunolab derive list`) "
              "instead of the panel's active one.")
@version_options
@click.option("--force", is_flag=True, help="Overwrite --out (and its events sibling) even when immunolab did not write it.")
@json_option
@debug_option
@handle_errors
def anndata(store: str, storage_options: tuple[str, ...], out: str, kind: str, samples: tuple[str, ...],
            max_events: int | None, gating_id: str | None, version: int | None, as_of: str | None, force: bool,
            as_json: bool, debug: bool) -> None:
    """Write AnnData (.h5ad) files ready for scanpy.

    The summary holds one row per patient visit and one column per feature x measure in natural
    units (layers log10, censored, count). The events file holds the stored flow events
    (compensated, transformed) with population and sample in obs; it needs an ingest with
    --events. Feature names have '/' written as %2F (original in var['feature']). The store
    version read is in uns['immunolab']['store_version'].
    """
    from pathlib import Path

    from immunolab.anndata_io import events_anndata, summary_anndata, write_h5ad
    from immunolab.errors import InputError
    from immunolab.outputs import check_h5ad_file

    target = Path(out)
    check_h5ad_file(target, force=force)
    if kind == "both":
        check_h5ad_file(target.with_suffix(".events.h5ad"), force=force)
    s = open_store_cli(store, storage_options, version=version, as_of=as_of)
    written: dict[str, str] = {}
    skipped: dict[str, str] = {}
    if kind in ("summary", "both"):
        summary = summary_anndata(s)
        written["summary"] = str(write_h5ad(summary, target))
        n_excluded = summary.uns["immunolab"]["qc_excluded_values"]
        if not as_json:
            echo(f"wrote {target} (summary: {summary.n_obs} samples x {summary.n_vars} features)")
            if n_excluded:
                echo(f"  {n_excluded} value(s) excluded by QC decisions are NaN in X (uns['immunolab']"
                     "['qc_excluded_values']; `immunolab qc list` names them)")
    if kind in ("events", "both"):
        events_path = target if kind == "events" else target.with_suffix(".events.h5ad")
        try:
            events = events_anndata(s, samples=list(samples) or None, max_events_per_sample=max_events,
                                    strategy_id=gating_id)
        except InputError as exc:
            if kind == "events" or exc.code != "IML-ANA-004":
                raise
            skipped["events"] = exc.format()
            if not as_json:
                echo(f"SKIP events: {exc.message}. {exc.hint}")
        else:
            written["events"] = str(write_h5ad(events, events_path))
            if not as_json:
                echo(f"wrote {events_path} (events: {events.n_obs} events x {events.n_vars} channels, "
                           f"{events.obs['sample'].nunique()} sample(s))")
    if as_json:
        echo_json({"store_version": s.version, "written": written, "skipped": skipped,
                   **({"qc_excluded_values": n_excluded} if kind in ("summary", "both") else {})})


@export.command(epilog=ADAM_EXAMPLE)
@store_option
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Output folder: adsl, adlb, adtte and adae as Parquet, CSV and (unless --no-xpt) SAS XPORT v5.")
@click.option("--studyid", default="IMMUNOLAB", show_default=True, help="STUDYID of every record.")
@click.option("--no-xpt", is_flag=True, help="Write Parquet and CSV only.")
@click.option("--include-excluded", is_flag=True, help="Keep values and adverse events a QC decision excluded "
              "(ANL01FL blank for them, Y for analysed records).")
@version_options
@click.option("--force", is_flag=True, help="Write into --out even when it holds files immunolab did not write.")
@json_option
@debug_option
@handle_errors
def adam(store: str, storage_options: tuple[str, ...], out: str, studyid: str, no_xpt: bool, include_excluded: bool,
         version: int | None, as_of: str | None, force: bool, as_json: bool, debug: bool) -> None:
    """Write ADaM-style datasets for the trial statistician: ADSL, ADLB, ADTTE and ADAE.

    ADSL: one row per subject with arm (ARMCD, TRT01P/TRT01PN; TRT01A = TRT01P, the store records
    no infusion), site, age, sex, severity and the subjects file's other covariates, death
    (DTHFL, DTHDY), 28-day time to death (TTDTH28, CNSDTH28), discharge and an adverse-event
    summary. ADLB: one row per subject x parameter x visit of every immune and clinical
    measurement with PARAMCD, AVAL, BASE, CHG, AVISIT / AVISITN, the analysis flag ANL01FL and
    CRIT1FL / CRIT2FL for values substituted below LLOQ / above ULOQ. ADTTE: time to death and
    to clinical improvement by Day 28 (AVAL days, CNSR), the rules of `immunolab outcomes`.
    ADAE: one row per adverse event with grade, seriousness, ASTDY and TRTEMFL. Columns and
    labels are listed in docs/clinical.md. store_version.json records the store version read;
    the .xpt headers carry its commit time, so re-exports are byte-identical.
    """
    from immunolab.analysis.adam import export_adam
    from immunolab.analysis.endpoints import store_last_contact
    from immunolab.analysis.measurements_view import measurements_view
    from immunolab.analysis.trial_tables import (
        trial_adverse_events,
        trial_clinical_results,
        trial_excluded_adverse_events,
        trial_outcomes,
        trial_subjects,
    )
    from immunolab.outputs import check_folder

    check_folder(out, force=force)
    s = open_store_cli(store, storage_options, version=version, as_of=as_of)
    view = measurements_view(s, include_excluded=include_excluded)
    excluded_ae = trial_excluded_adverse_events(s)
    subjects, outcomes = trial_subjects(s), trial_outcomes(s)
    written = export_adam(out, view, subjects, outcomes, trial_adverse_events(s),
                          studyid=studyid, xpt=not no_xpt, store_version=s.version, committed_at=s.committed_at,
                          clinical=trial_clinical_results(s), excluded_adverse_events=excluded_ae if include_excluded else None,
                          last_contact=store_last_contact(s, subjects, outcomes))  # censored where outcomes censors
    n_excluded = int(view.attrs.get("n_excluded", 0))
    n_excluded_ae = 0 if include_excluded else len(excluded_ae)
    if as_json:
        echo_json({"store_version": s.version, "written": [str(p) for p in written],
                   "datasets": ["adsl", "adlb", "adtte", "adae"], "qc_excluded_values": n_excluded,
                   "qc_excluded_adverse_events": n_excluded_ae, "qc_excluded_kept": include_excluded})
        return
    for path in written:
        echo(f"  {path}")
    echo(f"wrote ADSL, ADLB, ADTTE and ADAE of store version {s.version} to {out}")
    if n_excluded_ae:
        echo(f"  left out {n_excluded_ae} adverse event(s) of files excluded by QC decisions (`immunolab qc list`; "
             "--include-excluded keeps them with ANL01FL blank)")
    if n_excluded:
        echo(f"  left out {n_excluded} value(s) excluded by QC decisions (`immunolab qc list`; "
             "--include-excluded keeps them with ANL01FL blank)")
    elif include_excluded:
        echo("  values excluded by QC decisions are kept with ANL01FL blank")
