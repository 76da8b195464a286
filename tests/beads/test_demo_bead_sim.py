"""The demo's bead-array run: FCS wells + manifest + truth, and classification + curve engine recover the truth."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from immunolab.beads import WellRole, bead_plate, bead_plate_settings, classify_fcs_file, load_kit
from immunolab.cytokine.assemble import PlateAnalysis, analyse_plate
from immunolab.demo.bead_sim import BEAD_MANIFEST_COLUMNS, KIT_ID, simulate_bead_run
from immunolab.demo.cohort import draw_subjects, draw_visits, serum_samples


def _samples(n_patients: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    subjects = draw_subjects(rng)
    samples = serum_samples(draw_visits(rng, subjects))
    keep = sorted(samples["patient_id"].unique())[:n_patients]
    return samples[samples["patient_id"].isin(keep)].reset_index(drop=True)


@lru_cache(maxsize=1)
def _run(tmp: str) -> tuple[pd.DataFrame, pd.DataFrame, PlateAnalysis]:
    samples = _samples()
    known = pd.DataFrame({"patient_id": samples["patient_id"], "visit_day": samples["visit_day"],
                          "feature": "IL-6", "value": 777.0})
    manifest, truth = simulate_bead_run(samples, Path(tmp), np.random.default_rng(3), known=known)
    kit = load_kit(KIT_ID)
    wells = [classify_fcs_file(str(Path(tmp) / f), kit) for f in manifest["file"]]
    roles = [
        WellRole.standard(int(r.standard_level), replicate=int(r.replicate), well=r.well) if r.role == "standard"
        else WellRole.sample(r.aliquot_of, dilution=float(r.dilution), replicate=int(r.replicate), well=r.well)
        for r in manifest.itertuples()
    ]
    analysis = analyse_plate(bead_plate(wells, roles, kit), plate_id="demo-beads", settings=bead_plate_settings(kit))
    return manifest, truth, analysis


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame, PlateAnalysis]:
    return _run(str(tmp_path_factory.mktemp("bead_run")))


def test_the_run_is_a_plate_of_duplicate_standards_and_samples_with_a_manifest_row_per_well(run) -> None:  # type: ignore[no-untyped-def]
    manifest, truth, _ = run
    assert list(manifest.columns) == BEAD_MANIFEST_COLUMNS
    std = manifest[manifest["role"] == "standard"]
    assert sorted(std["standard_level"].tolist()) == sorted(list(range(8)) * 2)
    smp = manifest[manifest["role"] == "sample"]
    assert (smp.groupby("aliquot_of").size() == 2).all() and set(smp["dilution"]) == {2.0}
    assert manifest["sample_id"].is_unique  # each well its own manifest row; replicates share aliquot_of
    assert manifest["well"].is_unique and manifest["file"].str.fullmatch(r"LP-INFL-R01-[A-H]\d+\.fcs").all()
    assert set(smp["specimen"]) == {"serum"} and set(manifest["assay"]) == {"bead_array"}
    assert len(truth) == smp["aliquot_of"].nunique() * 13


def test_known_serum_values_are_kept_so_one_sample_has_one_il6_on_every_platform(run) -> None:  # type: ignore[no-untyped-def]
    _, truth, _ = run
    assert set(truth.loc[truth["feature"] == "IL-6", "value"]) == {777.0}


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    samples = _samples(1)
    m1, _ = simulate_bead_run(samples, tmp_path / "a", np.random.default_rng(9))
    m2, _ = simulate_bead_run(samples, tmp_path / "b", np.random.default_rng(9))
    assert m1.equals(m2)
    for name in m1["file"].iloc[[0, -1]]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_classification_and_the_curve_engine_recover_the_known_concentrations(run) -> None:  # type: ignore[no-untyped-def]
    manifest, truth, analysis = run
    assert analysis.status == "pass"
    keys = manifest[manifest["role"] == "sample"][["aliquot_of", "patient_id", "visit_day"]].drop_duplicates()
    expected = truth.merge(keys.astype({"visit_day": int}), on=["patient_id", "visit_day"])
    got = analysis.results.merge(expected, left_on=["_sample_ref", "analyte"], right_on=["aliquot_of", "feature"])
    assert len(got) == len(expected)
    quantified = got[got["censor"] == "none"]
    error = (quantified["concentration"] / quantified["value"] - 1).abs()
    assert len(quantified) >= 0.5 * len(got)
    assert error.median() < 0.03 and error.max() < 0.10
    below = got[got["censor"] == "below_lloq"]
    assert (below["value"] / 2.0 < below["lloq"] * 1.3).all(), "only samples near or under the LLOQ are censored"
