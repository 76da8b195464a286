"""Simulate list-mode events of the demo trial's TBNK-Treg panel and write them as FCS 3.1.

Each event gets a label (debris, lymphocyte, monocyte, granulocyte, CD45- event in the
lymphocyte scatter region, lymphocyte-region doublet) and, for lymphocytes, a lineage and
marker states. Fluorescence is simulated as *true* (compensated) intensity: negatives around
zero with electronic noise plus spillover spreading (so compensated data has negative values),
positives log-normal at 10^3-10^5. The raw events written to the file are
``true @ SPILLOVER`` (rounded to float32), so compensating with the file's ``$SPILLOVER``
recovers the truth. Scatter is linear on 0-262144.

:func:`population_truth` computes each population's frequency from the labels, following the
same hierarchy as the built-in gating template (``immunolab/flow/templates/trial_panel.yaml``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from immunolab.fcs.writer import write_fcs

__all__ = [
    "FLUOROCHROMES",
    "SCATTER_CHANNELS",
    "SPILLOVER",
    "FlowSample",
    "SampleSpec",
    "channel_names",
    "population_truth",
    "simulate_events",
    "spillover_keyword",
    "write_sample_fcs",
]

SCATTER_CHANNELS: tuple[str, ...] = ("FSC-A", "FSC-H", "SSC-A")
#: Fluorescence detectors ($PnN) and the marker ($PnS) each carries.
FLUOROCHROMES: tuple[tuple[str, str], ...] = (
    ("FITC-A", "CD8"),
    ("PE-A", "CD25"),
    ("PerCP-Cy5-5-A", "CD45"),
    ("PE-Cy7-A", "CD56"),
    ("APC-A", "CD127"),
    ("APC-H7-A", "CD4"),
    ("BV421-A", "CD3"),
    ("BV510-A", "HLA-DR"),
    ("BV605-A", "CD19"),
)
_FL_NAMES = [f for f, _ in FLUOROCHROMES]
_FL_INDEX = {marker: i for i, (_, marker) in enumerate(FLUOROCHROMES)}

# Spillover (row: fluorochrome, column: detector), typical of a 4-laser Fortessa panel.
_SPILL_PAIRS: dict[tuple[str, str], float] = {
    ("FITC-A", "PE-A"): 0.182,
    ("FITC-A", "PerCP-Cy5-5-A"): 0.031,
    ("PE-A", "FITC-A"): 0.012,
    ("PE-A", "PerCP-Cy5-5-A"): 0.108,
    ("PE-A", "PE-Cy7-A"): 0.024,
    ("PerCP-Cy5-5-A", "PE-Cy7-A"): 0.121,
    ("PerCP-Cy5-5-A", "APC-H7-A"): 0.011,
    ("PE-Cy7-A", "PerCP-Cy5-5-A"): 0.016,
    ("PE-Cy7-A", "PE-A"): 0.009,
    ("PE-Cy7-A", "APC-H7-A"): 0.041,
    ("APC-A", "APC-H7-A"): 0.132,
    ("APC-H7-A", "APC-A"): 0.029,
    ("APC-H7-A", "PE-Cy7-A"): 0.015,
    ("BV421-A", "BV510-A"): 0.118,
    ("BV421-A", "FITC-A"): 0.008,
    ("BV510-A", "BV605-A"): 0.061,
    ("BV510-A", "FITC-A"): 0.038,
    ("BV605-A", "PE-A"): 0.027,
    ("BV605-A", "BV510-A"): 0.010,
    ("BV605-A", "PE-Cy7-A"): 0.012,
}


def _spillover_matrix() -> np.ndarray:
    m = np.eye(len(_FL_NAMES))
    for (src, dst), value in _SPILL_PAIRS.items():
        m[_FL_NAMES.index(src), _FL_NAMES.index(dst)] = value
    return m


#: Spillover matrix in the order of :data:`FLUOROCHROMES` (rows spill into columns).
SPILLOVER: np.ndarray = _spillover_matrix()

# Electronic noise (SD, linear units) and lymphocyte autofluorescence per detector.
_NOISE_SD = np.array([45.0, 60.0, 70.0, 55.0, 50.0, 60.0, 40.0, 55.0, 50.0])
_AUTOFLUORESCENCE = np.array([25.0, 20.0, 15.0, 10.0, 8.0, 10.0, 40.0, 60.0, 30.0])
_SPREAD_K = 1.0  # variance added per unit of spilled signal (photon statistics)
_FULL_SCALE = 262144.0
_TIMESTEP_S = 0.01
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

# Event kinds.
DEBRIS, NONLEUKO, LYMPH, MONO, GRAN, DOUBLET = range(6)
# Lymphocyte lineages.
T_CELL, B_CELL, NK_CELL, OTHER_LYMPH = range(4)

# Scatter: (FSC-A median, sdlog, SSC-A median, sdlog) per singlet kind.
_SCATTER = {
    DEBRIS: (8000.0, 0.42, 5000.0, 0.55),
    NONLEUKO: (40000.0, 0.12, 9000.0, 0.22),
    LYMPH: (52000.0, 0.11, 14000.0, 0.19),
    MONO: (96000.0, 0.11, 47000.0, 0.18),
    GRAN: (112000.0, 0.09, 138000.0, 0.15),
}


@dataclass(frozen=True)
class SampleSpec:
    """Biological composition of one tube (proportions 0-1) and its acquisition size."""

    n_events: int
    specimen: str
    lymphocyte_share: float
    t_share: float
    cd4_share: float
    b_share_non_t: float
    nk_share_non_t_non_b: float
    treg_share_cd4: float
    hladr_share_cd4: float
    hladr_share_cd8: float

    @classmethod
    def from_proportions(cls, n_events: int, specimen: str, props: Mapping[str, float]) -> SampleSpec:
        """Build a spec from a truth-model proportion mapping (parameter name -> 0-1)."""
        return cls(n_events=n_events, specimen=specimen, **{k: float(v) for k, v in props.items()})


@dataclass
class FlowSample:
    """Simulated events (raw, as written to the file) and the per-event labels."""

    raw: np.ndarray  # n x channels, float32, order of channel_names()
    kind: np.ndarray
    lineage: np.ndarray
    cd4: np.ndarray
    cd8: np.ndarray
    treg: np.ndarray
    hladr: np.ndarray
    duration_s: float


def channel_names() -> tuple[list[str], list[str | None]]:
    """Return ($PnN, $PnS) of the panel: scatter, fluorescence, Time."""
    pnn = [*SCATTER_CHANNELS, *_FL_NAMES, "Time"]
    pns: list[str | None] = [None] * len(SCATTER_CHANNELS) + [m for _, m in FLUOROCHROMES] + [None]
    return pnn, pns


def spillover_keyword() -> str:
    """Return the ``$SPILLOVER`` value: n, detector names, then the matrix row by row."""
    values = ",".join(f"{v:.3f}".rstrip("0").rstrip(".") if v else "0" for v in SPILLOVER.ravel())
    return f"{len(_FL_NAMES)}," + ",".join(_FL_NAMES) + "," + values


def _kind_counts(spec: SampleSpec, rng: np.random.Generator) -> dict[int, int]:
    """Draw how many events of each kind the tube holds (multinomial over the composition)."""
    wb = spec.specimen == "whole blood"
    debris = rng.uniform(0.04, 0.12) if wb else rng.uniform(0.03, 0.08)
    mono = rng.uniform(0.06, 0.10)
    lymph = spec.lymphocyte_share
    if wb:
        gran = max(0.0, 1.0 - lymph - mono)
    else:  # Ficoll removes most granulocytes; lymphocytes and monocytes keep their ratio
        gran = rng.uniform(0.01, 0.04)
        lymph, mono = (1 - gran) * lymph / (lymph + mono), (1 - gran) * mono / (lymph + mono)
    nonleuko_share = rng.uniform(0.015, 0.05)  # of lymphocyte-region singlets
    doublet_share = rng.uniform(0.03, 0.07)  # of lymphocyte-region events
    region_singlets = lymph / (1.0 - nonleuko_share)
    weights = {
        LYMPH: lymph,
        NONLEUKO: region_singlets - lymph,
        DOUBLET: region_singlets * doublet_share / (1.0 - doublet_share),
        MONO: mono,
        GRAN: gran,
    }
    total = sum(weights.values())
    probs = {k: (1.0 - debris) * w / total for k, w in weights.items()}
    probs[DEBRIS] = debris
    kinds = sorted(probs)
    counts = rng.multinomial(spec.n_events, [probs[k] for k in kinds])
    return {k: int(c) for k, c in zip(kinds, counts, strict=True)}


def _lognormal(rng: np.random.Generator, n: int, median: float, sdlog: float) -> np.ndarray:
    return median * np.exp(rng.normal(0.0, sdlog, n))


def _positive(rng: np.random.Generator, n: int, log10_median: float, sd: float, stain: float) -> np.ndarray:
    return stain * 10.0 ** rng.normal(log10_median, sd, n)


def _singlet_scatter(rng: np.random.Generator, kind: int, n: int, gains: tuple[float, float]) -> np.ndarray:
    fsc_med, fsc_sd, ssc_med, ssc_sd = _SCATTER[kind]
    fsc_a = _lognormal(rng, n, fsc_med * gains[0], fsc_sd)
    ssc_a = _lognormal(rng, n, ssc_med * gains[1], ssc_sd)
    fsc_h = fsc_a * rng.normal(0.88, 0.025, n)
    return np.column_stack([fsc_a, fsc_h, ssc_a])


def _lymph_markers(
    rng: np.random.Generator, spec: SampleSpec, n: int, stain: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return true marker signal (n x 9, before noise) and labels of ``n`` lymphocytes."""
    sig = np.zeros((n, len(_FL_NAMES)))
    lineage = np.full(n, OTHER_LYMPH, dtype=np.int8)
    u = rng.random(n)
    is_t = u < spec.t_share
    rest = (u - spec.t_share) / max(1e-12, 1.0 - spec.t_share)
    is_b = ~is_t & (rest < spec.b_share_non_t)
    rest_nb = (rest - spec.b_share_non_t) / max(1e-12, 1.0 - spec.b_share_non_t)
    is_nk = ~is_t & ~is_b & (rest_nb < spec.nk_share_non_t_non_b)
    lineage[is_t], lineage[is_b], lineage[is_nk] = T_CELL, B_CELL, NK_CELL

    # T-cell subsets: double negative, double positive, then CD4 vs CD8 single positive.
    dn, dp = rng.uniform(0.03, 0.06), rng.uniform(0.005, 0.02)
    v = rng.random(n)
    cd4 = is_t & ((v < dp) | ((v >= dp + dn) & (rng.random(n) < spec.cd4_share)))
    cd8 = is_t & ((v < dp) | ((v >= dp + dn) & ~cd4))
    cd4_sp, dpos = cd4 & ~cd8, cd4 & cd8
    treg = cd4_sp & (rng.random(n) < spec.treg_share_cd4)
    p_dr = np.where(cd4, spec.hladr_share_cd4, spec.hladr_share_cd8)
    hladr = is_t & (rng.random(n) < p_dr)
    nkt = is_t & (rng.random(n) < 0.03)

    def put(marker: str, mask: np.ndarray, log10_median: float, sd: float) -> None:
        k = _FL_INDEX[marker]
        sig[mask, k] = _positive(rng, int(mask.sum()), log10_median, sd, float(stain[k]))

    put("CD45", np.ones(n, dtype=bool), 4.25, 0.12)
    put("CD3", is_t, 3.85, 0.15)
    put("CD4", cd4_sp, 3.75, 0.12)
    put("CD4", dpos, 3.6, 0.15)
    put("CD8", cd8 & ~dpos, 4.0, 0.18)
    put("CD8", dpos, 3.7, 0.15)
    put("CD19", is_b, 3.75, 0.15)
    nk_bright = is_nk & (rng.random(n) < 0.1)
    put("CD56", is_nk & ~nk_bright, 3.55, 0.18)
    put("CD56", nk_bright, 4.2, 0.12)
    put("CD56", nkt, 3.4, 0.2)
    put("CD8", is_nk & (rng.random(n) < 0.35), 3.1, 0.2)
    put("CD25", treg, 3.5, 0.15)
    put("CD25", cd4 & ~treg & (rng.random(n) < 0.2), 2.6, 0.2)  # activated conventional: CD25 dim
    put("CD127", is_t & ~treg, 3.25, 0.16)
    put("CD127", treg, 2.2, 0.2)
    put("HLA-DR", hladr, 3.35, 0.2)
    put("HLA-DR", is_b, 3.9, 0.15)
    put("HLA-DR", (lineage == OTHER_LYMPH) & (rng.random(n) < 0.3), 3.5, 0.2)
    labels = {"lineage": lineage, "cd4": cd4, "cd8": cd8, "treg": treg, "hladr": hladr}
    return sig, labels


def _myeloid_markers(rng: np.random.Generator, kind: int, n: int, stain: np.ndarray) -> np.ndarray:
    sig = np.zeros((n, len(_FL_NAMES)))

    def put(marker: str, log10_median: float, sd: float) -> None:
        k = _FL_INDEX[marker]
        sig[:, k] = _positive(rng, n, log10_median, sd, float(stain[k]))

    if kind == MONO:
        put("CD45", 4.05, 0.12)
        put("CD4", 3.0, 0.15)
        put("HLA-DR", 3.8, 0.2)
    elif kind == GRAN:
        put("CD45", 3.55, 0.15)
    return sig


def simulate_events(spec: SampleSpec, rng: np.random.Generator) -> FlowSample:
    """Simulate one tube: labelled events with raw (spilled) fluorescence, scatter and Time."""
    counts = _kind_counts(spec, rng)
    gains = (rng.uniform(0.95, 1.05), rng.uniform(0.93, 1.07))
    stain = 10.0 ** rng.normal(0.0, 0.04, len(_FL_NAMES))
    n_fl = len(_FL_NAMES)
    blocks_scatter, blocks_signal, blocks_kind = [], [], []
    lab_lineage, lab_cd4, lab_cd8, lab_treg, lab_hladr = [], [], [], [], []

    def add(kind: int, scatter: np.ndarray, signal: np.ndarray, labels: dict[str, np.ndarray] | None) -> None:
        n = scatter.shape[0]
        blocks_scatter.append(scatter)
        blocks_signal.append(signal)
        blocks_kind.append(np.full(n, kind, dtype=np.int8))
        none = np.zeros(n, dtype=bool)
        lab_lineage.append(labels["lineage"] if labels else np.full(n, -1, dtype=np.int8))
        lab_cd4.append(labels["cd4"] if labels else none)
        lab_cd8.append(labels["cd8"] if labels else none)
        lab_treg.append(labels["treg"] if labels else none)
        lab_hladr.append(labels["hladr"] if labels else none)

    n_lymph = counts[LYMPH]
    sig, labels = _lymph_markers(rng, spec, n_lymph, stain)
    add(LYMPH, _singlet_scatter(rng, LYMPH, n_lymph, gains), sig, labels)
    for kind in (DEBRIS, NONLEUKO, MONO, GRAN):
        n = counts[kind]
        add(kind, _singlet_scatter(rng, kind, n, gains), _myeloid_markers(rng, kind, n, stain), None)

    # Lymphocyte-region doublets: two region singlets stuck together (wider, not taller pulse).
    n_dbl = counts[DOUBLET]
    region = [i for i, k in enumerate(blocks_kind) if len(k) and k[0] in (LYMPH, NONLEUKO)]
    pool_scatter = np.concatenate([blocks_scatter[i] for i in region] or [np.zeros((0, 3))])
    pool_signal = np.concatenate([blocks_signal[i] for i in region] or [np.zeros((0, n_fl))])
    if n_dbl and len(pool_scatter) >= 2:
        i, j = rng.integers(0, len(pool_scatter), (2, n_dbl))
        pair = pool_scatter[i] + pool_scatter[j]
        scatter = np.column_stack([0.66 * pair[:, 0], 0.42 * pair[:, 1], 0.66 * pair[:, 2]])
        add(DOUBLET, scatter, pool_signal[i] + pool_signal[j], None)
    else:
        add(DOUBLET, np.zeros((0, 3)), np.zeros((0, n_fl)), None)

    scatter = np.concatenate(blocks_scatter)
    signal = np.concatenate(blocks_signal)
    kind_arr = np.concatenate(blocks_kind)
    n = len(kind_arr)

    # True fluorescence: signal + autofluorescence + electronic noise + spillover spreading.
    af = np.where(np.isin(kind_arr, (MONO, GRAN))[:, None], 3.0, 1.0) * _AUTOFLUORESCENCE
    spread_var = _SPREAD_K * (np.clip(signal, 0, None) @ (SPILLOVER - np.eye(n_fl)))
    noise = rng.normal(0.0, 1.0, (n, n_fl)) * np.sqrt(_NOISE_SD**2 + spread_var)
    true_fl = np.clip(signal + af + noise, -_FULL_SCALE / 2, 150000.0)
    raw_fl = true_fl @ SPILLOVER
    scatter = np.clip(scatter, 0.0, _FULL_SCALE - 1)

    order = rng.permutation(n)
    rate = rng.uniform(1500.0, 3000.0)  # events per second
    seconds = np.cumsum(rng.exponential(1.0 / rate, n))
    events = np.column_stack([scatter[order], raw_fl[order], seconds / _TIMESTEP_S]).astype(np.float32)
    return FlowSample(
        raw=events,
        kind=kind_arr[order],
        lineage=np.concatenate(lab_lineage)[order],
        cd4=np.concatenate(lab_cd4)[order],
        cd8=np.concatenate(lab_cd8)[order],
        treg=np.concatenate(lab_treg)[order],
        hladr=np.concatenate(lab_hladr)[order],
        duration_s=float(seconds[-1]) if n else 0.0,
    )


def population_truth(sample: FlowSample) -> dict[str, tuple[str, int, int]]:
    """Return ``{population: (gate_path, count, parent_count)}`` from the event labels.

    Populations follow the trial_panel hierarchy: Lymphocytes (scatter region: lymphocytes,
    CD45- events and doublets there) > Singlets > CD45+ > T cells (> CD4+ T > Treg, HLA-DR+
    CD4 T; > CD8+ T > HLA-DR+ CD8 T), B cells (CD3-CD19+), NK cells (CD3-CD56+).
    """
    kind = sample.kind
    region = np.isin(kind, (LYMPH, NONLEUKO, DOUBLET))
    singlets = np.isin(kind, (LYMPH, NONLEUKO))
    cd45 = kind == LYMPH
    t = cd45 & (sample.lineage == T_CELL)
    cd4 = t & sample.cd4
    cd8 = t & sample.cd8
    root = "/Lymphocytes/Singlets/CD45+"
    rows = [
        ("Lymphocytes", "/Lymphocytes", region, np.ones_like(region)),
        ("Singlets", "/Lymphocytes/Singlets", singlets, region),
        ("CD45+", root, cd45, singlets),
        ("T cells", f"{root}/T cells", t, cd45),
        ("CD4+ T", f"{root}/T cells/CD4+ T", cd4, t),
        ("CD8+ T", f"{root}/T cells/CD8+ T", cd8, t),
        ("B cells", f"{root}/B cells", cd45 & (sample.lineage == B_CELL), cd45),
        ("NK cells", f"{root}/NK cells", cd45 & (sample.lineage == NK_CELL), cd45),
        ("Treg", f"{root}/T cells/CD4+ T/Treg", cd4 & sample.treg, cd4),
        ("HLA-DR+ CD4 T", f"{root}/T cells/CD4+ T/HLA-DR+ CD4 T", cd4 & sample.hladr, cd4),
        ("HLA-DR+ CD8 T", f"{root}/T cells/CD8+ T/HLA-DR+ CD8 T", cd8 & sample.hladr, cd8),
    ]
    return {name: (path, int(m.sum()), int(p.sum())) for name, path, m, p in rows}


def write_sample_fcs(
    path: Path,
    sample: FlowSample,
    *,
    acquisition: dt.datetime,
    patient_name: str,
    operator: str,
    file_label: str,
) -> Path:
    """Write ``sample`` as FCS 3.1 (float32) with realistic, fake acquisition keywords.

    ``$DATE``/``$BTIM``/``$ETIM`` come from ``acquisition``; ``$SRC`` (``patient_name``),
    ``$OP`` and ``$FIL`` are planted identifying text that must never reach the store.
    """
    pnn, pns = channel_names()
    end = acquisition + dt.timedelta(seconds=round(sample.duration_s))
    pnr = [_FULL_SCALE] * (len(pnn) - 1) + [float(max(1024, int(sample.raw[:, -1].max()) + 1 if len(sample.raw) else 1024))]
    keywords = {
        "$CYT": "LSRFortessa",
        "$CYTSN": "R6580401234",
        "$DATE": f"{acquisition.day:02d}-{_MONTHS[acquisition.month - 1]}-{acquisition.year}",
        "$BTIM": acquisition.strftime("%H:%M:%S"),
        "$ETIM": end.strftime("%H:%M:%S"),
        "$FIL": file_label,
        "$SRC": patient_name,
        "$OP": operator,
        "$INST": "St. Example University Hospital Flow Core",
        "$TIMESTEP": str(_TIMESTEP_S),
        "$SPILLOVER": spillover_keyword(),
        "CREATOR": "BD FACSDiva Software Version 8.0.1",
        "TUBE NAME": "TBNK-Treg",
        "EXPERIMENT NAME": f"MSC-COVID {patient_name} follow-up",
        "APPLY COMPENSATION": "TRUE",
        "FSC ASF": "0.78",
    }
    for i, name in enumerate(pnn, start=1):
        keywords[f"P{i}DISPLAY"] = "LIN" if name in (*SCATTER_CHANNELS, "Time") else "LOG"
        if name != "Time":
            keywords[f"$P{i}V"] = str(430 if name.startswith(("FSC", "SSC")) else 500)
    return write_fcs(path, sample.raw, pnn, pns=pns, pnr=pnr, keywords=keywords)
