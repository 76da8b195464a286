"""The demo trial generator: cohort, files, truth, determinism and the CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from immunolab.demo import trial as trial_mod
from immunolab.demo.cohort import VISIT_DAYS
from immunolab.demo.flow_sim import (
    FLUOROCHROMES,
    SPILLOVER,
    SampleSpec,
    channel_names,
    simulate_events,
)
from immunolab.demo.trial import (
    ALL_MANIFEST_COLUMNS,
    MANIFEST_COLUMNS,
    TRUTH_COLUMNS,
    generate_trial,
    is_complete,
)
from immunolab.fcs.reader import read_fcs
from immunolab.flow.compensation import SpilloverMatrix, compensate_columns
from tests.demo.trial_fixture import demo_trial  # noqa: F401  (session fixture)

POPULATIONS = {
    "Lymphocytes", "Singlets", "CD45+", "T cells", "CD4+ T", "CD8+ T", "B cells", "NK cells",
    "Treg", "HLA-DR+ CD4 T", "HLA-DR+ CD8 T",
}
TYPICAL = {
    "lymphocyte_share": 0.15, "t_share": 0.6, "cd4_share": 0.5, "b_share_non_t": 0.3,
    "nk_share_non_t_non_b": 0.7, "treg_share_cd4": 0.06, "hladr_share_cd4": 0.1, "hladr_share_cd8": 0.25,
}


def _quiet(_msg: str) -> None:
    return None


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _flow_manifest(root: Path) -> pd.DataFrame:
    manifest = pd.read_csv(root / "manifest.csv", dtype=str, keep_default_na=False)
    return manifest[manifest["panel"] == "TBNK-Treg"]


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        generate_trial(out, seed=11, n_events=1500, n_patients=4, plates=False, log=_quiet)
    assert _digests(a) == _digests(b)
    assert any(name.endswith(".fcs") for name in _digests(a))


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    generate_trial(tmp_path / "a", seed=11, n_events=1500, n_patients=4, plates=False, log=_quiet)
    generate_trial(tmp_path / "b", seed=12, n_events=1500, n_patients=4, plates=False, log=_quiet)
    assert (tmp_path / "a" / "truth.csv").read_bytes() != (tmp_path / "b" / "truth.csv").read_bytes()


def test_patient_ids_are_zero_padded_strings_in_every_csv(demo_trial: Path) -> None:  # noqa: F811
    subjects_text = (demo_trial / "subjects.csv").read_text().splitlines()
    assert subjects_text[1].startswith("001,")
    subjects = pd.read_csv(demo_trial / "subjects.csv", dtype=str)
    assert list(subjects["patient_id"]) == [f"{i:03d}" for i in range(1, 21)]
    manifest = _flow_manifest(demo_trial)
    assert manifest["patient_id"].str.fullmatch(r"\d{3}").all()
    truth = pd.read_csv(demo_trial / "truth.csv", dtype={"patient_id": str})
    assert truth["patient_id"].str.fullmatch(r"\d{3}").all()


def test_cohort_has_ten_patients_per_arm_aged_18_to_70(demo_trial: Path) -> None:  # noqa: F811
    subjects = pd.read_csv(demo_trial / "subjects.csv", dtype={"patient_id": str})
    assert list(subjects.columns) == ["patient_id", "arm", "site", "age", "sex", "day0_date", "severity"]
    assert set(subjects["severity"]) <= {"WHO4", "WHO5", "WHO6"}  # baseline WHO ordinal score, a covariate
    assert subjects["arm"].value_counts().to_dict() == {"MSC": 10, "control": 10}
    assert subjects["age"].between(18, 70).all()
    assert set(subjects["sex"]) <= {"M", "F"}
    assert pd.to_datetime(subjects["day0_date"], format="%Y-%m-%d").notna().all()


def test_visits_are_protocol_days_with_a_few_missed_but_every_day_0(demo_trial: Path) -> None:  # noqa: F811
    manifest = _flow_manifest(demo_trial)
    days = manifest["visit_day"].astype(int)
    assert set(days) <= set(VISIT_DAYS)
    n_missed = 20 * len(VISIT_DAYS) - len(manifest)
    assert 1 <= n_missed <= 25
    assert (manifest[days == 0]["patient_id"].nunique()) == 20


def test_manifest_lists_each_fcs_file_once_with_its_sample_id(demo_trial: Path) -> None:  # noqa: F811
    manifest = pd.read_csv(demo_trial / "manifest.csv", dtype=str, keep_default_na=False)
    assert list(manifest.columns) == ALL_MANIFEST_COLUMNS  # the flow/plate columns, then the bead-well ones
    assert list(manifest.columns[: len(MANIFEST_COLUMNS)]) == MANIFEST_COLUMNS
    flow = _flow_manifest(demo_trial)
    on_disk = sorted(p.name for p in (demo_trial / "flow").glob("*.fcs"))
    assert sorted(flow["file"]) == on_disk
    assert flow["file"].is_unique
    for row in flow.to_dict("records"):
        code = "WB" if row["specimen"] == "whole blood" else "PB"
        assert row["sample_id"] == f"{row['patient_id']}-D{int(row['visit_day']):03d}-{code}"
    assert set(flow["specimen"]) == {"whole blood", "PBMC"}


def test_fcs_files_carry_the_panel_spillover_and_planted_identifying_keywords(demo_trial: Path) -> None:  # noqa: F811
    row = _flow_manifest(demo_trial).iloc[5]
    data = read_fcs(demo_trial / "flow" / row["file"])
    pnn, pns = channel_names()
    assert data.version == "3.1"
    assert data.pnn == pnn
    assert [c.pns for c in data.channels][3:12] == pns[3:12]
    assert {"CD45", "CD3", "CD4", "CD8", "CD19", "CD56", "CD25", "CD127", "HLA-DR"} == {p for p in pns if p}
    spill = data.spillover()
    assert spill is not None and list(spill.channels) == [f for f, _ in FLUOROCHROMES]
    np.testing.assert_array_equal(spill.matrix, SPILLOVER)
    kw = data.keywords
    subjects = pd.read_csv(demo_trial / "subjects.csv", dtype=str).set_index("patient_id")
    day0 = dt.date.fromisoformat(subjects.loc[row["patient_id"], "day0_date"])
    acquired = day0 + dt.timedelta(days=int(row["visit_day"]))
    months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    assert kw["$DATE"] == f"{acquired.day:02d}-{months[acquired.month - 1]}-{acquired.year}"
    assert kw["$CYT"] == "LSRFortessa"
    assert "^" in kw["$SRC"] and kw["$OP"] and kw["$FIL"].endswith(".fcs")
    assert kw["$BTIM"] < kw["$ETIM"]
    assert 20_000 <= data.n_events <= 50_000


def test_scatter_is_linear_full_range_and_time_increases(demo_trial: Path) -> None:  # noqa: F811
    row = _flow_manifest(demo_trial).iloc[0]
    data = read_fcs(demo_trial / "flow" / row["file"])
    events = data.preprocessed()
    scatter = events[:, :3]
    assert scatter.min() >= 0 and scatter.max() < 262144
    assert np.all(np.diff(events[:, -1]) >= 0)


def test_compensation_with_the_file_spillover_gives_negatives_near_zero_and_bright_positives() -> None:
    spec = SampleSpec.from_proportions(20000, "PBMC", TYPICAL)
    sample = simulate_events(spec, np.random.default_rng(3))
    pnn, _ = channel_names()
    spill = SpilloverMatrix(tuple(f for f, _ in FLUOROCHROMES), SPILLOVER)
    comp = compensate_columns(sample.raw, pnn, spill)
    lymph = sample.kind == 2
    b_cells = lymph & (sample.lineage == 1)
    cd19 = comp["BV605-A"]
    negatives = cd19[lymph & ~b_cells]
    assert abs(np.median(negatives)) < 100
    assert (negatives < 0).mean() > 0.2
    assert 1e3 < np.median(cd19[b_cells]) < 1e5
    # bright HLA-DR (BV510) on B cells spills into BV605 until compensation removes it
    raw_cd19 = sample.raw[:, pnn.index("BV605-A")]
    assert np.median(raw_cd19[b_cells] - cd19[b_cells]) > 100


def test_truth_holds_every_population_for_every_flow_file(demo_trial: Path) -> None:  # noqa: F811
    truth = pd.read_csv(demo_trial / "truth.csv", dtype={"patient_id": str})
    assert list(truth.columns) == TRUTH_COLUMNS
    flow = truth[truth["assay"] == "flow"]
    n_files = len(_flow_manifest(demo_trial))
    pct = flow[flow["measure"] == "pct_parent"]
    assert set(pct["feature"]) == POPULATIONS
    assert len(pct) == n_files * len(POPULATIONS)
    assert pct["value"].between(0, 100).all()
    assert (flow["unit"] == "%").all()
    lymph_rel = flow[flow["measure"] == "pct_lymphocytes"]
    assert len(lymph_rel) == n_files * (len(POPULATIONS) - 1)


def test_truth_model_names_arm_time_effects_and_null_features(demo_trial: Path) -> None:  # noqa: F811
    model = json.loads((demo_trial / "truth_model.json").read_text())
    features = model["flow_features"]
    assert set(features) == POPULATIONS
    for name in ("Lymphocytes", "CD4+ T", "Treg", "HLA-DR+ CD4 T", "HLA-DR+ CD8 T"):
        assert features[name]["arm_time_effect"] is True
    for name in ("B cells", "NK cells", "T cells", "Singlets", "CD45+"):
        assert features[name]["null_arm"] is True
    assert model["parameters"]["lymphocyte_share"]["tau_days"]["MSC"] < model["parameters"]["lymphocyte_share"]["tau_days"]["control"]


def test_truth_follows_the_model_directions_between_arms(demo_trial: Path) -> None:  # noqa: F811
    truth = pd.read_csv(demo_trial / "truth.csv", dtype={"patient_id": str})
    subjects = pd.read_csv(demo_trial / "subjects.csv", dtype={"patient_id": str})
    pct = truth[(truth["assay"] == "flow") & (truth["measure"] == "pct_parent")].merge(subjects[["patient_id", "arm"]])
    base = pct[pct["visit_day"] == 0][["patient_id", "feature", "value"]].rename(columns={"value": "day0"})
    early = pct[pct["visit_day"].isin([6, 10, 14])].merge(base)
    change = (early["value"] - early["day0"]).groupby([early["feature"], early["arm"]]).mean().unstack()
    msc_minus_control = change["MSC"] - change["control"]
    for recovers in ("Lymphocytes", "CD4+ T", "Treg"):
        assert msc_minus_control[recovers] > 1.0
    for falls in ("HLA-DR+ CD4 T", "HLA-DR+ CD8 T"):
        assert msc_minus_control[falls] < -1.0


def test_if_absent_skips_a_complete_trial_and_regenerates_on_other_parameters(tmp_path: Path) -> None:
    out = tmp_path / "t"
    generate_trial(out, seed=5, n_events=1000, n_patients=2, plates=False, log=_quiet)
    assert is_complete(out, seed=5, n_events=1000)
    assert not is_complete(out, seed=6, n_events=1000)
    before = (out / "truth.csv").stat().st_mtime_ns
    summary = generate_trial(out, seed=5, n_events=1000, n_patients=2, plates=False, if_absent=True, log=_quiet)
    assert summary.skipped and (out / "truth.csv").stat().st_mtime_ns == before
    next(iter((out / "flow").glob("*.fcs"))).unlink()
    assert not is_complete(out, seed=5, n_events=1000)
    summary = generate_trial(out, seed=5, n_events=1000, n_patients=2, plates=False, if_absent=True, log=_quiet)
    assert not summary.skipped and is_complete(out, seed=5, n_events=1000)


def test_regenerating_with_another_seed_removes_stale_fcs_files(tmp_path: Path) -> None:
    out = tmp_path / "t"
    generate_trial(out, seed=5, n_events=800, n_patients=4, plates=False, log=_quiet)
    generate_trial(out, seed=9, n_events=800, n_patients=4, plates=False, log=_quiet)
    manifest = _flow_manifest(out)
    assert sorted(manifest["file"]) == sorted(p.name for p in (out / "flow").glob("*.fcs"))


def test_big_option_writes_large_files_with_their_own_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert trial_mod.BIG_EVENTS == 1_000_000
    monkeypatch.setattr(trial_mod, "BIG_EVENTS", 6000)  # the plumbing, not the disk space
    out = tmp_path / "t"
    generate_trial(out, seed=5, n_events=800, n_patients=2, plates=False, big_events=True, big_count=2, log=_quiet)
    big = pd.read_csv(out / "flow_big" / "manifest.csv", dtype=str)
    assert len(big) == 2 and big["file"].str.endswith("_1M.fcs").all()
    assert read_fcs(out / "flow_big" / big["file"].iloc[0]).n_events == 6000
    assert (out / "flow_big" / "truth.csv").is_file()
    main_manifest = _flow_manifest(out)
    assert not main_manifest["file"].str.endswith("_1M.fcs").any()


def test_plates_are_skipped_with_a_note_when_the_plate_simulator_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trial_mod, "_PLATE_MODULE", "immunolab.demo.no_such_plate_module")
    notes: list[str] = []
    summary = generate_trial(tmp_path / "t", seed=5, n_events=800, n_patients=2, log=notes.append)
    assert summary.n_plate_files == 0
    assert any("plates skipped" in n for n in notes)


def test_plate_rows_are_appended_when_the_plate_simulator_exists(demo_trial: Path) -> None:  # noqa: F811
    import importlib.util

    if importlib.util.find_spec("immunolab.demo.plate_sim") is None:
        pytest.skip("immunolab.demo.plate_sim not available")
    manifest = pd.read_csv(demo_trial / "manifest.csv", dtype=str, keep_default_na=False)
    plate_files = [f for f in manifest["file"] if f and not f.endswith(".fcs")]
    assert plate_files and all((demo_trial / "plates" / f).is_file() for f in plate_files)
    truth = pd.read_csv(demo_trial / "truth.csv", dtype={"patient_id": str})
    assert (truth["assay"] != "flow").any()


def test_cli_writes_the_trial_into_out(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_cli", Path(__file__).resolve().parents[2] / "sample_data" / "generate.py")
    assert spec is not None and spec.loader is not None
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out = tmp_path / "cli"
    assert cli.main(["--out", str(out), "--seed", "3", "--events", "700", "--no-plates"]) == 0
    assert (out / "generation.json").is_file()
    assert read_fcs(next(iter((out / "flow").glob("*.fcs")))).n_events == 700
    assert cli.main(["--out", str(out), "--seed", "3", "--events", "700", "--no-plates", "--if-absent"]) == 0


def test_the_trial_has_a_bead_run_and_clinical_files_consistent_with_its_cohort(demo_trial: Path) -> None:  # noqa: F811
    manifest = pd.read_csv(demo_trial / "manifest.csv", dtype=str, keep_default_na=False)
    beads = manifest[manifest["assay"] == "bead_array"]
    assert sorted(beads["file"]) == sorted(p.name for p in (demo_trial / "beads").glob("*.fcs"))
    samples = beads[beads["role"] == "sample"]
    serum_ids = set(manifest.loc[(manifest["file"] == "") & (manifest["specimen"] == "serum"), "sample_id"])
    assert set(samples["aliquot_of"]) <= serum_ids  # every bead well holds an aliquot of a listed serum sample
    subjects = pd.read_csv(demo_trial / "subjects.csv", dtype=str)
    labs = pd.read_csv(demo_trial / "clinical" / "hospital_labs.csv", dtype=str)
    events = pd.read_csv(demo_trial / "clinical" / "events.csv", dtype={"patient_id": str})
    assert set(labs["patient_id"]) == set(subjects["patient_id"]) == set(events["patient_id"])
    deaths = events[events["event"] == "death"]
    last_visit = manifest[manifest["patient_id"] != ""].assign(d=lambda m: m["visit_day"].astype(int)).groupby("patient_id")["d"].max()
    assert all(day > last_visit[p] for p, day in zip(deaths["patient_id"], deaths["study_day"], strict=True))
