"""Bio-Plex Manager and MSD exports per software version, built in code from descriptions of the real layouts.

No code or constants are shared with the demo writers nor with ``test_bioplex_factories``. Each
builder writes what the real files of that version look like (studied on the shared exports):

* ``bioplex_manager_4_1_summary`` (``pnLINCO20070302A.xls``): a ``Project Template`` sheet and
  one sheet per analyte; ``Key: value`` preamble; a header with ``Outlier`` and ``Conc in
  Range`` and no ``Bead Count``; one row per replicate group (``C1,D1``); a standard level
  designated as an outlier prints ``---`` and ``Outlier`` 1; 2-decimal ``Obs Conc``; a 4PL
  ``Std. Curve`` in the footer.
* ``bioplex_manager_6_per_well`` (``01-11A12-IgA-Biotin.xls``): one row per well with ``Bead
  Count`` and ``Sampling Errors``; blanks ``B``; 5-decimal ``Obs Conc`` with the tokens
  ``OOR <``, ``OOR >``, ``*x``, ``***``; a 5PL printed with its FitProb / ResVar.
* ``bioplex_manager_6_2_xml`` (``bio-rad_bio-plex_manager_example_01.xml``): ``<Wells>`` with
  bead regions, ``<StandardCurves>`` interpolators with Power Law Variance weighting,
  ``<Samples>`` with ``<MemberWells>`` readings and ``<MWObsConc>``.
* ``discovery_workbench_4_plate_blocks`` / ``_experiment_table`` (``msd_workbench_test_2.csv``,
  ``3plateMSD.csv``): ``Plate_<barcode>`` blocks, or one table with a ``Plate Name`` column.
* ``discovery_workbench_4_xlsx`` (``test_msd_workbench_xlsx.xlsx``): an ``MSD Data`` reader
  sheet (``Key :`` / value) beside the Workbench table sheet.
* ``msd_reader_mmpr_text`` (``methodical_*.txt``): header block, ``==========Data`` grid per spot,
  diagnostics sections.

Concentrations follow known curves, so every printed result can be checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Rows = list[list[Any]]

#: (A, B, C, D, F) of the curves, A = response at zero concentration (Bio-Plex prints it as ``d``)
FOUR_PL = (31.0, 21500.0, 640.0, -1.07, 1.0)
FIVE_PL = (1.9, 31800.0, 11.5, -4.1, 0.28)
#: 4.1 high-sensitivity kits: 7 levels, 5-fold, ascending numbering (S1 lowest)
LEVELS_4_1 = [0.128 * 5**k for k in range(7)]
#: IgA serology: 10 levels, 6-fold from 500, S1 highest
LEVELS_6 = [500.0 / 6**k for k in range(10)]
BACKGROUND = 14.0


def response(conc: float, curve: Sequence[float]) -> float:
    """Return the curve's response at ``conc`` (standards' units)."""
    a, b, c, d, f = curve
    return a + (b - a) / (1.0 + (conc / c) ** d) ** f


def concentration(signal: float, curve: Sequence[float]) -> float:
    """Return the concentration whose response is ``signal`` (NaN outside the asymptotes)."""
    a, b, c, d, f = curve
    if not min(a, b) < signal < max(a, b):
        return math.nan
    return c * (((b - a) / (signal - a)) ** (1.0 / f) - 1.0) ** (1.0 / d)


def _text(value: float, decimals: int, mark: str) -> str:
    return f"{value:.{decimals}f}".replace(".", mark)


def _curve_footer(curve: Sequence[float], model: str) -> Rows:
    a, b, c, d, f = curve
    tail = f"^{f:g}" if model == "5PL" else ""
    inner = f"((1 + (Conc / {c:g})^{d:g}))" if model == "5PL" else f"(1 + (Conc / {c:g})^{d:g})"
    return [[f"Regression Type: Logistic - {model}"], [f"Std. Curve: FI = {a:g} + ({b:g} - {a:g}) / {inner}{tail}"],
            ["FitProb. = 0.7123, ResVar. = 0.4012"]]


def bioplex_manager_4_1_summary(analyte: str = "IL-6 (12)", *, mark: str = ".", outlier_level: int | None = 5,
                                extra_column: str | None = None, exp_conc: Callable[[int, float], Any] | None = None) -> Rows:
    """Return the rows of one Bio-Plex Manager 4.1 summary analyte sheet (4PL).

    ``mark=","`` writes every number as text with a decimal comma (a workbook re-saved under a
    comma locale); ``exp_conc(level, conc)`` may rewrite the printed expected concentrations.
    """
    header = ["Analyte", "Type", "Well", "Outlier", "Description", "FI", "FI - Bkgd", "Std Dev", "%CV", "Obs Conc",
              "Exp Conc", "(Obs/Exp) * 100", "Conc in Range", "Group", "Ratio", "Dilution", "Sampling Errors"]
    if extra_column:
        header.append(extra_column)
    rows: Rows = [["File Name: G:\\Lab\\study 2007\\plate1.rbx"], [f"Analyte: {analyte}"],
                  ["Acquisition Date: 02-Mar-2007, 01:03 PM"], ["Reader Serial Number: LX10000000001"],
                  ["Plate ID: PLATE1"], ["RP1 PMT (Volts): 555.80"], ["RP1 Target: NA"], [], header]

    def num(v: float, decimals: int) -> Any:
        return _text(v, decimals, mark) if mark != "." else round(v, decimals)

    wells = iter(f"{r}{c},{chr(ord(r) + 1)}{c}" for c in range(1, 13) for r in "ACEG")
    for level, conc in enumerate(LEVELS_4_1, start=1):
        well = next(wells)
        printed = exp_conc(level, conc) if exp_conc else num(conc, 2)
        if level == outlier_level:
            rows.append([analyte, f"S{level}", well, 1, None, "---", "---", None, None, None, printed, None, None, None, None, 1])
            continue
        fi = response(conc, FOUR_PL)
        obs = concentration(round(fi, 1), FOUR_PL)
        rows.append([analyte, f"S{level}", well, 0, None, num(fi, 1), num(fi, 1), 2.1, 3.4, num(obs, 2), printed,
                     round(100 * obs / conc), num(obs, 2), None, None, 1])
    samples: list[tuple[str, float | None, Any]] = [
        ("PT-101 V1", 25.0, None), ("PT-101 V2", 300.0, None), ("PT-102 V1", None, "OOR <"),
        ("PT-102 V2", None, "OOR >"), ("PT-103 V1", 2600.0, "*"), ("PT-103 V2", None, "***"), ("PT-104 V1", None, "NaN"),
    ]
    for k, (name, conc, token) in enumerate(samples, start=1):
        fi = {"OOR <": 20.0, "OOR >": 22000.0}.get(str(token), response(conc or 1.0, FOUR_PL))
        obs: Any = num(concentration(round(fi, 1), FOUR_PL), 2)
        if token == "*":
            obs = f"*{obs}"
        elif token:
            obs = token
        rows.append([analyte, f"X{k}", next(wells), 0, name, num(fi, 1), num(fi, 1), 1.0, 1.0, obs, None, None, obs, None, None, 1])
    rows += [[], ["1 - Low bead #, 2 - Agg beads, 3 - Classify %, 4 - Region selection, 5 - Platform temperature"],
             ["***Value not available / --- = Designated as an outlier"], ["*Value extrapolated beyond standard range"]]
    return rows + _curve_footer(FOUR_PL, "4PL")


def project_template(weighted: str = "N") -> Rows:
    """Return a LabKey/SCHARP ``Project Template`` sheet as the 4.1 workbooks carry it."""
    return [["Row #", "Field", "SCHARP Field Name", "Type", "Length", "VALUE"],
            [10, "Units of Concentration", "UNITS", "Character", 5, "pg/ml"],
            [14, "Analysis Software", "SOFTWARE", "Character", 8, "BM-4.1"],
            [15, "Curve Fit Method", "CURVEFIT", "Character", 3, "4PL"],
            [16, "Weighted Curve Fit?", "WEIGHTED", "Character", 1, weighted],
            [21, "Comment field", "COMMENTS", "Character", 200, "patients from ward 3, call Dr. X"]]


def bioplex_manager_6_per_well(analyte: str = "ENV1 (31)", *, thousands: bool = False) -> Rows:
    """Return the rows of one Bio-Plex Manager 6 per-well analyte sheet (5PL, Bead Count).

    ``thousands=True`` writes the FI of the top standards as text with a thousands separator
    (``31,652.0``), as a re-saved workbook does.
    """
    rows: Rows = [["File Name: 07-12B34-IgA-Biotin.srbx"], [f"Analyte: {analyte}"],
                  ["Acquisition Date: 21-Jun-2011, 01:47 PM"], ["Reader Serial Number: LX10000000002"],
                  ["Standard Lot: Standard1 Expiration Date: <none>"], ["Plate ID: 07-12B34"],
                  ["Signed By: Some Operator"], ["Document ID: 1111"], ["RP1 PMT (Volts): 738.95"], ["RP1 Target: 16357"], [],
                  ["Analyte", "Type", "Well", "Description", "FI", "FI - Bkgd", "Std Dev", "%CV", "Obs Conc", "Exp Conc",
                   "(Obs/Exp) * 100", "Group", "Ratio", "Dilution", "Bead Count", "Sampling Errors"]]
    for well in ("G12", "H12"):
        rows.append([analyte, "B", well, None, BACKGROUND, BACKGROUND, None, None, None, None, None, None, None, 1, 150])
    for level, conc in enumerate(LEVELS_6, start=1):
        for rep, row in enumerate("GH"):
            net = response(conc, FIVE_PL) * (0.98 if rep == 0 else 1.02)
            obs = concentration(round(net, 1), FIVE_PL)
            fi: Any = round(net + BACKGROUND, 1)
            if thousands and fi >= 1000:
                fi = f"{fi:,.1f}"
            text: Any = round(obs, 5) if math.isfinite(obs) else ("OOR >" if net > 1000 else "OOR <")
            rows.append([analyte, f"S{level}", f"{row}{level}", f"Standard{level}", fi, round(net, 1), None, None, text,
                         round(conc, 5), None, None, None, 1, 120 + level])
    for k, (conc, token) in enumerate(((40.0, None), (90.0, "*"), (None, "***")), start=1):
        net = response(conc or 0.002, FIVE_PL)
        value: Any = round(concentration(round(net, 1), FIVE_PL) * 200, 5)
        value = f"*{value}" if token == "*" else (token or value)
        rows.append([analyte, f"X{k}", f"A{k}", None, round(net + BACKGROUND, 1), round(net, 1), None, None, value,
                     None, None, None, None, 200, 20 if k == 3 else 160, "1" if k == 3 else None])
    rows += [[], ["Sampling Errors: 1 - Low bead #;  2 - Agg beads;  3 - Classify %;  4 - Region selection;  5 - Platform temperature"],
             ["*** = Value not available;   --- = Designated as an outlier"], ["*Value = Value extrapolated beyond standard range"], []]
    return rows + _curve_footer(FIVE_PL, "5PL")


def write_workbook(path: Path, sheets: dict[str, Rows]) -> Path:
    """Write ``sheets`` (name -> rows) as an .xlsx workbook and return ``path``."""
    import openpyxl

    wb = openpyxl.Workbook()
    for i, (name, rows) in enumerate(sheets.items()):
        ws = wb.active if i == 0 else wb.create_sheet()
        assert ws is not None
        ws.title = name
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def bioplex_manager_6_2_xml(*, extra_section: str | None = None, samples: bool = True, valid_curve: bool = True) -> str:
    """Return a Bio-Plex Manager 6.2 XML export: one region, blanks, 6 standards, 2 unknowns."""
    wells: list[str] = []
    members: dict[str, list[str]] = {"Blanks": [], "Standards": [], "Unknowns": []}
    levels = [10000.0 / 4**k for k in range(6)]
    n = 0

    def well(group: str, label: str, net: float, obs: str | None, expected: float | None = None, description: str = "") -> None:
        nonlocal n
        row, col = n % 8 + 1, n // 8 + 1
        n += 1
        wells.append(f'<Well RowNo="{row}" ColNo="{col}" WellNo="{n}"><PlateID>77</PlateID>'
                     f"<AcquisitionTime>2023-05-09T18:55:02Z</AcquisitionTime><MachineInfo><SerialNumber>LX1234</SerialNumber>"
                     f'</MachineInfo><BeadRegions><BeadRegion RegionNumber="12"><RegionCount>61</RegionCount>'
                     f"<Median>{net + BACKGROUND:.2f}</Median></BeadRegion></BeadRegions></Well>")
        conc = ('<MWObsConc ReadingOK="false" ReadError="Data field has not been set" ReadErrorCode="9">0</MWObsConc>'
                if obs is None else f'<MWObsConc ReadingOK="true">{obs}</MWObsConc>')
        member = (f'<MemberWell RowNo="{row}" ColNo="{col}" WellNumber="{n}"><MWAnalytes><MWAnalyte RegionNumber="12">'
                  f'<AnalyteName>IL-6</AnalyteName><Reading Valid="true" Code="0" OutlierType="None">{net + BACKGROUND:.17E}'
                  f"</Reading>{conc}</MWAnalyte></MWAnalytes></MemberWell>")
        exp = "" if expected is None else (f'<Analytes><Analyte RegionNumber="12"><AnalyteName>IL-6</AnalyteName>'
                                           f"<ExpectedConc>{expected:.17E}</ExpectedConc></Analyte></Analytes>")
        item = {"Blanks": "Blank", "Standards": "Standard", "Unknowns": "Unknown"}[group]
        members[group].append(f"<{item}><Description>{description}</Description><Label>{label}</Label>"
                              f"<Dilution>1.0E+000</Dilution>{exp}<MemberWells>{member}</MemberWells></{item}>")

    for _ in range(2):
        well("Blanks", "B", 0.0, None)
    for level, conc in enumerate(levels, start=1):
        well("Standards", f"S{level}", response(conc, FIVE_PL), f"{conc:.6f}", conc)
    for k, conc in enumerate((3.0, 40.0), start=1):
        well("Unknowns", f"X{k}", response(conc, FIVE_PL), f"{conc:.6f}", description=f"PT-20{k} D0")
    interp = ('<Interpolator RegionNumber="12" External="false" IsValid="{}"><AnalyteName>IL-6</AnalyteName>'
              '<ConcentrationUnits>pg/ml</ConcentrationUnits><Regression Type="10">Logistic - 5PL</Regression>'
              "<LogisticWeighting><LogisticWeightingModel>Power Law Variance</LogisticWeightingModel>"
              '<LogisticWeightingCoefficientA AutoCalc="true">1.00000000000000000E-002</LogisticWeightingCoefficientA>'
              "<LogisticWeightingCoefficientB>1.80000000000000000E+000</LogisticWeightingCoefficientB></LogisticWeighting>"
              "{}</Interpolator>").format("true" if valid_curve else "false",
                                          "" if valid_curve else "<EquationErr>Unable to calculate regression</EquationErr>")
    body = "".join(f"<{g}>{''.join(items)}</{g}>" for g, items in members.items())
    extra = f"<{extra_section}><Setting>1</Setting></{extra_section}>" if extra_section else ""
    samples_xml = f"<Samples>{body}</Samples>" if samples else ""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<bpm:BioPlexManager xmlns:bpm="http://www.Bio-Rad.com/XMLschema/2010/Bio-Plex_5" BioPlexManagerVersion="6.2.0.175">'
            "<AuthorName>Some Author</AuthorName><NativeDocumentName>study plate</NativeDocumentName>"
            '<PlateDimensions Columns="12" Rows="8" TotalWells="96" />'
            f"<Wells>{''.join(wells)}</Wells>{extra}<StandardCurves><Interpolators>{interp}</Interpolators></StandardCurves>"
            f"{samples_xml}</bpm:BioPlexManager>\n")


WORKBENCH_COLUMNS = ["Sample", "Assay", "Well", "Spot", "Dilution", "Concentration", "Signal", "Adjusted Signal", "Mean",
                     "Adj. Sig. Mean", "CV", "% Recovery", "% Recovery Mean", "Calc. Concentration", "Calc. Conc. Mean",
                     "Calc. Conc. CV"]
#: (A, B, C, D) of the MSD 4PL (ECL counts against U/mL)
MSD_4PL = (150.0, 3.0e7, 700.0, -1.01, 1.0)
MSD_LEVELS = [70.0 / 4**k for k in range(7)] + [0.0]


#: MSD's kit controls as Workbench lists them: name and known concentration (U/mL) on a calibrated spot
MSD_KIT_CONTROLS: tuple[tuple[str, float], ...] = (("MSD 1.1", 16.7),)


def _workbench_rows(plate: str, *, assay: str = "SARS-CoV-2 S", spot: int = 1, signal_scale: float = 1.0,
                    calibrators: Sequence[float] = MSD_LEVELS, calibrated: bool = True,
                    kit_controls: Sequence[tuple[str, float | None]] = MSD_KIT_CONTROLS) -> list[list[str]]:
    """Return one plate's rows of one assay; ``calibrated=False`` leaves out the calibrator rows (a BSA spot).

    Wells are laid out the same on every assay (the calibrators' wells stay empty on an uncalibrated
    one); a kit control with concentration None prints an empty ``Concentration``.
    """
    rows: list[list[str]] = []
    wells = iter(f"{r}{c:02d}" for c in range(1, 25) for r in "ABCDEFGHIJKLMNOP")
    for k, conc in enumerate(calibrators, start=1):
        for _rep in range(2):
            well = next(wells)
            if not calibrated:
                continue
            sig = response(conc, MSD_4PL) * signal_scale if conc > 0 else MSD_4PL[0] * signal_scale
            calc = concentration(sig, MSD_4PL)
            rows.append([f"CAL{k}", assay, well, str(spot), "", f"{conc:g}", f"{sig:.0f}", f"{sig:.0f}", "", "", "", "",
                         "", "NaN" if not math.isfinite(calc) else f"{calc:.8g}", "", ""])
    samples = [(name, conc, 1, conc) for name, conc in kit_controls]
    samples += [("Sample 7", 2.5, 500, None), ("Sample 8", None, 500, None)]
    for name, conc, dil, known in samples:
        sig = response(conc / dil, MSD_4PL) if conc else 120.0
        calc = concentration(sig, MSD_4PL) * dil
        rows.append([name, assay, next(wells), str(spot), str(dil), "" if known is None else f"{known:g}",
                     f"{sig:.0f}", f"{sig:.0f}", "", "", "", "", "", "NaN" if not math.isfinite(calc) else f"{calc:.8g}", "", ""])
    rows.append(["Blank (Diluent)", assay, next(wells), str(spot), "", "", "141", "", "", "", "", "", "", "", "", ""])
    return [[plate, *r] for r in rows]


def discovery_workbench_4_plate_blocks(*, delimiter: str = ",", mark: str = ".") -> str:
    """Return a Discovery Workbench 4 CSV with ``Plate_<barcode>`` blocks (two plates)."""
    lines: list[str] = []
    for plate in ("Plate_AB12CD", "Plate_EF34GH"):
        lines += [plate, delimiter.join(WORKBENCH_COLUMNS)]
        for row in _workbench_rows(plate):
            cells = [c.replace(".", mark) if mark != "." and c and c[0].isdigit() else c for c in row[1:]]
            lines.append(delimiter.join(cells))
    return "\r\n".join(lines) + "\r\n"


def discovery_workbench_4_experiment_table(*, plates: Sequence[str] = ("Plate_1AA", "Plate_1BB", "Plate_1CC"),
                                           extra_column: str | None = None, blocking_spot: bool = False,
                                           kit_controls: Sequence[tuple[str, float]] = MSD_KIT_CONTROLS) -> str:
    """Return a Discovery Workbench 4 ``Experiment Data Table`` CSV: one table, a ``Plate Name`` column.

    ``blocking_spot`` adds a BSA assay on spot 4 without calibrators, as ``3plateMSD.csv`` has, where
    only the first kit control keeps its known concentration (the others print none there).
    """
    header = ["Plate Name", *WORKBENCH_COLUMNS, *([extra_column] if extra_column else [])]
    lines = ["# Experiment_2020-09-01-085942: Experiment Data Table" + "," * (len(header) - 1), ",".join(header)]
    on_bsa = [(name, conc if k == 0 else None) for k, (name, conc) in enumerate(kit_controls)]
    for plate in plates:
        rows = _workbench_rows(plate, kit_controls=kit_controls)
        if blocking_spot:
            bsa = _workbench_rows(plate, assay="BSA", spot=4, calibrated=False, kit_controls=on_bsa)
            rows += [[*row[:14], "", *row[15:]] for row in bsa]  # no curve, no Calc. Concentration
        lines += [",".join([*row, *(["x"] if extra_column else [])]) for row in rows]
    return "\r\n".join(lines) + "\r\n"


def discovery_workbench_4_xlsx(path: Path) -> Path:
    """Write a Discovery Workbench 4 Excel export (``MSD Data`` reader sheet + table sheet)."""
    reader = [["FileName :", "C:\\Users\\someone\\plate.txt"], ["Run Name  :", "Run 9"], ["Plate Type :", "384 4-Spot"],
              ["Read Time :", "2020-09-01 08:59:42"], ["MSD Read Software Version :", "MMPR 2.0.10"], ["Machine ID :", "1201"],
              ["User :", "someone"]]
    table = [["Plate_XL001"], WORKBENCH_COLUMNS]
    for row in _workbench_rows("Plate_XL001"):
        table.append([float(c) if c.replace(".", "").replace("-", "").replace("e", "").isdigit() else (c or None) for c in row[1:]])
    return write_workbook(path, {"MSD Data": reader, "Workbench data": table})


def msd_reader_mmpr_text(*, spots: Sequence[int] = (1, 2), unknown_section: str | None = None, data: bool = True) -> str:
    """Return an MSD reader (MMPR) text export of one 96-well plate with one Data grid per spot."""
    out: list[str] = []
    for spot in spots:
        out += ["FileName :\tC:\\Users\\someone\\plate.txt", "Stack ID :\t0.1", "Plate #  :\t1", "Barcode1 :\t<*MSD0042*>",
                "Type     :\t96", "Spots Per Well:\t4", "Read Time:\t09/08/2023\t13:39:33 EDT", "Version  :\tMMPR 1.0.38",
                "User     :\tsomeone", "Serial # :\t7", "Model    :\tQuickPlex SQ 120", f"SpotID   :\t{spot}"]
        if data:
            out += ["==========Data==========", "\t" + "\t".join(str(c) for c in range(1, 13))]
            out += [f"{r}\t" + "\t".join(str(100 * spot + 10 * i + c) for c in range(1, 13)) for i, r in enumerate("ABCDEFGH")]
        out += ["", "==========Processing==========", "Radius   :\t18.00", ""]
        if unknown_section:
            out += [f"=========={unknown_section}==========", "Foo :\t1", ""]
    return "\r\n".join(out) + "\r\n"
