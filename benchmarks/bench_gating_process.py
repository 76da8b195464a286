"""(b2, b3) Gating as a user times it: whole processes, 1,000,000 and 10,000,000 events.

(b2) ``immunolab flow gate FILE --strategy case.xml --json`` against ``python
benchmarks/flowkit_gate.py FILE case.xml`` (the same JSON from FlowKit), both started as fresh
processes and timed from outside (interpreter start, imports, read, gate, output, exit),
alternating, several runs, medians; their population counts are compared.

(b3) The same command on a 10,000,000-event file of the same case: peak RSS of the process
(``wait4`` in a small launcher process) against the file's float32 event matrix, and the in-process read + gate time per
event against the 1,000,000-event file's (one fresh process times both: linear means the same
time per event).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

RUNS = 5
TARGET_RATIO = 8.0
BIG_EVENTS = 10_000_000
REPO = Path(__file__).resolve().parents[1]


#: started as a fresh small process, it runs the command as its child and reports the child's
#: wall time and peak RSS. Measuring straight from this (large) benchmark process would not do:
#: a child forked from it starts with its parent's peak RSS, which survives exec.
LAUNCHER = r"""
import json, os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_pid, status, usage = os.wait4(pid, 0)
print(json.dumps({"seconds": time.perf_counter() - t0, "maxrss_kib": usage.ru_maxrss,
                  "exit": os.waitstatus_to_exitcode(status)}), file=sys.stderr)
"""


def timed_process(cmd: list[str]) -> tuple[float, int, str]:
    """Run ``cmd`` as a fresh process; return (wall seconds from start to exit, peak RSS in bytes, stdout)."""
    res = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], capture_output=True, text=True, cwd=REPO)
    measured = json.loads(res.stderr.strip().splitlines()[-1])
    if measured["exit"] != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... exited {measured['exit']}: {res.stderr[-500:]}")
    return float(measured["seconds"]), int(measured["maxrss_kib"]) * 1024, res.stdout


def cli() -> list[str]:
    """Return the ``immunolab`` console script of this interpreter's environment (else ``-m immunolab``)."""
    script = Path(sys.executable).with_name("immunolab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "immunolab"]


def _counts(stdout: str) -> dict[str, int]:
    """Return population name -> count from either command's JSON (the case's names are unique)."""
    return {p["population"]: int(p["count"]) for p in json.loads(stdout)["populations"]}


def whole_process(work: Path) -> dict[str, Any]:
    """(b2): time the CLI and the FlowKit script as processes, alternating; compare counts."""
    from benchmarks.gating_case import N_EVENTS, write_case

    fcs, xml = write_case(work / "gating_case")
    ours_cmd = [*cli(), "flow", "gate", str(fcs), "--strategy", str(xml), "--json"]
    fk_cmd = [sys.executable, str(REPO / "benchmarks" / "flowkit_gate.py"), str(fcs), str(xml)]
    timed_process(ours_cmd)  # warm the page cache and the .pyc files of both
    timed_process(fk_cmd)
    t_ours: list[float] = []
    t_fk: list[float] = []
    rss: list[int] = []
    out_ours = out_fk = ""
    for _ in range(RUNS):
        s, r, out_ours = timed_process(ours_cmd)
        t_ours.append(s)
        rss.append(r)
        s, _r, out_fk = timed_process(fk_cmd)
        t_fk.append(s)
    ours, theirs = _counts(out_ours), _counts(out_fk)
    same = ours == theirs
    m_ours, m_fk = statistics.median(t_ours), statistics.median(t_fk)
    ratio = m_fk / m_ours
    return {
        "title": f"(b2) whole process: `immunolab flow gate --json` vs a FlowKit script, {N_EVENTS:,} events, 7 gates",
        "ours": f"{m_ours:.2f} s (median of {RUNS} processes; peak RSS {max(rss) / 2**20:.0f} MiB)",
        "anchor": f"FlowKit script {m_fk:.2f} s (median of {RUNS})",
        "ratio": ratio,
        "ratio_text": f"{ratio:.1f}x faster; counts {'identical' if same else 'DIFFER'}",
        "target": f">= {TARGET_RATIO:.0f}x the FlowKit script, counts identical",
        "met": ratio >= TARGET_RATIO and same,
        "identical_counts": same,
        "seconds": {"immunolab": t_ours, "flowkit": t_fk},
        "lines": [f"{name}: {ours.get(name)} vs FlowKit {theirs.get(name)}" for name in sorted(set(ours) | set(theirs))],
    }


PROBE = r"""
import json, sys, time
from immunolab.fcs.reader import read_fcs
from immunolab.flow.pipeline import gate_fcs, load_strategy
loaded = load_strategy(sys.argv[3])
out = {}
for key, path, repeats in (("small", sys.argv[1], 3), ("big", sys.argv[2], 2), ("small", sys.argv[1], 2)):
    best = out.get(key, float("inf"))
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = gate_fcs(read_fcs(path), loaded, label="x")
        best = min(best, time.perf_counter() - t0)
        del result
    out[key] = best
print(json.dumps(out))
"""


def ten_million(work: Path) -> dict[str, Any]:
    """(b3): peak RSS of the CLI on 10M events vs the float32 matrix; time per event 10M vs 1M."""
    from benchmarks.gating_case import N_EVENTS, write_case

    small, xml = write_case(work / "gating_case")
    big, _xml = write_case(work / "gating_case", BIG_EVENTS)
    n_channels = 12
    matrix = BIG_EVENTS * n_channels * 4
    runs = [timed_process([*cli(), "flow", "gate", str(big), "--strategy", str(xml), "--json"]) for _ in range(2)]
    seconds = statistics.median(r[0] for r in runs)
    peak = max(r[1] for r in runs)
    _s, _r, probe = timed_process([sys.executable, "-c", PROBE, str(small), str(big), str(xml)])
    times = json.loads(probe)
    per_small, per_big = times["small"] / N_EVENTS, times["big"] / BIG_EVENTS
    linear = per_big / per_small
    rss_ratio = peak / matrix
    return {
        "title": f"(b3) {BIG_EVENTS:,}-event file: whole process, peak RSS and time per event",
        "ours": f"process {seconds:.1f} s, peak RSS {peak / 2**20:.0f} MiB; read + gate {times['big']:.2f} s in process",
        "anchor": f"float32 matrix {matrix / 2**20:.0f} MiB; 1M events read + gate {times['small'] * 1e3:.0f} ms",
        "ratio": rss_ratio,
        "ratio_text": f"peak RSS {rss_ratio:.2f}x the matrix; time per event {linear:.2f}x the 1M file's",
        "target": "peak RSS <= 3x the float32 matrix; time per event <= 1.25x the 1M file's (linear)",
        "met": rss_ratio <= 3.0 and linear <= 1.25,
        "time_per_event_ratio": linear,
        "seconds": {"process_10M": [r[0] for r in runs], "in_process_1M": times["small"], "in_process_10M": times["big"]},
        "peak_rss_bytes": peak,
    }


def run(work: Path) -> dict[str, Any]:
    """Run (b2); (b3) is registered separately as ``gating_10m``."""
    return whole_process(work)


def run_ten_million(work: Path) -> dict[str, Any]:
    """Run (b3) (benchmarks.run entry ``gating_10m``); needs ~0.5 GB for the file and ~1.5 GB of memory."""
    free = shutil.disk_usage(work).free
    if free < 2 * BIG_EVENTS * 12 * 4:
        raise RuntimeError(f"needs {2 * BIG_EVENTS * 48 / 2**30:.1f} GiB of free disk in {work}")
    return ten_million(work)
