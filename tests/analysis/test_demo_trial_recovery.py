"""End to end on the demo trial: ingest FCS files and plates, then the comparison must find the
simulated arm x time effects (truth_model.json, truth_cytokine_model.json) and not the nulls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import immunolab
from immunolab.analysis.compare import TREATMENT_FAMILY, ArmComparison, compare_store
from immunolab.ingest import ingest_paths

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_store(demo_trial: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("demo") / "store"
    plates = sorted(p for p in (demo_trial / "plates").iterdir() if p.suffix != ".json" and not p.name.startswith("."))
    events = demo_trial / "clinical" / "events.csv"  # deaths: the AUC exclusions must name them
    report = ingest_paths([demo_trial / "flow", *plates, events], store=store, manifest=demo_trial / "manifest.csv",
                          subjects=demo_trial / "subjects.csv", jobs=2)
    assert report.counts["FAIL"] == 0, [(o.code, o.message) for o in report.outcomes if o.status == "FAIL"]
    return store


@pytest.fixture(scope="module")
def comparison(demo_store: Path) -> ArmComparison:
    return compare_store(immunolab.open_store(demo_store))


def _cytokine_model(trial: Path) -> Path:
    from immunolab.demo.plate_sim import MODEL_FILE

    for name in (MODEL_FILE, MODEL_FILE.lstrip(".")):  # hidden since the plate simulator's last change
        if (trial / "plates" / name).is_file():
            return trial / "plates" / name
    raise AssertionError(f"no cytokine truth model in {trial / 'plates'}")


def _interaction(res: ArmComparison, assay: str) -> dict[str, tuple[float, float]]:
    o = res.omnibus[(res.omnibus["test"] == "arm x visit interaction") & (res.omnibus["assay"] == assay)]
    return {f: (p, q) for f, p, q in zip(o["feature"], o["p"], o["q_bh"], strict=True)}


def test_flow_populations_with_an_arm_x_time_effect_are_found_and_nulls_are_not(
        comparison: ArmComparison, demo_trial: Path) -> None:
    truth = json.loads((demo_trial / "truth_model.json").read_text())["flow_features"]
    got = _interaction(comparison, "flow")
    assert set(truth) <= set(got)
    for feature, t in truth.items():
        p, q = got[feature]
        if t["arm_time_effect"]:
            assert q < 0.05, (feature, p)
        else:
            assert q > 0.05, (feature, p)


def test_cytokines_with_an_arm_effect_are_found_and_nulls_are_not(comparison: ArmComparison, demo_trial: Path) -> None:
    truth = json.loads(_cytokine_model(demo_trial).read_text())["analytes"]
    got = _interaction(comparison, "cytokine")
    tests = comparison.visit_tests
    for analyte, t in truth.items():
        p, q = got[analyte]
        if t["arm_effect"]:
            assert q < 0.05, (analyte, p)
        elif p == p:  # modelled
            assert q > 0.05, (analyte, p)
        else:  # half or more censored: compared by % detectable per post-baseline visit, no false discovery
            fisher = tests[(tests["feature"] == analyte) & (tests["test"] == "Fisher exact")
                           & (tests["family"] == TREATMENT_FAMILY)]
            assert len(fisher) and (fisher["q_bh_feature"] > 0.05).all()


def test_report_and_anndata_build_from_the_demo_store(demo_store: Path, tmp_path: Path) -> None:
    from immunolab.report.html import write_report

    store = immunolab.open_store(demo_store)
    html = write_report(store, tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count("<img ") >= 20 and "trial_panel" in html and "FLEXMAP 3D" in html
    assert "Controls across plates (Levey-Jennings)" in html and "Levey-Jennings chart of Control1" in html
    for name in ("ROE^", "$FIL", ".fcs", ".csv"):
        assert name not in html
    adata = immunolab.to_anndata(store, kind="summary")
    assert adata.n_obs == store.to_pandas("samples")[["patient_id", "visit_day"]].drop_duplicates().shape[0]
    assert "Treg|pct_parent" in adata.var_names and "IL-6|concentration" in adata.var_names


def test_auc_exclusions_count_the_control_patients_who_died_before_day_28(comparison: ArmComparison) -> None:
    """The AUC said "no Day 28 value (4)" where control 003, 013 and 020 had died (events.csv)."""
    a = comparison.auc_tests.set_index(["assay", "feature"]).loc[("flow", "CD4+ T")]
    assert a["excluded_reasons"] == "died before day 28 (3); no Day 28 value (1)"
    assert "informative missingness" in a["method"]
