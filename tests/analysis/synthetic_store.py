"""Build a real store from the synthetic trial with the store's own writer, as ingest would have left it.

Each flow sample is one source (``fcs_files``, ``flow_gating``, ``flow_populations`` of one
strategy and, for three Day-0 samples, ``flow_events``: one cluster per population); the cytokine
plate is one source with its plate samples (``cytokine_plates``, ``cytokine_wells``,
``cytokine_results`` of the ``instrument`` derivation, ``plate_qc``). Identity records and
subjects complete the layers, and one store version commits it all, so the analysis, AnnData
and report code read exactly the values the simulator chose.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from immunolab.plugins import reset_registry
from tests.analysis import synthetic as syn

CHANNELS = ("FSC-A", "SSC-A", "FITC-A", "PE-A", "APC-A")
MARKERS = {"FITC-A": "CD3", "PE-A": "CD19", "APC-A": "CD56"}
EVENT_POPULATIONS = {"T cells": (2.0, 0.0, 0.0), "B cells": (0.0, 2.0, 0.0), "NK cells": (0.0, 0.0, 2.0)}


def registered() -> Iterator[None]:
    """Kept for the fixtures: the synthetic store is written without plugins, nothing to register."""
    reset_registry()
    yield
    reset_registry()


def _cols(table: pa.Table) -> dict[str, list[Any]]:
    return {c: table.column(c).to_pylist() for c in table.column_names}


def _nan_to_none(cols: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {k: [None if isinstance(v, float) and math.isnan(v) else v for v in vs] for k, vs in cols.items()}


def _events(samples: list[str], n: int, seed: int) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    cols: dict[str, list[Any]] = {"_sample_ref": [], "strategy_id": [], "event_index": [], "population": []}
    for c in CHANNELS:
        cols[c] = []
    names = list(EVENT_POPULATIONS)
    for ref in samples:
        labels = rng.choice(len(names), size=n)
        for i, lab in enumerate(labels):
            centre = EVENT_POPULATIONS[names[lab]]
            cols["_sample_ref"].append(ref)
            cols["strategy_id"].append(syn.STRATEGY)
            cols["event_index"].append(i)
            cols["population"].append(names[lab])
            cols["FSC-A"].append(float(rng.normal(1.0, 0.1)))
            cols["SSC-A"].append(float(rng.normal(0.5, 0.1)))
            for c, mu in zip(("FITC-A", "PE-A", "APC-A"), centre, strict=True):
                cols[c].append(float(rng.normal(mu, 0.25)))
    return cols


def _fcs_files(samples: list[str]) -> dict[str, list[Any]]:
    chans = [{"index": i + 1, "pnn": c, "pns": MARKERS.get(c), "range": 262144.0, "bits": 32,
              "amplification": "0,0", "gain": 1.0} for i, c in enumerate(CHANNELS)]
    return {"_sample_ref": samples, "fcs_version": ["FCS3.1"] * len(samples), "n_events": [300] * len(samples),
            "n_channels": [len(CHANNELS)] * len(samples), "channels": [chans] * len(samples)}


def _plate_tables(truth: pd.DataFrame) -> dict[str, dict[str, list[Any]]]:
    results = _cols(syn.cytokine_results(truth, with_keys=False, plate_id="plate-1"))
    refs = sorted(set(results["_sample_ref"]))
    analytes = sorted(set(results["analyte"]))
    qc = {"status": "warn", "bead_count": {"readings": 4, "fail": 1, "warn": 1, "fail_fraction": 0.01},
          "instrument_warnings": 0,
          "analytes": {a: {"flags": ["curve_r2_low"] if a == "IL-10" else [],
                           "curve": {"r_squared": 0.97 if a == "IL-10" else 0.999, "converged": True}} for a in analytes},
          "controls": [{"label": "Control 1", "analyte": "IL-6", "concentration": 100.0, "in_range": True},
                       {"label": "Control 1", "analyte": "IFN-g", "concentration": 30.0, "in_range": False}]}
    wells = {"_sample_ref": [], "plate_id": [], "well": [], "sample_type": [], "analyte": [], "median_mfi": [],
             "qc_flags": []}
    for k, ref in enumerate(refs):
        for a in analytes:
            wells["_sample_ref"].append(ref)
            wells["plate_id"].append("plate-1")
            wells["well"].append(f"{'ABCDEFGH'[k % 8]}{k // 8 + 1}")
            wells["sample_type"].append("unknown")
            wells["analyte"].append(a)
            wells["median_mfi"].append(1000.0)
            wells["qc_flags"].append(["low_bead_count"] if k % 17 == 0 else [])
    plates = {"plate_id": ["plate-1"], "plate_index": [1], "instrument": ["synthetic"], "kit": ["synth 4-plex"],
              "n_wells": [len(refs)], "n_analytes": [len(analytes)], "qc_status": ["warn"], "qc_json": [json.dumps(qc)]}
    return {"cytokine_plates": plates, "cytokine_wells": wells, "cytokine_results": _nan_to_none(results)}


@dataclass
class SynthStudy:
    """Paths of a synthetic study and its ingested store."""

    root: Path
    store: Path
    truth: pd.DataFrame
    flow_file: Path
    plate_file: Path


def _write(root: Path, truth: pd.DataFrame, events: bool, n_events: int, seed: int) -> None:
    """Write every layer of the synthetic store under ``root/store`` as one store version."""
    import hashlib
    from datetime import UTC, datetime

    from immunolab.schema import conform
    from immunolab.store.layout import create_store
    from immunolab.store.location import location_for
    from immunolab.store.versions import VersionRecord
    from immunolab.store.writer import Batch

    def sha_of(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    loc = location_for(root / "store")
    create_store(loc)
    now = datetime.now(UTC)
    cid = "ing-20260101T000000-synth001"
    batch = Batch(loc, "ingest").begin([cid])

    def add(name: str, rows: list[dict[str, Any]] | dict[str, list[Any]]) -> None:
        table = pa.Table.from_pylist(rows) if isinstance(rows, list) else pa.table(rows)
        table = table.append_column("commit_id", pa.array([cid] * table.num_rows, pa.string()))
        batch.add_rows(name, conform(name, table))

    flow = _cols(syn.flow_populations(truth, with_keys=False))
    refs = sorted(set(flow["_sample_ref"]))
    plate_sha = sha_of("plate_1")
    add("identity_subjects", [{"patient_id": p, "arm": a, "site": "SITE-A", "sex": "FM"[i % 2], "age": 30 + i,
                               "status": "active", "recorded_at": now} for i, (p, a) in enumerate(syn.patients())])
    sources, ident, gating, strategies = [], [], [], []
    for ref in refs:
        sha = sha_of(ref)
        sources.append({"source_sha256": sha, "ingest_id": cid, "plugin": "synth_flow", "plugin_version": "0.0.1",
                        "assay_kind": "flow", "n_bytes": 1, "label": ref, "ingested_at": now})
        ident.append({"source_sha256": sha, "sample_key": "", "sample_id": ref, "patient_id": ref[:3],
                      "visit_day": int(ref[5:8]), "specimen": "PBMC", "panel": "TBNK", "assay": "synth",
                      "status": "active", "recorded_at": now})
        gating.append({"source_sha256": sha, "derivation_id": syn.STRATEGY, "strategy_id": syn.STRATEGY,
                       "status": "ok", "n_events": 50_000, "qc_flags": []})
    strategies.append({"strategy_id": syn.STRATEGY, "derivation_id": syn.STRATEGY, "strategy_name": "synthetic",
                       "kind": "template", "definition_json": "{}"})
    pops = {k: v for k, v in _nan_to_none(flow).items() if k not in ("_sample_ref", "strategy_name")}
    pops["source_sha256"] = [sha_of(r) for r in flow["_sample_ref"]]
    pops["derivation_id"] = [syn.STRATEGY] * len(flow["_sample_ref"])
    pops["qc_flags"] = [[] for _ in flow["_sample_ref"]]
    fcs = _fcs_files(refs)
    fcs["source_sha256"] = [sha_of(r) for r in fcs.pop("_sample_ref")]
    fcs["ingest_id"] = [cid] * len(refs)
    cyt = _plate_tables(truth)
    plate_refs = sorted(set(cyt["cytokine_results"]["_sample_ref"]))
    sources.append({"source_sha256": plate_sha, "ingest_id": cid, "plugin": "synth_plate", "plugin_version": "0.0.1",
                    "assay_kind": "cytokine", "n_bytes": 1, "label": "PLATE-1", "ingested_at": now})
    ident.append({"source_sha256": plate_sha, "sample_key": "", "sample_id": "PLATE-1", "panel": "cytokine",
                  "assay": "synth", "status": "active", "recorded_at": now})
    for ref in plate_refs:
        ident.append({"source_sha256": plate_sha, "sample_key": ref, "sample_id": ref, "patient_id": ref[:3],
                      "visit_day": int(ref[5:8]), "specimen": "serum", "panel": "cytokine", "assay": "synth",
                      "status": "active", "recorded_at": now})
    add("sources", sources)
    add("identity_samples", ident)
    add("flow_gating", gating)
    add("flow_strategies", strategies)
    add("flow_populations", pops)
    add("fcs_files", fcs)
    plate = cyt["cytokine_plates"]
    qc_json = plate.pop("qc_json")[0]
    plate.pop("qc_status")
    add("cytokine_plates", {**plate, "source_sha256": [plate_sha], "ingest_id": [cid]})
    wells = cyt["cytokine_wells"]
    wells["sample_key"] = wells.pop("_sample_ref")
    wells["reader_flags"] = wells.pop("qc_flags")
    add("cytokine_wells", {**wells, "source_sha256": [plate_sha] * len(wells["well"]), "ingest_id": [cid] * len(wells["well"])})
    res = cyt["cytokine_results"]
    res["sample_key"] = res.pop("_sample_ref")
    n = len(res["sample_key"])
    add("cytokine_results", {**res, "source_sha256": [plate_sha] * n, "derivation_id": ["instrument"] * n,
                             "qc_flags": [[] for _ in range(n)], "wells": [[] for _ in range(n)]})
    add("plate_qc", [{"source_sha256": plate_sha, "plate_id": "plate-1", "derivation_id": "instrument",
                      "status": "warn", "qc_json": qc_json}])
    add("cytokine_derivations", [{"derivation_id": "instrument", "kind": "instrument", "settings_json": "{}"}])
    if events:
        event_samples = [r for r in refs if r.endswith("D000-FLOW")][:3]
        ev = _events(event_samples, n_events, seed)
        ev["source_sha256"] = [sha_of(r) for r in ev.pop("_sample_ref")]
        ev["derivation_id"] = [syn.STRATEGY] * len(ev["source_sha256"])
        add("flow_events", ev)
    rec = VersionRecord(0, "ingest", summary="synthetic store", commit_ids=[cid],
                        attempts=[{"ingest_id": cid, "sha256": s["source_sha256"], "label": s["label"], "outcome": "OK",
                                   "plugin": "synth"} for s in sources])
    batch.commit(lambda _s: rec)


def build_store(root: Path, seed: int = 0, *, events: bool = True, n_events: int = 300) -> SynthStudy:
    """Write the synthetic store under ``root/store`` (and two stand-in input files that must never leak)."""
    truth = syn.simulate(seed)
    root.mkdir(parents=True, exist_ok=True)
    flow_file = root / "flow_batch.synth"
    flow_file.write_text("IMMUNOLAB-SYNTH flow v1\n")
    plate_file = root / "plate_1.synth"
    plate_file.write_text("IMMUNOLAB-SYNTH plate v1\n")
    _write(root, truth, events, n_events, seed)
    return SynthStudy(root, root / "store", truth, flow_file, plate_file)
