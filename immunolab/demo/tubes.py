"""Write simulated TBNK-Treg tubes outside a full trial (benchmarks, performance tests, batches).

Uses the demo trial's event model (:mod:`immunolab.demo.flow_sim`) with one typical composition.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["TYPICAL_PROPORTIONS", "write_tube", "write_tube_batch"]

TYPICAL_PROPORTIONS = {
    "lymphocyte_share": 0.55, "t_share": 0.62, "cd4_share": 0.58, "b_share_non_t": 0.35,
    "nk_share_non_t_non_b": 0.55, "treg_share_cd4": 0.06, "hladr_share_cd4": 0.12, "hladr_share_cd8": 0.2,
}
VISITS = (0, 3, 6, 10, 14, 28, 90, 180)


def write_tube(path: Path, n_events: int, *, seed: int, gains: Mapping[str, float] | None = None,
               timestep: float | None = None) -> Path:
    """Write one simulated tube of ``n_events`` events as FCS 3.1 float32.

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

    spec = SampleSpec.from_proportions(n_events, "PBMC", TYPICAL_PROPORTIONS)
    sample = simulate_events(spec, np.random.default_rng(seed))
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


def write_tube_batch(folder: Path, n_files: int, n_events: int, *, seed: int = 500) -> tuple[Path, list[Path]]:
    """Write (once) ``n_files`` distinct tubes of patients 001-020 with manifest.csv and subjects.csv.

    Returns (manifest path, tube paths); tubes already present are reused.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["file,sample_id,patient_id,visit_day,specimen,panel"]
    files = []
    for i in range(n_files):
        pid, day = f"{i % 20 + 1:03d}", VISITS[(i // 20) % len(VISITS)]
        path = folder / f"tube_{i:04d}.fcs"
        if not path.exists():
            write_tube(path, n_events, seed=seed + i)
        files.append(path)
        rows.append(f"{path.name},{pid}-D{day:03d}-T{i // 160},{pid},{day},PBMC,TBNK-Treg")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    subjects = ["patient_id,arm,site,age,sex"] + [
        f"{p:03d},{'MSC' if p % 2 else 'control'},A,{30 + p},F" for p in range(1, 21)
    ]
    (folder / "subjects.csv").write_text("\n".join(subjects) + "\n")
    return folder / "manifest.csv", files
