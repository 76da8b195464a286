"""Find bead populations as modes of a smoothed event density, with no instrument constants.

Bead populations are tight clusters on a log-like scale; what differs between cytometers is
where they sit (gain, detector, linear or log storage), not how they look. So:

* :func:`log_scale` maps intensities with ``asinh(x / c)``, ``c`` taken from the data (the
  2nd percentile of the positive values), so a gain change only shifts the result.
* :func:`find_modes_1d` / :func:`find_modes_2d` histogram the transformed events, smooth the
  histogram with Gaussian kernels of increasing width and count the *significant* modes
  (basins holding at least ``min_mass`` events) at each width. The structure of the data is
  the count that persists longest over the widths (mode persistence, in the spirit of
  Silverman's critical bandwidth); the counts at or above ``expected`` are preferred so that
  two close populations are not merged when a split that matches the kit persists too.
  Modes are then ranked by mass (or peak height) and at most ``expected`` are kept.
* :func:`robust_core` trims a labelled population to its core with an iteratively
  re-weighted (trimmed) mean and covariance: doublets, debris and spill-over from a
  neighbouring population fall outside.

Units: everything here works on transformed values (dimensionless); callers keep the linear
values for medians (MFI).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

from immunolab.grid_basins import steepest_ascent

__all__ = [
    "Modes1D",
    "Modes2D",
    "find_modes_1d",
    "find_modes_2d",
    "log_scale",
    "robust_core",
    "scan_modes_2d",
]

_N_WIDTHS = 36
#: two modes are one when the density between them stays above this fraction of the lower peak
#: (a dimensionless, scale-free persistence criterion: a bead population never has such a
#: shallow dip inside it at the chosen smoothing, two populations always have a deep one)
SHALLOW_SADDLE = 0.5
#: a mode count matching the kit must persist over this share of the most persistent count
_PERSISTENCE_SHARE = 0.5


def log_scale(x: np.ndarray, *, cofactor: float | None = None) -> tuple[np.ndarray, float]:
    """Return (``asinh(x / c)``, c) with ``c`` the 2nd percentile of the positive values.

    ``c`` follows the instrument's scale, so the transform is log-like (``log(2 x / c)``) above
    the dimmest events and linear around zero, where debris and compensated negatives sit.
    """
    xs = np.asarray(x, dtype=float)
    if cofactor is None:
        pos = xs[np.isfinite(xs) & (xs > 0)]
        cofactor = float(np.quantile(pos, 0.02)) if pos.size else 1.0
        if not math.isfinite(cofactor) or cofactor <= 0:
            cofactor = 1.0
    return np.arcsinh(xs / cofactor), float(cofactor)


def _grid_range(t: np.ndarray) -> tuple[float, float]:
    lo, hi = (float(v) for v in np.quantile(t, [0.001, 0.999]))
    span = hi - lo
    if span <= 0:
        span = max(abs(lo), 1.0) * 1e-3
    return lo - 0.08 * span, hi + 0.08 * span


def _widths(n_bins: int) -> np.ndarray:
    return np.geomspace(0.6, n_bins / 12.0, _N_WIDTHS)


@functools.lru_cache(maxsize=8)
def _scan_kernels(n_bins: int) -> tuple[np.ndarray, ...]:
    """Return the Gaussian kernel of every width of the scan (:func:`_widths`) as ``gaussian_filter1d`` uses it.

    Each kernel is ``gaussian_filter1d``'s response to a unit impulse over its whole radius (4
    widths): every output is one weight times 1 plus exact zeros, so it is the weight bit for
    bit. Built once per grid size instead of once per smoothing.
    """
    from scipy.ndimage import gaussian_filter1d

    kernels = []
    for w in _widths(n_bins):
        radius = int(4.0 * float(w) + 0.5)
        impulse = np.zeros(2 * radius + 1)
        impulse[radius] = 1.0
        kernel = gaussian_filter1d(impulse, w, mode="constant")
        kernel.flags.writeable = False
        kernels.append(kernel)
    return tuple(kernels)


def _smoothed_at_every_width(counts: np.ndarray) -> list[np.ndarray]:
    """Return ``counts`` (1D, or 2D of n x n bins) smoothed at every width of the scan, zero outside.

    The same numbers as ``gaussian_filter1d`` / ``gaussian_filter`` (``mode="constant"``): the
    same ``correlate1d`` with the same weights, axis by axis, the second in place as
    ``gaussian_filter`` does it.
    """
    from scipy.ndimage import correlate1d

    out = []
    for kernel in _scan_kernels(counts.shape[0]):
        smooth = correlate1d(counts, kernel, axis=0, mode="constant")
        for axis in range(1, counts.ndim):
            correlate1d(smooth, kernel, axis=axis, output=smooth, mode="constant")
        out.append(smooth)
    return out


def _persistent_count(counts: list[int], expected: int) -> int:
    """Return the index (into ``counts``) of the middle of the most persistent mode count.

    A count of at least ``expected`` wins over a longer-lived smaller count when it persists
    over at least :data:`_PERSISTENCE_SHARE` of the longest run (two close populations that
    merge early), never when it is a short-lived split of noise (a missing bead).
    """
    runs: list[tuple[int, int, int]] = []  # (count, start, end)
    start = 0
    for i in range(1, len(counts) + 1):
        if i == len(counts) or counts[i] != counts[start]:
            runs.append((counts[start], start, i - 1))
            start = i
    longest = max(r[2] - r[1] for r in runs)
    enough = [r for r in runs if r[0] >= expected and (r[2] - r[1]) >= _PERSISTENCE_SHARE * longest]
    pool = enough if enough else runs
    best = max(pool, key=lambda r: (r[2] - r[1], -r[0]))
    return (best[1] + best[2]) // 2


@dataclass(frozen=True)
class Modes1D:
    """Modes of a 1D sample: centers (ascending), bin-edge boundaries and masses (events)."""

    centers: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    masses: np.ndarray
    width: float

    def labels(self, t: np.ndarray) -> np.ndarray:
        """Return the index of the mode whose interval holds each value (-1 outside every mode)."""
        out = np.full(t.shape, -1, dtype=np.int32)
        for i, (lo, hi) in enumerate(zip(self.lower, self.upper, strict=True)):
            out[(t >= lo) & (t < hi)] = i
        return out


def _first_minima(smooth: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Return, between each two neighbouring peaks, the first bin of the lowest density.

    A peak is higher than the bin to its left, so the lowest bin of ``[a, b]`` lies in
    ``[a, b)``: one ``minimum.reduceat`` over the peak-to-peak segments gives the minima.
    """
    if peaks.size < 2:
        return np.empty(0, dtype=np.intp)
    span = smooth[peaks[0] : peaks[-1]]
    starts = peaks[:-1] - peaks[0]
    low = np.minimum.reduceat(span, starts)
    at_low = np.flatnonzero(span == np.repeat(low, np.diff(peaks)))
    # every segment holds its minimum: the first such bin at or after a segment's start is its own
    return at_low[np.searchsorted(at_low, starts)] + peaks[0]


def _curve_basins(smooth: np.ndarray, cumulative: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return peak bins, basin bounds (peaks + 1 of them) and basin masses of a smoothed 1D histogram.

    ``cumulative`` is the running sum of the whole-number counts with a leading 0, so a basin's
    mass is exact.
    """
    n = smooth.size
    up = np.empty(n + 1, dtype=bool)  # up[i]: bin i is higher than bin i - 1 (bin -1 and bin n: -inf)
    up[0], up[n] = True, False
    np.greater(smooth[1:], smooth[:-1], out=up[1:n])
    peak_bins = np.flatnonzero(up[:n] & ~up[1:] & (smooth > 0))  # higher than the left, not lower than the right
    if not peak_bins.size:
        return peak_bins, np.empty(0, dtype=np.intp), np.empty(0)
    bounds = np.concatenate(([0], _first_minima(smooth, peak_bins), [n]))
    return peak_bins, bounds, cumulative[bounds[1:]] - cumulative[bounds[:-1]]


def _significant_counts(smooths: np.ndarray, cumulative: np.ndarray, min_mass: float) -> list[int]:
    """Return, per row of ``smooths`` (smoothed 1D histograms), how many basins hold at least ``min_mass``.

    :func:`_curve_basins` of every row at once: the rows are laid end to end, so the valleys
    between neighbouring peaks come from one ``minimum.reduceat``; a valley between the last
    peak of a row and the first of the next is computed and left out. The masses are the same
    differences of ``cumulative`` as per row.
    """
    m, n = smooths.shape
    up = np.empty((m, n + 1), dtype=bool)  # as in _curve_basins, per row
    up[:, 0], up[:, n] = True, False
    np.greater(smooths[:, 1:], smooths[:, :-1], out=up[:, 1:n])
    peaks = np.flatnonzero(up[:, :n] & ~up[:, 1:] & (smooths > 0))  # flat indices, row by row
    if not peaks.size:
        return [0] * m
    row = peaks // n
    valleys = _first_minima(smooths.ravel(), peaks) - row[:-1] * n  # bin of the valley after each peak but the last
    same_row = row[1:] == row[:-1]
    lower = np.zeros(peaks.size, dtype=np.intp)
    upper = np.full(peaks.size, n, dtype=np.intp)
    lower[1:][same_row] = valleys[same_row]
    upper[:-1][same_row] = valleys[same_row]
    held = cumulative[upper] - cumulative[lower] >= min_mass
    return np.bincount(row[held], minlength=m).tolist()


def _modes_of_curve(smooth: np.ndarray, counts: np.ndarray) -> tuple[list[int], list[tuple[int, int]], list[float]]:
    """Return peak bins, basins (first, last bin) and masses of a smoothed 1D histogram of whole-number counts."""
    peak_bins, bounds, masses = _curve_basins(smooth, np.concatenate(([0.0], np.cumsum(counts))))
    return peak_bins.tolist(), list(itertools.pairwise(bounds.tolist())), masses.tolist()


def _merge_shallow_1d(
    smooth: np.ndarray, counts: np.ndarray, peaks: list[int], basins: list[tuple[int, int]], masses: list[float]
) -> tuple[list[int], list[tuple[int, int]], list[float]]:
    """Merge neighbouring modes whose valley is shallow (see :data:`SHALLOW_SADDLE`)."""
    peaks, basins = list(peaks), list(basins)
    merged = True
    while merged and len(peaks) > 1:
        merged = False
        saddles = [float(smooth[basins[i + 1][0]]) for i in range(len(peaks) - 1)]
        order = np.argsort(saddles)[::-1]
        for i in order:
            low_peak = min(smooth[peaks[i]], smooth[peaks[i + 1]])
            if saddles[i] > SHALLOW_SADDLE * low_peak:
                top = peaks[i] if smooth[peaks[i]] >= smooth[peaks[i + 1]] else peaks[i + 1]
                peaks[i : i + 2] = [top]
                basins[i : i + 2] = [(basins[i][0], basins[i + 1][1])]
                merged = True
                break
    return peaks, basins, [float(counts[a:b].sum()) for a, b in basins]


def find_modes_1d(t: np.ndarray, *, expected: int, min_mass: float, n_bins: int = 1024) -> Modes1D:
    """Return at most ``expected`` significant modes of ``t`` (largest masses kept).

    A mode is significant when its basin holds at least ``min_mass`` events. Intervals of the
    kept modes are split at the density minimum between neighbours; the outer intervals are
    open-ended.
    """
    t = np.asarray(t, dtype=float)
    t = t[np.isfinite(t)]
    empty = Modes1D(np.empty(0), np.empty(0), np.empty(0), np.empty(0), float("nan"))
    if t.size < 3:
        return empty
    lo, hi = _grid_range(t)
    counts, edges = np.histogram(t, bins=n_bins, range=(lo, hi))
    counts = counts.astype(float)
    widths = _widths(n_bins)
    smooths = _smoothed_at_every_width(counts)
    cumulative = np.concatenate(([0.0], np.cumsum(counts)))
    n_sig = _significant_counts(np.array(smooths), cumulative, min_mass)
    chosen = _persistent_count(n_sig, expected)
    w = float(widths[chosen])
    smooth = smooths[chosen]
    peaks, _basins, masses = _merge_shallow_1d(smooth, counts, *_modes_of_curve(smooth, counts))
    keep = [i for i in np.argsort(masses)[::-1] if masses[i] >= min_mass][:expected]
    if not keep:
        return empty
    kept = sorted(peaks[i] for i in keep)
    centers = 0.5 * (edges[np.array(kept)] + edges[np.array(kept) + 1])
    cuts = [int(a + np.argmin(smooth[a : b + 1])) for a, b in itertools.pairwise(kept)]
    lower = np.r_[-np.inf, edges[np.array(cuts, dtype=int)]] if cuts else np.array([-np.inf])
    upper = np.r_[edges[np.array(cuts, dtype=int)], np.inf] if cuts else np.array([np.inf])
    bounds = [0, *cuts, n_bins]
    kept_masses = np.array([counts[bounds[i] : bounds[i + 1]].sum() for i in range(len(kept))])
    bin_width = (hi - lo) / n_bins
    return Modes1D(centers, lower, upper, kept_masses, w * bin_width)


@dataclass(frozen=True)
class Modes2D:
    """Modes of a 2D sample: centers (k x 2), per-event labels, masses and peak heights."""

    centers: np.ndarray
    labels: np.ndarray
    masses: np.ndarray
    heights: np.ndarray


def _basins_2d(smooth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (root bin per bin, flat indices of the maxima) by steepest ascent on a grid.

    The maxima are the roots (no strictly higher neighbour, :func:`steepest_ascent`) holding
    positive density.
    """
    parent, code = steepest_ascent(smooth)
    return parent, np.flatnonzero((code == 0) & (smooth.ravel() > 0))


def _saddles_2d(smooth: np.ndarray, comp: np.ndarray, n_comp: int) -> list[tuple[int, int, float]]:
    """Return (basin a < basin b, saddle) per pair of touching basins, highest saddle first.

    The saddle is the highest min-density of two 8-neighbours across the pair's boundary. Equal
    saddles keep the order in which their pair first appears in the scan over the directions
    (0, 1), (1, 0), (1, 1), (1, -1), each in raster order.
    """
    shape = smooth.shape
    lo_parts, hi_parts, s_parts = [], [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = comp[: shape[0] - dy, max(0, -dx) : shape[1] - max(0, dx)]
        b = comp[dy:, max(0, dx) : shape[1] - max(0, -dx) if dx < 0 else shape[1]]
        da = smooth[: shape[0] - dy, max(0, -dx) : shape[1] - max(0, dx)]
        db = smooth[dy:, max(0, dx) : shape[1] - max(0, -dx) if dx < 0 else shape[1]]
        edge = (a != b) & (a >= 0) & (b >= 0)
        lo_parts.append(np.minimum(a, b)[edge])
        hi_parts.append(np.maximum(a, b)[edge])
        s_parts.append(np.minimum(da, db)[edge])
    lo, hi, saddle = np.concatenate(lo_parts), np.concatenate(hi_parts), np.concatenate(s_parts)
    if not lo.size:
        return []
    keys, first, which = np.unique(lo * n_comp + hi, return_index=True, return_inverse=True)
    top = np.full(keys.size, -np.inf)
    np.maximum.at(top, which.ravel(), saddle)
    order = np.lexsort((first, -top))
    return [(int(keys[i] // n_comp), int(keys[i] % n_comp), float(top[i])) for i in order]


def _merge_shallow_2d(smooth: np.ndarray, parent: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """Return ``parent`` with basins joined across shallow saddles (see :data:`SHALLOW_SADDLE`).

    Saddles are the highest boundary between two basins (min density of two 8-neighbours in
    different basins); pairs are merged from the highest saddle down, union-find style, the
    higher peak naming the merged basin.
    """
    if roots.size < 2:
        return parent
    shape = smooth.shape
    comp_of_root = np.full(parent.size, -1, dtype=np.int64)
    comp_of_root[roots] = np.arange(roots.size)
    pairs = _saddles_2d(smooth, comp_of_root[parent].reshape(shape), roots.size)
    heights = smooth.ravel()[roots]
    rep = list(range(roots.size))

    def find(i: int) -> int:
        while rep[i] != i:
            rep[i] = rep[rep[i]]
            i = rep[i]
        return i

    for ca, cb, s in pairs:
        ra, rb = find(ca), find(cb)
        if ra != rb and s > SHALLOW_SADDLE * min(heights[ra], heights[rb]):
            hi, lo = (ra, rb) if heights[ra] >= heights[rb] else (rb, ra)
            rep[lo] = hi
    final = np.array([roots[find(i)] for i in range(roots.size)])
    new_parent = parent.copy()
    has = comp_of_root[parent] >= 0
    new_parent[has] = final[comp_of_root[parent][has]]
    return new_parent


@dataclass(frozen=True)
class ModeScan2D:
    """The bandwidth scan of 2D points (:func:`scan_modes_2d`), before choosing how many modes to keep.

    The scan does not depend on the number of modes expected: one scan serves several questions
    about the same points (the kit's scatter groups, then one group more for a foreign kit).
    """

    pts: np.ndarray
    ok: np.ndarray
    limits: tuple[float, float, float, float]
    xe: np.ndarray
    ye: np.ndarray
    counts: np.ndarray
    smooths: list[np.ndarray]
    basins: list[tuple[np.ndarray, np.ndarray]]
    n_sig: list[int]
    min_mass: float
    n_bins: int

    @functools.cached_property
    def event_bins(self) -> tuple[np.ndarray, np.ndarray]:
        """Return (flat grid bin of each point, whether it lies within the grid's limits): the same for every selection."""
        pts, n_bins = self.pts, self.n_bins
        x0, x1, y0, y1 = self.limits
        ix = np.clip(np.searchsorted(self.xe, pts[:, 0], side="right") - 1, 0, n_bins - 1)
        iy = np.clip(np.searchsorted(self.ye, pts[:, 1], side="right") - 1, 0, n_bins - 1)
        inside = self.ok & (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
        return ix * n_bins + iy, inside

    def select(self, expected: int, rank_by: str = "mass") -> Modes2D:
        """Return at most ``expected`` significant modes, ranked by ``mass`` or ``height`` (see :func:`find_modes_2d`)."""
        n_bins, xe, ye = self.n_bins, self.xe, self.ye
        labels = np.full(len(self.pts), -1, dtype=np.int32)
        chosen = _persistent_count(self.n_sig, expected)
        smooth = self.smooths[chosen]  # the scan's own smoothing at the chosen width: computed once
        parent, all_roots = self.basins[chosen]
        parent = _merge_shallow_2d(smooth, parent, all_roots)
        mass = np.bincount(parent, weights=self.counts.ravel(), minlength=parent.size)
        # the roots that still head a basin after the merge, ascending (np.unique of the parents among the roots)
        is_root = np.zeros(parent.size, dtype=bool)
        is_root[all_roots] = True
        heads = np.zeros(parent.size, dtype=bool)
        heads[parent] = True
        roots = np.flatnonzero(heads & is_root)
        roots = roots[mass[roots] >= self.min_mass]
        score = mass[roots] if rank_by == "mass" else smooth.ravel()[roots]
        roots = roots[np.argsort(score)[::-1][:expected]]
        if roots.size == 0:
            return Modes2D(np.empty((0, 2)), labels, np.empty(0), np.empty(0))
        event_bin, inside = self.event_bins
        lookup = np.full(parent.size, -1, dtype=np.int32)
        lookup[roots] = np.arange(roots.size, dtype=np.int32)
        labels = lookup[parent[event_bin]]
        labels[~inside] = -1
        rx, ry = np.divmod(roots, n_bins)
        centers = np.column_stack([0.5 * (xe[rx] + xe[rx + 1]), 0.5 * (ye[ry] + ye[ry + 1])])
        return Modes2D(centers, labels, mass[roots], smooth.ravel()[roots])


def scan_modes_2d(xy: np.ndarray, *, min_mass: float, n_bins: int = 128) -> ModeScan2D | None:
    """Return the bandwidth scan of 2D points (None with fewer than 3 finite points).

    The points are histogrammed over the 0.1-99.9 % range of each axis and smoothed at every
    width of the scan; each smoothing is split into basins by steepest ascent and its modes
    holding at least ``min_mass`` events are counted.
    """
    pts = np.asarray(xy, dtype=float)
    ok = np.all(np.isfinite(pts), axis=1)
    if ok.sum() < 3:
        return None
    (x0, x1), (y0, y1) = _grid_range(pts[ok, 0]), _grid_range(pts[ok, 1])
    counts, xe, ye = np.histogram2d(pts[ok, 0], pts[ok, 1], bins=n_bins, range=((x0, x1), (y0, y1)))
    smooths = _smoothed_at_every_width(counts)
    basins = [_basins_2d(sm) for sm in smooths]
    held = np.flatnonzero(counts.ravel())  # empty bins add exact zeros to a basin's mass: leave them out
    weights = counts.ravel()[held]
    n_sig = [int(np.count_nonzero(np.bincount(parent[held], weights=weights, minlength=parent.size)[roots] >= min_mass))
             for parent, roots in basins]
    return ModeScan2D(pts, ok, (x0, x1, y0, y1), xe, ye, counts, smooths, basins, n_sig, min_mass, n_bins)


def find_modes_2d(
    xy: np.ndarray, *, expected: int, min_mass: float, rank_by: str = "mass", n_bins: int = 128
) -> Modes2D:
    """Return at most ``expected`` significant modes of 2D points, ranked by ``mass`` or ``height``.

    Each event gets the label of the kept mode whose basin (steepest ascent on the smoothed
    histogram) holds its bin, or -1. Points outside the 0.1-99.9 % range of an axis get -1.
    """
    scan = scan_modes_2d(xy, min_mass=min_mass, n_bins=n_bins)
    if scan is None:
        return Modes2D(np.empty((0, 2)), np.full(len(np.asarray(xy)), -1, dtype=np.int32), np.empty(0), np.empty(0))
    return scan.select(expected, rank_by)


@functools.lru_cache(maxsize=64)
def _chi2_ppf(q: float, d: int) -> float:
    """Return the chi-square ``q`` quantile with ``d`` degrees of freedom (cached: a robust core needs it per call).

    ``scipy.special`` directly, as ``scipy.stats.chi2.ppf`` computes it (``2 * gammaincinv(d / 2, q)``):
    importing ``scipy.stats`` costs every ingest worker over a second (tests/beads/test_density_reference.py
    checks the two agree).
    """
    from scipy import special

    return float(2.0 * special.gammaincinv(d / 2.0, q))


@functools.lru_cache(maxsize=64)
def _trim_consistency(d: int) -> float:
    """Return the covariance rescaling of a 95 % chi-square trim in ``d`` dimensions (``chdtr`` is ``chi2.cdf``)."""
    from scipy import special

    return float(0.95 / special.chdtr(d + 2, _chi2_ppf(0.95, d)))


def robust_core(points: np.ndarray, *, quantile: float = 0.99, iterations: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (mask of core points, center, covariance) of one population (n x d points).

    Starts from the coordinate-wise median and MAD, then alternates trimmed mean/covariance
    (points within the chi-square 95 % ellipsoid, covariance rescaled for the trimming) for
    ``iterations`` rounds; the core is the chi-square ``quantile`` ellipsoid of the result.
    A round that keeps the same points as the round before is a fixed point (same mean and
    covariance from then on), so the rounds stop there with the same result.
    """
    pts = np.asarray(points, dtype=float)
    if pts.ndim == 1:
        pts = pts[:, None]
    n, d = pts.shape
    if n < d + 2:
        return np.ones(n, dtype=bool), np.median(pts, axis=0) if n else np.zeros(d), np.eye(d)
    center = np.median(pts, axis=0)
    mad = 1.4826 * np.median(np.abs(pts - center), axis=0)
    scale = mad if (mad > 0).all() else np.where(mad > 0, mad, np.std(pts, axis=0) + 1e-12)
    cov = np.diag(scale**2)
    q95 = _chi2_ppf(0.95, d)
    consistency = _trim_consistency(d)
    floor = np.eye(d) * 1e-12
    previous: np.ndarray | None = None
    d2: np.ndarray | None = None
    for _ in range(iterations):
        diff = pts - center
        d2 = np.einsum("ij,jk,ik->i", diff, _pinv(cov), diff)
        mask = d2 <= q95
        if previous is not None and np.array_equal(mask, previous):
            break  # center and cov would come out as they are: d2 is the final one
        d2 = None
        kept = pts[mask]
        if kept.shape[0] < d + 2:
            break
        previous = mask
        center = kept.mean(axis=0)
        cov = _sample_cov(kept, center) * consistency + floor
    if d2 is None:
        diff = pts - center
        d2 = np.einsum("ij,jk,ik->i", diff, _pinv(cov), diff)
    return d2 <= _chi2_ppf(quantile, d), center, cov


def _pinv(cov: np.ndarray) -> np.ndarray:
    """Return ``np.linalg.pinv(cov)``; a 1 x 1 ``[[v]]`` as ``1 / v``, the same number.

    The SVD of ``[[v]]`` (v > 0) is ``u s vt`` with ``s = v`` and ``u vt = 1``, and ``pinv`` returns
    ``vt (1 / s) u``: exactly ``1 / v`` (tests/beads/test_density_reference.py checks it). Only
    within 1e-100..1e100, where LAPACK does not rescale the matrix; anything else (0, NaN, inf)
    goes to ``pinv`` as before.
    """
    if cov.shape == (1, 1) and 1e-100 < cov[0, 0] < 1e100:
        return 1.0 / cov
    return np.linalg.pinv(cov)


def _sample_cov(kept: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Return ``np.atleast_2d(np.cov(kept, rowvar=False))`` given ``center = kept.mean(axis=0)``, bit for bit.

    The same steps as ``np.cov`` (centre, ``X X^T`` of the same memory layout, times ``1 / (n - 1)``)
    without its argument handling and second mean.
    """
    diff = kept - center
    c = np.dot(diff.T, diff)
    c *= np.true_divide(1, kept.shape[0] - 1)
    return c
