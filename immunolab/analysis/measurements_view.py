"""Build the long, analysis-ready measurements view with ADaM-like baseline columns.

One row per patient x visit x assay x feature x measure (the store's ``measurements`` table,
superseded ingests already excluded by :meth:`Store.table`), with these derived columns:

``censored`` / ``detectable``
    ``censored`` is True when the value was substituted or capped by the plugin (``censor`` in
    ``below_lloq``, ``below_curve``, ``above_uloq``, ``above_curve``); the value is then the
    plugin's recorded substitution (LLOQ/2 by default, ULOQ above). ``mixed`` (replicates of
    different censoring averaged, see :mod:`immunolab.derive.views`) is neither censored nor below
    the range: a replicate was quantified, so it is a measurement (the average holds one
    substituted replicate; counting it as censored made a visit of many such values a Fisher test
    of 100 % vs 100 % detectable). ``detectable`` is False only for values below the
    quantification range. ``not_available`` rows keep a NaN value.
``baseline_value``, ``change``, ``pct_change``
    The Day 0 value of the same patient, assay, feature and measure (NaN when Day 0 is missing),
    ``value - baseline_value`` (measure units) and ``100 * change / baseline_value`` (%; NaN when
    the baseline is 0).
Values a QC decision excluded (``excluded`` in the store's view) are left out unless
``include_excluded``; how many is in ``view.attrs["n_excluded"]``.

``log10_value``, ``log10_substituted``, ``log10_change``
    ``log10(value)``. A value <= 0 (a flow population with no events, a ``zero`` substitution)
    has no logarithm: it is replaced by half the smallest positive value of the same assay,
    feature and measure before the logarithm, and ``log10_substituted`` says so (never dropped
    silently). ``log10_change`` = ``log10_value - log10(baseline)`` (log10 fold change).

Duplicates (same patient, visit, assay, feature, measure, e.g. a plate re-run or a re-gating
in a later ingest) are resolved by one recorded rule: the row of the latest ingest wins
(``ingest_id`` is time-sortable), ``n_duplicates`` counts the rows it replaced.

Flow features are named by their population (the leaf of the gate path); when one name maps to
several gate paths (two ``CD4+`` gates under different parents), those rows are renamed to
their full gate path so distinct populations never merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from immunolab.errors import InputError
from immunolab.schema import measure_map_of

if TYPE_CHECKING:
    from immunolab.store.read import Store

__all__ = [
    "ABOVE_RANGE_FLAGS",
    "BASELINE_DAY",
    "CENSORED_FLAGS",
    "KEY_COLUMNS",
    "MIXED_CENSOR",
    "NONDETECT_FLAGS",
    "REQUIRED_COLUMNS",
    "VIEW_COLUMNS",
    "gate_path_of",
    "measurements_view",
    "no_values_since_gating_failed",
]

BASELINE_DAY = 0
#: censor code of a value averaged from replicates of different censoring (at least one quantified)
MIXED_CENSOR = "mixed"
#: censor codes that mean "substituted / capped value" (a ``mixed`` average had a quantified replicate: not censored)
CENSORED_FLAGS = frozenset({"below_lloq", "below_curve", "above_uloq", "above_curve"})
#: censor codes that mean "below the quantification range" (not detectable)
NONDETECT_FLAGS = frozenset({"below_lloq", "below_curve"})
#: censor codes that mean "above the quantification range" (capped)
ABOVE_RANGE_FLAGS = frozenset({"above_uloq", "above_curve"})
#: one analysis value per combination of these columns
KEY_COLUMNS = ["patient_id", "visit_day", "assay", "feature", "measure"]
REQUIRED_COLUMNS = ["patient_id", "visit_day", "arm", "assay", "feature", "measure", "value"]
VIEW_COLUMNS = [
    "patient_id", "visit_day", "arm", "assay", "feature", "measure", "value", "unit",
    "censor", "censored", "detectable", "baseline_value", "change", "pct_change",
    "log10_value", "log10_substituted", "log10_change", "n_duplicates",
    "sample_id", "ingest_id", "source_sha256", "lineage_table", "lineage_key", "derivation_id",
]


def gate_path_of(lineage_key: str | None) -> str | None:
    """Return the gate path of a flow lineage key (``<strategy_id>:<gate path>``), else None."""
    if not isinstance(lineage_key, str) or ":" not in lineage_key:
        return None
    path = lineage_key.split(":", 1)[1]
    return path if path.startswith("/") else None


def _check_columns(df: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            "IML-ANA-005",
            f"the measurements table lacks column(s) {', '.join(missing)}",
            hint="Pass the store (or Store.to_pandas('measurements')); a hand-made table needs "
            + ", ".join(REQUIRED_COLUMNS) + ".",
        )


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col, default in (
        ("unit", None), ("censor", "none"), ("sample_id", None), ("ingest_id", ""), ("source_sha256", None),
        ("lineage_table", None), ("lineage_key", None), ("derivation_id", None),
    ):
        if col not in out.columns:
            out[col] = default
    out["censor"] = out["censor"].fillna("none").astype(str)
    for col in ("patient_id", "arm", "assay", "feature", "measure"):
        out[col] = out[col].astype("string").astype(object)
    out["visit_day"] = pd.to_numeric(out["visit_day"], errors="raise").astype("int64")
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype("float64")
    out["ingest_id"] = out["ingest_id"].fillna("").astype(str)
    return out


def _disambiguate_flow_names(df: pd.DataFrame) -> pd.DataFrame:
    rows = [(t if isinstance(t, str) else None, a) for t, a in zip(df["lineage_table"], df["assay"], strict=True)]
    declared = {(t, a): bool(mm is not None and mm.gate_path_lineage)
                for t, a in set(rows) for mm in (measure_map_of(t, a),)}
    flow = pd.Series([declared[k] for k in rows], index=df.index, dtype=bool) & df["lineage_key"].notna()
    if not flow.any():
        return df
    paths = df.loc[flow, "lineage_key"].map(gate_path_of)
    pairs = pd.DataFrame({"feature": df.loc[flow, "feature"], "path": paths}).dropna().drop_duplicates()
    ambiguous = set(pairs.loc[pairs.duplicated("feature", keep=False), "feature"])
    if not ambiguous:
        return df
    rename = flow & df["feature"].isin(ambiguous)
    df = df.copy()
    df.loc[rename, "feature"] = paths[rename[flow].to_numpy()].to_numpy()
    return df


def _resolve_duplicates(df: pd.DataFrame) -> pd.DataFrame:
    df = df.sort_values([*KEY_COLUMNS, "ingest_id"], kind="stable")
    counts = df.groupby(KEY_COLUMNS, sort=False, dropna=False)["value"].transform("size")
    df = df.assign(n_duplicates=(counts - 1).astype("int64"))
    return df.drop_duplicates(KEY_COLUMNS, keep="last")


def _log10_with_floor(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    group = ["assay", "feature", "measure"]
    positive = df["value"].where(df["value"] > 0)
    floor = positive.groupby([df[g] for g in group], dropna=False).transform("min") / 2.0
    nonpositive = df["value"].notna() & (df["value"] <= 0)
    safe = df["value"].where(~nonpositive, floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(safe.where(safe > 0))
    return logs.astype("float64"), (nonpositive & logs.notna())


def _add_baseline_columns(df: pd.DataFrame, baseline_day: int) -> pd.DataFrame:
    group = ["patient_id", "assay", "feature", "measure"]
    at_baseline = df["visit_day"] == baseline_day
    if "excluded" in df.columns:  # kept with include_excluded: an excluded value is never a baseline
        at_baseline &= ~df["excluded"].fillna(False).astype(bool)
    base = df.loc[at_baseline, [*group, "value", "log10_value"]]
    base = base.rename(columns={"value": "baseline_value", "log10_value": "_baseline_log10"})
    df = df.merge(base, on=group, how="left", validate="many_to_one")
    df["change"] = df["value"] - df["baseline_value"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = 100.0 * df["change"] / df["baseline_value"].where(df["baseline_value"] != 0)
    df["pct_change"] = pct.astype("float64")
    df["log10_change"] = df["log10_value"] - df["_baseline_log10"]
    return df.drop(columns=["_baseline_log10"])


def _select(df: pd.DataFrame, column: str, wanted: Iterable[str] | None) -> pd.DataFrame:
    if wanted is None:
        return df
    wanted = list(wanted)
    return df[df[column].isin(wanted)]


def measurements_view(
    source: Store | pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    measures: Sequence[str] | None = None,
    assays: Sequence[str] | None = None,
    baseline_day: int = BASELINE_DAY,
    include_excluded: bool = False,
) -> pd.DataFrame:
    """Return the long measurements view with baseline, change and log10 columns (see module doc).

    ``source`` is a store (its ``measurements`` table is read, superseded ingests excluded) or a
    DataFrame with at least :data:`REQUIRED_COLUMNS`. ``features`` / ``measures`` / ``assays``
    filter rows (exact names). Values keep their measure's unit (``%``, ``events``, ``pg/mL``);
    ``visit_day`` is in days from the first infusion.
    """
    raw = source if isinstance(source, pd.DataFrame) else source.to_pandas("measurements")
    _check_columns(raw)
    n_excluded = 0
    if "excluded" in raw.columns and not include_excluded:
        mask = raw["excluded"].fillna(False).astype(bool)
        n_excluded = int(mask.sum())
        raw = raw[~mask]
    df = _normalise(raw)
    df = _disambiguate_flow_names(df)
    df = _select(_select(_select(df, "feature", features), "measure", measures), "assay", assays)
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in VIEW_COLUMNS})
    df = _resolve_duplicates(df)
    df["censored"] = df["censor"].isin(CENSORED_FLAGS)
    df["detectable"] = ~df["censor"].isin(NONDETECT_FLAGS)
    df["log10_value"], df["log10_substituted"] = _log10_with_floor(df)
    df = _add_baseline_columns(df, baseline_day)
    df = df.sort_values(["assay", "feature", "measure", "arm", "patient_id", "visit_day"], kind="stable")
    extra = [c for c in df.columns if c not in VIEW_COLUMNS]
    out = df[VIEW_COLUMNS + extra].reset_index(drop=True)
    out.attrs["n_excluded"] = n_excluded
    return out


def _dtype(column: str) -> Any:
    if column in ("visit_day", "n_duplicates"):
        return "int64"
    if column in ("censored", "detectable", "log10_substituted"):
        return "bool"
    if column in ("value", "baseline_value", "change", "pct_change", "log10_value", "log10_change"):
        return "float64"
    return "object"


def no_values_since_gating_failed(store: Store, doing: str) -> InputError | None:
    """Return the IML-ANA-002 error of a store without values whose FCS files all failed gating, else None.

    Such a store is not empty: "ingest files first" would send the user the wrong way. ``doing``
    says what found no value (``export``, ``compare``).
    """
    g = store.to_pandas("flow_gating", columns=["source_sha256", "status"])
    failed = set(g.loc[g["status"] != "ok", "source_sha256"]) - set(g.loc[g["status"] == "ok", "source_sha256"])
    if not failed:
        return None
    return InputError(
        "IML-ANA-002", f"the store holds no measurements to {doing}: the gating of its {len(failed)} FCS file(s) failed, "
        "so they have no flow values",
        hint="`immunolab store qc` lists each file's gating error; gate the panel with a strategy that fits the files "
             "(`immunolab derive gating --panel P --strategy S --activate --reason ...`), then run this again.")
