"""The bioplex plugin end to end: the four cytokine tables, curves of both sources, privacy."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pyarrow as pa
import pytest
from immunolab_assays.bioplex import BioplexPlugin

from immunolab.plugins import SAMPLE_REF, ParseContext, ParsedAssay
from immunolab.schema import KEY_NAMES, conform
from tests.conftest import shared_path
from tests.cytokine.test_bioplex_factories import (
    BACKGROUND,
    SIGNED_BY,
    TRUE_CURVE,
    UNKNOWN_TRUE,
    make_bioplex_xlsx,
    make_bioplex_xml,
)

ANCHOR = datetime.date(2011, 6, 1)


def _ctx(label: str, **options: object) -> ParseContext:
    return ParseContext(label=label, study_day=lambda d: (d - ANCHOR).days, options=options)


def _conforms(parsed: ParsedAssay) -> None:
    """Check every table against its store schema, with the key columns ingest would fill."""
    for name, table in parsed.tables.items():
        t = table.drop_columns([SAMPLE_REF]) if SAMPLE_REF in table.column_names else table
        for key in KEY_NAMES:
            if key not in t.column_names:
                value: object = 0 if key == "visit_day" else "k"
                t = t.append_column(key, pa.array([value] * t.num_rows, type=pa.int32() if key == "visit_day" else pa.string()))
        conform(name, t, who="bioplex test")


def _all_text(parsed: ParsedAssay) -> str:
    parts = [json.dumps(parsed.metadata, default=str), *parsed.warnings]
    for table in parsed.tables.values():
        t = table.drop_columns([SAMPLE_REF]) if SAMPLE_REF in table.column_names else table
        parts.append(json.dumps(t.to_pylist(), default=str))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> ParsedAssay:
    path = make_bioplex_xlsx(tmp_path_factory.mktemp("bp"))
    return BioplexPlugin().parse(path, _ctx("plate.xlsx"))


def test_synthetic_export_gives_the_four_tables_valid_against_the_store_schemas(synthetic: ParsedAssay) -> None:
    assert set(synthetic.tables) == {"cytokine_plates", "cytokine_wells", "standard_curves", "cytokine_results"}
    _conforms(synthetic)
    plate = synthetic.tables["cytokine_plates"].to_pylist()[0]
    assert (plate["plate_index"], plate["n_wells"], plate["n_analytes"]) == (1, 28, 2)
    assert plate["run_study_day"] == 20  # 21-Jun-2011 against a 1-Jun-2011 anchor
    assert plate["instrument_serial"] == "LX100TEST" and plate["lot"] == "Lot42"


def test_wells_carry_signal_net_signal_tokens_and_reader_flags(synthetic: ParsedAssay) -> None:
    wells = synthetic.tables["cytokine_wells"].to_pylist()
    il6 = [w for w in wells if w["analyte"] == "IL-6"]
    assert {w["sample_type"] for w in il6} == {"blank", "standard", "unknown"}
    assert all(w["bead_region"] == 12 and w["analyte_reported"] == "IL-6 (12)" for w in il6)
    s1 = [w for w in il6 if w["well_label"] == "Standard1"]
    assert len(s1) == 2 and all(w["net_mfi"] == pytest.approx(w["median_mfi"] - BACKGROUND) for w in s1)
    low = next(w for w in il6 if w["reported_conc_text"] == "OOR <")
    assert (low["reported_conc"], low["reported_flag"]) == (None, "OOR<")
    assert "low_bead_count" in low["qc_flags"]  # Bio-Plex sampling error 1
    high = next(w for w in il6 if w["reported_flag"] == "extrapolated")
    assert (high["reported_conc_text"], high["reported_conc"]) == ("*19876.5", 19876.5)
    assert "bead_count_fail" in high["qc_flags"]  # 20 beads (shared QC rule)
    assert all(w["well_label"] is None for w in il6 if w["sample_type"] == "unknown")
    assert all(w[SAMPLE_REF] is None for w in il6 if w["sample_type"] != "unknown")


def test_curves_of_both_sources_are_stored_and_the_printed_one_is_exact(synthetic: ParsedAssay) -> None:
    curves = [c for c in synthetic.tables["standard_curves"].to_pylist() if c["analyte"] == "IL-6"]
    assert sorted(c["source"] for c in curves) == ["immunolab", "instrument"]
    printed = next(c for c in curves if c["source"] == "instrument")
    assert {k: printed[k] for k in "abcdf"} == pytest.approx(TRUE_CURVE)
    refit = next(c for c in curves if c["source"] == "immunolab")
    assert refit["converged"] and refit["r_squared"] > 0.999
    assert refit["fit_id"] != printed["fit_id"]


def test_results_recover_the_true_concentrations_and_censor_with_a_recorded_rule(synthetic: ParsedAssay) -> None:
    results = synthetic.tables["cytokine_results"].to_pylist()
    il6 = {r[SAMPLE_REF]: r for r in results if r["analyte"] == "IL-6"}
    assert set(il6) == {*UNKNOWN_TRUE, "PT-003 D0", "PT-003 D3"}
    for name, truth in UNKNOWN_TRUE.items():
        r = il6[name]
        assert r["unit"] == "pg/mL" and r["n_replicates"] == 2
        if r["censor"] == "none":
            assert r["concentration"] == pytest.approx(truth, rel=0.02)
        assert r["concentration_raw"] == pytest.approx(truth, rel=0.02)
    low = il6["PT-003 D0"]
    assert low["censor"] in ("below_lloq", "below_curve") and low["substitution_rule"] != "none"


def test_instrument_curve_option_reproduces_the_printed_obs_conc(tmp_path: Path) -> None:
    path = make_bioplex_xlsx(tmp_path)
    parsed = BioplexPlugin().parse(path, _ctx("plate.xlsx", curve_source="instrument"))
    results = {r[SAMPLE_REF]: r for r in parsed.tables["cytokine_results"].to_pylist() if r["analyte"] == "TNF-a"}
    for name, truth in UNKNOWN_TRUE.items():
        assert results[name]["concentration_raw"] == pytest.approx(truth, rel=1e-6)


def test_no_sample_name_or_operator_reaches_tables_metadata_or_warnings(synthetic: ParsedAssay) -> None:
    text = _all_text(synthetic)
    for secret in (*UNKNOWN_TRUE, "PT-003", SIGNED_BY, "plate7.srbx", "C:\\\\Lab", "2011-06-21", "21-Jun-2011"):
        assert secret not in text, secret


def test_bad_analysis_option_is_rejected_with_iml_cyt_009(tmp_path: Path) -> None:
    from immunolab.errors import InputError

    with pytest.raises(InputError) as info:
        BioplexPlugin().parse(make_bioplex_xlsx(tmp_path), _ctx("plate.xlsx", curve_model="7PL"))
    assert info.value.code == "IML-CYT-009" and info.value.path == "plate.xlsx"


def test_xml_export_without_a_valid_curve_yields_not_available_results(tmp_path: Path) -> None:
    parsed = BioplexPlugin().parse(make_bioplex_xml(tmp_path), _ctx("plate.xml"))
    _conforms(parsed)
    curve = parsed.tables["standard_curves"].to_pylist()[0]
    assert (curve["source"], curve["converged"], curve["a"]) == ("instrument", False, None)
    assert curve["weighting"].startswith("Power Law Variance")
    result = parsed.tables["cytokine_results"].to_pylist()[0]
    assert (result["censor"], result["concentration"], result[SAMPLE_REF]) == ("not_available", None, "PT-009 D0")
    assert "Jane Operator" not in _all_text(parsed)
    well = next(w for w in parsed.tables["cytokine_wells"].to_pylist() if w["well"] == "B1")
    assert well["net_mfi"] == 500.0 and well["reported_flag"] == "not_available"


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
    parsed = BioplexPlugin().parse(path, _ctx(path.name, **options))
    _conforms(parsed)
    assert parsed.tables["cytokine_wells"].num_rows == n_wells
    assert parsed.tables["cytokine_results"].num_rows == n_results
    assert parsed.metadata["plugin"] == "bioplex" and parsed.metadata["n_plates"] == 1
    wells = parsed.tables["cytokine_wells"]
    assert set(wells.column("sample_type").to_pylist()) <= {"standard", "control", "blank", "unknown"}
    text = _all_text(parsed)
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
    parsed = BioplexPlugin().parse(path, _ctx("plate.xlsx", curve_model="4PL"))
    assert "ZORBLIN" in parsed.metadata["analytes"]  # kept (normalised) when not required
