"""Flow population features in ``measurements``: one per gate path, never two gates averaged as replicates."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

import immunolab
from immunolab.fcs.writer import write_fcs
from immunolab.flow.gates import Dimension, RectangleGate
from immunolab.flow.populations import unique_population_names
from immunolab.flow.strategy import GateNode, Strategy
from immunolab.ingest import ingest_paths
from immunolab.interop import write_gatingml
from tests.conftest import shared_path


def test_gates_sharing_a_name_get_the_shortest_tail_of_their_path_that_tells_them_apart() -> None:
    names = unique_population_names(["/Lymphocytes", "/Monocytes/Lymphocytes", "/Monocytes", "/A/X/CD4+",
                                      "/B/X/CD4+", "/A/CD8+", "/A/X"])
    assert names == {"/Lymphocytes": "Lymphocytes", "/Monocytes/Lymphocytes": "Monocytes/Lymphocytes",
                     "/Monocytes": "Monocytes", "/A/X/CD4+": "A/X/CD4+", "/B/X/CD4+": "B/X/CD4+",
                     "/A/CD8+": "CD8+", "/A/X": "X"}
    assert len(set(names.values())) == len(names)


def _features(store: Path) -> dict[tuple[str, str], tuple[float, int, str]]:
    m = immunolab.open_store(store).to_pandas("measurements")
    m = m[m["assay"] == "flow"]
    return {(f, ms): (v, n, k) for f, ms, v, n, k in
            zip(m["feature"], m["measure"], m["value"], m["n_replicates"], m["lineage_key"], strict=True)}


def test_two_gates_of_one_strategy_with_the_same_name_are_two_features_not_replicates(tmp_path: Path) -> None:
    events = np.random.default_rng(5).uniform(0, 1000, size=(4_000, 2)).astype("f4")
    fcs = write_fcs(tmp_path / "t.fcs", events, ["FSC-A", "SSC-A"])
    fsc, ssc = Dimension("FSC-A"), Dimension("SSC-A")
    nodes = (GateNode("/", RectangleGate("A", (fsc,), (None,), (700.0,))),
             GateNode("/", RectangleGate("B", (fsc,), (300.0,), (None,))),
             GateNode("/A", RectangleGate("CD4+", (ssc,), (None,), (500.0,))),
             GateNode("/B", RectangleGate("CD4+", (ssc,), (100.0,), (None,))))
    xml = write_gatingml(Strategy("dup", nodes), tmp_path / "dup.xml")
    manifest = tmp_path / "m.csv"
    with manifest.open("w", newline="") as fh:
        csv.writer(fh).writerows([["file", "sample_id", "patient_id", "visit_day", "specimen", "panel"],
                                  ["t.fcs", "S1", "001", 0, "PBMC", "P"]])
    subjects = tmp_path / "s.csv"
    subjects.write_text("patient_id,arm,age,sex\n001,MSC,40,F\n")
    rep = ingest_paths([fcs], store=tmp_path / "store", manifest=manifest, subjects=subjects, strategy=str(xml))
    assert rep.counts["OK"] == 1, [o.message for o in rep.outcomes]
    pops = immunolab.open_store(tmp_path / "store").to_pandas("flow_populations").set_index("gate_path")
    feats = _features(tmp_path / "store")
    assert not any(k[0] == "CD4+" for k in feats)
    for path, name in (("/A/CD4+", "A/CD4+"), ("/B/CD4+", "B/CD4+"), ("/A", "A")):
        value, n, key = feats[(name, "count")]
        assert (value, n) == (pops.loc[path, "count"], 1) and key.endswith(":" + path)
    assert feats[("A/CD4+", "count")][0] != feats[("B/CD4+", "count")][0]


def test_flowjo_tutorial_lymphocytes_and_monocytes_lymphocytes_stay_apart(tmp_path: Path) -> None:
    folder = shared_path("flow", "flowjo_tutorial")
    fcs = folder / "931115-C01- Sample 02.fcs"
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"file,sample_id,patient_id,visit_day,specimen,panel\n{fcs.name},FJ-C01,005,0,PBMC,T01\n")
    subjects = tmp_path / "s.csv"
    subjects.write_text("patient_id,arm,age,sex\n005,MSC,40,F\n")
    rep = ingest_paths([fcs], store=tmp_path / "store", manifest=manifest, subjects=subjects,
                       strategy=str(folder / "advanced-v7.6.5.wsp"))
    assert rep.counts["OK"] == 1, [o.message for o in rep.outcomes]
    assert any("under 50 events (Monocytes/Lymphocytes)" in w for w in rep.outcomes[0].warnings)
    feats = _features(tmp_path / "store")
    assert feats[("Lymphocytes", "count")][:2] == (7759, 1)
    assert feats[("Monocytes/Lymphocytes", "count")][:2] == (0, 1)
    assert feats[("Lymphocytes", "pct_parent")][0] == 77.59
    adata = immunolab.to_anndata(immunolab.open_store(tmp_path / "store"), kind="summary")
    var = adata.var.set_index("feature")
    assert var.loc["Monocytes/Lymphocytes"].query("measure == 'pct_parent'")["gate_path"].item() == "/Monocytes/Lymphocytes"
    col = [i for i, (f, ms) in enumerate(zip(adata.var["feature"], adata.var["measure"], strict=True))
           if f == "Lymphocytes" and ms == "pct_parent"]
    assert len(col) == 1 and float(adata.X[0, col[0]]) == 77.59
