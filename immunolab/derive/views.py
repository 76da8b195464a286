"""The computed views of a store: ``samples`` and ``measurements``.

``samples``: one row per current biological sample (identity record with status ``active`` or
``replicate``): patient, visit, arm, covariates, specimen, panel, assay, plate code, exclusion.

``measurements``: the long analysis table. Built for every table that declares a
:class:`~immunolab.schema.MeasureMap` (flow populations, cytokine results, plugins' own tables)
from the *active* derivation (:mod:`immunolab.derive.choices`), joined to the *current* identity,
with QC flags and QC decisions. One row per patient x visit x specimen x panel x feature x
measure: technical replicates (identity status ``replicate``) are combined by the arithmetic
mean of their values (``n_replicates`` says how many; ``censor`` is kept when every replicate
shares it, else ``mixed``). A flow population's feature is its name (the leaf of its gate path)
when that name is unique among the gate paths of the panel; gates sharing a name
(``/Lymphocytes`` and ``/Monocytes/Lymphocytes``) are named by the shortest tail of their path
that tells them apart (``Lymphocytes``, ``Monocytes/Lymphocytes``:
:func:`immunolab.flow.populations.unique_population_names`), so replicates only ever average
the same gate. Excluded values stay in the view with ``excluded = True`` and the
reason; analyses leave them out by default and count them.

A flow population whose gate was not applied (its parent held too few events; QC flag
``too_few_events``, :attr:`~immunolab.schema.MeasureMap.not_available_flag`) has no value: each
of its measures is NaN with censor ``not_available`` (an unknown frequency, not 0 %).

Absolute counts (measure ``cells_per_uL``, unit cells/uL, ``method`` says how) are added for
every gated flow population: **single platform** when the tube has a ``Counting beads``
population and its manifest row gives ``beads_per_test`` and ``sample_volume_ul``
(cells/uL = cell events / bead events x beads per test / volume); otherwise **dual platform**
when the patient has a clinical ``LYM`` result in the visit's window (cells/uL = % of
lymphocytes / 100 x lymphocytes/uL). :mod:`immunolab.analysis.absolute_counts` holds the rules.

Controls breaking a Westgard rule across plates (run order, per control and analyte) add
``westgard_<rule>`` to the ``qc_flags`` of that plate's results of the analyte
(:func:`westgard_flags_by_plate`).

Clinical results (patient tables with a ``day_column``) are placed at the protocol visit whose
window (:func:`visit_window_bounds`: +-1 day up to Day 19, then +-10 % of the day; Day 0, the
pre-dose baseline, only Day -1 to Day 0) holds their study day; results outside every window stay in ``clinical_results`` but are no visit measurement.
``collection_day`` is the study day a row's specimen was collected: a clinical result's own study
day (which may differ from its visit's day), a sample's manifest visit day (ADaM's ADY is read from it).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from immunolab.io.tokens import FLAG_NOT_AVAILABLE
from immunolab.schema import TABLES, MeasureMap, all_tables

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from immunolab.store.read import Store

__all__ = ["MEASUREMENT_COLUMNS", "measurements", "plate_codes", "plate_ids_by_code", "retired_sources", "samples", "view",
           "visit_label"]

MEASUREMENT_COLUMNS: dict[str, pa.DataType] = {
    "patient_id": pa.string(), "visit_day": pa.int32(), "visit": pa.string(), "sample_id": pa.string(),
    "source_sha256": pa.string(), "ingest_id": pa.string(), "arm": pa.string(), "site": pa.string(),
    "sex": pa.string(), "age": pa.int32(), "severity": pa.string(), "specimen": pa.string(), "panel": pa.string(),
    "assay": pa.string(), "feature": pa.string(), "measure": pa.string(), "value": pa.float64(), "unit": pa.string(),
    "censor": pa.string(), "n_replicates": pa.int32(), "qc_flags": pa.list_(pa.string()), "excluded": pa.bool_(),
    "exclusion_reason": pa.string(), "derivation_id": pa.string(), "plate_code": pa.string(),
    "lineage_table": pa.string(), "lineage_key": pa.string(), "method": pa.string(), "collection_day": pa.int32(),
}
SAMPLE_COLUMNS: dict[str, pa.DataType] = {
    "patient_id": pa.string(), "visit_day": pa.int32(), "visit": pa.string(), "sample_id": pa.string(),
    "source_sha256": pa.string(), "sample_key": pa.string(), "ingest_id": pa.string(), "arm": pa.string(),
    "site": pa.string(), "sex": pa.string(), "age": pa.int32(), "severity": pa.string(),
    "covariates_json": pa.string(), "specimen": pa.string(), "panel": pa.string(), "assay_kind": pa.string(),
    "plugin": pa.string(), "assay": pa.string(), "status": pa.string(), "replicate_of": pa.string(),
    "plate_code": pa.string(), "excluded": pa.bool_(), "exclusion_reason": pa.string(),
    "attributes_json": pa.string(),
}


def visit_label(day: Any) -> str | None:
    """Return ``D0`` ... ``D180`` for a protocol day (None stays None)."""
    if day is None or (isinstance(day, float) and np.isnan(day)) or day is pd.NA:
        return None
    return f"D{int(day)}"


def _typed(df: pd.DataFrame, columns: dict[str, pa.DataType]) -> pa.Table:
    arrays = []
    for name, typ in columns.items():
        values = df[name] if name in df.columns else pd.Series([None] * len(df), dtype=object)
        if pa.types.is_integer(typ):
            arr = pa.array(pd.array(values.to_numpy(), dtype="Int64"), type=typ) if len(values) else pa.array([], typ)
        elif pa.types.is_floating(typ):
            arr = pa.array(pd.to_numeric(values, errors="coerce").astype(float), type=typ, from_pandas=True)
        elif pa.types.is_boolean(typ):
            arr = pa.array(values.fillna(False).astype(bool), type=typ)
        elif pa.types.is_list(typ):
            arr = pa.array([list(v) if isinstance(v, (list, tuple, np.ndarray)) else [] for v in values], type=typ)
        else:
            arr = _strings(values, typ)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=list(columns))


def _strings(values: pd.Series, typ: pa.DataType) -> pa.Array:
    """Convert a column to a string array: None, NaN and pd.NA become null, anything else ``str(v)``.

    Columns that already hold only strings and nulls convert in Arrow at once; the others are
    converted value by value.
    """
    if values.dtype == object:
        try:
            return pa.array(values, type=typ, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass
    return pa.array([None if (v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA) else str(v)
                     for v in values], type=typ)


def joined_key(df: pd.DataFrame, columns: list[str], sep: str) -> pd.Series:
    """Return each row's ``str`` values of ``columns`` joined by ``sep`` (column-wise, not row by row)."""
    if not columns:
        return pd.Series("", index=df.index, dtype=object)
    out = df[columns[0]].astype(str)
    for column in columns[1:]:
        out = out + sep + df[column].astype(str)
    return out


def plate_codes(store: Store) -> dict[str, str]:
    """Return plate_id -> the lab's plate code (the manifest's sample_id of the plate file)."""
    plates = store.to_pandas("cytokine_plates", columns=["source_sha256", "plate_id", "plate_index"])
    if plates.empty:
        return {}
    ident = store.to_pandas("identity_samples", columns=["source_sha256", "sample_key", "sample_id"])
    code_of = ident[ident["sample_key"] == ""].set_index("source_sha256")["sample_id"].to_dict()
    labels = store.to_pandas("sources", columns=["source_sha256", "label"]).set_index("source_sha256")["label"].to_dict()
    n_per_file = plates.groupby("source_sha256")["plate_id"].transform("count")
    out = {}
    for (sha, pid, idx), n in zip(plates[["source_sha256", "plate_id", "plate_index"]].itertuples(index=False),
                                  n_per_file, strict=True):
        if str(pid).startswith("run:"):  # a multi-file run (bead array): its code is the run's name
            out[str(pid)] = str(pid)[4:]
            continue
        code = code_of.get(sha) or labels.get(sha) or pid
        out[str(pid)] = str(code) if n == 1 else f"{code}-p{idx}"
    return out


def retired_sources(store: Store) -> set[str]:
    """Return the source_sha256 of files whose current record is superseded or withdrawn."""
    ident = store.to_pandas("identity_samples", columns=["source_sha256", "sample_key", "status"])
    gone = ident[(ident["sample_key"] == "") & ident["status"].isin(["superseded", "withdrawn"])]
    return set(gone["source_sha256"])


def plate_ids_by_code(store: Store) -> dict[str, str]:
    """Return plate code -> plate_id, the current plate where a superseded one has the same code."""
    plates = store.to_pandas("cytokine_plates", columns=["source_sha256", "plate_id"])
    retired = set(plates.loc[plates["source_sha256"].isin(retired_sources(store)), "plate_id"])
    codes = plate_codes(store)
    return {c: p for p, c in sorted(codes.items(), key=lambda pc: pc[0] not in retired)}


def _exclusions(store: Store) -> pd.DataFrame:
    d = store.to_pandas("qc_decisions")
    return d[d["action"] == "exclude"] if not d.empty else d


def _subjects(store: Store) -> pd.DataFrame:
    s = store.to_pandas("identity_subjects", columns=["patient_id", "arm", "site", "sex", "age", "severity",
                                                      "covariates_json", "status"])
    return s[s["status"].fillna("active") != "removed"].drop(columns=["status"])


def samples(store: Store) -> pa.Table:
    """Return the ``samples`` view (see the module docstring)."""
    ident = store.to_pandas("identity_samples")
    ident = ident[ident["status"].isin(["active", "replicate"]) & ident["patient_id"].notna()]
    if ident.empty:
        return _typed(pd.DataFrame(), SAMPLE_COLUMNS)
    src = store.to_pandas("sources", columns=["source_sha256", "ingest_id", "plugin", "assay_kind"])
    df = ident.drop(columns=["commit_id"]).merge(src, on="source_sha256", how="left")
    df = df.merge(_subjects(store), on="patient_id", how="left")
    df["visit"] = df["visit_day"].map(visit_label)
    codes = plate_codes(store)
    if codes:
        wells = store.to_pandas("cytokine_wells", columns=["source_sha256", "plate_id", "sample_key"]).dropna()
        first = wells.drop_duplicates(["source_sha256", "sample_key"]).set_index(["source_sha256", "sample_key"])["plate_id"]
        keys = list(zip(df["source_sha256"], df["sample_key"], strict=True))
        df["plate_code"] = [codes.get(str(first.get(k)), None) if k in first.index else None for k in keys]
    excl = _exclusions(store)
    df["excluded"] = False
    df["exclusion_reason"] = None
    if not excl.empty:
        by_sample = excl[(excl["target_kind"] == "sample") & (excl["analyte"] == "")].set_index("target")["reason"]
        by_file: dict[str, Any] = {}
        for row in excl[(excl["target_kind"] == "source") & (excl["analyte"] == "")].itertuples(index=False):
            for sha in file_exclusion_sources(src, [row.target], store.repeated_ingests):
                by_file.setdefault(sha, row.reason)
        # first reason found: by sample, by file (object arrays: fillna would downcast, a FutureWarning)
        reasons = df["sample_id"].map(by_sample).to_numpy(dtype=object)
        missing = pd.isna(reasons)
        reasons[missing] = df["source_sha256"].map(by_file).to_numpy(dtype=object)[missing]
        found = ~pd.isna(reasons)
        df["excluded"] = found
        reasons[~found] = None
        df["exclusion_reason"] = pd.Series(reasons, index=df.index, dtype=object)
    df = df.sort_values(["patient_id", "visit_day", "sample_id"], kind="stable")
    return _typed(df, SAMPLE_COLUMNS)


def _rows_for(store: Store, name: str, mm: MeasureMap, smp: pd.DataFrame, codes: dict[str, str]) -> pd.DataFrame:
    """Return the measurement rows of table ``name`` (active derivation, current identity)."""
    from immunolab.derive import choices

    t = store.to_pandas(name)
    if t.empty:
        return pd.DataFrame()
    if mm.derivation_kind == "gating":
        panel_of = choices.panel_of_files(smp[smp["sample_key"] == ""])
        g = store.to_pandas("flow_gating", columns=["commit_id", "source_sha256", "derivation_id", "status"])
        act = choices.active_gating(store, g[g["status"] == "ok"], panel_of)
        keep = set(zip(act["source_sha256"], act["derivation_id"], act["commit_id"], strict=True))
        t = choices.rows_with_keys(t, ["source_sha256", "derivation_id", "commit_id"], keep)
    elif mm.derivation_kind == "curves":
        t = choices.active_curves(store, t)
    elif mm.derivation_kind is not None:  # other derivations (clusters): the latest one of each source counts
        version = t["commit_id"].map(store.commit_version).fillna(0)
        t = t[version == version.groupby(t["source_sha256"]).transform("max")]
    if mm.identity == "sample":
        key = t["sample_key"] if "sample_key" in t.columns else pd.Series("", index=t.index)
        t = t.assign(sample_key=key.fillna(""))
        ids = smp.drop(columns=[c for c in ("ingest_id",) if c in smp.columns])
        t = t.drop(columns=[c for c in ("patient_id", "visit_day", "sample_id") if c in t.columns])
        t = t.merge(ids, on=["source_sha256", "sample_key"], how="inner", suffixes=("", "_id"))
    else:
        t = _patient_rows(store, t, mm)
    if t.empty:
        return pd.DataFrame()
    ingest_of = store.to_pandas("sources", columns=["source_sha256", "ingest_id"]).set_index("source_sha256")["ingest_id"]
    assay: Any = t[mm.assay_column] if mm.assay_column else pd.Series(mm.assay, index=t.index)
    if mm.assay_by_plate_format and "plate_id" in t.columns:
        plates = store.to_pandas("cytokine_plates", columns=["plate_id", "export_format"]).drop_duplicates("plate_id")
        by_format = dict(mm.assay_by_plate_format)
        fmt = t["plate_id"].map(plates.set_index("plate_id")["export_format"])
        assay = fmt.map(by_format).fillna(assay)
    parts = []
    for column, (measure, unit) in mm.measures.items():
        part = pd.DataFrame({
            "patient_id": t["patient_id"], "visit_day": t["visit_day"], "visit": t["visit"], "sample_id": t["sample_id"],
            "source_sha256": t["source_sha256"], "ingest_id": t["source_sha256"].map(ingest_of),
            "arm": t["arm"], "site": t["site"], "sex": t["sex"], "age": t["age"], "severity": t["severity"],
            "specimen": t.get("specimen"), "panel": t.get("panel"),
            "assay": assay,
            "feature": t[mm.feature], "measure": measure, "value": pd.to_numeric(t[column], errors="coerce"),
            "unit": t[mm.unit_column].fillna(unit) if mm.unit_column else unit,
            "censor": t[mm.censor_column].fillna("none") if mm.censor_column else "none",
            "qc_flags": t[mm.flags_column] if mm.flags_column else [[] for _ in range(len(t))],
            "derivation_id": t[mm.derivation_column] if mm.derivation_column else None,
            "plate_code": t["plate_id"].map(codes) if "plate_id" in t.columns else None,
            "plate_id": t["plate_id"] if "plate_id" in t.columns else None,
            "wells": t["wells"] if "wells" in t.columns else None,
            "status": t.get("status"),
            "lineage_table": name,
            "lineage_key": joined_key(t, list(mm.lineage), ":") if mm.lineage else None,
            # the study day the specimen was collected: a patient-table row's own day, a sample's visit day
            "collection_day": t[mm.day_column] if mm.day_column else t["visit_day"],
            "sample_excluded": t.get("excluded"), "sample_reason": t.get("exclusion_reason"),
        })
        if mm.not_available_flag and mm.flags_column:
            part = _not_available(part, mm.not_available_flag)
        parts.append(part[part["value"].notna() | (part["censor"] != "none")])
    return pd.concat(parts, ignore_index=True)


def _not_available(part: pd.DataFrame, flag: str) -> pd.DataFrame:
    """Return ``part`` with the rows flagged ``flag`` made ``not_available`` (value NaN: no value, not 0)."""
    hit = part["qc_flags"].map(lambda f: f is not None and flag in list(f)).astype(bool)
    if not hit.any():
        return part
    part = part.copy()
    part.loc[hit, "value"] = np.nan
    part.loc[hit, "censor"] = FLAG_NOT_AVAILABLE
    return part


#: the protocol's visit windows in words (warnings, notes and docs say this)
VISIT_WINDOW_RULE = "+-1 day up to Day 19, then +-10 % of the day; Day 0 (baseline, pre-dose) only Day -1 to Day 0"


def visit_window(visit_day: int) -> int:
    """Return the half-width in days of a protocol visit's window: 1 up to Day 19, then 10 % of the day."""
    return max(1, int(visit_day) // 10)


def visit_window_bounds(visit_day: int, half_width: int | Callable[[int], int] | None = None) -> tuple[int, int]:
    """Return the first and last study day of a visit's window (``half_width``: days, or a function of the visit day).

    The window is the visit day +- the half-width (default :func:`visit_window`, looked up when
    called), except that Day 0's ends on Day 0: a baseline is pre-dose (the first infusion is on
    Day 0), so a result of Day 1 is never a baseline.
    """
    visit_day = int(visit_day)
    width = visit_window if half_width is None else half_width
    half = int(width(visit_day) if callable(width) else width)
    return visit_day - half, visit_day if visit_day == 0 else visit_day + half


def visit_of_day(day: int, visit_days: Sequence[int] | None = None,
                 half_width: int | Callable[[int], int] | None = None) -> int | None:
    """Return the protocol visit whose window holds study day ``day`` (the nearest; the earlier on a tie)."""
    from immunolab.identity.model import DEFAULT_PROTOCOL

    held = []
    for v in visit_days or DEFAULT_PROTOCOL.visit_days:
        first, last = visit_window_bounds(v, half_width)
        if first <= day <= last:
            held.append(int(v))
    return min(held, key=lambda v: (abs(v - day), v)) if held else None


def file_exclusion_sources(sources: pd.DataFrame, targets: Any, earlier: dict[str, list[str]] | None = None) -> set[str]:
    """Return the SHA-256 of the ``sources`` rows that file exclusion ``targets`` name (an ingest ID or a SHA-256).

    ``earlier`` (:attr:`Store.repeated_ingests`): the ingest ids of files parsed again (a corrected
    Day 0): an exclusion of the file by its earlier ingest id still names those bytes.
    """
    ids = set(targets)
    found = set(sources.loc[sources["ingest_id"].isin(ids) | sources["source_sha256"].isin(ids), "source_sha256"])
    return found | {sha for sha, ingests in (earlier or {}).items() if ids & set(ingests)}


def excluded_sources(store: Store) -> set[str]:
    """Return the SHA-256 of the files a current QC decision excludes whole (``qc exclude --file``)."""
    excl = _exclusions(store)
    if excl.empty:
        return set()
    ids = set(excl.loc[(excl["target_kind"] == "source") & (excl["analyte"] == ""), "target"])
    if not ids:
        return set()
    return file_exclusion_sources(store.to_pandas("sources", columns=["source_sha256", "ingest_id"]), ids,
                                  store.repeated_ingests)


def current_patient_rows(store: Store, name: str, key: tuple[str, ...], *, values: tuple[str, ...] = (),
                         drop_excluded: bool = False) -> pd.DataFrame:
    """Return the rows of patient table ``name`` from current sources; the latest source wins per ``key``.

    Clinical exports are often cumulative (each export repeats the earlier rows, corrected where
    the hospital corrected them): where two current sources hold the same ``key`` (e.g. patient,
    test, study day) only the rows of the source ingested last count. A source superseded with
    ``ingest --supersede`` counts no more. With ``values``, ``attrs["n_replaced"]`` counts the keys
    where an earlier source held a different value in one of those columns. With ``drop_excluded``
    the files a QC decision excludes whole count no more either (the trial tables: outcomes,
    adverse events; the measurements view keeps their values, flagged ``excluded``).
    """
    t = store.to_pandas(name)
    if t.empty:
        return t
    ident = store.to_pandas("identity_samples", columns=["source_sha256", "sample_key", "status"])
    current = set(ident.loc[(ident["sample_key"] == "") & ident["status"].isin(["active", "replicate"]), "source_sha256"])
    if drop_excluded:
        current -= excluded_sources(store)
    t = t[t["source_sha256"].isin(current)]
    src = store.to_pandas("sources", columns=["source_sha256", "ingested_at", "ingest_id"])
    rank = src.sort_values("ingested_at", kind="stable").reset_index(drop=True)
    order = {sha: i for i, sha in enumerate(rank["source_sha256"])}
    t = t.assign(_order=t["source_sha256"].map(order).fillna(-1))
    k = joined_key(t, list(key), "\x1f")
    newest = t.groupby(k)["_order"].transform("max")
    kept = t["_order"] == newest
    out = t[kept].drop(columns=["_order"])
    # rows still counted from a file that a later file overlaps (repeats some of its keys) but lacks: a
    # cumulative export dropped them (deleted by the hospital?) -> attrs["absent_later"], per earlier file
    pairs = pd.DataFrame({"k": k, "o": t["_order"]}).drop_duplicates()
    pairs = pairs.merge(pairs, on="k")
    overlapped = set(pairs.loc[pairs["o_x"] < pairs["o_y"], "o_x"])
    gone = t.loc[kept & t["_order"].isin(overlapped), "source_sha256"]
    ids = dict(zip(src["source_sha256"], src["ingest_id"], strict=True))
    out.attrs["absent_later"] = {str(ids.get(sha, sha)): int(n) for sha, n in gone.value_counts().items()}
    if values:
        older = t[t["_order"] != newest]
        merged = older.assign(_k=k[older.index]).merge(out.assign(_k=k[out.index])[["_k", *values]], on="_k",
                                                       suffixes=("", "_new"))
        differs = pd.Series(False, index=merged.index)
        for c in values:
            a, b = merged[c], merged[f"{c}_new"]
            differs |= ~((a == b) | (a.isna() & b.isna()))
        out.attrs["n_replaced"] = int(merged.loc[differs, "_k"].nunique())
    return out


def _patient_rows(store: Store, t: pd.DataFrame, mm: MeasureMap) -> pd.DataFrame:
    """Return patient-table rows at protocol visits with the patient's arm and covariates."""
    day = mm.day_column or "visit_day"
    key = ("patient_id", mm.feature, day)
    name = _table_name(mm)
    t = current_patient_rows(store, name, key, values=tuple(mm.measures)) if mm.day_column else t
    if t.empty:
        return t
    t = t[t[day].notna()].copy()
    if mm.day_column:
        days = t[day].astype(int)
        visit_by_day = {d: visit_of_day(d) for d in days.unique().tolist()}  # once per study day, not per row
        t["visit_day"] = days.map(visit_by_day)
        _warn_patient_rows(name, t, int(t["visit_day"].isna().sum()))
        t = t[t["visit_day"].notna()].copy()
        t["visit_day"] = t["visit_day"].astype(int)
        t["_offset"] = (t[day].astype(int) - t["visit_day"]).abs()
        best = t.groupby(["patient_id", "visit_day", mm.feature])["_offset"].transform("min")
        t = t[t["_offset"] == best]
        first = t.groupby(["patient_id", "visit_day", mm.feature])[day].transform("min")
        t = t[t[day] == first]
        value_cols = list(mm.measures)
        agg: dict[str, Any] = {c: "median" for c in value_cols}
        others = [c for c in t.columns if c not in (*value_cols, "patient_id", "visit_day", mm.feature)]
        agg.update({c: "first" for c in others})
        t = t.groupby(["patient_id", "visit_day", mm.feature], as_index=False, sort=True).agg(agg)
    subj = _subjects(store)[["patient_id", "arm", "site", "sex", "age", "severity"]]
    t = t.drop(columns=[c for c in ("arm", "site", "sex", "age") if c in t.columns]).merge(subj, on="patient_id", how="inner")
    t["visit"] = t["visit_day"].map(visit_label)
    t["sample_id"] = None
    return t


_WARNED_ABSENT: set[tuple[str, str]] = set()


def warn_absent_later(name: str, t: pd.DataFrame, log: Any) -> None:
    """Log IML-CLIN-012 for rows of earlier files that a later, overlapping export of ``name`` no longer holds."""
    absent = t.attrs.get("absent_later") or {}
    files = ", ".join(sorted(absent))  # ingest ids, as `qc exclude --file` takes them
    if not absent or (name, files) in _WARNED_ABSENT:
        return
    _WARNED_ABSENT.add((name, files))  # once per process: one command reads the trial tables several times
    log.warning("%d %s row(s) of earlier file(s) (%s) are absent from a later file that repeats other rows of "
                "theirs: they still count. If the hospital deleted them, exclude the earlier file "
                "(`immunolab qc exclude --file ID`); the rows the later file repeats come from it anyway.",
                sum(absent.values()), name, files, extra={"code": "IML-CLIN-012"})


def _warn_patient_rows(name: str, t: pd.DataFrame, outside: int) -> None:
    """Log the ``outside`` rows of patient table ``name`` that no visit holds and the values a later source replaced."""
    import logging

    from immunolab.clinical.plugin_support import outside_window_warning

    log = logging.getLogger("immunolab.views")
    if outside:
        code, text = outside_window_warning(outside, f"{name} row(s)").split(" ", 1)
        log.warning("%s", text, extra={"code": code})
    warn_absent_later(name, t, log)
    replaced = int(t.attrs.get("n_replaced", 0))
    if replaced:
        log.warning("%d %s value(s) (patient, test, study day) of an earlier file are replaced by a different value of "
                    "a file ingested later; the later file wins (cumulative exports repeat and correct earlier rows). "
                    "If the later file is wrong, supersede it (ingest --supersede) with a corrected export.",
                    replaced, name, extra={"code": "IML-CLIN-011"})


def _table_name(mm: MeasureMap) -> str:
    return next(name for name, spec in TABLES.items() if spec.measure is mm)


#: the population a strategy names for the counting beads of a single-platform tube
COUNTING_BEADS = "Counting beads"


def _absolute_counts(m: pd.DataFrame, store: Store, smp: pd.DataFrame) -> pd.DataFrame:
    """Return ``cells_per_uL`` rows of flow populations (see ``absolute counts`` in the module doc)."""
    from immunolab.analysis.absolute_counts import dual_platform_counts

    flow = m[(m["assay"] == "flow") & (m["lineage_table"] == "flow_populations")]
    if flow.empty:
        return pd.DataFrame()
    out = []
    single_done: set[str] = set()
    attrs = smp[smp["sample_key"] == ""].set_index("source_sha256")["attributes_json"].dropna().map(json.loads).to_dict()
    counts = flow[flow["measure"] == "count"]
    beads = counts[counts["feature"] == COUNTING_BEADS].groupby("source_sha256")["value"].sum().to_dict()
    for sha, g in counts[counts["feature"] != COUNTING_BEADS].groupby("source_sha256"):
        a = attrs.get(sha) or {}
        n_beads = float(beads.get(sha, 0.0))
        if n_beads <= 0 or not a.get("beads_per_test") or not a.get("sample_volume_ul"):
            continue
        per_event = float(a["beads_per_test"]) / float(a["sample_volume_ul"]) / n_beads
        out.append(g.assign(value=g["value"] * per_event, measure="cells_per_uL", unit="cells/uL",
                            method="single_platform"))  # a not_available count stays not_available
        single_done.add(str(sha))
    pct = flow[(flow["measure"] == "pct_lymphocytes") & ~flow["source_sha256"].isin(single_done)]
    if not pct.empty and "clinical_results" in store.table_versions:
        clinical = current_patient_rows(store, "clinical_results", ("patient_id", "test_code", "study_day"),
                                        drop_excluded=True)  # an excluded lab file gives no lymphocyte count
        if not clinical.empty and (clinical["test_code"] == "LYM").any():
            dual = dual_platform_counts(pct[["patient_id", "visit_day", "sample_id", "feature", "value"]]
                                        .rename(columns={"value": "pct_lymphocytes"}).reset_index(drop=True),
                                        clinical, window_days=visit_window)
            rows = pct.reset_index(drop=True).assign(value=dual["value"].to_numpy(), measure="cells_per_uL",
                                                     unit="cells/uL", method="dual_platform")
            rows["censor"] = rows["censor"].where(rows["censor"] == FLAG_NOT_AVAILABLE, "none")
            out.append(rows[rows["value"].notna() | (rows["censor"] == FLAG_NOT_AVAILABLE)])
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def westgard_flags_by_plate(store: Store) -> dict[tuple[str, str], list[str]]:
    """Return (plate_id, analyte) -> ``westgard_<rule>`` flags of the plate's controls that break a Westgard rule.

    The controls of every current plate (active derivation) are put in run order per control and
    analyte (:func:`immunolab.cytokine.qc.levey_jennings`); a plate whose control breaks a rule
    passes the rule's name to every result of that analyte on the plate (``westgard_1_2s`` is the
    warning rule; the others reject the run).
    """
    from immunolab.cytokine.qc import levey_jennings

    if "plate_qc" not in store.table_versions:
        return {}
    lj = levey_jennings(active_plates(store))
    out: dict[tuple[str, str], list[str]] = {}
    for plate, analyte, rules in zip(lj["plate_id"], lj["analyte"], lj["westgard"], strict=True):
        for rule in str(rules or "").split(","):
            if rule:
                flags = out.setdefault((str(plate), str(analyte)), [])
                if f"westgard_{rule}" not in flags:
                    flags.append(f"westgard_{rule}")
    return out


def _add_westgard(m: pd.DataFrame, store: Store) -> pd.DataFrame:
    flags = westgard_flags_by_plate(store)
    if not flags or "plate_id" not in m.columns:
        return m
    keys = zip(m["plate_id"].astype(str), m["feature"].astype(str), strict=True)
    merged = [sorted({*(list(f) if f is not None else []), *flags[k]}) if k in flags else f
              for f, k in zip(m["qc_flags"], keys, strict=True)]
    return m.assign(qc_flags=pd.Series(merged, index=m.index, dtype=object))


def _apply_exclusions(m: pd.DataFrame, store: Store) -> pd.DataFrame:
    excl = _exclusions(store)
    m["excluded"] = m["sample_excluded"].eq(True)
    m["exclusion_reason"] = m["sample_reason"]
    if excl.empty or m.empty:
        return m
    sources = store.to_pandas("sources", columns=["source_sha256", "ingest_id"])
    for row in excl.itertuples(index=False):
        scope = m["feature"] == row.analyte if row.analyte else pd.Series(True, index=m.index)
        if row.target_kind == "sample":
            hit = m["sample_id"] == row.target
        elif row.target_kind == "plate":
            hit = (m["plate_code"] == row.target) | (m["plate_id"] == row.target)
        elif row.target_kind == "well":
            plate, _, well = str(row.target).rpartition(":")
            on_plate = (m["plate_code"] == plate) | (m["plate_id"] == plate)

            def lists_well(ws: Any, w: str = well) -> bool:
                return isinstance(ws, (list, np.ndarray)) and w in list(ws)

            hit = on_plate & m["wells"].map(lists_well)
        else:
            hit = m["source_sha256"].isin(file_exclusion_sources(sources, [row.target], store.repeated_ingests))
        hit = hit & scope
        m.loc[hit, "excluded"] = True
        m.loc[hit & m["exclusion_reason"].isna(), "exclusion_reason"] = row.reason
    return m


def _unique_population_features(m: pd.DataFrame) -> pd.DataFrame:
    """Rename flow population features that two gate paths of one panel share (see the module doc)."""
    from immunolab.analysis.measurements_view import gate_path_of
    from immunolab.flow.populations import unique_population_names

    tables = {name for name, spec in all_tables().items() if spec.measure is not None and spec.measure.gate_path_lineage}
    flow = m["lineage_table"].isin(tables) & m["lineage_key"].notna()
    if not flow.any():
        return m
    paths = m.loc[flow, "lineage_key"].map(gate_path_of)
    panels = m.loc[flow, "panel"].astype(object).where(m.loc[flow, "panel"].notna(), "")
    names = pd.Series(m.loc[flow, "feature"], dtype=object)
    for _, idx in paths.groupby(panels, sort=False).groups.items():
        unique = unique_population_names(paths[idx].dropna())
        names[idx] = [unique.get(p, f) if isinstance(p, str) else f for p, f in zip(paths[idx], names[idx], strict=True)]
    m = m.copy()
    m.loc[flow, "feature"] = names
    return m


def _combine_replicates(m: pd.DataFrame) -> pd.DataFrame:
    """Return one row per natural key: replicates averaged (documented in the module docstring)."""
    key = ["patient_id", "visit_day", "specimen", "panel", "assay", "feature", "measure"]
    k = joined_key(m, key, "\x1f")
    dup = k.duplicated(keep=False)
    m["n_replicates"] = 1
    if not dup.any():
        return m
    single = m[~dup]
    groups = []
    for _, g in m[dup].groupby(k[dup], sort=False):
        use = g[~g["excluded"]] if (~g["excluded"]).any() else g
        row = use.iloc[0].copy()
        row["value"] = float(use["value"].mean()) if use["value"].notna().any() else np.nan
        censors = set(use["censor"])
        row["censor"] = censors.pop() if len(censors) == 1 else "mixed"
        row["n_replicates"] = len(use)
        row["qc_flags"] = sorted({f for fl in use["qc_flags"] for f in (list(fl) if fl is not None else [])})
        row["sample_id"] = "+".join(sorted(set(map(str, use["sample_id"]))))  # wells of one sample: its id once
        row["excluded"] = bool(g["excluded"].all())
        groups.append(row)
    return pd.concat([single, pd.DataFrame(groups)], ignore_index=True)


def measurements(store: Store, *, include_excluded: bool = True) -> pa.Table:
    """Return the ``measurements`` view (see the module docstring)."""
    smp = store.to_pandas("samples")
    codes = plate_codes(store)
    parts = [_rows_for(store, name, spec.measure, smp, codes) for name, spec in all_tables().items()
             if spec.measure is not None and name in store.table_versions]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return _typed(pd.DataFrame(), MEASUREMENT_COLUMNS)
    m = _unique_population_features(pd.concat(parts, ignore_index=True))
    counts = _absolute_counts(m, store, smp)
    if not counts.empty:
        m = pd.concat([m, counts], ignore_index=True)
    m = _add_westgard(m, store)
    m = _apply_exclusions(m, store)
    m = _combine_replicates(m)
    if not include_excluded:
        m = m[~m["excluded"]]
    m = m.sort_values(["patient_id", "visit_day", "assay", "feature", "measure"], kind="stable")
    return _typed(m, MEASUREMENT_COLUMNS)


def view(store: Store, name: str) -> pa.Table:
    """Return view ``name`` (cached on the store snapshot)."""
    cache = store.__dict__.setdefault("_views", {})
    if name not in cache:
        cache[name] = samples(store) if name == "samples" else measurements(store)
    return cache[name]


def covariates(row_json: str | None) -> dict[str, str]:
    """Return the extra covariates of a subject (decoded ``covariates_json``)."""
    return dict(json.loads(row_json)) if row_json else {}


def active_populations(store: Store) -> pd.DataFrame:
    """Return the active gating's ``flow_populations`` rows of current samples, with their identity."""
    from immunolab.derive import choices

    pops = store.to_pandas("flow_populations")
    smp = store.to_pandas("samples")
    files = smp[smp["sample_key"] == ""]
    if pops.empty or files.empty:
        return pd.DataFrame(columns=[*pops.columns, "sample_id", "patient_id", "visit_day", "strategy_name"])
    g = store.to_pandas("flow_gating", columns=["commit_id", "source_sha256", "derivation_id", "status"])
    act = choices.active_gating(store, g[g["status"] == "ok"], choices.panel_of_files(files))
    keep = set(zip(act["source_sha256"], act["derivation_id"], act["commit_id"], strict=True))
    pops = choices.rows_with_keys(pops, ["source_sha256", "derivation_id", "commit_id"], keep)
    names = store.to_pandas("flow_strategies", columns=["strategy_id", "strategy_name"]).drop_duplicates("strategy_id")
    out = pops.merge(files[["source_sha256", "sample_id", "patient_id", "visit_day", "panel"]], on="source_sha256")
    return out.merge(names, on="strategy_id", how="left")


def active_plates(store: Store) -> pd.DataFrame:
    """Return one row per current plate: facts, plate code, and the active derivation's QC status and JSON."""
    from immunolab.derive import choices

    plates = store.to_pandas("cytokine_plates")
    if plates.empty:
        return plates.assign(plate_code=None, qc_status=None, qc_json=None, derivation_id=None)
    plates = plates.drop_duplicates("plate_id", keep="last")  # a bead-array run: one plate row per well file
    qc = store.to_pandas("plate_qc")
    active = choices.active_curves(store, qc[["commit_id", "source_sha256", "plate_id", "derivation_id"]])
    keep = set(zip(active["plate_id"], active["derivation_id"], active["commit_id"], strict=True))
    qc = choices.rows_with_keys(qc, ["plate_id", "derivation_id", "commit_id"], keep)
    qc = qc.drop_duplicates("plate_id", keep="last")
    out = plates.merge(qc[["plate_id", "derivation_id", "status", "qc_json"]], on="plate_id", how="left")
    out = out.rename(columns={"status": "qc_status"})
    out["plate_code"] = out["plate_id"].map(plate_codes(store))
    return out
