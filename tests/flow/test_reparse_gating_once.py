"""A tube parsed again (a corrected Day 0) under an active derived gating is counted once."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

import immunolab
from immunolab.cli import main
from tests.flow.tubes import write_manifest, write_tube


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_reparsed_tube_under_an_active_derived_gating_is_one_result(tmp_path: Path) -> None:
    tube = write_tube(tmp_path / "inbox" / "day0.fcs")
    manifest, subjects = write_manifest(tmp_path, {0: tube})
    subjects.write_text("patient_id,arm,age,sex,day0_date\n001,MSC,50,F,2026-01-10\n")
    store = str(tmp_path / "store")
    first = run("ingest", str(tube), "--store", store, "--manifest", str(manifest), "--subjects", str(subjects),
                "-j", "1", "--json")
    assert first.exit_code == 0, first.output
    template = tmp_path / "lab.yaml"
    assert run("flow", "template", "--out", str(template)).exit_code == 0
    template.write_text(template.read_text().replace("name: trial_panel", "name: lab_panel"))  # the lab's own copy
    derived = run("derive", "gating", "--store", store, "--panel", "TBNK-Treg", "--strategy", str(template),
                  "--activate", "--reason", "lab template")
    assert derived.exit_code == 0, derived.output
    ingest_id = immunolab.open_store(store).to_pandas("sources")["ingest_id"].iloc[0]
    subjects.write_text("patient_id,arm,age,sex,day0_date\n001,MSC,50,F,2026-01-11\n")  # Day 0 corrected
    again = run("ingest", str(tube), "--store", store, "--manifest", str(manifest), "--subjects", str(subjects),
                "-j", "1", "--supersede", ingest_id, "--reason", "Day 0 corrected")
    assert again.exit_code == 0, again.output
    m = immunolab.open_store(store).to_pandas("measurements")
    t = m[(m["feature"] == "T cells") & (m["measure"] == "pct_parent")]
    assert len(t) == 1 and t["n_replicates"].tolist() == [1]
