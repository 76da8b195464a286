"""Build AnnData objects from a store: per-sample summary and per-event flow data.

``kind="summary"`` (:func:`summary_anndata`)
    obs = one row per patient x visit (index ``001|D14``; columns ``patient_id``, ``arm``
    (categorical), ``visit_day``, ``visit`` (ordered categorical ``D0 < D3 < ...``: scanpy's
    ``groupby=["arm", "visit"]`` works as is), ``specimen``), var = one row per feature x measure (flow population
    frequencies ``pct_parent`` / ``pct_total`` / ``pct_lymphocytes``, cytokine
    ``concentration``...; columns ``feature`` (original name), ``measure``, ``assay``, ``unit``,
    ``parent`` and ``gate_path`` for flow, ``lloq`` / ``lloq_min`` / ``lloq_max`` in pg/mL for
    cytokines), X = values in natural units (NaN where not measured). Layers: ``log10`` (the
    measurements view's log10, values <= 0 floored as recorded in ``uns``), ``censored`` (bool:
    the value is a substitution / cap; False where not measured) and ``count`` (event count of
    the flow population behind the var; NaN for other assays).
``kind="events"`` (:func:`events_anndata`), in the layout readfcs and pytometry use
    obs = events of one or several samples from the optional ``flow_events`` table (columns
    ``sample`` = ``001|D14`` (``#2``... when a visit has several flow samples), ``sample_id``,
    ``patient_id``, ``visit_day``, ``visit`` (ordered ``D0 < D3 ...``), ``arm`` and
    ``population`` (one gate label per event: the deepest gate holding it, the gate listed later
    in the strategy when two gates of the same depth do, ``ungated`` when none; categoricals),
    ``strategy_id``, ``event_index``); ``obsm['gates']`` = boolean matrix events x gates of
    every event's membership in every gate (overlapping gates included: an event can be a Treg
    and HLA-DR+ CD4 T, or CD4+CD8+ in both), columns named by the gate paths in
    ``uns['gate_paths']``, so ``obsm['gates'][:, j].sum()`` per sample is the store's
    ``flow_populations`` count of gate ``j`` (False where a sample's strategy has no such gate;
    left out, with a note in ``uns['immunolab']['gates']``, for events stored before
    ``flow_event_gates`` existed: re-gate them with ``immunolab derive gating --events``);
    var_names = ``$PnN`` channel names, var = ``channel`` ($PnN, as readfcs), ``marker`` ($PnS),
    ``signal_type`` (pytometry's area / height / other), ``range`` ($PnR), ``transform`` (JSON of
    the display transform), ``stored_as`` (the ``flow_events`` column); X = compensated,
    transformed values (float32), ``layers['raw']`` = compensated, untransformed values re-read
    from the raw vault; ``uns['meta']`` = allowlisted keywords shared by the files, keyed like
    readfcs (``p1n``, ``tot``...) with the spillover matrix as ``spill`` (DataFrame over $PnN),
    ``uns['meta_by_sample']`` per sample. Ready for scanpy (``sc.pp.pca``, ``sc.pp.neighbors``,
    ``sc.tl.umap``) and pytometry (``pm.tl.normalize_arcsinh`` on ``layers['raw']``...).

Name encoding: var names are ``<feature>|<measure>`` (events: the $PnN name) with ``%``
written ``%25`` and ``/`` written ``%2F`` (percent-encoding of these two characters only), so a
name never contains ``/`` (HDF5 path separator, refused by ``.h5ad`` in keys); the original
name stays in ``var['feature']`` / ``var['channel']`` and :func:`decode_name` inverts it.

Provenance goes to ``uns['immunolab']`` (versions, ``store_version`` read, rules, ``qc_excluded_values``: how many
values QC decisions left out of ``X``) and ``uns['ingests']`` (one row per
ingest in use: id, plugin, versions, raw-file SHA-256); no file names, users, hosts or dates.
anndata is imported inside the functions (start-up stays instant).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from immunolab.errors import InputError

if TYPE_CHECKING:
    from anndata import AnnData

    from immunolab.store.read import Store

__all__ = [
    "EVENT_KEY_COLUMNS",
    "FREQUENCY_MEASURES",
    "build_events",
    "build_summary",
    "decode_name",
    "encode_name",
    "events_anndata",
    "obs_name",
    "summary_anndata",
    "to_anndata",
    "write_h5ad",
]

#: flow measures that become vars; the ``count`` measure feeds the ``count`` layer instead
FREQUENCY_MEASURES = ("pct_parent", "pct_total", "pct_lymphocytes")
#: non-channel columns of ``flow_events``
EVENT_KEY_COLUMNS = ("patient_id", "visit_day", "sample_id", "source_sha256", "ingest_id",
                     "strategy_id", "event_index", "population")
NAME_ENCODING = "var names: '%' -> '%25', '/' -> '%2F' (percent-encoding); original in var['feature'] / var['channel']"


def encode_name(name: str) -> str:
    """Return ``name`` with ``%`` and ``/`` percent-encoded (safe as an HDF5 key)."""
    return name.replace("%", "%25").replace("/", "%2F")


def decode_name(name: str) -> str:
    """Invert :func:`encode_name`."""
    return name.replace("%2F", "/").replace("%25", "%")


def obs_name(patient_id: str, visit_day: int) -> str:
    """Return the obs name of a patient's visit, e.g. ``001|D14``."""
    return f"{patient_id}|D{int(visit_day)}"


# --------------------------------------------------------------------------- summary


def _specimens(samples: pd.DataFrame | None) -> dict[tuple[str, int], str]:
    if samples is None or samples.empty or "specimen" not in samples:
        return {}
    s = samples.dropna(subset=["patient_id", "visit_day"])
    out: dict[tuple[str, int], str] = {}
    for (pid, day), g in s.groupby(["patient_id", "visit_day"]):
        out[(str(pid), int(str(day)))] = "; ".join(sorted({str(x) for x in g["specimen"].dropna()}))
    return out


def _declares(table: Any, assay: Any, field: str) -> Any:
    """Return the ``MeasureMap`` field ``field`` of a measurements row (by its table, else its assay; None if unknown)."""
    from immunolab.schema import measure_map_of

    mm = measure_map_of(table, assay)
    return getattr(mm, field) if mm is not None else None


def _var_table(view: pd.DataFrame, lloq: pd.DataFrame | None) -> pd.DataFrame:
    from immunolab.analysis.measurements_view import gate_path_of
    from immunolab.flow.populations import parent_path

    keys = ["assay", "feature", "measure"]
    first = view.groupby(keys, sort=True).agg(unit=("unit", "first"), lineage_key=("lineage_key", "first"),
                                              lineage_table=("lineage_table", "first"),
                                              n_obs=("value", "count")).reset_index()
    gate = [gate_path_of(k) if _declares(t, a, "gate_path_lineage") else None
            for t, a, k in zip(first["lineage_table"], first["assay"], first["lineage_key"], strict=True)]
    first["gate_path"] = gate
    first["parent"] = [parent_path(g) if g else None for g in gate]
    if lloq is not None and not lloq.empty:
        stats = lloq.dropna(subset=["lloq"]).groupby("analyte")["lloq"].agg(["median", "min", "max"])
        first["lloq"] = first["feature"].map(stats["median"]).where(first["assay"] == "cytokine")
        first["lloq_min"] = first["feature"].map(stats["min"]).where(first["assay"] == "cytokine")
        first["lloq_max"] = first["feature"].map(stats["max"]).where(first["assay"] == "cytokine")
    else:
        first["lloq"] = first["lloq_min"] = first["lloq_max"] = np.nan
    first.index = [encode_name(f"{f}|{m}") for f, m in zip(first["feature"], first["measure"], strict=True)]
    if first.index.duplicated().any():  # same feature and measure from two assays
        first.index = [encode_name(f"{a}|{f}|{m}") for a, f, m in
                       zip(first["assay"], first["feature"], first["measure"], strict=True)]
    cols = ["feature", "measure", "assay", "unit", "parent", "gate_path", "lloq", "lloq_min", "lloq_max", "n_obs"]
    out = first[cols].copy()
    for c in ("feature", "measure", "assay", "unit", "parent", "gate_path"):
        out[c] = out[c].astype(object).where(out[c].notna(), "").astype(str)
    return out


def build_summary(
    view: pd.DataFrame,
    *,
    samples: pd.DataFrame | None = None,
    lloq: pd.DataFrame | None = None,
    ingests: pd.DataFrame | None = None,
    subjects: pd.DataFrame | None = None,
) -> AnnData:
    """Return the summary AnnData of a measurements view (see module doc).

    ``samples`` (the store's ``samples`` table) gives specimens, ``lloq`` (columns ``analyte``,
    ``lloq`` in pg/mL) the quantification limits, ``ingests`` the provenance rows for ``uns``,
    ``subjects`` (:func:`immunolab.analysis.trial_tables.trial_subjects`) the covariates put in
    ``obs`` (text columns as categoricals, ``age`` and numeric covariates such as ``bmi`` as numbers). Features constant over every
    observation (``Lymphocytes`` as % of lymphocytes is always 100) carry no information and
    are left out of ``X``; ``uns['immunolab']['dropped_constant']`` names them.
    """
    import anndata as ad

    view = view[view["patient_id"].notna()]
    if "lineage_table" not in view.columns:  # a hand-built view: the assay alone names its MeasureMap
        view = view.assign(lineage_table=None)
    pairs = [(t if isinstance(t, str) else None, a) for t, a in zip(view["lineage_table"], view["assay"], strict=True)]
    count_of = {k: _declares(*k, "count_measure") for k in set(pairs)}
    is_count = pd.Series([count_of[k] == m for k, m in zip(pairs, view["measure"], strict=True)], index=view.index,
                         dtype=bool)
    counts = view[is_count]
    values = view[~is_count]
    if values.empty:
        raise InputError("IML-ANA-002", "the store holds no measurements to export",
                         hint="Ingest flow or cytokine files first (immunolab ingest ...).")
    obs_keys = values[["patient_id", "visit_day", "arm"]].drop_duplicates(["patient_id", "visit_day"])
    obs_keys = obs_keys.sort_values(["patient_id", "visit_day"]).reset_index(drop=True)
    specimen = _specimens(samples)
    obs = pd.DataFrame({
        "patient_id": obs_keys["patient_id"].astype(str).to_numpy(),
        "arm": _arm_categories(obs_keys["arm"].astype(object).where(obs_keys["arm"].notna(), "").astype(str)),
        "visit_day": obs_keys["visit_day"].astype("int64").to_numpy(),
        "visit": _visit_categories(obs_keys["visit_day"]),
        "specimen": pd.Categorical([specimen.get((str(p), int(d)), "") for p, d in
                                    zip(obs_keys["patient_id"], obs_keys["visit_day"], strict=True)]),
    }, index=[obs_name(p, d) for p, d in zip(obs_keys["patient_id"], obs_keys["visit_day"], strict=True)])
    var = _var_table(values, lloq)
    row = pd.Series(np.arange(len(obs)), index=obs.index)
    var_pos = {(a, f, m): i for i, (a, f, m) in enumerate(zip(var["assay"], var["feature"], var["measure"], strict=True))}
    r = row.loc[[obs_name(p, d) for p, d in zip(values["patient_id"], values["visit_day"], strict=True)]].to_numpy()
    c = np.array([var_pos[(a, f, m)] for a, f, m in zip(values["assay"], values["feature"], values["measure"], strict=True)])
    shape = (len(obs), len(var))
    X = np.full(shape, np.nan)
    X[r, c] = values["value"].to_numpy(dtype=float)
    log10 = np.full(shape, np.nan)
    log10[r, c] = values["log10_value"].to_numpy(dtype=float)
    censored = np.zeros(shape, dtype=bool)
    censored[r, c] = values["censored"].to_numpy(dtype=bool)
    count = np.full(shape, np.nan)
    if not counts.empty:
        cmap = {(p, int(d), f): v for p, d, f, v in
                zip(counts["patient_id"], counts["visit_day"], counts["feature"], counts["value"], strict=True)}
        counted = set(counts["assay"])
        count_vars = [(j, f) for j, (a, f) in enumerate(zip(var["assay"], var["feature"], strict=True)) if a in counted]
        for i, (p, d) in enumerate(zip(obs["patient_id"], obs["visit_day"], strict=True)):
            for j, f in count_vars:
                count[i, j] = cmap.get((p, int(d), f), np.nan)
    obs = _with_covariates(obs, subjects)
    constant = _constant_columns(X)
    dropped = [f"{a}|{f}|{m}" for (a, f, m), drop in zip(var[["assay", "feature", "measure"]].itertuples(index=False),
                                                           constant, strict=True) if drop]
    keep = ~constant
    X, log10, censored, count, var = X[:, keep], log10[:, keep], censored[:, keep], count[:, keep], var[keep]
    adata = ad.AnnData(X=X, obs=obs, var=var)
    adata.layers["log10"] = log10
    adata.layers["censored"] = censored
    adata.layers["count"] = count
    adata.uns["immunolab"] = _uns_header("summary", extra={
        "measures": sorted(set(values["measure"])),
        "log10_rule": "values <= 0 replaced by half the smallest positive value of the feature before log10",
        "censor_rule": "censored values are the plugin's substitution (LLOQ/2 below, ULOQ above by default)",
        "count_layer": "event count of the flow population of each var (NaN for other assays)",
        "dropped_constant": dropped,
        "qc_excluded_values": int(view.attrs.get("n_excluded", 0)),
        "qc_excluded_rule": "values a QC decision excluded are NaN in X (`immunolab qc list` names the decisions)",
    })
    if ingests is not None:
        adata.uns["ingests"] = ingests.reset_index(drop=True).astype(
            {c: str for c in ingests.columns if ingests[c].dtype == object})
    return adata


def _constant_columns(X: np.ndarray) -> np.ndarray:
    """Return which columns hold one value only over the observations that have one (>= 2 of them)."""
    out = np.zeros(X.shape[1], dtype=bool)
    for j in range(X.shape[1]):
        col = X[:, j][np.isfinite(X[:, j])]
        out[j] = col.size >= 2 and bool(np.all(col == col[0]))
    return out


def _with_covariates(obs: pd.DataFrame, subjects: pd.DataFrame | None) -> pd.DataFrame:
    """Return ``obs`` with the subjects' covariates (text as categoricals; age and numeric covariates as numbers)."""
    if subjects is None or subjects.empty:
        return obs
    subj = subjects.assign(patient_id=subjects["patient_id"].astype(str)).drop_duplicates("patient_id").set_index("patient_id")
    out = obs.copy()
    for col in subj.columns:
        if col in ("arm", "specimen") or col in out.columns:
            continue  # arm is set already; specimen is per sample, from the samples table
        values = out["patient_id"].map(subj[col])
        if col == "age" or pd.api.types.is_numeric_dtype(subj[col]):
            out[col] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        else:
            text = values.astype(object).where(values.notna(), "").astype(str)
            out[col] = pd.Categorical(text, categories=sorted(set(text)))
    return out


def _uns_header(kind: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    from immunolab import __version__
    from immunolab.schema import SCHEMA_VERSION

    return {"kind": kind, "immunolab_version": __version__, "schema_version": SCHEMA_VERSION,
            "name_encoding": NAME_ENCODING, **(extra or {})}


def summary_anndata(store: Store, *, measures: Sequence[str] | None = None) -> AnnData:
    """Return the summary AnnData of a store (superseded ingests excluded)."""
    from immunolab.analysis.measurements_view import (
        measurements_view,
        no_values_since_gating_failed,
    )
    from immunolab.report.provenance import provenance_table

    view = measurements_view(store)
    if view.empty and (failed := no_values_since_gating_failed(store, "export")) is not None:
        raise failed
    if measures is not None:  # a row filter keeps view.attrs (n_excluded)
        view = view[view["measure"].isin([*measures, "count"])]
    samples = store.to_pandas("samples", columns=["patient_id", "visit_day", "specimen"])
    lloq = store.to_pandas("cytokine_results", columns=["analyte", "lloq"])
    prov = provenance_table(store)
    from immunolab.analysis.trial_tables import trial_subjects

    adata = build_summary(view, samples=samples, lloq=lloq, ingests=prov[prov["in_use"]], subjects=trial_subjects(store))
    adata.uns["immunolab"]["store_version"] = int(store.version)
    return adata


# --------------------------------------------------------------------------- events


def _arm_categories(arms: pd.Series) -> pd.Categorical:
    """Return the arms as a categorical (sorted categories), so scanpy can group by them."""
    values = arms.astype(str).to_numpy()
    return pd.Categorical(values, categories=sorted(set(values)))


def _visit_categories(days: pd.Series) -> pd.Categorical:
    """Return ``D<day>`` labels as an ordered categorical in day order (D0 < D3 < ... < D180)."""
    order = sorted({int(d) for d in days})
    return pd.Categorical([f"D{int(d)}" for d in days], categories=[f"D{d}" for d in order], ordered=True)


def _event_obs(ev: pd.DataFrame, arms: dict[str, str] | None) -> pd.DataFrame:
    sample_key = {}
    for (pid, day), g in ev.groupby(["patient_id", "visit_day"], sort=True):
        for k, sid in enumerate(sorted(g["sample_id"].unique())):
            sample_key[sid] = obs_name(str(pid), int(str(day))) + (f"#{k + 1}" if k else "")
    arm = ev["patient_id"].map(arms or {}).fillna("").astype(str)
    return pd.DataFrame({
        "sample": pd.Categorical(ev["sample_id"].map(sample_key).astype(str)),
        "sample_id": ev["sample_id"].astype(str).to_numpy(),
        "patient_id": ev["patient_id"].astype(str).to_numpy(),
        "visit_day": ev["visit_day"].astype("int64").to_numpy(),
        "visit": _visit_categories(ev["visit_day"]),
        "arm": _arm_categories(arm),
        "population": pd.Categorical(ev["population"].fillna("ungated").astype(str)),
        "strategy_id": ev["strategy_id"].fillna("").astype(str).to_numpy(),
        "event_index": ev["event_index"].astype("int64").to_numpy(),
        **({"metacluster": pd.Categorical(ev["metacluster"].fillna("not clustered").astype(str))}
           if "metacluster" in ev.columns else {}),
    }, index=[f"{s}:{i}" for s, i in zip(ev["sample_id"], ev["event_index"], strict=True)])


def _event_var(channels: list[str], layouts: Mapping[str, Any], names: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Return var in readfcs' layout: index $PnN, ``channel`` ($PnN), ``marker`` ($PnS), signal type, range, transform."""
    from immunolab.interop.events_layout import signal_type

    first = next(iter(layouts.values()), None)
    pnn = [first.pnn[c] if first is not None else (names.get(c, ("", c))[1] or c) for c in channels]
    pns = [first.pns[c] if first is not None else names.get(c, ("", ""))[0] for c in channels]
    rng = [first.range[c] if first is not None else np.nan for c in channels]
    xf = [json.dumps(first.transform[c].to_dict(), sort_keys=True) if first is not None and c in first.transform
          else "" for c in channels]
    return pd.DataFrame({"channel": pnn, "marker": pns, "signal_type": [signal_type(p) for p in pnn],
                         "range": np.asarray(rng, dtype=float), "transform": xf, "stored_as": channels},
                        index=[encode_name(p) for p in pnn])


def _uns_meta(layouts: Mapping[str, Any], sample_of: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (keywords shared by every file, readfcs-style, with ``spill``; keywords per sample)."""
    per = {sample_of[sha]: dict(lay.keywords) for sha, lay in layouts.items()}
    common: dict[str, Any] = {}
    if per:
        first = next(iter(per.values()))
        common = {k: v for k, v in first.items() if all(d.get(k) == v for d in per.values())}
    spills = [lay.spill for lay in layouts.values() if lay.spill is not None]
    if spills and len(spills) == len(layouts) and all(s.equals(spills[0]) for s in spills):
        common["spill"] = spills[0]
    return common, {encode_name(k): v for k, v in per.items()}


def _gate_matrix(ev: pd.DataFrame, gate_masks: Mapping[str, Mapping[str, np.ndarray]]) -> tuple[list[str], np.ndarray]:
    """Return (gate paths, events x gates boolean membership) of sorted events ``ev`` (by ``source_sha256``)."""
    paths: list[str] = []
    for sha in dict.fromkeys(ev["source_sha256"]):
        paths += [p for p in gate_masks.get(str(sha), {}) if p not in paths]
    out = np.zeros((len(ev), len(paths)), dtype=bool)
    index = ev["event_index"].to_numpy()
    for sha, idx in ev.groupby("source_sha256", sort=False).indices.items():
        for j, path in enumerate(paths):
            mask = gate_masks.get(str(sha), {}).get(path)
            if mask is not None:
                out[idx, j] = mask[index[idx]]
    return paths, out


def build_events(
    events: pd.DataFrame,
    *,
    arms: dict[str, str] | None = None,
    channel_names: dict[str, tuple[str, str]] | None = None,
    ingests: pd.DataFrame | None = None,
    layouts: Mapping[str, Any] | None = None,
    gate_masks: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> AnnData:
    """Return the events AnnData of a ``flow_events`` frame (see module doc).

    ``arms`` maps patient_id to arm, ``channel_names`` a stored channel column to its
    (marker $PnS, detector $PnN) pair; ``layouts`` (:func:`immunolab.interop.events_layout.file_layouts`,
    by source) give $PnN / $PnS / range / transform per channel, keywords and the ``raw`` layer;
    ``gate_masks`` (by source: gate path -> boolean mask over ``event_index``) ``obsm['gates']``.
    """
    import anndata as ad

    if events.empty:
        raise InputError("IML-ANA-004", "no flow events to export",
                         hint="Ingest FCS files with `immunolab ingest --events`, or check the sample selection.")
    channels = [c for c in events.columns if c not in (*EVENT_KEY_COLUMNS, "metacluster")]
    ev = events.sort_values(["patient_id", "visit_day", "sample_id", "event_index"], kind="stable").reset_index(drop=True)
    obs = _event_obs(ev, arms)
    lay = dict(layouts or {})
    var = _event_var(channels, lay, channel_names or {})
    adata = ad.AnnData(X=ev[channels].to_numpy(dtype=np.float32), obs=obs, var=var)
    has_raw = bool(lay) and "source_sha256" in ev and all(v.raw is not None for v in lay.values())
    if has_raw:
        raw = np.empty(adata.shape, dtype=np.float32)
        for sha, idx in ev.groupby("source_sha256", sort=False).indices.items():
            raw[idx] = lay[str(sha)].raw[ev["event_index"].to_numpy()[idx]]
        adata.layers["raw"] = raw
    sample_of = dict(zip(ev.get("source_sha256", pd.Series(dtype=str)), ev["sample_id"].astype(str), strict=False))
    adata.uns["meta"], adata.uns["meta_by_sample"] = _uns_meta({k: v for k, v in lay.items() if k in sample_of}, sample_of)
    complete = gate_masks is not None and "source_sha256" in ev and all(
        str(sha) in gate_masks for sha in set(ev["source_sha256"]))
    if complete:
        paths, member = _gate_matrix(ev, gate_masks or {})
        adata.obsm["gates"] = member
        adata.uns["gate_paths"] = paths
    adata.uns["immunolab"] = _uns_header("events", extra={
        "population": "obs['population']: the deepest gate holding the event (of two gates at the same depth, the "
                      "one listed later in the strategy; 'ungated' when none); an event in overlapping gates has one "
                      "label only: count gate membership with obsm['gates']",
        "gates": "obsm['gates']: events x gates membership (bool), columns named by uns['gate_paths']; per sample its "
                 "column sums are the store's flow_populations counts" if complete else
                 "no obsm['gates']: these events were stored without their gate membership (flow_event_gates); "
                 "re-gate with `immunolab derive gating --events` to add it",
        "values": "X: compensated, display-transformed channel values as stored in flow_events (float32); "
                  "var['transform'] is the transform per channel",
        "raw_layer": "layers['raw']: compensated, untransformed values re-read from the raw vault" if has_raw
                     else "no raw layer: the store holds no raw files for these samples",
        "n_samples": int(obs["sample_id"].nunique()),
    })
    if ingests is not None:
        adata.uns["ingests"] = ingests.reset_index(drop=True)
    return adata


def _channel_names(store: Store, shas: set[str]) -> dict[str, tuple[str, str]]:
    """Return {stored column name: (marker $PnS, detector $PnN)} from the files' fcs_files rows."""
    files = store.to_pandas("fcs_files", columns=["source_sha256", "channels"])
    out: dict[str, tuple[str, str]] = {}
    for sha, chans in zip(files["source_sha256"], files["channels"], strict=True):
        if sha not in shas or chans is None:
            continue
        for ch in chans:
            pnn, pns = ch.get("pnn") or "", ch.get("pns") or ""
            for key in (pnn, pns):  # events columns are named by detector or by marker
                if key and key not in out:
                    out[key] = (pns, pnn)
    return out


def _active_event_keys(store: Store) -> set[tuple[str, str]]:
    """Return (source, derivation) pairs of the active gating of each current file."""
    from immunolab.derive import choices

    smp = store.to_pandas("samples")
    files = smp[smp["sample_key"] == ""]
    g = store.to_pandas("flow_gating", columns=["commit_id", "source_sha256", "derivation_id", "status"])
    act = choices.active_gating(store, g[g["status"] == "ok"], choices.panel_of_files(files))
    return set(zip(act["source_sha256"], act["derivation_id"], strict=True))


def _with_metaclusters(store: Store, events: pd.DataFrame) -> pd.DataFrame:
    """Add each event's metacluster name of the latest clustering of its file (``derive clusters``), if any."""
    if "flow_event_clusters" not in store.table_versions:
        return events
    shas = sorted(set(events["source_sha256"]))
    mc = store.scan("flow_event_clusters", where={"source_sha256": shas}).to_pandas()
    if mc.empty:
        return events
    version = mc["commit_id"].map(store.commit_version).fillna(0)
    mc = mc[version == version.groupby(mc["source_sha256"]).transform("max")]
    names = store.to_pandas("flow_clusters", columns=["derivation_id", "metacluster", "cluster"]).drop_duplicates(
        ["derivation_id", "metacluster"]).set_index(["derivation_id", "metacluster"])["cluster"]
    mc["metacluster"] = [names.get((d, int(k)), f"MC{int(k) + 1:02d}") for d, k in
                         zip(mc["derivation_id"], mc["metacluster"], strict=True)]
    key = mc.set_index(["source_sha256", "event_index"])["metacluster"]
    idx = pd.MultiIndex.from_arrays([events["source_sha256"], events["event_index"]])
    return events.assign(metacluster=key.reindex(idx).to_numpy())


def _gate_masks(store: Store, pairs: set[tuple[str, str]]) -> dict[str, dict[str, np.ndarray]]:
    """Return source -> gate path -> per-event mask of the (source, derivation) ``pairs`` (``flow_event_gates``)."""
    from immunolab.flow.pipeline import unpack_members

    if "flow_event_gates" not in store.table_versions or not pairs:
        return {}
    t = store.scan("flow_event_gates", where={"source_sha256": sorted({p[0] for p in pairs})}).to_pandas()
    out: dict[str, dict[str, np.ndarray]] = {}
    for sha, did, path, n, members in zip(t["source_sha256"], t["derivation_id"], t["gate_path"], t["n_events"],
                                          t["members"], strict=True):
        if (sha, did) in pairs:
            out.setdefault(str(sha), {})[str(path)] = unpack_members(bytes(members), int(n))
    return out


def _no_events_hint(meta: pd.DataFrame, stored: list[str], strategy_id: str | None) -> str:
    """Say why the selected samples have no events: none selected, none stored, or stored for other gatings."""
    if meta.empty:
        return "No stored file matches --samples. List samples with `immunolab store info --per-visit`."
    if not stored:
        return "These files' events were not stored: ingest them with `immunolab ingest --events`."
    which = f"derivation {strategy_id}" if strategy_id else "the active gating"
    return (f"Their events are stored with gating {', '.join(stored[:3])}, not {which}: re-gate with "
            "`immunolab derive gating --events ...`, or export them with `--gating <derivation id>` (`immunolab derive list`).")


def events_anndata(
    store: Store,
    *,
    samples: Sequence[str] | None = None,
    strategy_id: str | None = None,
    max_events_per_sample: int | None = None,
    seed: int = 0,
    raw: bool | None = None,
    comp: str | Path | None = None,
) -> AnnData:
    """Return the events AnnData of selected samples (all by default), gated by the active derivation.

    ``samples`` are sample ids or ``patient|Dday`` names; ``strategy_id`` picks another stored
    derivation instead of the active one; ``max_events_per_sample`` draws a reproducible random
    subset (``seed``) of each sample's events. ``raw`` (True / None = when the vault holds the
    files / False) adds ``layers['raw']``: compensated, untransformed values re-read from the raw
    vault with the compensation the gating used (``comp``: the matrix CSV when that was a file).
    """
    from immunolab.interop.events_layout import file_layouts
    from immunolab.report.provenance import provenance_table

    if "flow_events" not in store.table_versions:
        raise InputError("IML-ANA-004", "the store holds no per-event flow data (flow_events)", path=str(store.root),
                         hint="Ingest FCS files with `immunolab ingest --events` (or `derive gating --events`), "
                         "or export --kind summary.")
    meta = store.to_pandas("samples")
    meta = meta[meta["sample_key"] == ""]
    if samples is not None:
        names = {obs_name(p, d): sid for sid, p, d in zip(meta["sample_id"], meta["patient_id"], meta["visit_day"], strict=True)}
        wanted = {names.get(s, s) for s in samples}
        meta = meta[meta["sample_id"].isin(wanted)]
    keys = _active_event_keys(store)
    if strategy_id is not None:
        pairs = {(sha, strategy_id) for sha in meta["source_sha256"]}
    else:
        pairs = {k for k in keys if k[0] in set(meta["source_sha256"])}
    shas = sorted({p[0] for p in pairs})
    t = store.scan("flow_events", where={"source_sha256": shas}) if shas else None
    events = t.to_pandas() if t is not None and t.num_rows else pd.DataFrame()
    stored = sorted(set(events["derivation_id"])) if not events.empty else []  # every gating with events here
    if not events.empty:
        ok = [(a, b) in pairs for a, b in zip(events["source_sha256"], events["derivation_id"], strict=True)]
        events = events[ok]
    if events.empty:
        raise InputError("IML-ANA-004", "no flow events match the selected samples / strategy", path=str(store.root),
                         hint=_no_events_hint(meta, stored, strategy_id))
    ident = meta.set_index("source_sha256")[["sample_id", "patient_id", "visit_day"]]
    events = events.join(ident, on="source_sha256")
    if max_events_per_sample is not None:
        rng = np.random.default_rng(seed)
        keep = []
        for _sid, idx in events.groupby("sample_id", sort=True).indices.items():
            keep.append(np.sort(rng.choice(idx, size=min(max_events_per_sample, len(idx)), replace=False)))
        events = events.iloc[np.concatenate(keep)]
    events = _with_metaclusters(store, events)
    channels = [c for c in events.columns if c not in (*EVENT_KEY_COLUMNS, "commit_id", "derivation_id", "metacluster")]
    layouts = file_layouts(store, events[["source_sha256", "derivation_id", "sample_id"]], channels, raw=raw, comp=comp)
    gate_masks = _gate_masks(store, set(zip(events["source_sha256"], events["derivation_id"], strict=True)))
    events = events.drop(columns=[c for c in ("commit_id", "derivation_id") if c in events.columns])
    arms_t = store.to_pandas("samples", columns=["patient_id", "arm"]).dropna()
    arms = dict(zip(arms_t["patient_id"], arms_t["arm"], strict=True))
    prov = provenance_table(store)
    adata = build_events(events, arms=arms, channel_names=_channel_names(store, set(shas)),
                         ingests=prov[prov["in_use"]], layouts=layouts, gate_masks=gate_masks)
    adata.uns["immunolab"]["store_version"] = int(store.version)
    return adata


# --------------------------------------------------------------------------- entry points


def to_anndata(store: Store | str | Path, kind: str = "summary", **kwargs: Any) -> AnnData:
    """Return the ``summary`` or ``events`` AnnData of a store (path or :class:`Store`)."""
    from immunolab.store.read import Store as _Store
    from immunolab.store.read import open_store

    s = store if isinstance(store, _Store) else open_store(store)
    if kind == "summary":
        return summary_anndata(s, **kwargs)
    if kind == "events":
        return events_anndata(s, **kwargs)
    raise InputError("IML-ANA-011", f"unknown AnnData kind {kind!r}", hint="Valid kinds: summary, events.")


def write_h5ad(adata: AnnData, path: str | Path) -> Path:
    """Write ``adata`` to ``path`` (gzip-compressed .h5ad) and return the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(p, compression="gzip")
    return p
