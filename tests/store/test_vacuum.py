"""`store vacuum` deletes the data files compaction replaced, records itself, and leaves a store `verify` accepts.

It names the store versions it would leave unreadable, refuses to do so unless confirmed, keeps a
locked version readable on request, and reading a vacuumed version says so (store version, when).

A new user found that vacuum after compact left `verify` failing: delta-rs logs a deleting
vacuum as two table commits (VACUUM START / END) that no store version recorded, and `verify
--repair` could not mend it. A second vacuum then claimed to delete the same files again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from deltalake import DeltaTable

import immunolab
from immunolab.cli import main
from immunolab.demo.tubes import write_tube_batch
from immunolab.errors import InputError, StoreError
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

    assert dry.unreadable == [1, 2, 3]  # the three batches read the small files compaction replaced
    rep = vacuum(loc, retain_days=0, accept_unreadable=True)
    assert rep.unreadable == [1, 2, 3]
    assert rep.tables["flow_populations"]["files deleted"] == would
    assert len(_data_files(store, "flow_populations")) == active
    record = read_versions(loc)[-1]
    assert record.store_version == rep.store_version and record.kind == "vacuum"
    assert record.inputs["unreadable_versions"] == [1, 2, 3]
    assert "flow_populations" in record.tables  # the table's vacuum commits belong to this store version

    result = verify_store(store)
    assert result.ok, result.problems
    assert not any("vacuum commit" in n for n in result.notes)
    assert immunolab.open_store(store).table("measurements").equals(before)

    # nothing left to delete: no file claimed twice, no empty store version
    seen = latest_version(loc)
    again = vacuum(loc, retain_days=0)
    assert again.unreadable == []
    assert all(v == {"files deleted": 0} for v in again.tables.values()), again.tables
    assert again.store_version is None and latest_version(loc) == seen


def test_reading_a_version_whose_files_an_unrecorded_vacuum_deleted_names_the_store_version(tmp_path: Path) -> None:
    """A vacuum no store version records (an earlier release, delta-rs directly): the read fails, coded."""
    store = _store_in_three_batches(tmp_path)
    compact(location_for(store))
    DeltaTable(str(store / "tables" / "flow_populations")).vacuum(retention_hours=0, dry_run=False,
                                                                  enforce_retention_duration=False)
    old = immunolab.open_store(store, version=1)
    with pytest.raises(StoreError) as info:
        old.table("flow_populations")
    assert info.value.code == "IML-STORE-004"
    assert "store version 1 cannot be read" in str(info.value)
    result = verify_store(store)
    assert result.ok, result.problems
    assert any(n.startswith("store versions 1-3 can no longer be read: data files they need are gone")
               for n in result.notes), result.notes


def test_vacuum_that_would_lose_store_versions_names_them_and_deletes_nothing_unless_confirmed(tmp_path: Path) -> None:
    store = _store_in_three_batches(tmp_path)
    loc = location_for(store)
    compact(loc)
    on_disk = _data_files(store, "flow_populations")
    seen = latest_version(loc)
    with pytest.raises(InputError) as info:
        vacuum(loc, retain_days=0)
    assert info.value.code == "IML-STORE-014"
    assert "store versions 1-3 unreadable" in str(info.value) and "--keep-version" in (info.value.hint or "")
    assert _data_files(store, "flow_populations") == on_disk and latest_version(loc) == seen

    r = CliRunner().invoke(main, ["store", "vacuum", "--store", str(store), "--retain-days", "0", "--dry-run"])
    assert r.exit_code == 0 and "store versions 1-3 would no longer be readable" in r.output, r.output
    r = CliRunner().invoke(main, ["store", "vacuum", "--store", str(store), "--retain-days", "0"])
    assert r.exit_code == 1 and "IML-STORE-014" in r.output, r.output
    assert _data_files(store, "flow_populations") == on_disk
    r = CliRunner().invoke(main, ["store", "vacuum", "--store", str(store), "--retain-days", "0", "--yes"])
    assert r.exit_code == 0 and "store versions 1-3 can no longer be read" in r.output, r.output


def test_keep_version_keeps_every_file_a_locked_store_version_needs(tmp_path: Path) -> None:
    store = _store_in_three_batches(tmp_path)
    loc = location_for(store)
    locked = immunolab.open_store(store, version=2).table("measurements")
    compact(loc)
    rep = vacuum(loc, retain_days=0, keep_versions=[2], accept_unreadable=True)
    assert 2 not in rep.unreadable and 3 in rep.unreadable
    assert immunolab.open_store(store, version=2).table("measurements").equals(locked)
    with pytest.raises(StoreError) as info:
        immunolab.open_store(store, version=3)
    assert info.value.code == "IML-STORE-015"
    with pytest.raises(StoreError) as missing:
        vacuum(loc, retain_days=0, keep_versions=[99])
    assert missing.value.code == "IML-STORE-011"


def test_a_vacuumed_store_version_is_a_coded_error_and_log_and_verify_mark_it(tmp_path: Path) -> None:
    store = _store_in_three_batches(tmp_path)
    loc = location_for(store)
    compact(loc)
    rep = vacuum(loc, retain_days=0, accept_unreadable=True)
    for how in ({"version": 1}, {"as_of": read_versions(loc)[0].created_at}):
        with pytest.raises(StoreError) as info:
            immunolab.open_store(store, **how)
        assert info.value.code == "IML-STORE-015"
        assert f"store version 1 cannot be read: it was vacuumed by store version {rep.store_version}" in str(info.value)
        assert "--retain-days 0" in str(info.value) and "store version 4 or later" in (info.value.hint or "")
    assert immunolab.open_store(store, version=4).version == 4  # the compaction's version reads current files

    r = CliRunner().invoke(main, ["log", "--store", str(store)])
    lines = {line.split()[0]: line for line in r.output.splitlines() if line.startswith("v")}
    assert f"(unreadable: vacuumed by v{rep.store_version})" in lines["v3"]
    assert "unreadable" not in lines["v4"]
    r = CliRunner().invoke(main, ["log", "--store", str(store), "--json"])
    assert [d["readable"] for d in json.loads(r.output)][:4] == [False, False, False, True]

    result = verify_store(store)
    assert result.ok, result.problems
    assert f"store versions 1-3 can no longer be read: the vacuum of store version {rep.store_version} " \
        "(--retain-days 0) deleted data files they need" in result.notes


def test_vacuum_commits_no_store_version_records_are_a_note_not_a_problem(tmp_path: Path) -> None:
    """A store vacuumed by an earlier release (or by delta-rs directly) holds unrecorded VACUUM commits."""
    store = _store_in_three_batches(tmp_path)
    compact(location_for(store))
    DeltaTable(str(store / "tables" / "flow_populations")).vacuum(retention_hours=0, dry_run=False,
                                                                  enforce_retention_duration=False)
    result = verify_store(store)
    assert result.ok, result.problems
    assert any("flow_populations" in n and "vacuum commit" in n for n in result.notes), result.notes
