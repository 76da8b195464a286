"""A `store compact` killed between its table commits and its store version is recorded, and `verify` passes again.

A lab-operations trial killed `store compact` (SIGKILL) part-way: each table's OPTIMIZE was
committed on its own, the store version never was. `verify` then failed for good ("table
curve_fits has 1 Delta commit(s) no store version records"), `store recover` found nothing,
`verify --repair` repaired nothing and a later complete compaction did not help. A compaction
changes no rows, so the next writer, `store recover` and `verify --repair` now record what it
committed (a store version of kind ``recover``), and every result reads as before.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

import immunolab
from immunolab.cli import main
from immunolab.demo.tubes import write_tube_batch
from immunolab.ingest import ingest_paths
from immunolab.store import maintenance
from immunolab.store.location import location_for
from immunolab.store.maintenance import compact, files_per_table
from immunolab.store.verify import verify_store
from immunolab.store.versions import read_versions

REPO = Path(__file__).resolve().parents[2]
N_FILES, BATCH, EVENTS = 6, 2, 2000

#: runs a compaction in a child process that kills itself with SIGKILL at the moment asked
_KILLED_COMPACTION = textwrap.dedent("""
    import os, signal, sys
    from immunolab.store import maintenance
    from immunolab.store.location import location_for

    store, moment = sys.argv[1], sys.argv[2]
    if moment == "after the first table":
        real = maintenance.retry_conflicts

        def first_then_die(loc, name, operation, **kw):
            out = real(loc, name, operation, **kw)
            if out[1].get("numFilesRemoved"):
                os.kill(os.getpid(), signal.SIGKILL)
            return out

        maintenance.retry_conflicts = first_then_die
    else:  # every table compacted, the store version not yet appended
        maintenance.append_version = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    maintenance.compact(location_for(store))
""")


def _ingest_three_batches(tmp_path: Path) -> tuple[Path, Path, list[Path]]:
    manifest, files = write_tube_batch(tmp_path / "tubes", N_FILES + BATCH, EVENTS, seed=620)
    store = tmp_path / "store"
    for start in range(0, N_FILES, BATCH):
        report = ingest_paths(files[start : start + BATCH], store=store, manifest=manifest, jobs=1)
        assert report.counts["OK"] == BATCH, report.summary_line()
    return store, manifest, files[N_FILES:]


def _results(store: Path) -> pa.Table:
    t = immunolab.open_store(store).table("measurements")
    return t.sort_by([(c, "ascending") for c in t.column_names if not pa.types.is_nested(t.schema.field(c).type)])


def _kill_compaction(store: Path, moment: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", _KILLED_COMPACTION, str(store), moment], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, list[Path], pa.Table]]:
    """Return moment -> (store, manifest, more tubes, results before) of a compaction killed at that moment."""
    out = {}
    for moment in ("after the first table", "before its store version"):
        root = tmp_path_factory.mktemp(moment.replace(" ", "-"))
        store, manifest, more = _ingest_three_batches(root)
        before = _results(store)
        _kill_compaction(store, moment)
        out[moment] = (store, manifest, more, before)
    return out


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("moment", ["after the first table", "before its store version"])
def test_verify_names_the_killed_compaction_with_its_code_and_the_command_that_records_it(
        killed: dict, moment: str, tmp_path: Path) -> None:
    store = _copy(killed[moment][0], tmp_path / "store")
    res = verify_store(store)
    assert not res.ok
    assert res.problems and all(p.startswith("IML-STORE-017 table ") for p in res.problems), res.problems
    assert all("store recover" in p for p in res.problems)
    assert list((store / "pending").glob("cmp-*.json")), "the compaction's pending marker is what recovery reads"


@pytest.mark.parametrize("moment", ["after the first table", "before its store version"])
@pytest.mark.parametrize("route", ["store recover", "verify --repair", "next ingest", "next compact"])
def test_a_killed_compaction_is_recorded_by_the_next_writer_and_verify_then_passes_with_results_unchanged(
        killed: dict, moment: str, route: str, tmp_path: Path) -> None:
    src, manifest, more, before = killed[moment]
    store = _copy(src, tmp_path / "store")
    n_before = len(read_versions(location_for(store)))
    if route == "store recover":
        out = CliRunner().invoke(main, ["store", "recover", "--store", str(store)])
        assert out.exit_code == 0, out.output
        assert "recorded the interrupted compaction of table" in out.output
    elif route == "verify --repair":
        out = CliRunner().invoke(main, ["verify", "--store", str(store), "--repair"])
        assert out.exit_code == 0, out.output
        assert "REPAIRED recorded the interrupted compaction of table" in out.output
    elif route == "next ingest":
        report = ingest_paths(more, store=store, manifest=manifest, jobs=1)
        assert report.counts["OK"] == BATCH, report.summary_line()
    else:
        assert compact(location_for(store)).store_version is not None or moment == "before its store version"

    records = read_versions(location_for(store))
    recovered = [r for r in records[n_before:] if r.kind == "recover"]
    assert len(recovered) == 1 and recovered[0].tables and recovered[0].files, [r.kind for r in records[n_before:]]
    assert not list((store / "pending").glob("*.json"))
    res = verify_store(store)
    assert res.ok, res.problems
    after = _results(store)
    if route == "next ingest":
        assert after.num_rows > before.num_rows  # the new batch; the old rows are all still there
    else:
        assert after.equals(before)
    assert max(files_per_table(location_for(store)).values()) >= 1


def test_a_compaction_still_running_is_noted_not_recorded_until_its_writer_is_gone(
        killed: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _copy(killed["after the first table"][0], tmp_path / "store")
    assert CliRunner().invoke(main, ["store", "recover", "--store", str(store)]).exit_code == 0
    seen = len(read_versions(location_for(store)))

    def fail(*_a: object, **_k: object) -> None:
        raise OSError("the commit record could not be written")

    monkeypatch.setattr(maintenance, "append_version", fail)
    with pytest.raises(OSError):  # this process is alive: its marker says the compaction is still running
        compact(location_for(store))
    monkeypatch.undo()
    res = verify_store(store)
    assert res.ok, res.problems
    assert any("being committed right now" in n for n in res.notes), res.notes
    plain = CliRunner().invoke(main, ["store", "recover", "--store", str(store)])
    assert "nothing to recover" in plain.output and len(read_versions(location_for(store))) == seen

    forced = CliRunner().invoke(main, ["store", "recover", "--store", str(store), "--force"])
    assert forced.exit_code == 0 and "recorded the interrupted compaction" in forced.output, forced.output
    assert verify_store(store).ok and not list((store / "pending").glob("*.json"))


def test_commits_that_change_rows_are_never_recorded_as_a_compaction(killed: dict, tmp_path: Path) -> None:
    from deltalake import DeltaTable, write_deltalake

    store = _copy(killed["before its store version"][0], tmp_path / "store")
    table = store / "tables" / "flow_populations"
    rows = DeltaTable(str(table)).to_pyarrow_table().slice(0, 1)
    write_deltalake(str(table), rows, mode="append")  # something else wrote the table after the compaction
    out = CliRunner().invoke(main, ["store", "recover", "--store", str(store)])
    assert out.exit_code == 0, out.output
    res = verify_store(store)
    assert any("flow_populations has" in p and "no store version records" in p for p in res.problems), res.problems
    assert not any(p.startswith("IML-STORE-017") for p in res.problems), res.problems


_KILLED_VACUUM = textwrap.dedent("""
    import os, signal, sys
    import deltalake
    from immunolab.store import maintenance
    from immunolab.store.location import location_for

    real = deltalake.DeltaTable.vacuum

    def first_then_die(self, *a, **k):
        out = real(self, *a, **k)
        if not k.get("dry_run") and out:
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    deltalake.DeltaTable.vacuum = first_then_die
    maintenance.vacuum(location_for(sys.argv[1]), retain_days=0, accept_unreadable=True)
""")


def test_a_vacuum_killed_after_its_first_table_leaves_a_note_and_is_not_recorded_as_a_compaction(
        killed: dict, tmp_path: Path) -> None:
    src, _manifest, _more, before = killed["before its store version"]
    store = _copy(src, tmp_path / "store")
    assert CliRunner().invoke(main, ["store", "recover", "--store", str(store)]).exit_code == 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", _KILLED_VACUUM, str(store)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr

    res = verify_store(store)  # vacuum commits change no rows: noted, and every check passes
    assert res.ok, res.problems
    assert any("vacuum commit(s) of an earlier `store vacuum`" in n for n in res.notes), res.notes
    out = CliRunner().invoke(main, ["store", "recover", "--store", str(store)])
    assert out.exit_code == 0 and "nothing to recover" in out.output, out.output
    assert _results(store).equals(before)
