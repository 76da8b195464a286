"""The gate methods of a gating template: how each finds its population in one sample's data.

Every method works on display-scale values of the parent population's events and returns an
:class:`Outcome`: the mask over those events, the thresholds it chose, a *status* saying how it
decided, and a QC flag when a human should look. No method holds a position in data units: a
population is found from the density of the sample itself (peaks, valleys, basins, mixtures)
and from its position relative to the other populations of the same file.

The explicit rules for what real files produce (each has a test):

- ``singlet_ratio`` without a doublet population: a valley below the singlet ratio is cut
  (``found``); without one, a tail of more than ``tail_share`` of the events further than
  ``tail_sd`` SDs below the singlet peak is cut there (``tail``, flagged: doublets without a
  valley); otherwise every event is kept (``not_needed``, flagged: no doublets found).
- ``mindensity`` when the parent holds one population only: with
  ``positive_by_definition`` (CD45 inside the lymphocyte gate) every event is kept
  (``keep_all``, flagged), and likewise when its lowest population lies above the file's own
  cut on that channel (a CD45-dim population is not a negative one); otherwise that population is compared with the file's own cut on
  the same channel over all events and kept whole (``all_positive``) or not at all
  (``all_negative``), flagged either way. Without any cut in the file, it is negative.
- a dim or smeared population whose density has no valley is split where a two-component
  Gaussian mixture crosses, when the components are distinct (``mixture``).
- a parent with fewer than :data:`MIN_PARENT_EVENTS` events: nothing is gated, the mask is
  empty and the population's frequencies are unknown (NaN, not 0 %) (``too_few_events``, flagged).
- ``lowest_cluster`` / ``off_main_cluster`` raise :class:`NoValleyError` when no 2-D
  population qualifies: that is the only way these gates fail (``IML-FCS-014``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from immunolab.flow.density_gates import (
    NoValleyError,
    basin_mask,
    density_basins,
    density_modes,
    smoothed_density,
    split_above_lowest,
)

__all__ = [
    "MIN_PARENT_EVENTS",
    "MIXTURE_SEPARATION",
    "NOT_GATED",
    "OFF_MAIN_KERNELS",
    "TAIL_SD",
    "TAIL_SHARE",
    "Outcome",
    "SplitFn",
    "gate_population",
    "split_values",
]

#: below this many parent events no density is estimated: the population is not gated (frequencies unknown)
MIN_PARENT_EVENTS = 50
#: the status (and QC flag) of a gate not applied because its parent held fewer than MIN_PARENT_EVENTS events
NOT_GATED = "too_few_events"
#: a cluster is "off the main one" when its peak is this many kernel SDs away on both axes
OFF_MAIN_KERNELS = 2.0
#: Ashman's D above which two mixture components are distinct populations (Ashman et al. 1994)
MIXTURE_SEPARATION = 2.0
#: a doublet tail starts this many singlet-ratio SDs below the singlet peak ...
TAIL_SD = 4.5
#: ... and is cut only when it holds more than this share of the events
TAIL_SHARE = 0.02


@dataclass
class Outcome:
    """Result of one gate on its parent's events: mask, thresholds, status and QC flag."""

    mask: np.ndarray
    thresholds: dict[str, float] = field(default_factory=dict)
    status: str = "found"
    flag: str | None = None


#: ``file_cut(k)``: the cut of channel k (0 or 1 of the gate) over all events of the file, or None
FileCut = Callable[[int], float | None]
#: ``split(k, v, arguments)``: :func:`split_values` of channel k (0 or 1 of the gate) with values ``v``;
#: a caller may answer from a memo when the same channel of the same parent was split before
SplitFn = Callable[[int, np.ndarray, Mapping[str, Any]], "tuple[float, str, float] | None"]


def _extent(values: Sequence[np.ndarray]) -> tuple[tuple[float, float], tuple[float, float]]:
    out = []
    for v in values:
        lo, hi = (float(q) for q in np.nanpercentile(v, [0.05, 99.95]))
        pad = 0.02 * max(hi - lo, 1e-6)
        out.append((lo - pad, hi + pad))
    return out[0], out[1]


def split_values(v: np.ndarray, a: Mapping[str, Any]) -> tuple[float, str, float] | None:
    """Return (cut, how, lowest peak) of the lowest population vs the next, or None for one population."""
    try:
        split = split_above_lowest(v, adjust=a["adjust"], min_mass=a["min_mass"], separation=MIXTURE_SEPARATION)
    except NoValleyError:
        return None
    return split.cut, split.how, split.low_peak


def _one_population(channel: str, v: np.ndarray, k: int, a: Mapping[str, Any], file_cut: FileCut,
                    positive: bool) -> tuple[bool, str, str]:
    """Decide whether a single population is positive: (is_positive, status, flag)."""
    centre = float(np.median(v))
    if a.get("positive_by_definition"):
        return True, "keep_all", f"{channel}: no negative population in the parent; all kept (positive by definition)"
    reference = file_cut(k)
    if reference is None:
        return False, "all_negative", f"{channel}: one population and no {channel} cut anywhere in the file; taken as negative"
    is_pos = centre > reference
    word = "positive" if is_pos else "negative"
    return is_pos, f"all_{word}", (
        f"{channel}: one population (median {centre:.3f}), {word} against the file's own cut {reference:.3f}"
    )


def _split_alone(k: int, v: np.ndarray, a: Mapping[str, Any]) -> tuple[float, str, float] | None:
    return split_values(v, a)


def _mindensity(channel: str, v: np.ndarray, a: Mapping[str, Any], file_cut: FileCut, split: SplitFn) -> Outcome:
    found = split(0, v, a)
    if found is not None and a.get("positive_by_definition"):
        reference = file_cut(0)
        if reference is not None and found[2] > reference:
            return Outcome(np.ones(len(v), dtype=bool), {}, "keep_all", (
                f"{channel}: the lowest population ({found[2]:.3f}) lies above the file's own {channel} cut "
                f"({reference:.3f}), so the parent holds no negative population; all kept (positive by definition)"
            ))
    if found is not None:
        cut, how, _ = found
        mask = v > np.float32(cut) if a["positive"] else v <= np.float32(cut)
        flag = f"{channel}: populations overlap (no valley); split where a 2-Gaussian mixture crosses" if how == "mixture" else None
        return Outcome(mask, {channel: cut}, "found" if how == "valley" else "mixture", flag)
    is_pos, status, flag = _one_population(channel, v, 0, a, file_cut, a["positive"])
    keep = is_pos if a["positive"] else not is_pos
    return Outcome(np.full(len(v), keep), {}, status, flag)


def _quadrant(channels: Sequence[str], values: Sequence[np.ndarray], a: Mapping[str, Any], file_cut: FileCut,
              split: SplitFn) -> Outcome:
    mask = np.ones(len(values[0]), dtype=bool)
    cuts: dict[str, float] = {}
    statuses, flags = [], []
    for k, (channel, v, sign) in enumerate(zip(channels, values, a["signs"], strict=True)):
        found = split(k, v, a)
        if found is not None:
            cut, how, _ = found
            cuts[channel] = cut
            mask &= (v > np.float32(cut)) if sign == "+" else (v <= np.float32(cut))
            statuses.append("found" if how == "valley" else "mixture")
            if how == "mixture":
                flags.append(f"{channel}: populations overlap; split at the mixture crossing")
            continue
        is_pos, status, flag = _one_population(channel, v, k, a, file_cut, sign == "+")
        if is_pos != (sign == "+"):
            mask[:] = False
        statuses.append(status)
        flags.append(flag)
    status = next((s for s in statuses if s != "found"), "found")
    return Outcome(mask, cuts, status, "; ".join(flags) or None)


def _singlets(values: Sequence[np.ndarray], a: Mapping[str, Any]) -> Outcome:
    area, height = values
    ok = (area > 0) & (height > 0)
    # a subnormal area (real files hold a few) overflows height / area to +inf: such an event lies on
    # the singlet side (doublets have the low ratios), is left out of the density and kept, silently
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(ok, np.log(np.where(ok, height, 1) / np.where(ok, area, 1)), -np.inf)
    r = ratio[ok]
    grid, dens = smoothed_density(r, adjust=a["adjust"], floor=0.005)
    modes = density_modes(dens, grid[1] - grid[0])
    main = max(modes, key=lambda m: m.mass)
    below = [m for m in modes if m.peak < main.peak and m.mass >= a["min_mass"]]
    if below:
        second = max(below, key=lambda m: m.mass)
        seg = dens[second.peak : main.peak + 1]
        cut = float(grid[second.peak + int(np.argmin(seg))])
        return Outcome(ok & (ratio > cut), {"log_ratio": cut}, "found")
    peak = float(grid[main.peak])
    upper = r[r >= peak] - peak
    sd = float(np.sqrt(np.mean(upper**2))) if len(upper) else 0.0
    cut = peak - TAIL_SD * sd
    tail = float(np.mean(r < cut)) if len(r) else 0.0
    if sd > 0 and tail > TAIL_SHARE:
        return Outcome(ok & (ratio > cut), {"log_ratio": cut}, "tail",
                       f"no doublet peak, but {tail:.1%} of events lie {TAIL_SD:g} SD below the singlet ratio; cut there")
    return Outcome(np.ones(len(area), dtype=bool), {}, "not_needed",
                   "no doublet population below the singlet height/area ratio; all events kept")


def _lowest_cluster(channels: Sequence[str], values: Sequence[np.ndarray], a: Mapping[str, Any]) -> Outcome:
    """Keep the cell cluster with the lowest y (SSC) peak, debris (by x) excluded."""
    x, y = values
    basins = density_basins(x, y, extent=_extent(values), bins=int(a["bins"]), smooth=float(a["smooth"]),
                            merge=float(a["merge"]))
    roots = basins.roots(a["min_mass"])
    debris_below = _debris_valley(x, a)
    cells = [r for r in roots if debris_below is None or basins.peak_xy(r)[0] > debris_below]
    if not cells:
        raise NoValleyError(
            f"no cell cluster on {channels[0]} x {channels[1]} holds {a['min_mass']:.1%} of the events"
            + (f" above the debris ({channels[0]} <= {debris_below:.3f})" if debris_below is not None else "")
        )
    best = min(cells, key=lambda r: basins.peak_xy(r)[1])
    mask = basin_mask(basins, [best], level=float(a["level"]))
    px, py = basins.peak_xy(best)
    thresholds = {f"{channels[0]}_peak": px, f"{channels[1]}_peak": py}
    if debris_below is not None:
        thresholds[f"{channels[0]}_debris_below"] = debris_below
    return Outcome(mask, thresholds, "found")


def _debris_valley(x: np.ndarray, a: Mapping[str, Any]) -> float | None:
    """Return the x valley above debris, or None when the lowest x population is not debris.

    Debris is the lowest x mode when its peak lies below ``debris_ratio`` x the peak of the
    next mode up (particles much smaller than the smallest cells).
    """
    grid, dens = smoothed_density(x)
    modes = [m for m in density_modes(dens, grid[1] - grid[0]) if m.mass >= a["min_mass"]]
    if len(modes) < 2:
        return None
    low, nxt = modes[0], modes[1]
    zero = float(grid[0])
    if grid[low.peak] - zero >= a["debris_ratio"] * (grid[nxt.peak] - zero):
        return None
    seg = dens[low.peak : nxt.peak + 1]
    return float(grid[low.peak + int(np.argmin(seg))])


def _off_main_cluster(channels: Sequence[str], values: Sequence[np.ndarray], a: Mapping[str, Any],
                      file_cut: FileCut, split: SplitFn) -> Outcome:
    """Keep the cluster furthest in ``direction`` from the parent's main (largest) cluster.

    Candidates hold ``min_mass`` and lie :data:`OFF_MAIN_KERNELS` kernel SDs (``smooth``) beyond
    the main peak on both axes; the one whose smaller displacement is largest wins.
    """
    x, y = values
    basins = density_basins(x, y, extent=_extent(values), bins=int(a["bins"]), smooth=float(a["smooth"]),
                            merge=float(a["merge"]))
    roots = basins.roots(a["min_mass"])
    if roots:
        mx, my = basins.peak_xy(roots[0])
        sx, sy = (1 if s == "+" else -1 for s in a["direction"])

        def offset(root: int) -> float:
            px, py = basins.peak_xy(root)
            return min(sx * (px - mx), sy * (py - my))

        side = [r for r in roots[1:] if offset(r) > OFF_MAIN_KERNELS * float(a["smooth"])]
        if side:
            best = max(side, key=offset)
            mask = basin_mask(basins, [best], level=float(a["level"]))
            px, py = basins.peak_xy(best)
            return Outcome(mask, {f"{channels[0]}_peak": px, f"{channels[1]}_peak": py}, "found")
    quad = _quadrant(channels, values, {**a, "signs": a["direction"]}, file_cut, split)
    flag = "no separate 2-D cluster; quadrant of the 1-D cuts used"
    quad.flag = flag + (f" ({quad.flag})" if quad.flag else "")
    quad.status = "quadrant_fallback"
    return quad


def gate_population(method: str, channels: Sequence[str], values: Sequence[np.ndarray],
                    arguments: Mapping[str, Any], file_cut: FileCut, split: SplitFn = _split_alone) -> Outcome:
    """Apply gate ``method`` to the parent's display values; see the module doc for the rules.

    ``split`` finds the 1-D cuts (default :func:`split_values`); :func:`immunolab.flow.template.apply_template`
    passes a per-sample memo, so gates that cut the same channel of the same parent share one cut.
    """
    n = len(values[0])
    if n < MIN_PARENT_EVENTS:
        return Outcome(np.zeros(n, dtype=bool), {}, NOT_GATED,
                       f"the parent holds {n} events (< {MIN_PARENT_EVENTS}); population not gated, frequencies unknown")
    if method == "mindensity":
        return _mindensity(channels[0], values[0], arguments, file_cut, split)
    if method == "quadrant":
        return _quadrant(channels, values, arguments, file_cut, split)
    if method == "singlet_ratio":
        return _singlets(values, arguments)
    if method == "lowest_cluster":
        return _lowest_cluster(channels, values, arguments)
    if method == "off_main_cluster":
        return _off_main_cluster(channels, values, arguments, file_cut, split)
    raise ValueError(f"unknown method {method!r}")
