"""`--filename-rule`: a file name the rule parses to an unknown patient or a non-protocol visit is refused as such.

The refusal names the file, says which patient or visit is unknown and how to fix it (subjects
file, rename, manifest row) with its own code; it is not IML-ID-001 "not listed in the sample
manifest", which would send the technician to the wrong file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from immunolab.cli import main

REPO = Path(__file__).resolve().parents[2]
TUBE = REPO / "sample_data" / "flow" / "001-D000-PB_TBNK-Treg.fcs"
RULE = r"(?P<patient_id>\d{3})-D(?P<visit_day>\d+)-(?P<specimen>[A-Z]+)_(?P<panel>[^.]+)\.fcs"


def _ingest_named(tmp: Path, name: str) -> tuple[int, list[str]]:
    """Ingest the demo tube renamed to ``name`` with an empty manifest and the rule; return exit code and lines."""
    inbox = tmp / "in"
    inbox.mkdir()
    shutil.copyfile(TUBE, inbox / name)
    shutil.copyfile(REPO / "sample_data" / "subjects.csv", tmp / "subjects.csv")
    (tmp / "manifest.csv").write_text("file,sample_id,patient_id,visit_day,specimen,panel\n")
    r = CliRunner().invoke(main, ["ingest", str(inbox), "--store", str(tmp / "s"), "--manifest",
                                  str(tmp / "manifest.csv"), "-j", "1", "--show-paths", "--filename-rule", RULE],
                           catch_exceptions=False)
    return r.exit_code, r.output.splitlines()


def test_a_rule_giving_a_patient_missing_from_subjects_is_refused_as_an_unknown_patient(tmp_path: Path) -> None:
    code, lines = _ingest_named(tmp_path, "099-D000-PB_TBNK-Treg.fcs")
    fail = [ln for ln in lines if ln.startswith("FAIL ")]
    assert code == 1 and len(fail) == 1, lines
    assert fail[0].startswith("FAIL IML-ID-004 ")
    assert "099-D000-PB_TBNK-Treg.fcs" in fail[0]  # the file is named (--show-paths on this terminal)
    assert "gives patient '099', who is not in the subjects file" in fail[0]
    assert "Add the patient to subjects.csv or rename the file" in fail[0]
    assert "IML-ID-001" not in "\n".join(lines) and "not listed in the sample manifest" not in "\n".join(lines)


def test_a_rule_giving_a_visit_outside_the_protocol_is_refused_as_an_unknown_visit(tmp_path: Path) -> None:
    code, lines = _ingest_named(tmp_path, "001-D005-PB_TBNK-Treg.fcs")
    fail = [ln for ln in lines if ln.startswith("FAIL ")]
    assert code == 1 and len(fail) == 1, lines
    assert fail[0].startswith("FAIL IML-ID-005 ")
    assert "001-D005-PB_TBNK-Treg.fcs" in fail[0]
    assert "gives visit day 5, not a protocol visit" in fail[0]
    assert "Rename the file or list it in the manifest with its protocol day" in fail[0]
    assert "IML-ID-001" not in "\n".join(lines)


def test_a_rule_giving_a_known_patient_and_protocol_visit_ingests_the_file(tmp_path: Path) -> None:
    code, lines = _ingest_named(tmp_path, "001-D014-PB_TBNK-Treg.fcs")
    assert code == 0 and any(ln.startswith("OK   001-D014-TBNK-Treg") for ln in lines), lines
