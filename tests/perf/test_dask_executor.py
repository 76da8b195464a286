"""`--executor dask://...` runs the same worker on a Dask cluster: each file committed once, the store verifies."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

import immunolab
from immunolab.demo.tubes import write_tube_batch as write_batch
from immunolab.identity import load_identity
from immunolab.ingest import IngestOptions, ingest_paths
from immunolab.store.location import location_for
from immunolab.store.verify import verify_store

distributed = pytest.importorskip("distributed")


def test_ingest_options_survive_pickling(tmp_path: Path) -> None:
    manifest, _files = write_batch(tmp_path / "b", 2, 2000)
    opts = IngestOptions(loc=location_for(tmp_path / "store"), identity=load_identity(manifest, None), secret=b"k")
    back = pickle.loads(pickle.dumps(opts))
    assert back == opts
    assert back.identity.entry_for_file(Path("tube_001.fcs")) == opts.identity.entry_for_file(Path("tube_001.fcs"))


def test_a_dask_cluster_of_two_worker_processes_commits_every_file_exactly_once(tmp_path: Path) -> None:
    manifest, files = write_batch(tmp_path / "batch", 6, 4000)
    store = tmp_path / "store"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=50) as cluster:
        first = ingest_paths(files, store=store, manifest=manifest, executor=cluster.scheduler_address)
        # a second batch overlapping the first: what is already committed is skipped
        second = ingest_paths([*files[4:], files[0]], store=store, manifest=manifest,
                              executor="dask://" + cluster.scheduler_address.removeprefix("tcp://"))
    assert first.counts == {"OK": 6, "SKIP": 0, "IGNORED": 0, "FAIL": 0}, [o.message for o in first.outcomes]
    assert first.executor.startswith("dask ")
    assert second.counts == {"OK": 0, "SKIP": 3, "IGNORED": 0, "FAIL": 0}
    s = immunolab.open_store(store)
    shas = s.table("sources").column("source_sha256").to_pylist()
    assert len(shas) == len(set(shas)) == 6
    assert {o.source_sha256 for o in first.outcomes} == set(shas)
    assert sorted(s.table("samples").column("sample_id").to_pylist()) == sorted(
        ln.split(",")[1] for ln in manifest.read_text().splitlines()[1:])
    assert s.table("flow_gating").num_rows == 6
    assert [v.kind for v in s.versions()] == ["ingest"]  # the second batch committed nothing
    result = verify_store(store)
    assert result.ok, result.problems
    assert result.raw_files == 6
    shutil.rmtree(store)
