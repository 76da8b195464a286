"""Density-valley and density-basin methods behind the gating template."""

from __future__ import annotations

import numpy as np
import pytest

from immunolab.flow.density_gates import (
    NoValleyError,
    density_basin_mask,
    density_modes,
    mindensity_cut,
    ratio_cut,
    smoothed_density,
)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_mindensity_cuts_in_the_valley_between_two_populations() -> None:
    r = _rng()
    x = np.concatenate([r.normal(0.15, 0.04, 6000), r.normal(0.65, 0.04, 4000)])
    cut = mindensity_cut(x)
    assert 0.3 < cut < 0.5
    assert abs((x > cut).mean() - 0.4) < 0.002


def test_mindensity_ranks_modes_by_mass_so_a_broad_small_negative_counts() -> None:
    r = _rng(1)
    broad_negative = r.normal(0.1, 0.07, 300)  # 3 %, low and wide
    tight_positive = r.normal(0.73, 0.015, 9700)
    x = np.concatenate([broad_negative, tight_positive])
    cut = mindensity_cut(x)
    assert 0.35 < cut < 0.68
    assert (x <= cut).sum() == pytest.approx(300, abs=3)


def test_mindensity_ignores_a_third_population_smaller_than_the_other_two() -> None:
    r = _rng(2)
    x = np.concatenate([r.normal(0.1, 0.03, 5000), r.normal(0.5, 0.03, 4000), r.normal(0.9, 0.02, 200)])
    cut = mindensity_cut(x)
    assert 0.2 < cut < 0.4


def test_unimodal_density_raises_no_valley() -> None:
    with pytest.raises(NoValleyError, match="no valley"):
        mindensity_cut(_rng(3).normal(0.4, 0.05, 5000))


def test_too_few_events_raise_no_valley() -> None:
    with pytest.raises(NoValleyError, match="only 5 events"):
        mindensity_cut(np.array([0.1, 0.2, 0.3, 0.8, 0.9]))


def test_search_range_keeps_the_cut_inside_it() -> None:
    r = _rng(4)
    x = np.concatenate([r.normal(0.1, 0.03, 5000), r.normal(0.6, 0.03, 5000)])
    assert 0.3 <= mindensity_cut(x, search_range=(0.3, 0.32)) <= 0.32
    with pytest.raises(NoValleyError, match="search range"):
        mindensity_cut(x, search_range=(0.8, 0.9))


def test_shallow_wiggles_merge_into_one_mode() -> None:
    grid = np.linspace(0, 1, 512)
    dens = np.exp(-((grid - 0.5) ** 2) / 0.01) * (1 + 0.05 * np.sin(grid * 200))
    modes = density_modes(dens, grid[1] - grid[0])
    assert len(modes) == 1
    assert modes[0].mass == pytest.approx(dens.sum() * (grid[1] - grid[0]))


def test_smoothed_density_integrates_to_one() -> None:
    grid, dens = smoothed_density(_rng(5).normal(0, 1, 4000))
    assert dens.sum() * (grid[1] - grid[0]) == pytest.approx(1.0, abs=0.01)


def test_ratio_cut_separates_doublets_below_the_singlet_ratio() -> None:
    r = _rng(6)
    area = r.normal(50000, 6000, 10000)
    height = area * np.where(np.arange(10000) < 9500, r.normal(0.88, 0.025, 10000), r.normal(0.55, 0.03, 10000))
    cut = ratio_cut(area, height)
    assert np.log(0.6) < cut < np.log(0.8)
    assert (np.log(height / area) > cut).sum() == pytest.approx(9500, abs=10)


def test_ratio_cut_without_doublets_raises_no_valley() -> None:
    r = _rng(7)
    area = r.normal(50000, 6000, 5000)
    with pytest.raises(NoValleyError, match="doublet"):
        ratio_cut(area, area * r.normal(0.88, 0.02, 5000))


def test_density_basin_returns_the_cluster_nearest_the_target() -> None:
    r = _rng(8)
    a = np.column_stack([r.normal(0.2, 0.02, 3000), r.normal(0.05, 0.01, 3000)])
    b = np.column_stack([r.normal(0.4, 0.04, 2000), r.normal(0.2, 0.04, 2000)])
    c = np.column_stack([r.normal(0.45, 0.03, 5000), r.normal(0.55, 0.06, 5000)])
    pts = np.concatenate([a, b, c])
    extent = ((0.0, 1.0), (0.0, 1.0))
    for target, expect in (((0.21, 0.06), slice(0, 3000)), ((0.4, 0.22), slice(3000, 5000)), ((0.5, 0.6), slice(5000, None))):
        mask = density_basin_mask(pts[:, 0], pts[:, 1], target=target, extent=extent)
        truth = np.zeros(len(pts), dtype=bool)
        truth[expect] = True
        assert (mask != truth).mean() < 0.01


def test_density_basin_without_a_large_enough_cluster_raises_no_valley() -> None:
    x = np.linspace(0, 1, 30)
    with pytest.raises(NoValleyError, match="holds at least"):
        density_basin_mask(x, x, target=(0.5, 0.5), extent=((0, 1), (0, 1)), min_mass=0.5)


def test_local_maxima_matches_scipy_find_peaks_on_random_and_flat_data() -> None:
    """The template's own peak finder (kept to spare each worker the scipy.signal import) is find_peaks."""
    from scipy.signal import find_peaks

    from immunolab.flow.density_gates import local_maxima

    rng = np.random.default_rng(7)
    for trial in range(3000):
        n = int(rng.integers(0, 30))
        x = rng.integers(0, 3, size=n).astype(float) if trial % 2 else rng.random(n)
        if trial % 7 == 0 and n:
            x[int(rng.integers(0, n))] = np.nan
        assert np.array_equal(local_maxima(x), find_peaks(x)[0]), x
    assert list(local_maxima(np.array([0.0, 1.0, 1.0, 1.0, 1.0, 0.0]))) == [2]
    assert list(local_maxima(np.array([0.0, 2.0, 2.0, 3.0]))) == []


def test_gating_template_does_not_import_scipy_signal() -> None:
    """Importing scipy.signal costs about a second in every ingest worker; the template needs none of it."""
    import subprocess
    import sys

    code = ("import sys; import immunolab.flow.template, immunolab.flow.density_gates; "
            "print('scipy.signal' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_merge_shallow_relabels_every_bin_as_a_per_label_reference() -> None:
    """The basin merge's relabelling table gives each bin the root its label merges into (-1 stays -1)."""
    from scipy import ndimage

    from immunolab.flow import density_gates as dg

    rng = np.random.default_rng(11)
    merged = 0
    for _ in range(60):
        b = int(rng.integers(8, 48))
        dens = ndimage.gaussian_filter(rng.poisson(rng.random((b, b)) * 5).astype(float), rng.uniform(0.5, 3))
        label = dg._basins(dens)
        label[dens.ravel() <= 0.02 * dens.max()] = -1
        out = dg._merge_shallow(dens, label.copy(), 0.5)
        assert out.shape == label.shape and out.dtype == np.int64
        # reference: a label maps to one root; every bin of that label gets it; roots are peaks kept
        for lab in np.unique(label):
            got = np.unique(out[label == lab])
            assert got.size == 1
            if lab < 0:
                assert got[0] == -1
            else:
                assert got[0] >= 0 and dens.ravel()[got[0]] >= dens.ravel()[lab]
        merged += int(np.count_nonzero(out != label) > 0)
    assert merged > 10  # the random densities do merge basins
