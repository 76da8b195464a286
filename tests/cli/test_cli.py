"""CLI specifications: one line per file, coded errors without tracebacks, exit codes, help examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from immunolab.cli import COMMANDS, main
from tests.store.conftest import MANIFEST, SUBJECTS, Study

IMMUNOLAB = [sys.executable, "-m", "immunolab"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_ingest_prints_one_line_per_file_and_a_summary(study: Study) -> None:
    r = invoke("ingest", str(study.inbox), "--store", str(study.store), "--manifest", str(study.manifest), "-j", "1")
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert sum(ln.startswith("OK ") for ln in lines) == 4
    assert "4 file(s): 4 OK, 0 SKIP, 0 FAIL" in lines[-1]
    assert "files/s" in lines[-1] and "events/s" in lines[-1]


def test_second_run_is_all_skip_with_exit_zero(study: Study) -> None:
    args = ("ingest", str(study.inbox), "--store", str(study.store), "--manifest", str(study.manifest), "-j", "1")
    invoke(*args)
    r = invoke(*args)
    assert r.exit_code == 0
    assert sum(ln.startswith("SKIP ") for ln in r.output.splitlines()) == 4


def test_ingest_json_reports_every_file(study: Study) -> None:
    study.file("boom.toy", "BAD\n")
    r = invoke("ingest", str(study.inbox), "--store", str(study.store), "--manifest", str(study.manifest), "--json", "-j", "1")
    out = json.loads(r.output)
    assert r.exit_code == 1 and out["exit_code"] == 1
    assert out["counts"] == {"OK": 4, "SKIP": 0, "IGNORED": 0, "FAIL": 1}
    fail = next(f for f in out["files"] if f["status"] == "FAIL")
    assert fail["code"] == "IML-FCS-004" and "path" not in fail


def test_show_paths_is_needed_to_see_file_names(study: Study) -> None:
    stray = study.file("john_smith.toy", "Lymphocytes,4\n")
    base = ("ingest", str(stray), "--store", str(study.store), "--manifest", str(study.manifest))
    assert "john_smith" not in invoke(*base).output
    assert "john_smith" in invoke(*base, "--show-paths").output


def test_store_info_log_and_verify(study: Study) -> None:
    invoke("ingest", str(study.inbox), "--store", str(study.store), "--manifest", str(study.manifest), "-j", "1")
    info = invoke("store", "info", "--store", str(study.store), "--per-visit")
    assert info.exit_code == 0
    assert "toy_counts" in info.output and "D0" in info.output and "001" in info.output
    assert "store version 1" in info.output
    log = invoke("log", "--store", str(study.store), "--files")
    assert log.output.count("OK ") == 4 and "v1 " in log.output
    v = invoke("verify", "--store", str(study.store))
    assert v.exit_code == 0 and "verify OK" in v.output
    none = invoke("log", "--store", str(study.store), "--outcome", "FAIL")  # it listed every version
    assert none.exit_code == 0 and "v1 " not in none.output and "no store version" in none.output
    study.file("boom.toy", "BAD\n")
    invoke("ingest", str(study.inbox), "--store", str(study.store), "--manifest", str(study.manifest), "-j", "1")
    failed = invoke("log", "--store", str(study.store), "--outcome", "FAIL")
    assert "v2 " in failed.output and "v1 " not in failed.output and failed.output.count("FAIL ") == 1
    bogus = invoke("log", "--store", str(study.store), "--kind", "bogus")  # printed nothing, exit 0
    assert bogus.exit_code == 2 and "'bogus' is not one of" in bogus.output and "'ingest'" in bogus.output
    assert "v1 " in invoke("log", "--store", str(study.store), "--kind", "ingest").output


def test_log_kinds_are_every_kind_a_store_version_is_written_with() -> None:
    import re
    from pathlib import Path

    from immunolab.cli.log_cmd import VERSION_KINDS

    root = Path(__file__).resolve().parents[2] / "immunolab"
    source = "\n".join(p.read_text(encoding="utf-8") for p in root.rglob("*.py") if "legacy" not in p.parts)
    written = set(re.findall(r'VersionRecord\((?:store_version=)?0, (?:kind=)?"(\w+)"', source))
    written |= set(re.findall(r'_commit\(store, "(\w+)"', source))
    assert written and written <= set(VERSION_KINDS), written - set(VERSION_KINDS)


@pytest.mark.parametrize("command", [("ingest", "x.fcs", "--store", "s", "--manifest", "m.csv"),
                                     ("derive", "gating", "--store", "s", "--panel", "P")])
@pytest.mark.parametrize("jobs", ["0", "-1"])
def test_fewer_than_one_worker_is_refused(command: tuple[str, ...], jobs: str) -> None:
    r = CliRunner().invoke(main, [*command, "--jobs", jobs])
    assert r.exit_code == 2 and "--jobs" in r.output


def test_verify_detects_a_tampered_raw_file_and_commit_record(study: Study) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    invoke("ingest", str(study.inbox), "--store", str(study.store), "--manifest", str(study.manifest), "-j", "1")
    raw = next(p for p in (study.store / "raw").iterdir() if not p.name.startswith("."))
    raw.chmod(0o644)
    raw.write_bytes(raw.read_bytes() + b"x")
    record = next((study.store / "versions").glob("*.parquet"))
    t = pq.read_table(record)
    pq.write_table(t.set_column(t.schema.get_field_index("summary"), "summary", pa.array(["nothing happened"])), record)
    r = invoke("verify", "--store", str(study.store))
    assert r.exit_code == 3
    assert "no longer hashes to its name" in r.output
    assert "commit log" in r.output


def test_verify_detects_a_deleted_table_file(study: Study) -> None:
    invoke("ingest", str(study.inbox), "--store", str(study.store), "--manifest", str(study.manifest), "-j", "1")
    victim = next((study.store / "tables" / "toy_counts").glob("*.parquet"))
    victim.unlink()
    r = invoke("verify", "--store", str(study.store))
    assert r.exit_code == 3 and "PROBLEM" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_every_command_help_has_an_example(cmd: str) -> None:
    r = CliRunner().invoke(main, [cmd, "--help"])
    if r.exit_code == 2 and "No such command" in r.output:
        pytest.skip(f"{cmd} is not implemented in this build")
    assert r.exit_code == 0
    assert "Example" in r.output


def test_unknown_file_and_missing_manifest_row_give_codes_not_tracebacks(tmp_path: Path) -> None:
    (tmp_path / "subjects.csv").write_text(SUBJECTS)
    (tmp_path / "manifest.csv").write_text(MANIFEST + "mystery.bin,X-1,001,0,,\n")
    (tmp_path / "mystery.bin").write_bytes(b"\x00\x01garbage")
    (tmp_path / "unlisted.bin").write_bytes(b"more garbage")
    r = subprocess.run([*IMMUNOLAB, "ingest", str(tmp_path / "mystery.bin"), str(tmp_path / "unlisted.bin"),
                        "--store", str(tmp_path / "s"), "--manifest", str(tmp_path / "manifest.csv")],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr
    assert "FAIL IML-IN-002 X-1" in r.stdout  # listed in the manifest: it should have been readable
    assert "IGNORED file:" in r.stdout  # not listed, not an instrument file: reported, not a failure


def test_missing_manifest_is_a_coded_error_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "a.fcs").write_bytes(b"FCS3.1")
    r = subprocess.run([*IMMUNOLAB, "ingest", str(tmp_path / "a.fcs"), "--store", str(tmp_path / "s"),
                        "--manifest", str(tmp_path / "nope.csv"), "--subjects", str(tmp_path / "nope.csv")],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "ERROR IML-ID-002" in r.stderr and "Traceback" not in r.stderr


def test_store_info_on_a_non_store_exits_3(tmp_path: Path) -> None:
    r = subprocess.run([*IMMUNOLAB, "store", "info", "--store", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 3 and "IML-STORE-001" in r.stderr


def test_plate_and_comp_options_reach_the_plugins_and_the_audit_names_files_only(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "sample_data"
    plate = sorted((sample / "plates").glob("*.csv"))[0]
    r = CliRunner().invoke(main, ["ingest", str(plate), "--store", str(tmp_path / "s"), "--manifest",
                                  str(sample / "manifest.csv"), "--curve-model", "4PL", "--below-rule", "LLOQ",
                                  "--json"])
    out = json.loads(r.output)
    assert out["counts"]["OK"] == 1, r.output
    import immunolab

    s = immunolab.open_store(tmp_path / "s")
    fits = s.to_pandas("curve_fits")
    assert set(fits.query("source == 'immunolab'")["model"]) == {"4PL"}
    results = s.to_pandas("cytokine_results")
    assert set(results["substitution_rule"].dropna()) <= {"LLOQ", "none"}
    opts = s.versions()[-1].inputs["options"]
    assert opts["plates"]["model"] == "4PL" and opts["plates"]["below_rule"] == "LLOQ"


def test_plate_ingest_line_shows_the_plate_qc_status(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "sample_data"
    plate = sorted((sample / "plates").glob("*.csv"))[0]
    r = invoke("ingest", str(plate), "--store", str(tmp_path / "s"), "--manifest", str(sample / "manifest.csv"))
    assert "OK   PLATE-01: luminex_xponent" in r.output and "plate QC " in r.output
