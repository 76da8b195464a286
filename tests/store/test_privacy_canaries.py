"""Values a lab wrote by hand (manifest, subjects, file names) never reach the console, --json or the audit record.

A privacy audit plants canaries (``ZZCANARY``, a name, a birth date) where a technician might
type a name by mistake; every refusal names the column, the line and the shape of the cell
instead (the rule of :mod:`immunolab.redact`).
"""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from immunolab.cli import main
from immunolab.store import open_store
from tests.store.conftest import SUBJECTS, Study

# 1961 as a number of its own: not inside a longer number (an events/s figure) or lower-case hex (an ingest id),
# which made the test fail by chance; "D1961" is still caught
CANARY = re.compile(r"(?i:ZZCANARY|SMITH|JOHN)|(?<![0-9a-f,.])1961(?![0-9a-f])")


def _run(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    return r.output


def _everything_shown(study: Study, *ingest_args: str) -> list[str]:
    """Return what ingest printed (plain and --json), what `log --files` prints and the stored attempts."""
    base = ["ingest", str(study.inbox), "--store", str(study.store), "--manifest", str(study.manifest), "-j", "1",
            *ingest_args]
    shown = [_run(*base), _run(*base, "--json")]
    shown += [_run("log", "--store", str(study.store), "--files"),
              _run("log", "--store", str(study.store), "--files", "--json")]
    shown += [json.dumps(v.attempts) for v in open_store(study.store).versions()]
    return shown


def test_canaries_in_the_manifest_and_subjects_file_are_never_repeated(study: Study) -> None:
    study.subjects.write_text(SUBJECTS + "004,ZZCANARY-ARM-SMITHJOHN,Wuhan-1,50,F,2026-02-03\n")
    study.manifest.write_text(
        "file,sample_id,patient_id,visit_day,specimen,panel,assay\n"
        "a.toy,SMITH JOHN ZZCANARY-SID,001,0,PBMC,TBNK,\n"
        "b.toy,002-D000-TBNK,ZZCANARY-PID-SMITHJOHN,0,PBMC,TBNK,\n"
        "c.toy,003-D000-TBNK,003,0,PBMC,TBNK,ZZCANARY-ASSAY\n"
        "d.toy,003-D003-TBNK,003,1961,PBMC,TBNK,\n"
        "e.toy,,ZZCANARY-PID-JOHN,0,PBMC,TBNK,\n")  # no sample_id: the one made from the patient is no label
    for i, name in enumerate("abcde"):
        study.file(f"{name}.toy", f"Lymphocytes,{1000 + i}\n")
    shown = _everything_shown(study)
    assert "IML-ID-007" in shown[0] and "IML-ID-004" in shown[0] and "IML-IN-004" in shown[0], shown[0]
    assert "IML-ID-005" in shown[0] and "FAIL" in shown[2], shown
    for text in shown:
        assert not CANARY.search(text), text


def test_canaries_in_file_names_read_by_a_filename_rule_are_never_repeated(study: Study) -> None:
    for p in study.inbox.iterdir():
        p.unlink()
    study.manifest.write_text("file,sample_id,patient_id,visit_day,specimen,panel\n")
    study.file("ZZCANARYSMITHJOHN-D000.toy", "Lymphocytes,1000\n")
    study.file("002-D1961-ZZCANARY-SMITH.toy", "Lymphocytes,1001\n")
    shown = _everything_shown(study, "--filename-rule", r"(?P<patient_id>[A-Z0-9]+)-D(?P<visit_day>\d+)")
    assert "IML-ID-004" in shown[0] and "IML-ID-005" in shown[0], shown[0]
    for text in shown:
        assert not CANARY.search(text), text
