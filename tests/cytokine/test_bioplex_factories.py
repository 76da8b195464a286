"""Factories of synthetic Bio-Plex Manager and MSD exports (and checks that the factories are sound).

The synthetic plate follows a known 5PL, ``y = A + (B - A) / (1 + (x / C)^D)^F`` with the
Bio-Plex sign convention (D < 0), so tests can compare every computed concentration with the
truth. Sample descriptions look like patient codes on purpose: they must only ever leave the
plugin in ``_sample_ref``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TRUE_CURVE = {"a": 20.0, "b": 30000.0, "c": 500.0, "d": -1.2, "f": 0.8}
BACKGROUND = 15.0
STANDARDS = [10000.0 / 4**k for k in range(8)]  # S1 (highest) .. S8
UNKNOWN_TRUE = {"PT-001 D0": 40.0, "PT-001 D3": 250.0, "PT-002 D0": 1200.0, "PT-002 D3": 9.0}
UNKNOWN_DILUTION = 2.0
SIGNED_BY = "Jane Operator"  # a person's name in the preamble: must never reach the tables

Rows = list[list[Any]]


def true_signal(conc: float) -> float:
    """Return the background-subtracted signal of the synthetic curve at ``conc`` (pg/mL)."""
    p = TRUE_CURVE
    return p["a"] + (p["b"] - p["a"]) / (1.0 + (conc / p["c"]) ** p["d"]) ** p["f"]


def true_inverse(signal: float) -> float:
    """Return the concentration (pg/mL) whose synthetic signal is ``signal``."""
    p = TRUE_CURVE
    return p["c"] * (((p["b"] - p["a"]) / (signal - p["a"])) ** (1.0 / p["f"]) - 1.0) ** (1.0 / p["d"])


def _well(index: int) -> str:
    return f"{'ABCDEFGH'[index % 8]}{index // 8 + 1}"


def bioplex_sheet_rows(analyte: str, *, region_shift: float = 1.0) -> Rows:
    """Return the rows of one Bio-Plex Manager 5/6 per-well analyte sheet."""
    rows: Rows = [
        ["File Name: C:\\Lab\\study\\plate7.srbx"],
        [f"Analyte: {analyte}"],
        ["Acquisition Date: 21-Jun-2011, 01:47 PM"],
        ["Reader Serial Number: LX100TEST"],
        ["Standard Lot: Lot42 Expiration Date: <none>"],
        ["Plate ID: P7"],
        [f"Signed By: {SIGNED_BY}"],
        ["Document ID: 1234"],
        ["RP1 PMT (Volts): 700.00"],
        ["RP1 Target: 1000"],
        [],
        ["Analyte", "Type", "Well", "Description", "FI", "FI - Bkgd", "Std Dev", "%CV", "Obs Conc",
         "Exp Conc", "(Obs/Exp) * 100", "Group", "Ratio", "Dilution", "Bead Count", "Sampling Errors"],
    ]
    n = 0
    for fi in (BACKGROUND - 1.0, BACKGROUND + 1.0):
        rows.append([analyte, "B", _well(n), None, fi, fi, None, None, None, None, None, None, None, 1, 120, None])
        n += 1
    for level, conc in enumerate(STANDARDS, start=1):
        for rep in (0.99, 1.01):
            net = true_signal(conc) * rep * region_shift
            obs = true_inverse(net)
            rows.append([analyte, f"S{level}", _well(n), "Standard1", net + BACKGROUND, net, None, None,
                         round(obs, 5), conc, None, None, None, 1, 100 + level, None])
            n += 1
    for number, (name, conc) in enumerate(UNKNOWN_TRUE.items(), start=1):
        for _rep in range(2):
            net = true_signal(conc / UNKNOWN_DILUTION) * region_shift
            obs = true_inverse(net) * UNKNOWN_DILUTION
            rows.append([analyte, f"X{number}", _well(n), name, net + BACKGROUND, net, None, None,
                         round(obs, 5), None, None, None, None, UNKNOWN_DILUTION, 90, None])
            n += 1
    # a below-range unknown and an extrapolated one, with Bio-Plex tokens
    rows.append([analyte, "X5", _well(n), "PT-003 D0", 21.0, 6.0, None, None, "OOR <", None, None, None, None, 1, 80, "1"])
    rows.append([analyte, "X6", _well(n + 1), "PT-003 D3", 29990.0, 29975.0, None, None, "*19876.5", None, None, None, None, 1, 20, None])
    rows += [
        [],
        ["Sampling Errors: 1 - Low bead #;  2 - Agg beads;  3 - Classify %;  4 - Region selection;  5 - Platform temperature"],
        ["*** = Value not available;   --- = Designated as an outlier"],
        ["*Value = Value extrapolated beyond standard range"],
        [],
        ["Regression Type: Logistic - 5PL"],
        ["Std. Curve: FI = {a} + ({b} - {a}) / ((1 + (Conc / {c})^{d}))^{f}".format(**TRUE_CURVE)],
        ["FitProb. = 0.9000, ResVar. = 0.1000"],
    ]
    return rows


def write_xlsx(path: Path, sheets: dict[str, Rows]) -> Path:
    """Write ``sheets`` (name -> rows) as an .xlsx workbook and return ``path``."""
    import openpyxl

    wb = openpyxl.Workbook()
    first = True
    for name, rows in sheets.items():
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        ws.title = name
        first = False
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def make_bioplex_xlsx(
    tmp_path: Path, *, mutate: Callable[[dict[str, Rows]], None] | None = None, name: str = "plate.xlsx"
) -> Path:
    """Write a two-analyte Bio-Plex export (IL-6, TNF-alpha), optionally mutated, and return it."""
    sheets = {"IL-6 (12)": bioplex_sheet_rows("IL-6 (12)"), "TNF-alpha (40)": bioplex_sheet_rows("TNF-alpha (40)")}
    if mutate is not None:
        mutate(sheets)
    return write_xlsx(tmp_path / name, sheets)


def data_row(sheets: dict[str, Rows], sheet: str, index: int = 0) -> list[Any]:
    """Return the ``index``-th data row (after the header) of ``sheet`` for mutation."""
    rows = sheets[sheet]
    header = next(i for i, r in enumerate(rows) if r[:3] == ["Analyte", "Type", "Well"])
    return rows[header + 1 + index]


BIOPLEX_XML = """<?xml version="1.0" encoding="UTF-8"?>
<bpm:BioPlexManager xmlns:bpm="http://www.Bio-Rad.com/XMLschema/2010/Bio-Plex_5" BioPlexManagerVersion="6.2.0.175">
  <AuthorName>Jane Operator</AuthorName>
  <Wells>
    <Well RowNo="1" ColNo="1" WellNo="1"><PlateID>9</PlateID><AcquisitionTime>2023-05-09T18:55:02Z</AcquisitionTime>
      <MachineInfo><SerialNumber>LX1</SerialNumber></MachineInfo>
      <BeadRegions><BeadRegion RegionNumber="12"><RegionCount>55</RegionCount><Median>60.00</Median></BeadRegion></BeadRegions>
    </Well>
  </Wells>
  <StandardCurves><Interpolators>
    <Interpolator RegionNumber="12" IsValid="false"><AnalyteName>IL-6</AnalyteName>
      <Regression Type="10">Logistic - 5PL</Regression>
      <LogisticWeighting><LogisticWeightingModel>Power Law Variance</LogisticWeightingModel>
        <LogisticWeightingCoefficientB>1.8</LogisticWeightingCoefficientB></LogisticWeighting>
      <EquationErr>Unable to calculate regression</EquationErr></Interpolator>
  </Interpolators></StandardCurves>
  <Samples>
    <Blanks><Blank><Label>B</Label><MemberWells>
      <MemberWell RowNo="1" ColNo="1"><MWAnalytes><MWAnalyte RegionNumber="12"><AnalyteName>IL-6</AnalyteName>
        <Reading Valid="true" OutlierType="None">60.0</Reading></MWAnalyte></MWAnalytes></MemberWell>
    </MemberWells></Blank></Blanks>
    <Unknowns><Unknown><Description>PT-009 D0</Description><Label>X1</Label><Dilution>2</Dilution><MemberWells>
      <MemberWell RowNo="2" ColNo="1"><MWAnalytes><MWAnalyte RegionNumber="12"><AnalyteName>IL-6</AnalyteName>
        <Reading Valid="true" OutlierType="None">{reading}</Reading>
        <MWObsConc ReadingOK="false" ReadError="Data field has not been set">0</MWObsConc></MWAnalyte></MWAnalytes></MemberWell>
      {extra}
    </MemberWells></Unknown></Unknowns>
  </Samples>
</bpm:BioPlexManager>
"""


def make_bioplex_xml(tmp_path: Path, *, reading: str = "560.0", extra: str = "", text: str | None = None) -> Path:
    """Write a minimal Bio-Plex Manager XML export (one blank, one unknown well) and return it."""
    path = tmp_path / "plate.xml"
    path.write_text(text if text is not None else BIOPLEX_XML.format(reading=reading, extra=extra))
    return path


WORKBENCH_HEADER = "Sample,Assay,Well,Spot,Dilution,Concentration,Signal,Adjusted Signal,Detection Range,Calc. Concentration"


def workbench_csv_lines() -> list[str]:
    """Return the lines of a one-plate Discovery Workbench CSV with standards, a blank and samples."""
    lines = ["Plate_SYN001", WORKBENCH_HEADER]
    for level, conc in enumerate(STANDARDS[:7], start=1):
        for rep, well in enumerate((f"A{level:02d}", f"B{level:02d}")):
            sig = true_signal(conc) * (0.99 if rep == 0 else 1.01) + BACKGROUND
            lines.append(f"S{level:03d},IL-6,{well},1,,{conc},{sig:.1f},{sig - BACKGROUND:.1f},In Detection Range,{conc:.3f}")
    lines.append(f"Blank,IL-6,A08,1,,,{BACKGROUND:.1f},0,Below Fit Curve Range,NaN")
    lines.append(f"Blank,IL-6,B08,1,,,{BACKGROUND:.1f},0,Below Fit Curve Range,NaN")
    for i, (name, conc) in enumerate(UNKNOWN_TRUE.items()):
        for well in (f"C{i + 1:02d}", f"D{i + 1:02d}"):
            sig = true_signal(conc / UNKNOWN_DILUTION) + BACKGROUND
            lines.append(f"{name},IL-6,{well},1,{UNKNOWN_DILUTION},,{sig:.1f},{sig - BACKGROUND:.1f},In Detection Range,{conc:.3f}")
    return lines


def make_workbench_csv(tmp_path: Path, lines: list[str] | None = None, name: str = "msd.csv") -> Path:
    """Write a Discovery Workbench CSV (default: :func:`workbench_csv_lines`) and return it."""
    path = tmp_path / name
    path.write_text("\r\n".join(lines if lines is not None else workbench_csv_lines()) + "\r\n")
    return path


def reader_text_lines(*, spots: tuple[int, ...] = (1,), rows: str = "ABCDEFGH", columns: int = 12) -> list[str]:
    """Return the lines of an MSD reader text export (one plate, one Data grid per spot)."""
    out: list[str] = []
    for spot in spots:
        out += [
            "FileName :\tC:\\Users\\someone\\plate.txt", "Stack ID :\t0.1", "Plate #  :\t1",
            "Barcode1 :\t<*SYN0001*>", "Type     :\t96", "Spots Per Well:\t1", "Det Param:\tStandard",
            "Read Time:\t09/08/2023\t13:39:33 EDT", "Version  :\tMMPR 1.0.38", "User     :\tjdoe",
            "Serial # :\t42", "Model    :\tHTS", f"SpotID   :\t{spot}", "==========Data==========",
            "\t" + "\t".join(str(c) for c in range(1, columns + 1)),
        ]
        for r, letter in enumerate(rows):
            out.append(letter + "\t" + "\t".join(str(1000 * spot + 10 * r + c) for c in range(1, columns + 1)))
        out += ["", "==========Processing==========", "Radius   :\t18.00", ""]
    return out


def make_reader_text(tmp_path: Path, lines: list[str] | None = None) -> Path:
    """Write an MSD reader text export and return it."""
    path = tmp_path / "reader.txt"
    path.write_text("\r\n".join(lines if lines is not None else reader_text_lines()) + "\r\n")
    return path


def test_the_synthetic_curve_inverts_exactly() -> None:
    for conc in (1.0, 55.0, 999.0):
        assert true_inverse(true_signal(conc)) == pytest.approx(conc, rel=1e-12)


def test_the_factories_write_files_the_readers_accept(tmp_path: Path) -> None:
    from immunolab_assays.bioplex.workbook import read_bioplex_workbook
    from immunolab_assays.bioplex.xml_export import read_bioplex_xml
    from immunolab_assays.msd.methodical import read_reader_text
    from immunolab_assays.msd.workbench import read_workbench_csv

    assert len(read_bioplex_workbook(make_bioplex_xlsx(tmp_path), "p.xlsx")[0].wells) == 2 * (2 + 16 + 8 + 2)
    assert len(read_bioplex_xml(make_bioplex_xml(tmp_path), "p.xml").wells) == 2
    assert len(read_workbench_csv(make_workbench_csv(tmp_path), "m.csv")[0].wells) == 14 + 2 + 8
    assert len(read_reader_text(make_reader_text(tmp_path), "r.txt")[0].wells) == 96
