"""FlowSOM clustering of a panel's stored files beside their gating: ``immunolab derive clusters``.

For every current FCS file of a panel the stored file is read from the raw vault and gated with
the panel's *active* gating (the strategy recorded in ``flow_strategies``), so clusters and gates
see the same compensated, transformed events. From each file ``events_per_file`` events of the
strategy's lymphocyte population (all events when it has none) are drawn with a fixed seed; the
pooled events of all files are clustered with FlowSOM (:func:`immunolab.flow.clusters.cluster_events`:
10x10 map, consensus metaclustering, metaclusters named by their marker profile). Stored:

``flow_clusters``           per file and metacluster: its share of the file's sampled events (%
                            of the parent population) and event count; reaches ``measurements``
                            as assay ``flow_clusters`` (feature ``MC<k> <profile>``, measure
                            ``pct_parent``), the latest clustering of a panel counting;
``flow_cluster_agreement``  per gate below the sampled population: the whole gate (every event
                            in it, its child gates' included, as its count) against the union of
                            the metaclusters lying mostly (> 50 %) inside it, else its best
                            single metacluster (:func:`immunolab.flow.clusters.whole_gate_agreement`):
                            precision, recall and F-measure over the pooled events, and the
                            event-weighted mean F;
``flow_event_clusters``     for files whose events are stored (``--events``): every event's
                            metacluster (the trained map assigns them), shown in the event AnnData.

The clustering id ``clu-<hash>`` hashes the panel, the gating derivation of every file, the
markers and the settings, so the same clustering computed twice is recognised.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from immunolab.errors import ImmunolabError, InputError
from immunolab.fcs.keywords import clean_free_text
from immunolab.schema import conform

if TYPE_CHECKING:
    from immunolab.store.read import Store

__all__ = ["ClusterReport", "derive_clusters"]


@dataclass(frozen=True)
class _SampleJob:
    sha: str
    label: str
    raw: str
    dataset: int | None
    definition: tuple[str, str, str]
    events_per_file: int
    seed: int


@dataclass
class _Sampled:
    sha: str
    label: str
    markers: list[str]
    values: np.ndarray  # events x markers, display scale (float32)
    gate: np.ndarray  # each sampled event's deepest gated population
    parent: str
    error: str | None = None
    #: gate path -> sampled events in the gate (children included), for the gates below ``parent``
    members: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class ClusterReport:
    """What ``derive clusters`` did: the clustering id, files used and failed, mean F, store version."""

    derivation_id: str
    panel: str
    markers: list[str] = field(default_factory=list)
    files: int = 0
    events: int = 0
    failed: list[str] = field(default_factory=list)
    mean_f: float = float("nan")
    agreement: list[dict[str, Any]] = field(default_factory=list)
    store_version: int | None = None


def _sample_file(job: _SampleJob) -> _Sampled:
    """Worker: read, gate and subsample one stored file (picklable; no store access)."""
    from immunolab.derive.gating import spec_from_definition
    from immunolab.fcs.reader import read_fcs
    from immunolab.flow.pipeline import (
        _lymphocyte_path,
        display_values,
        gate_fcs,
        leaf_labels,
        spillover_for,
    )
    from immunolab.flow.transforms import is_scatter_or_time

    try:
        fcs = read_fcs(Path(job.raw), label=job.label, dataset=job.dataset)
        spec = spec_from_definition(*job.definition)
        result = gate_fcs(fcs, spec.loaded, label=job.label)
        matrix, _src = spillover_for(fcs, None)
    except ImmunolabError as exc:
        return _Sampled(job.sha, job.label, [], np.empty((0, 0), np.float32), np.empty(0, object), "", f"{exc.code} {exc.message}")
    assert fcs.events is not None
    n = int(fcs.events.shape[0])
    cols = [i for i, ch in enumerate(fcs.channels) if not is_scatter_or_time(ch.pnn) and (ch.pns or "").strip()]
    markers = [clean_free_text(str(fcs.channels[i].pns)).strip() for i in cols]  # stored: cleaned as fcs_files
    parent_path = _lymphocyte_path(list(result.masks))
    inside = result.masks[parent_path] if parent_path else np.ones(n, dtype=bool)
    where = np.flatnonzero(inside)
    rng = np.random.default_rng([job.seed, int(job.sha[:12], 16)])
    pick = np.sort(rng.choice(where, min(job.events_per_file, where.size), replace=False)) if where.size else where
    values = np.column_stack([v[pick] for v in display_values(fcs, spec.loaded, matrix, cols)]).astype(np.float32) \
        if cols else np.empty((pick.size, 0), np.float32)
    gate = leaf_labels(result.masks, n)[pick]
    parent = parent_path.rstrip("/").rsplit("/", 1)[-1] if parent_path else "all events"
    below = (parent_path.rstrip("/") + "/") if parent_path else "/"
    members = {p: m[pick] for p, m in result.masks.items() if p.startswith(below) and p != below}
    return _Sampled(job.sha, job.label, markers, values, gate, parent, members=members)


def _jobs(store: Store, panel: str, events_per_file: int, seed: int) -> list[_SampleJob]:
    from immunolab.derive import choices
    from immunolab.derive.run import _opt_int, _panel_sources
    from immunolab.store.raw import open_raw

    sources = _panel_sources(store, panel)
    gating = store.to_pandas("flow_gating", columns=["commit_id", "source_sha256", "derivation_id", "strategy_id", "status"])
    active = choices.active_gating(store, gating[gating["status"] == "ok"],
                                   {s["source_sha256"]: s["panel"] for s in sources})
    strategy_of = active.drop_duplicates("source_sha256").set_index("source_sha256")["strategy_id"]
    strategies = store.to_pandas("flow_strategies").drop_duplicates("strategy_id").set_index("strategy_id")
    jobs = []
    for s in sources:
        sid = strategy_of.get(s["source_sha256"])
        if sid is None or sid not in strategies.index:
            continue  # a file whose gating failed has no population to compare with: listed as failed later
        st = strategies.loc[sid]
        jobs.append(_SampleJob(s["source_sha256"], str(s["sample_id"]), str(open_raw(store.loc, s["source_sha256"])),
                               _opt_int(s["dataset_index"]), (str(st["kind"]), str(st["definition_json"]),
                                                              str(st["strategy_name"])), events_per_file, seed))
    if not jobs:
        raise InputError("IML-DER-001", f"no file of panel {panel!r} has a successful active gating to cluster beside",
                         hint="Gate the panel first (`immunolab derive gating --panel P`).")
    return jobs


def _common_markers(samples: list[_Sampled], panel: str) -> list[str]:
    sets = [s.markers for s in samples]
    common = [m for m in sets[0] if all(m in other for other in sets[1:])]
    if len(common) < 2:
        raise InputError("IML-DER-001", f"the files of panel {panel!r} share fewer than two marker channels ($PnS)",
                         hint="Cluster a panel whose files name their markers alike.")
    return common


def _clustering_id(panel: str, jobs: Sequence[_SampleJob], markers: Sequence[str], settings: dict[str, Any]) -> str:
    blob = json.dumps({"panel": panel, "files": sorted((j.sha, j.definition[1][:64]) for j in jobs),
                       "markers": list(markers), **settings}, sort_keys=True)
    return "clu-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def _stored_event_clusters(store: Store, res: Any, markers: Sequence[str], shas: Sequence[str], derivation_id: str,
                           commit_id: str) -> pa.Table | None:
    """Return the metacluster of every stored event (``flow_events``) of the clustered files, or None."""
    from immunolab.anndata_io import _active_event_keys

    if "flow_events" not in store.table_versions:
        return None
    keys = {k for k in _active_event_keys(store) if k[0] in set(shas)}
    if not keys:
        return None
    ev = store.scan("flow_events", where={"source_sha256": sorted({k[0] for k in keys})},
                    columns=["source_sha256", "derivation_id", "event_index", *markers]).to_pandas()
    ev = ev[[(a, b) in keys for a, b in zip(ev["source_sha256"], ev["derivation_id"], strict=True)]]
    if ev.empty:
        return None
    meta = res.predict(ev[list(markers)].to_numpy(dtype=np.float32))
    return conform("flow_event_clusters", pa.table({
        "source_sha256": ev["source_sha256"].to_numpy(), "derivation_id": [derivation_id] * len(ev),
        "event_index": ev["event_index"].to_numpy(dtype=np.int64), "metacluster": meta.astype(np.int16),
        "commit_id": [commit_id] * len(ev)}))


def _pooled_members(sampled: Sequence[_Sampled]) -> dict[str, np.ndarray]:
    """Return gate name -> membership over the pooled sampled events (False in files without the gate)."""
    from immunolab.flow.populations import unique_population_names

    paths = list(dict.fromkeys(p for s in sampled for p in s.members))
    names = unique_population_names(paths)
    sizes = [len(s.values) for s in sampled]
    return {names[p]: np.concatenate([s.members.get(p, np.zeros(n, dtype=bool)) for s, n in zip(sampled, sizes,
                                                                                                  strict=True)])
            for p in paths}


def derive_clusters(store: Store, *, panel: str, n_metaclusters: int = 10, events_per_file: int = 5000, seed: int = 1,
                    jobs: int = 1, executor: str | None = None, reason: str | None = None,
                    command: str = "derive clusters",
                    on_file: Callable[[str, str | None], None] | None = None) -> ClusterReport:
    """Cluster the current files of ``panel`` with FlowSOM and store frequencies and gate agreement."""
    from immunolab.derive.run import _commit, _map
    from immunolab.flow.clusters import cluster_events, whole_gate_agreement
    from immunolab.store.writer import new_id

    job_list = _jobs(store, panel, events_per_file, seed)
    sampled: list[_Sampled] = []
    rep = ClusterReport("", panel)
    for s in _map(_sample_file, job_list, jobs, executor):
        if on_file is not None:
            on_file(s.label, s.error)
        if s.error or not len(s.values):
            rep.failed.append(s.label)
        else:
            sampled.append(s)
    if not sampled:
        raise InputError("IML-DER-001", f"no file of panel {panel!r} could be read and gated for clustering",
                         hint="See the per-file messages; `immunolab verify` checks the raw vault.")
    sampled.sort(key=lambda s: s.sha)
    markers = _common_markers(sampled, panel)
    settings = {"n_metaclusters": n_metaclusters, "events_per_file": events_per_file, "seed": seed}
    rep.derivation_id = _clustering_id(panel, job_list, markers, settings)
    rep.markers = markers
    x = np.vstack([s.values[:, [s.markers.index(m) for m in markers]] for s in sampled])
    res = cluster_events(x, markers, n_metaclusters=n_metaclusters, seed=seed, label=f"panel {panel}")
    names = {i: f"MC{i + 1:02d} {res.labels.get(i, '')}".strip() for i in range(len(res.medians))}
    commit_id = new_id("drv")
    rows, start = [], 0
    for s in sampled:
        meta = res.metacluster[start:start + len(s.values)]
        start += len(s.values)
        counts = np.bincount(meta, minlength=len(res.medians))
        for k, c in enumerate(counts.tolist()):
            rows.append({"source_sha256": s.sha, "derivation_id": rep.derivation_id, "panel": panel, "metacluster": k,
                         "cluster": names[k], "parent": s.parent, "n_events": int(c), "n_sampled": len(meta),
                         "pct_parent": 100.0 * c / max(len(meta), 1), "markers": markers, "commit_id": commit_id})
    agreement, mean_f = whole_gate_agreement(_pooled_members(sampled), res.metacluster, cluster_labels=names)
    rep.mean_f = mean_f
    rep.agreement = [{"derivation_id": rep.derivation_id, "panel": panel, "population": a.population,
                      "events": a.events, "metacluster": a.metacluster, "cluster": a.cluster_label,
                      "precision": a.precision, "recall": a.recall, "f_measure": a.f_measure, "mean_f": mean_f,
                      "commit_id": commit_id} for a in agreement]
    rep.files, rep.events = len(sampled), len(x)
    tables = {"flow_clusters": [conform("flow_clusters", pa.Table.from_pylist(rows))],
              "flow_cluster_agreement": [conform("flow_cluster_agreement", pa.Table.from_pylist(rep.agreement))]}
    per_event = _stored_event_clusters(store, res, markers, [s.sha for s in sampled], rep.derivation_id, commit_id)
    if per_event is not None:
        tables["flow_event_clusters"] = [per_event]
    rec = _commit(store, "derive", tables, f"clusters {rep.derivation_id} of panel {panel}: {rep.files} file(s), "
                  f"{n_metaclusters} metaclusters, mean F {mean_f:.2f}", reason,
                  {"panel": panel, "derivation_id": rep.derivation_id, **settings}, command, commit_id)
    rep.store_version = rec.store_version if rec else None
    return rep
