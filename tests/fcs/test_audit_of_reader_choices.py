"""What the FCS reader decided for a file is on the terminal, in the file's facts and in the audit record.

* A tolerance applied to read a file (``--accept-offset-error``, an automatic off-by-one DATA
  end) is in ``fcs_files.tolerances`` and in the attempt of that ingest in its store version.
* A Beckman LMD file holds two data sets and the reader picks the FCS 3.0 one: the choice is a
  coded ``WARN IML-FCS-018`` line on the terminal and a warning in the audit record, for an
  immune-panel tube (plugin ``fcs``) and for a LEGENDplex bead well (plugin ``bead_array``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

import immunolab
from immunolab.cli import main
from tests.conftest import shared_path

SUBJECTS = "patient_id,arm,site,age,sex\n001,MSC,A,40,F\n"
HEADER = "file,sample_id,patient_id,visit_day,specimen,panel,assay,kit,run,well,role,standard_level,replicate,dilution\n"


def _ingest(tmp: Path, files: dict[str, Path], rows: list[str], *flags: str) -> Any:
    inbox = tmp / "in"
    inbox.mkdir()
    for name, src in files.items():
        shutil.copyfile(src, inbox / name)
    (tmp / "subjects.csv").write_text(SUBJECTS)
    (tmp / "manifest.csv").write_text(HEADER + "".join(r + "\n" for r in rows))
    return CliRunner().invoke(main, ["ingest", str(inbox), "--store", str(tmp / "s"), "--manifest",
                                     str(tmp / "manifest.csv"), "-j", "1", *flags], catch_exceptions=False)


def _attempts(store: Path) -> dict[str, dict[str, Any]]:
    return {a["label"]: a for v in immunolab.open_store(store).versions() for a in v.attempts}


def _tolerances(store: Path) -> dict[str, list[str]]:
    s = immunolab.open_store(store)
    labels = dict(zip(*s.table("sources", columns=["source_sha256", "label"]).to_pydict().values(), strict=True))
    t = s.table("fcs_files", columns=["source_sha256", "tolerances"]).to_pylist()
    return {labels[r["source_sha256"]]: list(r["tolerances"] or []) for r in t}


def test_tolerances_applied_are_in_the_fcs_facts_and_in_the_audit_record_of_the_ingest(tmp_path: Path) -> None:
    noncompliant = shared_path("flow", "flowkit", "data", "noncompliant", "data_start_offset_discrepancy_example.fcs")
    off_by_one = shared_path("flow", "flowkit", "data", "test_comp_example.fcs")
    r = _ingest(tmp_path, {"tube_a.fcs": noncompliant, "tube_b.fcs": off_by_one},
                ["tube_a.fcs,001-D000-X,001,0,PBMC,X,,,,,,,,", "tube_b.fcs,001-D003-X,001,3,PBMC,X,,,,,,,,"],
                "--accept-offset-error")
    assert r.exit_code == 0, r.output
    facts, attempts = _tolerances(tmp_path / "s"), _attempts(tmp_path / "s")
    assert facts["001-D000-X"] and facts["001-D000-X"][0].startswith("accept_offset_error")
    assert any(t.startswith("data_end_off_by_one") for t in facts["001-D003-X"])
    for label in ("001-D000-X", "001-D003-X"):
        assert attempts[label]["tolerances"] == facts[label]
    log = CliRunner().invoke(main, ["log", "--store", str(tmp_path / "s"), "--files"]).output
    assert "tolerance applied: accept_offset_error" in log


def test_a_file_read_without_tolerances_records_none(tmp_path: Path) -> None:
    clean = shared_path("flow", "flowio", "data", "fcs_files", "3FITC_4PE_004.fcs")
    r = _ingest(tmp_path, {"tube.fcs": clean}, ["tube.fcs,001-D000-X,001,0,PBMC,X,,,,,,,,"])
    assert r.exit_code == 0, r.output
    assert _tolerances(tmp_path / "s") == {"001-D000-X": []}
    assert "tolerances" not in _attempts(tmp_path / "s")["001-D000-X"]


def _choice_warning(output: str, label: str) -> list[str]:
    return [ln for ln in output.splitlines()
            if re.match(rf"^WARN IML-FCS-018 {re.escape(label)}: the file holds 2 data sets .*read data set 1", ln)]


def test_the_lmd_data_set_choice_of_a_flow_tube_is_a_coded_warn_line_and_in_the_audit_record(tmp_path: Path) -> None:
    lmd = shared_path("flow", "flowio", "data", "fcs_files", "coulter.lmd")
    r = _ingest(tmp_path, {"tube.lmd": lmd}, ["tube.lmd,001-D000-X,001,0,PBMC,X,,,,,,,,"])
    assert r.exit_code == 0, r.output
    assert len(_choice_warning(r.output, "001-D000-X")) == 1, r.output
    warnings = _attempts(tmp_path / "s")["001-D000-X"]["warnings"]
    assert any(w.startswith("IML-FCS-018 the file holds 2 data sets") for w in warnings)


def test_the_lmd_data_set_choice_of_a_bead_well_is_a_coded_warn_line_and_in_the_audit_record(tmp_path: Path) -> None:
    well = shared_path("beads", "legendplex_navios", "LP 13 C7-015 00006749 015.LMD")
    r = _ingest(tmp_path, {"well.lmd": well}, ["well.lmd,RUN1-A1,,,,LP13,bead_array,legendplex_hu_antivirus_13plex,"
                                               "RUN1,A1,standard,7,1,1"])
    assert "OK   RUN1-A1" in r.output, r.output
    assert len(_choice_warning(r.output, "RUN1-A1")) == 1, r.output
    warnings = _attempts(tmp_path / "s")["RUN1-A1"]["warnings"]
    assert any(w.startswith("IML-FCS-018 the file holds 2 data sets") for w in warnings)


def test_dataset_0_given_to_ingest_reads_the_fcs_2_0_copy_of_a_bead_well(tmp_path: Path) -> None:
    from immunolab.beads import classify_fcs_file, load_kit

    well = shared_path("beads", "legendplex_navios", "LP 13 C7-015 00006749 015.LMD")
    r = _ingest(tmp_path, {"well.lmd": well}, ["well.lmd,RUN1-A1,,,,LP13,bead_array,legendplex_hu_antivirus_13plex,"
                                               "RUN1,A1,standard,7,1,1"], "--dataset", "0")
    assert "OK   RUN1-A1" in r.output, r.output
    assert not _choice_warning(r.output, "RUN1-A1"), r.output
    versions = immunolab.open_store(tmp_path / "s").versions()
    assert any((v.inputs.get("options") or {}).get("dataset") == 0 for v in versions)
    expected = classify_fcs_file(str(well), load_kit("legendplex_hu_antivirus_13plex"), dataset=0)
    wells = immunolab.open_store(tmp_path / "s").table("cytokine_wells", columns=["analyte", "median_mfi"]).to_pylist()
    stored = {w["analyte"]: w["median_mfi"] for w in wells}
    assert stored["IL-6"] == expected.population("IL-6").reporter_mfi


def test_a_cba_well_with_beads_not_found_or_ambiguous_is_a_coded_warn_line(tmp_path: Path) -> None:
    well = shared_path("beads", "cba_facsverse", "Standard 10_001_20170613_135959.fcs")
    r = _ingest(tmp_path, {"std10.fcs": well}, ["std10.fcs,CBA-10,,,,CBA-Flex,bead_array,,RUN1,A1,standard,9,1,1"],
                "--bead-kit", "bd_cba_hu_inflammatory_cytokines")
    assert "OK   CBA-10" in r.output, r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("WARN IML-BEAD-006 CBA-10: ")]
    assert any("3 of 6 analytes have no bead population (bead_not_found: IL-10, TNF-a, IL-12p70)" in ln
               for ln in lines), r.output
    assert any("ambiguous for 3 of 6 analytes (bead_map_ambiguous: IL-8, IL-1b, IL-6)" in ln for ln in lines), r.output


def test_a_bead_well_without_a_kit_says_the_name_came_from_its_panel_and_how_to_give_one(tmp_path: Path) -> None:
    well = shared_path("beads", "cba_facsverse", "Standard 10_001_20170613_135959.fcs")
    r = _ingest(tmp_path, {"std10.fcs": well}, ["std10.fcs,CBA-10,,,,CBA-Flex,bead_array,,RUN1,A1,standard,9,1,1"])
    line = next(ln for ln in r.output.splitlines() if ln.startswith("FAIL"))
    assert line.startswith("FAIL IML-BEAD-002 CBA-10: ")
    assert "the manifest's kit column is empty for this well, so its panel 'CBA-Flex' was taken as the kit" in line
    assert "kit column" in line and "--bead-kit" in line and "bd_cba_hu_inflammatory_cytokines" in line


def test_a_bead_sample_row_without_patient_visit_or_aliquot_of_says_what_the_row_lacks(tmp_path: Path) -> None:
    well = shared_path("beads", "legendplex_navios", "LP 13 C7-015 00006749 015.LMD")
    r = _ingest(tmp_path, {"well.lmd": well}, ["well.lmd,RUN1-A1,,,,LP13,bead_array,legendplex_hu_antivirus_13plex,"
                                               "RUN1,A1,sample,,1,1"])
    line = next(ln for ln in r.output.splitlines() if ln.startswith("FAIL"))
    assert line.startswith("FAIL IML-BEAD-005 RUN1-A1: "), r.output
    assert "patient_id and visit_day" in line and "aliquot_of" in line
    assert "IML-ID-008" not in r.output
