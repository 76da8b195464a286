"""(f) Cost growth at trial scale: 2,000 files ingested into one store, 200 at a time, then analysed.

2,000 generated tubes of 20,000 events (:mod:`benchmarks.trial_tubes`, distinct samples) go into
one store in ten batches of 200 (2 workers), as a lab's runs arrive. Reported: the time per file
of every batch, first and last 200 side by side. Nothing in the commit or audit path may cost
in proportion to the files already stored, so the last batch must cost what the first did.

Right before each batch the same 200 files are read and SHA-256 hashed in this process (the
*anchor*): the machine's speed at that moment, so that a busy machine is told apart from a
growing cost (other programs share these 2 cores). The flatness is judged on the per-file time
divided by the anchor, and both are printed.

Then the summary AnnData (``to_anndata(kind="summary")``), the measurements view and the HTML
report are built for the store of 200 samples (after the first batch) and of 2,000 (at the
end); their times are reported against each other in a second row. The issue sets no figure
for it; the target here is "no worse than linear": 10x the samples may cost at most 10x.
"""

from __future__ import annotations

import hashlib
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

N_FILES, N_EVENTS, BATCH, JOBS = 2000, 20_000, 200, 2
TARGET_FLAT = 1.25
#: 2,000 vs 200 samples: at most linear in the number of samples
TARGET_ANALYSIS = N_FILES / BATCH


def hash_anchor(files: list[Path]) -> float:
    """Return the seconds to read and SHA-256 ``files`` (one process)."""
    t0 = time.perf_counter()
    for f in files:
        hashlib.sha256(f.read_bytes()).hexdigest()
    return time.perf_counter() - t0


def analysis_times(store: Path, out: Path) -> dict[str, float]:
    """Return seconds to build the summary AnnData (best of 2), the measurements view and the report."""
    import immunolab
    from immunolab.report.html import write_report

    best = float("inf")
    shape: tuple[int, int] = (0, 0)
    for _ in range(2):
        t0 = time.perf_counter()
        adata = immunolab.to_anndata(immunolab.open_store(store), kind="summary")
        best = min(best, time.perf_counter() - t0)
        shape = adata.shape
    t0 = time.perf_counter()
    rows = immunolab.open_store(store).table("measurements").num_rows
    t_view = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_report(immunolab.open_store(store), out)
    t_report = time.perf_counter() - t0
    return {"anndata": best, "measurements_view": t_view, "report": t_report, "obs": shape[0], "vars": shape[1],
            "measurement_rows": rows}


def run(work: Path) -> dict[str, Any]:
    """Ingest the 2,000 files in batches of 200; return per-batch costs and the analysis times."""
    from benchmarks.trial_tubes import write_trial_tubes
    from immunolab.ingest import ingest_paths

    folder = work / "growth"
    manifest, files = write_trial_tubes(folder / "tubes", N_FILES, N_EVENTS)
    store = folder / "store"
    shutil.rmtree(store, ignore_errors=True)
    shutil.rmtree(folder / "warm", ignore_errors=True)
    ingest_paths(files[:2], store=folder / "warm", manifest=manifest, jobs=JOBS)  # imports, page cache
    batches: list[dict[str, float]] = []
    analysis: dict[int, dict[str, float]] = {}
    for start in range(0, N_FILES, BATCH):
        chunk = files[start : start + BATCH]
        anchor = hash_anchor(chunk)
        t0 = time.perf_counter()
        report = ingest_paths(chunk, store=store, manifest=manifest, jobs=JOBS)
        seconds = time.perf_counter() - t0
        if report.counts["OK"] != len(chunk):
            raise RuntimeError(f"batch at file {start}: {report.summary_line()}")
        batches.append({"stored_before": start, "seconds": seconds, "ms_per_file": seconds / len(chunk) * 1e3,
                        "anchor_s": anchor, "relative": seconds / anchor})
        if start == 0:
            analysis[BATCH] = analysis_times(store, folder / "report-200.html")
    analysis[N_FILES] = analysis_times(store, folder / "report-2000.html")
    first, last = batches[0], batches[-1]
    flat_raw = last["ms_per_file"] / first["ms_per_file"]
    flat = last["relative"] / first["relative"]
    small, big = analysis[BATCH], analysis[N_FILES]
    growth = {k: big[k] / small[k] for k in ("anndata", "measurements_view", "report")}
    analysis_row = {
        "title": f"(f2) summary AnnData + HTML report: store of {N_FILES:,} samples vs {BATCH}",
        "ours": f"{N_FILES:,}: AnnData {big['anndata']:.2f} s ({big['obs']:.0f} x {big['vars']:.0f}), "
                f"report {big['report']:.1f} s",
        "anchor": f"{BATCH}: AnnData {small['anndata']:.2f} s ({small['obs']:.0f} x {small['vars']:.0f}), "
                  f"report {small['report']:.1f} s",
        "ratio_text": f"AnnData {growth['anndata']:.1f}x, report {growth['report']:.1f}x for {N_FILES // BATCH}x the samples",
        "target": f"<= {TARGET_ANALYSIS:.0f}x each (at most linear; the issue sets no figure)",
        "met": growth["anndata"] <= TARGET_ANALYSIS and growth["report"] <= TARGET_ANALYSIS,
    }
    return {
        "title": f"(f) cost growth: {N_FILES:,} files x {N_EVENTS // 1000}k events into one store, {BATCH} per batch",
        "ours": f"last {BATCH}: {last['ms_per_file']:.1f} ms/file",
        "anchor": f"first {BATCH}: {first['ms_per_file']:.1f} ms/file",
        "ratio": flat,
        "ratio_text": f"last/first {flat_raw:.2f}x per file, {flat:.2f}x against the hash anchor",
        "target": f"last/first <= {TARGET_FLAT}x (no growth beyond noise)",
        "met": flat <= TARGET_FLAT,
        "rows": [analysis_row],
        "batches": batches,
        "analysis": {str(k): v for k, v in analysis.items()},
        "lines": [
            *(f"files {b['stored_before']:>5}-{b['stored_before'] + BATCH - 1:<5} {b['ms_per_file']:6.1f} ms/file "
              f"(hash anchor {b['anchor_s']:.2f} s, ingest/anchor {b['relative']:.1f})" for b in batches),
            *(f"store of {n:>5} files: summary AnnData {a['obs']:.0f} x {a['vars']:.0f} in {a['anndata']:.2f} s, "
              f"measurements view ({a['measurement_rows']:,.0f} rows) {a['measurements_view']:.2f} s, "
              f"report {a['report']:.1f} s" for n, a in analysis.items()),
            f"median ms/file over all batches {statistics.median(b['ms_per_file'] for b in batches):.1f}",
        ],
    }
