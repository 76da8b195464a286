"""Generate the whole demo trial into a folder: subjects, manifest, FCS files, plates, truth.

Layout written under ``out_dir``::

    subjects.csv       patient_id, arm, site, age, sex, day0_date (fake dates), severity (baseline WHO score)
    manifest.csv       file, sample_id, patient_id, visit_day, specimen, panel (flow + plates), and
                       assay, kit, run, well, role, standard_level, replicate, dilution (bead wells)
    truth.csv          every simulated value, long: patient_id, visit_day, assay, feature,
                       measure, value, unit
    truth_model.json   the arm x time model: which features carry an effect and which are null
    flow/*.fcs         one FCS 3.1 file per attended visit (TBNK-Treg panel)
    plates/*           multiplex cytokine plate exports (when immunolab.demo.plate_sim exists)
    beads/*.fcs        one LEGENDplex bead-array run: one FCS file per well (immunolab.demo.bead_sim)
    clinical/*         hospital labs, adverse events, deaths/discharges (plain CSV) and the same as
                       SDTM in clinical/sdtm/ (immunolab.demo.clinical_sim)
    generation.json    parameters of the run; written last, it marks the trial as complete
    flow_big/          only with ``big_events``: a few 1,000,000-event files + their manifest/truth

Everything derives from ``seed`` through independent random streams (cohort, model, one per
FCS file, plates), so the same seed gives byte-identical files and no wall-clock time is used.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from immunolab.demo.bead_sim import BEAD_MANIFEST_COLUMNS, simulate_bead_run
from immunolab.demo.clinical_sim import draw_outcomes, generate_clinical, visits_alive
from immunolab.demo.cohort import (
    PANEL,
    Visit,
    draw_subjects,
    draw_visits,
    serum_samples,
    subjects_frame,
)
from immunolab.demo.flow_sim import (
    FlowSample,
    SampleSpec,
    population_truth,
    simulate_events,
    write_sample_fcs,
)
from immunolab.demo.truth_model import TruthModel, draw_truth_model

__all__ = [
    "DEFAULT_SEED",
    "MANIFEST_COLUMNS",
    "TRUTH_COLUMNS",
    "TrialSummary",
    "generate_trial",
    "is_complete",
]

DEFAULT_SEED = 20200301
BIG_EVENTS = 1_000_000
GENERATOR_VERSION = 2
MANIFEST_COLUMNS = ["file", "sample_id", "patient_id", "visit_day", "specimen", "panel"]
#: every manifest column the demo writes (the bead wells use the extra ones)
ALL_MANIFEST_COLUMNS = list(dict.fromkeys([*MANIFEST_COLUMNS, *BEAD_MANIFEST_COLUMNS]))
TRUTH_COLUMNS = ["patient_id", "visit_day", "assay", "feature", "measure", "value", "unit"]
_STAMP = "generation.json"
_PLATE_MODULE = "immunolab.demo.plate_sim"

# Random streams (first entropy word after the seed).
_STREAM_COHORT, _STREAM_MODEL, _STREAM_FLOW, _STREAM_PLATES, _STREAM_BIG, _STREAM_NAMES, _STREAM_BEADS = range(7)

_SURNAMES = ("DOE", "ROE", "MOE", "POE", "LOE", "KOE", "VOE", "ZOE", "HOE", "NOE")
_GIVEN = ("JANE", "JOHN", "ALEX", "SAM", "ROBIN", "KIM", "LEE", "PAT", "CHRIS", "TERRY")
_OPERATORS = ("A. Tech", "B. Analyst", "C. Scientist")


@dataclass(frozen=True)
class TrialSummary:
    """What :func:`generate_trial` wrote (paths are inside ``out_dir``)."""

    out_dir: Path
    n_subjects: int
    n_fcs: int
    n_plate_files: int
    n_truth_rows: int
    skipped: bool
    plates_note: str | None
    n_bead_files: int = 0
    clinical_files: tuple[str, ...] = ()


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False, lineterminator="\n", float_format="%.10g")
    tmp.replace(path)


def _params(seed: int, n_events: int | None, big_events: bool, big_count: int, extras: bool = True) -> dict[str, object]:
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "events": n_events,
        "big_events": big_events,
        "big_count": big_count if big_events else 0,
        "beads_and_clinical": extras,
    }


def is_complete(out_dir: str | Path, *, seed: int, n_events: int | None = None, big_events: bool = False, big_count: int = 4,
                extras: bool = True) -> bool:
    """Return True when ``out_dir`` holds a finished trial made with these parameters."""
    root = Path(out_dir)
    stamp = root / _STAMP
    if not stamp.is_file():
        return False
    try:
        recorded = json.loads(stamp.read_text("utf-8"))
        manifest = pd.read_csv(root / "manifest.csv", dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError):
        return False
    if recorded.get("parameters") != _params(seed, n_events, big_events, big_count, extras):
        return False
    if not (root / "subjects.csv").is_file() or not (root / "truth.csv").is_file():
        return False
    files = recorded.get("files", [])
    listed = {f for f in manifest["file"] if f}
    return listed <= {Path(f).name for f in files} and all((root / f).is_file() for f in files)


def _fake_person(rng: np.random.Generator) -> tuple[str, str]:
    name = f"{_SURNAMES[int(rng.integers(len(_SURNAMES)))]}^{_GIVEN[int(rng.integers(len(_GIVEN)))]}"
    return name, _OPERATORS[int(rng.integers(len(_OPERATORS)))]


def _events_for(visit: Visit, rng: np.random.Generator, n_events: int | None) -> int:
    if n_events is not None:
        return int(n_events)
    if visit.subject.specimen == "whole blood":
        return int(rng.integers(35_000, 50_001))
    return int(rng.integers(20_000, 35_001))


def _truth_rows(visit: Visit, sample: FlowSample) -> list[dict[str, object]]:
    truth = population_truth(sample)
    lymph_count = truth["Lymphocytes"][1]
    rows: list[dict[str, object]] = []
    for name, (path, count, parent_count) in truth.items():
        base = {"patient_id": visit.subject.patient_id, "visit_day": visit.visit_day, "assay": "flow", "feature": name}
        pct = 100.0 * count / parent_count if parent_count else float("nan")
        rows.append({**base, "measure": "pct_parent", "value": pct, "unit": "%"})
        if path != "/Lymphocytes":
            pct_l = 100.0 * count / lymph_count if lymph_count else float("nan")
            rows.append({**base, "measure": "pct_lymphocytes", "value": pct_l, "unit": "%"})
    return rows


def _write_flow(
    visits: list[Visit],
    model: TruthModel,
    folder: Path,
    seed: int,
    *,
    stream: int,
    n_events: Callable[[Visit, np.random.Generator], int],
    suffix: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Simulate and write one FCS file per visit; return manifest rows, truth rows, file names."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest, truth, names = [], [], []
    for visit in visits:
        pid = visit.subject.patient_id
        rng = np.random.default_rng([seed, stream, int(pid), visit.visit_day])
        spec = SampleSpec.from_proportions(
            n_events(visit, rng), visit.subject.specimen, model.proportions[(pid, visit.visit_day)]
        )
        sample = simulate_events(spec, rng)
        name_rng = np.random.default_rng([seed, _STREAM_NAMES, int(pid)])
        patient_name, operator = _fake_person(name_rng)
        start = dt.datetime.combine(visit.date, dt.time(8, 30)) + dt.timedelta(minutes=int(rng.integers(0, 420)))
        fname = visit.fcs_name.replace(".fcs", f"{suffix}.fcs")
        write_sample_fcs(
            folder / fname,
            sample,
            acquisition=start,
            patient_name=patient_name,
            operator=operator,
            file_label=f"{patient_name.replace('^', '_')}_D{visit.visit_day}_{PANEL}.fcs",
        )
        manifest.append(
            {
                "file": fname,
                "sample_id": visit.sample_id,
                "patient_id": pid,
                "visit_day": visit.visit_day,
                "specimen": visit.subject.specimen,
                "panel": PANEL,
            }
        )
        truth.extend(_truth_rows(visit, sample))
        names.append(fname)
    return pd.DataFrame(manifest, columns=MANIFEST_COLUMNS), pd.DataFrame(truth, columns=TRUTH_COLUMNS), names


def _simulate_plates(
    visits: list[Visit], out_dir: Path, seed: int, log: Callable[[str], None]
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, str | None]:
    if importlib.util.find_spec(_PLATE_MODULE) is None:
        note = "plates skipped: immunolab.demo.plate_sim is not available yet"
        log(note)
        return None, None, note
    plate_sim = importlib.import_module(_PLATE_MODULE)
    samples = serum_samples(visits)
    rng = np.random.default_rng([seed, _STREAM_PLATES])
    manifest, truth = plate_sim.simulate_plates(samples, out_dir / "plates", rng)
    return manifest, truth, None


def _simulate_beads(visits: list[Visit], out_dir: Path, seed: int, plate_truth: pd.DataFrame | None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write the bead-array run (one FCS per well); serum analytes the plates measure keep their truth."""
    known = None
    if plate_truth is not None and len(plate_truth):
        conc = plate_truth[plate_truth["measure"] == "concentration"]
        known = conc[["patient_id", "visit_day", "feature", "value"]]
    rng = np.random.default_rng([seed, _STREAM_BEADS])
    return simulate_bead_run(serum_samples(visits), out_dir / "beads", rng, known=known)


def _remove_stale(folder: Path, keep: set[str]) -> None:
    if folder.is_dir():
        for path in folder.glob("*.fcs"):
            if path.name not in keep:
                path.unlink()


def generate_trial(
    out_dir: str | Path,
    *,
    seed: int = DEFAULT_SEED,
    n_events: int | None = None,
    big_events: bool = False,
    big_count: int = 4,
    n_patients: int = 20,
    plates: bool = True,
    extras: bool = True,
    if_absent: bool = False,
    log: Callable[[str], None] = print,
) -> TrialSummary:
    """Write the demo trial into ``out_dir`` and return a summary.

    ``n_events`` fixes the events per FCS file (default: 35k-50k for whole blood, 20k-35k for
    PBMC, drawn per file). ``big_events`` also writes ``big_count`` files of 1,000,000 events
    into ``flow_big/`` (benchmarks). ``extras`` also writes the bead-array run (``beads/``) and
    the clinical files (``clinical/``). ``if_absent`` returns at once when ``out_dir`` already
    holds a complete trial with the same parameters.
    """
    root = Path(out_dir)
    if if_absent and is_complete(root, seed=seed, n_events=n_events, big_events=big_events, big_count=big_count,
                                 extras=extras):
        log(f"demo trial already complete in {root} (seed {seed}); nothing to do")
        return TrialSummary(root, n_patients, 0, 0, 0, True, None)
    root.mkdir(parents=True, exist_ok=True)
    (root / _STAMP).unlink(missing_ok=True)

    cohort_rng = np.random.default_rng([seed, _STREAM_COHORT])
    subjects = draw_subjects(cohort_rng, n_patients)
    visits = draw_visits(cohort_rng, subjects)
    model = draw_truth_model(np.random.default_rng([seed, _STREAM_MODEL]), subjects, seed)
    outcomes = None
    if extras:  # COVID-19 pneumonia: some patients die before Day 28 and miss their later visits
        outcomes = draw_outcomes(subjects, visits, seed, early_deaths=True)
        visits = visits_alive(visits, outcomes)

    manifest, truth, fcs_names = _write_flow(
        visits, model, root / "flow", seed, stream=_STREAM_FLOW, n_events=lambda v, r: _events_for(v, r, n_events)
    )
    _remove_stale(root / "flow", set(fcs_names))
    files = [f"flow/{n}" for n in fcs_names]

    plate_manifest, plate_truth, note = (None, None, "plates not requested") if not plates else _simulate_plates(visits, root, seed, log)
    n_plate_files = 0
    if plate_manifest is not None and plate_truth is not None:
        manifest = pd.concat([manifest, plate_manifest[MANIFEST_COLUMNS]], ignore_index=True)
        truth = pd.concat([truth, plate_truth[TRUTH_COLUMNS]], ignore_index=True)
        plate_files = sorted({f for f in plate_manifest["file"] if isinstance(f, str) and f})
        n_plate_files = len(plate_files)
        files += [f"plates/{f}" for f in plate_files]

    n_bead_files = 0
    clinical_files: tuple[str, ...] = ()
    subjects_out = subjects_frame(subjects)
    if extras:
        bead_manifest, bead_truth = _simulate_beads(visits, root, seed, plate_truth)
        manifest = pd.concat([manifest, bead_manifest], ignore_index=True)
        truth = pd.concat([truth, bead_truth[TRUTH_COLUMNS]], ignore_index=True)
        bead_files = sorted(set(bead_manifest["file"]))
        n_bead_files = len(bead_files)
        _remove_stale(root / "beads", set(bead_files))
        files += [f"beads/{f}" for f in bead_files]
        assert outcomes is not None
        severity = dict(zip(outcomes["patient_id"], outcomes["baseline_severity"], strict=True))
        subjects_out["severity"] = [f"WHO{severity[p]}" for p in subjects_out["patient_id"]]
        written = generate_clinical(root / "clinical", subjects, visits, model, seed, outcomes=outcomes)
        clinical_files = tuple(written.files)
        files += [f"clinical/{f}" for f in written.files]
    manifest = manifest.reindex(columns=ALL_MANIFEST_COLUMNS if extras else MANIFEST_COLUMNS)
    for col in ("visit_day", "standard_level", "replicate"):
        if col in manifest:
            manifest[col] = manifest[col].astype("Int64")
    _write_csv(subjects_out, root / "subjects.csv")
    _write_csv(manifest, root / "manifest.csv")
    _write_csv(truth, root / "truth.csv")
    (root / "truth_model.json").write_text(json.dumps(model.to_json_dict(subjects), indent=2, sort_keys=True) + "\n", "utf-8")

    if big_events:
        chosen = visits[:big_count]
        big_manifest, big_truth, big_names = _write_flow(
            chosen, model, root / "flow_big", seed, stream=_STREAM_BIG, n_events=lambda v, r: BIG_EVENTS, suffix="_1M"
        )
        _remove_stale(root / "flow_big", set(big_names))
        _write_csv(big_manifest, root / "flow_big" / "manifest.csv")
        _write_csv(big_truth, root / "flow_big" / "truth.csv")
        files += [f"flow_big/{n}" for n in big_names]

    stamp = {"parameters": _params(seed, n_events, big_events, big_count, extras), "files": files}
    (root / _STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", "utf-8")
    log(
        f"demo trial written to {root}: {len(subjects)} subjects, {len(fcs_names)} FCS files, "
        f"{n_plate_files} plate files, {n_bead_files} bead-array wells, {len(clinical_files)} clinical files, "
        f"{len(truth)} truth rows"
    )
    return TrialSummary(root, len(subjects), len(fcs_names), n_plate_files, len(truth), False, note, n_bead_files,
                        clinical_files)
