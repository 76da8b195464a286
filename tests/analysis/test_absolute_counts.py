"""Absolute counts: single-platform bead ratio and dual-platform % x lymphocyte count, against hand calculations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from immunolab.analysis.absolute_counts import dual_platform_counts, single_platform_counts
from immunolab.errors import InputError
from immunolab.fcs.reader import read_fcs
from immunolab.flow.gates import Dimension, RectangleGate
from tests.analysis.counting_bead_tube import CHANNELS, write_tube


def _populations(rows: list[tuple[str, str, int]], **extra: object) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["sample_id", "population", "count"])
    return df.assign(patient_id=df["sample_id"].str[:3], visit_day=0, **extra)


def test_single_platform_matches_the_hand_calculation() -> None:
    pops = _populations([("001-D0", "CD4+ T", 4_800), ("001-D0", "Counting beads", 10_000),
                         ("001-D0", "Lymphocytes", 12_000)])
    out = single_platform_counts(pops, beads_per_test=51_234, sample_volume_ul=50).set_index("feature")
    # (4800 / 10000) x (51234 / 50) = 0.48 x 1024.68 = 491.8464
    assert out.loc["CD4+ T", "value"] == pytest.approx(491.8464)
    assert out.loc["Lymphocytes", "value"] == pytest.approx(1.2 * 1024.68)
    assert "Counting beads" not in out.index
    assert set(out["measure"]) == {"cells_per_uL"} and set(out["method"]) == {"single_platform"}
    assert set(out["unit"]) == {"cells/uL"}


def test_bead_count_comes_from_the_row_then_the_kit_lot_then_the_default() -> None:
    pops = pd.concat([
        _populations([("001-D0", "T cells", 1_000), ("001-D0", "Counting beads", 2_000)], lot="L1"),
        _populations([("002-D0", "T cells", 1_000), ("002-D0", "Counting beads", 2_000)], lot="L2"),
        _populations([("003-D0", "T cells", 1_000), ("003-D0", "Counting beads", 2_000)], lot="L9"),
    ])
    pops["beads_per_test"] = [np.nan, np.nan, np.nan, np.nan, 40_000, 40_000]
    lots = pd.DataFrame({"lot": ["L1", "L2"], "beads_per_test": [50_000, 60_000]})
    out = single_platform_counts(pops, kit_lots=lots, beads_per_test=45_000, sample_volume_ul=100)
    assert out["beads_per_test"].tolist() == [50_000, 60_000, 40_000]
    assert out["value"].tolist() == pytest.approx([250.0, 300.0, 200.0])


def test_missing_beads_or_inputs_are_iml_ana_007() -> None:
    no_beads = _populations([("001-D0", "T cells", 1_000)])
    with pytest.raises(InputError) as info:
        single_platform_counts(no_beads, beads_per_test=5e4, sample_volume_ul=50)
    assert info.value.code == "IML-ANA-007" and "001-D0" in info.value.message
    pops = _populations([("001-D0", "T cells", 1_000), ("001-D0", "Counting beads", 2_000)])
    with pytest.raises(InputError) as info:
        single_platform_counts(pops, sample_volume_ul=50)
    assert info.value.code == "IML-ANA-007" and "beads per test" in info.value.message


def _gate_counts(path: Path) -> dict[str, int]:
    data = read_fcs(path)
    assert data.events is not None
    cols = {name: data.events[:, i].astype(float) for i, name in enumerate(CHANNELS)}

    def column(dim: Dimension) -> np.ndarray:
        return cols[dim.channel]

    n = data.n_events
    beads = RectangleGate("Counting beads", (Dimension("BEAD-PE"),), (50_000.0,), (None,)).evaluate(column, n)
    lym = RectangleGate("Lymphocytes", (Dimension("FSC-A"), Dimension("SSC-A")), (20_000.0, 5_000.0),
                        (80_000.0, 25_000.0)).evaluate(column, n) & ~beads
    cd4 = lym & RectangleGate("CD4+ T", (Dimension("CD3-FITC"), Dimension("CD4-APC")), (2_000.0, 2_000.0),
                              (None, None)).evaluate(column, n)
    return {"Counting beads": int(beads.sum()), "Lymphocytes": int(lym.sum()), "CD4+ T": int(cd4.sum())}


def _tube_counts(tmp_path: Path, seed: int, poisson: bool) -> tuple[pd.DataFrame, object]:
    truth = write_tube(tmp_path / f"tube{seed}.fcs", np.random.default_rng(seed), poisson=poisson)
    counts = _gate_counts(tmp_path / f"tube{seed}.fcs")
    pops = _populations([("001-D3", k, v) for k, v in counts.items()])
    out = single_platform_counts(pops, beads_per_test=truth.beads_per_test, sample_volume_ul=truth.sample_volume_ul)
    return out.set_index("feature"), truth


def test_a_generated_tube_with_a_known_bead_ratio_gives_back_its_concentrations(tmp_path: Path) -> None:
    out, truth = _tube_counts(tmp_path, 7, poisson=False)
    assert out.loc["Lymphocytes", "cell_events"] == truth.n_lymphocytes  # type: ignore[attr-defined]
    assert out.loc["Lymphocytes", "bead_events"] == truth.n_beads  # type: ignore[attr-defined]
    assert out.loc["Lymphocytes", "value"] == pytest.approx(truth.lymphocytes_per_ul, rel=1e-3)  # type: ignore[attr-defined]
    assert out.loc["CD4+ T", "value"] == pytest.approx(truth.cd4_per_ul, rel=1e-3)  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_poisson_tubes_are_within_their_counting_error(tmp_path: Path, seed: int) -> None:
    out, truth = _tube_counts(tmp_path, seed, poisson=True)
    for feature, true_value in (("Lymphocytes", truth.lymphocytes_per_ul), ("CD4+ T", truth.cd4_per_ul)):  # type: ignore[attr-defined]
        row = out.loc[feature]
        rel_se = np.sqrt(1 / row["cell_events"] + 1 / row["bead_events"])
        assert abs(row["value"] / true_value - 1) < 4 * rel_se, (feature, row["value"], true_value)


def _clinical(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"patient_id": p, "study_day": d, "test_code": "LYM", "value": v, "unit": "cells/uL"}
                         for p, d, v in rows])


def _flow(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"patient_id": p, "visit_day": d, "sample_id": f"{p}-D{d}", "feature": "CD4+ T",
                          "measure": "pct_lymphocytes", "value": v} for p, d, v in rows])


def test_dual_platform_multiplies_the_percentage_by_the_same_visit_lymphocyte_count() -> None:
    flow = _flow([("001", 0, 35.0), ("001", 3, 40.0), ("002", 6, 20.0), ("003", 10, 30.0)])
    clinical = _clinical([("001", 0, 800.0), ("001", 2, 900.0), ("001", 4, 1000.0), ("002", 6, 1100.0),
                          ("002", 6, 1300.0), ("002", 5, 5000.0), ("003", 12, 700.0)])
    out = dual_platform_counts(flow, clinical).set_index("sample_id")
    assert out.loc["001-D0", "value"] == pytest.approx(0.35 * 800)
    assert out.loc["001-D3", "value"] == pytest.approx(0.40 * 900)  # day 2 and 4 tie: the earlier wins
    assert out.loc["001-D3", "lym_day_offset"] == -1
    assert out.loc["002-D6", "value"] == pytest.approx(0.20 * 1200) and out.loc["002-D6", "n_lym_results"] == 2
    assert np.isnan(out.loc["003-D10", "value"]) and "+-1 day" in out.loc["003-D10", "note"]
    assert set(out["method"]) == {"dual_platform"} and set(out["measure"]) == {"cells_per_uL"}
    wider = dual_platform_counts(flow, clinical, window_days=2).set_index("sample_id")
    assert wider.loc["003-D10", "value"] == pytest.approx(0.30 * 700)


def test_a_day_0_flow_sample_takes_no_lymphocyte_count_from_after_the_day_0_infusion() -> None:
    out = dual_platform_counts(_flow([("001", 0, 35.0), ("002", 0, 20.0)]),
                               _clinical([("001", 1, 800.0), ("002", -1, 900.0)])).set_index("sample_id")
    assert np.isnan(out.loc["001-D0", "value"]) and out.loc["002-D0", "value"] == pytest.approx(0.20 * 900)


def test_dual_platform_refuses_lymphocyte_counts_in_another_unit() -> None:
    clinical = _clinical([("001", 0, 0.8)]).assign(unit="10^9/L")
    with pytest.raises(InputError) as info:
        dual_platform_counts(_flow([("001", 0, 35.0)]), clinical)
    assert info.value.code == "IML-ANA-007" and "10^9/L" in info.value.message
