"""The readfcs / pytometry layout of event-level AnnData: channel table, raw layer, keywords.

readfcs (``readfcs.read(path, reindex=False)``) names vars by channel and keeps ``channel``
($PnN) and ``marker`` ($PnS) in ``var``, the file's TEXT keywords in ``uns['meta']`` (keys lower
case without ``$``, e.g. ``p1n``, ``tot``; the spillover matrix as a DataFrame under ``spill``);
pytometry reads ``var_names`` / ``var['channel']``, ``var['signal_type']`` (``area`` / ``height``
/ ``other``) and ``uns['meta']['spill']``. This module computes, for the files behind an events
AnnData: each channel's $PnN, $PnS, range and display transform, the compensated untransformed
values of the stored events (read again from the raw vault with the compensation the store's
gating used) and the allowlisted keywords in readfcs' form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from immunolab.errors import InputError

if TYPE_CHECKING:
    from immunolab.flow.transforms import Transform
    from immunolab.store.read import Store

__all__ = ["FileLayout", "file_layouts", "readfcs_keywords", "signal_type"]


def signal_type(pnn: str) -> str:
    """Return pytometry's signal type of a channel: ``area`` (``-A``), ``height`` (``-H``), else ``other``.

    Scatter channels are ``other`` whatever their suffix, as in ``pytometry.pp.find_indexes``.
    """
    name = pnn.upper()
    if re.match("(F|S)SC", name):
        return "other"
    if name.endswith("-A"):
        return "area"
    if name.endswith("-H"):
        return "height"
    return "other"


def readfcs_keywords(keywords_json: str | None) -> dict[str, str]:
    """Return stored (allowlisted) keywords the way readfcs keys them: lower case, no leading ``$``."""
    data = json.loads(keywords_json) if keywords_json else {}
    return {str(k).lstrip("$").lower(): str(v) for k, v in sorted(data.items())}


@dataclass
class FileLayout:
    """One stored file: channel facts by stored column, its display transforms, raw values on demand."""

    sha: str
    label: str
    pnn: dict[str, str]
    pns: dict[str, str]
    range: dict[str, float]
    transform: dict[str, Transform] = field(default_factory=dict)
    keywords: dict[str, str] = field(default_factory=dict)
    spill: pd.DataFrame | None = None
    raw: np.ndarray | None = None  # n_file_events x stored columns, float32, compensated, untransformed


def _column_of(chans: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """Map each stored events column (named by marker when unique, else by detector) to its channel."""
    by: dict[str, Mapping[str, Any]] = {}
    for ch in chans:
        for key in (ch.get("pnn") or "", (ch.get("pns") or "").strip()):
            if key and key not in by:
                by[key] = ch
    return {c: by.get(c, {"pnn": c, "pns": "", "range": None}) for c in columns}


def _loaded(store: Store, derivation_id: str) -> Any:
    from immunolab.derive.gating import spec_from_definition

    st = store.to_pandas("flow_strategies")
    st = st[st["derivation_id"] == derivation_id]
    if st.empty:
        return None
    row = st.iloc[0]
    try:
        return spec_from_definition(str(row["kind"]), str(row["definition_json"]), str(row["strategy_name"])).loaded
    except Exception:
        return None


def _read(store: Store, sha: str, label: str, dataset: int | None, tolerances: Sequence[str]) -> Any:
    from immunolab.fcs.reader import read_fcs
    from immunolab.store.raw import open_raw

    return read_fcs(Path(str(open_raw(store.loc, sha))), label=label, dataset=dataset,
                    accept_offset_error=any(t.startswith("accept_offset_error") for t in tolerances),
                    accept_tot_mismatch=any(t.startswith("accept_tot_mismatch") for t in tolerances))


def _matrix(fcs: Any, compensation: str, comp: str | Path | None, label: str) -> Any:
    from immunolab.flow.compensation import as_spillover_matrix
    from immunolab.flow.pipeline import load_compensation

    if comp is not None:
        return load_compensation(comp)
    if compensation == "file spillover keyword":
        return as_spillover_matrix(fcs.spillover())
    if compensation.startswith("matrix file"):
        raise InputError("IML-INT-004", f"the gating of these events used a {compensation}, which the store does "
                         "not keep, so the raw (compensated) layer cannot be rebuilt", path=label,
                         hint="Pass the same matrix: events_anndata(store, comp='matrix.csv'), or raw=False.")
    return None


def _raw_and_transforms(layout: FileLayout, fcs: Any, matrix: Any, loaded: Any, columns: Sequence[str]) -> None:
    from immunolab.flow.compensation import compensate_columns
    from immunolab.flow.transforms import Linear, Logicle, is_scatter_or_time

    names = [c.pnn for c in fcs.channels]
    data = fcs.preprocessed()
    fluor = [p for p in names if not is_scatter_or_time(p)]
    comped = compensate_columns(data, names, matrix, fluor, label=layout.label) if matrix is not None else {}
    raw = np.empty((data.shape[0], len(columns)), dtype=np.float32)
    tpl = getattr(loaded, "template", None)
    for j, col in enumerate(columns):
        pnn = layout.pnn[col]
        i = names.index(pnn)
        raw[:, j] = comped.get(pnn, data[:, i])
        kind = "scatter" if is_scatter_or_time(pnn) else "fluorescence"
        if tpl is not None:
            from immunolab.flow.template import resolve_transform

            layout.transform[col] = resolve_transform(tpl.transform_specs[kind], fcs.channels[i])
        else:
            layout.transform[col] = Linear() if kind == "scatter" else Logicle()
    layout.raw = raw
    if matrix is not None:
        fl = list(matrix.channels)
        layout.spill = pd.DataFrame(np.asarray(matrix.matrix, dtype=float), index=fl, columns=fl)


def file_layouts(store: Store, keys: pd.DataFrame, columns: Sequence[str], *, raw: bool | None = None,
                 comp: str | Path | None = None) -> dict[str, FileLayout]:
    """Return the layout of every file in ``keys`` (columns ``source_sha256``, ``derivation_id``, ``sample_id``).

    ``raw``: True reads every file from the vault (a missing one is ``IML-STORE-004``); None reads
    them when the vault holds them (a store written without raw files gets no raw layer); False never.
    """
    from immunolab.store.raw import raw_exists

    files = store.to_pandas("fcs_files", columns=["source_sha256", "channels", "keywords_json", "dataset_index",
                                                   "tolerances"]).set_index("source_sha256")
    gating = store.to_pandas("flow_gating", columns=["source_sha256", "derivation_id", "compensation"])
    comp_of = {(s, d): str(c or "none") for s, d, c in
               zip(gating["source_sha256"], gating["derivation_id"], gating["compensation"], strict=True)}
    out: dict[str, FileLayout] = {}
    pairs = keys.drop_duplicates("source_sha256")
    read = raw if raw is not None else all(raw_exists(store.loc, s) for s in pairs["source_sha256"])
    for sha, did, label in zip(pairs["source_sha256"], pairs["derivation_id"], pairs["sample_id"], strict=True):
        f = files.loc[sha]
        chans = list(f["channels"]) if f["channels"] is not None else []
        cmap = _column_of(chans, columns)
        layout = FileLayout(sha, str(label), {c: str(m.get("pnn") or c) for c, m in cmap.items()},
                            {c: str(m.get("pns") or "") for c, m in cmap.items()},
                            {c: float(m.get("range") or np.nan) for c, m in cmap.items()},
                            keywords=readfcs_keywords(f["keywords_json"]))
        if read:
            dataset = None if f["dataset_index"] is None or f["dataset_index"] != f["dataset_index"] else int(f["dataset_index"])
            fcs = _read(store, sha, str(label), dataset, list(f["tolerances"]) if f["tolerances"] is not None else [])
            matrix = _matrix(fcs, comp_of.get((sha, did), "none"), comp, str(label))
            _raw_and_transforms(layout, fcs, matrix, _loaded(store, did), columns)
        out[sha] = layout
    return out
