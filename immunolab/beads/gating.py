"""Find a well's bead groups in scatter and the bead populations of a group in its classifiers.

Both steps use :mod:`immunolab.beads.density` on transformed values and keep only each
cluster's robust core, so debris, doublets and events between two populations do not reach the
medians. Scatter groups are the densest modes (peak height: beads are far tighter than debris),
ordered by forward scatter; bead populations are the modes holding the most events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from immunolab.beads.density import (
    ModeScan2D,
    find_modes_1d,
    find_modes_2d,
    log_scale,
    robust_core,
    scan_modes_2d,
)

__all__ = ["FoundPopulation", "ScatterFit", "ScatterScan", "find_populations", "find_scatter_groups", "saturated",
           "scatter_core", "scatter_modes", "scatter_scan"]

#: a scatter group must hold at least this fraction of the well's events to count as a mode
_GROUP_MIN_FRACTION = 0.03
#: a bead population must hold at least this fraction of an even share of its group's events
_POPULATION_MIN_SHARE = 0.15
#: fewer events than this cannot show that they form a tight cluster
_POPULATION_MIN_EVENTS = 10
#: beads are dyed uniformly: a classifier population whose robust CV (1.4826 MAD / median)
#: exceeds this is not a bead population (beads measure 3-12 % on the shared Navios, CytoFLEX
#: and FACSVerse files; cell populations of an immune panel 30 % and more)
MAX_BEAD_RCV = 0.25
#: a "population" where this fraction of events shares one value is a pile-up (zero floor,
#: saturation), not beads
_PILE_UP = 0.5


def saturated(values: np.ndarray) -> np.ndarray:
    """Return a mask of events at the channel's ceiling (the maximum, shared by >= 3 events)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, dtype=bool)
    top = finite.max()
    at_top = values >= top
    return at_top if int(at_top.sum()) >= 3 else np.zeros(values.shape, dtype=bool)


@dataclass(frozen=True)
class ScatterFit:
    """Scatter groups found in a well: per-event group index (-1 none) and per-group centers."""

    labels: np.ndarray
    centers: np.ndarray  # transformed (fsc, ssc) per found group, ascending forward scatter
    fsc_cofactor: float
    ssc_cofactor: float


@dataclass(frozen=True)
class ScatterScan:
    """The scatter density scan of a well's usable events, shared by every :func:`find_scatter_groups` call."""

    pts: np.ndarray
    usable: np.ndarray
    scan: ModeScan2D | None
    fsc_cofactor: float
    ssc_cofactor: float


def scatter_scan(fsc: np.ndarray, ssc: np.ndarray, usable: np.ndarray) -> ScatterScan:
    """Return the scatter scan of the ``usable`` events (log-scaled forward and side scatter)."""
    tf, cf = log_scale(fsc[usable])
    ts, cs = log_scale(ssc[usable])
    pts = np.column_stack([tf, ts])
    n = int(usable.sum())
    return ScatterScan(pts, usable, scan_modes_2d(pts, min_mass=max(10.0, _GROUP_MIN_FRACTION * n)), cf, cs)


def scatter_modes(scan: ScatterScan, n_groups: int) -> list[np.ndarray]:
    """Return up to ``n_groups`` densest scatter modes of ``scan``, each as positions in ``scan.pts``.

    Modes come in the kit's order (increasing forward scatter, then side scatter), before their
    robust cores are taken (:func:`scatter_core`).
    """
    if scan.scan is None:
        return []
    modes = scan.scan.select(n_groups, rank_by="height")
    order = np.lexsort((modes.centers[:, 1], modes.centers[:, 0]))
    return [np.flatnonzero(modes.labels == old) for old in order]


def scatter_core(scan: ScatterScan, mode: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (indices into the well, center) of the robust core of one :func:`scatter_modes` mode (ascending)."""
    core, center, _ = robust_core(scan.pts[mode])
    return np.flatnonzero(scan.usable)[mode[core]], center


def find_scatter_groups(fsc: np.ndarray, ssc: np.ndarray, usable: np.ndarray, n_groups: int, *,
                        scan: ScatterScan | None = None) -> ScatterFit:
    """Return up to ``n_groups`` scatter groups among the ``usable`` events, as robust cores.

    Groups are ordered by increasing forward scatter (then side scatter), the kit's order. ``scan``
    (:func:`scatter_scan` of the same events) spares a second density scan of the well.
    """
    sc = scan if scan is not None else scatter_scan(fsc, ssc, usable)
    labels = np.full(fsc.shape, -1, dtype=np.int32)
    centers = []
    for new, mode in enumerate(scatter_modes(sc, n_groups)):
        events, center = scatter_core(sc, mode)
        labels[events] = new
        centers.append(center)
    return ScatterFit(labels, np.array(centers).reshape(len(centers), 2), sc.fsc_cofactor, sc.ssc_cofactor)


@dataclass(frozen=True)
class FoundPopulation:
    """One population of a group: its events (indices into the well) and classifier medians."""

    events: np.ndarray
    classifier_median: tuple[float, ...]
    position: tuple[float, ...]


def _position(medians: np.ndarray, t_center: np.ndarray, cofactors: list[float]) -> tuple[float, ...]:
    """Return log classifier medians (the matching positions); asinh units scaled when <= 0."""
    out = []
    for axis, c in enumerate(cofactors):
        med = float(medians[axis])
        out.append(float(np.log(med)) if med > 0 else float(np.log(c / 2.0) + t_center[axis]))
    return tuple(out)


def _bead_like(values: np.ndarray, medians: np.ndarray) -> bool:
    """Return True when a candidate population is tight and not a pile-up (see :data:`MAX_BEAD_RCV`).

    ``medians`` are ``np.median(values, axis=0)``, which the caller keeps as the classifier medians.
    """
    if values.shape[0] < 3:
        return False
    for axis in range(values.shape[1]):
        v = values[:, axis]
        med = float(medians[axis])
        _, counts = np.unique(v, return_counts=True)
        if counts.max() >= _PILE_UP * v.size or med <= 0:
            return False
        if 1.4826 * float(np.median(np.abs(v - med))) / med > MAX_BEAD_RCV:
            return False
    return True


def _separation(centers: list[np.ndarray], spreads: list[np.ndarray]) -> float:
    """Return the median, over populations, of the distance to the nearest other population in
    units of their summed spreads (transformed scale): large for a true classifier channel,
    small for a channel that only sees the classifier dye as spill-over."""
    if len(centers) < 2:
        return 0.0
    c = np.vstack(centers)
    s = np.array([float(np.sqrt(np.sum(v**2))) for v in spreads])
    ratios = []
    for i in range(len(c)):
        dist = np.sqrt(((c - c[i]) ** 2).sum(axis=1)) / (s + s[i] + 1e-12)
        dist[i] = np.inf
        ratios.append(float(dist.min()))
    return float(np.median(ratios))


def find_populations(classifiers: np.ndarray, members: np.ndarray, n_beads: int) -> tuple[list[FoundPopulation], float]:
    """Return up to ``n_beads`` bead populations among ``members`` and their separation.

    ``classifiers`` holds the linear classifier values of every event of the well (n x d, d = 1
    or 2); ``members`` are the indices of the group's events. Populations come back in
    increasing position (first axis); the separation (see :func:`_separation`) scores how
    cleanly the channel(s) resolve them.
    """
    if len(members) < 3:
        return [], 0.0
    vals = np.asarray(classifiers, dtype=float)[members].reshape(len(members), -1)
    d = vals.shape[1]
    trans, cofactors = [], []
    for axis in range(d):
        t, c = log_scale(vals[:, axis])
        trans.append(t)
        cofactors.append(c)
    pts = np.column_stack(trans)
    min_mass = max(float(_POPULATION_MIN_EVENTS), _POPULATION_MIN_SHARE * len(members) / max(n_beads, 1))
    if d == 1:
        m1 = find_modes_1d(pts[:, 0], expected=n_beads, min_mass=min_mass)
        labels = m1.labels(pts[:, 0])
        n_found = m1.centers.size
    else:
        m2 = find_modes_2d(pts, expected=n_beads, min_mass=min_mass, rank_by="mass")
        labels = m2.labels
        n_found = m2.centers.shape[0]
    found: list[FoundPopulation] = []
    centers, spreads = [], []
    for k in range(n_found):
        member = np.flatnonzero(labels == k)
        if member.size == 0:
            continue
        core, center, cov = robust_core(pts[member], quantile=0.997)
        chosen = member[core]
        if chosen.size < _POPULATION_MIN_EVENTS:
            continue
        chosen_vals = vals[chosen]
        medians = np.median(chosen_vals, axis=0)  # one median per axis serves the checks and the result
        if not _bead_like(chosen_vals, medians):
            continue
        centers.append(center)
        spreads.append(np.sqrt(np.clip(np.diag(cov), 0, None)))
        found.append(
            FoundPopulation(
                events=members[chosen],
                classifier_median=tuple(float(v) for v in medians),
                position=_position(medians, center, cofactors),
            )
        )
    found.sort(key=lambda p: p.position)
    return found, _separation(centers, spreads)
