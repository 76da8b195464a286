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

import itertools
import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Modes1D",
    "Modes2D",
    "find_modes_1d",
    "find_modes_2d",
    "log_scale",
    "robust_core",
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


def _modes_of_curve(smooth: np.ndarray, counts: np.ndarray) -> tuple[list[int], list[tuple[int, int]], list[float]]:
    """Return peak bins, basins (first, last bin) and masses of a smoothed 1D histogram."""
    n = smooth.size
    left = np.r_[-np.inf, smooth[:-1]]
    right = np.r_[smooth[1:], -np.inf]
    peaks = [int(i) for i in np.flatnonzero((smooth > left) & (smooth >= right) & (smooth > 0))]
    if not peaks:
        return [], [], []
    cuts = [int(a + np.argmin(smooth[a : b + 1])) for a, b in itertools.pairwise(peaks)]
    bounds = [0, *cuts, n]
    basins = [(bounds[i], bounds[i + 1]) for i in range(len(peaks))]
    masses = [float(counts[a:b].sum()) for a, b in basins]
    return peaks, basins, masses


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
    from scipy.ndimage import gaussian_filter1d

    t = np.asarray(t, dtype=float)
    t = t[np.isfinite(t)]
    empty = Modes1D(np.empty(0), np.empty(0), np.empty(0), np.empty(0), float("nan"))
    if t.size < 3:
        return empty
    lo, hi = _grid_range(t)
    counts, edges = np.histogram(t, bins=n_bins, range=(lo, hi))
    counts = counts.astype(float)
    widths = _widths(n_bins)
    n_sig = []
    for w in widths:
        _, _, masses = _modes_of_curve(gaussian_filter1d(counts, w, mode="constant"), counts)
        n_sig.append(sum(m >= min_mass for m in masses))
    w = float(widths[_persistent_count(n_sig, expected)])
    smooth = gaussian_filter1d(counts, w, mode="constant")
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
    """Return (root bin per bin, flat indices of the maxima) by steepest ascent on a grid."""
    from scipy.ndimage import maximum_filter

    ny, nx = smooth.shape
    padded = np.pad(smooth, 1, constant_values=-np.inf)
    best = np.arange(ny * nx).reshape(ny, nx)
    best_val = smooth.copy()
    yy, xx = np.mgrid[0:ny, 0:nx]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            val = padded[1 + dy : 1 + dy + ny, 1 + dx : 1 + dx + nx]
            better = val > best_val
            best_val = np.where(better, val, best_val)
            target = (np.clip(yy + dy, 0, ny - 1) * nx + np.clip(xx + dx, 0, nx - 1))
            best = np.where(better, target, best)
    parent = best.ravel()
    for _ in range(ny + nx):
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    peaks = (smooth == maximum_filter(smooth, size=3, mode="constant", cval=-np.inf)) & (smooth > 0)
    return parent, np.flatnonzero(peaks.ravel() & (parent == np.arange(ny * nx)))


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
    comp = comp_of_root[parent].reshape(shape)
    pairs: dict[tuple[int, int], float] = {}
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = comp[: shape[0] - dy, max(0, -dx) : shape[1] - max(0, dx)]
        b = comp[dy:, max(0, dx) : shape[1] - max(0, -dx) if dx < 0 else shape[1]]
        da = smooth[: shape[0] - dy, max(0, -dx) : shape[1] - max(0, dx)]
        db = smooth[dy:, max(0, dx) : shape[1] - max(0, -dx) if dx < 0 else shape[1]]
        edge = (a != b) & (a >= 0) & (b >= 0)
        for ca, cb, s in zip(a[edge], b[edge], np.minimum(da, db)[edge], strict=True):
            key = (int(min(ca, cb)), int(max(ca, cb)))
            if s > pairs.get(key, -1.0):
                pairs[key] = float(s)
    heights = smooth.ravel()[roots]
    rep = list(range(roots.size))

    def find(i: int) -> int:
        while rep[i] != i:
            rep[i] = rep[rep[i]]
            i = rep[i]
        return i

    for (ca, cb), s in sorted(pairs.items(), key=lambda kv: -kv[1]):
        ra, rb = find(ca), find(cb)
        if ra != rb and s > SHALLOW_SADDLE * min(heights[ra], heights[rb]):
            hi, lo = (ra, rb) if heights[ra] >= heights[rb] else (rb, ra)
            rep[lo] = hi
    final = np.array([roots[find(i)] for i in range(roots.size)])
    new_parent = parent.copy()
    has = comp_of_root[parent] >= 0
    new_parent[has] = final[comp_of_root[parent][has]]
    return new_parent


def _significant_2d(smooth: np.ndarray, counts: np.ndarray, min_mass: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parent, roots = _basins_2d(smooth)
    mass = np.bincount(parent, weights=counts.ravel(), minlength=parent.size)
    roots = roots[mass[roots] >= min_mass]
    return parent, roots, mass


def find_modes_2d(
    xy: np.ndarray, *, expected: int, min_mass: float, rank_by: str = "mass", n_bins: int = 128
) -> Modes2D:
    """Return at most ``expected`` significant modes of 2D points, ranked by ``mass`` or ``height``.

    Each event gets the label of the kept mode whose basin (steepest ascent on the smoothed
    histogram) holds its bin, or -1. Points outside the 0.1-99.9 % range of an axis get -1.
    """
    from scipy.ndimage import gaussian_filter

    pts = np.asarray(xy, dtype=float)
    ok = np.all(np.isfinite(pts), axis=1)
    labels = np.full(len(pts), -1, dtype=np.int32)
    empty = Modes2D(np.empty((0, 2)), labels, np.empty(0), np.empty(0))
    if ok.sum() < 3:
        return empty
    (x0, x1), (y0, y1) = _grid_range(pts[ok, 0]), _grid_range(pts[ok, 1])
    counts, xe, ye = np.histogram2d(pts[ok, 0], pts[ok, 1], bins=n_bins, range=((x0, x1), (y0, y1)))
    widths = _widths(n_bins)
    n_sig = [int(_significant_2d(gaussian_filter(counts, w, mode="constant"), counts, min_mass)[1].size) for w in widths]
    w = float(widths[_persistent_count(n_sig, expected)])
    smooth = gaussian_filter(counts, w, mode="constant")
    parent, all_roots = _basins_2d(smooth)
    parent = _merge_shallow_2d(smooth, parent, all_roots)
    mass = np.bincount(parent, weights=counts.ravel(), minlength=parent.size)
    roots = np.unique(parent[np.isin(parent, all_roots)])
    roots = roots[mass[roots] >= min_mass]
    score = mass[roots] if rank_by == "mass" else smooth.ravel()[roots]
    roots = roots[np.argsort(score)[::-1][:expected]]
    if roots.size == 0:
        return empty
    ix = np.clip(np.searchsorted(xe, pts[:, 0], side="right") - 1, 0, n_bins - 1)
    iy = np.clip(np.searchsorted(ye, pts[:, 1], side="right") - 1, 0, n_bins - 1)
    inside = ok & (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
    lookup = np.full(parent.size, -1, dtype=np.int32)
    lookup[roots] = np.arange(roots.size, dtype=np.int32)
    labels = lookup[parent[ix * n_bins + iy]]
    labels[~inside] = -1
    rx, ry = np.divmod(roots, n_bins)
    centers = np.column_stack([0.5 * (xe[rx] + xe[rx + 1]), 0.5 * (ye[ry] + ye[ry + 1])])
    return Modes2D(centers, labels, mass[roots], smooth.ravel()[roots])


def robust_core(points: np.ndarray, *, quantile: float = 0.99, iterations: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (mask of core points, center, covariance) of one population (n x d points).

    Starts from the coordinate-wise median and MAD, then alternates trimmed mean/covariance
    (points within the chi-square 95 % ellipsoid, covariance rescaled for the trimming) for
    ``iterations`` rounds; the core is the chi-square ``quantile`` ellipsoid of the result.
    """
    from scipy.stats import chi2

    pts = np.asarray(points, dtype=float)
    if pts.ndim == 1:
        pts = pts[:, None]
    n, d = pts.shape
    if n < d + 2:
        return np.ones(n, dtype=bool), np.median(pts, axis=0) if n else np.zeros(d), np.eye(d)
    center = np.median(pts, axis=0)
    mad = 1.4826 * np.median(np.abs(pts - center), axis=0)
    scale = np.where(mad > 0, mad, np.std(pts, axis=0) + 1e-12)
    cov = np.diag(scale**2)
    q95 = chi2.ppf(0.95, d)
    consistency = 0.95 / chi2.cdf(q95, d + 2)
    for _ in range(iterations):
        inv = np.linalg.pinv(cov)
        diff = pts - center
        d2 = np.einsum("ij,jk,ik->i", diff, inv, diff)
        kept = pts[d2 <= q95]
        if kept.shape[0] < d + 2:
            break
        center = kept.mean(axis=0)
        cov = np.atleast_2d(np.cov(kept, rowvar=False)) * consistency + np.eye(d) * 1e-12
    inv = np.linalg.pinv(cov)
    diff = pts - center
    d2 = np.einsum("ij,jk,ik->i", diff, inv, diff)
    return d2 <= chi2.ppf(quantile, d), center, cov
