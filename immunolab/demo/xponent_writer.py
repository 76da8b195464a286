"""Write xPONENT-style batch CSV exports (the demo trial's plates and the test factories).

The layout follows the real exports in ``/work/shared/data/cytokine/luminex_xponent``: a
key-value header, calibration block, ``"Samples"`` and ``"Results"`` markers, then one
``"DataType:"`` section per statistic and the ``-- CRC --`` trailer. Sections written: Median,
Net MFI, Count, Result, Avg Net MFI, Avg Result, %CV Replicates, Expected Result, Control
Range - Low / High, Units, Per Bead Count, Dilution Factor, Analysis Types (with a
``Std. Curve`` coefficient row when curves are given), Audit Logs, Warnings/Errors.

The analysed sections (Result, Expected Result, Control Range, Std. Curve) use the names of
xPONENT's analysis export as far as they are known; no analysed real export was available to
check their exact spelling, so the parser reads them by normalised name. The CRC32 line is
``zlib.crc32`` of the text before it (xPONENT's own checksum input is not documented).
"""

from __future__ import annotations

import csv
import io
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["WellRecord", "XponentExport", "format_number", "render_xponent_csv"]


def format_number(value: float | None, *, decimals: int | None = None, decimal: str = ".") -> str:
    """Return ``value`` as xPONENT prints it (``NaN`` for missing; ``decimals`` fixes the digits)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "NaN"
    text = f"{value:.{decimals}f}" if decimals is not None else f"{value:.10g}"
    if "e" in text and decimals is None:
        text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text.replace(".", decimal) if decimal != "." else text


@dataclass
class WellRecord:
    """One acquired well: location, sample, dilution and per-analyte values (analyte order)."""

    well: str
    sample: str
    dilution: float | None
    median: list[float | None]
    net_mfi: list[float | None]
    count: list[int | None]
    result: list[str] | None = None
    expected: list[float | None] | None = None
    warning: bool = False


@dataclass
class XponentExport:
    """Everything needed to render one xPONENT batch export (one plate)."""

    analytes: list[str]
    bead_regions: list[int]
    wells: list[WellRecord]
    instrument: str = "FLEXMAP 3D"
    build: str = "4.3.229.0"
    serial: str = "FM3DD00000000"
    batch: str = "Batch"
    protocol: str = "Protocol"
    operator: str = ""
    run_start: datetime = field(default_factory=lambda: datetime(2020, 1, 1, 9, 0, 0))
    run_minutes: int = 60
    units: str = "pg/mL"
    per_bead: int = 50
    plate_number: int = 1
    curves: dict[str, str] = field(default_factory=dict)
    analysis_type: str = "5PL Weighted 1/Y^2"
    control_ranges: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)


def _us_datetime(t: datetime) -> str:
    hour = t.hour % 12 or 12
    return f"{t.month}/{t.day}/{t.year} {hour}:{t.minute:02d}:{t.second:02d} {'AM' if t.hour < 12 else 'PM'}"


def _avg(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None


def _cv(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if len(vals) < 2:
        return None
    m = sum(vals) / len(vals)
    if m == 0:
        return None
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))
    return 100.0 * sd / abs(m)


def _result_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def render_xponent_csv(export: XponentExport, *, quote_all: bool = True, delimiter: str = ",", decimal: str = ".") -> str:
    """Return the text of the export (CRLF line ends, like xPONENT on Windows)."""
    buf = io.StringIO()
    writer = csv.writer(
        buf, delimiter=delimiter, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL, lineterminator="\r\n",
    )
    num = lambda v, d=None: format_number(v, decimals=d, decimal=decimal)  # noqa: E731
    t0 = export.run_start
    t1 = datetime.fromtimestamp(t0.timestamp() + 60 * export.run_minutes)
    n = len(export.analytes)
    w = writer.writerow
    w(["Program", "xPONENT", "", export.instrument])
    w(["Build", export.build])
    w(["Date", f"{t0.month:02d}/{t0.day:02d}/{t0.year}", f"{(t0.hour % 12) or 12}:{t0.minute:02d} {'AM' if t0.hour < 12 else 'PM'}"])
    w([])
    for row in (
        ["SN", export.serial], ["Batch", export.batch], ["Version", "1"], ["Operator", export.operator],
        ["ComputerName", "LAB-PC"], ["Country Code", "409"], ["ProtocolName", export.protocol],
        ["ProtocolVersion", "1"], ["ProtocolDescription", ""], ["ProtocolDevelopingCompany", ""],
        ["SampleVolume", "50 uL"], ["DDGate", "7500 to 15000"], ["SampleTimeout", "60 sec"],
        ["BatchStartTime", _us_datetime(t0)], ["BatchStopTime", _us_datetime(t1)], ["BatchDescription", "<None>"],
        ["ProtocolPlate", "Name", "Current 96-well plate", "Type", "96", "Plates", "1"],
        ["ProtocolMicrosphere", "Map", "FlexMAP 3D Map", "Type", "MagPlex", "Count", str(n)],
        ["ProtocolReporterGain", "Standard PMT"], ["ProtocolAnalysis", "On"], ["NormBead", "None"],
        ["ProtocolHeater", "Off"],
    ):
        w(row)
    w([])
    w(["Most Recent Calibration and Verification Results:"])
    w(["Last F3DeCAL1 Calibration", f"Passed {t0.month:02d}/{t0.day:02d}/{t0.year} 08:05:11"])
    w(["Last F3DeVER1 Verification", f"Passed {t0.month:02d}/{t0.day:02d}/{t0.year} 08:07:16"])
    w(["Last Fluidics Test", f"Passed {t0.month:02d}/{t0.day:02d}/{t0.year} 08:08:43"])
    w([""])
    w(["CALInfo:"])
    w(["Reporter Calibrator"])
    w(["Lot", "ExpirationDate", "CalibrationTime", "RP1Volts", "RP1Val", "Result", "MachineSerialNo"])
    w(["B00001", f"12/31/{t0.year + 1}", _us_datetime(t0.replace(hour=8, minute=5)), num(727.28), num(15508.0), "Pass", export.serial])
    w([])
    w([])
    w(["Samples", str(len(export.wells)), "Min Events", str(export.per_bead), "Per Bead"])
    w([])
    w(["Results"])
    w([])
    p = export.plate_number

    def loc(i: int, rec: WellRecord) -> str:
        return f"{i + 1}({p},{rec.well})"

    def well_section(name: str, values: list[list[str]], total: bool = True) -> None:
        w(["DataType:", name])
        w(["Location", "Sample", *export.analytes, *(["Total Events"] if total else [])])
        for i, (rec, vals) in enumerate(zip(export.wells, values, strict=True)):
            events = sum(c or 0 for c in rec.count) + 40
            w([loc(i, rec), rec.sample, *vals, *([str(events)] if total else [])])
        w([])

    well_section("Median", [[num(v) for v in r.median] for r in export.wells])
    well_section("Net MFI", [[num(v) for v in r.net_mfi] for r in export.wells])
    well_section("Count", [[("NaN" if v is None else str(v)) for v in r.count] for r in export.wells])
    has_results = all(r.result is not None for r in export.wells)
    if has_results:
        well_section("Result", [list(r.result or []) for r in export.wells], total=False)
    # per-sample averages in order of first appearance
    groups: dict[str, list[WellRecord]] = {}
    for rec in export.wells:
        groups.setdefault(rec.sample, []).append(rec)
    w(["DataType:", "Avg Net MFI"])
    w(["Sample", *export.analytes, "Total Events"])
    for name, recs in groups.items():
        avgs = [num(_avg([r.net_mfi[j] for r in recs])) for j in range(n)]
        w([name, *avgs, str(int(sum(sum(c or 0 for c in r.count) + 40 for r in recs) / len(recs)))])
    w([])
    if has_results:
        w(["DataType:", "Avg Result"])
        w(["Sample", *export.analytes])
        for name, recs in groups.items():
            row = []
            for j in range(n):
                texts = [(r.result or [])[j] for r in recs]
                vals = [_result_number(t) for t in texts]
                nums = [v for v in vals if v is not None]
                row.append(num(sum(nums) / len(nums), 2) if nums else texts[0])
            w([name, *row])
        w([])
        w(["DataType:", "%CV Replicates"])
        w(["Sample", *export.analytes])
        for name, recs in groups.items():
            row = []
            for j in range(n):
                cv = _cv([_result_number((r.result or [])[j]) for r in recs])
                row.append(num(cv, 2) if cv is not None else "NaN")
            w([name, *row])
        w([])
    if any(r.expected is not None for r in export.wells):
        well_section(
            "Expected Result",
            [[("" if r.expected is None or r.expected[j] is None else num(r.expected[j])) for j in range(n)] for r in export.wells],
            total=False,
        )
    if export.control_ranges:
        for title, k in (("Control Range - Low", 0), ("Control Range - High", 1)):
            rows = []
            for r in export.wells:
                rows.append([
                    num(export.control_ranges[(r.sample, a)][k]) if (r.sample, a) in export.control_ranges else ""
                    for a in export.analytes
                ])
            well_section(title, rows, total=False)
    w(["DataType:", "Units"])
    w(["Analyte:", *export.analytes])
    w(["BeadID:", *[str(b) for b in export.bead_regions]])
    w(["Units:", *([export.units] * n)])
    w([])
    w(["DataType:", "Per Bead Count"])
    w(["Analyte:", *export.analytes])
    w(["BeadID:", *[str(b) for b in export.bead_regions]])
    w(["Per Bead:", *([str(export.per_bead)] * n)])
    w([])
    w(["DataType:", "Dilution Factor"])
    w(["Location", "Sample", "Dilution Factor"])
    for i, rec in enumerate(export.wells):
        w([loc(i, rec), rec.sample, *([] if rec.dilution is None else [num(rec.dilution)])])
    w([])
    w(["DataType:", "Analysis Types"])
    w(["Analyte:", *export.analytes])
    w(["AnalysisType", *([export.analysis_type if export.curves else "None"] * n)])
    if export.curves:
        w(["Std. Curve", *[export.curves.get(a, "") for a in export.analytes]])
    w([])
    w(["DataType:", "Audit Logs"])
    w(["UserId", "Date", "Message"])
    w([])
    w(["DataType:", "Warnings/Errors"])
    w(["Location", "Status", "Message"])
    for rec in export.wells:
        if rec.warning:
            w([f"{p},{rec.well}", "Warning", "The acquisition had at least one region that did not reach the specified count."])
    w([])
    body = buf.getvalue()
    return body + f"-- CRC --\r\nCRC32: {zlib.crc32(body.encode('utf-8')):08X}\r\n"
