"""scanpy in the product: the summary AnnData plots grouped by arm and visit as is; the panel UMAP figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import immunolab
from immunolab.report.umap import umap_embedding, umap_figure
from tests.analysis.synthetic_store import SynthStudy


@pytest.fixture(scope="module")
def summary(synth: SynthStudy):
    return immunolab.to_anndata(immunolab.open_store(synth.store), kind="summary")


def test_summary_obs_group_by_arm_and_ordered_visit(summary) -> None:
    visits = summary.obs["visit"]
    assert visits.cat.ordered and list(visits.cat.categories) == sorted(visits.cat.categories, key=lambda v: int(v[1:]))
    assert list(summary.obs["arm"].cat.categories) == ["MSC", "control"]
    assert (summary.obs["visit"].astype(str) == "D" + summary.obs["visit_day"].astype(str)).all()


@pytest.mark.parametrize("plot", ["matrixplot", "heatmap"])
def test_scanpy_matrixplot_and_heatmap_work_on_the_summary_as_is(summary, plot: str, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import scanpy as sc

    flow = [v for v in summary.var_names if v.endswith("|pct_parent")]
    out = getattr(sc.pl, plot)(summary, var_names=flow, groupby=["arm", "visit"], show=False)
    assert out is not None
    groups = summary.obs.groupby(["arm", "visit"], observed=True).ngroups
    if plot == "matrixplot":  # one row per arm x visit with data, in visit order within each arm
        mp = sc.pl.matrixplot(summary, var_names=flow, groupby=["arm", "visit"], return_fig=True)
        assert mp.values_df.shape == (groups, len(flow))
        assert str(mp.values_df.index[0]).startswith("MSC_D0")  # arms in order, visits in day order


def test_umap_of_a_panel_is_seeded_sized_and_coloured_by_gate_arm_and_visit(synth: SynthStudy, tmp_path: Path) -> None:
    store = immunolab.open_store(synth.store)
    a = umap_embedding(store, "TBNK", n_events=600, seed=3)
    b = umap_embedding(store, "TBNK", n_events=600, seed=3)
    assert a.n_obs == 600 and np.array_equal(a.obsm["X_umap"], b.obsm["X_umap"])
    assert a.obs["sample_id"].value_counts().tolist() == [200, 200, 200]  # the same share from every sample
    assert a.uns["umap_panel"]["channels"] == ["FITC-A", "PE-A", "APC-A"]  # fluorescence only, not scatter
    fig = umap_figure(store, "TBNK", n_events=600, seed=3)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["by gate", "by arm", "by visit"]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert {t.split(" (")[0] for t in legend} == {"T cells", "B cells", "NK cells"}
    fig.savefig(tmp_path / "umap.png", dpi=60)
    assert (tmp_path / "umap.png").stat().st_size > 10_000
