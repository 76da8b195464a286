"""Ingest specifications: outcomes, idempotence, supersede, identity, audit."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

import immunolab
from immunolab.ingest import ingest_paths
from immunolab.store.audit import AuditLog
from tests.store.conftest import Study


def run(study: Study, *paths, **kw):
    return ingest_paths(paths or [study.inbox], store=study.store, manifest=study.manifest, **kw)


def test_ingest_of_a_folder_commits_every_listed_file(study: Study) -> None:
    report = run(study)
    assert report.counts == {"OK": 4, "SKIP": 0, "FAIL": 0}
    s = immunolab.open_store(study.store)
    samples = s.to_pandas("samples")
    assert sorted(samples["sample_id"]) == ["001-D000-TBNK", "001-D003-TBNK", "002-D000-TBNK", "S0001", "S0002"]
    assert set(s.tables()) >= {"samples", "flow_populations", "cytokine_results", "measurements", "ingests"}


def test_every_fact_row_carries_the_five_keys(study: Study) -> None:
    run(study)
    s = immunolab.open_store(study.store)
    for name in ("samples", "flow_populations", "cytokine_results", "measurements"):
        t = s.table(name)
        assert t.num_rows > 0
        for key in ("patient_id", "visit_day", "sample_id", "source_sha256", "ingest_id"):
            assert t.column(key).null_count == 0, (name, key)


def test_same_file_twice_is_one_ingest_and_one_skip(study: Study) -> None:
    f = study.inbox / "002_d0.toy"
    first = run(study, f)
    second = run(study, f)
    assert [o.status for o in first.outcomes] == ["OK"]
    assert [o.status for o in second.outcomes] == ["SKIP"]
    assert second.exit_code == 0
    assert second.outcomes[0].ingest_id == first.outcomes[0].ingest_id
    s = immunolab.open_store(study.store)
    assert s.table("flow_populations").num_rows == 3
    outcomes = [r["outcome"] for r in s.log.records()]
    assert outcomes == ["COMMITTED", "SKIP"]


def test_identical_bytes_under_another_name_are_skipped(study: Study) -> None:
    run(study, study.inbox / "002_d0.toy")
    copy = study.inbox / "001_d3.toy"
    copy.write_bytes((study.inbox / "002_d0.toy").read_bytes())
    report = run(study, copy)
    assert report.outcomes[0].status == "SKIP"


def test_supersede_keeps_both_ingests_readable(study: Study) -> None:
    f = study.inbox / "001_d3.toy"
    old = run(study, f).outcomes[0].ingest_id
    f.write_text("TOYASSAY v1\nLymphocytes,1200\nT cells,710\nB cells,150\n")
    new = run(study, f, supersede=old, reason="T-cell count was miscounted").outcomes[0]
    assert new.status == "OK"
    s = immunolab.open_store(study.store)
    current = s.to_pandas("flow_populations")
    assert set(current["ingest_id"]) == {new.ingest_id}
    everything = s.to_pandas("flow_populations", include_superseded=True)
    assert set(everything["ingest_id"]) == {old, new.ingest_id}
    ingests = s.to_pandas("ingests").set_index("ingest_id")
    assert ingests.loc[old, "superseded_by"] == new.ingest_id
    assert ingests.loc[new.ingest_id, "supersedes"] == old
    assert ingests.loc[new.ingest_id, "supersede_reason"] == "T-cell count was miscounted"


def test_supersede_of_unknown_ingest_fails_and_commits_nothing(study: Study) -> None:
    report = run(study, study.inbox / "002_d0.toy", supersede="ing-nope", reason="x")
    o = report.outcomes[0]
    assert (o.status, o.code) == ("FAIL", "IML-STORE-006")
    assert immunolab.open_store(study.store).table("samples").num_rows == 0


def test_supersede_with_identical_bytes_allows_an_identity_correction(study: Study) -> None:
    f = study.inbox / "002_d0.toy"
    old = run(study, f).outcomes[0].ingest_id
    again = run(study, f, supersede=old, reason="manifest had the wrong visit").outcomes[0]
    assert again.status == "OK"
    assert again.ingest_id != old


def test_file_missing_from_manifest_fails_with_code_and_writes_nothing(study: Study) -> None:
    stray = study.file("unlisted_john_smith.toy", "Lymphocytes,5\n")
    report = run(study, stray)
    o = report.outcomes[0]
    assert (o.status, o.code, o.exit_code) == ("FAIL", "IML-ID-001", 1)
    assert "john" not in o.line().lower()
    s = immunolab.open_store(study.store)
    assert s.tables() == ["ingests"]
    assert [r["outcome"] for r in s.log.records()] == ["FAIL"]
    assert not list((study.store / "raw").iterdir())


def test_plate_samples_not_in_manifest_fail_naming_wells_not_names(study: Study) -> None:
    f = study.file("plate1.toy", "PLATE,S0001,A1,5.5\nPLATE,MARY POPPINS,C7,3.0\n")
    o = run(study, f).outcomes[0]
    assert o.code == "IML-ID-008"
    assert "C7" in o.message and "POPPINS" not in o.message


def test_plugin_input_error_is_reported_with_its_code(study: Study) -> None:
    f = study.file("bad.toy", "Lymphocytes,5\nBAD\n")
    o = run(study, f).outcomes[0]
    assert (o.status, o.code, o.exit_code) == ("FAIL", "IML-FCS-004", 1)


def test_plugin_bug_becomes_internal_error_naming_plugin_and_version(study: Study) -> None:
    f = study.file("boom.toy", "BOOM\n")
    o = run(study, f).outcomes[0]
    assert (o.code, o.exit_code) == ("IML-INTERNAL-001", 70)
    assert "toy 0.0.1" in o.message


def test_one_bad_file_does_not_stop_the_others(study: Study) -> None:
    study.file("boom.toy", "BOOM\n")
    study.file("bad.toy", "BAD\n")
    report = run(study)
    assert report.counts == {"OK": 4, "SKIP": 0, "FAIL": 2}
    assert report.exit_code == 70


def test_unrecognised_file_in_manifest_fails_with_iml_in_002(study: Study) -> None:
    f = study.inbox / "002_d0.toy"
    f.write_text("this is not any instrument format\n")
    o = run(study, f).outcomes[0]
    assert o.code == "IML-IN-002"


def test_forced_unknown_assay_fails_with_iml_in_004(study: Study) -> None:
    o = run(study, study.inbox / "002_d0.toy", assay="nope").outcomes[0]
    assert o.code == "IML-IN-004"


def test_every_attempt_has_a_hash_chained_audit_record(study: Study) -> None:
    study.file("bad.toy", "BAD\n")
    run(study)
    run(study)
    log = AuditLog(study.store / "audit" / "log.jsonl")
    recs = log.records()
    assert [r["seq"] for r in recs] == list(range(len(recs)))
    assert sorted({r["outcome"] for r in recs}) == ["COMMITTED", "FAIL", "SKIP"]
    assert log.check_chain() == []
    committed = [r for r in recs if r["outcome"] == "COMMITTED"]
    assert all(r["plugin"] == "toy" and r["plugin_version"] == "0.0.1" and r["user"] and r["host"] for r in committed)
    assert all(r["rows"] and r["files"] for r in committed)


def test_raw_copy_is_kept_read_only_under_its_hash(study: Study) -> None:
    o = run(study, study.inbox / "002_d0.toy").outcomes[0]
    raw = study.store / "raw" / o.source_sha256
    assert raw.read_bytes() == (study.inbox / "002_d0.toy").read_bytes()
    assert raw.stat().st_mode & 0o222 == 0


def test_audit_and_tables_hold_no_file_names(study: Study) -> None:
    run(study)
    blob = b"".join(p.read_bytes() for p in study.store.rglob("*") if p.is_file() and "raw" not in p.parts)
    assert b"jane_doe" not in blob.lower()
    assert b"inbox" not in blob


def test_ingests_table_mirrors_the_audit_log(study: Study) -> None:
    run(study)
    t = pq.read_table(study.store / "tables" / "ingests" / "ingests.parquet")
    assert t.num_rows == 4
    rows = json.loads(t.column("rows_json")[0].as_py())
    assert rows["samples"] >= 1


def test_store_reader_rejects_a_folder_that_is_not_a_store(tmp_path) -> None:
    with pytest.raises(immunolab.errors.StoreError) as exc:
        immunolab.open_store(tmp_path)
    assert exc.value.code == "IML-STORE-001"


def test_a_table_file_rewritten_with_another_schema_still_reads_typed_and_verify_flags_it(study: Study) -> None:
    import pyarrow as pa

    from immunolab.store.verify import verify_store

    run(study)
    victim = next((study.store / "tables" / "samples").glob("*.parquet"))
    victim.chmod(0o644)
    pq.write_table(pa.table({"patient_id": pa.array([1, 2], pa.int64())}), victim)
    t = immunolab.open_store(study.store).table("samples")
    assert t.schema.field("patient_id").type == pa.string()
    problems = verify_store(study.store).problems
    assert any(victim.name in p and "altered" in p for p in problems)


def test_a_file_rewritten_during_ingest_is_refused_and_nothing_is_committed(study: Study, monkeypatch) -> None:
    import immunolab.ingest as ingest_mod

    f = study.inbox / "002_d0.toy"
    real = ingest_mod.resolve_tables

    def rewrite_then_resolve(*args, **kwargs):
        f.write_text(f.read_text() + "NK cells,40\n")  # the instrument is still writing
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_mod, "resolve_tables", rewrite_then_resolve)
    o = run(study, f).outcomes[0]
    assert (o.status, o.code) == ("FAIL", "IML-STORE-003") and "changed while" in o.message
    assert immunolab.open_store(study.store).table("samples").num_rows == 0
    assert not list((study.store / "raw").iterdir())


def test_per_event_tables_are_zstd_even_when_small_and_small_fact_tables_snappy(tmp_path) -> None:
    import pyarrow as pa

    from immunolab.store.commit import stage
    from immunolab.store.layout import create_store_dirs

    paths = create_store_dirs(tmp_path / "s")
    src = tmp_path / "src.bin"
    src.write_bytes(b"x")
    tiny = pa.table({"event_index": pa.array(range(10), pa.int64())})
    staged = stage(paths, "ing-t", {"flow_events": tiny, "samples": tiny}, source=src,
                   source_sha256="2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881")
    codec = {n: pq.ParquetFile(staged.folder / f"{n}.parquet").metadata.row_group(0).column(0).compression
             for n in ("flow_events", "samples")}
    assert codec == {"flow_events": "ZSTD", "samples": "SNAPPY"}
