"""``immunolab derive``: re-analyse stored files (re-gate, refit), switch and list active derivations."""

from __future__ import annotations

import os

import click

from immunolab.cli.common import (
    debug_option,
    echo_json,
    handle_errors,
    json_option,
    open_store_cli,
    reason_callback,
    store_option,
)
from immunolab.cli.text import echo, safe
from immunolab.derive.registry import CURVE_OPTIONS


def _choices(name: str) -> list[str]:
    """Return the choices the curves derivation declares for setting ``name`` (one source for both commands)."""
    return next(list(o.choices) for o in CURVE_OPTIONS if o.name == name)

GROUP_EXAMPLE = """
\b
Examples:
  immunolab derive gating --store S --panel TBNK-Treg --strategy panel.xml
  immunolab derive gating --store S --panel TBNK-Treg --strategy panel.xml --activate --reason "expert gates"
  immunolab derive curves --store S --model 4PL --weighting 1/y --plate PLATE-03
  immunolab derive clusters --store S --panel TBNK-Treg --metaclusters 10
  immunolab derive activate --store S --kind curves --scope '*' --derivation instrument --reason "back to instrument"
  immunolab derive list --store S
"""


@click.group(epilog=GROUP_EXAMPLE)
def derive() -> None:
    """Re-analyse stored files without re-ingesting them; choose which results analyses use."""


@derive.command(epilog="\b\nExamples:\n  immunolab derive gating --store S --panel TBNK-Treg --strategy expert.xml\n"
                "  immunolab derive gating --store S --panel TBNK-Treg --strategy lab_template.yaml --activate --events "
                "--reason \"lab template v2\"\n      (--events: the event-level AnnData follows the new gates)")
@store_option
@click.option("--panel", required=True, help="Panel (as in the manifest) whose current FCS files are gated.")
@click.option("--strategy", type=click.Path(dir_okay=False, path_type=str),
              help="Template (.yaml), Gating-ML 2.0 (.xml), FlowJo workspace, or a built-in template's name "
              "(trial_panel, also trial-panel; tcell_tube); default: the built-in trial_panel.")
@click.option("--comp", type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="FlowJo-style compensation matrix CSV instead of each file's spillover keyword.")
@click.option("--events", "write_events", is_flag=True, help="Also store per-event rows (flow_events).")
@click.option("--activate", is_flag=True, help="Make these results the active gating of the panel (needs --reason).")
@click.option("--reason", callback=reason_callback, help="Why (recorded with the decision).")
@click.option("--jobs", "-j", type=click.IntRange(1), default=None, help="Worker processes (default: all cores).")
@click.option("--executor", metavar="URL", help="dask://HOST:PORT runs the gating on a Dask cluster.")
@json_option
@debug_option
@handle_errors
def gating(store: str, storage_options: tuple[str, ...], panel: str, strategy: str | None, comp: str | None,
           write_events: bool, activate: bool, reason: str | None, jobs: int | None, executor: str | None,
           as_json: bool, debug: bool) -> None:
    """Gate every current FCS file of a panel with a strategy; results are new rows keyed by its id.

    Exit code 1 when the strategy failed on any file (each failure is stored and named on a WARN line).
    """
    from immunolab.derive.run import derive_gating

    s = open_store_cli(store, storage_options)

    def on_file(label: str, warnings: list[str]) -> None:
        from immunolab.diagnostics import warn_file

        if not as_json:
            for w in warnings:
                warn_file(label, w)  # WARN <code> <label>: <message> on stderr, unless `immunolab -q`

    rep = derive_gating(s, panel=panel, strategy=strategy, comp=comp, write_events=write_events, activate=activate,
                        reason=reason, jobs=jobs or os.cpu_count() or 1, executor=executor, on_file=on_file)
    if as_json:
        echo_json(rep.__dict__)
    else:
        echo(rep.line())
    if rep.failed:  # stored as failed rows (the WARN lines say why), but a script must notice, as with ingest's FAIL
        raise SystemExit(1)


@derive.command(epilog="\b\nExamples:\n  immunolab derive clusters --store S --panel TBNK-Treg\n"
                "  immunolab derive clusters --store S --panel TBNK-Treg --metaclusters 12 --events-per-file 10000 --seed 7")
@store_option
@click.option("--panel", required=True, help="Panel whose current FCS files are clustered (each with its active gating).")
@click.option("--metaclusters", default=10, show_default=True, type=click.IntRange(2, 60),
              help="FlowSOM consensus metaclusters.")
@click.option("--events-per-file", default=5000, show_default=True, type=click.IntRange(min=200),
              help="Events drawn per file from its lymphocyte gate (fixed seed).")
@click.option("--seed", default=1, show_default=True, type=int, help="Seed of the subsampling and of FlowSOM.")
@click.option("--reason", callback=reason_callback, help="Why (recorded with the store version).")
@click.option("--jobs", "-j", type=click.IntRange(1), default=None, help="Worker processes reading and gating files (default: all cores).")
@json_option
@debug_option
@handle_errors
def clusters(store: str, storage_options: tuple[str, ...], panel: str, metaclusters: int, events_per_file: int,
             seed: int, reason: str | None, jobs: int | None, as_json: bool, debug: bool) -> None:
    """Cluster a panel's events with FlowSOM beside its gates; store cluster shares and gate agreement.

    Every current file of the panel is gated with its active strategy, EVENTS-PER-FILE events of
    its lymphocyte gate are drawn, the pooled events are clustered (10x10 self-organising map,
    consensus metaclustering) and each metacluster is named by its marker profile (CD3+CD4+...).
    Cluster shares per sample reach the measurements (assay flow_clusters); the agreement of every
    gate below the lymphocyte gate with the clusters is stored and printed: the whole gate (all its
    events, its child gates' included) against the metaclusters lying mostly inside it, else its
    best single metacluster (precision, recall, F-measure).
    """
    from immunolab.derive.clusters import derive_clusters

    s = open_store_cli(store, storage_options)

    def on_file(label: str, error: str | None) -> None:
        if error and not as_json:
            echo(f"FAIL {safe(label)}: {safe(error)}", err=True)

    rep = derive_clusters(s, panel=panel, n_metaclusters=metaclusters, events_per_file=events_per_file, seed=seed,
                          reason=reason, jobs=jobs or os.cpu_count() or 1, on_file=on_file)
    if as_json:
        echo_json(rep.__dict__)
        return
    echo(f"clustering {rep.derivation_id} of panel {safe(panel)}: {rep.files} file(s), {rep.events:,} events, "
               f"markers {', '.join(safe(m) for m in rep.markers)}; store version {rep.store_version}")
    echo(f"  {'gate (all its events)':<24} {'metacluster(s)':<36} {'precision':>9} {'recall':>7} {'F':>6}")
    for a in rep.agreement:
        echo(f"  {safe(a['population']):<24} {safe(a['cluster']):<36} {a['precision']:>9.2f} {a['recall']:>7.2f} "
                   f"{a['f_measure']:>6.2f}")
    echo(f"  event-weighted mean F = {rep.mean_f:.3f}" + (f"; {len(rep.failed)} file(s) failed" if rep.failed else ""))


@derive.command(epilog="\b\nExamples:\n  immunolab derive curves --store S                       (default refit of every plate)\n"
                "  immunolab derive curves --store S --model 4PL --weighting none --plate PLATE-02 --activate "
                "--reason \"4PL per kit insert\"")
@store_option
@click.option("--plate", "plates", multiple=True, help="Plate code (or id); repeat; default: every plate.")
@click.option("--model", type=click.Choice(_choices("curve_model")), default="vendor", show_default=True,
              help="vendor: the model of the instrument's printed curve (MSD 4PL, else 5PL).")
@click.option("--weighting", type=click.Choice(_choices("curve_weighting")), default="vendor",
              show_default=True, help="vendor: per plate the recipe of the software that analysed it (xPONENT 1/y^2, "
              "Bio-Plex Manager bioplex, MSD Workbench msd); the refit then reproduces the instrument.")
@click.option("--below-rule", type=click.Choice(_choices("below_rule")), default="LLOQ/2",
              show_default=True)
@click.option("--above-rule", type=click.Choice(_choices("above_rule")), default="ULOQ", show_default=True)
@click.option("--strict-curves", is_flag=True, help="A curve that cannot be fitted fails the plate's QC.")
@click.option("--activate", is_flag=True, help="Make this refit active for these plates (all: '*'); needs --reason.")
@click.option("--reason", callback=reason_callback, help="Why (recorded with the decision).")
@json_option
@handle_errors
def curves(store: str, storage_options: tuple[str, ...], plates: tuple[str, ...], model: str, weighting: str,
           below_rule: str, above_rule: str, strict_curves: bool, activate: bool, reason: str | None,
           as_json: bool) -> None:
    """Refit stored plates' standard curves with other settings; results are new rows keyed by the settings."""
    from immunolab.cytokine.parsed import settings_from_options
    from immunolab.derive.run import derive_curves

    settings = settings_from_options({"curve_model": model, "curve_weighting": weighting, "below_rule": below_rule,
                                      "above_rule": above_rule, "strict_curves": strict_curves})
    rep = derive_curves(open_store_cli(store, storage_options), settings=settings, plates=plates, activate=activate,
                        reason=reason)
    if as_json:
        echo_json(rep.__dict__)
    else:
        echo(rep.line())


@derive.command(epilog="\b\nExamples:\n  immunolab derive activate --store S --kind gating --scope TBNK-Treg "
                "--derivation 6a162a595e0e1c8f --reason \"back to the template\"\n"
                "  immunolab derive activate --store S --kind curves --scope PLATE-03 --derivation instrument --reason \"...\"")
@store_option
@click.option("--kind", type=click.Choice(["gating", "curves"]), required=True)
@click.option("--scope", required=True, help="Gating: a panel. Curves: a plate code, or '*' for every plate.")
@click.option("--derivation", "derivation_id", required=True, help="Derivation id (see `immunolab derive list`).")
@click.option("--reason", callback=reason_callback, required=True, help="Why (recorded with the decision).")
@json_option
@handle_errors
def activate(store: str, storage_options: tuple[str, ...], kind: str, scope: str, derivation_id: str, reason: str,
             as_json: bool) -> None:
    """Switch which derivation analyses use (reversible: switching back is one more decision)."""
    from immunolab.derive.run import activate as run

    rec = run(open_store_cli(store, storage_options), kind=kind, scope=scope, derivation_id=derivation_id, reason=reason)
    if as_json:
        echo_json({"store_version": rec.store_version, "summary": rec.summary})
    else:
        echo(f"{rec.summary} (store version {rec.store_version})")


@derive.command("list", epilog="\b\nExample:\n  immunolab derive list --store S")
@store_option
@json_option
@handle_errors
def list_(store: str, storage_options: tuple[str, ...], as_json: bool) -> None:
    """List the stored derivations per panel and plate, and which one is active."""
    from immunolab.derive.summary import derivation_rows

    rows = derivation_rows(open_store_cli(store, storage_options))
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        mark = "*" if r["active"] else " "
        echo(f"{mark} {r['kind']:<8} {safe(r['scope']):<14} {r['derivation_id']:<18} {safe(r['what']):<40} "
                   f"{r['n']:>5} file(s)  {safe(r.get('reason') or '')}")
    echo("* = active (used by compare, AnnData and the report)")
