"""Compaction after many small ingests: few data files per table, every query unchanged (issue 10, small scale).

The benchmark (``benchmarks/bench_compact.py``) does the same with 1,000 files; here 60 tubes
arrive 5 at a time, as runs do, leaving each table with one data file per batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import immunolab
from immunolab.demo.tubes import write_tube_batch
from immunolab.ingest import ingest_paths
from immunolab.store.location import location_for
from immunolab.store.maintenance import compact, files_per_table
from immunolab.store.tables import stored_tables
from immunolab.store.verify import verify_store

N_FILES, BATCH, EVENTS = 60, 5, 2000


def _sortable(t: pa.DataType) -> bool:
    return not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_struct(t) or pa.types.is_map(t))


def _snapshot(store: Path) -> dict[str, pa.Table]:
    s = immunolab.open_store(store)
    out = {}
    for name in [*stored_tables(s.loc), "measurements", "samples"]:
        t = s.table(name)
        t = t.drop_columns([c for c in ("commit_id",) if c in t.column_names])
        out[name] = t.sort_by([(c, "ascending") for c in t.column_names if _sortable(t.schema.field(c).type)])
    return out


@pytest.mark.slow
def test_sixty_files_ingested_five_at_a_time_compact_to_one_file_per_table_with_identical_results(tmp_path: Path) -> None:
    manifest, files = write_tube_batch(tmp_path / "tubes", N_FILES, EVENTS, seed=600)
    store = tmp_path / "store"
    for start in range(0, N_FILES, BATCH):
        report = ingest_paths(files[start : start + BATCH], store=store, manifest=manifest)
        assert report.counts["OK"] == BATCH, report.summary_line()
    loc = location_for(store)
    before_files = files_per_table(loc)
    assert before_files["flow_populations"] >= N_FILES // BATCH  # one data file per batch at least
    before = _snapshot(store)
    summary_before = immunolab.to_anndata(immunolab.open_store(store), kind="summary")

    rep = compact(loc)

    after_files = files_per_table(loc)
    assert rep.store_version is not None
    assert max(after_files.values()) <= 2, after_files
    for name, n in before_files.items():
        assert after_files[name] <= n, name
    after = _snapshot(store)
    assert set(after) == set(before)
    for name, table in before.items():
        assert table.num_rows == after[name].num_rows, name
        assert table.equals(after[name]), f"{name} reads differently after compaction"
    assert before["measurements"].num_rows > 0 and before["samples"].num_rows == N_FILES
    summary_after = immunolab.to_anndata(immunolab.open_store(store), kind="summary")
    assert list(summary_after.obs_names) == list(summary_before.obs_names)
    assert list(summary_after.var_names) == list(summary_before.var_names)
    assert np.array_equal(np.asarray(summary_after.X), np.asarray(summary_before.X), equal_nan=True)
    assert verify_store(store).ok
