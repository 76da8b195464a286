"""An immune-panel simulator written for the tests, independent of the demo trial's generator.

It shares no code and no constants with :mod:`immunolab.demo` (a test pins that it imports
nothing from there) and draws, at random for every file: the detector names and which marker
each carries, the spillover matrix, the instrument's range ($PnR 2**18 or 2**20), population
proportions, stain brightness, scatter positions of every cell type, the doublet rate and where
doublets fall (inside the lymphocyte scatter cluster, or shifted outside it), debris, CD45-
negative events in the lymphocyte scatter cluster and a CD45-dim lymphocyte subset.

Every event carries its label, so :func:`truth` gives each population of the trial panel's
hierarchy (Lymphocytes > Singlets > CD45+ > T > CD4/CD8 > Treg, HLA-DR+; B; NK) as a share of
its parent. Files are written with :func:`immunolab.fcs.writer.write_fcs` (a generic FCS
writer) and read back like any instrument file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from immunolab.fcs.writer import write_fcs

MARKERS = ("CD45", "CD3", "CD4", "CD8", "CD19", "CD56", "CD25", "CD127", "HLA-DR")
DETECTOR_POOL = (
    "B515-A", "B710-A", "YG586-A", "YG670-A", "YG780-A", "R670-A", "R730-A", "R780-A",
    "V450-A", "V525-A", "V610-A", "V710-A", "UV395-A", "UV740-A", "FL1-A", "FL2-A",
)
#: chi-square quantile (2 degrees of freedom, 99 %): the lymphocyte cluster's scatter region
CHI2_2DF_99 = 9.21
# cell kinds
DEBRIS, LYMPH, NEG_REGION, MONO, GRAN, DOUBLET = range(6)
T, B, NK, OTHER = range(4)


@dataclass
class Tube:
    """Events as written (raw, spilled), channel names and per-event labels of one file."""

    raw: np.ndarray
    pnn: list[str]
    pns: list[str | None]
    spill_names: list[str]
    spill: np.ndarray
    top: float
    kind: np.ndarray
    in_region: np.ndarray  # events of the lymphocyte scatter region (doublets: inside its 99 % ellipse)
    lineage: np.ndarray
    cd4: np.ndarray
    cd8: np.ndarray
    treg: np.ndarray
    hladr: np.ndarray
    cd45_dim: np.ndarray
    doublets_inside: bool


def _spillover(rng: np.random.Generator, n: int) -> np.ndarray:
    s = np.eye(n)
    for i in range(n):
        for j in rng.choice([k for k in range(n) if k != i], size=int(rng.integers(1, 4)), replace=False):
            s[i, j] = rng.uniform(0.002, 0.28)
    return s


def _lymph_labels(rng: np.random.Generator, n: int, p: dict[str, float]) -> dict[str, np.ndarray]:
    u = rng.random(n)
    lineage = np.full(n, OTHER, dtype=np.int8)
    lineage[u < p["t"]] = T
    rest = (u >= p["t"]) & (rng.random(n) < p["b_of_rest"])
    lineage[rest] = B
    lineage[(lineage == OTHER) & (rng.random(n) < p["nk_of_rest"])] = NK
    t = lineage == T
    v = rng.random(n)
    dp, dn = p["dp"], p["dn"]
    cd4 = t & ((v < dp) | ((v >= dp + dn) & (rng.random(n) < p["cd4_of_t"])))
    cd8 = t & ((v < dp) | ((v >= dp + dn) & ~cd4))
    treg = cd4 & ~cd8 & (rng.random(n) < p["treg_of_cd4"])
    hladr = t & (rng.random(n) < np.where(cd4, p["dr_cd4"], p["dr_cd8"]))
    return {"lineage": lineage, "cd4": cd4, "cd8": cd8, "treg": treg, "hladr": hladr}


def _signal(rng: np.random.Generator, n: int, lab: dict[str, np.ndarray], bright: dict[str, float],
            dim45: np.ndarray) -> np.ndarray:
    """Return true stain signal (n x markers) of lymphocytes."""
    sig = np.zeros((n, len(MARKERS)))

    def put(marker: str, mask: np.ndarray, shift: float = 0.0, sd: float = 0.14) -> None:
        k = MARKERS.index(marker)
        sig[mask, k] = 10.0 ** rng.normal(bright[marker] + shift, sd, int(mask.sum()))

    lineage = lab["lineage"]
    t, cd4, cd8 = lineage == T, lab["cd4"], lab["cd8"]
    put("CD45", ~dim45)
    put("CD45", dim45, shift=-bright["dim45_drop"])
    put("CD3", t)
    put("CD4", cd4 & ~cd8)
    put("CD4", cd4 & cd8, shift=-0.2)
    put("CD8", cd8 & ~cd4)
    put("CD8", cd4 & cd8, shift=-0.25)
    put("CD19", lineage == B)
    put("HLA-DR", lineage == B, shift=0.3)
    put("CD56", lineage == NK)
    put("CD8", (lineage == NK) & (rng.random(n) < 0.3), shift=-0.7, sd=0.2)
    put("CD25", lab["treg"])
    put("CD25", cd4 & ~lab["treg"] & (rng.random(n) < 0.15), shift=-0.85, sd=0.18)
    put("CD127", t & ~lab["treg"])
    put("CD127", lab["treg"], shift=-1.05, sd=0.2)
    put("HLA-DR", lab["hladr"], shift=-0.35, sd=0.2)
    return sig


def _within_cluster(cluster: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Return True for ``points`` inside the 99 % ellipse of ``cluster`` on log FSC-A x log SSC-A."""
    if len(cluster) < 3 or not len(points):
        return np.zeros(len(points), dtype=bool)
    ref = np.log(cluster[:, [0, 2]])
    centred = np.log(np.clip(points[:, [0, 2]], 1.0, None)) - ref.mean(axis=0)
    d2 = np.einsum("ij,jk,ik->i", centred, np.linalg.inv(np.cov(ref.T)), centred)
    return d2 <= CHI2_2DF_99


def simulate_tube(rng: np.random.Generator, n_events: int = 20_000) -> Tube:
    """Draw one tube with everything varied at random (see the module doc)."""
    top = float(rng.choice([2.0**18, 2.0**20]))
    p = {
        "t": rng.uniform(0.45, 0.85), "b_of_rest": rng.uniform(0.2, 0.6), "nk_of_rest": rng.uniform(0.5, 0.9),
        "cd4_of_t": rng.uniform(0.3, 0.75), "dp": rng.uniform(0.0, 0.02), "dn": rng.uniform(0.02, 0.07),
        "treg_of_cd4": rng.uniform(0.03, 0.12), "dr_cd4": rng.uniform(0.02, 0.35), "dr_cd8": rng.uniform(0.05, 0.5),
    }
    bright = {m: rng.uniform(3.2, 4.3) for m in MARKERS}
    bright["CD45"] = rng.uniform(3.8, 4.4)
    bright["dim45_drop"] = rng.uniform(0.5, 0.9)
    # composition of the tube (shares of all events)
    share = {
        DEBRIS: rng.uniform(0.02, 0.25), LYMPH: rng.uniform(0.08, 0.45), MONO: rng.uniform(0.03, 0.12),
        GRAN: rng.uniform(0.0, 0.55),
    }
    share[NEG_REGION] = share[LYMPH] * rng.uniform(0.0, 0.06)
    doublet_rate = float(rng.choice([0.0, rng.uniform(0.01, 0.12)]))
    share[DOUBLET] = (share[LYMPH] + share[NEG_REGION]) * doublet_rate
    kinds = sorted(share)
    counts = rng.multinomial(n_events, np.array([share[k] for k in kinds]) / sum(share.values()))
    n_of = dict(zip(kinds, counts.tolist(), strict=True))

    # scatter: lymphocytes placed at random, the others relative to them
    lf, ls = top * rng.uniform(0.12, 0.3), top * rng.uniform(0.02, 0.07)
    centre = {
        LYMPH: (lf, ls), NEG_REGION: (lf * rng.uniform(0.85, 1.0), ls * rng.uniform(0.8, 1.1)),
        MONO: (lf * rng.uniform(1.45, 1.9), ls * rng.uniform(3.0, 6.0)),
        GRAN: (lf * rng.uniform(1.5, 2.1), ls * rng.uniform(8.0, 14.0)),
        DEBRIS: (lf * rng.uniform(0.08, 0.3), ls * rng.uniform(0.3, 1.5)),
    }
    spread = {LYMPH: 0.1, NEG_REGION: 0.12, MONO: 0.12, GRAN: 0.1, DEBRIS: 0.5}
    height_ratio = rng.uniform(0.8, 0.95)
    blocks, kind_blocks = [], []
    for k in (LYMPH, NEG_REGION, MONO, GRAN, DEBRIS):
        m = n_of[k]
        fsc = centre[k][0] * np.exp(rng.normal(0, spread[k], m))
        ssc = centre[k][1] * np.exp(rng.normal(0, spread[k] * 1.6, m))
        blocks.append(np.column_stack([fsc, fsc * rng.normal(height_ratio, 0.02, m), ssc]))
        kind_blocks.append(np.full(m, k, dtype=np.int8))
    n_l = n_of[LYMPH]
    lab = _lymph_labels(rng, n_l, p)
    dim45 = rng.random(n_l) < rng.uniform(0.0, 0.15)
    sig_l = _signal(rng, n_l, lab, bright, dim45)
    sig = [sig_l]
    for k in (NEG_REGION, MONO, GRAN, DEBRIS):
        s = np.zeros((n_of[k], len(MARKERS)))
        if k == MONO:
            s[:, 0] = 10.0 ** rng.normal(bright["CD45"] - 0.25, 0.12, n_of[k])
            s[:, MARKERS.index("CD4")] = 10.0 ** rng.normal(bright["CD4"] - 0.8, 0.15, n_of[k])
            s[:, MARKERS.index("HLA-DR")] = 10.0 ** rng.normal(bright["HLA-DR"], 0.2, n_of[k])
        if k == GRAN:
            s[:, 0] = 10.0 ** rng.normal(bright["CD45"] - 0.7, 0.14, n_of[k])
        sig.append(s)
    # doublets: two lymphocyte-cluster events stuck together; area adds, height barely grows
    n_d = n_of[DOUBLET]
    inside = bool(rng.random() < 0.5)
    pool = np.concatenate(blocks[:2])
    pool_sig = np.concatenate(sig[:2])
    i, j = rng.integers(0, max(len(pool), 1), (2, n_d)) if len(pool) else (np.zeros(0, int), np.zeros(0, int))
    pair = pool[i] + pool[j]
    # partly overlapping pairs stay inside the lymphocyte cluster (area 1.2-1.5x one cell, height
    # about one cell's); side-by-side pairs add their areas and fall outside it
    if inside:
        area_factor, height_factor = rng.uniform(0.62, 0.75), rng.uniform(0.92, 1.02)
    else:
        area_factor, height_factor = rng.uniform(0.85, 1.0), rng.uniform(1.0, 1.25)
    dbl = np.column_stack([pair[:, 0] * area_factor, pool[i][:, 1] * height_factor, pair[:, 2] * area_factor])
    blocks.append(dbl)
    sig.append(pool_sig[i] + pool_sig[j])
    kind_blocks.append(np.full(n_d, DOUBLET, dtype=np.int8))

    scatter = np.concatenate(blocks)
    signal = np.concatenate(sig)
    kind = np.concatenate(kind_blocks)
    n = len(kind)
    spill = _spillover(rng, len(MARKERS))
    noise_sd = rng.uniform(20.0, 90.0, len(MARKERS)) * top / 2.0**18
    autofl = rng.uniform(5.0, 80.0, len(MARKERS)) * np.where(np.isin(kind, (MONO, GRAN)), 2.5, 1.0)[:, None]
    spread_var = np.clip(signal, 0, None) @ (spill - np.eye(len(MARKERS))) * rng.uniform(0.5, 2.0)
    true = signal + autofl + rng.normal(0, 1, signal.shape) * np.sqrt(noise_sd**2 + spread_var)
    raw_fl = np.clip(true, -top / 4, top * 0.95) @ spill
    scatter = np.clip(scatter, 1.0, top - 1)
    detectors = [str(d) for d in rng.choice(DETECTOR_POOL, size=len(MARKERS), replace=False)]
    order = rng.permutation(n)
    events = np.column_stack([scatter, raw_fl])[order].astype(np.float32)
    pad_l = np.full(n - n_l, -1, dtype=np.int8)
    falses = np.zeros(n - n_l, dtype=bool)
    region = np.concatenate([np.ones(n_l + n_of[NEG_REGION], bool), np.zeros(n - n_l - n_of[NEG_REGION] - n_d, bool),
                             _within_cluster(blocks[0], dbl)])
    return Tube(
        raw=events, pnn=["FSC-A", "FSC-H", "SSC-A", *detectors], pns=[None, None, None, *MARKERS],
        spill_names=detectors, spill=spill, top=top, kind=kind[order], in_region=region[order],
        lineage=np.concatenate([lab["lineage"], pad_l])[order],
        cd4=np.concatenate([lab["cd4"], falses])[order], cd8=np.concatenate([lab["cd8"], falses])[order],
        treg=np.concatenate([lab["treg"], falses])[order], hladr=np.concatenate([lab["hladr"], falses])[order],
        cd45_dim=np.concatenate([dim45, falses])[order], doublets_inside=inside,
    )


def labels(tube: Tube) -> dict[str, np.ndarray]:
    """Return, per population of the trial panel, which events truly belong to it (all events)."""
    k = tube.kind
    leuko = np.isin(k, (LYMPH, MONO, GRAN))
    t = (k == LYMPH) & (tube.lineage == T)
    cd4, cd8 = t & tube.cd4, t & tube.cd8
    return {
        "Lymphocytes": np.isin(k, (LYMPH, NEG_REGION)) | ((k == DOUBLET) & tube.in_region),
        "Singlets": k != DOUBLET, "CD45+": leuko, "T cells": t, "CD4+ T": cd4, "CD8+ T": cd8,
        "B cells": (k == LYMPH) & (tube.lineage == B), "NK cells": (k == LYMPH) & (tube.lineage == NK),
        "Treg": cd4 & tube.treg, "HLA-DR+ CD4 T": cd4 & tube.hladr, "HLA-DR+ CD8 T": cd8 & tube.hladr,
    }


def truth(tube: Tube, gated_parents: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Return each population's true share (percent) of its parent.

    With ``gated_parents`` (population -> the events its parent gate kept), the share is taken
    within those events: each gate is judged on the events it was actually given, so an edge
    doublet counted in or out of the lymphocyte cluster does not move the scores of the gates
    below it. Without, parents are the true label sets.
    """
    lab = labels(tube)
    parent_of = {
        "Lymphocytes": None, "Singlets": "Lymphocytes", "CD45+": "Singlets", "T cells": "CD45+",
        "CD4+ T": "T cells", "CD8+ T": "T cells", "B cells": "CD45+", "NK cells": "CD45+", "Treg": "CD4+ T",
        "HLA-DR+ CD4 T": "CD4+ T", "HLA-DR+ CD8 T": "CD8+ T",
    }
    out = {}
    for name, parent in parent_of.items():
        if gated_parents is not None and name in gated_parents:
            base = gated_parents[name]
        else:
            base = np.ones(len(tube.kind), dtype=bool) if parent is None else lab[parent]
        out[name] = 100.0 * float((lab[name] & base).sum()) / max(float(base.sum()), 1.0)
    return out


def write_tube(path: Path, tube: Tube) -> Path:
    """Write ``tube`` as an FCS 3.1 file with its $SPILLOVER and $PnR."""
    values = ",".join(f"{v:.6g}" for v in tube.spill.ravel())
    spill_kw = f"{len(tube.spill_names)}," + ",".join(tube.spill_names) + "," + values
    return write_fcs(path, tube.raw, tube.pnn, pns=tube.pns, pnr=[tube.top] * len(tube.pnn),
                     keywords={"$SPILLOVER": spill_kw, "$CYT": "independent simulator"})
