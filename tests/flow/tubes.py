"""Simulated trial-panel tubes written as FCS files, for tests that need a file to gate or ingest.

The events come from the demo's simulator (:func:`immunolab.demo.flow_sim.simulate_events`) and
are written by :func:`immunolab.fcs.writer.write_fcs`, with or without the ``$SPILLOVER``
keyword, so a test chooses exactly the fact it is about (a missing matrix, too few events).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from immunolab.demo.flow_sim import SampleSpec, channel_names, simulate_events, spillover_keyword
from immunolab.fcs.writer import write_fcs

TYPICAL = {
    "lymphocyte_share": 0.15, "t_share": 0.6, "cd4_share": 0.5, "b_share_non_t": 0.3,
    "nk_share_non_t_non_b": 0.7, "treg_share_cd4": 0.06, "hladr_share_cd4": 0.1, "hladr_share_cd8": 0.25,
}
FULL_SCALE = 262144.0


def write_tube(path: Path, *, n_events: int = 20000, spillover: bool = True, seed: int = 1) -> Path:
    """Write a simulated 12-channel trial-panel tube to ``path``; ``spillover=False`` leaves out its matrix."""
    sample = simulate_events(SampleSpec.from_proportions(n_events, "PBMC", TYPICAL), np.random.default_rng(seed))
    pnn, pns = channel_names()
    time_range = float(max(1024, int(sample.raw[:, -1].max()) + 1))
    return write_fcs(path, sample.raw, pnn, pns=pns, pnr=[FULL_SCALE] * (len(pnn) - 1) + [time_range],
                     keywords={"$SPILLOVER": spillover_keyword()} if spillover else {})


def write_manifest(folder: Path, tubes: dict[int, Path]) -> tuple[Path, Path]:
    """Write a manifest (visit day -> tube of patient 001, MSC, panel TBNK-Treg) and its subjects file."""
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "sample_id", "patient_id", "visit_day", "specimen", "panel"])
        for day, tube in tubes.items():
            w.writerow([tube.name, f"001-D{day:03d}-PB", "001", str(day), "PBMC", "TBNK-Treg"])
    subjects = folder / "subjects.csv"
    subjects.write_text("patient_id,arm,age,sex\n001,MSC,50,F\n")
    return manifest, subjects
