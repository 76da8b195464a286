"""Event AnnData in readfcs/pytometry's layout, checked against readfcs' own reading of the same FCS file.

The store ingests the FACSAria file 100715.fcs (shared data; $SPILL over 13 detectors) with per-event
output; its event AnnData must name channels, markers, ranges and keywords as readfcs does, hold
in ``layers['raw']`` what pytometry's compensation makes of readfcs' events, and go through
pytometry's and scanpy's entry points as it is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import immunolab
from immunolab.anndata_io import events_anndata, write_h5ad
from immunolab.interop import from_flowkit, write_gatingml
from tests.conftest import shared_path
from tests.interop.helpers import flowkit_strategy, one_file_store

readfcs = pytest.importorskip("readfcs")
PHI_KEYWORDS = ("fil", "src", "op", "date", "btim", "etim", "inst", "cd age")


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pytest.importorskip("flowkit")
    tmp = tmp_path_factory.mktemp("events_layout")
    fcs = shared_path("flow", "flowio", "data", "fcs_files", "100715.fcs")
    xml = write_gatingml(from_flowkit(flowkit_strategy(fcs, ("FSC-A", "SSC-A"), "R780-A", "V655-A", "V800-A")),
                         tmp / "gates.xml")
    return fcs, one_file_store(tmp, fcs, sample_id="S-REAL", strategy=str(xml), write_events=True)


@pytest.fixture(scope="module")
def events(real: tuple[Path, Path]):
    return events_anndata(immunolab.open_store(real[1]))


@pytest.fixture(scope="module")
def theirs(real: tuple[Path, Path]):
    return readfcs.read(str(real[0]), reindex=False)


def test_channels_markers_and_ranges_are_named_as_readfcs_names_them(events, theirs) -> None:
    t = theirs.var[theirs.var["channel"] != "Time"]
    assert list(events.var_names) == list(t["channel"]) == list(events.var["channel"])
    assert list(events.var["marker"]) == [str(m).strip() for m in t["marker"]]  # readfcs keeps a blank $PnS as " "
    assert np.array_equal(events.var["range"].to_numpy(), t["PnR"].astype(float).to_numpy())
    assert events.var.loc["R780-A", "marker"] == "CD3" and events.var.loc["R780-A", "signal_type"] == "area"
    assert '"kind": "logicle"' in events.var.loc["R780-A", "transform"]
    assert '"kind": "linear"' in events.var.loc["FSC-A", "transform"]


def test_keywords_sit_in_uns_meta_like_readfcs_but_only_allowlisted_ones(events, theirs) -> None:
    ours, meta = events.uns["meta"], theirs.uns["meta"]
    shared = [k for k in ours if k != "spill"]
    assert {"tot", "par", "p1n", "p4s", "p4r"} <= set(shared)
    assert all(str(meta[k]).strip() == str(ours[k]).strip() for k in shared), [k for k in shared if str(meta[k]) != ours[k]]
    assert not [k for k in PHI_KEYWORDS if k in ours] and any(k in meta for k in PHI_KEYWORDS)
    spill = ours["spill"]
    assert isinstance(spill, pd.DataFrame) and list(spill.columns) == list(meta["spill"].columns)
    assert np.allclose(spill.to_numpy(), meta["spill"].to_numpy())


def test_raw_layer_is_what_readfcs_compensation_makes_of_the_same_events(events, real) -> None:
    # readfcs' own reading and compensation (np.linalg.solve with the file's spill matrix); pytometry
    # 0.1.6's pp.compensate does the same but calls np.in1d, which numpy 2.4 removed
    r = readfcs.ReadFCS(str(real[0]))
    r.compensate()
    theirs = r.data.to_numpy()
    by_channel = {c: i for i, c in enumerate(r.channels["PnN"])}
    rows = events.obs["event_index"].to_numpy()
    expected = theirs[rows][:, [by_channel[c] for c in events.var_names]]
    raw = events.layers["raw"]
    assert raw.shape == (65_016, 16) and raw.dtype == np.float32
    assert np.allclose(raw, expected, rtol=1e-5, atol=1e-2)
    cd3 = list(events.var_names).index("R780-A")
    uncompensated = readfcs.ReadFCS(str(real[0])).data.to_numpy()[rows, by_channel["R780-A"]]
    assert not np.allclose(raw[:, cd3], uncompensated)  # compensation was applied


def test_pytometry_signal_split_and_normalisations_run_on_it_as_is(events) -> None:
    pm = pytest.importorskip("pytometry")
    adata = events[:3000].copy()
    adata.X = adata.layers["raw"].copy()
    pm.pp.split_signal(adata, var_key="channel", option="area")
    assert "FSC-A" in adata.obs and "R780-A" in adata.var_names and "FSC-H" not in adata.var_names
    before = adata.X.copy()
    pm.tl.normalize_arcsinh(adata, cofactor=150)
    assert np.allclose(adata.X, np.arcsinh(before / 150), atol=1e-5)
    biex = events[:3000].copy()
    biex.X = biex.layers["raw"].copy()
    pm.tl.normalize_biexp(biex)
    assert np.isfinite(biex.X).all() and not np.allclose(biex.X, events[:3000].layers["raw"])


def test_scanpy_pca_neighbors_umap_run_on_a_real_size_sample(events, tmp_path: Path) -> None:
    import scanpy as sc

    adata = events[np.random.default_rng(0).choice(events.n_obs, 20_000, replace=False)].copy()
    fluor = adata.var["signal_type"].to_numpy() == "area"
    adata = adata[:, fluor].copy()
    sc.pp.pca(adata, n_comps=10, random_state=0)
    sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
    sc.tl.umap(adata, random_state=0)
    umap = adata.obsm["X_umap"]
    assert umap.shape == (20_000, 2) and np.isfinite(umap).all()
    # the embedding keeps biology apart: CD3-bright and CD3-dim events (top / bottom fifth of the
    # logicle CD3 values) are told apart by their nearest UMAP centroid
    cd3 = np.asarray(adata[:, "R780-A"].X).ravel()
    lo, hi = np.quantile(cd3, [0.2, 0.8])
    bright, dim = umap[cd3 >= hi], umap[cd3 <= lo]
    cb, cdim = bright.mean(axis=0), dim.mean(axis=0)
    right = np.concatenate([np.linalg.norm(bright - cb, axis=1) < np.linalg.norm(bright - cdim, axis=1),
                            np.linalg.norm(dim - cdim, axis=1) < np.linalg.norm(dim - cb, axis=1)])
    assert right.mean() > 0.8, right.mean()
    back = write_h5ad(events[:500].copy(), tmp_path / "events.h5ad")
    import anndata as ad

    again = ad.read_h5ad(back)
    assert list(again.var_names) == list(events.var_names) and "raw" in again.layers
    assert isinstance(again.uns["meta"]["spill"], pd.DataFrame)
