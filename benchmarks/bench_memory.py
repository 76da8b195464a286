"""(d) Peak memory (RSS) of ingesting one 1,000,000-event file vs its float32 event matrix.

A fresh process loads every module and the gating template on a small file, notes its RSS,
resets the kernel's peak-RSS mark (``/proc/self/clear_refs``; where that is not possible, the
peak since the process started is used) and ingests the large file; the growth of the peak
over the noted RSS is compared with the size of the file's float32 event matrix.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

N_EVENTS = 1_000_000

PROBE = r"""
import json, resource, sys, shutil
from pathlib import Path
import psutil
from immunolab.ingest import ingest_paths
from immunolab.fcs.reader import read_fcs
work, big, small, manifest = map(Path, sys.argv[1:5])
# warm up: load every module and the gating template on a small file
shutil.rmtree(work / "mem-warm", ignore_errors=True)
ingest_paths([small], store=work / "mem-warm", manifest=manifest)
meta = read_fcs(big, events=False)
shutil.rmtree(work / "mem-store", ignore_errors=True)
base = psutil.Process().memory_info().rss
# reset the kernel's peak-RSS mark (VmHWM) so that it covers this ingest only, not the warm-up
try:
    Path("/proc/self/clear_refs").write_text("5")
    hwm_reset = True
except OSError:
    hwm_reset = False
report = ingest_paths([big], store=work / "mem-store", manifest=manifest)
since_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
peak = since_start
if hwm_reset:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
print(json.dumps({"base": base, "peak": peak, "since_start": since_start, "hwm_reset": hwm_reset,
                  "n_events": meta.n_events, "n_channels": meta.n_channels,
                  "status": report.outcomes[0].status, "message": report.outcomes[0].message}))
"""


def run(work: Path) -> dict[str, Any]:
    """Ingest one 1M-event file in a fresh process; compare peak RSS growth with the float32 matrix."""
    from immunolab.demo.tubes import write_tube

    folder = work / "mem"
    folder.mkdir(parents=True, exist_ok=True)
    big, small = folder / "big_1M.fcs", folder / "small.fcs"
    if not big.exists():
        write_tube(big, N_EVENTS, seed=7)
    if not small.exists():
        write_tube(small, 20_000, seed=8)
    (folder / "subjects.csv").write_text("patient_id,arm,site,age,sex\n001,MSC,A,40,F\n")
    (folder / "manifest.csv").write_text(
        "file,sample_id,patient_id,visit_day,specimen,panel\nbig_1M.fcs,001-D000,001,0,PBMC,T\nsmall.fcs,001-D003,001,3,PBMC,T\n")
    out = subprocess.run([sys.executable, "-c", PROBE, str(work), str(big), str(small), str(folder / "manifest.csv")],
                         capture_output=True, text=True, check=True)
    m = json.loads(out.stdout.strip().splitlines()[-1])
    matrix = m["n_events"] * m["n_channels"] * 4
    growth = m["peak"] - m["base"]
    ratio = growth / matrix
    return {
        "title": f"(d) peak RSS ingesting one {m['n_events']:,}-event x {m['n_channels']}-channel file",
        "ours": f"+{growth / 2**20:.0f} MiB over the warmed-up process",
        "anchor": f"float32 event matrix {matrix / 2**20:.0f} MiB",
        "ratio": ratio,
        "ratio_text": f"{ratio:.2f}x the event matrix",
        "target": "<= 3x the float32 event matrix",
        "met": ratio <= 3.0 and m["status"] == "OK",
        "status": m["status"],
        "peak_is": "VmHWM reset before the ingest" if m["hwm_reset"] else "ru_maxrss since process start",
        "lines": [f"peak RSS growth {growth / 2**20:.0f} MiB ({'VmHWM reset before the ingest' if m['hwm_reset'] else 'ru_maxrss'}); "
                  f"ru_maxrss since the process started: +{(m['since_start'] - m['base']) / 2**20:.0f} MiB"],
    }
