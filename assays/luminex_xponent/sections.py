"""Read the tables inside xPONENT ``DataType:`` sections, one small typed structure per layout.

xPONENT prints four table layouts; which one a section uses depends on the section and on the
software version, so the layout is recognised from the section's first row, never assumed:

=============  ==============================================  ======================================
layout         first row                                       sections (versions)
=============  ==============================================  ======================================
well table     ``Location, Sample, <analyte>..., Total Events``  Median, Net MFI, Count, Result,
                                                                 Dilution Factor (all versions);
                                                                 Expected Result / Standard Expected
                                                                 Concentration (2.x, some 3.1 builds)
reagent table  ``Reagent, <analyte>...`` then ``Standard1`` ...  Standard / Control Expected
                                                                 Concentration, Control Range - Low /
                                                                 High (3.1, 4.x)
analyte table  ``Analyte:, <analyte>...`` then ``BeadID:`` ...   Units, Per Bead Count, Analysis
                                                                 Types, Analysis Coefficients, R^2
other          anything else                                     Audit Logs, Warnings/Errors, Comments
=============  ==============================================  ======================================

The instrument's curves come from *Analysis Types* (model and weighting: ``Logistic 5P
Weighted`` = 5PL weighted 1/y^2), *Analysis Coefficients* (``Coefficient A`` ... ``F``) and
*R^2* (4.x), or from a ``Std. Curve`` text row (``A = ..., B = ...``; older builds).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from immunolab_assays.luminex_xponent.grammar import Batch, Section, norm_key

from immunolab.cytokine.analytes import resolve_analyte
from immunolab.cytokine.curves import StandardCurve
from immunolab.errors import MalformedInputError
from immunolab.io.delimited import parse_number

__all__ = [
    "AnalyteTable",
    "ReagentTable",
    "WellTable",
    "instrument_curves",
    "read_analyte_table",
    "read_reagent_table",
    "read_well_table",
    "section_layout",
]

_CURVE_COEF = re.compile(r"\b([A-Ga-g])\s*[=:]\s*([-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?)")
_R2 = re.compile(r"R\s*(?:\^?2|²)\s*[=:]\s*([-+]?\d+(?:[.,]\d*)?)", re.IGNORECASE)
_COEF_ROW = re.compile(r"^coefficient\s+([a-g])$")


@dataclass
class WellTable:
    """A ``Location, Sample, <analyte>...`` section: analyte names, their columns, the well rows."""

    analytes: list[str]
    columns: list[int]
    rows: list[tuple[int, str, str, list[str]]]  # line, location, sample, cells


@dataclass
class ReagentTable:
    """A ``Reagent, <analyte>...`` section: {reagent label (``Standard1``): {analyte as printed: cell}}."""

    analytes: list[str]
    values: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class AnalyteTable:
    """An ``Analyte:, <analyte>...`` section: the analytes and {row label: cells per analyte}."""

    analytes: list[str]
    rows: dict[str, list[str]] = field(default_factory=dict)

    def value(self, row: str, j: int) -> str | None:
        """Return the cell of ``row`` for the ``j``-th analyte, or None when absent or empty."""
        cells = self.rows.get(row, [])
        return cells[j] if j < len(cells) and cells[j] else None


def section_layout(section: Section) -> str:
    """Return ``well``, ``reagent``, ``analyte``, ``empty`` or ``other`` from a section's first row."""
    if not section.rows:
        return "empty"
    keys = [norm_key(c) for c in section.rows[0][1]]
    if "location" in keys and "sample" in keys:
        return "well"
    if keys and keys[0] == "reagent":
        return "reagent"
    if keys and keys[0] == "analyte":
        return "analyte"
    return "other"


def read_well_table(section: Section, label: str, *, value_columns: Sequence[str] | None = None) -> WellTable:
    """Return the well table of ``section`` (IML-CYT-002 when its Location / Sample header is lost)."""
    if not section.rows:
        return WellTable([], [], [])
    line, header = section.rows[0]
    keys = [norm_key(c) for c in header]
    if "location" not in keys or "sample" not in keys:
        raise MalformedInputError(
            "IML-CYT-002",
            f"line {line}: the {section.name} section lacks its Location / Sample header row",
            path=label,
            hint="The file was probably cut or edited; re-export the batch from xPONENT.",
        )
    i_loc, i_sample = keys.index("location"), keys.index("sample")
    start = max(i_loc, i_sample) + 1
    stop = keys.index("total events") if "total events" in keys[start:] else len(header)
    if value_columns is not None:
        cols = [j for j in range(start, len(header)) if keys[j] in value_columns]
    else:
        cols = [j for j in range(start, stop) if header[j].strip()]
    body: list[tuple[int, str, str, list[str]]] = []
    for ln, cells in section.rows[1:]:
        if norm_key(cells[0]) == "location":
            continue  # repeated header row (seen in xPONENT 3.1 Dilution Factor sections)
        loc = cells[i_loc] if i_loc < len(cells) else ""
        sample = cells[i_sample] if i_sample < len(cells) else ""
        body.append((ln, loc, sample, cells))
    return WellTable([header[j].strip() for j in cols], cols, body)


def read_reagent_table(section: Section) -> ReagentTable:
    """Return the reagent table of ``section`` (first row ``Reagent, <analyte>...``)."""
    header = section.rows[0][1]
    cols = [j for j in range(1, len(header)) if header[j].strip()]
    table = ReagentTable([header[j].strip() for j in cols])
    for _ln, cells in section.rows[1:]:
        reagent = " ".join(cells[0].split()) if cells else ""
        if not reagent or norm_key(reagent) == "reagent":
            continue
        table.values[reagent] = {header[j].strip(): cells[j].strip() for j in cols if j < len(cells)}
    return table


def read_analyte_table(section: Section) -> AnalyteTable:
    """Return the analyte table of ``section`` (rows keyed by their normalised first cell)."""
    rows: dict[str, list[str]] = {}
    for _ln, cells in section.rows:
        rows.setdefault(norm_key(cells[0]), [c.strip() for c in cells[1:]])
    analytes = rows.pop("analyte", [])
    while analytes and not analytes[-1]:
        analytes.pop()
    return AnalyteTable(analytes, rows)


def _model_of(kind: str) -> tuple[str | None, str]:
    """Return (model, weighting) of an xPONENT analysis type such as ``Logistic 5P Weighted``."""
    text = kind.lower()
    if not text.strip():
        return None, "unknown"
    weighting = "1/y^2" if "weight" in text or re.search(r"1\s*/\s*y\s*\^?\s*2", text) else "none"
    if re.search(r"5\s*p|5pl|five", text):
        return "5PL", weighting
    if re.search(r"4\s*p|4pl|four", text):
        return "4PL", weighting
    return None, weighting


def _curve_from_text(text: str, kind: str, *, decimal: str) -> StandardCurve | None:
    coefs: dict[str, float] = {}
    for letter, num in _CURVE_COEF.findall(text):
        try:
            value = parse_number(num, decimal=decimal if "," in num else ".")
        except ValueError:
            return None
        if value is not None:
            coefs[letter.upper()] = value
    m = _R2.search(text)
    r2 = float(m.group(1).replace(",", ".")) if m else None
    return _curve(coefs, kind, r2)


def _curve(coefs: dict[str, float], kind: str, r2: float | None) -> StandardCurve | None:
    if not {"A", "B", "C", "D"} <= set(coefs):
        return None
    model, weighting = _model_of(kind)
    asym = [coefs[k] for k in ("E", "F", "G") if k in coefs]
    if model is None:
        model = "5PL" if asym else "4PL"
    if model == "5PL" and not asym:
        model = "4PL"
    return StandardCurve(
        model=model, a=coefs["A"], b=coefs["B"], c=coefs["C"], d=coefs["D"], f=asym[0] if asym else 1.0,
        weighting=weighting, r_squared=r2, converged=True, message="printed by the instrument",
        source="instrument",
    )


def instrument_curves(batch: Batch, *, decimal: str) -> dict[str, StandardCurve]:
    """Return the curves the instrument printed (canonical analyte -> curve), possibly none."""
    types = read_analyte_table(batch.sections["analysis types"]) if "analysis types" in batch.sections else None
    coefs = read_analyte_table(batch.sections["analysis coefficients"]) if "analysis coefficients" in batch.sections else None
    r2s = read_analyte_table(batch.sections["r^2"]) if "r^2" in batch.sections else None
    kinds = {name: (types.value("analysistype", j) or "") for j, name in enumerate(types.analytes)} if types else {}
    curves: dict[str, StandardCurve] = {}
    if coefs is not None:
        r2_of = {name: r2s.value("value", j) for j, name in enumerate(r2s.analytes)} if r2s else {}
        for j, name in enumerate(coefs.analytes):
            found: dict[str, float] = {}
            for row, cells in coefs.rows.items():
                m = _COEF_ROW.match(row)
                num = _safe_number(cells[j] if j < len(cells) else None, decimal)
                if m and num is not None:
                    found[m.group(1).upper()] = num
            c = _curve(found, kinds.get(name, ""), _safe_number(r2_of.get(name), decimal))
            if c is not None:
                curves[resolve_analyte(name).canonical] = c
    if types is not None:
        texts = types.rows.get("std. curve", types.rows.get("std curve", types.rows.get("standard curve", [])))
        for j, name in enumerate(types.analytes):
            canon = resolve_analyte(name).canonical
            if canon not in curves and j < len(texts) and texts[j]:
                c = _curve_from_text(texts[j], kinds.get(name, ""), decimal=decimal)
                if c is not None:
                    curves[canon] = c
    return curves


def _safe_number(text: str | None, decimal: str) -> float | None:
    try:
        return parse_number(text, decimal=decimal)
    except ValueError:
        return None
