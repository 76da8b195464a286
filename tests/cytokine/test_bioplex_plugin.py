"""The bioplex plugin end to end: the plate facts, the derivations ingest computes from them, privacy."""

from __future__ import annotations

import datetime
from pathlib import Path

import pyarrow as pa
import pytest
from immunolab_assays.bioplex import BioplexPlugin

from immunolab.cytokine.parsed import settings_from_options
from immunolab.plugins import SAMPLE_REF, ParseContext, ParsedAssay
from tests.conftest import shared_path
from tests.cytokine.helpers import all_text, conforms, derive, rows_of
from tests.cytokine.test_bioplex_factories import (
    BACKGROUND,
    SIGNED_BY,
    TRUE_CURVE,
    UNKNOWN_TRUE,
    make_bioplex_xlsx,
    make_bioplex_xml,
)

ANCHOR = datetime.date(2011, 6, 1)
FACTS = {"cytokine_plates", "cytokine_wells", "instrument_curves"}


def _ctx(label: str, **options: object) -> ParseContext:
    return ParseContext(label=label, study_day=lambda d: (d - ANCHOR).days, options=options)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> ParsedAssay:
    path = make_bioplex_xlsx(tmp_path_factory.mktemp("bp"))
    return BioplexPlugin().parse(path, _ctx("plate.xlsx"))


@pytest.fixture(scope="module")
def derived(synthetic: ParsedAssay) -> dict[str, pa.Table]:
    return derive(synthetic)


def test_synthetic_export_gives_the_plate_facts_valid_against_the_store_schemas(synthetic: ParsedAssay) -> None:
    assert set(synthetic.tables) == FACTS == set(BioplexPlugin.produces)
    conforms(synthetic)
    plate = synthetic.tables["cytokine_plates"].to_pylist()[0]
    assert (plate["plate_index"], plate["n_wells"], plate["n_analytes"]) == (1, 28, 2)
    assert plate["run_study_day"] == 20  # 21-Jun-2011 against a 1-Jun-2011 anchor
    assert plate["instrument_serial"] == "LX100TEST" and plate["lot"] == "Lot42"


def test_wells_carry_signal_net_signal_tokens_and_reader_flags(synthetic: ParsedAssay, derived: dict[str, pa.Table]) -> None:
    wells = synthetic.tables["cytokine_wells"].to_pylist()
    il6 = [w for w in wells if w["analyte"] == "IL-6"]
    assert {w["sample_type"] for w in il6} == {"blank", "standard", "unknown"}
    assert all(w["bead_region"] == 12 and w["analyte_reported"] == "IL-6 (12)" for w in il6)
    s1 = [w for w in il6 if w["well_label"] == "Standard1"]
    assert len(s1) == 2 and all(w["net_mfi_reported"] == pytest.approx(w["median_mfi"] - BACKGROUND) for w in s1)
    low = next(w for w in il6 if w["reported_conc_text"] == "OOR <")
    assert (low["reported_conc"], low["reported_flag"]) == (None, "OOR<")
    assert "low_bead_count" in low["reader_flags"]  # Bio-Plex sampling error 1
    high = next(w for w in il6 if w["reported_flag"] == "extrapolated")
    assert (high["reported_conc_text"], high["reported_conc"]) == ("*19876.5", 19876.5)
    assert all(w["well_label"] is None for w in il6 if w["sample_type"] == "unknown")
    assert all(w[SAMPLE_REF] is None for w in il6 if w["sample_type"] != "unknown")
    # the shared QC rule (20 beads < 35) is a derivation: it flags the sample's result in both
    for kind in ("refit", "instrument"):
        result = next(r for r in rows_of(derived, "cytokine_results", kind)
                      if r["analyte"] == "IL-6" and r["sample_key"] == high[SAMPLE_REF])
        assert "bead_count_fail" in result["qc_flags"], kind


def test_curves_of_both_sources_are_stored_and_the_printed_one_is_exact(synthetic: ParsedAssay, derived: dict[str, pa.Table]) -> None:
    fact = next(c for c in synthetic.tables["instrument_curves"].to_pylist() if c["analyte"] == "IL-6")
    assert {k: fact[k] for k in "abcdf"} == pytest.approx(TRUE_CURVE)
    curves = [c for c in rows_of(derived, "curve_fits", "refit") if c["analyte"] == "IL-6"]
    assert sorted(c["source"] for c in curves) == ["immunolab", "instrument"]
    printed = next(c for c in curves if c["source"] == "instrument")
    assert {k: printed[k] for k in "abcdf"} == pytest.approx(TRUE_CURVE)
    refit = next(c for c in curves if c["source"] == "immunolab")
    assert refit["converged"] and refit["r_squared"] > 0.999
    assert refit["fit_id"] != printed["fit_id"]


def test_results_recover_the_true_concentrations_and_censor_with_a_recorded_rule(derived: dict[str, pa.Table]) -> None:
    results = rows_of(derived, "cytokine_results", "refit")
    il6 = {r["sample_key"]: r for r in results if r["analyte"] == "IL-6"}
    assert set(il6) == {*UNKNOWN_TRUE, "PT-003 D0", "PT-003 D3"}
    for name, truth in UNKNOWN_TRUE.items():
        r = il6[name]
        assert r["unit"] == "pg/mL" and r["n_replicates"] == 2
        if r["censor"] == "none":
            assert r["concentration"] == pytest.approx(truth, rel=0.02)
        assert r["concentration_raw"] == pytest.approx(truth, rel=0.02)
    low = il6["PT-003 D0"]
    assert low["censor"] in ("below_lloq", "below_curve") and low["substitution_rule"] != "none"


def test_the_instrument_derivation_reproduces_the_printed_obs_conc(derived: dict[str, pa.Table]) -> None:
    results = {r["sample_key"]: r for r in rows_of(derived, "cytokine_results", "instrument") if r["analyte"] == "TNF-a"}
    for name, truth in UNKNOWN_TRUE.items():
        assert results[name]["concentration_raw"] == pytest.approx(truth, rel=1e-6)
        assert (results[name]["fit_id"], results[name]["instrument_conc"]) == ("instrument", pytest.approx(truth, rel=1e-6))


def test_no_sample_name_or_operator_reaches_tables_metadata_or_warnings(synthetic: ParsedAssay) -> None:
    text = all_text(synthetic)
    for secret in (*UNKNOWN_TRUE, "PT-003", SIGNED_BY, "plate7.srbx", "C:\\\\Lab", "2011-06-21", "21-Jun-2011"):
        assert secret not in text, secret


def test_bad_analysis_option_is_rejected_with_iml_cyt_009() -> None:
    from immunolab.errors import InputError

    # curve settings are derivation settings now (ingest --curve-model, derive curves), not parse options
    with pytest.raises(InputError) as info:
        settings_from_options({"curve_model": "7PL"}, label="plate.xlsx")
    assert info.value.code == "IML-CYT-009" and info.value.path == "plate.xlsx"


def test_xml_export_without_a_valid_curve_yields_not_available_results(tmp_path: Path) -> None:
    parsed = BioplexPlugin().parse(make_bioplex_xml(tmp_path), _ctx("plate.xml"))
    conforms(parsed)
    derived = derive(parsed)
    for kind in ("refit", "instrument"):
        curve = rows_of(derived, "curve_fits", kind)[0]
        assert (curve["source"], curve["converged"], curve["a"]) == ("instrument", False, None), kind
        assert curve["weighting"].startswith("Power Law Variance")
        result = rows_of(derived, "cytokine_results", kind)[0]
        assert (result["censor"], result["concentration"], result["sample_key"]) == ("not_available", None, "PT-009 D0")
    assert "Jane Operator" not in all_text(parsed)
    well = next(w for w in parsed.tables["cytokine_wells"].to_pylist() if w["well"] == "B1")
    assert well["net_mfi_reported"] == 500.0 and well["reported_flag"] == "not_available"


SHARED = [
    ("labkey/pnLINCO20070302A.xls", {}, 611, 520),
    ("labkey/01-11A12-IgA-Biotin.xls", {}, 576, 216),
    ("labkey/WithIndices.xls", {}, 94, 80),
    # synthetic numbers on which the default 5PL multi-start is slow: 4PL keeps the test short
    ("labkey/RawAndSummary.xlsx", {"curve_model": "4PL"}, 72, 0),
    ("serolyzer/synthetic_bioplex.xlsx", {}, 30, 0),
    ("allotropy_xml/bio-rad_bio-plex_manager_example_01.xml", {}, 1440, 480),
]


@pytest.mark.shared_data
@pytest.mark.parametrize(("rel", "options", "n_wells", "n_results"), SHARED)
def test_every_shared_bioplex_export_parses_into_valid_tables(
    rel: str, options: dict[str, object], n_wells: int, n_results: int
) -> None:
    path = shared_path("cytokine", "bioplex_manager", *rel.split("/"))
    parsed = BioplexPlugin().parse(path, _ctx(path.name))
    conforms(parsed)
    assert parsed.tables["cytokine_wells"].num_rows == n_wells
    derived = derive(parsed, kinds=("refit",), **options)
    assert len(rows_of(derived, "cytokine_results", "refit")) == n_results
    assert parsed.metadata["plugin"] == "bioplex" and parsed.metadata["n_plates"] == 1
    wells = parsed.tables["cytokine_wells"]
    assert set(wells.column("sample_type").to_pylist()) <= {"standard", "control", "blank", "unknown"}
    text = all_text(parsed)
    for secret in ("Elizabeth", "Josh Eckels", "Core Immunology", "WNV-HIV", "waldo", "foobar", "Signed By"):
        assert secret not in text


def test_require_known_analytes_rejects_a_plate_with_an_unmapped_analyte(tmp_path: Path) -> None:
    from immunolab.errors import InputError

    def rename(sheets: dict[str, list[list[object]]]) -> None:
        sheets["TNF-alpha (40)"] = [
            [c.replace("TNF-alpha", "Zorblin") if isinstance(c, str) else c for c in row]
            for row in sheets["TNF-alpha (40)"]
        ]

    path = make_bioplex_xlsx(tmp_path, mutate=rename)
    with pytest.raises(InputError) as info:
        BioplexPlugin().parse(path, _ctx("plate.xlsx", require_known_analytes=True))
    assert info.value.code == "IML-CYT-008"
    parsed = BioplexPlugin().parse(path, _ctx("plate.xlsx"))
    assert "ZORBLIN" in parsed.metadata["analytes"]  # kept (normalised) when not required
