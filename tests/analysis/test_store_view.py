"""Store-level wrappers: the view reads committed, non-superseded measurements only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import immunolab
from immunolab.analysis.compare import compare_store
from immunolab.analysis.measurements_view import measurements_view
from immunolab.ingest import ingest_paths
from tests.analysis.synthetic_store import SynthStudy, build_store, registered


def test_view_of_a_store_has_flow_and_cytokine_rows_with_lineage(synth: SynthStudy) -> None:
    v = measurements_view(immunolab.open_store(synth.store))
    assert set(v["assay"]) == {"flow", "cytokine"}
    il6 = v[(v["feature"] == "IL-6") & (v["patient_id"] == "001") & (v["visit_day"] == 0)].iloc[0]
    assert il6["lineage_table"] == "cytokine_results" and il6["lineage_key"].startswith("plate-1:IL-6:")
    assert il6["value"] == pytest.approx(
        synth.truth.set_index(["patient_id", "visit_day", "feature"]).loc[("001", 0, "IL-6"), "value"])


def test_compare_store_runs_on_the_store(synth: SynthStudy) -> None:
    res = compare_store(immunolab.open_store(synth.store), features=["Treg"])
    assert list(res.omnibus["feature"].unique()) == ["Treg"]


def test_superseded_plate_values_leave_the_view(tmp_path: Path) -> None:
    gen = registered()
    next(gen)
    try:
        study = build_store(tmp_path / "s", events=False)
        store = immunolab.open_store(study.store)
        old = next(i for i, r in store.committed().items() if r["plugin"] == "synth_plate")
        head, payload = study.plate_file.read_text().split("\n", 1)
        tables = json.loads(payload)
        tables["cytokine_results"]["concentration"] = [None if c is None else c * 10
                                                       for c in tables["cytokine_results"]["concentration"]]
        fixed = tmp_path / "fixed" / study.plate_file.name
        fixed.parent.mkdir()
        fixed.write_text(head + "\n" + json.dumps(tables))
        rep = ingest_paths([fixed], store=study.store, manifest=study.root / "manifest.csv", supersede=old,
                           reason="plate re-read")
        assert rep.outcomes[0].status == "OK"
    finally:
        gen.close()
    v = measurements_view(immunolab.open_store(study.store), features=["IL-6"])
    truth = study.truth.set_index(["patient_id", "visit_day", "feature"])
    assert len(v) == len(study.truth[study.truth["feature"] == "IL-6"])
    assert v["n_duplicates"].eq(0).all()
    row = v[(v["patient_id"] == "001") & (v["visit_day"] == 0)].iloc[0]
    assert row["value"] == pytest.approx(10 * truth.loc[("001", 0, "IL-6"), "value"])
