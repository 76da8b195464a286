"""Data-driven gate thresholds: density valleys (1-D) and density basins (2-D).

These are the methods of the gating template (:mod:`immunolab.flow.template`). They work on
display-scale values (logicle 0-1 for fluorescence, linear 0-1 for scatter), so one set of
arguments serves every sample: the threshold moves with each sample's own populations.

- :func:`mindensity_cut`: the lowest point of a smoothed 1-D density between its two largest
  modes (in the spirit of openCyto's ``mindensity``). Modes are ranked by mass, not height, so
  a broad negative population competes fairly with a tight positive one; wiggles whose valley
  is shallow merge into one mode.
- :func:`ratio_cut`: the valley below the main mode of ``log(y / x)``; singlets (FSC-H close to
  FSC-A) sit in the main mode, doublets (area grows faster than height) below it.
- :func:`density_basin_mask`: a 2-D population as the density basin of the peak nearest to a
  target location: a smoothed 2-D histogram is split by steepest ascent into basins, basins
  separated by a shallow saddle are merged (persistence, as in ToMATo clustering), and the
  chosen basin is cut at a low fraction of its peak density.

- :func:`split_above_lowest`: the cut between the lowest population of a 1-D density and the
  next one up (the negative population is the lowest one, whatever the stain brightness),
  falling back to a two-component Gaussian mixture when the populations overlap so much that
  the density has no valley (a dim or smeared population).
- :func:`density_basins` / :func:`basin_mask`: the 2-D basins once, so a rule can pick one by
  its position relative to the others (e.g. the lowest-SSC cell cluster).

A density without the expected valley raises :class:`NoValleyError`; the template turns it
into ``IML-FCS-014`` naming the file, the population and the channel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from immunolab.grid_basins import steepest_ascent

__all__ = [
    "Basins",
    "Mixture",
    "NoValleyError",
    "Split",
    "basin_mask",
    "density_basin_mask",
    "density_basins",
    "density_modes",
    "mindensity_cut",
    "ratio_cut",
    "smoothed_density",
    "split_above_lowest",
    "two_gaussian_mixture",
]

_GRID = 512
_MIN_EVENTS = 20
_BACKGROUND = 1e-4  # 2-D bins below this fraction of the highest density belong to no basin
_EVENT_BLOCK = 1 << 16  # events binned per step of density_basin_mask (bounded temporaries)


class NoValleyError(ValueError):
    """A density has no valley where the gate expects one (reason in the message)."""


def _bandwidth(x: np.ndarray, adjust: float, floor: float, quartiles: tuple[float, float] | None = None) -> float:
    """Return a Silverman-style bandwidth from the IQR (robust to a second population)."""
    q25, q75 = np.percentile(x, [25, 75]) if quartiles is None else quartiles
    sd = float(np.std(x, dtype=np.float64))
    spread = min(sd, float(q75 - q25) / 1.34)
    if spread <= 0:
        spread = sd
    bw = 0.9 * spread * len(x) ** -0.2
    return max(bw * adjust, floor)


def smoothed_density(
    x: np.ndarray, *, adjust: float = 1.0, floor: float = 0.012, grid: int = _GRID
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(grid_points, density)``: a Gaussian-smoothed histogram of finite ``x``.

    The grid spans the 0.05-99.95 % quantiles widened by 10 %; the bandwidth is Silverman's
    rule on the IQR times ``adjust``, at least ``floor`` (display units). Density integrates
    to ~1 over the grid. ``x`` may be float32; the histogram bins in float64.
    """
    finite = np.isfinite(x)
    if not finite.all():
        x = x[finite]
    del finite
    if len(x) < _MIN_EVENTS:
        raise NoValleyError(f"only {len(x)} events to estimate a density from")
    lo, q25, q75, hi = (np.float64(v) for v in np.percentile(x, [0.05, 25, 75, 99.95]))  # one partition
    pad = 0.1 * max(hi - lo, 1e-6)
    lo, hi = lo - pad, hi + pad
    counts, edges = np.histogram(x, bins=grid, range=(lo, hi))
    step = edges[1] - edges[0]
    bw = _bandwidth(x, adjust, floor, (q25, q75))
    dens = ndimage.gaussian_filter1d(counts.astype(np.float64), bw / step, mode="constant")
    dens /= len(x) * step
    return (edges[:-1] + edges[1:]) / 2, dens


@dataclass(frozen=True)
class Mode:
    """One mode of a 1-D density: peak index, bounds (valley indices) and mass (0-1)."""

    peak: int
    left: int
    right: int
    mass: float


def _flat_argmin(dens: np.ndarray, a: int, b: int) -> int:
    """Return the index of the lowest density in ``[a, b]`` (the middle of a flat bottom)."""
    seg = dens[a : b + 1]
    low = float(seg.min())
    tol = low + 1e-3 * (float(seg.max()) - low)
    flat = np.flatnonzero(seg <= tol)
    runs = np.split(flat, np.flatnonzero(np.diff(flat) > 1) + 1)
    run = max(runs, key=len)
    return a + int(run[len(run) // 2])


def local_maxima(x: np.ndarray) -> np.ndarray:
    """Return the indices of the local maxima of ``x``, left to right (``scipy.signal.find_peaks`` with no filter).

    A peak is a run of equal values with a lower neighbour on both sides (a run touching either
    end is none); a flat peak is reported at the middle of its run, rounded down. Written here
    because importing ``scipy.signal`` costs ~1 s per ingest worker, more than gating a tube;
    tests/flow/test_density_gates.py checks it against ``find_peaks`` on random and flat data.
    """
    v = np.asarray(x, dtype=np.float64)
    n = v.size
    if n < 3:
        return np.empty(0, dtype=np.intp)
    change = np.flatnonzero(v[1:] != v[:-1])
    starts = np.concatenate(([0], change + 1))
    ends = np.concatenate((change, [n - 1]))
    inner = (starts > 0) & (ends < n - 1)
    s, e = starts[inner], ends[inner]
    peak = (v[s - 1] < v[s]) & (v[e + 1] < v[e])
    return ((s[peak] + e[peak]) // 2).astype(np.intp)


def density_modes(dens: np.ndarray, step: float, *, merge: float = 0.5) -> list[Mode]:
    """Return the modes of a 1-D density after merging shallow ones, left to right.

    Two neighbouring modes merge when the valley between them is higher than ``1 - merge``
    times the lower of their two peaks (a wiggle, not a gap between populations).
    """
    found = local_maxima(np.concatenate([[0.0], dens, [0.0]]))
    peaks = [int(p) - 1 for p in found]
    if not peaks:
        return []
    valleys = [_flat_argmin(dens, peaks[i], peaks[i + 1]) for i in range(len(peaks) - 1)]
    while valleys:
        ratios = [
            dens[v] / max(min(dens[peaks[i]], dens[peaks[i + 1]]), 1e-300) for i, v in enumerate(valleys)
        ]
        i = int(np.argmax(ratios))
        if ratios[i] <= 1.0 - merge:
            break
        keep = peaks[i] if dens[peaks[i]] >= dens[peaks[i + 1]] else peaks[i + 1]
        peaks[i : i + 2] = [keep]
        del valleys[i]
    bounds = [0, *valleys, len(dens) - 1]
    cum = np.concatenate([[0.0], np.cumsum(dens) * step])
    return [
        Mode(p, bounds[i], bounds[i + 1], float(cum[bounds[i + 1] + 1] - cum[bounds[i]]))
        for i, p in enumerate(peaks)
    ]


def mindensity_cut(
    x: np.ndarray,
    *,
    search_range: tuple[float, float] | None = None,
    adjust: float = 1.0,
    min_mass: float = 0.005,
    merge: float = 0.5,
) -> float:
    """Return the threshold at the lowest density between the two largest modes of ``x``.

    Modes under ``min_mass`` (share of events) are ignored. ``search_range`` (display units)
    restricts where the cut may fall. Raises :class:`NoValleyError` when fewer than two modes
    exist.
    """
    grid, dens = smoothed_density(x, adjust=adjust)
    modes = [m for m in density_modes(dens, grid[1] - grid[0], merge=merge) if m.mass >= min_mass]
    if len(modes) < 2:
        raise NoValleyError(
            f"the density has {len(modes)} population(s) holding {min_mass:.1%} of events or more, "
            "so there is no valley between populations"
        )
    two = sorted(sorted(modes, key=lambda m: -m.mass)[:2], key=lambda m: m.peak)
    a, b = two[0].peak, two[1].peak
    if search_range is not None:
        inside = np.flatnonzero((grid >= search_range[0]) & (grid <= search_range[1]))
        a, b = max(a, int(inside.min(initial=len(grid)))), min(b, int(inside.max(initial=-1)))
        if a >= b:
            raise NoValleyError("no valley between the two main populations lies inside the search range")
    return float(grid[_flat_argmin(dens, a, b)])


def ratio_cut(
    x: np.ndarray, y: np.ndarray, *, adjust: float = 1.0, min_mass: float = 0.005, merge: float = 0.5
) -> float:
    """Return the cut on ``log(y / x)`` at the valley below its main mode (singlets vs doublets).

    Events with a non-positive ``x`` or ``y`` are ignored. Raises :class:`NoValleyError` when
    no mode holding ``min_mass`` of the events lies below the main one.
    """
    ok = (x > 0) & (y > 0)
    ratio = np.log(y[ok] / x[ok])
    grid, dens = smoothed_density(ratio, adjust=adjust, floor=0.005)
    modes = density_modes(dens, grid[1] - grid[0], merge=merge)
    if not modes:
        raise NoValleyError("the height/area ratio has no peak")
    main = max(modes, key=lambda m: m.mass)
    below = [m for m in modes if m.peak < main.peak and m.mass >= min_mass]
    if not below:
        raise NoValleyError("no doublet population below the singlet height/area ratio (no valley)")
    second = max(below, key=lambda m: m.mass)
    return float(grid[_flat_argmin(dens, second.peak, main.peak)])


def _basins(dens: np.ndarray) -> np.ndarray:
    """Return, for every bin, the flat index of the local maximum reached by steepest ascent.

    A bin keeps itself unless a neighbour is strictly higher (:func:`immunolab.grid_basins.steepest_ascent`,
    which bead classification uses too).
    """
    return steepest_ascent(dens)[0]


def _saddles(dens: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (basin a, basin b, saddle height) for every pair of touching basins.

    The saddle of two basins is the highest ``min(density)`` over pairs of neighbouring bins
    (8-connectivity) that straddle their border. Background bins (label -1) are ignored.
    """
    lab2 = label.reshape(dens.shape)
    keys, heights = [], []
    for sl_a, sl_b in (
        ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
        ((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
        ((slice(None, -1), slice(None, -1)), (slice(1, None), slice(1, None))),
        ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1))),
    ):
        la, lb = lab2[sl_a].ravel(), lab2[sl_b].ravel()
        edge = (la != lb) & (la >= 0) & (lb >= 0)
        lo, hi = np.minimum(la[edge], lb[edge]), np.maximum(la[edge], lb[edge])
        keys.append(lo * label.size + hi)
        heights.append(np.minimum(dens[sl_a].ravel()[edge], dens[sl_b].ravel()[edge]))
    key = np.concatenate(keys)
    height = np.concatenate(heights)
    if not len(key):
        empty = np.array([], dtype=np.int64)
        return empty, empty, np.array([], dtype=np.float64)
    order = np.lexsort((height, key))
    key, height = key[order], height[order]
    last = np.flatnonzero(np.r_[key[1:] != key[:-1], True])  # highest saddle per pair
    return key[last] // label.size, key[last] % label.size, height[last]


def _merge_shallow(dens: np.ndarray, label: np.ndarray, merge: float) -> np.ndarray:
    """Merge basins whose saddle to a higher basin is within ``merge`` x their own peak."""
    flat = dens.ravel()
    a_arr, b_arr, s_arr = _saddles(dens, label)
    parent: dict[int, int] = {}

    def find(m: int) -> int:
        root = m
        while parent.get(root, root) != root:
            root = parent[root]
        while m != root:  # path compression
            parent[m], m = root, parent.get(m, m)
        return root

    # ToMATo-style sweep over saddles from high to low
    for i in np.argsort(-s_arr, kind="stable").tolist():
        ra, rb = find(int(a_arr[i])), find(int(b_arr[i]))
        if ra == rb:
            continue
        hi, lo = (ra, rb) if flat[ra] >= flat[rb] else (rb, ra)
        if flat[lo] - s_arr[i] < merge * flat[lo]:
            parent[lo] = hi
    if not parent:
        return label
    # relabel through a table over the grid's bins (a sort of every bin by np.unique cost more than the sweep)
    table = np.arange(flat.size, dtype=np.int64)
    for m in list(parent):
        table[m] = find(m)
    return np.where(label >= 0, table[np.maximum(label, 0)], -1).astype(np.int64, copy=False)


def density_basin_mask(
    x: np.ndarray,
    y: np.ndarray,
    *,
    target: tuple[float, float],
    extent: tuple[tuple[float, float], tuple[float, float]],
    bins: int = 256,
    smooth: float = 0.01,
    merge: float = 0.5,
    level: float = 0.005,
    min_mass: float = 0.01,
) -> np.ndarray:
    """Return the events of the 2-D density basin whose peak is nearest ``target``.

    ``x``, ``y`` and ``target`` are display-scale values over ``extent``; ``bins`` per axis,
    ``smooth`` the Gaussian kernel SD in display units (at least one bin); basins whose saddle is within ``merge`` x their peak of
    it are merged; only basins holding at least ``min_mass`` of the events compete; bins below
    ``level`` x the basin's peak density are left out. Raises :class:`NoValleyError` when no
    basin qualifies.
    """
    basins = density_basins(x, y, extent=extent, bins=bins, smooth=smooth, merge=merge)
    (x0, x1), (y0, y1) = extent
    n, label, event_bin, flat_dens = len(x), basins.label, basins.event_bin, basins.density.ravel()
    n_in = basins.n_gridded
    tx = (target[0] - x0) / (x1 - x0) * bins
    ty = (target[1] - y0) / (y1 - y0) * bins
    best, best_d = -1, math.inf
    for root, share in basins.mass.items():  # peaks in bin order, as before
        if round(share * n_in) < min_mass * n_in:  # the basin's event count, exactly
            continue
        ry, rx = divmod(root, bins)
        d = math.hypot(rx + 0.5 - tx, ry + 0.5 - ty)
        if d < best_d:
            best, best_d = root, d
    if best < 0:
        raise NoValleyError(f"no 2-D population holds at least {min_mass:.1%} of the events")
    keep_bin = np.append((label == best) & (flat_dens >= level * flat_dens[best]), False)
    mask = np.empty(n, dtype=bool)
    for start in range(0, n, _EVENT_BLOCK):
        rows = slice(start, start + _EVENT_BLOCK)
        mask[rows] = keep_bin[event_bin[rows]]  # bin -1 (outside the grid) reads the appended False
    return mask


@dataclass(frozen=True)
class Mixture:
    """Two 1-D Gaussian components (low first): weights, means, SDs, Ashman's D and the cut.

    ``cut`` is where the weighted component densities cross between the two means.
    """

    weights: tuple[float, float]
    means: tuple[float, float]
    sds: tuple[float, float]
    separation: float
    cut: float


def two_gaussian_mixture(x: np.ndarray, *, iterations: int = 200, sample: int = 50_000) -> Mixture | None:
    """Fit two Gaussians to ``x`` by expectation-maximisation; None when the fit degenerates.

    Starts from the lower and upper thirds of the data; at most ``sample`` evenly spaced
    sorted values are used (deterministic). Separation is Ashman's D,
    ``sqrt(2) |m1 - m2| / sqrt(s1^2 + s2^2)``: above 2 the two components are clearly distinct.
    """
    v = np.sort(np.asarray(x, dtype=np.float64)[np.isfinite(x)])
    if len(v) < 3 * _MIN_EVENTS:
        return None
    if len(v) > sample:
        v = v[np.linspace(0, len(v) - 1, sample).astype(np.int64)]
    third = len(v) // 3
    mu = np.array([v[:third].mean(), v[-third:].mean()])
    sd = np.array([max(v[:third].std(), 1e-6), max(v[-third:].std(), 1e-6)])
    w = np.array([0.5, 0.5])
    floor = 1e-4 * max(float(v[-1] - v[0]), 1e-9)
    for _ in range(iterations):
        dens = w / (sd * math.sqrt(2 * math.pi)) * np.exp(-0.5 * ((v[:, None] - mu) / sd) ** 2)
        total = dens.sum(axis=1, keepdims=True)
        total[total == 0] = 1e-300
        resp = dens / total
        nk = resp.sum(axis=0)
        if (nk < 1).any():
            return None
        new_mu = (resp * v[:, None]).sum(axis=0) / nk
        sd = np.maximum(np.sqrt((resp * (v[:, None] - new_mu) ** 2).sum(axis=0) / nk), floor)
        w = nk / len(v)
        done = np.allclose(new_mu, mu, atol=1e-7)
        mu = new_mu
        if done:
            break
    order = np.argsort(mu)
    mu, sd, w = mu[order], sd[order], w[order]
    grid = np.linspace(mu[0], mu[1], 513)
    diff = w[0] / sd[0] * np.exp(-0.5 * ((grid - mu[0]) / sd[0]) ** 2) - w[1] / sd[1] * np.exp(
        -0.5 * ((grid - mu[1]) / sd[1]) ** 2
    )
    crossing = np.flatnonzero(np.diff(np.sign(diff)) != 0)
    cut = float(grid[crossing[0]]) if len(crossing) else float((mu[0] + mu[1]) / 2)
    separation = float(math.sqrt(2) * abs(mu[1] - mu[0]) / math.sqrt(sd[0] ** 2 + sd[1] ** 2))
    return Mixture((float(w[0]), float(w[1])), (float(mu[0]), float(mu[1])), (float(sd[0]), float(sd[1])),
                   separation, cut)


@dataclass(frozen=True)
class Split:
    """A 1-D threshold, how it was found (``valley`` or ``mixture``), and where the lowest population peaks."""

    cut: float
    how: str
    low_peak: float


def split_above_lowest(
    x: np.ndarray,
    *,
    adjust: float = 1.0,
    min_mass: float = 0.004,
    merge: float = 0.5,
    separation: float = 2.0,
) -> Split:
    """Return the cut between the lowest population of ``x`` and the next one up.

    Populations are density modes holding at least ``min_mass`` of the events; the cut is the
    lowest density between the lowest mode and the next (``valley``). Without a valley, a
    two-Gaussian mixture whose components are separated by Ashman's D >= ``separation`` and
    each hold ``min_mass`` gives the crossing point (``mixture``: a dim or smeared population).
    Raises :class:`NoValleyError` when ``x`` holds one population only.
    """
    grid, dens = smoothed_density(x, adjust=adjust)
    modes = [m for m in density_modes(dens, grid[1] - grid[0], merge=merge) if m.mass >= min_mass]
    if len(modes) >= 2:
        return Split(float(grid[_flat_argmin(dens, modes[0].peak, modes[1].peak)]), "valley", float(grid[modes[0].peak]))
    mix = two_gaussian_mixture(x)
    if mix is not None and mix.separation >= separation and min(mix.weights) >= min_mass:
        return Split(mix.cut, "mixture", mix.means[0])
    where = f" at {grid[modes[0].peak]:.3f}" if modes else ""
    raise NoValleyError(
        f"the density has one population{where} (no second mode holding {min_mass:.1%} of events, "
        f"and no two-component mixture separated by Ashman's D >= {separation:g}), so there is no valley"
    )


@dataclass
class Basins:
    """2-D density basins of a set of events (see :func:`density_basins`).

    ``label``: per bin, the flat index of its basin's peak (-1 background); ``event_bin``: per
    event, its bin (-1 outside the grid); ``mass``: basin peak -> share of the gridded events;
    ``density``: the smoothed 2-D histogram (bins_y x bins_x); ``extent``: ((x0, x1), (y0, y1)).
    """

    label: np.ndarray
    event_bin: np.ndarray
    mass: dict[int, float]
    density: np.ndarray
    extent: tuple[tuple[float, float], tuple[float, float]]
    n_gridded: int = 0

    @property
    def bins(self) -> int:
        """Return the bins per axis."""
        return int(self.density.shape[0])

    def peak_xy(self, root: int) -> tuple[float, float]:
        """Return the display-scale (x, y) of a basin's peak."""
        (x0, x1), (y0, y1) = self.extent
        ry, rx = divmod(root, self.bins)
        return x0 + (rx + 0.5) / self.bins * (x1 - x0), y0 + (ry + 0.5) / self.bins * (y1 - y0)

    def roots(self, min_mass: float) -> list[int]:
        """Return the basins holding at least ``min_mass`` of the events, largest first."""
        return [r for r, m in sorted(self.mass.items(), key=lambda kv: -kv[1]) if m >= min_mass]


def density_basins(
    x: np.ndarray,
    y: np.ndarray,
    *,
    extent: tuple[tuple[float, float], tuple[float, float]],
    bins: int = 256,
    smooth: float = 0.01,
    merge: float = 0.5,
) -> Basins:
    """Return the 2-D density basins of (x, y) over ``extent`` (display units; see the module doc)."""
    (x0, x1), (y0, y1) = extent
    n = len(x)
    if n < _MIN_EVENTS:
        raise NoValleyError(f"only {n} events to estimate a 2-D density from")
    event_bin = np.empty(n, dtype=np.int32)
    counts = np.zeros(bins * bins, dtype=np.int64)
    for start in range(0, n, _EVENT_BLOCK):
        rows = slice(start, start + _EVENT_BLOCK)
        xb = np.asarray(x[rows], dtype=np.float64)
        yb = np.asarray(y[rows], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            ix = np.floor((xb - x0) / (x1 - x0) * bins).astype(np.int64)
            iy = np.floor((yb - y0) / (y1 - y0) * bins).astype(np.int64)
        inside = (ix >= 0) & (ix < bins) & (iy >= 0) & (iy < bins) & np.isfinite(xb) & np.isfinite(yb)
        flat = np.where(inside, iy * bins + ix, -1)
        counts += np.bincount(flat[inside], minlength=bins * bins)
        event_bin[rows] = flat
    sigma = (max(smooth * bins / (y1 - y0), 1.0), max(smooth * bins / (x1 - x0), 1.0))
    dens = ndimage.gaussian_filter(counts.astype(np.float64).reshape(bins, bins), sigma, mode="constant")
    flat_dens = dens.ravel()
    label = _basins(dens)
    label[flat_dens <= _BACKGROUND * flat_dens.max()] = -1
    label = _merge_shallow(dens, label, merge)
    in_basin = label >= 0
    n_gridded = int(counts.sum())
    per_root = np.bincount(label[in_basin], weights=counts[in_basin], minlength=bins * bins)
    mass = {int(r): float(per_root[r]) / max(n_gridded, 1) for r in np.flatnonzero(per_root)}
    return Basins(label, event_bin, mass, dens, ((x0, x1), (y0, y1)), n_gridded)


def basin_mask(basins: Basins, roots: list[int], *, level: float = 0.005) -> np.ndarray:
    """Return the events in the basins ``roots``, bins under ``level`` x each basin's peak left out."""
    flat_dens = basins.density.ravel()
    keep = np.zeros(flat_dens.size + 1, dtype=bool)  # index -1 (outside the grid) reads False
    for root in roots:
        keep[:-1] |= (basins.label == root) & (flat_dens >= level * flat_dens[root])
    mask = np.empty(len(basins.event_bin), dtype=bool)
    for start in range(0, len(mask), _EVENT_BLOCK):
        rows = slice(start, start + _EVENT_BLOCK)
        mask[rows] = keep[basins.event_bin[rows]]
    return mask
