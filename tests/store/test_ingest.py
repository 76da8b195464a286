"""Ingest specifications: outcomes, idempotence, exactly once, identity, privacy, store versions."""

from __future__ import annotations

from pathlib import Path

import pytest

import immunolab
from immunolab.errors import StoreError
from immunolab.ingest import ingest_paths
from tests.store.conftest import Study


def raw_files(study: Study) -> list[str]:
    raw = study.store / "raw"
    return [p.name for p in raw.iterdir() if not p.name.startswith(".")] if raw.is_dir() else []


def run(study: Study, *paths, **kw):
    return ingest_paths(paths or [study.inbox], store=study.store, manifest=study.manifest, **kw)


def test_ingest_of_a_folder_commits_every_listed_file_as_one_store_version(study: Study) -> None:
    report = run(study)
    assert report.counts == {"OK": 4, "SKIP": 0, "IGNORED": 0, "FAIL": 0}
    assert report.store_versions == [1]
    s = immunolab.open_store(study.store)
    samples = s.to_pandas("samples")
    assert sorted(samples["sample_id"]) == ["001-D000-TBNK", "001-D003-TBNK", "002-D000-TBNK", "S0001", "S0002"]
    assert {"sources", "toy_counts", "cytokine_wells", "cytokine_results", "identity_samples", "measurements"} <= set(s.tables())
    assert [v.kind for v in s.versions()] == ["ingest"]


def test_every_fact_row_carries_its_source_and_every_measurement_its_patient(study: Study) -> None:
    run(study)
    s = immunolab.open_store(study.store)
    for name in ("sources", "toy_counts", "cytokine_wells"):
        t = s.table(name)
        assert t.num_rows > 0
        for key in ("commit_id", "source_sha256", "ingest_id"):
            assert t.column(key).null_count == 0, (name, key)
    m = s.table("measurements")
    for key in ("patient_id", "visit_day", "sample_id", "arm", "source_sha256"):
        assert m.column(key).null_count == 0, key


def test_a_plugin_declared_fact_table_reaches_measurements_without_core_edits(study: Study) -> None:
    run(study)
    m = immunolab.open_store(study.store).to_pandas("measurements")
    toy = m[m["assay"] == "toy"]
    assert set(toy["feature"]) == {"Lymphocytes", "T cells", "B cells"}
    row = toy[(toy["sample_id"] == "001-D000-TBNK") & (toy["feature"] == "T cells")].iloc[0]
    assert (row["value"], row["measure"], row["unit"], row["arm"]) == (620, "count", "events", "MSC")


def test_the_instrument_concentrations_of_a_plate_are_the_default_results(study: Study) -> None:
    run(study, study.inbox / "plate1.toy")
    m = immunolab.open_store(study.store).to_pandas("measurements")
    il6 = m[m["feature"] == "IL-6"].set_index("sample_id")
    assert il6.loc["S0001", "value"] == pytest.approx(6.0)  # mean of the two replicate wells 5.5 and 6.5
    assert il6.loc["S0002", "value"] == pytest.approx(12.0)
    assert set(il6["derivation_id"]) == {"instrument"}


def test_same_file_twice_is_one_ingest_one_skip_and_no_new_store_version(study: Study) -> None:
    f = study.inbox / "002_d0.toy"
    first = run(study, f)
    second = run(study, f)
    assert [o.status for o in first.outcomes] == ["OK"]
    assert [o.status for o in second.outcomes] == ["SKIP"]
    assert second.exit_code == 0 and second.store_versions == []
    assert second.outcomes[0].ingest_id == first.outcomes[0].ingest_id
    s = immunolab.open_store(study.store)
    assert s.version == 1
    assert s.table("toy_counts").num_rows == 3


def test_identical_bytes_under_a_name_the_manifest_does_not_list_are_skipped(study: Study) -> None:
    run(study, study.inbox / "002_d0.toy")
    copy = study.inbox / "renamed.toy"
    copy.write_bytes((study.inbox / "002_d0.toy").read_bytes())
    assert run(study, copy).outcomes[0].status == "SKIP"


def test_identical_bytes_under_another_samples_name_are_refused_not_skipped(study: Study) -> None:
    run(study, study.inbox / "002_d0.toy")
    copy = study.inbox / "001_d3.toy"
    copy.write_bytes((study.inbox / "002_d0.toy").read_bytes())
    o = run(study, copy).outcomes[0]
    assert (o.status, o.code) == ("FAIL", "IML-ID-014") and "002-D000-TBNK" in (o.message or "")


def test_a_store_inside_the_ingested_folder_is_not_read_as_input(study: Study) -> None:
    """A technician keeping the store in the run folder re-ingests the folder: only the run's files count."""
    inside = study.inbox / "store"
    first = ingest_paths([study.inbox], store=inside, manifest=study.manifest)
    second = ingest_paths([study.inbox], store=inside, manifest=study.manifest)
    assert first.counts == {"OK": 4, "SKIP": 0, "IGNORED": 0, "FAIL": 0}
    assert second.counts == {"OK": 0, "SKIP": 4, "IGNORED": 0, "FAIL": 0}
    assert not any(Path(o.path).resolve().is_relative_to(inside.resolve()) for o in second.outcomes)


def test_a_stray_document_is_ignored_not_failed(study: Study) -> None:
    (study.inbox / "run notes.pdf").write_bytes(b"%PDF-1.4 minutes of the lab meeting")
    (study.inbox / "protocol.docx").write_bytes(b"PK\x03\x04 word document")
    report = run(study)
    assert report.counts == {"OK": 4, "SKIP": 0, "IGNORED": 2, "FAIL": 0}
    assert report.exit_code == 0
    ignored = [o for o in report.outcomes if o.status == "IGNORED"]
    assert all(o.line().startswith("IGNORED file:") for o in ignored)
    attempts = [a for v in immunolab.open_store(study.store).versions() for a in v.attempts]
    assert {a["outcome"] for a in attempts} == {"OK"}


def test_an_instrument_file_missing_from_the_manifest_fails_and_writes_nothing(study: Study) -> None:
    stray = study.file("unlisted_john_smith.toy", "Lymphocytes,5\n")
    o = run(study, stray).outcomes[0]
    assert (o.status, o.code, o.exit_code) == ("FAIL", "IML-ID-001", 1)
    assert "john" not in o.line().lower()
    s = immunolab.open_store(study.store)
    assert s.table("sources").num_rows == 0
    assert [a["outcome"] for v in s.versions() for a in v.attempts] == ["FAIL"]
    assert raw_files(study) == []


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
    o = run(study, study.file("boom.toy", "BOOM\n")).outcomes[0]
    assert (o.code, o.exit_code) == ("IML-INTERNAL-001", 70)
    assert "toy 0.0.1" in o.message


def test_one_bad_file_does_not_stop_the_others(study: Study) -> None:
    study.file("boom.toy", "BOOM\n")
    study.file("bad.toy", "BAD\n")
    report = run(study)
    assert report.counts == {"OK": 4, "SKIP": 0, "IGNORED": 0, "FAIL": 2}
    assert report.exit_code == 70
    assert immunolab.open_store(study.store).table("sources").num_rows == 4


def test_unrecognised_file_listed_in_the_manifest_fails_with_iml_in_002(study: Study) -> None:
    f = study.inbox / "002_d0.toy"
    f.write_text("this is not any instrument format\n")
    assert run(study, f).outcomes[0].code == "IML-IN-002"


def test_forced_unknown_assay_fails_with_iml_in_004(study: Study) -> None:
    assert run(study, study.inbox / "002_d0.toy", assay="nope").outcomes[0].code == "IML-IN-004"


def test_a_plugin_option_reaches_the_plugin(study: Study) -> None:
    run(study, study.inbox / "002_d0.toy", plugin_options={"toy_scale": 3})
    counts = immunolab.open_store(study.store).to_pandas("toy_counts")
    assert sorted(counts["count"]) == [270, 1500, 2700]


def test_every_attempt_is_in_a_hash_chained_store_version(study: Study) -> None:
    from immunolab.store.verify import verify_store

    study.file("bad.toy", "BAD\n")
    run(study)
    run(study)
    s = immunolab.open_store(study.store)
    versions = s.versions()
    assert [v.store_version for v in versions] == [1, 2]  # the second run only re-tried the bad file
    outcomes = [a["outcome"] for v in versions for a in v.attempts]
    assert outcomes.count("OK") == 4 and outcomes.count("FAIL") == 2
    assert all(v.user and v.host and v.immunolab_version and v.record_hash for v in versions)
    assert versions[1].prev_hash == versions[0].record_hash
    assert verify_store(study.store).ok


def test_raw_copy_is_kept_read_only_under_its_hash(study: Study) -> None:
    o = run(study, study.inbox / "002_d0.toy").outcomes[0]
    raw = study.store / "raw" / o.source_sha256
    assert raw.read_bytes() == (study.inbox / "002_d0.toy").read_bytes()
    assert raw.stat().st_mode & 0o222 == 0


def test_the_raw_vault_is_closed_to_other_users(study: Study) -> None:
    """raw/ was drwxr-xr-x and its copies -r--r--r--: anyone on the machine could read the original names."""
    o = run(study, study.inbox / "002_d0.toy").outcomes[0]
    assert (study.store / "raw").stat().st_mode & 0o777 == 0o750
    assert (study.store / "raw" / o.source_sha256).stat().st_mode & 0o777 == 0o440


def test_a_vault_an_earlier_release_left_open_is_closed_by_the_next_copy(study: Study) -> None:
    run(study, study.inbox / "002_d0.toy")
    (study.store / "raw").chmod(0o755)
    run(study, study.inbox / "001_d3.toy")
    assert (study.store / "raw").stat().st_mode & 0o777 == 0o750


def test_store_and_commit_log_hold_no_file_or_sample_names(study: Study) -> None:
    study.file("plate1.toy", "PLATE,S0001,A1,5.5\n")
    study.rewrite("manifest", study.manifest.read_text().replace(",S0001,002,3,serum,", ",S0001,002,3,serum,")
                  + "")
    run(study)
    blob = b"".join(p.read_bytes() for p in study.store.rglob("*") if p.is_file() and "raw" not in p.parts)
    assert b"jane_doe" not in blob.lower()
    assert b"inbox" not in blob
    assert b"S0001" in blob  # the sample id is the manifest's pseudonymous code, stored on purpose


def test_store_reader_rejects_a_folder_that_is_not_a_store(tmp_path) -> None:
    with pytest.raises(StoreError) as exc:
        immunolab.open_store(tmp_path)
    assert exc.value.code == "IML-STORE-001"


def test_a_file_rewritten_during_ingest_is_refused_and_nothing_is_committed(study: Study, monkeypatch) -> None:
    import immunolab.ingest as ingest_mod

    f = study.inbox / "002_d0.toy"
    real = ingest_mod.run_derivations

    def rewrite_then_derive(*args, **kwargs):
        f.write_text(f.read_text() + "NK cells,40\n")  # the instrument is still writing
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_mod, "run_derivations", rewrite_then_derive)
    o = run(study, f).outcomes[0]
    assert (o.status, o.code) == ("FAIL", "IML-STORE-003") and "changed while" in o.message
    assert immunolab.open_store(study.store).table("sources").num_rows == 0
    assert raw_files(study) == []


def test_time_travel_reads_older_store_versions(study: Study) -> None:
    from datetime import UTC, datetime

    run(study, study.inbox / "002_d0.toy")
    between = datetime.now(UTC)
    run(study, study.inbox / "001_d3.toy")
    assert immunolab.open_store(study.store).table("sources").num_rows == 2
    assert immunolab.open_store(study.store, version=1).table("sources").num_rows == 1
    assert immunolab.open_store(study.store, as_of=between).table("sources").num_rows == 1
    with pytest.raises(StoreError) as exc:
        immunolab.open_store(study.store, version=9)
    assert exc.value.code == "IML-STORE-011"


def test_time_travel_asked_wrongly_is_a_coded_error_not_an_empty_store_or_a_bare_value_error(study: Study) -> None:
    """as_of before the store gave version 0 (empty), as_of beside version was ignored, 'yesterday' was a ValueError."""
    from immunolab.errors import InputError

    run(study, study.inbox / "002_d0.toy")
    with pytest.raises(StoreError) as before:
        immunolab.open_store(study.store, as_of="2020-01-01")
    assert before.value.code == "IML-STORE-011" and "first store version" in (before.value.hint or "")
    with pytest.raises(InputError) as both:
        immunolab.open_store(study.store, version=1, as_of="2020-01-01")
    assert both.value.code == "IML-STORE-012"
    with pytest.raises(InputError) as words:
        immunolab.open_store(study.store, as_of="yesterday")
    assert words.value.code == "IML-STORE-012" and "ISO 8601" in words.value.message


def test_an_unknown_column_is_a_coded_error_listing_the_columns(study: Study) -> None:
    from immunolab.errors import InputError

    run(study, study.inbox / "002_d0.toy")
    store = immunolab.open_store(study.store)
    for name, column in (("measurements", "patient_id"), ("sources", "source_sha256")):
        with pytest.raises(InputError) as err:
            store.to_pandas(name, columns=[column, "nope"])
        assert err.value.code == "IML-STORE-013" and err.value.message == f"{name} has no column 'nope'"
        assert column in (err.value.hint or "")
