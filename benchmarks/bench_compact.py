"""(g) Data files per table after 1,000 files ingested 10 at a time, before and after ``store compact``.

A lab that ingests each run as it comes leaves every table with one small data file per batch.
1,000 generated tubes (the first of :mod:`benchmarks.bench_growth`'s) are ingested in 100
batches of 10; then :func:`immunolab.store.maintenance.compact` (``immunolab store compact``)
rewrites each table. Reported: the largest number of data files of any table before and after,
the time compaction took, and whether every table and the measurements view read the same rows
afterwards (compared sorted, row by row; a NaN equals a NaN, which ``Table.equals`` denies). Target (issue 10): at most 100 data files per table
after compaction, results unchanged.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

N_FILES, BATCH, JOBS = 1000, 10, 2
TARGET_FILES = 100


def snapshot(store: Path) -> dict[str, Any]:
    """Return every table's and the measurements view's rows as sorted Arrow tables (``commit_id`` dropped)."""
    import pyarrow as pa

    import immunolab
    from immunolab.store.tables import stored_tables

    def sortable(t: pa.DataType) -> bool:
        return not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_struct(t) or pa.types.is_map(t))

    s = immunolab.open_store(store)
    out = {}
    for name in [*stored_tables(s.loc), "measurements"]:
        t = s.table(name)
        t = t.drop_columns([c for c in ("commit_id",) if c in t.column_names])
        keys = [(c, "ascending") for c in t.column_names if sortable(t.schema.field(c).type)]
        out[name] = t.sort_by(keys) if keys else t
    return out


def same_rows(a: Any, b: Any) -> bool:
    """Return whether two sorted Arrow tables hold the same values (NaN equals NaN; null equals only null)."""
    import numpy as np
    import pyarrow as pa

    if a.schema != b.schema or a.num_rows != b.num_rows:
        return False
    for name in a.column_names:
        x, y = a.column(name), b.column(name)
        if pa.types.is_floating(x.type):
            if not x.is_null().equals(y.is_null()):
                return False
            if not np.array_equal(x.to_numpy(zero_copy_only=False), y.to_numpy(zero_copy_only=False), equal_nan=True):
                return False
        elif not x.equals(y):
            return False
    return True


def run(work: Path) -> dict[str, Any]:
    """Ingest 1,000 files in batches of 10, compact, and compare file counts and results."""
    from benchmarks.bench_growth import N_EVENTS
    from benchmarks.trial_tubes import write_trial_tubes
    from immunolab.ingest import ingest_paths
    from immunolab.store.location import location_for
    from immunolab.store.maintenance import compact, files_per_table

    folder = work / "growth"
    manifest, files = write_trial_tubes(folder / "tubes", N_FILES, N_EVENTS)
    store = work / "compact" / "store"
    shutil.rmtree(store, ignore_errors=True)
    t0 = time.perf_counter()
    for start in range(0, N_FILES, BATCH):
        report = ingest_paths(files[start : start + BATCH], store=store, manifest=manifest, jobs=JOBS)
        if report.counts["OK"] != BATCH:
            raise RuntimeError(f"batch at file {start}: {report.summary_line()}")
    t_ingest = time.perf_counter() - t0
    loc = location_for(store)
    before_files = files_per_table(loc)
    before = snapshot(store)
    t0 = time.perf_counter()
    rep = compact(loc)
    t_compact = time.perf_counter() - t0
    after_files = files_per_table(loc)
    after = snapshot(store)
    same = set(before) == set(after) and all(same_rows(before[n], after[n]) for n in before)
    worst_before, worst_after = max(before_files.values()), max(after_files.values())
    return {
        "title": f"(g) data files per table: {N_FILES:,} files ingested {BATCH} at a time, then `store compact`",
        "ours": f"after compact: at most {worst_after} file(s) per table (compaction {t_compact:.1f} s)",
        "anchor": f"before: up to {worst_before} files per table (ingest {t_ingest:.0f} s)",
        "ratio": worst_after,
        "ratio_text": f"{worst_before} -> {worst_after} files per table; results {'unchanged' if same else 'CHANGED'}",
        "target": f"<= {TARGET_FILES} data files per table after compact, results unchanged",
        "met": worst_after <= TARGET_FILES and same,
        "results_unchanged": same,
        "files_before": before_files,
        "files_after": after_files,
        "store_version": rep.store_version,
        "lines": [f"{name}: {before_files[name]} -> {after_files.get(name)} files, {before[name].num_rows:,} rows"
                  for name in sorted(before_files) if name in before],
    }
