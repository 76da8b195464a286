"""UMAP of a panel's events across all samples (scanpy), coloured by gate, arm and visit.

:func:`umap_embedding` draws a fixed-size subsample of events, the same share from every sample
(seeded), and runs scanpy's ``pp.pca`` -> ``pp.neighbors`` -> ``tl.umap`` on the fluorescence
channels of the events AnnData (display scale, as gated); :func:`umap_figure` draws it in three
panels. The same store, panel, size and seed give the same picture. scanpy and matplotlib are
imported inside the functions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.figure import Figure

    from immunolab.store.read import Store

__all__ = ["COLOUR_BY", "umap_embedding", "umap_figure"]

#: obs columns the figure colours by, with their panel titles
COLOUR_BY = (("population", "gate"), ("arm", "arm"), ("visit", "visit"))


def _panel_events(store: Store, panel: str, n_events: int, seed: int) -> AnnData:
    from immunolab.anndata_io import events_anndata
    from immunolab.errors import InputError

    smp = store.to_pandas("samples")
    smp = smp[(smp["sample_key"] == "") & (smp["panel"].fillna("").str.casefold() == panel.casefold())]
    if "flow_events" in store.table_versions:  # only samples with stored events share the subsample
        with_events = set(store.to_pandas("flow_events", columns=["source_sha256"])["source_sha256"].unique())
        smp = smp[smp["source_sha256"].isin(with_events)]
    ids = sorted(smp["sample_id"].astype(str))
    if not ids:
        raise InputError("IML-ANA-004", f"no current FCS file of panel {panel!r} has per-event data",
                         hint="Ingest (or re-gate) the panel with --events; check the panel name "
                         "(`immunolab store info --per-visit`).")
    per = max(1, math.ceil(n_events / len(ids)))
    return events_anndata(store, samples=ids, max_events_per_sample=per, seed=seed, raw=False)


def umap_embedding(source: Store | AnnData, panel: str, *, n_events: int = 20_000, seed: int = 0,
                   n_neighbors: int = 15) -> AnnData:
    """Return a subsample of ``n_events`` events (at most) of ``panel`` with ``obsm['X_umap']``.

    ``source`` is a store (the panel's current samples, active gating) or an events AnnData
    (used as it is; ``panel`` is then a title only). Fluorescence channels are those whose
    ``var['signal_type']`` is ``area`` (scatter and height channels are left out).
    """
    import scanpy as sc
    from anndata import AnnData as _AnnData

    adata = source if isinstance(source, _AnnData) else _panel_events(source, panel, n_events, seed)
    if adata.n_obs > n_events:
        keep = np.sort(np.random.default_rng(seed).choice(adata.n_obs, n_events, replace=False))
        adata = adata[keep]
    area = adata.var["signal_type"].to_numpy() == "area" if "signal_type" in adata.var else np.ones(adata.n_vars, bool)
    sub = adata[:, area].copy() if area.sum() >= 2 else adata.copy()
    sub.X = np.nan_to_num(np.asarray(sub.X, dtype=np.float32))
    sc.pp.pca(sub, n_comps=max(1, min(10, sub.n_vars - 1, sub.n_obs - 1)), random_state=seed)
    sc.pp.neighbors(sub, n_neighbors=min(n_neighbors, sub.n_obs - 1), random_state=seed)
    sc.tl.umap(sub, random_state=seed)
    sub.uns["umap_panel"] = {"panel": panel, "n_events": int(sub.n_obs), "seed": int(seed),
                             "channels": [str(v) for v in sub.var_names]}
    return sub


def _scatter(ax: Any, xy: np.ndarray, labels: np.ndarray, title: str) -> None:
    from matplotlib import colormaps

    cats = sorted({str(v) for v in labels}, key=lambda v: (len(v), v) if v.startswith("D") else (0, v))
    cmap = colormaps["tab20"]
    for k, cat in enumerate(cats):
        m = labels.astype(str) == cat
        ax.scatter(xy[m, 0], xy[m, 1], s=2, alpha=0.6, color=cmap(k % 20), label=f"{cat} ({int(m.sum()):,})",
                   rasterized=True)
    ax.set_title(f"by {title}")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=6, markerscale=4, frameon=False)


def umap_figure(source: Store | AnnData, panel: str, n_events: int = 20_000, seed: int = 0) -> Figure:
    """Return a figure of the panel's UMAP in three panels: coloured by gate, by arm and by visit."""
    from matplotlib.figure import Figure as _Figure

    emb = umap_embedding(source, panel, n_events=n_events, seed=seed)
    xy = np.asarray(emb.obsm["X_umap"])
    fig = _Figure(figsize=(15, 4.5), layout="constrained")
    axes = fig.subplots(1, len(COLOUR_BY))
    for ax, (column, title) in zip(axes, COLOUR_BY, strict=True):
        labels = emb.obs[column].astype(str).to_numpy() if column in emb.obs else np.full(emb.n_obs, "n/a")
        _scatter(ax, xy, labels, title)
    fig.suptitle(f"{panel}: UMAP of {emb.n_obs:,} events (seed {seed}; {', '.join(emb.var_names)})")
    return fig
