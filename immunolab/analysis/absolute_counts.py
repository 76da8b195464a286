"""Absolute cell counts (cells per microlitre of blood) from flow frequencies, two ways.

**Single platform** (counting beads in the tube, e.g. BD Trucount, Beckman Flow-Count)::

    cells_per_uL = (cell_events / bead_events) x (beads_per_test / sample_volume_uL)

``bead_events`` is the count of the bead gate of the same tube; ``beads_per_test`` (beads in
the tube, from the kit lot's certificate) and ``sample_volume_uL`` (blood pipetted, uL) come
from the row itself (manifest columns), else from a kit-lot table (``lot`` ->
``beads_per_test``), else from the call's defaults. Any missing input is ``IML-ANA-007``.

**Dual platform** (flow % of lymphocytes x the haematology analyser's lymphocyte count)::

    cells_per_uL = pct_lymphocytes / 100 x lymphocytes_per_uL

``lymphocytes_per_uL`` is the clinical ``LYM`` result (canonical unit cells/uL) of the same
patient matched to the flow sample's visit: the result on the same study day, else the nearest
within ``window_days`` (default 1; or a function of the visit day, e.g. the protocol's visit
windows; Day 0's window ends on Day 0, a baseline being pre-dose:
:func:`immunolab.derive.views.visit_window_bounds`), the earlier day winning a tie; several results on the
chosen day are summarised by their median (``n_lym_results``). A sample with no LYM result in
the window keeps a row with a null value and a note (never dropped silently).

Both return measurement-shaped rows: ``assay`` flow, ``measure`` ``cells_per_uL``, ``unit``
cells/uL and ``method`` ``single_platform`` / ``dual_platform``, plus the inputs used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from immunolab.errors import InputError

__all__ = ["DUAL_FORMULA", "SINGLE_FORMULA", "dual_platform_counts", "single_platform_counts"]

SINGLE_FORMULA = "(cell_events / bead_events) x (beads_per_test / sample_volume_uL)"
DUAL_FORMULA = "pct_lymphocytes / 100 x lymphocytes_per_uL (clinical LYM)"
_OUT = ["patient_id", "visit_day", "sample_id", "assay", "feature", "measure", "value", "unit", "method"]


def _frame(data: pd.DataFrame | pa.Table) -> pd.DataFrame:
    return data.to_pandas() if isinstance(data, pa.Table) else data.copy()


def _count_error(message: str, hint: str) -> InputError:
    return InputError("IML-ANA-007", message, hint=hint)


def _require(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise _count_error(f"the {what} lack column(s) {', '.join(missing)}",
                           f"Give {', '.join(columns)} (one row per sample and population).")


def _per_sample_input(df: pd.DataFrame, column: str, lots: Mapping[str, float], default: float | None,
                      what: str) -> pd.Series:
    values = pd.to_numeric(df[column], errors="coerce") if column in df.columns else pd.Series(np.nan, index=df.index)
    if lots and "lot" in df.columns:
        values = values.fillna(df["lot"].astype(str).map(lots))
    if default is not None:
        values = values.fillna(default)
    bad = ~(values > 0)
    if bad.any():
        samples = ", ".join(sorted(df.loc[bad, "sample_id"].astype(str).unique())[:5])
        raise _count_error(f"no valid {what} for sample(s) {samples}",
                           f"Give {column} in the manifest, a kit-lot table (lot, beads_per_test) or the default "
                           f"{column}= argument; it must be > 0.")
    return values.astype(float)


def single_platform_counts(
    populations: pd.DataFrame | pa.Table,
    *,
    bead_population: str = "Counting beads",
    beads_per_test: float | None = None,
    sample_volume_ul: float | None = None,
    kit_lots: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return cells/uL of every population of every tube from its counting-bead events.

    ``populations``: one row per sample x population with ``patient_id``, ``visit_day``,
    ``sample_id``, ``population`` and ``count`` (events), optionally ``lot``,
    ``beads_per_test`` and ``sample_volume_ul``. ``kit_lots``: ``lot``, ``beads_per_test``.
    """
    df = _frame(populations)
    _require(df, ["patient_id", "visit_day", "sample_id", "population", "count"], "flow population counts")
    beads = df[df["population"] == bead_population].groupby("sample_id")["count"].sum()
    cells = df[df["population"] != bead_population].copy()
    missing = sorted(set(cells["sample_id"].astype(str)) - set(beads[beads > 0].index.astype(str)))
    if missing:
        raise _count_error(f"sample(s) {', '.join(missing[:5])} have no {bead_population!r} events",
                           "Gate the counting beads in every tube (population name: bead_population=), "
                           "or use dual-platform counts.")
    lots = {} if kit_lots is None else {str(k): float(v) for k, v in zip(kit_lots["lot"], kit_lots["beads_per_test"], strict=True)}
    cells["bead_events"] = cells["sample_id"].map(beads).astype(float)
    cells["beads_per_test"] = _per_sample_input(cells, "beads_per_test", lots, beads_per_test, "beads per test")
    cells["sample_volume_ul"] = _per_sample_input(cells, "sample_volume_ul", {}, sample_volume_ul, "sample volume (uL)")
    cells["cell_events"] = cells["count"].astype(float)
    cells["value"] = cells["cell_events"] / cells["bead_events"] * cells["beads_per_test"] / cells["sample_volume_ul"]
    cells = cells.assign(assay="flow", feature=cells["population"], measure="cells_per_uL", unit="cells/uL",
                         method="single_platform", formula=SINGLE_FORMULA)
    extra = ["cell_events", "bead_events", "beads_per_test", "sample_volume_ul", "formula"]
    return cells[_OUT + extra].reset_index(drop=True)


def _lymphocyte_results(clinical: pd.DataFrame, code: str) -> pd.DataFrame:
    _require(clinical, ["patient_id", "study_day", "test_code", "value", "unit"], "clinical results")
    lym = clinical[(clinical["test_code"] == code) & clinical["value"].notna() & clinical["study_day"].notna()]
    wrong = sorted(set(lym["unit"].dropna()) - {"cells/uL"})
    if wrong:
        raise _count_error(f"clinical {code} results are in {', '.join(wrong)}, not cells/uL",
                           "Read the clinical file through immunolab's readers, which convert to cells/uL.")
    return lym.assign(study_day=lym["study_day"].astype(int), patient_id=lym["patient_id"].astype(str))


def _match(lym: dict[str, tuple[np.ndarray, np.ndarray]], patient: str, day: int, window: int
           ) -> tuple[float, int | None, int]:
    from immunolab.derive.views import visit_window_bounds

    days, values = lym.get(patient, (np.empty(0, dtype=int), np.empty(0)))
    offsets = days - day
    first, last = visit_window_bounds(day, window)
    near = (days >= first) & (days <= last)
    if not near.any():
        return np.nan, None, 0
    best = min(set(offsets[near].tolist()), key=lambda o: (abs(o), o))  # nearest day, the earlier one on a tie
    chosen = values[offsets == best]
    return float(np.median(chosen)), int(best), int(chosen.size)


def dual_platform_counts(
    flow: pd.DataFrame | pa.Table,
    clinical: pd.DataFrame | pa.Table,
    *,
    window_days: int | Callable[[int], int] = 1,
    lymphocyte_code: str = "LYM",
) -> pd.DataFrame:
    """Return cells/uL = flow % of lymphocytes x the clinical lymphocyte count at the same visit.

    ``flow``: measurements (``measure`` ``pct_lymphocytes``, ``value`` in %) or a table with a
    ``pct_lymphocytes`` column, with ``patient_id``, ``visit_day``, ``sample_id``, ``feature``.
    ``clinical``: ``clinical_results`` (see the module doc for the visit matching rule).
    """
    df = _frame(flow)
    if "pct_lymphocytes" not in df.columns:
        _require(df, ["measure", "value"], "flow measurements")
        df = df[df["measure"] == "pct_lymphocytes"].rename(columns={"value": "pct_lymphocytes"})
    _require(df, ["patient_id", "visit_day", "sample_id", "feature", "pct_lymphocytes"], "flow measurements")
    if not callable(window_days) and window_days < 0:
        raise _count_error(f"window_days must be >= 0, not {window_days}", "Pass 0 (same day) or 1 (+-1 day).")
    lym_rows = _lymphocyte_results(_frame(clinical), lymphocyte_code)
    lym = {str(p): (g["study_day"].to_numpy(dtype=int), g["value"].to_numpy(dtype=float))
           for p, g in lym_rows.groupby("patient_id")}
    rows = []
    for rec in df.to_dict("records"):
        day = int(rec["visit_day"])
        window = window_days(day) if callable(window_days) else window_days
        value, offset, n = _match(lym, str(rec["patient_id"]), day, window)
        pct = float(rec["pct_lymphocytes"])
        rows.append({
            "patient_id": str(rec["patient_id"]), "visit_day": int(rec["visit_day"]), "sample_id": rec["sample_id"],
            "assay": "flow", "feature": rec["feature"], "measure": "cells_per_uL", "value": pct / 100.0 * value,
            "unit": "cells/uL", "method": "dual_platform", "pct_lymphocytes": pct, "lymphocytes_per_ul": value,
            "lym_day_offset": offset, "n_lym_results": n, "formula": DUAL_FORMULA,
            "note": None if n else f"no clinical {lymphocyte_code} result within +-{window} day(s) of the visit",
        })
    cols = [*_OUT, "pct_lymphocytes", "lymphocytes_per_ul", "lym_day_offset", "n_lym_results", "formula", "note"]
    out = pd.DataFrame(rows, columns=cols)
    out["lym_day_offset"] = out["lym_day_offset"].astype("Int64")
    return out
