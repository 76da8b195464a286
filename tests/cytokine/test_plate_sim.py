"""The demo plate simulator: real xPONENT layout, manifest and truth contract, arm effects."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from immunolab_assays.luminex_intelliflex import IntelliflexPlugin
from immunolab_assays.luminex_xponent import XponentPlugin
from immunolab_assays.luminex_xponent.reader import parse_xponent_bytes

from immunolab.demo.plate_sim import ANALYTES, simulate_plates

from .factories import trial_samples


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("sim")
    samples = trial_samples(12)
    manifest, truth = simulate_plates(samples, out, np.random.default_rng(11))
    return out, samples, manifest, truth


def test_manifest_has_plate_rows_and_sample_rows(sim) -> None:
    out, samples, manifest, _truth = sim
    assert list(manifest.columns) == ["file", "sample_id", "patient_id", "visit_day", "specimen", "panel"]
    plates = manifest[manifest["file"].notna()]
    assert plates[["patient_id", "visit_day", "specimen"]].isna().all().all()
    assert list(plates["sample_id"]) == [f"PLATE-{i:02d}" for i in range(1, len(plates) + 1)]
    assert plates["panel"].notna().all()
    assert sorted(p.name for p in out.glob("*.csv")) == sorted(plates["file"])
    rows = manifest[manifest["file"].isna()]
    assert sorted(rows["sample_id"]) == sorted(samples["sample_name"])
    assert set(rows["specimen"]) == {"serum"}
    merged = rows.merge(samples, left_on="sample_id", right_on="sample_name")
    assert (merged["patient_id_x"] == merged["patient_id_y"]).all()
    assert (merged["visit_day_x"].astype(int) == merged["visit_day_y"]).all()


def test_truth_rows_cover_every_sample_and_analyte(sim) -> None:
    _out, samples, _manifest, truth = sim
    assert list(truth.columns) == ["patient_id", "visit_day", "assay", "feature", "measure", "value", "unit"]
    assert len(truth) == len(samples) * len(ANALYTES)
    assert set(truth["assay"]) == {"cytokine"} and set(truth["measure"]) == {"concentration"} and set(truth["unit"]) == {"pg/mL"}
    assert {"IL-6", "IL-10", "TNF-a", "IFN-g", "IL-1b", "IL-8", "MCP-1"} <= set(truth["feature"])
    assert (truth["value"] > 0).all()


def test_arm_effects_are_recorded_and_present_in_the_truth(sim) -> None:
    out, samples, _manifest, truth = sim
    model = json.loads((out / ".truth_cytokine_model.json").read_text())
    effects = {k: v["arm_effect"] for k, v in model["analytes"].items()}
    assert truth.attrs["cytokine_model"]["analytes"] == model["analytes"]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(p.name for p in out.glob("*.csv"))
    assert effects["IL-6"] and effects["TNF-a"] and effects["IFN-g"] and effects["IL-10"]
    assert not all(effects.values())
    t = truth.merge(samples[["patient_id", "arm"]].drop_duplicates(), on="patient_id")
    late = t[t.visit_day.isin([14, 28])]
    gm = late.groupby(["feature", "arm"])["value"].apply(lambda v: float(np.exp(np.log(v).mean()))).unstack()
    assert gm.loc["IL-6", "MSC"] < gm.loc["IL-6", "control"]
    assert gm.loc["IL-10", "MSC"] > gm.loc["IL-10", "control"]


def test_plates_use_the_real_layout_and_are_claimed_by_the_xponent_plugin(sim) -> None:
    out, *_ = sim
    for path in sorted(out.glob("*.csv")):
        data = path.read_bytes()
        assert XponentPlugin().detect(data[:65536], path.name) is not None
        assert IntelliflexPlugin().detect(data[:65536], path.name) is None
        assert data.startswith(b'"Program","xPONENT"') and b"-- CRC --" in data
        plate = parse_xponent_bytes(data, label=path.name)[0]
        assert plate.export_crc == "ok"
        wells = plate.wells.drop_duplicates("well")
        assert len(wells) <= 96
        kinds = wells["sample_type"].value_counts()
        assert kinds["blank"] == 2 and kinds["standard"] == 14 and kinds["control"] == 4
        unknown = wells[wells.sample_type == "unknown"]
        assert (unknown.groupby("sample_name").size() == 2).all()
        assert set(plate.wells["analyte"]) == {m.name for m in ANALYTES}
        counts = plate.wells["bead_count"]
        assert counts.between(20, 100).all() and (counts < 50).any() and counts.median() >= 60
        # whole patients on one plate
        assert plate.quantitative


def test_some_true_values_fall_below_the_lowest_standard(sim) -> None:
    _out, _samples, _manifest, truth = sim
    il1b = truth[truth.feature == "IL-1b"]["value"] / 2.0  # sample dilution 2
    assert (il1b < 2.44140625).mean() > 0.2


def test_same_seed_gives_identical_files(tmp_path) -> None:
    samples = trial_samples(4)
    m1, t1 = simulate_plates(samples, tmp_path / "a", np.random.default_rng(5))
    m2, t2 = simulate_plates(samples, tmp_path / "b", np.random.default_rng(5))
    pd.testing.assert_frame_equal(m1, m2)
    pd.testing.assert_frame_equal(t1, t2)
    for p in (tmp_path / "a").glob("*.csv"):
        assert p.read_bytes() == (tmp_path / "b" / p.name).read_bytes()
