"""`store vacuum` deletes the data files compaction replaced, records itself, and leaves a store `verify` accepts.

A new user found that vacuum after compact left `verify` failing: delta-rs logs a deleting
vacuum as two table commits (VACUUM START / END) that no store version recorded, and `verify
--repair` could not mend it. A second vacuum then claimed to delete the same files again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable

import immunolab
from immunolab.demo.tubes import write_tube_batch
from immunolab.errors import StoreError
from immunolab.ingest import ingest_paths
from immunolab.store.location import location_for
from immunolab.store.maintenance import compact, files_per_table, vacuum
from immunolab.store.verify import verify_store
from immunolab.store.versions import latest_version, read_versions

N_FILES, BATCH, EVENTS = 6, 2, 2000


def _store_in_three_batches(tmp_path: Path) -> Path:
    manifest, files = write_tube_batch(tmp_path / "tubes", N_FILES, EVENTS, seed=610)
    store = tmp_path / "store"
    for start in range(0, N_FILES, BATCH):
        report = ingest_paths(files[start : start + BATCH], store=store, manifest=manifest, jobs=1)
        assert report.counts["OK"] == BATCH, report.summary_line()
    return store


def _data_files(store: Path, table: str) -> set[str]:
    return {p.name for p in (store / "tables" / table).glob("*.parquet")}


def test_vacuum_after_compact_deletes_the_replaced_files_records_a_version_and_verify_passes(tmp_path: Path) -> None:
    store = _store_in_three_batches(tmp_path)
    loc = location_for(store)
    assert compact(loc).store_version is not None
    before = immunolab.open_store(store).table("measurements")
    on_disk = _data_files(store, "flow_populations")
    active = files_per_table(loc)["flow_populations"]
    assert len(on_disk) > active  # compaction left the small files behind

    dry = vacuum(loc, retain_days=0, dry_run=True)
    assert dry.store_version is None and _data_files(store, "flow_populations") == on_disk
    would = dry.tables["flow_populations"]["files that would be deleted"]
    assert would == len(on_disk) - active

    rep = vacuum(loc, retain_days=0)
    assert rep.tables["flow_populations"]["files deleted"] == would
    assert len(_data_files(store, "flow_populations")) == active
    record = read_versions(loc)[-1]
    assert record.store_version == rep.store_version and record.kind == "vacuum"
    assert "flow_populations" in record.tables  # the table's vacuum commits belong to this store version

    result = verify_store(store)
    assert result.ok, result.problems
    assert not any("vacuum" in n for n in result.notes)
    assert immunolab.open_store(store).table("measurements").equals(before)

    # nothing left to delete: no file claimed twice, no empty store version
    seen = latest_version(loc)
    again = vacuum(loc, retain_days=0)
    assert all(v == {"files deleted": 0} for v in again.tables.values()), again.tables
    assert again.store_version is None and latest_version(loc) == seen


def test_reading_a_version_whose_files_were_vacuumed_is_a_coded_store_error(tmp_path: Path) -> None:
    store = _store_in_three_batches(tmp_path)
    loc = location_for(store)
    compact(loc)
    vacuum(loc, retain_days=0)
    old = immunolab.open_store(store, version=1)
    with pytest.raises(StoreError) as info:
        old.table("flow_populations")
    assert info.value.code == "IML-STORE-004"


def test_vacuum_commits_no_store_version_records_are_a_note_not_a_problem(tmp_path: Path) -> None:
    """A store vacuumed by an earlier release (or by delta-rs directly) holds unrecorded VACUUM commits."""
    store = _store_in_three_batches(tmp_path)
    compact(location_for(store))
    DeltaTable(str(store / "tables" / "flow_populations")).vacuum(retention_hours=0, dry_run=False,
                                                                  enforce_retention_duration=False)
    result = verify_store(store)
    assert result.ok, result.problems
    assert any("flow_populations" in n and "vacuum commit" in n for n in result.notes), result.notes
