"""The vectorised mode finding equals plain per-cell reference implementations, bit for bit.

The references below are written for clarity (Python loops over bins, no shared code with
:mod:`immunolab.beads.density`): steepest ascent with the first strictly higher neighbour in a
fixed order, the union-find saddle merge with a dict, 1D valleys with ``argmin``, and the
robust core iterated for all its rounds. Grids are random, with ties and plateaus on purpose
(small whole numbers), smoothed grids, all-zero and one-row/one-column grids.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from scipy.stats import chi2

from immunolab.beads import density
from immunolab.beads.kits import load_kit

ORDER = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def reference_basins(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (root per bin, positive maxima) by walking every bin uphill, one step at a time."""
    ny, nx = grid.shape
    step = {}
    for y, x in itertools.product(range(ny), range(nx)):
        best, target = grid[y, x], y * nx + x
        for dy, dx in ORDER:
            yy, xx = y + dy, x + dx
            if 0 <= yy < ny and 0 <= xx < nx and grid[yy, xx] > best:
                best, target = grid[yy, xx], yy * nx + xx
        step[y * nx + x] = target
    roots = np.empty(ny * nx, dtype=np.int64)
    for cell in range(ny * nx):
        at = cell
        while step[at] != at:
            at = step[at]
        roots[cell] = at
    maxima = [c for c in range(ny * nx) if step[c] == c and grid.flat[c] > 0]
    return roots, np.array(maxima, dtype=np.int64)


def _grids(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = [np.zeros((5, 7)), np.ones((1, 9)), rng.integers(0, 3, size=(9, 1)).astype(float)]
    for _ in range(12):
        shape = (int(rng.integers(1, 40)), int(rng.integers(1, 40)))
        out.append(rng.integers(0, 4, size=shape).astype(float))  # many ties and plateaus
        pts = rng.poisson(rng.uniform(0.2, 3.0), size=shape).astype(float)
        out.append(gaussian_filter(pts, float(rng.uniform(0.4, 4.0)), mode="constant"))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_basins_equal_the_per_cell_uphill_walk(seed: int) -> None:
    for grid in _grids(seed):
        parent, maxima = density._basins_2d(grid)
        ref_parent, ref_maxima = reference_basins(grid)
        assert np.array_equal(parent, ref_parent), grid.shape
        assert np.array_equal(maxima, ref_maxima), grid.shape


def reference_merge(smooth: np.ndarray, parent: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """Return ``parent`` after joining basins across shallow saddles (dict of pairs, highest first)."""
    ny, nx = smooth.shape
    comp = {int(r): i for i, r in enumerate(roots)}
    pairs: dict[tuple[int, int], float] = {}
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        for y, x in itertools.product(range(ny), range(nx)):
            yy, xx = y + dy, x + dx
            if not (0 <= yy < ny and 0 <= xx < nx):
                continue
            a, b = comp.get(int(parent[y * nx + x]), -1), comp.get(int(parent[yy * nx + xx]), -1)
            if a != b and a >= 0 and b >= 0:
                key, s = (min(a, b), max(a, b)), float(min(smooth[y, x], smooth[yy, xx]))
                if s > pairs.get(key, -1.0):
                    pairs[key] = s
    heights = smooth.ravel()[roots]
    rep = list(range(roots.size))

    def find(i: int) -> int:
        while rep[i] != i:
            i = rep[i]
        return i

    for (a, b), s in sorted(pairs.items(), key=lambda kv: -kv[1]):
        ra, rb = find(a), find(b)
        if ra != rb and s > density.SHALLOW_SADDLE * min(heights[ra], heights[rb]):
            hi, lo = (ra, rb) if heights[ra] >= heights[rb] else (rb, ra)
            rep[lo] = hi
    out = parent.copy()
    for cell, p in enumerate(parent):
        if int(p) in comp:
            out[cell] = roots[find(comp[int(p)])]
    return out


@pytest.mark.parametrize("seed", range(4))
def test_the_saddle_merge_equals_the_dict_reference(seed: int) -> None:
    for grid in _grids(100 + seed):
        parent, roots = density._basins_2d(grid)
        merged = density._merge_shallow_2d(grid, parent, roots)
        assert np.array_equal(merged, reference_merge(grid, parent, roots)), grid.shape


def reference_curve(smooth: np.ndarray, counts: np.ndarray) -> tuple[list[int], list[tuple[int, int]], list[float]]:
    """Return peaks, basins and masses of a 1D curve with per-pair argmin and slice sums."""
    n = smooth.size
    peaks = [i for i in range(n) if smooth[i] > 0 and (i == 0 or smooth[i] > smooth[i - 1])
             and (i == n - 1 or smooth[i] >= smooth[i + 1])]
    if not peaks:
        return [], [], []
    cuts = [int(a + np.argmin(smooth[a : b + 1])) for a, b in itertools.pairwise(peaks)]
    bounds = [0, *cuts, n]
    basins = [(bounds[i], bounds[i + 1]) for i in range(len(peaks))]
    return peaks, basins, [float(counts[a:b].sum()) for a, b in basins]


@pytest.mark.parametrize("seed", range(4))
def test_1d_peaks_valleys_and_masses_equal_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(40):
        n = int(rng.integers(1, 300))
        counts = rng.poisson(rng.uniform(0.05, 5.0), size=n).astype(float)
        smooth = counts if rng.random() < 0.3 else gaussian_filter(counts, float(rng.uniform(0.3, 6.0)), mode="constant")
        if rng.random() < 0.2:
            smooth = np.round(smooth)  # plateaus: equal neighbours and equal valley bins
        assert density._modes_of_curve(smooth, counts) == reference_curve(smooth, counts)


def _per_curve_counts(rows: np.ndarray, cumulative: np.ndarray, min_mass: float) -> list[int]:
    return [int(np.count_nonzero(density._curve_basins(r, cumulative)[2] >= min_mass)) for r in rows]


@pytest.mark.parametrize("seed", range(4))
def test_the_width_scan_counts_significant_basins_of_all_curves_as_each_curve_alone(seed: int) -> None:
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(seed)
    for _ in range(30):
        n = int(rng.integers(1, 300))
        counts = rng.poisson(rng.uniform(0.05, 5.0), size=n).astype(float)
        rows = [counts, np.zeros(n), *(gaussian_filter1d(counts, w, mode="constant") for w in rng.uniform(0.3, 20.0, 8))]
        rows += [np.round(r) for r in rows[2:5]]  # plateaus: equal neighbours and equal valley bins
        cumulative = np.concatenate(([0.0], np.cumsum(counts)))
        min_mass = float(rng.choice([0.0, 1.0, rng.uniform(0, 30)]))
        stacked = np.array(rows)
        assert density._significant_counts(stacked, cumulative, min_mass) == _per_curve_counts(stacked, cumulative, min_mass)


def _check_every_width_scan(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make every 1D width scan of a classification also count curve by curve and compare; return the scans' sizes."""
    fast = density._significant_counts
    seen: list[int] = []

    def both(smooths: np.ndarray, cumulative: np.ndarray, min_mass: float) -> list[int]:
        got = fast(smooths, cumulative, min_mass)
        assert got == _per_curve_counts(smooths, cumulative, min_mass)
        seen.append(len(got))
        return got

    monkeypatch.setattr(density, "_significant_counts", both)
    return seen


def test_the_width_scan_counts_as_each_curve_alone_on_independent_simulated_wells(monkeypatch: pytest.MonkeyPatch) -> None:
    from immunolab.beads.classify import classify_bead_well
    from tests.beads.independent_sim import simulate_well

    seen = _check_every_width_scan(monkeypatch)
    for seed in (1, 5, 107):
        sim = simulate_well(seed)
        classify_bead_well(sim.events, sim.channels, sim.kit, label=f"sim-{seed}")
    assert len(seen) >= 3


@pytest.mark.shared_data
def test_the_width_scan_counts_as_each_curve_alone_on_real_bead_files(monkeypatch: pytest.MonkeyPatch) -> None:
    from immunolab.beads.classify import classify_fcs_file
    from tests.conftest import shared_path

    seen = _check_every_width_scan(monkeypatch)
    for path in sorted(shared_path("beads", "legendplex_navios").glob("LP 13 C[07]-*.LMD")):
        classify_fcs_file(str(path), load_kit("legendplex_hu_antivirus_13plex"))
    k2 = shared_path("cytokine", "legendplex", "beadplexr", "K2-C07-A7.fcs")
    classify_fcs_file(str(k2), load_kit("legendplex_hu_th_cytokine_13plex"))
    assert len(seen) >= 5


def reference_core(pts: np.ndarray, quantile: float, iterations: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the robust core iterated for all its rounds (no fixed-point stop, chi-square each time)."""
    d = pts.shape[1]
    center = np.median(pts, axis=0)
    mad = 1.4826 * np.median(np.abs(pts - center), axis=0)
    cov = np.diag(np.where(mad > 0, mad, np.std(pts, axis=0) + 1e-12) ** 2)
    q95 = chi2.ppf(0.95, d)
    for _ in range(iterations):
        diff = pts - center
        kept = pts[np.einsum("ij,jk,ik->i", diff, np.linalg.pinv(cov), diff) <= q95]
        if kept.shape[0] < d + 2:
            break
        center = kept.mean(axis=0)
        cov = np.atleast_2d(np.cov(kept, rowvar=False)) * (0.95 / chi2.cdf(q95, d + 2)) + np.eye(d) * 1e-12
    diff = pts - center
    return np.einsum("ij,jk,ik->i", diff, np.linalg.pinv(cov), diff) <= chi2.ppf(quantile, d), center, cov


@pytest.mark.parametrize("seed", range(4))
def test_the_robust_core_stops_at_its_fixed_point_with_the_full_result(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(25):
        d = int(rng.integers(1, 3))
        core = rng.normal(0, rng.uniform(0.05, 1.0), size=(int(rng.integers(4, 400)), d))
        junk = rng.uniform(-5, 5, size=(int(rng.integers(0, 60)), d))
        pts = np.round(np.vstack([core, junk]), int(rng.integers(1, 4)))  # ties too
        quantile = float(rng.choice([0.99, 0.997]))
        got, want = density.robust_core(pts, quantile=quantile), reference_core(pts, quantile)
        for a, b in zip(got, want, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def _core_inputs(monkeypatch: pytest.MonkeyPatch, wells: list[tuple]) -> list[tuple[np.ndarray, float]]:
    """Return (points, quantile) of every robust core asked while classifying ``wells`` (events, channels, kit, label)."""
    from immunolab.beads import gating
    from immunolab.beads.classify import classify_bead_well

    asked: list[tuple[np.ndarray, float]] = []
    real = gating.robust_core

    def record(points: np.ndarray, *, quantile: float = 0.99, iterations: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        asked.append((np.array(points, dtype=float), quantile))
        return real(points, quantile=quantile, iterations=iterations)

    monkeypatch.setattr(gating, "robust_core", record)
    for events, channels, kit, label in wells:
        classify_bead_well(events, channels, kit, label=label)
    return asked


def _assert_cores_equal_the_reference(asked: list[tuple[np.ndarray, float]]) -> None:
    assert {p.shape[1] for p, _ in asked} == {1, 2}, "both 1D (classifier) and 2D (scatter) cores are checked"
    for pts, quantile in asked:
        got, want = density.robust_core(pts, quantile=quantile), reference_core(pts, quantile)
        for a, b in zip(got, want, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_the_robust_core_equals_the_reference_on_independent_simulated_wells(monkeypatch: pytest.MonkeyPatch) -> None:
    """The core's shortcuts (1 x 1 inverse as 1 / v, covariance from the known mean) on the populations real use asks about."""
    from tests.beads.independent_sim import simulate_well

    sims = [simulate_well(seed, two_d=two_d) for seed in (3, 104) for two_d in (False, True)]
    _assert_cores_equal_the_reference(_core_inputs(monkeypatch, [(s.events, s.channels, s.kit, f"sim-{i}")
                                                                 for i, s in enumerate(sims)]))


@pytest.mark.shared_data
def test_the_robust_core_equals_the_reference_on_real_bead_files(monkeypatch: pytest.MonkeyPatch) -> None:
    from immunolab.beads import parse_kit
    from immunolab.fcs.reader import read_fcs
    from tests.beads.test_cba_facsverse import FLEX_5PLEX
    from tests.conftest import shared_path

    lmd = sorted(shared_path("beads", "legendplex_navios").glob("LP 13 C7-*.LMD"))[0]
    cba = sorted(shared_path("beads", "cba_facsverse").glob("Standard 10_*.fcs"))[0]
    wells = []
    for path, kit in ((lmd, load_kit("legendplex_hu_antivirus_13plex")),
                      (cba, parse_kit(FLEX_5PLEX, source="cba_flex_5plex.yaml"))):
        fcs = read_fcs(path, label=path.name)
        wells.append((fcs.events, fcs.channels, kit, path.name))
    _assert_cores_equal_the_reference(_core_inputs(monkeypatch, wells))


def test_the_1x1_inverse_is_pinv_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    for v in np.concatenate([10.0 ** rng.uniform(-99, 99, 20000), rng.uniform(0, 10, 20000), [1e-100, 1e100, 0.0]]):
        m = np.array([[v]])
        assert density._pinv(m).tobytes() == np.linalg.pinv(m).tobytes(), v


def test_a_kit_file_edited_between_loads_is_read_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from importlib import resources

    text = resources.files("immunolab.beads").joinpath("kit-definitions/bd_cba_hu_th1_th2_th17.yaml").read_text("utf-8")
    path = tmp_path / "lab_kit.yaml"
    path.write_text(text, "utf-8")
    first = load_kit(path)
    assert load_kit(path).groups is first.groups, "an unchanged file is not parsed again"
    path.write_text(text.replace("min_bead_count:", "min_bead_count: 77 #"), "utf-8")
    edited = load_kit(path)
    assert edited.groups is not first.groups and edited.min_bead_count == 77


def test_a_cached_kit_gives_every_caller_its_own_extras() -> None:
    from immunolab.beads.kits import load_kit

    first = load_kit("bd_cba_hu_th1_th2_th17")
    first.extras["x_injected"] = 1  # type: ignore[index]
    assert "x_injected" not in load_kit("bd_cba_hu_th1_th2_th17").extras


def test_chi2_helpers_equal_scipy_stats() -> None:
    """The robust core's chi-square quantile and trim factor come from scipy.special (a lighter import), unchanged."""
    from scipy.stats import chi2

    from immunolab.beads.density import _chi2_ppf, _trim_consistency

    for d in (1, 2, 3):
        for q in (0.5, 0.9, 0.95, 0.99, 0.999):
            assert _chi2_ppf(q, d) == float(chi2.ppf(q, d))
        assert _trim_consistency(d) == float(0.95 / chi2.cdf(chi2.ppf(0.95, d), d + 2))


def test_bead_classification_does_not_import_scipy_stats() -> None:
    """Importing scipy.stats costs an ingest worker over a second; classifying bead wells needs none of it."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from immunolab.beads.density import robust_core; "
            "robust_core(np.random.default_rng(0).normal(size=(200, 2))); print('scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_populations_column_medians_are_the_medians_of_each_column_alone() -> None:
    """find_populations takes ``np.median(values, axis=0)`` once for the bead check, the medians and the position."""
    rng = np.random.default_rng(11)
    for _ in range(300):
        n, d = int(rng.integers(1, 400)), int(rng.integers(1, 3))
        values = rng.lognormal(rng.uniform(0, 10), rng.uniform(0.01, 1.0), size=(n, d))
        if rng.random() < 0.3:
            values = np.round(values, int(rng.integers(0, 3)))  # ties
        together = np.median(values, axis=0)
        for axis in range(d):
            assert together[axis].tobytes() == np.median(values[:, axis]).tobytes()


def _scan_histograms(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = [np.zeros(1024), np.zeros((128, 128))]
    for _ in range(3):
        centres = rng.uniform(0, 10, size=(int(rng.integers(1, 6)), 2))
        pts = np.vstack([rng.normal(c, rng.uniform(0.02, 0.5), size=(int(rng.integers(20, 2000)), 2)) for c in centres])
        out.append(np.histogram2d(pts[:, 0], pts[:, 1], bins=128)[0])
        out.append(np.histogram(pts[:, 0], bins=1024)[0].astype(float))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_the_width_scan_smooths_as_gaussian_filter_bit_for_bit(seed: int) -> None:
    from scipy.ndimage import gaussian_filter1d

    for counts in _scan_histograms(seed):
        widths = density._widths(counts.shape[0])
        want = [gaussian_filter(counts, w, mode="constant") if counts.ndim == 2
                else gaussian_filter1d(counts, w, mode="constant") for w in widths]
        got = density._smoothed_at_every_width(counts)
        assert len(got) == len(want) == len(widths)
        for a, b in zip(got, want, strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def reference_select(scan: density.ModeScan2D, expected: int, rank_by: str) -> density.Modes2D:
    """Return the selection of ``scan`` with np.unique / np.isin for the surviving roots and the point bins found anew."""
    chosen = density._persistent_count(scan.n_sig, expected)
    smooth = scan.smooths[chosen]
    parent, all_roots = scan.basins[chosen]
    parent = density._merge_shallow_2d(smooth, parent, all_roots)
    mass = np.bincount(parent, weights=scan.counts.ravel(), minlength=parent.size)
    roots = np.unique(parent[np.isin(parent, all_roots)])
    roots = roots[mass[roots] >= scan.min_mass]
    score = mass[roots] if rank_by == "mass" else smooth.ravel()[roots]
    roots = roots[np.argsort(score)[::-1][:expected]]
    labels = np.full(len(scan.pts), -1, dtype=np.int32)
    if roots.size == 0:
        return density.Modes2D(np.empty((0, 2)), labels, np.empty(0), np.empty(0))
    x0, x1, y0, y1 = scan.limits
    pts, n = scan.pts, scan.n_bins
    ix = np.clip(np.searchsorted(scan.xe, pts[:, 0], side="right") - 1, 0, n - 1)
    iy = np.clip(np.searchsorted(scan.ye, pts[:, 1], side="right") - 1, 0, n - 1)
    inside = scan.ok & (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
    lookup = np.full(parent.size, -1, dtype=np.int32)
    lookup[roots] = np.arange(roots.size, dtype=np.int32)
    labels = lookup[parent[ix * n + iy]]
    labels[~inside] = -1
    rx, ry = np.divmod(roots, n)
    centers = np.column_stack([0.5 * (scan.xe[rx] + scan.xe[rx + 1]), 0.5 * (scan.ye[ry] + scan.ye[ry + 1])])
    return density.Modes2D(centers, labels, mass[roots], smooth.ravel()[roots])


def _assert_selections_equal_the_reference(points: np.ndarray, min_mass: float) -> None:
    scan = density.scan_modes_2d(points, min_mass=min_mass)
    assert scan is not None
    for expected in (1, 2, 3, 5):
        for rank_by in ("mass", "height"):
            got, want = scan.select(expected, rank_by), reference_select(scan, expected, rank_by)
            for a, b in zip((got.centers, got.labels, got.masses, got.heights),
                            (want.centers, want.labels, want.masses, want.heights), strict=True):
                assert a.dtype == b.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("seed", range(3))
def test_a_selection_equals_the_reference_on_random_and_simulated_points(seed: int) -> None:
    from immunolab.beads.density import log_scale
    from tests.beads.independent_sim import simulate_well

    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 10, size=(int(rng.integers(1, 6)), 2))
    blobs = np.vstack([rng.normal(c, rng.uniform(0.05, 0.6), size=(int(rng.integers(30, 900)), 2)) for c in centres])
    blobs[rng.random(len(blobs)) < 0.01] = np.nan  # points outside every bin
    for min_mass in (0.0, 20.0):  # 0: empty basins count too
        _assert_selections_equal_the_reference(blobs, min_mass)
    sim = simulate_well(seed, two_d=True)
    scatter = np.column_stack([log_scale(np.abs(sim.events[:, i]) + 1.0)[0] for i in range(2)])
    _assert_selections_equal_the_reference(scatter, 0.03 * len(scatter))


@pytest.mark.shared_data
def test_a_selection_equals_the_reference_on_real_bead_scatter() -> None:
    from immunolab.beads.density import log_scale
    from immunolab.fcs.reader import read_fcs
    from tests.conftest import shared_path

    for path in (sorted(shared_path("beads", "cba_facsverse").glob("Standard 10_*.fcs"))[0],
                 shared_path("cytokine", "legendplex", "beadplexr", "K2-C07-A7.fcs")):
        fcs = read_fcs(path, label=path.name)
        assert fcs.events is not None
        scatter = np.column_stack([log_scale(fcs.events[:, i])[0] for i in range(2)])
        _assert_selections_equal_the_reference(scatter, 0.03 * len(scatter))
