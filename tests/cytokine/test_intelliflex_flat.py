"""The flat INTELLIFLEX CSV: columns by name, well types, plates by name, coded errors."""

from __future__ import annotations

import pytest
from immunolab_assays.luminex_intelliflex import IntelliflexPlugin
from immunolab_assays.luminex_intelliflex.flat import parse_intelliflex_flat_bytes
from immunolab_assays.luminex_xponent import XponentPlugin

from immunolab.errors import ERROR_CODES, InputError

HEADER = (
    "INSTRUMENT TYPE,SERIAL NUMBER,SOFTWARE VERSION,PLATE NAME,PLATE START,WELL LOCATION,WELL TYPE,WELL STATUS,"
    "SAMPLE ID,DILUTION,R25: RP1 ANALYTE NAME,R25: RP1 REGION,R25: RP1 MEDIAN,R25: RP1 NET MEDIAN,R25: RP1 COUNT,"
    "R45: RP1 ANALYTE NAME,R45: RP1 REGION,R45: RP1 MEDIAN,R45: RP1 NET MEDIAN,R45: RP1 COUNT,R45: RP2 MEDIAN"
)


def _row(well: str, wtype: str, sample: str, m1: str = "120", m2: str = "340", plate: str = "P1", dil: str = "2", count: str = "60") -> str:
    return (
        f"INTELLIFLEX,IFX1,Luminex INTELLIFLEX Bundle - 2.1.1015/Shell - 1.0,{plate},2024-10-07 12:00:00 PM,{well},{wtype},Completed,"
        f"{sample},{dil},IL-6,25,{m1},{m1},{count},TNF-a,45,{m2},{m2},{count},999"
    )


def _file(*rows: str) -> bytes:
    return ("\r\n".join([HEADER, *rows]) + "\r\n").encode()


def test_flat_export_reads_types_regions_dilutions_and_reporter_rp1() -> None:
    data = _file(_row("A1", "B1", "Background"), _row("B1", "S1", "Standard1", "9000", "12000"), _row("C1", "C1", "Control1"),
                 _row("D1", "U1", "S0001"), _row("E1", "U2", "S0001"))
    assert IntelliflexPlugin().detect(data, "x.csv") is not None and XponentPlugin().detect(data, "x.csv") is None
    plates = parse_intelliflex_flat_bytes(data, label="x.csv")
    assert len(plates) == 1
    w = plates[0].wells.set_index(["well", "analyte"])
    assert w.loc[("A1", "IL-6"), "sample_type"] == "blank"
    assert w.loc[("B1", "TNF-a"), "well_label"] == "Standard1"
    assert w.loc[("B1", "TNF-a"), "median_mfi"] == 12000.0  # RP1, not the RP2 column
    assert w.loc[("D1", "IL-6"), "dilution"] == 2.0
    assert w.loc[("D1", "TNF-a"), "bead_region"] == 45
    assert plates[0].software_version == "2.1.1015"


def test_rows_are_grouped_into_plates_by_plate_name() -> None:
    plates = parse_intelliflex_flat_bytes(_file(_row("A1", "U1", "S1x"), _row("A1", "U1", "S2x", plate="P2")), label="x.csv")
    assert [p.plate_index for p in plates] == [1, 2]


def test_standard_concentrations_can_be_given_as_an_option() -> None:
    data = _file(_row("A1", "S1", "Standard1"), _row("B1", "S2", "Standard2"))
    plates = parse_intelliflex_flat_bytes(data, label="x.csv", options={"standard_concentrations": {"IL-6": [1000.0, 250.0]}})
    w = plates[0].wells.set_index(["well", "analyte"])
    assert w.loc[("B1", "IL-6"), "expected_conc"] == 250.0
    assert w.loc[("B1", "TNF-a"), "expected_conc"] != w.loc[("B1", "TNF-a"), "expected_conc"]  # NaN


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "IML-IN-005"),
        (HEADER.replace("WELL LOCATION", "WELL").encode() + b"\r\n" + _row("A1", "U1", "S").encode(), "IML-CYT-002"),
        (HEADER.replace("MEDIAN", "MEAN").encode() + b"\r\n", "IML-CYT-002"),
        (HEADER.encode() + b"\r\n", "IML-CYT-002"),
        (_file(_row("A1", "U1", "S", m1="12a")), "IML-CYT-003"),
        (_file(_row("A1", "U1", "S", count="-4")), "IML-CYT-003"),
        (_file(_row("A1", "U1", "S", dil="0")), "IML-CYT-003"),
        (_file(_row("A1", "U1", "S"), _row("A1", "U2", "T")), "IML-CYT-004"),
        (_file(_row("Z9", "U1", "S")), "IML-CYT-001"),
        (_file(_row("A1", "U1", "S") + ",1,2,3"), "IML-CYT-001"),
        (_file(_row("A1", "U1", "S"))[:-40], "IML-CYT-001"),
    ],
)
def test_malformed_flat_exports_are_coded_input_errors(data: bytes, code: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_intelliflex_flat_bytes(data, label="x.csv")
    assert exc.value.code == code and code in ERROR_CODES
