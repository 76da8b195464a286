"""Normalise reported clinical results: canonical test code, value in the canonical unit, range flag.

Every clinical reader collects raw rows (patient id and study day already resolved) into a
DataFrame with the columns of :data:`RAW_COLUMNS` and hands it to :func:`normalise_results`,
which returns the ``clinical_results`` table of :mod:`immunolab.clinical.schema`:

- the test is found by its code hint (an SDTM ``--TESTCD``) or reported name
  (:func:`immunolab.clinical.units.lookup_test`); a test that is not in the table is
  ``IML-CLIN-003`` unless ``unknown_tests="keep"`` (then the row keeps its reported code or an
  upper-case slug of its name and its reported unit, and its note says so);
- the result text is parsed: ``12.5`` -> 12.5; ``<0.5`` -> 0.5 censored ``below_lloq``;
  ``>1000`` -> 1000 ``above_uloq``; other text (``POSITIVE``) keeps value null and the text;
- numeric values and reference limits are converted to the canonical unit
  (:func:`immunolab.clinical.units.converter`; unknown unit = ``IML-CLIN-004``);
- ``flag`` is ``L`` / ``N`` / ``H`` from the converted range, else the reported normal-range
  indicator (``LOW`` / ``NORMAL`` / ``HIGH``), else null.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
import pyarrow as pa

from immunolab.clinical.schema import clinical_table
from immunolab.clinical.units import ClinicalTest, converter, lookup_test, normalise_unit
from immunolab.errors import InconsistentInputError

__all__ = ["RAW_COLUMNS", "UnknownTests", "normalise_results", "parse_result"]

RAW_COLUMNS = [
    "patient_id", "study_day", "test_reported", "test_code_hint", "value_reported", "unit_reported",
    "ref_low_reported", "ref_high_reported", "flag_reported", "source_domain", "source_row",
]
UnknownTests = Literal["error", "keep"]

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_RESULT = re.compile(rf"^(<=|>=|<|>|≤|≥)?\s*({_NUMBER})$")
_CATEGORY = {"LB": "lab", "VS": "vital", "QS": "score"}
_FLAGS = {"L": "L", "LOW": "L", "LL": "L", "H": "H", "HIGH": "H", "HH": "H", "N": "N", "NORMAL": "N"}


def parse_result(value: Any) -> tuple[float, str]:
    """Return (number, censor) of a reported result: ``"<0.5"`` -> (0.5, ``below_lloq``); text -> (nan, none)."""
    if value is None:
        return math.nan, "none"
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value), "none"
    m = _RESULT.match(str(value).strip())
    if not m:
        return math.nan, "none"
    sign, number = m.group(1), float(m.group(2))
    if sign in ("<", "<=", "≤"):
        return number, "below_lloq"
    if sign in (">", ">=", "≥"):
        return number, "above_uloq"
    return number, "none"


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    s = str(value).strip()
    return s or None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "", text.upper()) or "UNKNOWN"


def _resolve_tests(raw: pd.DataFrame, label: str | None, unknown_tests: UnknownTests) -> dict[tuple[str, str], ClinicalTest | None]:
    found: dict[tuple[str, str], ClinicalTest | None] = {}
    unknown: list[str] = []
    first_row: dict[str, int] = {}
    rows = raw["source_row"] if "source_row" in raw else pd.Series(range(1, len(raw) + 1), index=raw.index)
    for (hint, name), row in zip(raw[["test_code_hint", "test_reported"]].itertuples(index=False), rows, strict=True):
        if (hint, name) not in found:
            test = (lookup_test(hint) if isinstance(hint, str) and hint else None) or lookup_test(name)
            found[(hint, name)] = test
            if test is None:
                unknown.append(str(hint or name))
                first_row[str(hint or name)] = int(row)
    if unknown and unknown_tests == "error":
        # free text from inside the file may hold a name: the message gives data rows, never the text
        at = sorted(first_row[u] for u in set(unknown))
        shown = ", ".join(map(str, at[:10])) + (" ..." if len(at) > 10 else "")
        raise InconsistentInputError(
            "IML-CLIN-003", f"{len(set(unknown))} test name(s) have no canonical test code (first seen in data "
            f"row(s) {shown})", path=label,
            hint="Use a code or name of immunolab's test table (docs/clinical.md), or pass "
                 "--clinical-unknown-tests keep to keep them in their reported units.",
        )
    return found


def _flag(value: float, low: float, high: float, reported: Any) -> str | None:
    if math.isfinite(value) and (math.isfinite(low) or math.isfinite(high)):
        if math.isfinite(low) and value < low:
            return "L"
        if math.isfinite(high) and value > high:
            return "H"
        return "N"
    if isinstance(reported, str):
        return _FLAGS.get(reported.strip().upper())
    return None


def normalise_results(raw: pd.DataFrame, *, label: str | None = None,
                      unknown_tests: UnknownTests = "error") -> pa.Table:
    """Return the ``clinical_results`` table of raw reader rows (see the module doc)."""
    raw = raw.copy()
    for col in RAW_COLUMNS:
        if col not in raw.columns:
            raw[col] = None
    raw["test_code_hint"] = raw["test_code_hint"].where(raw["test_code_hint"].notna(), "")
    tests = _resolve_tests(raw, label, unknown_tests)
    parsed = [parse_result(v) for v in raw["value_reported"]]
    values = np.array([p[0] for p in parsed], dtype=float)
    lows = np.array([parse_result(v)[0] for v in raw["ref_low_reported"]], dtype=float)
    highs = np.array([parse_result(v)[0] for v in raw["ref_high_reported"]], dtype=float)
    out = pd.DataFrame({
        "patient_id": raw["patient_id"].astype(str), "study_day": raw["study_day"],
        "test_reported": raw["test_reported"].astype(str),
        "value_reported": [_text(v) for v in raw["value_reported"]],
        "unit_reported": [_text(v) for v in raw["unit_reported"]],
        "censor": [p[1] for p in parsed], "source_domain": raw["source_domain"], "source_row": raw["source_row"],
    })
    codes, names, cats, units, notes = [], [], [], [], []
    conv_values, conv_lows, conv_highs = values.copy(), lows.copy(), highs.copy()
    groups = raw.groupby(["test_code_hint", "test_reported", raw["unit_reported"].map(_text).fillna("")],
                         sort=False, dropna=False).indices
    row_test: dict[int, tuple[str, str, str, str | None, str | None]] = {}
    for key, idx in groups.items():
        hint, name, unit_text = cast("tuple[str, str, str]", key)
        test = tests[(hint, name)]
        info: tuple[str, str, str, str | None, str | None]
        if test is None:
            unit = normalise_unit(unit_text) if unit_text else None
            info = (hint or _slug(name), name, _CATEGORY.get(str(raw["source_domain"].iloc[idx[0]]), "lab"),
                    unit or (unit_text or None), "test not in immunolab's test table: value kept in its reported unit")
        else:
            numeric = np.isfinite(values[idx]) | np.isfinite(lows[idx]) | np.isfinite(highs[idx])
            info = (test.code, test.name, test.category, test.unit, None)
            if numeric.any():
                conv = converter(test, unit_text or None, label=label)
                conv_values[idx], conv_lows[idx], conv_highs[idx] = conv(values[idx]), conv(lows[idx]), conv(highs[idx])
                info = (*info[:4], conv.note)
        for i in idx:
            row_test[int(i)] = info
    for i in range(len(raw)):
        code, name, cat, unit, note = row_test[i]
        codes.append(code)
        names.append(name)
        cats.append(cat)
        units.append(unit)
        notes.append(note)
    out["test_code"], out["test_name"], out["category"], out["unit"], out["note"] = codes, names, cats, units, notes
    out["value"], out["ref_low"], out["ref_high"] = conv_values, conv_lows, conv_highs
    out["flag"] = [_flag(v, lo, hi, f) for v, lo, hi, f in zip(conv_values, conv_lows, conv_highs,
                                                                  raw["flag_reported"], strict=True)]
    return clinical_table("clinical_results", out)
