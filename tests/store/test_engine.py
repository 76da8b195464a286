"""The store engine: crash between table commits, recovery, tampering, compaction, upgrade, read-only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest

import immunolab
from immunolab.errors import StoreError
from immunolab.ingest import ingest_paths
from immunolab.store.location import location_for
from immunolab.store.verify import verify_store
from tests.store.conftest import Study

REPO = Path(__file__).resolve().parents[2]


def run(study: Study, *paths, **kw):
    return ingest_paths(paths or [study.inbox], store=study.store, manifest=study.manifest, **kw)


def _crash_before_commit_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next store-version append die the way a killed process would (after the table commits)."""
    import immunolab.store.writer as writer

    def die(*_a, **_k):
        raise KeyboardInterrupt("killed between table commits and the commit record")

    monkeypatch.setattr(writer, "append_version", die)


def test_a_crash_between_table_commits_shows_no_half_batch_and_the_next_writer_rolls_it_back(
        study: Study, monkeypatch: pytest.MonkeyPatch) -> None:
    from deltalake import DeltaTable

    run(study, study.inbox / "002_d0.toy")
    with monkeypatch.context() as m:
        _crash_before_commit_record(m)
        import immunolab.store.writer as writer

        m.setattr(writer.Batch, "abort", lambda self: None)  # a killed process cleans nothing up
        with pytest.raises(KeyboardInterrupt):
            run(study, study.inbox / "001_d3.toy", study.inbox / "plate1.toy")
    # the tables hold the half batch (a plain Delta reader sees it) ...
    assert len(DeltaTable(str(study.store / "tables" / "sources")).to_pandas()) == 3
    # ... but the API shows only committed store versions
    s = immunolab.open_store(study.store)
    assert s.version == 1 and s.table("sources").num_rows == 1
    assert list(s.to_pandas("samples")["sample_id"]) == ["002-D000-TBNK"]
    problems = verify_store(study.store).problems  # the writer's process is this one: presumed alive
    assert problems == [] or all("interrupted" in p or "no store version" in p for p in problems)
    # a later writer (with the marker's owner gone) rolls it back and records it
    import immunolab.store.writer as writer

    monkeypatch.setattr(writer, "_alive", lambda marker: False)
    report = run(study, study.inbox / "001_d3.toy", study.inbox / "plate1.toy")
    assert report.counts["OK"] == 2
    s = immunolab.open_store(study.store)
    kinds = [v.kind for v in s.versions()]
    assert kinds == ["ingest", "recover", "ingest"]
    assert any("uncommitted row" in a for a in s.versions()[1].actions)
    assert len(DeltaTable(str(study.store / "tables" / "sources")).to_pandas()) == 3
    assert verify_store(study.store).ok


def test_store_recover_rolls_back_a_dead_batch_without_a_new_ingest(study: Study, monkeypatch) -> None:
    from immunolab.store.writer import recover

    with monkeypatch.context() as m:
        _crash_before_commit_record(m)
        import immunolab.store.writer as writer

        m.setattr(writer.Batch, "abort", lambda self: None)
        with pytest.raises(KeyboardInterrupt):
            run(study)
    assert not verify_store(study.store).ok  # an interrupted batch is a problem until it is rolled back
    actions = recover(location_for(study.store), force=True)
    assert actions and all(a.startswith(("deleted ", "removed uncommitted data file")) for a in actions)
    assert any("uncommitted row" in a for a in actions)
    assert verify_store(study.store).ok
    assert immunolab.open_store(study.store).table("sources").num_rows == 0


@pytest.mark.parametrize("tamper", ["delete tail", "empty log", "stray file", "altered data", "altered raw",
                                    "edited record"])
def test_verify_detects_tampering_and_changes_nothing(study: Study, tamper: str) -> None:
    run(study, study.inbox / "002_d0.toy")
    run(study, study.inbox / "001_d3.toy")
    log = study.store / "versions" / "_delta_log"
    if tamper == "delete tail":
        (log / "00000000000000000002.json").unlink()
    elif tamper == "empty log":
        shutil.rmtree(study.store / "versions")
    elif tamper == "stray file":
        shutil.copy(next((study.store / "tables" / "toy_counts").glob("*.parquet")),
                    study.store / "tables" / "toy_counts" / "part-injected.parquet")
    elif tamper == "altered data":
        f = next((study.store / "tables" / "toy_counts").glob("*.parquet"))
        data = bytearray(f.read_bytes())
        data[len(data) // 2] ^= 0xFF
        f.write_bytes(bytes(data))
    elif tamper == "altered raw":
        f = next(p for p in (study.store / "raw").iterdir() if not p.name.startswith("."))
        f.chmod(0o644)
        f.write_bytes(f.read_bytes() + b"x")
    elif tamper == "edited record":
        files = sorted(p for p in (study.store / "versions").glob("*.parquet"))
        import pyarrow.parquet as pq

        t = pq.read_table(files[0])
        pq.write_table(t.set_column(t.schema.get_field_index("reason"), "reason",
                                    __import__("pyarrow").array(["rewritten"], __import__("pyarrow").string())), files[0])
    before = sorted(str(p) for p in study.store.rglob("*"))
    res = subprocess.run([sys.executable, "-m", "immunolab", "verify", "--store", str(study.store)],
                         capture_output=True, text=True, cwd=REPO)
    assert res.returncode != 0, res.stdout
    assert "PROBLEM" in res.stdout or "ERROR" in res.stderr
    assert "Traceback" not in res.stderr
    assert sorted(str(p) for p in study.store.rglob("*")) == before  # verify moved or deleted nothing


def test_verify_repair_removes_a_stray_file_and_records_it(study: Study) -> None:
    run(study, study.inbox / "002_d0.toy")
    stray = study.store / "tables" / "toy_counts" / "part-injected.parquet"
    shutil.copy(next((study.store / "tables" / "toy_counts").glob("part-*.parquet")), stray)
    assert not verify_store(study.store).ok
    res = verify_store(study.store, repair=True)
    assert res.ok and not stray.exists()
    assert any("stray" in a for a in res.actions)
    assert immunolab.open_store(study.store).versions()[-1].kind == "repair"


def test_compaction_leaves_every_query_unchanged_and_fewer_files(study: Study) -> None:
    from immunolab.store.maintenance import compact, files_per_table

    for f in sorted(study.inbox.iterdir()):
        run(study, f)  # one store version per file: many small data files
    loc = location_for(study.store)
    before_files = files_per_table(loc)
    s0 = immunolab.open_store(study.store)
    before = {n: s0.to_pandas(n).drop(columns=["commit_id"], errors="ignore") for n in ("toy_counts", "measurements", "samples")}
    rep = compact(loc)
    assert rep.store_version is not None
    after_files = files_per_table(loc)
    assert after_files["toy_counts"] < before_files["toy_counts"]
    s1 = immunolab.open_store(study.store)
    for n, df in before.items():
        new = s1.to_pandas(n).drop(columns=["commit_id"], errors="ignore")
        key = list(new.columns[:4])
        pd.testing.assert_frame_equal(df.sort_values(key).reset_index(drop=True), new.sort_values(key).reset_index(drop=True),
                                      check_like=True)
    assert verify_store(study.store).ok
    assert immunolab.open_store(study.store, version=s0.version).table("toy_counts").num_rows == before["toy_counts"].shape[0]


def test_a_store_of_the_previous_release_upgrades_with_identical_results(tmp_path: Path) -> None:
    with tarfile.open(REPO / "tests" / "fixtures" / "store_v1" / "store_v1.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    store = tmp_path / "store"
    with pytest.raises(StoreError) as exc:
        immunolab.open_store(store)
    assert exc.value.code == "IML-STORE-009" and "store upgrade" in exc.value.hint
    res = subprocess.run([sys.executable, "-m", "immunolab", "store", "upgrade", "--store", str(store), "--json"],
                         capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
    expected = json.loads((tmp_path / "expected.json").read_text())
    s = immunolab.open_store(store)
    assert s.table("samples").num_rows == expected["counts"]["samples"]
    assert s.table("sources").num_rows == expected["committed"] + expected["superseded"]
    old = pd.read_parquet(tmp_path / "expected_measurements.parquet")
    new = s.to_pandas("measurements")
    key = ["sample_id", "assay", "feature", "measure"]
    merged = old.merge(new, on=key, how="outer", suffixes=("_old", "_new"), indicator=True)
    assert (merged["_merge"] == "both").all() and len(merged) == expected["counts"]["measurements"]
    assert (merged["value_old"] - merged["value_new"]).abs().max() == 0
    assert (store / "legacy-v1" / "audit" / "log.jsonl").is_file()  # nothing lost
    assert verify_store(store).ok
    assert s.versions()[0].kind == "upgrade"
    again = subprocess.run([sys.executable, "-m", "immunolab", "store", "upgrade", "--store", str(store)],
                           capture_output=True, text=True, cwd=REPO)
    assert again.returncode == 0 and "nothing to upgrade" in again.stdout, again.stdout + again.stderr
    assert len(immunolab.open_store(store).versions()) == len(s.versions())  # a second upgrade writes nothing


@pytest.mark.skipif(os.geteuid() != 0 and shutil.which("setpriv") is None, reason="needs setpriv to drop privileges")
def test_a_read_only_store_gives_a_coded_store_error_not_an_internal_one(study: Study, tmp_path: Path) -> None:
    import tempfile

    run(study, study.inbox / "002_d0.toy")
    ro = Path(tempfile.mkdtemp(prefix="immunolab-ro-"))  # pytest's own tmp root is private to root
    ro.chmod(0o755)
    shutil.copytree(study.store, ro / "store")
    shutil.copytree(study.inbox, ro / "inbox")
    for name in ("manifest.csv", "subjects.csv"):
        shutil.copy(study.root / name, ro / name)
    for p in [ro, *ro.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    env = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(ro))
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    code = ("import sys, json; from tests.store.toy_plugin import ToyPlugin; from immunolab.plugins import get_registry;"
            "get_registry([ToyPlugin()]); from immunolab.cli import main; main(sys.argv[1:])")
    ingest = subprocess.run([*prefix, sys.executable, "-c", code, "ingest", str(ro / "inbox" / "001_d3.toy"),
                             "--store", str(ro / "store"), "--manifest", str(ro / "manifest.csv"), "-j", "1"],
                            capture_output=True, text=True, cwd=REPO, env=env)
    assert ingest.returncode == 3, ingest.stdout + ingest.stderr
    assert "IML-STORE-010" in ingest.stdout + ingest.stderr and "IML-INTERNAL" not in ingest.stdout + ingest.stderr
    verify = subprocess.run([*prefix, sys.executable, "-m", "immunolab", "verify", "--store", str(ro / "store")],
                            capture_output=True, text=True, cwd=REPO, env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "check raw vault" in verify.stdout
    for p in [ro, *ro.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(ro)
