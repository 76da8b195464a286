"""Batch ingest keeps serial work out of the store lock: one ingests-table rebuild per batch, an incremental audit reader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import immunolab
import immunolab.ingest as ingest_module
from immunolab.demo.tubes import write_tube_batch as write_batch
from immunolab.ingest import ingest_paths
from immunolab.store.audit import AuditLog, new_record
from immunolab.store.verify import verify_store


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """Return (manifest, five small tubes of distinct patients)."""
    return write_batch(tmp_path_factory.mktemp("batch"), 5, 4000)


def _record(i: int) -> dict:
    return new_record(ingest_id=f"ing-test-{i}", outcome="FAIL", source_sha256=None, source_label=f"f{i}",
                      source_bytes=1, command="test")


def test_a_batch_rebuilds_the_ingests_mirror_once_and_it_lists_every_attempt(
    batch: tuple[Path, list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest, files = batch
    calls: list[int] = []
    real = ingest_module.refresh_ingests_table
    monkeypatch.setattr(ingest_module, "refresh_ingests_table", lambda p, log: (calls.append(1), real(p, log)))
    store = tmp_path / "store"
    report = ingest_paths(files, store=store, manifest=manifest)
    assert report.counts == {"OK": 5, "SKIP": 0, "FAIL": 0}
    assert len(calls) == 1
    again = ingest_paths(files[:2], store=store, manifest=manifest)
    assert again.counts["SKIP"] == 2 and len(calls) == 2
    mirror = pq.read_table(store / "tables" / "ingests" / "ingests.parquet")
    records = AuditLog(store / "audit" / "log.jsonl").records()
    assert mirror.num_rows == len(records) == 7
    assert mirror.column("ingest_id").to_pylist() == [r["ingest_id"] for r in records]
    assert immunolab.open_store(store).table("ingests").num_rows == 7


def test_two_workers_commit_each_file_once_even_when_two_names_hold_the_same_bytes(
    batch: tuple[Path, list[Path]], tmp_path: Path
) -> None:
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
    assert report.counts == {"OK": 5, "SKIP": 1, "FAIL": 0}, [o.message for o in report.outcomes]
    committed = [r["source_sha256"] for r in AuditLog(tmp_path / "store" / "audit" / "log.jsonl").records()
                 if r["outcome"] == "COMMITTED"]
    assert len(committed) == len(set(committed)) == 5
    assert verify_store(tmp_path / "store").ok


def test_a_kept_audit_reader_sees_appends_by_other_writers_and_a_recreated_log(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "log.jsonl"
    kept, other = AuditLog(path), AuditLog(path)
    assert kept.records() == [] and kept.committed() == {}
    other.append(_record(0))
    other.append(_record(1))
    assert [r["ingest_id"] for r in kept.records()] == ["ing-test-0", "ing-test-1"]
    committed_rec = dict(_record(2), outcome="COMMITTED", source_sha256="ab" * 32)
    kept.append(committed_rec)
    assert list(other.committed()) == ["ing-test-2"]
    assert [r["seq"] for r in other.records()] == [0, 1, 2]
    path.unlink()  # a store deleted and made again at the same place
    AuditLog(path).append(_record(9))
    assert [r["ingest_id"] for r in kept.records()] == ["ing-test-9"]
    assert kept.committed() == {}
    assert kept.check_chain() == []


def test_a_torn_last_line_is_cut_before_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    log = AuditLog(path)
    for i in range(3):
        log.append(_record(i))
    with open(path, "ab") as fh:
        fh.write(b'{"ingest_id": "ing-torn", "outco')  # a crash in the middle of an append
    assert len(log.records()) == 3
    log.append(_record(3))
    lines = path.read_bytes().splitlines()
    assert [json.loads(ln)["ingest_id"] for ln in lines] == [f"ing-test-{i}" for i in range(4)]
    assert AuditLog(path).check_chain() == []
