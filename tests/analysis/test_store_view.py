"""Store-level wrappers: the view reads committed, non-superseded measurements only."""

from __future__ import annotations

from pathlib import Path

import pytest

import immunolab
from immunolab.analysis.compare import compare_store
from immunolab.analysis.measurements_view import measurements_view
from tests.analysis.synthetic_store import SynthStudy, build_store


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
    store = immunolab.open_store(synth.store)
    assert res.settings["store_version"] == store.version and res.settings["immunolab_version"] == immunolab.__version__


def test_an_excluded_plate_leaves_the_view_and_is_counted(tmp_path: Path) -> None:
    from immunolab.derive.decisions import decide

    study = build_store(tmp_path / "s", events=False)
    store = immunolab.open_store(study.store)
    n_il6 = len(measurements_view(store, features=["IL-6"]))
    assert n_il6 == len(study.truth[study.truth["feature"] == "IL-6"].dropna(subset=["value"])) or n_il6 > 0
    decide(store, action="exclude", kind="plate", target="PLATE-1", analyte="IL-6", reason="IL-6 standards degraded")
    v = measurements_view(immunolab.open_store(study.store), features=["IL-6", "IL-10"])
    assert "IL-6" not in set(v["feature"]) and "IL-10" in set(v["feature"])
    assert v.attrs["n_excluded"] == n_il6
    from immunolab.analysis.compare import compare_store

    res = compare_store(immunolab.open_store(study.store))  # compare says it, as the report does
    assert res.settings["qc_excluded_values"] == n_il6


def test_compare_counts_only_the_excluded_values_of_the_features_it_compares(tmp_path: Path) -> None:
    """Comparing IL-10 left out no value: the excluded IL-6 values are of a feature not compared."""
    import json

    from click.testing import CliRunner

    from immunolab.cli import main
    from immunolab.derive.decisions import decide

    study = build_store(tmp_path / "s", events=False)
    store = immunolab.open_store(study.store)
    n_il6 = len(measurements_view(store, features=["IL-6"]))
    decide(store, action="exclude", kind="plate", target="PLATE-1", analyte="IL-6", reason="IL-6 standards degraded")
    res = compare_store(immunolab.open_store(study.store), features=["IL-10", "Treg"])
    assert res.settings["qc_excluded_values"] == 0
    r = CliRunner().invoke(main, ["compare", "--store", str(study.store), "--out", str(tmp_path / "c"), "--no-plots",
                                  "--features", "IL-10", "--features", "Treg"])
    assert r.exit_code == 0, r.output
    assert "excluded by QC decisions" not in r.output
    assert json.loads((tmp_path / "c" / "settings.json").read_text())["qc_excluded_values"] == 0
    r = CliRunner().invoke(main, ["compare", "--store", str(study.store), "--out", str(tmp_path / "all"), "--no-plots"])
    assert r.exit_code == 0 and f"{n_il6} value(s) excluded by QC decisions are left out" in r.output, r.output
