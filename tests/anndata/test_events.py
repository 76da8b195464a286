"""Events AnnData: events x channels with population and sample, ready for scanpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import immunolab
from immunolab.anndata_io import events_anndata, write_h5ad
from immunolab.errors import InputError
from tests.analysis.synthetic_store import CHANNELS, SynthStudy, build_store, registered


@pytest.fixture(scope="module")
def events(synth: SynthStudy):
    return immunolab.to_anndata(str(synth.store), kind="events")


def test_events_have_channels_population_and_sample(events) -> None:
    assert events.n_obs == 900 and list(events.var_names) == list(CHANNELS)  # $PnN, as readfcs
    assert list(events.var["channel"]) == list(CHANNELS)
    assert events.X.dtype == np.float32
    assert set(events.obs["population"].cat.categories) == {"T cells", "B cells", "NK cells"}
    assert events.obs["sample"].iloc[0] == "001|D0" and list(events.obs["visit"].cat.categories) == ["D0"]
    assert events.obs["patient_id"].iloc[0] == "001" and events.obs["arm"].iloc[0] == "MSC"
    assert events.var.loc["FITC-A", "marker"] == "CD3" and events.var.loc["FITC-A", "signal_type"] == "area"
    assert events.var.loc["FSC-A", "signal_type"] == "other" and events.var.loc["FITC-A", "range"] == 262144.0
    assert events.uns["immunolab"]["kind"] == "events"


def test_a_store_without_raw_files_has_no_raw_layer_and_says_so(events, synth: SynthStudy) -> None:
    from immunolab.errors import StoreError

    assert "raw" not in events.layers and "no raw layer" in events.uns["immunolab"]["raw_layer"]
    with pytest.raises(StoreError) as err:  # asked for explicitly, the missing vault file is an error
        events_anndata(immunolab.open_store(synth.store), raw=True)
    assert err.value.code == "IML-STORE-004"


def test_one_sample_can_be_selected_by_visit_name_and_subsampled(synth: SynthStudy) -> None:
    store = immunolab.open_store(synth.store)
    one = events_anndata(store, samples=["002|D0"], max_events_per_sample=50, seed=1)
    assert one.n_obs == 50 and set(one.obs["sample_id"]) == {"002-D000-FLOW"}
    again = events_anndata(store, samples=["002-D000-FLOW"], max_events_per_sample=50, seed=1)
    assert list(again.obs_names) == list(one.obs_names)


def test_a_store_without_events_is_rejected_with_iml_ana_004(tmp_path: Path) -> None:
    gen = registered()
    next(gen)
    try:
        study = build_store(tmp_path / "noevents", events=False)
    finally:
        gen.close()
    with pytest.raises(InputError) as err:
        immunolab.to_anndata(study.store, kind="events")
    assert err.value.code == "IML-ANA-004" and "--events" in (err.value.hint or "")


@pytest.mark.slow
def test_scanpy_pca_neighbors_umap_and_plot_run_on_the_events(events, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import scanpy as sc

    adata = events.copy()
    sc.pp.pca(adata, n_comps=4)
    sc.pp.neighbors(adata, n_neighbors=10)
    sc.tl.umap(adata, random_state=0)
    ax = sc.pl.umap(adata, color="population", show=False)
    assert adata.obsm["X_umap"].shape == (900, 2) and ax is not None
    # clusters separate: each population's UMAP centroid is nearer its own events than the others'
    umap = adata.obsm["X_umap"]
    pops = adata.obs["population"].to_numpy()
    centroids = {p: umap[pops == p].mean(axis=0) for p in set(pops)}
    nearest = [min(centroids, key=lambda c: np.linalg.norm(u - centroids[c])) for u in umap]
    assert np.mean(np.asarray(nearest) == pops) > 0.95
    write_h5ad(adata, tmp_path / "events.h5ad")


def test_events_of_another_gating_are_named_in_the_error_and_exported_with_gating(synth: SynthStudy) -> None:
    store = immunolab.open_store(synth.store)
    # a filtered scan may leave out the filter's column (it is read, filtered on, then dropped)
    stored = store.scan("flow_events", where={"source_sha256": [store.scan("flow_events", columns=["source_sha256"])
                                                                 .column(0)[0].as_py()]}, columns=["derivation_id"])
    assert stored.column_names == ["derivation_id"] and stored.num_rows > 0
    derivation = stored.column(0)[0].as_py()
    with pytest.raises(InputError) as err:
        events_anndata(store, strategy_id="not-a-derivation")
    assert err.value.code == "IML-ANA-004" and derivation in (err.value.hint or "")
    assert "--gating" in (err.value.hint or "")
    again = events_anndata(store, strategy_id=derivation)
    assert again.n_obs == 900


def test_gate_membership_in_obsm_reproduces_the_stored_counts_of_overlapping_gates(demo_trial: Path,
                                                                                     tmp_path: Path) -> None:
    import anndata as ad

    from immunolab.ingest import ingest_paths

    files = [demo_trial / "flow" / "001-D000-PB_TBNK-Treg.fcs"]
    rows = [ln for ln in (demo_trial / "manifest.csv").read_text().splitlines() if ln.startswith(files[0].name + ",")]
    header = (demo_trial / "manifest.csv").read_text().splitlines()[0]
    (tmp_path / "m.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    rep = ingest_paths(files, store=tmp_path / "s", manifest=tmp_path / "m.csv", subjects=demo_trial / "subjects.csv",
                       write_events=True)
    assert rep.counts["OK"] == 1, [o.message for o in rep.outcomes]
    store = immunolab.open_store(tmp_path / "s")
    write_h5ad(events_anndata(store), tmp_path / "ev.h5ad")
    back = ad.read_h5ad(tmp_path / "ev.h5ad")
    paths = list(back.uns["gate_paths"])
    counts = store.to_pandas("flow_populations").set_index("gate_path")["count"]
    assert sorted(paths) == sorted(counts.index)
    assert back.obsm["gates"].dtype == bool
    assert dict(zip(paths, back.obsm["gates"].sum(axis=0).tolist(), strict=True)) == counts.to_dict()
    cd4 = back.obsm["gates"][:, paths.index("/Lymphocytes/Singlets/CD45+/T cells/CD4+ T")]
    cd8 = back.obsm["gates"][:, paths.index("/Lymphocytes/Singlets/CD45+/T cells/CD8+ T")]
    assert (cd4 & cd8).any()  # CD4+CD8+ events are in both gates, though labelled with one population
    assert "obsm['gates']" in back.uns["immunolab"]["population"]


def test_events_stored_without_gate_membership_have_no_gates_matrix_and_say_so(events) -> None:
    assert "gates" not in events.obsm and "derive gating --events" in events.uns["immunolab"]["gates"]


def test_derive_gating_with_events_adds_them_to_a_file_gated_without_them(demo_trial: Path, tmp_path: Path) -> None:
    """The note says to re-gate with `derive gating --events`, but a file gated OK was skipped: nothing was added."""
    from immunolab.derive.run import derive_gating
    from immunolab.ingest import ingest_paths

    files = [demo_trial / "flow" / "001-D000-PB_TBNK-Treg.fcs"]
    rows = [ln for ln in (demo_trial / "manifest.csv").read_text().splitlines() if ln.startswith(files[0].name + ",")]
    header = (demo_trial / "manifest.csv").read_text().splitlines()[0]
    (tmp_path / "m.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    rep = ingest_paths(files, store=tmp_path / "s", manifest=tmp_path / "m.csv", subjects=demo_trial / "subjects.csv")
    assert rep.counts["OK"] == 1
    store = immunolab.open_store(tmp_path / "s")
    before = store.to_pandas("flow_populations")
    assert store.to_pandas("flow_event_gates").empty
    out = derive_gating(store, panel="TBNK-Treg", strategy=None, write_events=True)
    assert out.computed == 1 and out.store_version is not None
    store = immunolab.open_store(tmp_path / "s")
    assert len(store.to_pandas("flow_populations")) == len(before)  # gating rows are not stored twice
    ev = events_anndata(store)
    paths = list(ev.uns["gate_paths"])
    assert dict(zip(paths, ev.obsm["gates"].sum(axis=0).tolist(), strict=True)) == before.set_index("gate_path")["count"].to_dict()
    again = derive_gating(immunolab.open_store(tmp_path / "s"), panel="TBNK-Treg", strategy=None, write_events=True)
    assert again.computed == 0 and again.reused == 1
