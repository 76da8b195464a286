"""Simulate the demo trial's bead-array run: LEGENDplex Human Inflammation 13-plex wells as FCS files.

One run = one 96-well plate: standards C0..C7 in duplicate (16 wells, A1..H2), then serum
samples in duplicate at a 2-fold dilution, whole patients at a time, arms interleaved (up to 40
samples). Every well is one FCS 3.1 file (float32) named ``LP-INFL-R01-<well>.fcs``; what a
well holds comes from the manifest, never from the file name.

Truth (pg/mL in serum): for the analytes the Luminex plates also measure, the value passed in
``known`` (so one serum sample has one IL-6 whatever the platform); for the others a per-analyte
trajectory ``log c = log baseline + b_patient + delta[arm] (1 - exp(-day / tau)) + e_visit``.

Events per well: two scatter groups (A small, B large beads), 6 + 7 bead populations on an
APC ladder (the kit's bead ids in intensity order), reporter PE = a 5PL of the in-well
concentration with per-event log-normal spread, plus debris, doublets and a few events at the
scatter ceiling. The reporter curves, ladder, noise and scatter positions are this module's own
constants; the classifier is validated on an independent simulator in the tests, not on this.

Manifest (one row per well, columns of the demo manifest plus a proposed bead-array set)::

    file, sample_id, patient_id, visit_day, specimen, panel,
    assay (bead_array), kit, run, well, role (standard|sample), standard_level, replicate, dilution,
    aliquot_of (the serum sample's id; each well's sample_id is its own, ``<run>-<well>``)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from immunolab.fcs.writer import build_fcs_bytes

__all__ = ["ANALYTES", "BEAD_MANIFEST_COLUMNS", "KIT_ID", "PANEL", "RUN", "BeadAnalyte", "simulate_bead_run"]

KIT_ID = "legendplex_hu_inflammation_13plex"
PANEL = "LEGENDplex-Inflammation-13"
RUN = "BEADRUN-01"
SAMPLE_DILUTION = 2.0
MAX_SAMPLES = 40
BEAD_MANIFEST_COLUMNS = [
    "file", "sample_id", "patient_id", "visit_day", "specimen", "panel",
    "assay", "kit", "run", "well", "role", "standard_level", "replicate", "dilution", "aliquot_of",
]
_ROWS = "ABCDEFGH"
_CHANNELS = ["FSC-A", "FSC-H", "SSC-A", "FITC-A", "PE-A", "APC-A", "Time"]
_STD_TOP = 10000.0
_STD_STEP = 4.0
_N_LEVELS = 7


@dataclass(frozen=True)
class BeadAnalyte:
    """One bead of the panel: analyte, group, APC level (ln), reporter 5PL and serum trajectory."""

    analyte: str
    group: str
    apc_log: float
    bottom: float
    top: float
    c50: float
    slope: float
    asym: float
    baseline: float
    delta: tuple[float, float]  # (MSC, control), natural-log change at plateau
    tau: tuple[float, float]

    def mfi(self, conc: np.ndarray) -> np.ndarray:
        """Return the expected reporter MFI at in-well concentrations (pg/mL)."""
        x = np.maximum(np.asarray(conc, dtype=float), 0.0)
        with np.errstate(divide="ignore"):
            frac = 1.0 / np.power(1.0 + np.power(self.c50 / np.where(x > 0, x, np.nan), self.slope), self.asym)
        return self.bottom + (self.top - self.bottom) * np.nan_to_num(frac, nan=0.0)


# kit order (legendplex_hu_inflammation_13plex.yaml): A4 A5 A6 A7 A8 A10 | B2 B3 B4 B5 B6 B7 B9
ANALYTES: tuple[BeadAnalyte, ...] = (
    BeadAnalyte("IL-1b", "A", 8.05, 260.0, 410000.0, 2600.0, 1.05, 0.85, 6.0, (math.log(0.5), math.log(0.5)), (10.0, 10.0)),
    BeadAnalyte("IFN-a2", "A", 8.65, 330.0, 380000.0, 3100.0, 1.00, 0.90, 8.0, (math.log(0.4), math.log(0.6)), (6.0, 10.0)),
    BeadAnalyte("IFN-g", "A", 9.25, 300.0, 450000.0, 2400.0, 1.10, 0.80, 14.0, (math.log(0.25), math.log(0.55)), (5.0, 14.0)),
    BeadAnalyte("TNF-a", "A", 9.85, 280.0, 400000.0, 2800.0, 1.05, 0.85, 16.0, (math.log(0.30), math.log(0.65)), (5.0, 15.0)),
    BeadAnalyte("MCP-1", "A", 10.35, 350.0, 360000.0, 3300.0, 0.95, 0.90, 420.0, (math.log(0.5), math.log(0.5)), (8.0, 8.0)),
    BeadAnalyte("IL-6", "A", 10.80, 300.0, 430000.0, 2500.0, 1.10, 0.85, 45.0, (math.log(0.12), math.log(0.45)), (4.0, 14.0)),
    BeadAnalyte("IL-8", "B", 6.60, 310.0, 420000.0, 2700.0, 1.05, 0.85, 35.0, (math.log(0.6), math.log(0.6)), (12.0, 12.0)),
    BeadAnalyte("IL-10", "B", 7.55, 290.0, 390000.0, 2900.0, 1.00, 0.90, 9.0, (math.log(2.6), math.log(0.8)), (3.0, 10.0)),
    BeadAnalyte("IL-12p70", "B", 8.40, 240.0, 470000.0, 2300.0, 1.15, 0.80, 4.0, (math.log(0.7), math.log(0.7)), (9.0, 9.0)),
    BeadAnalyte("IL-17A", "B", 9.15, 270.0, 380000.0, 3000.0, 1.00, 0.90, 7.0, (math.log(0.8), math.log(0.8)), (7.0, 7.0)),
    BeadAnalyte("IL-18", "B", 9.85, 360.0, 350000.0, 3500.0, 0.95, 0.95, 260.0, (math.log(0.55), math.log(0.75)), (6.0, 12.0)),
    BeadAnalyte("IL-23", "B", 10.50, 320.0, 400000.0, 2600.0, 1.05, 0.85, 12.0, (math.log(0.9), math.log(0.9)), (10.0, 10.0)),
    BeadAnalyte("IL-33", "B", 11.35, 380.0, 330000.0, 9000.0, 1.00, 0.90, 30.0, (math.log(0.7), math.log(0.7)), (8.0, 8.0)),
)
_TOP = {"IL-33": 50000.0}
_PATIENT_SD = 0.45
_VISIT_SD = 0.2
_GROUPS = {"A": (10.45, 9.55, 0.035, 0.09), "B": (11.05, 10.35, 0.035, 0.10)}  # ln FSC, ln SSC, sd, sd
_BEADS_PER_ANALYTE = (260, 340)
_EVENT_SPREAD = 0.16  # per-event log-normal spread of the reporter
_FAKE_SOURCES = ("DOE^JANE", "ROE^JOHN", "POE^ALEX", "LOE^SAM", "MOE^KIM")


def _standard_conc(a: BeadAnalyte, level: int) -> float:
    if level == 0:
        return 0.0
    return _TOP.get(a.analyte, _STD_TOP) / _STD_STEP ** (_N_LEVELS - level)


def _layout(samples: pd.DataFrame) -> list[tuple[str, int | None, str | None]]:
    """Return (role, standard level, sample name) per well: standards, then chosen samples, in duplicate."""
    wells: list[tuple[str, int | None, str | None]] = []
    for level in range(_N_LEVELS + 1):
        wells += [("standard", level, None)] * 2
    by_arm: dict[str, list[str]] = {}
    for pid, arm in samples.groupby("patient_id", sort=True)["arm"].first().items():
        by_arm.setdefault(str(arm), []).append(str(pid))
    chosen: list[str] = []
    arms = sorted(by_arm)
    while any(by_arm.values()):
        for arm in arms:
            if not by_arm[arm]:
                continue
            pid = by_arm[arm].pop(0)
            names = samples.loc[samples["patient_id"] == pid].sort_values("visit_day")["sample_name"].tolist()
            if len(chosen) + len(names) <= MAX_SAMPLES:
                chosen += names
    for name in chosen:
        wells += [("sample", None, name)] * 2
    return wells


def _truth(samples: pd.DataFrame, known: pd.DataFrame | None, rng: np.random.Generator) -> dict[tuple[str, str], float]:
    """Return serum concentration (pg/mL) per (sample name, analyte)."""
    given: dict[tuple[str, int, str], float] = {}
    if known is not None and len(known):
        for pid, day, feat, val in zip(known["patient_id"], known["visit_day"], known["feature"], known["value"], strict=True):
            given[(str(pid), int(day), str(feat))] = float(val)
    effects = {(str(p), a.analyte): float(rng.normal(0.0, _PATIENT_SD)) for p in sorted(samples["patient_id"].unique()) for a in ANALYTES}
    out: dict[tuple[str, str], float] = {}
    for pid, arm, day, name in zip(samples["patient_id"], samples["arm"], samples["visit_day"], samples["sample_name"], strict=True):
        for a in ANALYTES:
            key = (str(pid), int(day), a.analyte)
            noise = float(rng.normal(0.0, _VISIT_SD))
            if key in given:
                out[(str(name), a.analyte)] = given[key]
                continue
            k = 0 if arm == "MSC" else 1
            log_c = math.log(a.baseline) + a.delta[k] * (1.0 - math.exp(-int(day) / a.tau[k])) + effects[(str(pid), a.analyte)]
            out[(str(name), a.analyte)] = math.exp(log_c + noise)
    return out


def _well_events(conc: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """Return one well's events (n x channels) for in-well concentrations per analyte."""
    blocks = []
    for a in ANALYTES:
        n = int(rng.integers(*_BEADS_PER_ANALYTE))
        lf, ls, sf, ss = _GROUPS[a.group]
        fsc = np.exp(rng.normal(lf, sf, n))
        ssc = np.exp(rng.normal(ls, ss, n) + 0.6 * (np.log(fsc) - lf))
        pe = float(a.mfi(np.array([conc[a.analyte]]))[0]) * np.exp(rng.normal(0.0, _EVENT_SPREAD, n))
        apc = np.exp(rng.normal(a.apc_log, 0.045, n))
        blocks.append(np.column_stack([fsc, ssc, pe, apc]))
    beads = np.vstack(blocks)
    n_debris = int(len(beads) * rng.uniform(0.06, 0.12))
    debris = np.column_stack([
        np.exp(rng.normal(8.6, 0.6, n_debris)), np.exp(rng.normal(7.9, 0.7, n_debris)),
        np.exp(rng.normal(4.5, 1.2, n_debris)), np.exp(rng.normal(5.0, 1.5, n_debris)),
    ])
    n_dbl = int(len(beads) * rng.uniform(0.03, 0.06))
    i, j = rng.integers(0, len(beads), n_dbl), rng.integers(0, len(beads), n_dbl)
    doublets = beads[i] + beads[j]
    ev = np.vstack([beads, debris, doublets])
    ev = ev[rng.permutation(len(ev))]
    fsc, ssc, pe, apc = ev.T
    fitc = np.exp(rng.normal(5.2, 0.5, len(ev))) + 0.002 * pe  # autofluorescence + a little PE spill
    pe = pe + rng.normal(0.0, 25.0, len(ev))
    ceiling = 262143.0
    out = np.column_stack([
        np.minimum(fsc, ceiling), np.minimum(fsc * 0.82, ceiling), np.minimum(ssc, ceiling),
        fitc, np.minimum(pe, 1.0e6), np.minimum(apc, 1.0e6), np.sort(rng.uniform(0.0, 600.0, len(ev))),
    ])
    return out.astype(np.float32)


def _write(path: Path, events: np.ndarray, keywords: dict[str, str]) -> None:
    blob = build_fcs_bytes(events, _CHANNELS, pns=[None, None, None, "FITC", "PE", "APC", None],
                           pnr=[262144.0, 262144.0, 262144.0, 1.0e6, 1.0e6, 1.0e6, 1024.0], keywords=keywords)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(blob)
    tmp.replace(path)


def simulate_bead_run(
    samples: pd.DataFrame, out_dir: Path, rng: np.random.Generator, *, known: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write the run's FCS wells into ``out_dir``; return (manifest, truth).

    ``samples`` has ``patient_id, arm, visit_day, sample_name`` (:func:`immunolab.demo.cohort.serum_samples`);
    ``known`` is optional truth in the demo's long form (``patient_id, visit_day, feature, value``)
    whose analytes keep their values here. The manifest has :data:`BEAD_MANIFEST_COLUMNS`; the
    truth has one row per sample in the run x analyte (assay ``cytokine_bead_array``,
    measure ``concentration``, pg/mL in serum).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples = samples.assign(patient_id=samples["patient_id"].astype(str), sample_name=samples["sample_name"].astype(str))
    truth_conc = _truth(samples, known, rng)
    keyed = samples.set_index("sample_name")
    rows: list[dict[str, object]] = []
    for index, (role, level, name) in enumerate(_layout(samples)):
        well = f"{_ROWS[index % 8]}{index // 8 + 1}"
        replicate = 1 if index % 2 == 0 else 2
        if role == "standard":
            assert level is not None
            conc = {a.analyte: _standard_conc(a, level) for a in ANALYTES}
        else:
            conc = {a.analyte: truth_conc[(str(name), a.analyte)] / SAMPLE_DILUTION for a in ANALYTES}
        fname = f"LP-INFL-R01-{well}.fcs"
        keywords = {"$CYT": "Demo cytometer", "$SYS": "immunolab demo", "$FIL": fname, "$DATE": "02-DEC-2020",
                    "$SRC": _FAKE_SOURCES[int(rng.integers(len(_FAKE_SOURCES)))] if role == "sample" else "STANDARD"}
        _write(out / fname, _well_events(conc, rng), keywords)
        sample = keyed.loc[name] if name is not None else None
        rows.append({
            "file": fname, "sample_id": f"{RUN}-{well}", "aliquot_of": name,
            "patient_id": None if sample is None else str(sample["patient_id"]),
            "visit_day": None if sample is None else int(sample["visit_day"]),
            "specimen": "serum" if sample is not None else None, "panel": PANEL, "assay": "bead_array",
            "kit": KIT_ID, "run": RUN, "well": well, "role": role, "standard_level": level,
            "replicate": replicate, "dilution": SAMPLE_DILUTION if role == "sample" else 1.0,
        })
    manifest = pd.DataFrame(rows, columns=BEAD_MANIFEST_COLUMNS)
    manifest["visit_day"] = manifest["visit_day"].astype("Int64")
    manifest["standard_level"] = manifest["standard_level"].astype("Int64")
    in_run = sorted({str(n) for n in manifest.loc[manifest["role"] == "sample", "aliquot_of"]})
    who = {str(n): (str(p), int(d)) for n, p, d in zip(samples["sample_name"], samples["patient_id"], samples["visit_day"], strict=True)}
    truth = pd.DataFrame(
        [
            {"patient_id": who[n][0], "visit_day": who[n][1],
             "assay": "cytokine_bead_array", "feature": a.analyte, "measure": "concentration",
             "value": truth_conc[(n, a.analyte)], "unit": "pg/mL"}
            for n in in_run for a in ANALYTES
        ]
    )
    return manifest, truth
