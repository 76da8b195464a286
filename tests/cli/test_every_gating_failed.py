"""A store whose FCS files all failed gating: every command answers, and shows the failures.

The files name their scatter detectors ``FS``/``SS`` (an older cytometer), so the built-in
template's ``FSC-A`` gate fails (IML-FCS-011) and no gating succeeds: the ``flow_gating``
rows are all failures and ``flow_populations`` is empty.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from immunolab.cli import main
from tests.fcs.factories import FcsSpec, build_fcs
from tests.report.page import Page

SAMPLES = ("E-101-D0", "E-102-D6")


@pytest.fixture(scope="module")
def failed_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a store of two FCS files (patients 101 MSC, 102 control) whose template gating failed."""
    from immunolab.ingest import ingest_paths

    tmp = tmp_path_factory.mktemp("failed_gating")
    rng = np.random.default_rng(7)
    tubes = []
    for sample in SAMPLES:
        tube = tmp / f"{sample.replace('-', '_')}.fcs"
        events = rng.uniform(1.0, 1000.0, size=(400, 3)).astype("float32")
        tube.write_bytes(build_fcs(FcsSpec(events=events, names=["FS", "SS", "FL1"])))
        tubes.append(tube)
    manifest = tmp / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "sample_id", "patient_id", "visit_day", "specimen", "panel"])
        for tube, sample in zip(tubes, SAMPLES, strict=True):
            w.writerow([tube.name, sample, sample.split("-")[1], sample.rsplit("D", 1)[1], "PBMC", "TCELL"])
    subjects = tmp / "subjects.csv"
    subjects.write_text("patient_id,arm,age,sex\n101,MSC,50,F\n102,control,52,F\n")
    report = ingest_paths(tubes, store=tmp / "store", manifest=manifest, subjects=subjects)
    assert report.counts["OK"] == 2, [o.message for o in report.outcomes]
    return tmp / "store"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_the_factory_store_holds_only_failed_gatings(failed_store: Path) -> None:
    from immunolab.store.read import open_store

    s = open_store(failed_store)
    gating = s.to_pandas("flow_gating")
    assert len(gating) == 2 and set(gating["status"]) == {"failed"} and set(gating["error_code"]) == {"IML-FCS-011"}
    assert s.to_pandas("flow_populations").empty


def test_store_qc_lists_a_gating_fail_row_per_file_when_no_file_gated(failed_store: Path) -> None:
    r = run("store", "qc", "--store", str(failed_store), "--json")
    assert r.exit_code == 0, r.output
    fails = [c for c in json.loads(r.output) if c["check"] == "gating"]
    assert sorted(c["target"] for c in fails) == sorted(SAMPLES)
    assert all(c["status"] == "fail" and c["detail"].startswith("IML-FCS-011: channel 'FSC-A'") for c in fails)


def test_store_qc_shows_a_gating_derived_again_that_failed_again_once(failed_store: Path, tmp_path: Path) -> None:
    import shutil

    store = tmp_path / "store"
    shutil.copytree(failed_store, store)
    again = run("derive", "gating", "--store", str(store), "--panel", "TCELL")
    assert "0 computed, 0 already stored, 2 failed" in again.output, again.output
    r = run("store", "qc", "--store", str(store), "--json")
    assert r.exit_code == 0, r.output
    assert sorted(c["target"] for c in json.loads(r.output) if c["check"] == "gating") == sorted(SAMPLES)


def test_derive_list_shows_the_failed_gating_of_the_panel_as_not_active(failed_store: Path) -> None:
    r = run("derive", "list", "--store", str(failed_store), "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [(x["kind"], x["scope"], x["n"], x["active"]) for x in rows] == [("gating", "TCELL", 2, False)]
    assert rows[0]["what"] == "gating FAILED (IML-FCS-011)"
    text = run("derive", "list", "--store", str(failed_store))
    assert text.exit_code == 0 and "gating FAILED (IML-FCS-011)" in text.output, text.output


def test_report_says_no_file_gated_and_lists_each_failure(failed_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    r = run("report", "--store", str(failed_store), "--out", str(out))
    assert r.exit_code == 0, r.output
    page = Page(out.read_text(encoding="utf-8"))
    active = page["header"].table_with("panel", "why active")
    assert active["panel"].tolist() == ["TCELL"] and active["files"].tolist() == ["2"]
    assert active["why active"].tolist() == ["gating failed: no active result (see Flow cytometry)"]
    flow = page["flow"]
    assert "No gated flow populations in the store." in flow.joined()
    assert "Gating failed for 2 file(s)" in flow.joined()
    failures = flow.table_with("sample", "code", "message")
    assert len(failures) == 2 and set(failures["code"]) == {"IML-FCS-011"}


@pytest.mark.parametrize("command", [("compare", "--out", "c"), ("export", "anndata", "--out", "x.h5ad")])
def test_compare_and_export_say_the_gating_failed_not_that_the_store_is_empty(
        failed_store: Path, tmp_path: Path, command: tuple[str, ...]) -> None:
    args = [str(tmp_path / a) if a in ("c", "x.h5ad") else a for a in command]
    r = run(*args, "--store", str(failed_store))
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert "ERROR IML-ANA-002" in r.output and "the gating of its 2 FCS file(s) failed" in r.output, r.output
    assert "immunolab store qc" in r.output and "Ingest flow or cytokine files first" not in r.output


@pytest.mark.parametrize("command", [("store", "info"), ("store", "info", "--per-visit"), ("verify",)])
def test_other_store_commands_answer_on_a_store_where_no_file_gated(failed_store: Path, command: tuple[str, ...]) -> None:
    r = run(*command, "--store", str(failed_store))
    assert r.exit_code == 0, r.output
