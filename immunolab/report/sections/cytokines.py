"""Cytokines: instrument vs refit, plate QC, controls across plates, and bead-array run QC figures.

Plates are named by the lab's plate code everywhere (never the internal plate id). Shown: the
refit-vs-instrument comparison per plate and analyte (:mod:`immunolab.report.refit`) as a table
and a heatmap; the plate QC of the active derivation (:func:`immunolab.report.qc.plate_qc_table`);
the QC checks that did not pass (:func:`immunolab.derive.qc.qc_frame`, plate scope); Levey-Jennings
charts of the controls when at least 3 plates have them; reading flags per plate; and per
bead-array run the standard curves and well classification (:mod:`immunolab.report.bead_runs`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from immunolab.report import qc as qc_tables
from immunolab.report.fmt import Section, details, esc, figure, figures, note, table

if TYPE_CHECKING:
    from immunolab.report.context import ReportData

__all__ = ["plate_checks", "section"]


def plate_checks(data: ReportData) -> pd.DataFrame:
    """Return the plate QC checks that warn or fail, by plate code, analyte and check."""
    from immunolab.derive.qc import qc_frame

    q = qc_frame(data.store)
    q = q[(q["scope"] == "plate") & (q["status"] != "pass")]
    if q.empty:
        return q
    return pd.DataFrame({"plate": [data.naming.scrub(t) for t in q["target"]], "analyte": q["analyte"],
                         "check": q["check"], "status": q["status"], "detail": [data.naming.scrub(d) for d in q["detail"]],
                         "derivation": q["derivation_id"]}).sort_values(["plate", "status", "analyte"], kind="stable")


def _refit_html(data: ReportData) -> str:
    from immunolab.report.refit import instrument_vs_refit, refit_heatmap

    t = instrument_vs_refit(data.store, data.naming)
    if t.empty:
        return note("No plate has both the instrument's results and a refit.")
    shown = t.rename(columns={"n_compared": "samples compared", "median_abs_rel_diff_pct": "median |rel. diff| %",
                              "max_abs_rel_diff_pct": "max |rel. diff| %", "median_rel_diff_pct": "median rel. diff %",
                              "n_censoring_differs": "censored by one only"})
    return (figures([figure(refit_heatmap(t), alt="Median relative difference of refit and instrument per analyte "
                                                  "and plate",
                            caption="Median |refit - instrument| / instrument (%) over the samples both quantified.")])
            + details(f"Refit vs instrument per plate and analyte ({len(t)} rows)", table(shown), open_=True)
            + "<p class='meta'>Relative difference = (refit - instrument) / instrument x 100 over plate samples "
              "quantified (not censored, &gt; 0) by both derivations; 'censored by one only' counts samples "
              "one derivation put outside its range and the other did not.</p>")


def _plate_qc_html(data: ReportData) -> str:
    from immunolab.cytokine.qc import levey_jennings
    from immunolab.derive.runs import is_run
    from immunolab.derive.views import active_plates
    from immunolab.report.plots import levey_jennings_figure

    plates = active_plates(data.store).drop_duplicates("plate_id")
    wells = data.store.to_pandas("cytokine_wells", columns=["plate_id", "well", "reader_flags"]).rename(
        columns={"reader_flags": "qc_flags"})
    # a bead-array run is one file per well: its wells are counted over the run's files, not from one file's row
    n_wells = wells.groupby("plate_id")["well"].nunique()
    shown = plates.assign(n_wells=[int(n_wells.get(p, w)) if is_run(p) else w for p, w in
                                   zip(plates["plate_id"], plates["n_wells"], strict=True)],
                          plate_id=[data.naming.plate(p) for p in plates["plate_id"]])
    wells = wells.assign(plate_id=[data.naming.plate(p) for p in wells["plate_id"]])
    body = (table(qc_tables.plate_qc_table(shown).rename(columns={"plate_id": "plate"}))
            + "<h3>Checks that did not pass</h3>" + table(plate_checks(data), empty="every plate check passed"))
    lj = levey_jennings(shown)
    if not lj.empty and lj["plate_id"].nunique() >= 3:
        figs = [figure(levey_jennings_figure(lj, control=str(c)), alt=f"Levey-Jennings chart of {c}",
                       caption=f"{c}: z-score of each analyte per plate; dashed +-2 SD, dotted +-3 SD; red circles: "
                               "Westgard rule violations.") for c in sorted(lj["control"].dropna().unique())]
        n_bad = int((lj["westgard"].astype(str).str.len() > 0).sum())
        body += ("<h3>Controls across plates (Levey-Jennings)</h3>" + figures(figs)
                 + f"<p class='meta'>{n_bad} control value(s) violate a Westgard rule.</p>")
    body += "<h3>Reading flags per plate</h3>" + table(qc_tables.well_flag_table(wells).rename(
        columns={"plate_id": "plate"}), empty="no reading carries a flag")
    return body


def _bead_runs_html(data: ReportData) -> str:
    from immunolab.derive.runs import is_run
    from immunolab.derive.views import active_plates
    from immunolab.report.bead_runs import run_figures

    plates = active_plates(data.store).drop_duplicates("plate_id")
    runs = plates[[is_run(p) for p in plates["plate_id"]]]
    body = ""
    for rec in runs.sort_values("plate_code").to_dict("records"):
        did = rec.get("derivation_id") if isinstance(rec.get("derivation_id"), str) else None
        rf = run_figures(data.store, str(rec["plate_id"]), did, data.naming)
        body += f"<h4>Run {esc(rf.code)}</h4>" + "".join(note(n) for n in rf.notes)
        body += figures([figure(f, alt=c, caption=c, dpi=70) for c, f in rf.wells])
        body += details(f"Standard curves of run {rf.code} ({len(rf.curves)} analytes)",
                        figures([figure(f, alt=c, caption=c, dpi=70) for c, f in rf.curves]), open_=True)
    return ("<h3>Bead-array runs</h3>" + body) if body else ""


def section(data: ReportData) -> Section:
    """Return the cytokine section (see the module doc)."""
    n = data.store.to_pandas("cytokine_plates", columns=["plate_id"])["plate_id"].nunique()
    if n == 0:
        return Section("cytokines", "Cytokines", note("No cytokine plates in the store."))
    body = ("<h3>Instrument vs refit</h3>" + _refit_html(data)
            + "<h3>Plate QC (active derivation)</h3>" + _plate_qc_html(data))
    with data.timed("bead-array run figures"):
        body += _bead_runs_html(data)
    return Section("cytokines", "Cytokines", body)
