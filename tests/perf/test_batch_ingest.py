"""Group commit: a batch is one store version with one Delta commit per table (or per chunk of files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from deltalake import DeltaTable

import immunolab
from immunolab.demo.tubes import write_tube_batch as write_batch
from immunolab.ingest import ingest_paths
from immunolab.store.verify import verify_store


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """Return (manifest, five small tubes of distinct patients)."""
    return write_batch(tmp_path_factory.mktemp("batch"), 5, 4000)


def _commits(store: Path, table: str) -> int:
    return sum(1 for h in DeltaTable(str(store / "tables" / table)).history() if h.get("operation") == "WRITE")


def test_a_batch_is_one_store_version_with_one_delta_commit_and_one_file_per_table(
        batch: tuple[Path, list[Path]], tmp_path: Path) -> None:
    manifest, files = batch
    store = tmp_path / "store"
    report = ingest_paths(files, store=store, manifest=manifest, jobs=2)
    assert report.counts == {"OK": 5, "SKIP": 0, "IGNORED": 0, "FAIL": 0}
    assert report.store_versions == [1]
    for table in ("sources", "fcs_files", "flow_populations", "identity_samples"):
        assert _commits(store, table) == 1, table
        assert len(DeltaTable(str(store / "tables" / table)).file_uris()) == 1, table
    again = ingest_paths(files[:2], store=store, manifest=manifest)
    assert again.counts["SKIP"] == 2 and again.store_versions == []
    assert _commits(store, "sources") == 1


def test_each_file_reports_how_its_time_divides_between_reading_deriving_and_storing(
        batch: tuple[Path, list[Path]], tmp_path: Path) -> None:
    manifest, files = batch
    report = ingest_paths(files[:2], store=tmp_path / "store", manifest=manifest, jobs=1)
    for outcome in report.outcomes:
        stages = outcome.stage_seconds
        assert set(stages) == {"parse", "derive", "store"}
        assert all(v > 0 for v in stages.values()) and sum(stages.values()) <= outcome.seconds
        assert outcome.to_dict()["stage_seconds"] == stages  # `ingest --json` carries them
    skipped = ingest_paths(files[:1], store=tmp_path / "store", manifest=manifest).outcomes[0]
    assert skipped.status == "SKIP" and skipped.stage_seconds == {}  # nothing was read again


def test_a_large_batch_commits_in_chunks_of_files(batch: tuple[Path, list[Path]], tmp_path: Path) -> None:
    manifest, files = batch
    store = tmp_path / "store"
    report = ingest_paths(files, store=store, manifest=manifest, chunk_files=2)
    assert len(report.store_versions) == 3
    s = immunolab.open_store(store)
    assert s.table("sources").num_rows == 5 and _commits(store, "sources") == 3
    assert immunolab.open_store(store, version=1).table("sources").num_rows == 2


def test_two_workers_commit_each_file_once_even_when_two_names_hold_the_same_bytes(
        batch: tuple[Path, list[Path]], tmp_path: Path) -> None:
    manifest, files = batch
    folder = tmp_path / "in"
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    shutil.copy(files[0], folder / "copy_of_0.fcs")
    rows = manifest.read_text().splitlines()
    first = rows[1].split(",")
    local_manifest = tmp_path / "manifest.csv"
    copy_row = ["copy_of_0.fcs", first[1] + "-copy", *first[2:]]
    local_manifest.write_text("\n".join([*rows, ",".join(copy_row)]) + "\n")
    shutil.copy(manifest.parent / "subjects.csv", tmp_path / "subjects.csv")
    report = ingest_paths([folder], store=tmp_path / "store", manifest=local_manifest, jobs=2)
    statuses = sorted(o.status for o in report.outcomes)
    # the copy is listed as another sample: one of the two is committed, the other refused (IML-ID-014, it
    # was a silent SKIP that left one sample never stored), whichever worker finished first
    assert statuses.count("OK") == 5 and statuses.count("FAIL") == 1, [o.message for o in report.outcomes]
    assert [o.code for o in report.outcomes if o.status == "FAIL"] == ["IML-ID-014"]
    shas = immunolab.open_store(tmp_path / "store").table("sources").column("source_sha256").to_pylist()
    assert len(shas) == len(set(shas)) == 5
    assert verify_store(tmp_path / "store").ok


def test_a_pool_starts_plate_exports_first_then_event_files_largest_first(tmp_path: Path) -> None:
    """The slow small exports must not be left for the end, where one worker would fit them alone."""
    from immunolab.ingest import longest_first

    sizes = {"a_small.fcs": 10, "b_plate.csv": 5, "c_big.FCS": 300, "d_mid.fcs": 100, "e_labs.xlsx": 7}
    for name, n in sizes.items():
        (tmp_path / name).write_bytes(b"x" * n)
    work = [(tmp_path / name, f"ing{i}") for i, name in enumerate(sorted(sizes))]
    ordered = [p.name for p, _ in longest_first(work)]
    assert ordered == ["b_plate.csv", "e_labs.xlsx", "c_big.FCS", "d_mid.fcs", "a_small.fcs"]
    assert sorted(longest_first(work)) == sorted(work)  # the same units, ids kept with their files
    missing = [(tmp_path / "gone.fcs", "ingX"), *work]
    assert longest_first(missing)[-1][0].name == "gone.fcs"  # an unreadable file is left to its worker's error
