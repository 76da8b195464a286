"""Compare the instrument's concentrations with immunolab's refit, per plate and analyte.

For every plate holding both the ``instrument`` derivation and a refit (``fit-<hash>``), each
plate sample x analyte present in both is compared when both values are quantified (censor
``none``) and positive: relative difference = (refit - instrument) / instrument x 100 (%). Per
plate, derivation and analyte: samples compared, median and maximum absolute relative difference,
median signed difference (bias), and how many samples one derivation censored and the other did
not. Only the latest computation of a derivation per plate counts (as for the active curves).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from immunolab.report.naming import Naming
    from immunolab.store.read import Store

__all__ = ["REFIT_COLUMNS", "instrument_vs_refit", "refit_heatmap"]

REFIT_COLUMNS = ["plate", "refit", "analyte", "n_compared", "median_abs_rel_diff_pct", "max_abs_rel_diff_pct",
                 "median_rel_diff_pct", "n_censoring_differs"]


def _latest(store: Store, res: pd.DataFrame) -> pd.DataFrame:
    v = res["commit_id"].map(store.commit_version).fillna(0)
    return res[v == v.groupby([res["plate_id"], res["derivation_id"]]).transform("max")]


def instrument_vs_refit(store: Store, naming: Naming) -> pd.DataFrame:
    """Return one row per plate x refit x analyte (see the module doc); plates are named by code."""
    from immunolab.derive.curves import INSTRUMENT

    res = store.to_pandas("cytokine_results", columns=["commit_id", "plate_id", "derivation_id", "sample_key",
                                                       "analyte", "concentration", "censor"])
    if res.empty:
        return pd.DataFrame(columns=REFIT_COLUMNS)
    res = _latest(store, res)
    inst = res[res["derivation_id"] == INSTRUMENT]
    refits = res[res["derivation_id"].str.startswith("fit-")]
    both = refits.merge(inst, on=["plate_id", "sample_key", "analyte"], suffixes=("_refit", "_instrument"))
    if both.empty:
        return pd.DataFrame(columns=REFIT_COLUMNS)
    rows = []
    for (plate, did, analyte), g in both.groupby(["plate_id", "derivation_id_refit", "analyte"], sort=True):
        ok = ((g["censor_refit"] == "none") & (g["censor_instrument"] == "none")
              & (g["concentration_refit"] > 0) & (g["concentration_instrument"] > 0))
        rel = (100.0 * (g.loc[ok, "concentration_refit"] - g.loc[ok, "concentration_instrument"])
               / g.loc[ok, "concentration_instrument"]).to_numpy(dtype=float)
        rel = rel[np.isfinite(rel)]
        rows.append({
            "plate": naming.plate(plate), "refit": did, "analyte": analyte, "n_compared": int(rel.size),
            "median_abs_rel_diff_pct": float(np.median(np.abs(rel))) if rel.size else np.nan,
            "max_abs_rel_diff_pct": float(np.max(np.abs(rel))) if rel.size else np.nan,
            "median_rel_diff_pct": float(np.median(rel)) if rel.size else np.nan,
            "n_censoring_differs": int((g["censor_refit"] != g["censor_instrument"]).sum()),
        })
    return pd.DataFrame(rows, columns=REFIT_COLUMNS).sort_values(["plate", "refit", "analyte"], kind="stable")


def refit_heatmap(table: pd.DataFrame) -> Figure:
    """Return a heatmap of the median absolute relative difference (%) per analyte (rows) and plate (columns)."""
    from immunolab.plotting import pyplot

    plt = pyplot()
    t = table.assign(col=table["plate"] + "\n" + table["refit"])
    wide = t.pivot_table(index="analyte", columns="col", values="median_abs_rel_diff_pct", aggfunc="first")
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * wide.shape[1], 0.9 + 0.3 * wide.shape[0]), dpi=100,
                           layout="constrained")
    vals = wide.to_numpy(dtype=float)
    im = ax.imshow(vals, cmap="Oranges", vmin=0, vmax=max(10.0, float(np.nanmax(vals)) if np.isfinite(vals).any()
                                                          else 10.0), aspect="auto")
    for (i, j), v in np.ndenumerate(vals):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(wide.shape[1]))
    ax.set_xticklabels(list(wide.columns), fontsize=7)
    ax.set_yticks(range(wide.shape[0]))
    ax.set_yticklabels(list(wide.index), fontsize=7)
    fig.colorbar(im, ax=ax, label="median |refit - instrument| / instrument (%)", shrink=0.8)
    ax.set_title("Refit vs instrument concentrations", fontsize=9)
    return fig
