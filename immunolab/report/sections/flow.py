"""Flow cytometry QC: events per sample, gating failures, every gate of flagged samples, gate overlays, clusters.

Per panel (:mod:`immunolab.report.gating_qc`): a table of the flagged samples and why, one
overlay of every sample's gate positions (an outlier tube stands out in red and is named), and
small multiples of every gate of each flagged sample (at most ``max_gating_samples``; the rest
are listed). When a FlowSOM clustering is stored, the agreement of every whole gate (its child
gates' events included) with the metaclusters lying mostly inside it, else its best single
metacluster (precision, recall, F), of the latest clustering per panel. Last, a UMAP per panel
(:func:`_umap_section`, :func:`immunolab.report.umap.umap_figure` on a seeded subsample of
:data:`UMAP_EVENTS` events from at most :data:`UMAP_FILES` files) when the store holds per-event
data, else a note on how to store it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from immunolab.report import qc as qc_tables
from immunolab.report.fmt import Section, details, esc, figure, figures, note, table, warning

if TYPE_CHECKING:
    from immunolab.report.context import ReportData
    from immunolab.report.gating_qc import PanelGating
    from immunolab.store.read import Store

__all__ = ["UMAP_EVENTS", "UMAP_FILES", "cluster_agreement", "gating_failures", "section", "spread_files"]

#: events embedded per panel (enough to show the populations) and files they are drawn from (bounds the read)
UMAP_EVENTS = 3000
UMAP_FILES = 24


def gating_failures(data: ReportData) -> pd.DataFrame:
    """Return current files whose gating failed and that have no active result: sample, code, message."""
    from immunolab.derive.choices import active_gating
    from immunolab.report.context import panel_of_files

    store = data.store
    g = store.to_pandas("flow_gating")
    smp = store.to_pandas("samples")
    files = smp[(smp["sample_key"] == "") & (smp["assay_kind"] == "flow")]
    if g.empty or files.empty:
        return pd.DataFrame()
    panel_of = panel_of_files(files)
    ok = set(active_gating(store, g[g["status"] == "ok"], panel_of)["source_sha256"])
    bad = g[(g["status"] != "ok") & g["source_sha256"].isin(panel_of) & ~g["source_sha256"].isin(ok)]
    bad = bad.drop_duplicates("source_sha256", keep="last")
    return pd.DataFrame({"sample": [data.naming.of_source(s) for s in bad["source_sha256"]],
                         "panel": [panel_of.get(s) for s in bad["source_sha256"]],
                         "code": bad["error_code"], "message": [data.naming.scrub(m) for m in bad["message"]]})


def cluster_agreement(data: ReportData) -> pd.DataFrame:
    """Return the latest clustering's gate-cluster agreement per panel (F-measure 0-1)."""
    a = data.store.to_pandas("flow_cluster_agreement")
    if a.empty:
        return a
    a = a.assign(_v=a["commit_id"].map(data.store.commit_version).fillna(0))
    a = a[a["_v"] == a.groupby("panel")["_v"].transform("max")]
    return a.sort_values(["panel", "f_measure"], ascending=[True, False])[
        ["panel", "derivation_id", "population", "events", "cluster", "precision", "recall", "f_measure", "mean_f"]
    ].rename(columns={"derivation_id": "clustering", "population": "gate (all its events)", "cluster": "metacluster(s)",
                      "f_measure": "F", "mean_f": "event-weighted mean F"})


def _event_files(store: Store) -> dict[str, pd.DataFrame]:
    """Return per flow panel its current patient files (sample_id, arm, visit_day, has_events), panel-sorted.

    Which files have stored events is read from the ``source_sha256`` column alone, kept in
    Arrow (a store of a whole trial holds millions of event rows).
    """
    import pyarrow.compute as pc

    smp = store.to_pandas("samples", columns=["panel", "assay_kind", "sample_key", "patient_id", "arm", "visit_day",
                                              "sample_id", "source_sha256"])
    files = smp[(smp["assay_kind"] == "flow") & (smp["sample_key"] == "") & smp["patient_id"].notna()
                & smp["panel"].notna()]
    with_events: set[str] = set()
    if "flow_events" in store.table_versions:
        shas = store.scan("flow_events", columns=["source_sha256"]).column("source_sha256")
        with_events = {str(v) for v in pc.unique(shas).to_pylist()}
    files = files.assign(has_events=files["source_sha256"].isin(with_events))
    return {str(panel): f.sort_values(["visit_day", "arm", "patient_id", "sample_id"]).reset_index(drop=True)
            for panel, f in files.groupby("panel", sort=True)}


def spread_files(files: pd.DataFrame, k: int) -> list[str]:
    """Return the sample ids of at most ``k`` rows of ``files`` spaced evenly through their (visit, arm) order."""
    import numpy as np

    if len(files) <= k:
        return files["sample_id"].astype(str).tolist()
    rows = np.unique(np.linspace(0, len(files) - 1, k).round().astype(np.int64))
    return [str(v) for v in files["sample_id"].iloc[rows]]


def _umap_section(store: Store, *, n_events: int = UMAP_EVENTS, max_files: int = UMAP_FILES, seed: int = 0) -> str:
    """Return the UMAP of each flow panel with stored events, else a note that says how to store them.

    At most ``n_events`` events are embedded, the same share from each of at most ``max_files``
    files with events spread over visits and arms (seeded), so the figure is reproducible and
    stays quick; umap-learn's one-off compilation still costs tens of seconds per process.
    """
    from immunolab.errors import ImmunolabError

    panels = _event_files(store)
    if not panels:
        return note("UMAP: no flow cytometry files in the store.")
    if not any(bool(f["has_events"].any()) for f in panels.values()):
        return note("UMAP: this store holds no per-event flow data, so no UMAP is drawn. Store events by ingesting "
                    "the FCS files with `immunolab ingest --events`.")
    out, notes = [], []
    for panel, files in panels.items():
        chosen = spread_files(files[files["has_events"]], max_files)
        if not chosen:
            notes.append(note(f"UMAP of panel {panel}: no file of this panel has stored events (ingest it with "
                              "`immunolab ingest --events`)."))
            continue
        try:
            from immunolab.anndata_io import events_anndata
            from immunolab.report.umap import umap_figure

            per = -(-n_events // len(chosen))
            adata = events_anndata(store, samples=chosen, max_events_per_sample=per, seed=seed, raw=False)
            fig = umap_figure(adata, panel, n_events=n_events, seed=seed)
        except ImmunolabError as exc:
            notes.append(note(f"UMAP of panel {panel}: {exc.code} {exc.message}"))
            continue
        except ImportError as exc:  # scanpy / umap-learn missing from this installation
            return note(f"UMAP: not available in this build ({exc.name or 'scanpy'} cannot be imported).")
        out.append(figure(fig, wide=True, alt=f"UMAP of panel {panel}",
                          caption=f"UMAP of panel {panel}: {adata.n_obs:,} events (at most {n_events:,}) drawn "
                                  f"evenly from {len(chosen)} of the panel's {int(files['has_events'].sum())} "
                                  f"file(s) with stored events, spread over visits and arms (seed {seed}); "
                                  "coloured by gate, arm and visit."))
    return (figures(out) if out else "") + "".join(notes)


def _panel_html(data: ReportData, pg: PanelGating) -> str:
    from immunolab.flow.gate_plot import panel_overlay_figure
    from immunolab.report.gating_qc import flagged_figures

    body = f"<h3>Panel {esc(pg.panel)}: {esc(pg.strategy_name)} ({esc(pg.kind)})</h3>"
    body += "".join(note(p) for p in pg.problems)
    reproduced = [s for s in pg.samples if s.reproduced is not None]
    if reproduced:
        n_ok = sum(bool(s.reproduced) for s in reproduced)
        body += (f"<p class='meta'>{len(reproduced)} file(s) re-gated from the raw vault; {n_ok} reproduce the "
                 "stored population counts exactly.</p>")
    if pg.thresholds:
        fig, outliers = panel_overlay_figure(pg.thresholds, title=f"Gate positions of {len(pg.thresholds)} samples, "
                                                                  f"panel {pg.panel}; red = outlier tube")
        body += figures([figure(fig, wide=True, alt=f"Gate positions of every sample of panel {pg.panel}",
                                caption=f"Each dot is one sample's threshold for a gate and channel; "
                                        f"{len(outliers)} outlier(s) (robust z > 4) in red, named.")])
    flagged = pg.flagged()
    out_of = {o.sample: o for o in pg.outliers}
    rows = [{"sample": s.label, "why flagged": "; ".join(s.flags + ([f"gate outlier: {out_of[s.label].gate_path} "
                                                                       f"{out_of[s.label].channel}"]
                                                                      if s.label in out_of else [])),
             "re-gating reproduces stored counts": s.reproduced} for s in flagged]
    body += f"<p>{len(flagged)} of {len(pg.samples)} sample(s) flagged.</p>" + table(pd.DataFrame(rows),
                                                                                       empty="no sample flagged")
    cap = data.options.max_gating_samples
    drawn = flagged_figures(pg, flagged[:cap], jobs=data.options.jobs)
    figs = [f"<figure class='wide'><img alt='{esc('Every gate of sample ' + s.label)}' src='{uri}'><figcaption>"
            f"{esc(s.label)}: parent events on each gate's channels; orange = inside the gate, red title = the "
            "gate's QC flag, green lines = thresholds.</figcaption></figure>" for s, uri in drawn]
    shown = len(drawn)
    body += figures(figs)
    if len(flagged) > shown:
        body += note(f"{len(flagged) - shown} flagged sample(s) not drawn (limit {cap}, or not re-gated): see the "
                     "table above.")
    return body


def _events_html(data: ReportData) -> str:
    from immunolab.derive.views import active_populations
    from immunolab.report.plots import events_per_sample_figure

    pops = active_populations(data.store)
    if pops.empty:
        return note("No gated flow populations in the store.")
    arms = dict(zip(data.subjects["patient_id"], data.subjects["arm"], strict=True))
    per_sample = qc_tables.events_per_sample(pops, arms)
    low = qc_tables.low_event_samples(per_sample)
    fig = events_per_sample_figure(per_sample, arms=data.arms)
    return (figures([figure(fig, alt="Events per flow sample by visit", caption="Events acquired per flow sample, "
                                                                                 "by visit and arm.")])
            + "<h3>Events per visit</h3>" + table(qc_tables.gating_visit_summary(per_sample))
            + f"<h3>Samples with few events (&lt; {int(100 * qc_tables.LOW_EVENTS_FRACTION)} % of the median)</h3>"
            + table(low, ["sample", "arm", "strategy_id", "total_count", "top_gate", "top_gate_count"])
            + "<h3>Populations per gating strategy</h3>" + table(qc_tables.populations_per_strategy(pops))
            + details("Events per sample", table(per_sample, ["sample", "arm", "strategy_id", "total_count", "top_gate",
                                                              "top_gate_count"])))


def section(data: ReportData) -> Section:
    """Return the flow cytometry section (see the module doc)."""
    from immunolab.report.gating_qc import panel_gating

    smp = data.store.to_pandas("samples", columns=["panel", "assay_kind", "sample_key", "patient_id"])
    panels = sorted(set(smp.loc[(smp["assay_kind"] == "flow") & (smp["sample_key"] == "")
                                & smp["patient_id"].notna(), "panel"].dropna()))
    if not panels:
        return Section("flow", "Flow cytometry", note("No flow cytometry files in the store."))
    body = _events_html(data)
    failures = gating_failures(data)
    if len(failures):
        body += warning(f"Gating failed for {len(failures)} file(s); they have no flow values.") + table(failures)
    body += "<h3>Gating QC</h3>"
    for panel in panels:
        with data.timed("gating QC (re-gating)"):
            pg = panel_gating(data.store, panel, data.naming, regate_files=data.options.gating_figures,
                              jobs=data.options.jobs)
        with data.timed("gating QC (figures)"):
            body += _panel_html(data, pg)
    agreement = cluster_agreement(data)
    body += "<h3>Clusters vs gates</h3>" + (table(agreement) if len(agreement) else note(
        "No clustering stored (run `immunolab derive clusters --panel P` to compare FlowSOM clusters with the gates)."))
    with data.timed("UMAP"):
        body += "<h3>UMAP</h3>" + _umap_section(data.store)
    return Section("flow", "Flow cytometry", body)
