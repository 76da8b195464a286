"""Synthetic TBNK-Treg tubes for the performance tests (simulated by the demo's flow model)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

PROPORTIONS = {
    "lymphocyte_share": 0.55, "t_share": 0.62, "cd4_share": 0.58, "b_share_non_t": 0.35,
    "nk_share_non_t_non_b": 0.55, "treg_share_cd4": 0.06, "hladr_share_cd4": 0.12, "hladr_share_cd8": 0.2,
}


def write_tube(path: Path, n_events: int, *, seed: int, gains: Mapping[str, float] | None = None,
               timestep: float | None = None) -> Path:
    """Write one simulated tube as FCS 3.1 float32.

    ``gains`` ($PnN -> $PnG) stores those channels multiplied by the gain, as an instrument with
    that amplifier gain would; ``timestep`` adds ``$TIMESTEP``. Either makes the reader's
    preprocessing non-trivial.
    """
    from immunolab.demo.flow_sim import (
        SampleSpec,
        channel_names,
        simulate_events,
        spillover_keyword,
    )
    from immunolab.fcs.writer import write_fcs

    sample = simulate_events(SampleSpec.from_proportions(n_events, "PBMC", PROPORTIONS), np.random.default_rng(seed))
    pnn, pns = channel_names()
    raw = sample.raw.astype(np.float64)
    keywords = {"$CYT": "LSRFortessa", "$SPILLOVER": spillover_keyword()}
    for name, gain in (gains or {}).items():
        j = pnn.index(name)
        raw[:, j] *= gain
        keywords[f"$P{j + 1}G"] = repr(gain)
    if timestep is not None:
        keywords["$TIMESTEP"] = repr(timestep)
    pnr = [262144.0] * (len(pnn) - 1) + [float(max(1024, int(raw[:, -1].max()) + 1))]
    write_fcs(path, raw.astype(np.float32), pnn, pns=pns, keywords=keywords, pnr=pnr)
    return path


def write_batch(folder: Path, n_files: int, n_events: int) -> tuple[Path, list[Path]]:
    """Write ``n_files`` distinct tubes of patient 001..020 with manifest.csv and subjects.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["file,sample_id,patient_id,visit_day,specimen,panel"]
    files = []
    for i in range(n_files):
        pid, day = f"{i % 20 + 1:03d}", (0, 3, 6, 10, 14, 28, 90, 180)[(i // 20) % 8]
        name = f"tube_{i:03d}.fcs"
        files.append(write_tube(folder / name, n_events, seed=500 + i))
        rows.append(f"{name},{pid}-D{day:03d}-T{i // 160},{pid},{day},PBMC,TBNK-Treg")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    subjects = ["patient_id,arm,site,age,sex"] + [
        f"{p:03d},{'MSC' if p % 2 else 'control'},A,{30 + p},F" for p in range(1, 21)
    ]
    (folder / "subjects.csv").write_text("\n".join(subjects) + "\n")
    return folder / "manifest.csv", files
