"""Privacy: names and dates planted in FCS keywords, file names and plate sample names never leave the raw vault.

Canaries are planted in ``$FIL``, ``$SRC``, ``$OP``, ``$INST``, custom keywords, ``$DATE``, the
file names and the sample names written on a plate. After ingest (text and JSON output, with
``--debug`` logging), export (AnnData), compare and report, no canary may appear in any byte of
the store (tables, audit log, commit markers), the exports, or the CLI output. The one place
they legitimately remain is ``raw/``, the read-only copy of the original instrument bytes
(the original record, by design); the test checks that raw/ holds them byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from immunolab.demo.flow_sim import SampleSpec, channel_names, simulate_events, spillover_keyword
from immunolab.demo.plate_sim import simulate_plates
from immunolab.fcs.writer import write_fcs

REPO = Path(__file__).resolve().parents[2]
CANARIES = [
    "Zanzibar^Quokkafield",      # $SRC patient name
    "QUOKKAFIELD_ZANZIBAR",      # file name fragment
    "Opcanary Vexmore",          # operator
    "Canarytown General",        # institution
    "Canarius Maximus",          # custom keyword + plate sample name
    "Plumbeous Wrenfold",        # second plate sample name
    "14-JUL-2019",               # acquisition date as written
    "2019-07-14",                # the same date in ISO form
    "07/14/2019",
]
PROPS = {"lymphocyte_share": 0.55, "t_share": 0.62, "cd4_share": 0.58, "b_share_non_t": 0.35,
         "nk_share_non_t_non_b": 0.55, "treg_share_cd4": 0.06, "hladr_share_cd4": 0.12, "hladr_share_cd8": 0.2}


def _write_study(root: Path) -> Path:
    flow = root / "inbox" / "flow"
    flow.mkdir(parents=True)
    pnn, pns = channel_names()
    rows = ["file,sample_id,patient_id,visit_day,specimen,panel,sample_name"]
    for k, day in enumerate((0, 3)):
        sample = simulate_events(SampleSpec.from_proportions(15_000, "PBMC", PROPS), np.random.default_rng(k))
        name = f"QUOKKAFIELD_ZANZIBAR_D{day}.fcs"
        write_fcs(flow / name, sample.raw, pnn, pns=pns, pnr=[262144.0] * (len(pnn) - 1) + [1e6], keywords={
            "$SPILLOVER": spillover_keyword(), "$CYT": "LSRFortessa", "$DATE": "14-JUL-2019", "$BTIM": "09:15:00",
            "$FIL": name, "$SRC": "Zanzibar^Quokkafield", "$OP": "Opcanary Vexmore", "$INST": "Canarytown General",
            "PATIENT NAME": "Canarius Maximus", "$COM": "bled 07/14/2019 by Opcanary Vexmore",
        })
        rows.append(f"{name},001-D{day:03d}-PB,001,{day},PBMC,TBNK-Treg,")
    samples = pd.DataFrame({"patient_id": ["001", "001", "002", "002"], "arm": ["MSC", "MSC", "control", "control"],
                            "visit_day": [0, 3, 0, 3],
                            "sample_name": ["Canarius Maximus D0", "Canarius Maximus D3",
                                            "Plumbeous Wrenfold D0", "Plumbeous Wrenfold D3"]})
    plates = root / "inbox" / "plates"
    manifest, _truth = simulate_plates(samples, plates, np.random.default_rng(3))
    (plates / "truth_cytokine_model.json").unlink(missing_ok=True)
    for rec in manifest.itertuples(index=False):
        if isinstance(rec.file, str):
            rows.append(f"{rec.file},,,,,{rec.panel}")
        else:
            code = f"S-{rec.patient_id}-{int(rec.visit_day)}"
            rows.append(f",{code},{rec.patient_id},{int(rec.visit_day)},serum,,{rec.sample_id}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    (root / "subjects.csv").write_text("patient_id,arm,site,age,sex,day0_date\n001,MSC,A,44,F,2019-07-10\n"
                                       "002,control,A,52,M,2019-07-09\n")
    return root


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "immunolab", *args], capture_output=True, text=True, env=env, cwd=REPO)


def _hits(blob: bytes) -> list[str]:
    low = blob.lower()
    found = [c for c in CANARIES if c.lower().encode() in low]
    # names could also leak in UTF-16 (e.g. inside binary containers)
    found += [c + " (utf-16)" for c in CANARIES if c.lower().encode("utf-16-le") in low]
    return found


@pytest.mark.slow
def test_canary_names_and_dates_reach_no_store_byte_export_log_or_output(tmp_path: Path, figures: dict) -> None:
    root = _write_study(tmp_path)
    store = root / "store"
    outputs: list[str] = []
    for extra in ([], ["--json"], ["--debug"]):
        r = _cli("ingest", str(root / "inbox"), "--store", str(store), "--manifest", str(root / "manifest.csv"),
                 "-j", "1", *extra)
        assert r.returncode == 0, r.stdout + r.stderr
        outputs += [r.stdout, r.stderr]
    exports = root / "exports"
    exports.mkdir()
    for args in (["store", "info", "--store", str(store), "--per-visit"], ["log", "--store", str(store), "--json"],
                 ["verify", "--store", str(store)],
                 ["export", "anndata", "--store", str(store), "--out", str(exports / "trial.h5ad"), "--kind", "both"],
                 ["compare", "--store", str(store), "--window", "0-3", "--out", str(exports / "compare")],
                 ["report", "--store", str(store), "--window", "0-3", "--out", str(exports / "report.html")]):
        r = _cli(*args)
        assert r.returncode == 0, (args, r.stdout[-2000:], r.stderr[-2000:])
        outputs += [r.stdout, r.stderr]
    assert (exports / "report.html").exists() and any(exports.glob("*.h5ad"))

    assert not _hits("\n".join(outputs).encode()), _hits("\n".join(outputs).encode())
    scanned = 0
    for path in sorted(p for p in store.rglob("*") if p.is_file()):
        if path.relative_to(store).parts[0] == "raw":
            continue
        assert not _hits(path.read_bytes()), (path.relative_to(store), _hits(path.read_bytes()))
        scanned += 1
    for path in sorted(p for p in exports.rglob("*") if p.is_file()):
        assert not _hits(path.read_bytes()), (path.relative_to(exports), _hits(path.read_bytes()))
        scanned += 1
    assert scanned > 20
    figures.update({"canaries": len(CANARIES), "files_scanned": scanned, "cli_outputs_scanned": len(outputs), "hits": 0})
    # the only copy of the identifying bytes is the read-only original in raw/
    raw = b"".join(p.read_bytes() for p in (store / "raw").iterdir())
    assert "Zanzibar^Quokkafield" in _hits(raw) and "Canarius Maximus" in _hits(raw)
