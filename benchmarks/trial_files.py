"""Build benchmark inputs: many distinct panel FCS files with a manifest, and one 1M-event file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

VISITS = (0, 3, 6, 10, 14, 28, 90, 180)
PROPORTIONS = {
    "lymphocyte_share": 0.55, "t_share": 0.62, "cd4_share": 0.58, "b_share_non_t": 0.35,
    "nk_share_non_t_non_b": 0.55, "treg_share_cd4": 0.06, "hladr_share_cd4": 0.12, "hladr_share_cd8": 0.2,
}


def write_panel_file(path: Path, n_events: int, seed: int) -> Path:
    """Simulate one TBNK-Treg tube of ``n_events`` events and write it as FCS 3.1."""
    from immunolab.demo.flow_sim import (
        SampleSpec,
        channel_names,
        simulate_events,
        spillover_keyword,
    )
    from immunolab.fcs.writer import write_fcs

    sample = simulate_events(SampleSpec.from_proportions(n_events, "PBMC", PROPORTIONS), np.random.default_rng(seed))
    pnn, pns = channel_names()
    write_fcs(path, sample.raw, pnn, pns=pns, keywords={"$CYT": "LSRFortessa", "$SPILLOVER": spillover_keyword()},
              pnr=[262144.0] * (len(pnn) - 1) + [float(max(1024, int(sample.raw[:, -1].max()) + 1))])
    return path


def make_batch(folder: Path, n_files: int, n_events: int) -> tuple[Path, list[Path]]:
    """Write (once) ``n_files`` distinct tubes, subjects.csv and manifest.csv; return (manifest, files)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    rows = ["file,sample_id,patient_id,visit_day,specimen,panel"]
    for i in range(n_files):
        pid, day, tube = f"{i % 20 + 1:03d}", VISITS[(i // 20) % len(VISITS)], i // 160
        name = f"tube_{i:04d}.fcs"
        path = folder / name
        if not path.exists():
            write_panel_file(path, n_events, seed=1000 + i)
        files.append(path)
        rows.append(f"{name},{pid}-D{day:03d}-T{tube},{pid},{day},PBMC,TBNK-Treg")
    subjects = ["patient_id,arm,site,age,sex"] + [
        f"{p:03d},{'MSC' if p % 2 else 'control'},A,{30 + p},F" for p in range(1, 21)
    ]
    (folder / "subjects.csv").write_text("\n".join(subjects) + "\n")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder / "manifest.csv", files
