"""The concentration derivations of a plate: the instrument's own numbers, and immunolab's refit.

* ``instrument``: the concentrations the instrument software reported (xPONENT ``Result``,
  Bio-Plex ``Obs Conc``, MSD ``Calc. Concentration`` ...), replicates averaged, censored at the
  quantification limits of the instrument's printed curve (or of the standards' range) and
  substituted by the recorded rule. This is what a lab's validated software said, so it is the
  default wherever the export carries it.
* ``fit-<hash>``: immunolab's refit of the standards with the settings hashed into the id
  (model, weighting, substitution rules, QC limits), back-calculation, censoring and QC
  (:func:`immunolab.cytokine.assemble.analyse_plate`). The default refit reproduces xPONENT
  (5PL, weights 1/y^2 on Net MFI); ``immunolab derive curves`` refits with other settings.

Both derivations of a plate are stored side by side (``cytokine_results.instrument_conc`` holds
the instrument's value beside every refit value); which one the analysis uses is a recorded
choice (``derivation_choices``), by default the instrument's where it exists.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa

from immunolab.cytokine.assemble import PlateAnalysis, PlateSettings, _json_safe, analyse_plate
from immunolab.cytokine.censoring import censor_replicates
from immunolab.cytokine.curves import StandardCurve, quantification_limits
from immunolab.cytokine.plate import Plate
from immunolab.errors import InputError
from immunolab.plugins import SAMPLE_REF

__all__ = ["INSTRUMENT", "derive_plate", "has_instrument_results", "settings_id", "settings_json"]

INSTRUMENT = "instrument"


def settings_json(settings: PlateSettings) -> str:
    """Return the canonical JSON of the settings that define a refit derivation."""
    data = {"model": settings.model, "weighting": settings.weighting, "below_rule": settings.below_rule,
            "above_rule": settings.above_rule, "strict_curves": settings.strict_curves,
            "thresholds": settings.thresholds.to_dict(),
            "control_ranges": {f"{c}|{a}": list(v) for (c, a), v in sorted(settings.control_ranges.items())}}
    return json.dumps(data, sort_keys=True)


def settings_id(settings: PlateSettings, kind: str = "refit") -> str:
    """Return the derivation id: ``fit-<12 hex>`` for a refit, ``instrument`` (+ rules hash) otherwise."""
    if kind == INSTRUMENT:
        base = PlateSettings()
        same = (settings.below_rule, settings.above_rule, settings.thresholds) == (
            base.below_rule, base.above_rule, base.thresholds)
        if same:
            return INSTRUMENT
        blob = json.dumps({"below": settings.below_rule, "above": settings.above_rule,
                           "thresholds": settings.thresholds.to_dict()}, sort_keys=True)
        return f"{INSTRUMENT}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"
    return "fit-" + hashlib.sha256(settings_json(settings).encode()).hexdigest()[:12]


def has_instrument_results(plate: Plate) -> bool:
    """Return True when the export printed the instrument's concentrations for unknown samples."""
    w = plate.wells
    unk = w[w["sample_type"] == "unknown"]
    return bool(len(unk)) and bool(unk["reported_conc"].notna().any() or unk["reported_flag"].notna().any())


def _fin(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _curve_rows(an: PlateAnalysis, sha: str, derivation_id: str, kind: str) -> list[dict[str, Any]]:
    """Return the curves of this derivation: immunolab's fits for a refit, the instrument's (else ours) for it."""
    rows = []
    pairs = list(zip(an.curve_analytes, an.curves, strict=True))
    if kind == INSTRUMENT:
        printed = {a for a, c in pairs if c.source == INSTRUMENT}
        pairs = [(a, c) for a, c in pairs if c.source == INSTRUMENT or a not in printed]
    else:
        pairs = [(a, c) for a, c in pairs if c.source != INSTRUMENT]
    for analyte, c in pairs:
        rows.append({
            "source_sha256": sha, "plate_id": an.plate_id, "derivation_id": derivation_id, "analyte": analyte,
            "fit_id": c.fit_id, "source": c.source, "model": c.model, "weighting": c.weighting,
            "a": _fin(c.a), "b": _fin(c.b), "c": _fin(c.c), "d": _fin(c.d), "f": _fin(c.f),
            "r_squared": _fin(c.r_squared), "n_points": c.n_points, "lloq": _fin(c.lloq), "uloq": _fin(c.uloq),
            "lowest_standard": _fin(c.lowest_standard), "highest_standard": _fin(c.highest_standard),
            "converged": bool(c.converged), "message": c.message or None,
        })
    return rows


_FLAG_CENSOR = {"below_curve": "below_curve", "above_curve": "above_curve", "OOR<": "below_curve",
                "OOR>": "above_curve", "OOR <": "below_curve", "OOR >": "above_curve"}


def _instrument_limits(plate: Plate, an: PlateAnalysis, analyte: str) -> tuple[float | None, float | None]:
    """Return (LLOQ, ULOQ) in assay units for the instrument derivation of ``analyte``."""
    printed: StandardCurve | None = plate.instrument_curves.get(analyte)
    wells = an.wells
    std = wells[(wells["analyte"] == analyte) & (wells["sample_type"] == "standard") & (wells["expected_conc"] > 0)]
    x = std["expected_conc"].to_numpy(dtype=float)
    y = std["net_mfi"].to_numpy(dtype=float)
    if printed is not None and printed.c > 0 and len(std):
        lloq, uloq = quantification_limits(printed, x, y)
        if lloq is not None:
            return lloq, uloq
    if len(x):
        return float(np.nanmin(x)), float(np.nanmax(x))
    return _limits_from_tokens(wells[wells["analyte"] == analyte])


def _limits_from_tokens(wells: pd.DataFrame) -> tuple[float | None, float | None]:
    """Return the limits the instrument printed in ``< x`` / ``> x`` cells (tables with no standards)."""
    import re

    lows: list[float] = []
    highs: list[float] = []
    for text in wells["reported_conc_text"].dropna().astype(str):
        m = re.match(r"^\s*([<>])\s*([0-9.]+(?:[eE][-+]?\d+)?)\s*$", text)
        if m:
            (lows if m.group(1) == "<" else highs).append(float(m.group(2)))
    return (max(lows) if lows else None), (min(highs) if highs else None)


def _prior_result(base: pd.DataFrame | None, sample: str, analyte: str) -> dict[str, Any]:
    """Return the analysis's result row of (sample, analyte) by column name, or {} when it has none."""
    if base is None or (sample, analyte) not in base.index:
        return {}
    # one result per (sample, analyte), so .loc gives that row (a Series labelled by the result columns)
    row = cast("pd.Series[Any]", base.loc[(sample, analyte)])
    return cast("dict[str, Any]", row.to_dict())


def _instrument_results(plate: Plate, an: PlateAnalysis, settings: PlateSettings) -> pd.DataFrame:
    """Return the analysis's result rows with the instrument's own concentrations substituted in."""
    wells = an.wells
    rows = []
    base = an.results.set_index([SAMPLE_REF, "analyte"]) if len(an.results) else None
    limits: dict[str, tuple[float | None, float | None]] = {}  # one analyte's limits serve all its samples
    for key, g in wells[wells["sample_type"] == "unknown"].groupby(["sample_name", "analyte"], sort=False):
        sample, analyte = cast("tuple[str, str]", key)
        reported = g["reported_conc"].to_numpy(dtype=float)
        censors = [("none" if np.isfinite(v) else _FLAG_CENSOR.get(str(fl).replace(" ", "") if fl is not None else "",
                                                                    "not_available"))
                   for v, fl in zip(reported, g["reported_flag"], strict=True)]
        if analyte not in limits:
            limits[analyte] = _instrument_limits(plate, an, str(analyte))
        lloq, uloq = limits[analyte]
        cv = censor_replicates(reported, censors, g["dilution"].to_numpy(dtype=float), lloq=lloq, uloq=uloq,
                               below=settings.below_rule, above=settings.above_rule)
        prior = _prior_result(base, sample, analyte)
        flags = [f for f in (prior.get("qc_flags") or []) if f not in ("curve_failed",)]
        rows.append({
            "plate_id": an.plate_id, "analyte": analyte, "fit_id": INSTRUMENT,
            "concentration": cv.concentration, "concentration_raw": cv.concentration_raw,
            "unit": prior.get("unit", "pg/mL"), "n_replicates": cv.n_replicates, "cv_pct": cv.cv_pct,
            "censor": cv.censor, "substitution_rule": cv.substitution_rule, "lloq": cv.lloq, "uloq": cv.uloq,
            "qc_flags": [*flags, *(f for f in cv.flags if f not in flags)], SAMPLE_REF: sample,
        })
    return pd.DataFrame.from_records(rows)


def _result_rows(results: pd.DataFrame, wells: pd.DataFrame, sha: str, derivation_id: str) -> list[dict[str, Any]]:
    unk = wells[wells["sample_type"] == "unknown"]
    inst = unk.groupby(["sample_name", "analyte"])["reported_conc"].mean()
    well_names = unk.groupby(["sample_name", "analyte"])["well"].apply(lambda s: sorted(set(map(str, s))))
    out = []
    for rec in results.to_dict("records"):
        key = (rec[SAMPLE_REF], rec["analyte"])
        out.append({
            "source_sha256": sha, "plate_id": rec["plate_id"], "derivation_id": derivation_id,
            "sample_key": rec[SAMPLE_REF], "analyte": rec["analyte"], "fit_id": rec.get("fit_id"),
            "concentration": _fin(rec.get("concentration")), "concentration_raw": _fin(rec.get("concentration_raw")),
            "instrument_conc": _fin(inst.get(key)), "unit": "pg/mL" if rec.get("unit") is None else rec["unit"],  # "" = the export left it blank
            "n_replicates": int(rec.get("n_replicates") or 0), "cv_pct": _fin(rec.get("cv_pct")),
            "censor": rec.get("censor"), "substitution_rule": rec.get("substitution_rule"),
            "lloq": _fin(rec.get("lloq")), "uloq": _fin(rec.get("uloq")),
            "wells": well_names.get(key, []), "qc_flags": list(rec.get("qc_flags") or []),
        })
    return out


def derive_plate(plate: Plate, *, sha: str, plate_id: str, settings: PlateSettings, kind: str = "refit",
                 label: str = "") -> tuple[dict[str, list[dict[str, Any]]], str]:
    """Return (rows by table, plate QC status) of one derivation of one plate.

    Plate samples are identified by ``Plate.wells.sample_name`` (the ``sample_key`` when rebuilt
    from stored facts). A curve that cannot be fitted is recorded, not raised; with
    ``strict_curves`` or a quantitative plate whose every curve failed the plate QC is ``fail``.
    """
    derivation_id = settings_id(settings, kind)
    source = INSTRUMENT if kind == INSTRUMENT and plate.instrument_curves else "immunolab"
    if kind == INSTRUMENT:  # the instrument's numbers need no curve of ours: the analysis only adds QC
        plate = replace(plate, quantitative=False)
        settings = replace(settings, strict_curves=False)
    try:
        an = analyse_plate(plate, plate_id=plate_id, settings=replace(settings, curve_source=source), label=label)
    except InputError as exc:
        qc = {"status": "fail", "error": {"code": exc.code, "message": exc.message}}
        return {"plate_qc": [{"source_sha256": sha, "plate_id": plate_id, "derivation_id": derivation_id,
                              "status": "fail", "qc_json": json.dumps(qc, sort_keys=True)}]}, "fail"
    results = _instrument_results(plate, an, settings) if kind == INSTRUMENT else an.results
    if kind == INSTRUMENT:
        an.qc["curve_settings"] = {"source": "instrument results", "below_rule": settings.below_rule,
                                   "above_rule": settings.above_rule}
    rows = {
        "curve_fits": _curve_rows(an, sha, derivation_id, kind),
        "cytokine_results": _result_rows(results, an.wells, sha, derivation_id) if len(results) else [],
        "plate_qc": [{"source_sha256": sha, "plate_id": plate_id, "derivation_id": derivation_id, "status": an.status,
                      "qc_json": json.dumps(_json_safe(an.qc), sort_keys=True, allow_nan=False)}],
        "cytokine_derivations": [{"derivation_id": derivation_id, "kind": kind,
                                  "settings_json": settings_json(settings) if kind != INSTRUMENT else json.dumps(
                                      {"source": "instrument results", "below_rule": settings.below_rule,
                                       "above_rule": settings.above_rule}, sort_keys=True)}],
    }
    return rows, an.status


def rows_to_tables(rows: dict[str, list[dict[str, Any]]]) -> dict[str, pa.Table]:
    """Return the derivation rows as tables of their store schemas (``commit_id`` filled later)."""
    from immunolab.schema import table_spec

    out = {}
    for name, recs in rows.items():
        if not recs:
            continue
        schema = pa.schema([f for f in table_spec(name).schema if f.name != "commit_id"])
        out[name] = pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in recs], schema=schema)
    return out
