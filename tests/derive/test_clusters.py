"""``derive clusters``: FlowSOM beside the active gating of a panel, stored as measurements and an agreement table.

FlowSOM itself is the FlowSOM authors' package and its recovery of expert populations is tested
on the FlowCAP-I files (tests/flow/test_clusters.py); here: the wiring through the store.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import immunolab
from immunolab.cli import main
from immunolab.derive.clusters import derive_clusters
from immunolab.errors import InputError
from tests.derive.test_reanalysis import store  # noqa: F401  (fixture: the committed demo tubes + a plate)


def test_clusters_are_stored_per_file_reach_measurements_and_agree_with_the_main_gates(store: Path) -> None:  # noqa: F811
    s = immunolab.open_store(store)
    rep = derive_clusters(s, panel="TBNK-Treg", n_metaclusters=8, events_per_file=3000, seed=5)
    assert rep.files == 2 and rep.events == 6000 and not rep.failed
    assert {"CD3", "CD4", "CD8", "CD19", "CD56"} <= set(rep.markers)
    s = immunolab.open_store(store)
    clusters = s.to_pandas("flow_clusters")
    per_file = clusters.groupby("source_sha256")["pct_parent"].sum()
    assert np.allclose(per_file.to_numpy(), 100.0) and clusters["metacluster"].nunique() == 8
    assert clusters["cluster"].str.match(r"^MC0[1-8] (CD\w+[+-])+").all()  # named by marker profile
    m = s.to_pandas("measurements")
    mc = m[m["assay"] == "flow_clusters"]
    assert len(mc) == len(clusters) and set(mc["measure"]) == {"pct_parent"} and set(mc["derivation_id"]) == {rep.derivation_id}
    agreement = s.to_pandas("flow_cluster_agreement").set_index("population")
    assert agreement.loc["T cells", "f_measure"] > 0.8 and agreement.loc["B cells", "f_measure"] > 0.6
    assert 0 < rep.mean_f <= 1 and agreement["mean_f"].iloc[0] == pytest.approx(rep.mean_f)
    assert s.versions()[-1].kind == "derive" and "clusters" in s.versions()[-1].summary
    # each row is the whole gate, as its count means it: T cells hold their CD4+ and CD8+ T events
    events = agreement["events"]
    assert events["T cells"] >= events["CD4+ T"] + events["CD8+ T"] - events["T cells"] // 10
    assert events["CD4+ T"] >= events["Treg"] + events["HLA-DR+ CD4 T"] // 2 and events["Singlets"] <= rep.events
    assert "Lymphocytes" not in events.index  # the clustered population itself: every event, not scored


def test_a_whole_gate_is_scored_against_the_metaclusters_lying_mostly_inside_it() -> None:
    from immunolab.flow.clusters import whole_gate_agreement

    meta = np.array([0] * 40 + [1] * 40 + [2] * 20)
    cd4 = np.array([True] * 38 + [False] * 62)
    cd8 = np.array([False] * 40 + [True] * 40 + [False] * 20)
    treg = np.array([True] * 3 + [False] * 97)
    rows, _ = whole_gate_agreement({"T cells": cd4 | cd8, "CD4+ T": cd4, "Treg": treg}, meta,
                                   cluster_labels={0: "MC01 CD4+", 1: "MC02 CD8+", 2: "MC03 CD19+"})
    by = {r.population: r for r in rows}
    assert by["T cells"].events == 78 and by["T cells"].cluster_label == "MC01 + MC02"
    assert by["T cells"].precision == pytest.approx(78 / 80) and by["T cells"].recall == 1.0
    assert by["CD4+ T"].cluster_label == "MC01 CD4+" and by["CD4+ T"].metacluster == 0
    assert by["Treg"].cluster_label == "MC01 CD4+" and by["Treg"].precision == pytest.approx(3 / 40)


def test_the_same_settings_give_the_same_clustering_and_new_settings_replace_it_in_the_measurements(store: Path) -> None:  # noqa: F811
    s = immunolab.open_store(store)
    first = derive_clusters(s, panel="TBNK-Treg", n_metaclusters=6, events_per_file=2000, seed=2)
    again = derive_clusters(immunolab.open_store(store), panel="TBNK-Treg", n_metaclusters=6, events_per_file=2000, seed=2)
    assert first.derivation_id == again.derivation_id
    s = immunolab.open_store(store)
    rows = s.to_pandas("flow_clusters").assign(v=lambda d: d["commit_id"].map(s.commit_version))
    a = rows[rows["v"] == rows["v"].min()].sort_values(["source_sha256", "metacluster"])["pct_parent"]
    b = rows[rows["v"] == rows["v"].max()].sort_values(["source_sha256", "metacluster"])["pct_parent"]
    assert np.allclose(a.to_numpy(), b.to_numpy())  # seeded: identical shares
    other = derive_clusters(immunolab.open_store(store), panel="TBNK-Treg", n_metaclusters=9, events_per_file=2000, seed=2)
    m = immunolab.open_store(store).to_pandas("measurements")
    assert set(m.loc[m["assay"] == "flow_clusters", "derivation_id"]) == {other.derivation_id}
    listed = CliRunner().invoke(main, ["derive", "list", "--store", str(store), "--json"])
    assert listed.exit_code == 0, listed.output
    clusterings = {r["derivation_id"]: r for r in json.loads(listed.output) if r["kind"] == "clusters"}
    assert set(clusterings) >= {first.derivation_id, other.derivation_id}  # derive list shows clusterings too
    assert clusterings[other.derivation_id]["active"] and not clusterings[first.derivation_id]["active"]
    assert clusterings[other.derivation_id]["what"].startswith("FlowSOM 9 metaclusters")


def test_an_unknown_panel_is_a_coded_error(store: Path) -> None:  # noqa: F811
    with pytest.raises(InputError) as exc:
        derive_clusters(immunolab.open_store(store), panel="NO-SUCH-PANEL")
    assert exc.value.code == "IML-DER-001" and "TBNK-Treg" in (exc.value.hint or "")


def test_stored_events_get_their_metacluster_in_the_event_anndata(tmp_path: Path) -> None:
    from immunolab.anndata_io import events_anndata
    from immunolab.ingest import ingest_paths
    from tests.derive.test_reanalysis import SAMPLE, TUBES

    files = [SAMPLE / "flow" / t for t in TUBES]
    if not all(f.exists() for f in files):
        pytest.skip("demo files not generated (run `make demo` or sample_data/generate.py)")
    ingest_paths(files, store=tmp_path / "s", manifest=SAMPLE / "manifest.csv", subjects=SAMPLE / "subjects.csv",
                 write_events=True)
    rep = derive_clusters(immunolab.open_store(tmp_path / "s"), panel="TBNK-Treg", n_metaclusters=6,
                          events_per_file=3000, seed=4)
    s = immunolab.open_store(tmp_path / "s")
    per_event = s.to_pandas("flow_event_clusters")
    assert len(per_event) == s.table("flow_events", columns=["event_index"]).num_rows
    adata = events_anndata(s)
    assert "metacluster" in adata.obs and adata.obs["metacluster"].str.startswith("MC0").all()
    # every stored event of the parent gate (lymphocytes) has a metacluster; the shares over all of a
    # file's lymphocytes match those measured on its 3,000 sampled events within sampling error
    shares = s.to_pandas("flow_clusters")
    sha_of = s.to_pandas("samples").drop_duplicates("sample_id").set_index("sample_id")["source_sha256"]
    obs = adata.obs.assign(sha=sha_of.reindex(adata.obs["sample_id"]).to_numpy())
    for sha, g in shares.groupby("source_sha256"):
        mine = obs[obs["sha"] == sha]
        for cluster, pct in zip(g["cluster"], g["pct_parent"], strict=True):
            if pct < 5:
                continue  # rare metaclusters: too few sampled events for a tight comparison
            lymph = mine[mine["population"] != "ungated"]  # the template's lymphocyte gate is its root population
            share = 100 * (lymph["metacluster"] == cluster).mean()
            assert abs(share - pct) < 3.0, (cluster, share, pct)
    assert rep.files == 2
