"""Censoring and substitution rules, plate QC, Levey-Jennings data and analysis options."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from immunolab_assays.luminex_xponent.reader import parse_xponent_bytes

from immunolab.cytokine.assemble import PlateSettings, analyse_plate
from immunolab.cytokine.censoring import censor_replicates, substitute
from immunolab.cytokine.parsed import parsed_assay_from_plates, settings_from_options
from immunolab.cytokine.qc import (
    QcThresholds,
    bead_count_flag,
    levey_jennings,
    replicate_cv,
    westgard_flags,
)
from immunolab.errors import InputError
from immunolab.plugins import SAMPLE_REF, ParseContext

from .factories import PlateSpec, plate_text
from .helpers import derive, rows_of


def _plate(spec: PlateSpec | None = None, text: str | None = None):
    return parse_xponent_bytes((text or plate_text(spec)).encode(), label="plate.csv")[0]


def _facts(plate, **ctx: object):  # type: ignore[no-untyped-def]
    """Return the plate's facts as the xPONENT plugin's parse would."""
    return parsed_assay_from_plates([plate], data=b"x", ctx=ParseContext(label="p.csv", **ctx), export_format="xponent")  # type: ignore[arg-type]


# --- censoring -----------------------------------------------------------------------------


def test_values_inside_the_range_are_kept_with_rule_none() -> None:
    v = censor_replicates([100.0, 110.0], ["none", "none"], [2.0, 2.0], lloq=2.0, uloq=5000.0)
    assert (v.censor, v.substitution_rule, v.concentration) == ("none", "none", 105.0)
    assert v.cv_pct == pytest.approx(100 * np.std([100, 110], ddof=1) / 105)
    assert (v.lloq, v.uloq, v.n_replicates) == (4.0, 10000.0, 2)


def test_numeric_values_below_lloq_get_lloq_over_2_and_keep_the_raw_mean() -> None:
    v = censor_replicates([1.0, 1.4], ["none", "none"], [2.0, 2.0], lloq=2.0, uloq=5000.0)
    assert v.censor == "below_lloq"
    assert v.concentration_raw == pytest.approx(1.2)
    assert v.concentration == pytest.approx(2.0)  # LLOQ 2 pg/mL x dilution 2, halved
    assert v.substitution_rule == "LLOQ/2"


def test_values_above_uloq_get_uloq() -> None:
    v = censor_replicates([12000.0, 13000.0], ["none", "none"], [1.0, 1.0], lloq=2.0, uloq=10000.0)
    assert (v.censor, v.concentration, v.substitution_rule) == ("above_uloq", 10000.0, "ULOQ")


def test_replicates_beyond_the_curve_are_below_or_above_curve() -> None:
    v = censor_replicates([np.nan, np.nan], ["below_curve", "below_curve"], [1.0, 1.0], lloq=2.44, uloq=10000.0)
    assert (v.censor, v.concentration_raw, v.concentration) == ("below_curve", None, pytest.approx(1.22))
    v = censor_replicates([np.nan], ["above_curve"], [1.0], lloq=2.44, uloq=10000.0)
    assert (v.censor, v.concentration) == ("above_curve", 10000.0)
    v = censor_replicates([np.nan, np.nan], ["below_curve", "above_curve"], [1.0, 1.0], lloq=2.44, uloq=10000.0)
    assert v.censor == "not_available" and v.concentration is None
    assert "replicates_on_both_sides_of_curve" in v.flags


def test_one_replicate_beyond_the_curve_is_flagged_and_the_other_is_used() -> None:
    v = censor_replicates([50.0, np.nan], ["none", "below_curve"], [1.0, 1.0], lloq=2.0, uloq=5000.0)
    assert v.concentration == 50.0 and v.n_replicates == 2 and v.cv_pct is None
    assert "replicate_beyond_curve" in v.flags


def test_missing_readings_are_not_available() -> None:
    v = censor_replicates([np.nan, np.nan], ["not_available", "not_available"], [1.0, 1.0], lloq=2.0, uloq=5000.0)
    assert (v.censor, v.concentration, v.substitution_rule) == ("not_available", None, "none")


@pytest.mark.parametrize(
    ("rule", "expected"), [("LLOQ/2", 5.0), ("LLOQ/sqrt2", 10.0 / math.sqrt(2.0)), ("LLOQ", 10.0), ("zero", 0.0), ("none", 3.0)]
)
def test_every_below_range_rule_is_applied_and_recorded(rule: str, expected: float) -> None:
    value, applied = substitute("below_lloq", 3.0, 10.0, 1000.0, below=rule)
    assert value == pytest.approx(expected)
    assert applied == rule


def test_unknown_substitution_rule_is_refused() -> None:
    with pytest.raises(ValueError):
        substitute("below_lloq", 1.0, 2.0, 3.0, below="LLOQ/3")


# --- QC ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "flag"), [(34, "bead_count_fail"), (35, "bead_count_warn"), (49, "bead_count_warn"), (50, None), (None, None)])
def test_bead_count_limits_are_35_and_50(count: int | None, flag: str | None) -> None:
    assert bead_count_flag(count) == flag


def test_replicate_cv_is_the_sample_cv() -> None:
    assert replicate_cv([10.0, 12.0, 14.0]) == pytest.approx(100 * 2.0 / 12.0)
    assert replicate_cv([5.0]) is None


def test_a_clean_plate_passes_and_records_recovery_of_every_standard() -> None:
    an = analyse_plate(_plate(PlateSpec(round_mfi=False)), plate_id="p", settings=PlateSettings())
    assert an.status == "pass", an.qc
    std = an.qc["analytes"]["IL-6"]["standards"]
    assert len(std) == 7
    assert all(70 <= e["recovery_pct"] <= 130 for e in std)
    assert an.qc["controls"] and all(c["in_range"] for c in an.qc["controls"])


def test_low_bead_counts_and_high_cvs_are_flagged_on_wells_results_and_plate() -> None:
    text = plate_text()
    lines = text.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith('"DataType:","Count"'))
    j = next(k for k in range(i, len(lines)) if '"S0001"' in lines[k])
    cells = lines[j].split('","')
    cells[2] = "20"
    lines[j] = '","'.join(cells)
    m = next(k for k, ln in enumerate(lines) if ln.startswith('"DataType:","Net MFI"'))
    n = next(k for k in range(m, len(lines)) if '"S0002"' in lines[k])
    cells = lines[n].split('","')
    cells[2] = str(float(cells[2]) * 1.6)
    lines[n] = '","'.join(cells)
    plate = _plate(text="\r\n".join(lines) + "\r\n")
    an = analyse_plate(plate, plate_id="p", settings=PlateSettings())
    res = an.results.set_index([SAMPLE_REF, "analyte"])
    assert "bead_count_fail" in res.loc[("S0001", "IL-6"), "qc_flags"]
    assert "cv_high" in res.loc[("S0002", "IL-6"), "qc_flags"]
    assert an.qc["bead_count"]["fail"] == 1
    assert an.status in ("warn", "fail")


def test_controls_out_of_their_range_fail_the_plate() -> None:
    plate = _plate()
    plate.control_ranges = {("Control1", "IL-6"): (1000.0, 2000.0)}
    an = analyse_plate(plate, plate_id="p", settings=PlateSettings())
    c = next(c for c in an.qc["controls"] if c["analyte"] == "IL-6")
    assert c["in_range"] is False
    assert an.status == "fail"


def test_control_ranges_can_come_from_options() -> None:
    plate = _plate()
    plate.control_ranges = {}
    settings = PlateSettings.from_options({"control_ranges": {"Control1": {"TNF-a": [1.0, 2.0]}}})
    an = analyse_plate(plate, plate_id="p", settings=settings)
    c = next(c for c in an.qc["controls"] if c["analyte"] == "TNF-a")
    assert (c["low"], c["high"], c["in_range"]) == (1.0, 2.0, False)


def test_low_r_squared_fails_the_plate() -> None:
    an = analyse_plate(_plate(), plate_id="p", settings=PlateSettings(thresholds=QcThresholds(r_squared_min=1.01)))
    assert "r_squared_low" in an.qc["analytes"]["IL-6"]["flags"]
    assert an.status == "fail"


def test_qc_summary_is_json_in_the_plate_qc_table_of_each_derivation() -> None:
    parsed = _facts(_plate())
    assert parsed.tables["cytokine_plates"].to_pylist()[0]["export_crc"] == "ok"
    derived = derive(parsed)
    for kind in ("refit", "instrument"):
        (row,) = rows_of(derived, "plate_qc", kind)
        qc = json.loads(row["qc_json"])
        assert row["status"] == qc["status"] == "pass", kind
        assert qc["thresholds"]["bead_fail"] == 35
        assert qc["export_crc"] == "ok"


# --- Levey-Jennings ---------------------------------------------------------------------------


def test_levey_jennings_frame_has_one_row_per_plate_control_and_analyte() -> None:
    plates = []
    for k in range(6):
        plate = _plate(PlateSpec(params=[(5.0, 21000.0 * (1 + 0.01 * k), 900.0, -1.1, 0.8), (8.0, 24000.0, 1100.0, -1.15, 0.75), (3.0, 18000.0, 1400.0, -1.05, 0.9)]))
        parsed = _facts(plate, source_sha256=str(k) * 64, study_day=lambda _d, k=k: 200 + k)
        days = parsed.tables["cytokine_plates"].to_pandas()[["plate_id", "run_study_day"]]
        qc = derive(parsed, kinds=("refit",))["plate_qc"].to_pandas()[["plate_id", "qc_json"]]
        plates.append(days.merge(qc, on="plate_id", validate="one_to_one"))
    lj = levey_jennings(pd.concat(plates, ignore_index=True))
    assert len(lj) == 6 * 3
    assert set(lj["control"]) == {"Control1"}
    g = lj[lj.analyte == "IL-6"].sort_values("run_order")
    assert g["run_study_day"].tolist() == list(range(200, 206))
    assert g["z_score"].notna().all()
    np.testing.assert_allclose(g["mean"], g["concentration"].mean())


def test_westgard_rules() -> None:
    flags = westgard_flags([0.1, 2.5, 2.4, -1.8, 3.5, 1.2, 1.3, 1.4, 1.1])
    assert flags[1] == ["1_2s"]
    assert "2_2s" in flags[2]
    assert "1_3s" in flags[4] and "R_4s" in flags[4]
    assert "4_1s" in flags[7]
    assert westgard_flags([0.5] * 10)[-1] == ["10_x"]


# --- options --------------------------------------------------------------------------------


def test_bad_analysis_options_are_iml_cyt_009() -> None:
    for opts in ({"curve_model": "3PL"}, {"curve_weighting": "1/z"}, {"below_rule": "half"}, {"strict_curves": "yes"}):
        with pytest.raises(InputError) as exc:
            settings_from_options(opts, label="p.csv")
        assert (exc.value.code, exc.value.path) == ("IML-CYT-009", "p.csv")


def test_unknown_analytes_are_kept_unless_known_ones_are_required() -> None:
    plate = _plate(PlateSpec(analytes=["Mystery-7 (25)", "TNF-a (45)", "IL-10 (22)"]))
    parsed = parsed_assay_from_plates([plate], data=b"x", ctx=ParseContext(label="p.csv"), export_format="x")
    wells = parsed.tables["cytokine_wells"].to_pandas()
    assert "MYSTERY-7" in set(wells["analyte"])
    assert not wells.loc[wells.analyte == "MYSTERY-7", "analyte_known"].any()
    res = pd.DataFrame(rows_of(derive(parsed), "cytokine_results", "refit"))
    mystery = res.loc[res.analyte == "MYSTERY-7", "qc_flags"]
    assert len(mystery) == 4 and mystery.apply(lambda f: "analyte_not_canonical" in list(f)).all()
    with pytest.raises(InputError) as exc:
        parsed_assay_from_plates([plate], data=b"x", ctx=ParseContext(label="p.csv", options={"require_known_analytes": True}), export_format="x")
    assert exc.value.code == "IML-CYT-008"


def test_strict_curves_rejects_a_single_failed_curve() -> None:
    text = plate_text()
    lines = text.splitlines()
    s = next(k for k, ln in enumerate(lines) if ln.startswith('"DataType:","Net MFI"'))
    e = next(k for k in range(s, len(lines)) if not lines[k].strip())
    for k in range(s, e):
        if '"Standard' in lines[k]:
            cells = lines[k].split('","')
            cells[2] = "100"  # IL-6 standards flat
            lines[k] = '","'.join(cells)
    plate = _plate(text="\r\n".join(lines) + "\r\n")
    an = analyse_plate(plate, plate_id="p", settings=PlateSettings())
    failed = [c for c in an.curves if not c.converged]
    assert len(failed) == 1 and failed[0].message.startswith("IML-CYT-005")
    assert "curve_failed" in an.qc["analytes"]["IL-6"]["flags"]
    assert set(an.results.loc[an.results.analyte == "IL-6", "censor"]) == {"not_available"}
    with pytest.raises(InputError) as exc:
        analyse_plate(plate, plate_id="p", settings=PlateSettings(strict_curves=True))
    assert exc.value.code == "IML-CYT-005"


def test_printed_curves_are_stored_beside_the_refit_and_can_give_the_concentrations() -> None:
    plate = _plate(PlateSpec(print_curves=True, round_mfi=False))
    printed = plate.instrument_curves["IL-6"]
    assert (printed.source, printed.model, printed.r_squared) == ("instrument", "5PL", 1.0)
    assert printed.c == pytest.approx(900.0)
    an = analyse_plate(plate, plate_id="p", settings=PlateSettings(curve_source="instrument"))
    sources = {(c_.source) for c_ in an.curves}
    assert sources == {"immunolab", "instrument"}
    inst_ids = {c_.fit_id for c_ in an.curves if c_.source == "instrument"}
    assert set(an.results["fit_id"]) <= inst_ids
    res = an.results.set_index([SAMPLE_REF, "analyte"])
    assert res.loc[("S0001", "IL-6"), "concentration"] == pytest.approx(50.0, rel=1e-6)


def test_ng_per_ml_exports_are_converted_to_pg_per_ml() -> None:
    text = plate_text().replace('"Units:","pg/mL","pg/mL","pg/mL"', '"Units:","ng/mL","ng/mL","ng/mL"')
    plate = _plate(text=text)
    an = analyse_plate(plate, plate_id="p", settings=PlateSettings())
    assert an.wells.loc[an.wells.well_label == "Standard1", "expected_conc"].eq(10000.0 * 1000).all()
