"""Refactoring keeps behaviour: a small demo trial's store has the recorded content digest.

A small demo trial (4 patients, 3,000 events per FCS file, plates, bead-array wells, clinical
tables) is generated, ingested with the CLI defaults, and the ``measurements`` and ``samples``
views are reduced to a digest of their stable columns: values rounded to 6 significant digits,
no column that holds a random or time-stamped id (``ingest_id``, ``commit_id``, keyed
``sample_key`` hashes, ``derivation_id``). The digest must equal the one recorded in
``tests/fixtures/demo_store_digest.json``.

When behaviour is *meant* to change (a new measure, a corrected curve fit), regenerate the
record deliberately and say why in the commit::

    IMMUNOLAB_UPDATE_DIGEST=1 .venv/bin/python -m pytest -q tests/test_store_digest.py

The test then rewrites the fixture and fails once, naming what changed, so a regeneration is
never silent.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from immunolab.demo.trial import generate_trial
from immunolab.ingest import ingest_paths
from immunolab.store import open_store

FIXTURE = Path(__file__).parent / "fixtures" / "demo_store_digest.json"
SEED, N_EVENTS, N_PATIENTS = 29, 3000, 4

MEASUREMENT_COLUMNS = (
    "patient_id", "visit_day", "visit", "sample_id", "arm", "site", "sex", "age", "severity", "specimen",
    "panel", "assay", "feature", "measure", "value", "unit", "censor", "n_replicates", "qc_flags",
    "excluded", "exclusion_reason", "plate_code", "lineage_table", "lineage_key", "method",
)
SAMPLE_COLUMNS = (
    "patient_id", "visit_day", "visit", "sample_id", "arm", "site", "sex", "age", "severity",
    "covariates_json", "specimen", "panel", "assay_kind", "plugin", "assay", "status", "replicate_of",
    "plate_code", "excluded", "exclusion_reason", "attributes_json",
)


def _cell(v: Any) -> str:
    """Return one cell as stable text (floats to 6 significant digits, lists in order)."""
    if v is None or v is pd.NA:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, list):
        return "[" + ",".join(_cell(x) for x in v) + "]"
    return str(v)


def _digest(frame: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, Any]:
    """Return the row count, per-assay counts and sha256 of ``frame``'s stable columns (sorted rows)."""
    lines = sorted("\x1f".join(_cell(row[c]) for c in columns) for row in frame.to_dict("records"))
    sha = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    by = "assay" if "assay" in frame.columns else None
    per = {str(k): int(n) for k, n in frame[by].fillna("").value_counts().sort_index().items()} if by else {}
    return {"rows": len(frame), "per_assay": per, "sha256": sha}


def _demo_store_digest(root: Path) -> dict[str, Any]:
    trial = root / "trial"
    generate_trial(trial, seed=SEED, n_events=N_EVENTS, n_patients=N_PATIENTS, log=lambda _m: None)
    inputs = [trial / "flow", trial / "plates", trial / "beads", *sorted((trial / "clinical").glob("*.csv"))]
    report = ingest_paths(inputs, store=root / "store", manifest=trial / "manifest.csv",
                          subjects=trial / "subjects.csv", jobs=1)
    assert report.exit_code == 0, [o.line() for o in report.outcomes if o.status == "FAIL"]
    store = open_store(root / "store")
    return {
        "parameters": {"seed": SEED, "n_events": N_EVENTS, "n_patients": N_PATIENTS},
        "measurements": _digest(store.to_pandas("measurements"), MEASUREMENT_COLUMNS),
        "samples": _digest(store.to_pandas("samples"), SAMPLE_COLUMNS),
    }


@pytest.mark.slow
def test_demo_trial_store_has_the_recorded_content_digest(tmp_path: Path) -> None:
    got = _demo_store_digest(tmp_path)
    if os.environ.get("IMMUNOLAB_UPDATE_DIGEST") == "1":
        old = json.loads(FIXTURE.read_text("utf-8")) if FIXTURE.exists() else None
        FIXTURE.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n", "utf-8")
        assert old == got, f"digest regenerated in {FIXTURE}: was {old}, now {got}"
    recorded = json.loads(FIXTURE.read_text("utf-8"))
    assert got["parameters"] == recorded["parameters"]
    assert got["samples"] == recorded["samples"], "the samples view changed"
    assert got["measurements"]["per_assay"] == recorded["measurements"]["per_assay"]
    assert got["measurements"] == recorded["measurements"], "the measurements view changed (same row counts)"
