"""Build a real store from the synthetic trial through the real ingest, with two tiny plugins.

A synthetic file is one text line ``IMMUNOLAB-SYNTH <kind> v1`` followed by JSON: ``{table:
{column: [values]}}``. Rows of patient tables carry ``_sample_ref`` (the sample name the
manifest resolves), exactly like a multi-sample plate export. The flow file holds
``flow_populations``, ``fcs_files`` and, optionally, ``flow_events`` (clustered events, one
cluster per population); the plate file holds ``cytokine_plates``, ``cytokine_wells`` and
``cytokine_results``.
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

from immunolab.plugins import Detection, ParseContext, ParsedAssay, get_registry, reset_registry
from tests.analysis import synthetic as syn

CHANNELS = ("FSC-A", "SSC-A", "FITC-A", "PE-A", "APC-A")
MARKERS = {"FITC-A": "CD3", "PE-A": "CD19", "APC-A": "CD56"}
EVENT_POPULATIONS = {"T cells": (2.0, 0.0, 0.0), "B cells": (0.0, 2.0, 0.0), "NK cells": (0.0, 0.0, 2.0)}


class SynthPlugin:
    """Parse a synthetic JSON file into the tables it names."""

    version = "0.0.1"
    file_extensions = (".synth",)

    def __init__(self, kind: str, assay_kind: str, produces: tuple[str, ...]) -> None:
        self.name = f"synth_{kind}"
        self.assay_kind = assay_kind
        self.produces = produces
        self.magic = f"IMMUNOLAB-SYNTH {kind} v1".encode()

    def detect(self, head: bytes, filename: str) -> Detection | None:
        return Detection(self.name, "synthetic") if head.startswith(self.magic) else None

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay:
        payload = json.loads(path.read_text().split("\n", 1)[1])
        return ParsedAssay({name: pa.table(cols) for name, cols in payload.items()})


PLUGINS = (
    SynthPlugin("flow", "flow", ("flow_populations", "fcs_files", "flow_events")),
    SynthPlugin("plate", "cytokine", ("cytokine_plates", "cytokine_wells", "cytokine_results")),
)


def registered() -> Iterator[None]:
    """Register the synthetic plugins for the duration of a fixture."""
    reset_registry()
    get_registry(list(PLUGINS))
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


def build_store(root: Path, seed: int = 0, *, events: bool = True, n_events: int = 300) -> SynthStudy:
    """Write the synthetic files, subjects and manifest under ``root`` and ingest them into ``root/store``."""
    from immunolab.ingest import ingest_paths

    truth = syn.simulate(seed)
    root.mkdir(parents=True, exist_ok=True)
    subj = ["patient_id,arm,site,age,sex"] + [f"{p},{a},SITE-A,{30 + i},{'FM'[i % 2]}"
                                              for i, (p, a) in enumerate(syn.patients())]
    (root / "subjects.csv").write_text("\n".join(subj) + "\n")
    flow_refs = sorted({f"{p}-D{d:03d}-FLOW" for p, d in zip(truth["patient_id"], truth["visit_day"], strict=True)})
    serum_refs = sorted({f"{p}-D{d:03d}-SER" for p, d in zip(truth["patient_id"], truth["visit_day"], strict=True)})
    manifest = ["file,sample_id,patient_id,visit_day,specimen,panel", "flow_batch.synth,FLOWBATCH-1,,,,TBNK",
                "plate_1.synth,PLATE-1,,,,cytokine"]
    for ref in flow_refs:
        manifest.append(f",{ref},{ref[:3]},{int(ref[5:8])},PBMC,TBNK")
    for ref in serum_refs:
        manifest.append(f",{ref},{ref[:3]},{int(ref[5:8])},serum,")
    (root / "manifest.csv").write_text("\n".join(manifest) + "\n")
    flow_tables: dict[str, dict[str, list[Any]]] = {
        "flow_populations": _nan_to_none(_cols(syn.flow_populations(truth, with_keys=False))),
        "fcs_files": _fcs_files(flow_refs),
    }
    if events:
        event_samples = [r for r in flow_refs if r.endswith("D000-FLOW")][:3]
        flow_tables["flow_events"] = _events(event_samples, n_events, seed)
    flow_file = root / "flow_batch.synth"
    flow_file.write_text("IMMUNOLAB-SYNTH flow v1\n" + json.dumps(flow_tables))
    plate_file = root / "plate_1.synth"
    plate_file.write_text("IMMUNOLAB-SYNTH plate v1\n" + json.dumps(_plate_tables(truth)))
    report = ingest_paths([flow_file, plate_file], store=root / "store", manifest=root / "manifest.csv", jobs=1)
    assert [o.status for o in report.outcomes] == ["OK", "OK"], [(o.status, o.code, o.message) for o in report.outcomes]
    return SynthStudy(root, root / "store", truth, flow_file, plate_file)
