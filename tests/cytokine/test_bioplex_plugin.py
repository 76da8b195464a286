"""The bioplex plugin end to end: the fact tables, curves printed and refitted, privacy.

``parse`` returns facts only (``cytokine_plates``, ``cytokine_wells``, ``instrument_curves``);
concentrations are derived by the core from the same plates (:func:`analyse_plate`), which the
result tests call directly on the reader's plates.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from immunolab_assays.bioplex import BioplexPlugin
from immunolab_assays.bioplex.workbook import read_bioplex_workbook

from immunolab.cytokine.assemble import PlateSettings, analyse_plate
from immunolab.plugins import SAMPLE_REF, ParseContext, ParsedAssay
from tests.conftest import shared_path
from tests.cytokine.helpers import conform_as_ingest
from tests.cytokine.test_bioplex_factories import (
    BACKGROUND,
    SIGNED_BY,
    TRUE_CURVE,
    UNKNOWN_TRUE,
    make_bioplex_xlsx,
    make_bioplex_xml,
)

ANCHOR = datetime.date(2011, 6, 1)
FACT_TABLES = {"cytokine_plates", "cytokine_wells", "instrument_curves"}


def _ctx(label: str, **options: object) -> ParseContext:
    return ParseContext(label=label, study_day=lambda d: (d - ANCHOR).days, options=options)


def _conforms(parsed: ParsedAssay) -> None:
    """Check every table against its store schema, with the key columns ingest fills."""
    for name, table in parsed.tables.items():
        conform_as_ingest(name, table)


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


def test_synthetic_export_gives_the_fact_tables_valid_against_the_store_schemas(synthetic: ParsedAssay) -> None:
    assert set(synthetic.tables) == FACT_TABLES
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
    assert len(s1) == 2 and all(w["net_mfi_reported"] == pytest.approx(w["median_mfi"] - BACKGROUND) for w in s1)
    low = next(w for w in il6 if w["reported_conc_text"] == "OOR <")
    assert (low["reported_conc"], low["reported_flag"]) == (None, "OOR<")
    assert "low_bead_count" in low["reader_flags"]  # Bio-Plex sampling error 1
    high = next(w for w in il6 if w["reported_flag"] == "extrapolated")
    assert (high["reported_conc_text"], high["reported_conc"], high["bead_count"]) == ("*19876.5", 19876.5, 20)
    assert all(w["well_label"] is None for w in il6 if w["sample_type"] == "unknown")
    assert all(w[SAMPLE_REF] is None for w in il6 if w["sample_type"] != "unknown")


def test_the_printed_curve_is_a_fact_and_equals_the_true_curve(synthetic: ParsedAssay) -> None:
    curves = {c["analyte"]: c for c in synthetic.tables["instrument_curves"].to_pylist()}
    assert set(curves) == {"IL-6", "TNF-a"}
    assert {k: curves["IL-6"][k] for k in "abcdf"} == pytest.approx(TRUE_CURVE)
    assert curves["IL-6"]["model"] == "5PL" and curves["IL-6"]["weighting"] == "printed (weighting not stated)"


def test_derived_results_recover_the_true_concentrations_with_either_curve(tmp_path: Path) -> None:
    plate = read_bioplex_workbook(make_bioplex_xlsx(tmp_path), "plate.xlsx")[0]
    for settings in (PlateSettings(), PlateSettings(weighting="bioplex"), PlateSettings(curve_source="instrument")):
        results = analyse_plate(plate, plate_id="p1", settings=settings).results
        il6 = {r[SAMPLE_REF]: r for r in results.to_dict("records") if r["analyte"] == "IL-6"}
        assert set(il6) == {*UNKNOWN_TRUE, "PT-003 D0", "PT-003 D3"}
        for name, truth in UNKNOWN_TRUE.items():
            assert il6[name]["n_replicates"] == 2
            assert il6[name]["concentration_raw"] == pytest.approx(truth, rel=0.02 if settings.curve_source != "instrument" else 1e-6)
        assert il6["PT-003 D0"]["censor"] in ("below_lloq", "below_curve")


def test_no_sample_name_or_operator_reaches_tables_metadata_or_warnings(synthetic: ParsedAssay) -> None:
    text = _all_text(synthetic)
    for secret in (*UNKNOWN_TRUE, "PT-003", SIGNED_BY, "plate7.srbx", "C:\\\\Lab", "2011-06-21", "21-Jun-2011"):
        assert secret not in text, secret


def test_xml_export_without_a_valid_curve_keeps_the_curve_fact_without_parameters(tmp_path: Path) -> None:
    parsed = BioplexPlugin().parse(make_bioplex_xml(tmp_path), _ctx("plate.xml"))
    _conforms(parsed)
    curve = parsed.tables["instrument_curves"].to_pylist()[0]
    assert curve["a"] is None and curve["weighting"].startswith("Power Law Variance")
    assert "Jane Operator" not in _all_text(parsed)
    well = next(w for w in parsed.tables["cytokine_wells"].to_pylist() if w["well"] == "B1")
    assert (well["net_mfi_reported"], well["reported_flag"], well[SAMPLE_REF]) == (500.0, "not_available", "PT-009 D0")


SHARED = [
    ("labkey/pnLINCO20070302A.xls", 611, 13),
    ("labkey/01-11A12-IgA-Biotin.xls", 576, 6),
    ("labkey/WithIndices.xls", 94, 2),
    ("labkey/RawAndSummary.xlsx", 72, 3),
    ("serolyzer/synthetic_bioplex.xlsx", 30, 0),
    ("allotropy_xml/bio-rad_bio-plex_manager_example_01.xml", 1440, 15),
]


@pytest.mark.shared_data
@pytest.mark.parametrize(("rel", "n_wells", "n_curves"), SHARED)
def test_every_shared_bioplex_export_parses_into_valid_fact_tables(rel: str, n_wells: int, n_curves: int) -> None:
    path = shared_path("cytokine", "bioplex_manager", *rel.split("/"))
    parsed = BioplexPlugin().parse(path, _ctx(path.name))
    _conforms(parsed)
    assert parsed.tables["cytokine_wells"].num_rows == n_wells
    assert parsed.metadata["n_instrument_curves"] == n_curves
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
    parsed = BioplexPlugin().parse(path, _ctx("plate.xlsx"))
    assert "ZORBLIN" in parsed.metadata["analytes"]  # kept (normalised) when not required
