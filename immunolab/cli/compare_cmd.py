"""``immunolab compare``: compare the arms and write the result tables and trajectory plots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
from immunolab.cli.text import echo, safe

if TYPE_CHECKING:
    from immunolab.analysis.compare import ArmComparison

EXAMPLE = """
\b
Examples:
  immunolab compare --store trial-store --out results/
  immunolab compare --store trial-store --features IL-6 --features Treg --window 0-14 --out results/
  immunolab compare --store trial-store --adjust site,specimen,age --out results-adjusted/
"""


@click.command(epilog=EXAMPLE)
@store_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Folder for the tables (CSV + Parquet), settings.json and plots/ (PNG).")
@click.option("--features", multiple=True, metavar="NAME",
              help="Feature to compare (population, analyte or clinical test; the aliases ingest accepts, e.g. IL6); "
                   "repeat for several. Default: all. An unknown name is refused with the list of valid ones.")
@click.option("--measures", multiple=True, metavar="NAME",
              help="Measure to compare (pct_parent, pct_lymphocytes, pct_total, count, cells_per_uL, concentration, "
                   "result); "
                   "repeat for several. Default: pct_parent and concentration, plus cells_per_uL of CD4+ T and "
                   "CD8+ T (the report's family; a named feature that has none of them, e.g. a clinical test, keeps "
                   "its own measure).")
@click.option("--window", default="0-28", show_default=True, metavar="START-END",
              help="AUC window in study days; both ends must be visit days.")
@click.option("--reference-arm", metavar="ARM", help="Reference arm (default: control).")
@click.option("--adjust", metavar="COVARIATES", default="",
              help="Comma-separated covariates the mixed model and the AUC ANCOVA adjust for (site, specimen, age, sex, "
                   "severity, or any further column of the subjects file such as bmi); the tables give the unadjusted "
                   "effects beside them.")
@click.option("--no-plots", is_flag=True, help="Write the tables only.")
@click.option("--force", is_flag=True, help="Write into --out even when it holds files immunolab did not write.")
@version_options
@json_option
@debug_option
@handle_errors
def compare(store: str, storage_options: tuple[str, ...], out_dir: str, features: tuple[str, ...], measures: tuple[str, ...], window: str,
            reference_arm: str | None, adjust: str, no_plots: bool, force: bool, version: int | None, as_of: str | None,
            as_json: bool, debug: bool) -> None:
    """Compare the two arms feature by feature; write tables and trajectory plots.

    Per feature: a mixed model on log10 values (arm x visit interaction F test and per-visit
    geometric mean ratios with 95 % CIs, Satterthwaite df), per-visit Mann-Whitney (Fisher exact
    on % detectable when half or more of the values are censored) with Benjamini-Hochberg q-values, and the AUC
    over WINDOW compared by Mann-Whitney with a Hodges-Lehmann shift; per post-baseline visit an
    ANCOVA of log10(value) on arm and log10(baseline) (ancova.csv: ratio at equal baseline, 95 %
    CI, BH q). Day 0 tests check baseline imbalance and form their own BH family. Every table
    row names the test used and why (column `method`). With --adjust the model gains the covariates as fixed
    effects and every row says what it was adjusted for (column `adjusted_for`).
    """
    from immunolab.analysis.compare import compare_store, write_comparison
    from immunolab.analysis.trajectories import parse_window
    from immunolab.outputs import check_folder, mark_folder

    check_folder(out_dir, force=force)
    s = open_store_cli(store, storage_options, version=version, as_of=as_of)
    result = compare_store(s, features=list(features) or None, measures=list(measures) or None,
                           window=parse_window(window), reference_arm=reference_arm,
                           adjust=[c.strip() for c in adjust.split(",") if c.strip()])
    written = write_comparison(result, out_dir)
    plots = [] if no_plots else _write_plots(result, Path(out_dir) / "plots")
    mark_folder(out_dir, "compare", [*written, *plots])
    inter = result.omnibus[result.omnibus["test"] == "arm x visit interaction"]
    if as_json:
        echo_json({
            "out": out_dir, "tables": [p.name for p in written], "plots": [p.name for p in plots],
            "settings": result.settings,
            "interaction": inter[["assay", "feature", "measure", "f", "num_df", "den_df", "p", "q_bh"]]
            .to_dict(orient="records"),
        })
        return
    echo(f"{result.settings['treated']} vs {result.settings['reference']}: "
         f"{result.settings['n_features']} feature(s), AUC window {window}; model: {result.settings.get('model', '')}")
    for rec in inter.to_dict(orient="records"):
        status = (f"F={rec['f']:.2f} ({rec['num_df']:.0f}, {rec['den_df']:.1f}) p={rec['p']:.3g} q={rec['q_bh']:.3g}"
                  if rec["p"] == rec["p"] else f"not modelled: {str(rec.get('method', '')).removeprefix('not tested: ')}")
        echo(f"  {safe(rec['assay']):<20} {safe(rec['feature']):<24} {safe(rec['measure']):<16} arm x visit {status}")
    excluded = result.settings.get("qc_excluded_values", 0)
    if excluded:
        echo(f"  {excluded} value(s) excluded by QC decisions are left out (`immunolab qc list`)")
    echo(f"wrote {len(written)} table file(s) and {len(plots)} plot(s) to {out_dir}")


def _write_plots(result: ArmComparison, folder: Path) -> list[Path]:
    """Write one trajectory PNG per feature x measure; return the paths."""
    from immunolab.identity import DEFAULT_PROTOCOL
    from immunolab.report.plots import file_slug, save_png, trajectory_figure

    folder.mkdir(parents=True, exist_ok=True)
    arms = (result.settings["treated"], result.settings["reference"])
    paths: list[Path] = []
    used: set[str] = set()
    assays_of = result.summary.groupby(["feature", "measure"])["assay"].nunique().to_dict()
    for (assay, feature, measure), s in result.summary.groupby(["assay", "feature", "measure"], sort=True):
        unit = s["unit"].dropna().iloc[0] if s["unit"].notna().any() else ""
        fig = trajectory_figure(s, title=f"{feature} - {measure} ({unit}; {assay})", arms=arms,
                                infusion_days=DEFAULT_PROTOCOL.infusion_days)
        # a feature measured by two assays (IL-6 on plates and on bead arrays) names the assay in its file
        stem = file_slug(f"{feature}_{measure}" + (f"_{assay}" if assays_of[(feature, measure)] > 1 else ""))
        while stem in used:
            stem += "_"
        used.add(stem)
        paths.append(save_png(fig, folder / f"{stem}.png"))
    return paths
