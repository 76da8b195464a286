"""Run every benchmark, print ratios against anchors measured in the same run, save results.json.

Benchmarks are not tests: they time immunolab and its anchor side by side on this machine and
report the ratio, which is what the targets are about (absolute times depend on the machine).

    python -m benchmarks.run                         # all
    python -m benchmarks.run gating_case gating_process  # some (names: see BENCHMARKS)
    python -m benchmarks.run --table-out benchmarks/README_table.md

Results go to ``benchmarks/results.json``; ``--table-out FILE`` writes the Markdown performance
table (with the machine and its load) to FILE, ``--readme`` rewrites the table in README.md
between the ``bench:start``/``bench:end`` markers.

Gating is timed three ways, because they answer different questions: in process on the
issue-19 case (b1), as whole processes a user starts (b2: the CLI against a FlowKit script,
imports included), and at 10,000,000 events (b3: peak memory and linearity). The store is
timed at trial scale (f: 2,000 files, then f2: the summary AnnData and the report of 2,000
samples against 200; g: compaction of 1,000; h: the demo batch against hashing and copying its
bytes; i: de-identification of 300,000 custom keywords).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / "_work"
RESULTS = REPO / "benchmarks" / "results.json"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _cpuinfo() -> dict[str, str]:
    """Return the first processor's fields of /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def machine() -> dict[str, Any]:
    """Describe this machine (CPU model and clock, cores, virtualisation, memory, Python)."""
    info = _cpuinfo()
    cpu = info.get("model name") or platform.processor() or ""
    if info.get("cpu MHz"):
        cpu += f" at {float(info['cpu MHz']) / 1000:.1f} GHz"
    virtual = "hypervisor" in info.get("flags", "").split()
    mem_gib = None
    try:
        import psutil

        mem_gib = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "virtual_machine": virtual,
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def commit_measured() -> str:
    """Return the git commit of the code measured (short hash, ``+changes`` when the tree differs)."""
    import subprocess

    def git(*args: str) -> str:
        res = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, check=False)
        return res.stdout.strip() if res.returncode == 0 else ""

    head = git("rev-parse", "--short=10", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "immunolab", "assays", "benchmarks",
                  ":(exclude)benchmarks/results.json", ":(exclude)benchmarks/README_table.md")
    return head + ("+changes" if changed else "")


def load_average() -> float | None:
    """Return the 1-minute load average (runnable processes), None where unknown."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _burn(n: int) -> float:
    t0 = time.perf_counter()
    total = 0
    for i in range(n):
        total += i * i
    return time.perf_counter() - t0


def parallel_headroom(workers: int = 2, n: int = 5_000_000) -> float:
    """Return the speed-up of ``workers`` processes over one on a pure-CPU loop, measured now.

    About ``workers`` on a quiet machine; less when other programs use the cores. Speed-up
    benchmarks report it beside their result so that a reader can tell a busy machine.
    """
    import multiprocessing as mp

    serial = sum(_burn(n) for _ in range(workers))
    method = "fork" if "fork" in mp.get_all_start_methods() else None
    with mp.get_context(method).Pool(workers) as pool:
        pool.map(_burn, [1000] * workers)  # start the workers outside the timing
        t0 = time.perf_counter()
        pool.map(_burn, [n] * workers)
        parallel = time.perf_counter() - t0
    return round(serial / parallel, 2)


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Return (best wall time in seconds, last result) of ``repeats`` calls."""
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


BENCHMARKS = {
    "fcs_read": "benchmarks.bench_fcs_read",
    "gating": "benchmarks.bench_gating",
    "gating_case": "benchmarks.bench_gating_case",
    "gating_process": "benchmarks.bench_gating_process",
    "gating_10m": "benchmarks.bench_gating_process:run_ten_million",
    "ingest": "benchmarks.bench_ingest",
    "ingest_floor": "benchmarks.bench_ingest_floor",
    "memory": "benchmarks.bench_memory",
    "analysis": "benchmarks.bench_analysis",
    "v1_read": "benchmarks.bench_v1_read",
    "growth": "benchmarks.bench_growth",
    "compact": "benchmarks.bench_compact",
    "deid": "benchmarks.bench_deid",
}


def _registry() -> dict[str, Callable[[Path], dict[str, Any]]]:
    import importlib

    def loader(target: str) -> Callable[[Path], dict[str, Any]]:
        module, _, function = target.partition(":")

        def call(work: Path) -> dict[str, Any]:
            fn: Callable[[Path], dict[str, Any]] = getattr(importlib.import_module(module), function or "run")
            return fn(work)

        return call

    return {name: loader(target) for name, target in BENCHMARKS.items()}


def _row(r: dict[str, Any]) -> str:
    """Return one table row of a benchmark result (or of one of its ``rows``)."""
    return (f"| {r['title']} | {r['ours']} | {r['anchor']} | {r['ratio_text']} | {r['target']} | "
            f"{'yes' if r['met'] else 'NO'} |")


def render_table(results: dict[str, Any]) -> str:
    """Return the Markdown performance table (machine, commit, load and one row per benchmark).

    A row measured by an earlier run (another commit or day) than the latest is marked so.
    """
    m = results["machine"]
    run = results.get("run", {})
    load = run.get("load_average")
    headroom = run.get("cpu_headroom")
    commit = results.get("commit", "unknown")
    context = ""
    if load:
        context += f" 1-minute load average {load[0]}-{load[1]} during the run (other programs shared the cores)"
    if headroom:
        context += f"; 2-process speed-up of a pure-CPU loop {headroom[0]}x before, {headroom[1]}x after (2.0 = free cores)"
    vm = " virtual machine (KVM/hypervisor)," if m.get("virtual_machine") else ""
    lines = [
        f"Measured by `make bench` on {results['date']} at commit `{commit}`:{vm} {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB RAM, Python {m['python']}, {m.get('platform', '')}." + (f"{context}." if context else ""),
        "Every ratio is against an anchor timed in the same run on the same machine.",
        "",
        "| benchmark | immunolab | anchor | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in sorted(results["benchmarks"].items(), key=lambda kv: str(kv[1].get("title", kv[0]))):
        if "error" in r:
            lines.append(f"| {name} | error: {r['error']} | | | | NO |")
            continue
        row = dict(r)
        if (r.get("commit"), r.get("date")) != (commit, results["date"]):
            row["title"] = f"{r['title']} (earlier run: {r.get('date')}, commit {r.get('commit', 'unknown')})"
        lines.append(_row(row))
        lines.extend(_row(sub) for sub in r.get("rows", []))
    return "\n".join(lines)


def update_readme(results: dict[str, Any]) -> None:
    """Replace the README's performance table with the one from ``results``."""
    readme = REPO / "README.md"
    text = readme.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start not in text or end not in text:
        return
    head, rest = text.split(start, 1)
    _old, tail = rest.split(end, 1)
    readme.write_text(head + start + "\n" + render_table(results) + "\n" + end + tail)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks and report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--readme", action="store_true", help="rewrite the README performance table")
    parser.add_argument("--table-out", type=Path, help="write the Markdown performance table to this file")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    registry = _registry()
    names = args.names or list(registry)
    unknown = [n for n in names if n not in registry]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(registry)}")
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"benchmarks": {}}
    start_load = load_average()
    headroom = [parallel_headroom()]
    results = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "commit": commit_measured(),
               "benchmarks": dict(previous.get("benchmarks", {}))}
    for name in names:
        load = load_average()
        print(f"== {name} (1-min load average {load})", flush=True)
        t0 = time.perf_counter()
        try:
            r = registry[name](WORK)
        except Exception as exc:  # a broken benchmark must not hide the others
            r = {"error": f"{type(exc).__name__}: {exc}"}
        r["load_average"] = [load, load_average()]
        r["date"] = results["date"]
        r["commit"] = results["commit"]
        r["wall_seconds"] = round(time.perf_counter() - t0, 1)
        results["benchmarks"][name] = r
        for line in r.get("lines", []):
            print("   " + line)
        if "error" in r:
            print(f"   ERROR {r['error']}")
        else:
            for row in (r, *r.get("rows", [])):
                print(f"   {row['title']}: {row['ratio_text']} (target {row['target']}) -> "
                      f"{'met' if row['met'] else 'NOT MET'}")
    headroom.append(parallel_headroom())
    loads = [x for name in names for x in results["benchmarks"][name].get("load_average", []) if x is not None]
    results["run"] = {"names": names, "load_average": [min(loads, default=start_load), max(loads, default=start_load)],
                      "cpu_headroom": headroom}
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
    print()
    table = render_table(results)
    print(table)
    if args.table_out:
        args.table_out.write_text(table + "\n")
    if args.readme:
        update_readme(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
