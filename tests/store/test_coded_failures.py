"""Malformed cases of error codes no other test module covered (the registry test: tests/test_error_codes.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from immunolab.cli import main
from immunolab.errors import StoreError
from immunolab.store import open_store
from tests.store.conftest import Study


def _invoke(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output


def _ingested(study: Study) -> Study:
    code, out = _invoke("ingest", str(study.inbox), "--store", str(study.store), "--manifest", str(study.manifest),
                        "-j", "1")
    assert code == 0, out
    return study


def test_a_storage_option_without_equals_is_IML_IN_006(tmp_path: Path) -> None:
    code, out = _invoke("store", "info", "--store", str(tmp_path), "--storage-option", "AWS_REGION")
    assert code == 1 and "IML-IN-006" in out and "KEY=VALUE" in out


def test_activating_a_derivation_that_is_not_stored_is_IML_DER_002(study: Study) -> None:
    _ingested(study)
    code, out = _invoke("derive", "activate", "--store", str(study.store), "--kind", "gating", "--scope", "TBNK",
                        "--derivation", "0000000000000000", "--reason", "test")
    assert code == 1 and "IML-DER-002" in out and "0000000000000000" in out


def test_superseding_an_unknown_ingest_is_IML_STORE_006_an_input_problem(study: Study) -> None:
    _ingested(study)
    one = study.inbox / "001_d3.toy"
    code, out = _invoke("ingest", str(one), "--store", str(study.store), "--manifest", str(study.manifest),
                        "--supersede", "ing-does-not-exist", "--reason", "wrong tube")
    assert code == 1 and "IML-STORE-006" in out and "ing-does-not-exist" in out  # a mistyped ID: exit 1, not 3
    assert "not in this store" in out and "immunolab log" in out


def test_superseding_an_already_superseded_ingest_is_IML_STORE_006_naming_the_ingest_that_replaced_it(
        study: Study) -> None:
    from immunolab.ingest import ingest_paths

    old = ingest_paths([study.inbox / "002_d0.toy"], store=study.store, manifest=study.manifest).outcomes[0]
    study.rewrite("manifest", study.manifest.read_text() + "002_d0_reexport.toy,002-D000-TBNK-R,002,0,PBMC,TBNK\n")
    again = study.file("002_d0_reexport.toy", "Lymphocytes,900\nT cells,500\nB cells,90\nNK cells,60\n")
    new = ingest_paths([again], store=study.store, manifest=study.manifest, supersede=old.ingest_id,
                       reason="re-exported").outcomes[0]
    assert new.status == "OK"
    study.file("002_d0_reexport.toy", "Lymphocytes,910\nT cells,500\nB cells,90\nNK cells,60\n")
    code, out = _invoke("ingest", str(again), "--store", str(study.store), "--manifest", str(study.manifest),
                        "--supersede", old.ingest_id, "--reason", "re-exported again")
    assert code == 1 and "IML-STORE-006" in out  # the user named the wrong ingest, as for an unknown one: exit 1
    assert f"already superseded by {new.ingest_id}" in out and f"--supersede {new.ingest_id}" in out
    assert "immunolab log" in out and "--files" in out


def test_superseding_an_ingest_superseded_twice_names_the_ingest_current_now(study: Study) -> None:
    from immunolab.ingest import ingest_paths

    study.rewrite("manifest", study.manifest.read_text() + "002_r1.toy,002-D000-TBNK-R1,002,0,PBMC,TBNK\n"
                  "002_r2.toy,002-D000-TBNK-R2,002,0,PBMC,TBNK\n")
    ids = [ingest_paths([study.inbox / "002_d0.toy"], store=study.store, manifest=study.manifest).outcomes[0].ingest_id]
    for n in (1, 2):
        f = study.file(f"002_r{n}.toy", f"Lymphocytes,90{n}\nT cells,500\n")
        ids.append(ingest_paths([f], store=study.store, manifest=study.manifest, supersede=ids[-1],
                                reason="re-exported").outcomes[0].ingest_id)
    code, out = _invoke("ingest", str(study.file("002_r2.toy", "Lymphocytes,903\n")), "--store", str(study.store),
                        "--manifest", str(study.manifest), "--supersede", ids[0], "--reason", "again")
    assert code == 1 and f"already superseded by {ids[1]}, itself superseded by {ids[2]}" in out
    assert f"--supersede {ids[2]}" in out


def test_an_unknown_table_is_IML_STORE_007(study: Study) -> None:
    store = open_store(_ingested(study).store)
    with pytest.raises(StoreError) as err:
        store.table("no_such_table")
    assert err.value.code == "IML-STORE-007" and "measurements" in (err.value.hint or "")


def test_a_damaged_store_marker_is_IML_STORE_004(study: Study) -> None:
    marker = _ingested(study).store / "immunolab-store.json"
    marker.write_text("{ not json")
    with pytest.raises(StoreError) as err:
        open_store(study.store)
    assert err.value.code == "IML-STORE-004" and "marker" in err.value.message


def test_a_store_from_a_newer_immunolab_is_IML_STORE_005(study: Study) -> None:
    marker = _ingested(study).store / "immunolab-store.json"
    data = json.loads(marker.read_text())
    marker.write_text(json.dumps({**data, "format_version": int(data["format_version"]) + 1}))
    with pytest.raises(StoreError) as err:
        open_store(study.store)
    assert err.value.code == "IML-STORE-005" and "Upgrade immunolab" in (err.value.hint or "")


def test_a_table_that_keeps_changing_under_writers_is_IML_STORE_002(study: Study,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from deltalake.exceptions import CommitFailedError

    from immunolab.store import tables
    from immunolab.store.location import location_for

    monkeypatch.setattr(tables.time, "sleep", lambda _s: None)
    calls: list[int] = []

    def always_conflicts(_dt: object) -> None:
        calls.append(1)
        raise CommitFailedError("a concurrent writer committed first")

    loc = location_for(_ingested(study).store)
    with pytest.raises(StoreError) as err:
        tables.retry_conflicts(loc, "sources", always_conflicts, attempts=3)
    assert err.value.code == "IML-STORE-002" and len(calls) == 3
