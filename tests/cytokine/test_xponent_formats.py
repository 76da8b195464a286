"""xPONENT export variants as labs produce them all parse to the same plate."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd
import pytest
from immunolab_assays.luminex_intelliflex import IntelliflexPlugin
from immunolab_assays.luminex_xponent import XponentPlugin
from immunolab_assays.luminex_xponent.reader import (
    parse_reported_conc,
    parse_xponent_bytes,
    parse_xponent_location,
)

from immunolab.plugins import SAMPLE_REF, ParseContext

from .factories import PlateSpec, excel_resaved, plate_text
from .helpers import conform_as_ingest

KEY = ["well", "analyte"]


def _wells(data: bytes, **options: object) -> pd.DataFrame:
    plates = parse_xponent_bytes(data, label="plate.csv", options=options)
    assert len(plates) == 1
    return plates[0].wells.sort_values(KEY).reset_index(drop=True)


def _same_values(a: pd.DataFrame, b: pd.DataFrame) -> None:
    for col in ("median_mfi", "net_mfi_reported", "bead_count", "dilution", "expected_conc", "reported_conc"):
        np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), rtol=1e-12, equal_nan=True, err_msg=col)
    for col in ("sample_name", "sample_type", "well_label", "analyte", "reported_flag"):
        assert a[col].fillna("").tolist() == b[col].fillna("").tolist(), col


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _wells(plate_text().encode())


def test_factory_plate_reads_types_labels_regions_and_values(reference: pd.DataFrame) -> None:
    w = reference
    assert set(w["analyte"]) == {"IL-6", "TNF-a", "IL-10"}
    assert set(w["bead_region"]) == {25, 45, 22}
    assert set(w.loc[w.sample_type == "standard", "well_label"]) == {f"Standard{k}" for k in range(1, 8)}
    assert set(w.loc[w.sample_type == "blank", "well_label"]) == {"Background0"}
    assert set(w.loc[w.sample_type == "control", "well_label"]) == {"Control1"}
    assert w.loc[w.sample_type == "unknown", "well_label"].isna().all()
    assert w.loc[w.sample_type == "unknown", "dilution"].eq(2.0).all()
    assert w.loc[(w.well_label == "Standard1") & (w.analyte == "IL-6"), "expected_conc"].eq(10000.0).all()


def test_excel_resaved_unquoted_padded_file_reads_the_same(reference: pd.DataFrame) -> None:
    text = excel_resaved(plate_text(), width=17)
    assert '"' not in text.splitlines()[0]
    plates = parse_xponent_bytes(text.encode(), label="p.csv")
    _same_values(reference, plates[0].wells.sort_values(KEY).reset_index(drop=True))
    assert plates[0].export_crc == "unverified" and plates[0].warnings == []  # re-saving rewrote the covered bytes


def test_untouched_export_has_a_matching_crc() -> None:
    assert parse_xponent_bytes(plate_text().encode(), label="p.csv")[0].export_crc == "ok"


def test_utf8_bom_is_ignored(reference: pd.DataFrame) -> None:
    _same_values(reference, _wells(b"\xef\xbb\xbf" + plate_text().encode()))


def test_semicolon_delimiter_with_decimal_commas_reads_the_same(reference: pd.DataFrame) -> None:
    text = plate_text(delimiter=";", decimal=",")
    assert "," in text.split("DataType:")[2]
    _same_values(reference, _wells(text.encode()))


def test_sections_in_any_order_read_the_same(reference: pd.DataFrame) -> None:
    text = plate_text()
    head, _, rest = text.partition('"DataType:"')
    body, _, trailer = ('"DataType:"' + rest).partition("-- CRC --")
    blocks = [b for b in re.split(r'(?=^"DataType:")', body, flags=re.M) if b.strip()]
    shuffled = head + "".join(reversed(blocks)) + "-- CRC --" + trailer
    _same_values(reference, _wells(shuffled.encode()))


def test_extra_datatypes_are_read_and_ignored(reference: pd.DataFrame) -> None:
    text = plate_text()
    start = text.index('"DataType:","Median"')
    end = text.index('"DataType:","Net MFI"')
    median = text[start:end]
    extra = "".join(median.replace('"Median"', f'"{name}"') for name in ("Mean", "%CV", "Peak", "Std Dev", "Trimmed Mean", "Trimmed Peak"))
    acq = '"DataType:","Acquisition Time"\r\n"Location","Sample","Seconds","Total Events"\r\n"1(1,A1)","Background0","38","1800"\r\n\r\n'
    _same_values(reference, _wells((text[:end] + extra + acq + text[end:]).encode()))


@pytest.mark.parametrize("token", ["NaN", "N/A", "#N/A", "", "nan", "NA"])
def test_missing_value_tokens_become_missing_not_errors(token: str) -> None:
    text = plate_text()
    lines = text.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith('"DataType:","Median"')) + 5
    cells = lines[i].split('","')
    cells[2] = token
    lines[i] = '","'.join(cells)
    w = _wells(("\r\n".join(lines) + "\r\n").encode())
    assert w["median_mfi"].isna().sum() == 1


def test_replacement_characters_in_text_cells_are_tolerated() -> None:
    text = plate_text().replace('"Test kit"', '"Test kit 50\ufffdl"').replace('"S0003"', '"S00\ufffd03"')
    plates = parse_xponent_bytes(text.encode(), label="p.csv")
    assert plates[0].kit == "Test kit 50l"
    assert "S0003" in set(plates[0].wells["sample_name"])


@pytest.mark.parametrize(
    ("date_cell", "start_cell", "expected"),
    [
        ('"12/01/2020","2:05 PM"', '"12/1/2020 2:05:00 PM"', date(2020, 12, 1)),
        ('"3/25/24","8:18 AM"', '"3/25/24 8:18:00 AM"', date(2024, 3, 25)),
        ('"2024-10-19","14:40"', '"2024-10-18 11:36"', date(2024, 10, 18)),
        ('"25.03.2024","08:18"', '"25.03.2024 08:18:00"', date(2024, 3, 25)),
        ('"05.03.2024","08:18"', '"05.03.2024 08:18:00"', date(2024, 3, 5)),
        ('"17/05/2023","18:42"', '"17/05/2023 18:42:29"', date(2023, 5, 17)),
    ],
)
def test_run_date_styles_become_the_same_study_day(date_cell: str, start_cell: str, expected: date) -> None:
    text = plate_text()
    text = re.sub(r'^"Date",.*$', f'"Date",{date_cell}', text, count=1, flags=re.M)
    text = re.sub(r'^"BatchStartTime",.*$', f'"BatchStartTime",{start_cell}', text, count=1, flags=re.M)
    text = re.sub(r'^"BatchStopTime",.*$', '"BatchStopTime",""', text, count=1, flags=re.M)
    plates = parse_xponent_bytes(text.encode(), label="p.csv")
    assert plates[0].run_date == expected


def test_locations_and_warning_locations_are_read() -> None:
    assert parse_xponent_location("12(1,D2)") == (12, 1, "D2")
    assert parse_xponent_location(" 1 ( 2 , a1 ) ") == (1, 2, "A1")
    assert parse_xponent_location("1,A1") == (None, 1, "A1")
    assert parse_xponent_location("H12") == (None, 1, "H12")
    assert parse_xponent_location("1(1,A25)") is None
    text = plate_text().replace('"Location","Status","Message"\r\n', '"Location","Status","Message"\r\n"1,C1","Warning","low count"\r\n')
    plates = parse_xponent_bytes(text.encode(), label="p.csv")
    assert plates[0].wells.loc[plates[0].wells.well == "C1", "instrument_warnings"].eq(1).all()


def test_reported_concentration_tokens_are_kept_verbatim_with_a_flag() -> None:
    assert parse_reported_conc("< 2.44") == ("< 2.44", None, "below_curve")
    assert parse_reported_conc("OOR >") == ("OOR >", None, "above_curve")
    assert parse_reported_conc("***") == ("***", None, "not_available")
    assert parse_reported_conc("*12.5") == ("*12.5", 12.5, "extrapolated")
    assert parse_reported_conc("12,5", decimal=",") == ("12,5", 12.5, None)
    assert parse_reported_conc("") == (None, None, None)


def test_two_plates_in_one_batch_and_two_batches_in_one_file() -> None:
    one = plate_text()
    two = plate_text(PlateSpec(plate_number=2))
    plates = parse_xponent_bytes((one + two).encode(), label="p.csv")
    assert [p.plate_index for p in plates] == [1, 2]
    assert all(len(p.wells) == len(plates[0].wells) for p in plates)
    lines = one.splitlines()
    mixed = [re.sub(r'^"(\d+)\(1,([A-H])([4-9]|1[0-2])\)"', r'"\1(2,\2\3)"', ln) for ln in lines]
    plates = parse_xponent_bytes(("\r\n".join(mixed) + "\r\n").encode(), label="p.csv")
    assert len(plates) == 2
    assert set(plates[1].wells["sample_type"]) <= {"unknown", "control", "standard", "blank"}


def test_detection_claims_xponent_for_xponent_and_intelliflex_for_intelliflex() -> None:
    xp, ix = XponentPlugin(), IntelliflexPlugin()
    flex = plate_text().encode()
    intel = plate_text(PlateSpec(instrument="Intelliflex")).encode()
    assert xp.detect(flex, "a.csv") is not None and ix.detect(flex, "a.csv") is None
    assert ix.detect(intel, "a.csv") is not None and xp.detect(intel, "a.csv") is None
    assert xp.detect(b"\xef\xbb\xbf" + excel_resaved(plate_text()).encode(), "a.csv") is not None
    for junk in (b"", b"\x00\x01\x02", b"Sample,IL-6,IL-8\r\nA,1,2\r\n", "Plate,ß\r\n".encode("utf-16")):
        assert xp.detect(junk, "a.csv") is None and ix.detect(junk, "a.csv") is None


def test_plugin_tables_are_schema_valid_and_keep_sample_names_and_dates_private(tmp_path) -> None:
    path = tmp_path / "plate.csv"
    path.write_bytes(plate_text().encode())
    anchor = date(2020, 11, 1)
    ctx = ParseContext(label="plate.csv", study_day=lambda d: (d - anchor).days)
    parsed = XponentPlugin().parse(path, ctx)
    assert {"cytokine_plates", "cytokine_wells"} <= set(parsed.tables) <= set(XponentPlugin.produces)  # no curve printed here
    for name, table in parsed.tables.items():
        conform_as_ingest(name, table)
        for col in table.column_names:
            if col == SAMPLE_REF:
                continue
            values = " ".join(str(v) for v in table.column(col).to_pylist())
            assert "S000" not in values, (name, col)
            assert "2020" not in values and "12/1/" not in values, (name, col)
    plates = parsed.tables["cytokine_plates"].to_pylist()
    assert plates[0]["run_study_day"] == 30
    wells = parsed.tables["cytokine_wells"].to_pandas()
    assert set(wells[SAMPLE_REF].dropna()) == {"S0001", "S0002", "S0003", "S0004"}
    assert wells.loc[wells.sample_type != "unknown", SAMPLE_REF].isna().all()
    assert wells.loc[wells.sample_type == "unknown", SAMPLE_REF].notna().all()


def test_distinct_unnumbered_controls_get_distinct_labels_and_never_their_names() -> None:
    text = plate_text().replace('"Control1"', '"Healthy-control-negative"')
    lines = text.splitlines()
    # make the second replicate a different control
    i = next(k for k, ln in enumerate(lines) if ln.startswith('"DataType:","Median"'))
    j = [k for k in range(i, len(lines)) if '"Healthy-control-negative"' in lines[k]][1]
    lines[j] = lines[j].replace('"Healthy-control-negative"', '"Positive control"')
    plates = parse_xponent_bytes(("\r\n".join(lines) + "\r\n").encode(), label="p.csv", options={"accept_missing_crc": True})
    w = plates[0].wells
    labels = w.loc[w.sample_type == "control"].drop_duplicates("well")["well_label"].tolist()
    assert labels == ["ControlA", "ControlB"]
