"""Every xPONENT version's section layouts are read; standards are checked to be a dilution series."""

from __future__ import annotations

import pytest
from immunolab_assays.luminex_xponent.reader import parse_xponent_bytes

from immunolab.cytokine.standards import check_series
from immunolab.errors import InputError
from tests.cytokine.factories_versions import (
    LEVELS,
    RATIO,
    TOP,
    xponent_3_1_reagent_tables,
    xponent_4_2_flexmap3d,
)

SERIES = {lvl: TOP / RATIO ** (lvl - 1) for lvl in range(1, LEVELS + 1)}


def _expected_by_level(plate_wells: object) -> dict[int, float]:
    import pandas as pd

    assert isinstance(plate_wells, pd.DataFrame)
    std = plate_wells[(plate_wells["sample_type"] == "standard") & (plate_wells["analyte"] == "IL-6")]
    return {int(k): float(v) for k, v in std.groupby("standard_level")["expected_conc"].first().items()}


def test_xponent_3_1_reagent_tables_give_standards_and_control_ranges() -> None:
    plate = parse_xponent_bytes(xponent_3_1_reagent_tables(), label="lx200.csv")[0]
    assert plate.layout == "xponent_reagent_tables" and plate.warnings == []
    assert _expected_by_level(plate.wells) == pytest.approx({k: round(v, 3) for k, v in SERIES.items()}, rel=1e-9)
    assert plate.control_ranges[("Control1", "IL-6")] == pytest.approx((35.0, 65.0))
    assert plate.control_ranges[("Control2", "TNF-a")] == pytest.approx((3.5, 6.5))
    assert plate.instrument_curves == {}  # 3.1 prints the analysis type but no coefficients


def test_xponent_3_1_lost_decimal_separators_are_repaired_from_the_instruments_results() -> None:
    plate = parse_xponent_bytes(xponent_3_1_reagent_tables(lost_decimal=True), label="lx200.csv")[0]
    got = _expected_by_level(plate.wells)
    assert got == pytest.approx({k: round(v, 3) for k, v in SERIES.items()}, rel=1e-9)
    assert set(plate.standards_repair) == {"IL-6", "TNF-a", "IL-10"}
    assert any("decimal separators were lost" in w or "10^3" in w for w in plate.warnings)


def test_xponent_4_2_flexmap3d_reads_the_printed_curves_with_model_and_weighting() -> None:
    plate = parse_xponent_bytes(xponent_4_2_flexmap3d(), label="fm3d.csv")[0]
    curve = plate.instrument_curves["IL-6"]
    assert (curve.model, curve.weighting, curve.source) == ("5PL", "1/y^2", "instrument")
    assert (curve.a, curve.b, curve.c, curve.d, curve.f) == pytest.approx((20.0, 20000.0, 40.0, -1.1, 0.8))
    assert curve.r_squared == pytest.approx(0.9991)
    unknowns = plate.wells[(plate.wells["sample_type"] == "unknown") & (plate.wells["analyte"] == "IL-6")]
    assert sorted(unknowns["reported_conc"].round(0)) == [3.0, 17.0, 60.0, 150.0]


def test_an_unrecognised_optional_section_is_a_warning_naming_it_not_a_refusal() -> None:
    plate = parse_xponent_bytes(xponent_4_2_flexmap3d(extra_section="Bead Health Index"), label="fm3d.csv")[0]
    assert any("'Bead Health Index'" in w for w in plate.warnings)
    assert len(plate.wells) > 0


def test_a_series_that_is_no_dilution_series_is_refused_with_iml_cyt_010() -> None:
    text = xponent_3_1_reagent_tables().decode()
    text = text.replace('"Standard3","13.477","13.477","13.477"', '"Standard3","99.000","99.000","99.000"')
    with pytest.raises(InputError) as info:
        parse_xponent_bytes(text.encode(), label="lx200.csv")
    assert info.value.code == "IML-CYT-010" and "lx200.csv" in str(info.value) and info.value.hint


def test_check_series_accepts_a_clean_series_and_repairs_only_when_the_fix_is_unique() -> None:
    assert check_series(SERIES).status == "ok"
    assert check_series(SERIES).ratio == pytest.approx(RATIO)
    # separators lost in some values: the digits fix the 3-fold shape, only results fix the scale
    mixed = {1: 4000.0, 2: 1333333.0, 3: 444444.0, 4: 148148.0, 5: 49383.0, 6: 16461.0}
    assert check_series(mixed).status == "refused"
    truth = {1: 4000.0, 2: 1333.333, 3: 444.444, 4: 148.148, 5: 49.383, 6: 16.461}
    fixed = check_series(mixed, reported={k: v * 1.03 for k, v in truth.items()})
    assert fixed.status == "repaired" and fixed.values == pytest.approx(truth)
    # the same number of decimals lost everywhere is a constant shift: still a dilution series
    lost = {1: 215625.0, 2: 53906.0, 3: 13477.0, 4: 3369.0, 5: 842.0, 6: 211.0}
    assert check_series(lost).status == "ok"
    # a constant power of ten is found only against the instrument's own results
    assert check_series({k: v * 1000 for k, v in SERIES.items()}).status == "ok"
    shifted = check_series({k: v * 1000 for k, v in SERIES.items()}, reported=SERIES)
    assert shifted.status == "repaired" and shifted.values[1] == pytest.approx(TOP)
    assert check_series({1: 100.0, 2: 50.0, 3: 7.0, 4: 3.0}).status == "refused"
