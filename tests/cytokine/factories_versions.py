"""xPONENT exports per software version, built in code from descriptions of the real layouts.

No code or constants are shared with the demo writer (:mod:`immunolab.demo.xponent_writer`):
these fixtures write the layouts the way the real files of each version print them.

* ``xponent_3_1_reagent_tables`` - xPONENT 3.1 (LX200): ``Standard Expected Concentration``,
  ``Control Range - Low`` / ``- High`` as ``Reagent, <analyte>...`` tables with one row per
  standard / control; optionally the expected concentrations written by a locale that lost
  the decimal separator (``215625`` for ``215.625``), while the instrument's ``Results``
  were computed from the true values.
* ``xponent_4_2_flexmap3d`` - xPONENT 4.2 FLEXMAP 3D: reagent tables plus ``Analysis Types``
  (``Logistic 5P Weighted``), ``Analysis Coefficients`` (``Coefficient A`` ... ``F``) and
  ``R^2``, and an optional section the reader does not know.
"""

from __future__ import annotations

import csv
import io
import math
import zlib
from collections.abc import Sequence

#: a 3-fold, 7-level series like a multiplex cytokine kit (pg/mL), level 1 most concentrated
TOP = 215.625
RATIO = 4.0
LEVELS = 7


def _curve(x: float, a: float, b: float, c: float, d: float, f: float) -> float:
    return a + (b - a) / (1.0 + (x / c) ** d) ** f


def _inverse(y: float, a: float, b: float, c: float, d: float, f: float) -> float:
    return c * (((b - a) / (y - a)) ** (1.0 / f) - 1.0) ** (1.0 / d)


def _rows_to_text(rows: Sequence[Sequence[str]], width: int) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    for row in rows:
        writer.writerow(list(row) + [""] * (width - len(row)))
    body = buf.getvalue()
    crc = f"{zlib.crc32(body.encode('utf-8')):08X}"
    return body + f'"-- CRC --"\r\n"CRC32: {crc}"\r\n'


def xponent_export(
    *,
    version: str,
    analytes: Sequence[str] = ("IL-6 (19)", "TNF-a (45)", "IL-10 (27)"),
    lost_decimal: bool = False,
    decimals: int = 3,
    coefficients: bool = False,
    extra_section: str | None = None,
) -> bytes:
    """Return the bytes of one xPONENT batch export with reagent-table standards and controls.

    Curves per analyte: a = 20, b = 20000 x (1 + k/3), c = 40, d = -1.1, f = 0.8 (5PL); Net MFI of
    every well comes from them, the Result of every well is the inverse of the printed curve.
    """
    params = [(20.0, 20000.0 * (1 + k / 3), 40.0 + 5 * k, -1.1, 0.8) for k in range(len(analytes))]
    series = [TOP / RATIO**i for i in range(LEVELS)]
    unknown_conc = [3.0, 17.0, 60.0, 150.0]
    wells: list[tuple[str, str, list[float]]] = []
    order = 0
    for lvl, conc in enumerate(series, start=1):
        for _rep in range(2):
            order += 1
            wells.append((f"Standard{lvl}", f"{order}(1,{'ABCDEFGH'[(order - 1) % 8]}{(order - 1) // 8 + 1})", [conc] * len(analytes)))
    for k, conc in enumerate([50.0, 5.0], start=1):
        order += 1
        wells.append((f"Control{k}", f"{order}(1,{'ABCDEFGH'[(order - 1) % 8]}{(order - 1) // 8 + 1})", [conc] * len(analytes)))
    for k, conc in enumerate(unknown_conc, start=1):
        order += 1
        wells.append((f"Unknown{k}", f"{order}(1,{'ABCDEFGH'[(order - 1) % 8]}{(order - 1) // 8 + 1})", [conc] * len(analytes)))
    order += 1
    wells.append(("Background0", f"{order}(1,{'ABCDEFGH'[(order - 1) % 8]}{(order - 1) // 8 + 1})", [0.0] * len(analytes)))
    width = len(analytes) + 3
    program = ["Program", "xPONENT", "", "LX200" if version.startswith("3") else "FLEXMAP 3D"]
    rows: list[list[str]] = [program, ["Build", version], ["Date", "05/12/2021", "10:42 AM"], ["SN", "LX12345678"],
                             ["Batch", "batch_x"], ["ProtocolName", "Cytokine 3-plex"], [], ["Results"], []]
    names = list(analytes)

    def well_section(name: str, cell: object) -> None:
        rows.extend([["DataType:", name], ["Location", "Sample", *names, "Total Events"]])
        for sample, loc, concs in wells:
            values = [cell(c, params[j]) for j, c in enumerate(concs)]  # type: ignore[operator]
            rows.append([loc, sample, *values, "300"])
        rows.append([])

    def net(c: float, p: tuple[float, ...]) -> float:
        return round(_curve(c, *p), 1) if c > 0 else 0.0

    well_section("Median", lambda c, p: f"{net(c, p) + 12:.1f}")
    well_section("Net MFI", lambda c, p: f"{net(c, p):.1f}")
    well_section("Count", lambda c, p: "55")
    well_section("Result", lambda c, p: f"{_inverse(net(c, p), *p):.4f}" if c > 0 else "NaN")
    if extra_section:
        rows.extend([["DataType:", extra_section], ["Location", "Sample", *names], []])
    rows.extend([["DataType:", "Units"], ["Analyte:", *names], ["BeadID:", *[n.split("(")[1].rstrip(")") for n in names]],
                 ["Units:", *["pg/mL"] * len(names)], []])

    def printed(value: float) -> str:
        text = f"{value:.{decimals}f}"
        return text.replace(".", "") .lstrip("0") or "0" if lost_decimal else text

    rows.extend([["DataType:", "Standard Expected Concentration"], ["Reagent", *names]])
    for lvl, conc in enumerate(series, start=1):
        rows.append([f"Standard{lvl}", *[printed(conc)] * len(names)])
    rows.append([])
    for section, factor in (("Control Range - Low", 0.7), ("Control Range - High", 1.3)):
        rows.extend([["DataType:", section], ["Reagent", *names]])
        for k, conc in enumerate([50.0, 5.0], start=1):
            rows.append([f"Control{k}", *[f"{conc * factor:g}"] * len(names)])
        rows.append([])
    rows.extend([["DataType:", "Per Bead Count"], ["Analyte:", *names], ["Per Bead:", *["50"] * len(names)], []])
    rows.extend([["DataType:", "Analysis Types"], ["Analyte:", *names], ["AnalysisType", *["Logistic 5P Weighted"] * len(names)], []])
    if coefficients:
        rows.extend([["DataType:", "Analysis Coefficients"], ["Analyte:", *names]])
        for j, letter in enumerate("ABCDF"):
            rows.append([f"Coefficient {letter}", *[repr(p[j]) for p in params]])
        rows.extend([[], ["DataType:", "R^2"], ["Analyte:", *names], ["Value", *["0.9991"] * len(names)], []])
    rows.extend([["DataType:", "Audit Logs"], ["UserId", "Date", "Message"], [], ["DataType:", "Warnings/Errors"],
                 ["Location", "Status", "Message"], []])
    assert all(math.isfinite(v) for v in series)
    return _rows_to_text(rows, width).encode("utf-8")


def xponent_3_1_reagent_tables(*, lost_decimal: bool = False) -> bytes:
    """Return an xPONENT 3.1 LX200 export with reagent tables (optionally lost decimal separators)."""
    return xponent_export(version="3.1.971.0", lost_decimal=lost_decimal)


def xponent_4_2_flexmap3d(*, extra_section: str | None = None) -> bytes:
    """Return an xPONENT 4.2 FLEXMAP 3D export with reagent tables and printed coefficients."""
    return xponent_export(version="4.2.1513.0", coefficients=True, extra_section=extra_section)
