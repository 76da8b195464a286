"""Absolute counts in the store's measurements: single platform from a gated tube, dual platform from clinical LYM.

The single-platform tube comes from :mod:`tests.analysis.counting_bead_tube` (its own channels
and constants, not the demo generator's): known lymphocyte and T-cell concentrations, counting
beads per test and sample volume given in the manifest, gated by a lab's own template.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import immunolab
from immunolab.ingest import ingest_paths
from tests.analysis.counting_bead_tube import write_tube

TEMPLATE = """\
name: trucount_tube
version: 1
lymphocytes: Lymphocytes
transforms:
  scatter: {kind: linear, t: auto, a: 0}
  fluorescence: {kind: logicle, t: auto, w: 0.72, m: 4.5, a: 0}
populations:
  - {name: Counting beads, parent: root, channels: [BEAD-PE], method: mindensity, arguments: {positive: true}}
  - {name: Cells, parent: root, channels: [BEAD-PE], method: mindensity, arguments: {positive: false}}
  - {name: Lymphocytes, parent: Cells, channels: [FSC-A, SSC-A], method: lowest_cluster}
  - {name: T cells, parent: Lymphocytes, channels: [CD3-FITC], method: mindensity}
"""
SUBJECTS = "patient_id,arm,site,age,sex,day0_date\n001,MSC,S1,50,M,2020-03-02\n002,control,S1,60,F,2020-03-09\n"


@pytest.fixture
def study(tmp_path: Path) -> dict[str, object]:
    rng = np.random.default_rng(20)
    truths = {}
    inbox = tmp_path / "in"
    inbox.mkdir()
    for name, lym, share in (("t1.fcs", 1500.0, 0.45), ("t2.fcs", 650.0, 0.3)):
        truths[name] = write_tube(inbox / name, rng, lymphocytes_per_ul=lym, cd4_fraction=share,
                                  beads_per_test=48_250.0, sample_volume_ul=50.0)
    (tmp_path / "subjects.csv").write_text(SUBJECTS)
    (tmp_path / "manifest.csv").write_text(
        "file,sample_id,patient_id,visit_day,specimen,panel,beads_per_test,sample_volume_ul,bead_lot\n"
        "t1.fcs,001-D000-TC,001,0,whole blood,TRUCOUNT,48250,50,L-7731\n"
        "t2.fcs,002-D000-TC,002,0,whole blood,TRUCOUNT,48250,50,L-7731\n")
    (tmp_path / "tube.yaml").write_text(TEMPLATE)
    return {"root": tmp_path, "truths": truths}


def _ingest(study: dict[str, object], *paths: Path) -> None:
    root = study["root"]
    assert isinstance(root, Path)
    report = ingest_paths(paths or [root / "in"], store=root / "store", manifest=root / "manifest.csv",
                          subjects=root / "subjects.csv", strategy=str(root / "tube.yaml"))
    assert {o.status for o in report.outcomes} == {"OK"}, [(o.code, o.message) for o in report.outcomes]


def test_single_platform_counts_recover_the_tubes_concentrations(study: dict[str, object]) -> None:
    _ingest(study)
    store = immunolab.open_store(Path(str(study["root"])) / "store")
    m = store.to_pandas("measurements")
    counts = m[m["measure"] == "cells_per_uL"].set_index(["sample_id", "feature"])
    assert set(counts["method"]) == {"single_platform"} and set(counts["unit"]) == {"cells/uL"}
    truths = study["truths"]
    assert isinstance(truths, dict)
    for sample, name in (("001-D000-TC", "t1.fcs"), ("002-D000-TC", "t2.fcs")):
        truth = truths[name]
        lym = counts.loc[(sample, "Lymphocytes"), "value"]
        t = counts.loc[(sample, "T cells"), "value"]
        # Poisson counting error of ~1 % on each count; the gates themselves lose < 0.5 %
        assert lym == pytest.approx(truth.lymphocytes_per_ul, rel=0.03)
        assert t == pytest.approx(truth.cd4_per_ul, rel=0.04)
        ev = m[(m["sample_id"] == sample) & (m["measure"] == "count")].set_index("feature")["value"]
        assert lym == pytest.approx(ev["Lymphocytes"] / ev["Counting beads"] * 48_250 / 50, rel=1e-12)  # the formula
    assert ("001-D000-TC", "Counting beads") not in counts.index
    attrs = store.to_pandas("samples").set_index("sample_id")["attributes_json"].map(json.loads)
    assert attrs["001-D000-TC"] == {"bead_lot": "L-7731", "beads_per_test": 48250.0, "sample_volume_ul": 50.0}


def test_without_the_bead_inputs_a_lymphocyte_count_in_the_visit_window_gives_dual_platform_counts(
        study: dict[str, object]) -> None:
    root = Path(str(study["root"]))
    manifest = pd.read_csv(root / "manifest.csv", dtype=str)
    manifest[["beads_per_test", "sample_volume_ul"]] = ""
    manifest.to_csv(root / "manifest.csv", index=False)
    pd.DataFrame([{"patient_id": "001", "study_day": -1, "test": "Lymphocyte count", "value": 1.8, "unit": "10^9/L"},
                  {"patient_id": "002", "study_day": 5, "test": "Lymphocyte count", "value": 0.9, "unit": "10^9/L"}]
                 ).to_csv(root / "in" / "labs.csv", index=False)
    _ingest(study)
    m = immunolab.open_store(root / "store").to_pandas("measurements")
    counts = m[m["measure"] == "cells_per_uL"]
    assert set(counts["method"]) == {"dual_platform"}
    assert set(counts["patient_id"]) == {"001"}  # 002's count (day 5) is outside the Day 0 window (Day -1 to 0): no count
    pct = m[(m["sample_id"] == "001-D000-TC") & (m["measure"] == "pct_lymphocytes")].set_index("feature")["value"]
    got = counts[counts["sample_id"] == "001-D000-TC"].set_index("feature")["value"]
    assert got["T cells"] == pytest.approx(pct["T cells"] / 100 * 1800.0)


def test_a_bead_count_that_is_not_a_number_is_a_manifest_problem(study: dict[str, object]) -> None:
    root = Path(str(study["root"]))
    text = (root / "manifest.csv").read_text().replace("48250,50,L-7731\nt2", "about 48k,50,L-7731\nt2")
    (root / "manifest.csv").write_text(text)
    report = ingest_paths([root / "in" / "t1.fcs"], store=root / "store", manifest=root / "manifest.csv",
                          subjects=root / "subjects.csv", strategy=str(root / "tube.yaml"))
    (outcome,) = report.outcomes
    assert outcome.status == "FAIL" and outcome.code == "IML-ID-007" and "beads_per_test" in outcome.message
