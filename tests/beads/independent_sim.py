"""An independent bead-well simulator for tests: shares no code or constants with immunolab.demo.

Each call draws a whole "instrument" at random: channel naming style (``FL<n>``, fluorochrome
names, detector codes such as ``BL2``/``RL1``, or neutral ``CH<k>`` names with the
fluorochrome only in ``$PnS``), storage (float32 linear, 20-bit integers with a saturating
ceiling, or 10-bit log-amplified integers with ``$PnE``), per-channel gains over three
decades, scatter group positions and shapes, classifier ladders (1D or a 2D grid), reporter
levels, debris, doublets, an APC spill-over channel, height/width duplicates and a time
channel. It also writes the matching kit definition (hints = the names it chose) and keeps the
truth: every event's bead (-1 for debris and doublets) and every bead's true reporter median.

A bead can be left out (``missing``) to check that the classifier reports it as
``bead_not_found`` and keeps the other beads right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from immunolab.beads.kits import BeadKit, parse_kit
from immunolab.fcs.channels import FcsChannel

__all__ = ["SimWell", "simulate_well"]

STYLES = ("fl_numbers", "fluor_names", "detector_codes", "neutral")
SCALES = ("float", "int20", "log10bit")


@dataclass
class SimWell:
    """A simulated well: stored events + channels, the kit, and the truth."""

    events: np.ndarray
    channels: list[FcsChannel]
    kit: BeadKit
    truth_bead: np.ndarray  # per event: index into kit.beads, -1 for debris / doublets
    truth_kind: np.ndarray  # per event: 0 bead, 1 debris, 2 doublet
    true_mfi: dict[str, float]  # analyte -> true median reporter (linear units)
    missing: tuple[str, ...]
    scale: str
    style: str
    role_names: dict[str, str]  # role (fsc, ssc, reporter, cls1, cls2, spill, other) -> its area channel's PnN


def _names(style: str, rng: np.random.Generator) -> dict[str, tuple[str, str | None]]:
    """Return (PnN, PnS) per role: fsc, ssc, reporter, cls1, cls2, spill, other."""
    if style == "fl_numbers":
        n = rng.permutation(np.arange(1, 11))
        return {"fsc": ("FS", None), "ssc": ("SS", None), "reporter": (f"FL{n[0]}", None), "cls1": (f"FL{n[1]}", None),
                "cls2": (f"FL{n[2]}", None), "spill": (f"FL{n[3]}", None), "other": (f"FL{n[4]}", None)}
    if style == "fluor_names":
        return {"fsc": ("FSC", None), "ssc": ("SSC", None), "reporter": ("PE", None), "cls1": ("APC", None),
                "cls2": ("APC-Cy7", None), "spill": ("APC-R700", None), "other": ("FITC", None)}
    if style == "detector_codes":
        return {"fsc": ("FSC", None), "ssc": ("SSC", None), "reporter": ("YL1", None), "cls1": ("RL1", None),
                "cls2": ("RL3", None), "spill": ("RL2", None), "other": ("BL1", None)}
    k = rng.permutation(np.arange(1, 20))
    return {"fsc": ("FSC", None), "ssc": ("SSC", None), "reporter": (f"CH{k[0]}", "PE"),
            "cls1": (f"CH{k[1]}", "APC"), "cls2": (f"CH{k[2]}", "APC-Cy7"), "spill": (f"CH{k[3]}", "APC-R700"),
            "other": (f"CH{k[4]}", "FITC")}


def _kit(names: dict[str, tuple[str, str | None]], groups: list[list[tuple[float, ...]]], two_d: bool) -> BeadKit:
    def hint(role: str) -> list[str]:
        pnn, pns = names[role]
        return [pns or pnn]

    bead_groups = []
    serial = 0
    for gi, ladder in enumerate(groups):
        beads = []
        for level in ladder:
            serial += 1
            beads.append({"id": f"G{gi}B{serial}", "analyte": f"SIM-{serial:02d}", "levels": list(level)})
        bead_groups.append({"name": f"G{gi}", "beads": beads})
    # the spill-over channel is listed too, first: the data, not the hint order, must pick cls1
    classifiers = [{"name": "c1", "hints": hint("spill") + hint("cls1")}]
    if two_d:
        classifiers.append({"name": "c2", "hints": hint("cls2")})
    data: dict[str, Any] = {
        "format": "immunolab-bead-kit/1", "kit_id": "independent_sim", "name": "independent simulator",
        "vendor": "none", "platform": "sim", "bead_map_verified": True,
        "channels": {"scatter": {"fsc": hint("fsc"), "ssc": hint("ssc")}, "classifiers": classifiers,
                     "reporter": {"name": "rep", "hints": hint("reporter")}},
        "bead_groups": bead_groups,
        "standards": {"levels": 6, "top_concentration": 5000, "dilution_factor": 3},
    }
    return parse_kit(data, source="independent_sim")


def _ladders(rng: np.random.Generator, n_groups: int, two_d: bool) -> list[list[tuple[float, ...]]]:
    """Return each group's bead levels: 1D ladders with gaps, or 2D grid positions."""
    out = []
    for _ in range(n_groups):
        if two_d:
            cells = [(float(a), float(b)) for a in range(1, 4) for b in range(1, 4)]
            pick = rng.choice(len(cells), size=int(rng.integers(5, 9)), replace=False)
            out.append([cells[i] for i in sorted(pick)])
        else:
            levels = np.sort(rng.choice(np.arange(1, 12), size=int(rng.integers(4, 8)), replace=False))
            out.append([(float(v),) for v in levels])
    return out


def simulate_well(
    seed: int, *, n_groups: int | None = None, two_d: bool | None = None, scale: str | None = None,
    style: str | None = None, n_beads_events: int = 260, missing: tuple[int, ...] = (),
) -> SimWell:
    """Return one simulated well; unspecified options are drawn from ``seed``.

    ``missing`` holds indices (into the kit's bead order) of beads to leave out.
    """
    rng = np.random.default_rng(seed)
    two_d = bool(rng.random() < 0.3) if two_d is None else two_d
    n_groups = (1 if two_d else int(rng.integers(1, 3))) if n_groups is None else n_groups
    scale = str(rng.choice(SCALES)) if scale is None else scale
    style = str(rng.choice(STYLES)) if style is None else style
    names = _names(style, rng)
    ladders = _ladders(rng, n_groups, two_d)
    kit = _kit(names, ladders, two_d)
    truth: list[np.ndarray] = []
    true_mfi: dict[str, float] = {}
    base_f, base_s = rng.uniform(9.0, 12.0), rng.uniform(8.5, 12.5)
    step = rng.uniform(0.35, 0.7)
    spacing = rng.uniform(0.45, 0.85)
    offset = rng.uniform(4.5, 6.5)
    bead_index = 0
    rows = []
    for gi, ladder in enumerate(ladders):
        gf, gs = base_f + gi * step, base_s + gi * step * rng.uniform(0.6, 1.4)
        sd_f, sd_s = rng.uniform(0.02, 0.06), rng.uniform(0.05, 0.18)
        for level in ladder:
            n = int(n_beads_events * rng.uniform(0.7, 1.3))
            rep_level = float(np.exp(rng.uniform(np.log(60.0), np.log(4e5))))
            if bead_index in missing:
                true_mfi[kit.beads[bead_index].analyte] = float("nan")
                bead_index += 1
                continue
            c1 = offset + spacing * level[0] + rng.normal(0, 0.04)
            c2 = (offset - 0.5 + spacing * level[1] + rng.normal(0, 0.04)) if two_d else 0.0
            lf = rng.normal(gf, sd_f, n)
            ls = rng.normal(gs, sd_s, n) + 0.5 * (lf - gf)
            rep = rep_level * np.exp(rng.normal(0, rng.uniform(0.12, 0.3), n))
            cls1 = np.exp(rng.normal(c1, rng.uniform(0.03, 0.07), n))
            cls2 = np.exp(rng.normal(c2, 0.05, n)) if two_d else np.exp(rng.normal(2.0, 0.5, n))
            rows.append(np.column_stack([np.exp(lf), np.exp(ls), rep, cls1, cls2]))
            truth.append(np.full(n, bead_index))
            true_mfi[kit.beads[bead_index].analyte] = float(np.median(rep))
            bead_index += 1
    singles = np.vstack(rows)
    n_single = len(singles)
    n_debris = int(n_single * rng.uniform(0.05, 0.25))
    debris = np.column_stack([
        np.exp(rng.normal(base_f - 1.6, 0.5, n_debris)), np.exp(rng.normal(base_s - 1.8, 0.6, n_debris)),
        np.exp(rng.normal(3.0, 1.0, n_debris)), np.exp(rng.normal(offset - 1.5, 1.0, n_debris)),
        np.exp(rng.normal(2.0, 1.0, n_debris)),
    ])
    n_dbl = int(n_single * rng.uniform(0.02, 0.08))
    a, b = rng.integers(0, n_single, n_dbl), rng.integers(0, n_single, n_dbl)
    doublets = singles[a] + singles[b]
    doublets[:, 1] *= rng.uniform(1.0, 1.3, n_dbl)
    linear = np.vstack([singles, debris, doublets])
    truth_bead = np.concatenate([*truth, np.full(n_debris + n_dbl, -1)])
    truth_kind = np.concatenate([np.zeros(n_single, dtype=int), np.ones(n_debris, dtype=int), np.full(n_dbl, 2)])
    spill = linear[:, 3] * rng.uniform(0.05, 0.3) * np.exp(rng.normal(0, 0.25, len(linear))) + rng.normal(0, 30, len(linear))
    other = np.exp(rng.normal(4.0, 0.8, len(linear)))
    linear = np.column_stack([linear, spill, other])
    order = rng.permutation(len(linear))
    linear, truth_bead, truth_kind = linear[order], truth_bead[order], truth_kind[order]
    gains = 10.0 ** rng.uniform(-1.0, 1.0, linear.shape[1])
    linear = linear * gains
    for analyte in true_mfi:
        true_mfi[analyte] *= float(gains[2])
    events, channels, rep_factor, role_names = _store(linear, names, scale, rng)
    true_mfi = {a: v * rep_factor for a, v in true_mfi.items()}
    miss = tuple(kit.beads[i].analyte for i in missing)
    return SimWell(events, channels, kit, truth_bead, truth_kind, true_mfi, miss, scale, style, role_names)


def _store(linear: np.ndarray, names: dict[str, tuple[str, str | None]], scale: str,
           rng: np.random.Generator) -> tuple[np.ndarray, list[FcsChannel], float, dict[str, str]]:
    """Return stored values, channels (with -A/-H/-W variants and a time channel), the factor
    from true reporter values to the units the file decodes to, and each role's channel name."""
    roles = ["fsc", "ssc", "reporter", "cls1", "cls2", "spill", "other"]
    suffix_a = "" if scale == "log10bit" and rng.random() < 0.5 else "-A"
    cols, chans, factors = [], [], []
    role_names: dict[str, str] = {}

    def add(values: np.ndarray, pnn: str, pns: str | None) -> None:
        idx = len(chans) + 1
        if scale == "float":
            cols.append(values.astype(np.float32))
            chans.append(FcsChannel(idx, pnn, pns, 32, 262144.0, 0.0, 0.0, 1.0, "F"))
            factors.append(1.0)
        elif scale == "int20":
            q = float(np.quantile(values, 0.999))
            shrink = min(1.0, 8e5 / q) if q > 0 else 1.0  # an operator keeps beads on scale
            cols.append(np.clip(np.round(values * shrink), 0, 2**20 - 1))
            chans.append(FcsChannel(idx, pnn, pns, 32, float(2**20), 0.0, 0.0, 1.0, "I"))
            factors.append(shrink)
        else:  # 4 decades in 1024 channels, log_zero 1: decoded x = 10 ** (4 * v / 1024)
            top = float(np.quantile(values, 0.999)) * 2.0
            scaled = np.clip(values / top * 1e4, 1.0, 1e4)
            cols.append(np.round(1024.0 / 4.0 * np.log10(scaled)))
            chans.append(FcsChannel(idx, pnn, pns, 16, 1024.0, 4.0, 1.0, 1.0, "I"))
            factors.append(1e4 / top)

    for j, role in enumerate(roles):
        pnn, pns = names[role]
        values = linear[:, j]
        if role in ("fsc", "ssc") and scale == "int20":
            values = values / np.quantile(values, 0.99) * 6e5  # scatter fills the range; some saturate
        add(values, pnn + suffix_a, pns)
        role_names[role] = pnn + suffix_a
        if role == "reporter":
            rep_factor = factors[-1]
        if role in ("reporter", "cls1") and rng.random() < 0.5:
            add(values * rng.uniform(0.5, 0.9), pnn + "-H", pns)
        if role == "fsc" and rng.random() < 0.5:
            add(np.full(len(values), 80000.0) * rng.uniform(0.9, 1.1, len(values)), pnn + "-W", pns)
    add(np.sort(rng.uniform(0, 1e5, len(linear))), "Time", None)
    return np.column_stack(cols), chans, rep_factor, role_names
