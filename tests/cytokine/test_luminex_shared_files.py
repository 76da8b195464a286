"""Real xPONENT / INTELLIFLEX exports from ../shared/data: detection, parsing and xPONENT semantics."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from immunolab_assays.luminex_intelliflex import IntelliflexPlugin
from immunolab_assays.luminex_intelliflex.flat import parse_intelliflex_flat_bytes
from immunolab_assays.luminex_xponent import XponentPlugin
from immunolab_assays.luminex_xponent.reader import parse_xponent_bytes

from immunolab.errors import ERROR_CODES, InputError
from immunolab.plugins import ParseContext

from ..conftest import shared_path
from .helpers import conform_as_ingest

pytestmark = pytest.mark.shared_data

XPONENT = [
    "allotropy/luminex_xPONENT_NaN_and_not_reported_values.csv",
    "allotropy/luminex_xPONENT_example02.csv",
    "allotropy/luminex_xPONENT_example02_saved.csv",
    "allotropy/luminex_xPONENT_example03.csv",
    "serolyzer/Chul_IgG3_1.csv",
    "serolyzer/Chul_TotalIgG_2.csv",
    "serolyzer/CovidOISExPONTENT_CO_reduced.csv",
    "serolyzer/New_Batch_6_20160309_174224.csv",
]
INTELLIFLEX = [
    "allotropy/luminex_intelliflex_example_01.csv",
    "allotropy/luminex_intelliflex_single_dataset.csv",
    "allotropy/luminex_intelliflex_v2_2.csv",
    "serolyzer_random_intelliflex.csv",
]


def _xp(rel: str) -> Path:
    return shared_path("cytokine", "luminex_xponent", *rel.split("/"))


def _ix(rel: str) -> Path:
    return shared_path("cytokine", "luminex_intelliflex", *rel.split("/"))


@pytest.mark.parametrize("rel", XPONENT)
def test_every_shared_xponent_file_is_claimed_by_xponent_only_and_parses_to_valid_tables(rel: str) -> None:
    path = _xp(rel)
    head = path.read_bytes()[: 64 * 1024]
    assert XponentPlugin().detect(head, path.name) is not None
    assert IntelliflexPlugin().detect(head, path.name) is None
    try:
        parsed = XponentPlugin().parse(path, ParseContext(label=path.name))
    except InputError as exc:  # allowed, but only with a code
        assert exc.code in ERROR_CODES
        return
    for name, table in parsed.tables.items():
        conform_as_ingest(name, table)
    assert parsed.tables["cytokine_wells"].num_rows > 0


@pytest.mark.parametrize("rel", INTELLIFLEX)
def test_every_shared_intelliflex_file_is_claimed_by_intelliflex_only_and_parses(rel: str) -> None:
    path = _ix(rel)
    head = path.read_bytes()[: 64 * 1024]
    assert IntelliflexPlugin().detect(head, path.name) is not None
    assert XponentPlugin().detect(head, path.name) is None
    parsed = IntelliflexPlugin().parse(path, ParseContext(label=path.name))
    for name, table in parsed.tables.items():
        conform_as_ingest(name, table)
    assert parsed.tables["cytokine_wells"].num_rows > 0


def test_no_luminex_plugin_claims_the_other_cytokine_exports() -> None:
    root = shared_path("cytokine")
    others = [p for p in root.rglob("*") if p.is_file() and "luminex" not in str(p.relative_to(root)) and "LICENSE" not in str(p)]
    assert others
    for p in others:
        head = p.read_bytes()[: 64 * 1024]
        assert XponentPlugin().detect(head, p.name) is None, p
        assert IntelliflexPlugin().detect(head, p.name) is None, p


def test_values_match_allotropys_expected_documents() -> None:
    for stem in ("example02", "example03"):
        expected = json.loads(_xp(f"allotropy/EXPECTED_allotropy_luminex_xPONENT_{stem}.json").read_text("utf-8"))
        docs = expected["multi analyte profiling aggregate document"]["multi analyte profiling document"]
        want = {}
        for doc in docs:
            for m in doc["measurement aggregate document"]["measurement document"]:
                well = m["sample document"]["location identifier"]
                for a in m["analyte aggregate document"]["analyte document"]:
                    stats = a["statistics aggregate document"]["statistics document"][0]
                    median = stats["statistic dimension aggregate document"]["statistic dimension document"][0]["statistical value"]["value"]
                    want[(well, a["analyte name"].upper())] = (median, a["assay bead count"]["value"], int(a["assay bead identifier"]))
        plates = parse_xponent_bytes(_xp(f"allotropy/luminex_xPONENT_{stem}.csv").read_bytes(), label="x.csv")
        got = {(r.well, r.analyte): (r.median_mfi, r.bead_count, r.bead_region) for r in plates[0].wells.itertuples()}
        assert got == want


def test_excel_resaved_copy_reads_like_the_original() -> None:
    a = parse_xponent_bytes(_xp("allotropy/luminex_xPONENT_example02.csv").read_bytes(), label="a")[0].wells
    b = parse_xponent_bytes(_xp("allotropy/luminex_xPONENT_example02_saved.csv").read_bytes(), label="b")[0].wells
    for col in ("median_mfi", "net_mfi_reported", "bead_count", "dilution"):
        np.testing.assert_array_equal(a[col].to_numpy(float), b[col].to_numpy(float))


def test_net_mfi_is_median_minus_mean_background_as_xponent_prints_it() -> None:
    for rel in ("serolyzer/Chul_IgG3_1.csv", "serolyzer/Chul_TotalIgG_2.csv"):
        w = parse_xponent_bytes(_xp(rel).read_bytes(), label="x")[0].wells
        bg = w[w.sample_type == "blank"].groupby("analyte")["median_mfi"].mean()
        computed = w["median_mfi"] - w["analyte"].map(bg)
        np.testing.assert_allclose(computed, w["net_mfi_reported"], atol=1e-9)


def test_crc_of_an_untouched_export_verifies_and_edited_ones_are_marked() -> None:
    assert parse_xponent_bytes(_xp("serolyzer/Chul_IgG3_1.csv").read_bytes(), label="x")[0].export_crc == "ok"
    assert parse_xponent_bytes(_xp("allotropy/luminex_xPONENT_example02_saved.csv").read_bytes(), label="x")[0].export_crc == "unverified"


def test_an_excel_or_script_resaved_export_is_unverified_not_a_crc_mismatch() -> None:
    for n in (1, 3, 7, 16):  # the CDC plates: every row quoted and padded to 17 cells, the trailer too
        plate = parse_xponent_bytes(_xp(f"cdc_flexmap3d/plates/plate {n}.csv").read_bytes(), label="x")[0]
        assert plate.export_crc == "unverified" and not any("IML-CYT-013" in w for w in plate.warnings)


def test_a_median_edited_after_export_is_a_crc_mismatch_with_a_coded_warning(tmp_path: Path) -> None:
    data = _xp("serolyzer/Chul_IgG3_1.csv").read_bytes()
    first = re.search(rb'^"[A-H]?\d+\([^"]*\)","[^"]*","(\d+(?:\.\d+)?)"', data, re.MULTILINE)
    assert first is not None
    edited = data[: first.start(1)] + b"999999" + data[first.end(1):]
    target = tmp_path / "edited.csv"
    target.write_bytes(edited)
    parsed = XponentPlugin().parse(target, ParseContext(label="x"))
    assert parsed.tables["cytokine_plates"].to_pylist()[0]["export_crc"] == "mismatch"
    assert [w[:11] for w in parsed.warnings if "CRC32" in w] == ["IML-CYT-013"]


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("serolyzer/New_Batch_6_20160309_174224.csv", date(2016, 3, 9)),
        ("serolyzer/Chul_TotalIgG_2.csv", date(2024, 3, 25)),
        ("allotropy/luminex_xPONENT_example02.csv", date(2023, 5, 17)),
    ],
)
def test_run_dates_in_every_shared_style(rel: str, expected: date) -> None:
    assert parse_xponent_bytes(_xp(rel).read_bytes(), label="x")[0].run_date == expected


def test_intelliflex_dates_instrument_and_software() -> None:
    p = parse_xponent_bytes(_ix("allotropy/luminex_intelliflex_example_01.csv").read_bytes(), label="x")[0]
    assert p.run_date == date(2024, 10, 18) and p.instrument == "Intelliflex"
    flat = parse_intelliflex_flat_bytes(_ix("allotropy/luminex_intelliflex_v2_2.csv").read_bytes(), label="x")[0]
    assert flat.run_date == date(2026, 2, 25)
    assert (flat.software, flat.software_version) == ("INTELLIFLEX", "2.1.1015")
    assert flat.wells["well"].nunique() == 10
    assert {"HPV6", "HPV11"} <= set(flat.wells["analyte"])
    assert flat.wells.loc[flat.wells.analyte == "HPV6", "bead_region"].eq(25).all()


def test_analyte_case_varying_between_plates_is_one_analyte() -> None:
    a = parse_xponent_bytes(_xp("serolyzer/Chul_IgG3_1.csv").read_bytes(), label="x")[0].wells
    b = parse_xponent_bytes(_xp("serolyzer/Chul_TotalIgG_2.csv").read_bytes(), label="x")[0].wells
    assert set(a["analyte"]) == set(b["analyte"])
    assert {"PP28", "pp28"} <= set(a["analyte_reported"]) | set(b["analyte_reported"])


def test_sample_types_of_real_layouts() -> None:
    w = parse_xponent_bytes(_xp("serolyzer/Chul_IgG3_1.csv").read_bytes(), label="x")[0].wells
    types = w.drop_duplicates("well").set_index("well")["sample_type"]
    assert types["A1"] == "blank" and types["B1"] == "standard" and types["A3"] == "control" and types["C3"] == "unknown"
    labels = w.drop_duplicates("well").set_index("well")["well_label"]
    assert labels["B1"] == "Standard1" and labels["A1"] == "Background0"


def test_instrument_warnings_are_counted_per_well_without_their_text() -> None:
    path = _xp("allotropy/luminex_xPONENT_NaN_and_not_reported_values.csv")
    parsed = XponentPlugin().parse(path, ParseContext(label=path.name))
    wells = parsed.tables["cytokine_wells"].to_pandas()
    assert wells["reader_flags"].apply(lambda f: "instrument_warning" in list(f)).any()
    plate = parsed.tables["cytokine_plates"].to_pylist()[0]
    assert plate["instrument_warnings"] > 0
    assert "did not reach" not in json.dumps(plate, default=str) + json.dumps(parsed.warnings)


def test_exactly_one_installed_plugin_claims_each_luminex_export() -> None:
    from immunolab.plugins import get_registry

    registry = get_registry()
    for rel in XPONENT:
        path = _xp(rel)
        assert [d.plugin for d in registry.claims(path.read_bytes()[: 64 * 1024], path.name)] == ["luminex_xponent"], rel
    for rel in INTELLIFLEX:
        path = _ix(rel)
        assert [d.plugin for d in registry.claims(path.read_bytes()[: 64 * 1024], path.name)] == ["luminex_intelliflex"], rel


def test_a_failed_refit_is_explained_per_analyte_with_its_reason() -> None:
    from immunolab.cytokine.assemble import PlateSettings
    from immunolab.derive.curves import derive_plate
    from immunolab.derive.registry import refit_failure

    plate = parse_xponent_bytes(_xp("cdc_flexmap3d/plates/plate 1.csv").read_bytes(), label="x")[0]
    part, status = derive_plate(plate, sha="0" * 64, plate_id="p1", settings=PlateSettings(), kind="refit", label="x")
    assert status == "fail"
    assert refit_failure(part["plate_qc"][0]["qc_json"]) == "ANTIGEN 3: R^2 below the minimum"
    assert refit_failure('{"status": "fail", "error": {"code": "IML-CYT-006", "message": "no standards"}}') == (
        "IML-CYT-006 no standards")
