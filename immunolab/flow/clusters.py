"""Unsupervised clustering beside gating: FlowSOM metaclusters, their marker labels, agreement.

- :func:`cluster_events` runs FlowSOM (the ``flowsom`` package of the FlowSOM authors, on an
  AnnData) over display-scale events (logicle / log / linear 0-1, one column per marker): a
  self-organising map of ``grid`` nodes trained with a fixed ``seed``, then consensus
  hierarchical metaclustering into ``n_metaclusters``. With ``max_events`` the map is trained
  on an evenly drawn subsample (same seed) and every event is then assigned to its nearest node.
- :func:`label_metaclusters` names each metacluster by its marker profile (``CD3+CD4+CD8-``):
  a marker is ``+`` when the metacluster's median lies above the cut between the marker's
  lowest population and the next one over all events (:func:`marker_cuts`), ``-`` below it.
- :func:`gate_cluster_agreement` scores how well clusters recover gated (or expert) populations:
  per population the best-matching metacluster's precision, recall and F-measure (harmonic
  mean), and the event-weighted mean F over populations, as in FlowCAP-I.

Inputs that cannot be clustered raise ``IML-GATE-001``. ``flowsom``, ``anndata`` and its logger
are imported inside the functions (start-up stays instant).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from immunolab.errors import InconsistentInputError
from immunolab.flow.density_gates import NoValleyError, split_above_lowest

__all__ = [
    "Agreement",
    "ClusterResult",
    "cluster_events",
    "events_anndata",
    "gate_cluster_agreement",
    "label_metaclusters",
    "marker_cuts",
    "whole_gate_agreement",
]


@dataclass(frozen=True)
class ClusterResult:
    """Per-event metacluster ids (0..k-1), marker medians per metacluster and their labels."""

    metacluster: np.ndarray
    markers: tuple[str, ...]
    medians: np.ndarray  # n_metaclusters x markers, display scale
    labels: dict[int, str]
    seed: int
    model: Any = field(default=None, repr=False, compare=False)  # the fitted FlowSOM estimator

    def predict(self, events: np.ndarray) -> np.ndarray:
        """Return the metacluster of each row of ``events`` (same markers, same display scale)."""
        if self.model is None:
            raise ValueError("this clustering keeps no model to assign new events with")
        return np.asarray(self.model.predict(np.asarray(events, dtype=np.float32)), dtype=np.int64)

    def event_labels(self) -> np.ndarray:
        """Return each event's metacluster label (its marker profile)."""
        names = np.array([self.labels.get(i, f"MC{i}") for i in range(len(self.medians))], dtype=object)
        return names[self.metacluster]

    def frequencies(self) -> dict[str, float]:
        """Return each metacluster label's share of the events in percent (labels may repeat: summed)."""
        out: dict[str, float] = {}
        counts = np.bincount(self.metacluster, minlength=len(self.medians))
        for i, c in enumerate(counts.tolist()):
            key = self.labels.get(i, f"MC{i}")
            out[key] = out.get(key, 0.0) + 100.0 * c / max(len(self.metacluster), 1)
        return out


def _invalid(message: str, label: str | None) -> InconsistentInputError:
    return InconsistentInputError(
        "IML-GATE-001", f"events cannot be clustered: {message}", path=label,
        hint="Pass display-scale events (n_events x markers, finite values) with more events than map nodes, "
        "or lower --metaclusters / the map size.",
    )


def marker_cuts(events: np.ndarray, markers: Sequence[str]) -> dict[str, float | None]:
    """Return, per marker, the cut between its lowest population and the next (None: one population)."""
    cuts: dict[str, float | None] = {}
    for j, marker in enumerate(markers):
        try:
            cuts[marker] = split_above_lowest(np.asarray(events[:, j], dtype=np.float64)).cut
        except NoValleyError:
            cuts[marker] = None
    return cuts


def label_metaclusters(medians: np.ndarray, markers: Sequence[str], cuts: Mapping[str, float | None]) -> dict[int, str]:
    """Return ``{metacluster: 'CD3+CD4-...'}``; markers without a cut are left out of the label."""
    out: dict[int, str] = {}
    for i, row in enumerate(np.asarray(medians)):
        parts = [f"{m}{'+' if v > cuts[m] else '-'}" for m, v in zip(markers, row, strict=True)
                 if cuts.get(m) is not None and np.isfinite(v)]
        out[i] = "".join(parts) or "unlabelled"
    return out


def cluster_events(
    events: np.ndarray,
    markers: Sequence[str],
    *,
    n_metaclusters: int = 10,
    seed: int = 0,
    grid: tuple[int, int] = (10, 10),
    max_events: int | None = None,
    label: str | None = None,
) -> ClusterResult:
    """Cluster display-scale ``events`` (n x markers) with FlowSOM and label the metaclusters."""
    x = np.asarray(events, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != len(markers) or not len(markers):
        raise _invalid(f"events are shaped {x.shape} but {len(markers)} marker(s) were named", label)
    if not np.isfinite(x).all():
        raise _invalid("some values are not finite (NaN or infinite)", label)
    nodes = grid[0] * grid[1]
    if x.shape[0] <= nodes or not 2 <= n_metaclusters <= nodes:
        raise _invalid(f"{x.shape[0]} events for a {grid[0]}x{grid[1]} map and {n_metaclusters} metaclusters", label)
    train = x
    if max_events is not None and x.shape[0] > max_events:
        pick = np.sort(np.random.default_rng(seed).choice(x.shape[0], max_events, replace=False))
        train = x[pick]
    model = _fit(train, markers, n_metaclusters, seed, grid)
    meta = np.asarray(model.predict(x), dtype=np.int64) if train is not x else np.asarray(model.metacluster_labels, dtype=np.int64)
    k = int(meta.max()) + 1 if len(meta) else 0
    medians = np.full((max(k, n_metaclusters), len(markers)), np.nan)
    for i in range(k):
        members = x[meta == i]
        if len(members):
            medians[i] = np.median(members, axis=0)
    labels = label_metaclusters(medians, markers, marker_cuts(x, markers))
    return ClusterResult(meta, tuple(markers), medians, labels, seed, model)


def _fit(x: np.ndarray, markers: Sequence[str], n_metaclusters: int, seed: int, grid: tuple[int, int]) -> Any:
    """Train FlowSOM on ``x`` and return its fitted estimator."""
    import warnings

    import anndata as ad
    import flowsom
    from loguru import logger

    logger.disable("flowsom")
    adata = ad.AnnData(x)
    adata.var_names = [str(m) for m in markers]
    with warnings.catch_warnings():  # mudata (inside flowsom) announces a future default on every update
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"mudata\..*")
        fsom = flowsom.FlowSOM(adata, cols_to_use=list(range(len(markers))), n_clusters=n_metaclusters,
                               xdim=grid[0], ydim=grid[1], seed=seed)
    return fsom.model


@dataclass(frozen=True)
class Agreement:
    """How well the best metacluster recovers one population (precision/recall/F in 0-1)."""

    population: str
    events: int
    metacluster: int
    cluster_label: str
    precision: float
    recall: float
    f_measure: float


def gate_cluster_agreement(
    population: np.ndarray, metacluster: np.ndarray, *, cluster_labels: Mapping[int, str] | None = None,
    ignore: Sequence[object] = ("", None, 0), merged: bool = False,
) -> tuple[list[Agreement], float]:
    """Return per-population agreement and the event-weighted mean F-measure.

    ``population``: each event's gated (or expert) population, events labelled with a value in
    ``ignore`` (ungated) count for no population; ``metacluster``: each event's cluster. By
    default a population is matched with its best single metacluster; with ``merged`` every
    metacluster is first given to the population holding most of its events and a population
    is the union of its metaclusters (over-splitting is not penalised; metacluster = -1).
    """
    if merged:
        return _merged_agreement(np.asarray(population, dtype=object), np.asarray(metacluster), ignore)
    pop = np.asarray(population, dtype=object)
    meta = np.asarray(metacluster)
    if pop.shape != meta.shape:
        raise ValueError("population and metacluster must label the same events")
    keep = np.array([p not in ignore for p in pop.tolist()], dtype=bool)
    rows: list[Agreement] = []
    clusters = np.unique(meta)
    sizes = {int(c): int((meta == c).sum()) for c in clusters}
    for name in sorted({p for p in pop[keep].tolist()}, key=str):
        member = pop == name
        n = int(member.sum())
        best = Agreement(str(name), n, -1, "", 0.0, 0.0, 0.0)
        for c, hits in zip(*np.unique(meta[member], return_counts=True), strict=True):
            precision, recall = hits / sizes[int(c)], hits / n
            f = 2 * precision * recall / (precision + recall)
            if f > best.f_measure:
                label = (cluster_labels or {}).get(int(c), f"MC{int(c)}")
                best = Agreement(str(name), n, int(c), label, float(precision), float(recall), float(f))
        rows.append(best)
    total = sum(r.events for r in rows)
    mean_f = sum(r.f_measure * r.events for r in rows) / total if total else float("nan")
    return rows, float(mean_f)


def whole_gate_agreement(
    members: Mapping[str, np.ndarray], metacluster: np.ndarray, *, cluster_labels: Mapping[int, str] | None = None,
) -> tuple[list[Agreement], float]:
    """Return the agreement of whole gates (children included) with the metaclusters that make them up.

    ``members`` maps a gate's name to its per-event membership (every event in the gate, also
    those in its child gates, as the gate's count means); ``metacluster``: each event's cluster.
    The metaclusters with most (> 50 %) of their events in the gate make it up, and the gate is
    scored against their union (``T cells`` = the CD4 and the CD8 metaclusters; several:
    ``metacluster`` -1, ``cluster_label`` their names' first words, ``MC02 + MC05``); a gate no metacluster
    lies mostly inside (a small gate such as Treg) is scored against its best single
    metacluster. The mean F is weighted by each gate's events (an event counts once per gate
    holding it).
    """
    meta = np.asarray(metacluster)
    clusters, sizes = np.unique(meta, return_counts=True)
    size_of = dict(zip(clusters.tolist(), sizes.tolist(), strict=True))
    labels = cluster_labels or {}
    rows: list[Agreement] = []
    for name, mask in members.items():
        member = np.asarray(mask, dtype=bool)
        n = int(member.sum())
        if n == 0:
            continue
        hits_of = dict(zip(*np.unique(meta[member], return_counts=True), strict=True))
        inside = sorted(int(c) for c, h in hits_of.items() if 2 * int(h) > size_of[c])
        if inside:
            hits = sum(int(hits_of[c]) for c in inside)
            precision, recall = hits / sum(size_of[c] for c in inside), hits / n
            best = Agreement(str(name), n, inside[0] if len(inside) == 1 else -1,
                             labels.get(inside[0], f"MC{inside[0]}") if len(inside) == 1 else
                             " + ".join(labels.get(c, f"MC{c}").split(" ", 1)[0] for c in inside),
                             float(precision), float(recall),
                             float(2 * precision * recall / (precision + recall)))
        else:
            best = Agreement(str(name), n, -1, "", 0.0, 0.0, 0.0)
            for c, h in hits_of.items():
                precision, recall = int(h) / size_of[c], int(h) / n
                f = 2 * precision * recall / (precision + recall)
                if f > best.f_measure:
                    best = Agreement(str(name), n, int(c), labels.get(int(c), f"MC{int(c)}"), float(precision),
                                     float(recall), float(f))
        rows.append(best)
    total = sum(r.events for r in rows)
    return rows, float(sum(r.f_measure * r.events for r in rows) / total) if total else float("nan")


def _merged_agreement(pop: np.ndarray, meta: np.ndarray, ignore: Sequence[object]) -> tuple[list[Agreement], float]:
    keep = np.array([p not in ignore for p in pop.tolist()], dtype=bool)
    names = sorted({p for p in pop[keep].tolist()}, key=str)
    owner: dict[int, object] = {}
    for c in np.unique(meta).tolist():
        members = pop[(meta == c) & keep]
        if len(members):
            values, counts = np.unique(members.astype(str), return_counts=True)
            owner[int(c)] = values[int(np.argmax(counts))]
    rows = []
    for name in names:
        member = pop == name
        mine = np.isin(meta, [c for c, o in owner.items() if o == str(name)])
        hits = int((member & mine).sum())
        precision = hits / max(int(mine.sum()), 1)
        recall = hits / int(member.sum())
        f = 2 * precision * recall / (precision + recall) if hits else 0.0
        rows.append(Agreement(str(name), int(member.sum()), -1, "", precision, recall, f))
    total = sum(r.events for r in rows)
    return rows, float(sum(r.f_measure * r.events for r in rows) / total) if total else float("nan")


def events_anndata(values: np.ndarray, markers: Sequence[str], *, gate_label: Sequence[str] | np.ndarray,
                   result: ClusterResult) -> Any:
    """Return an event-level AnnData: X = display values, obs = gate label, metacluster id and label."""
    import anndata as ad
    import pandas as pd

    obs = pd.DataFrame({
        "gate": pd.Categorical([str(g) for g in gate_label]),
        "metacluster": pd.Categorical(result.metacluster.astype(str)),
        "metacluster_label": pd.Categorical(result.event_labels().astype(str)),
    })
    obs.index = obs.index.astype(str)
    adata = ad.AnnData(np.asarray(values, dtype=np.float32), obs=obs)
    adata.var_names = [str(m) for m in markers]
    return adata
