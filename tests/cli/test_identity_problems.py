"""Identity specifications at the command line: subjects problems, duplicate bytes, identity history."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from immunolab.cli import main
from tests.store.conftest import SUBJECTS, Study


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def ingest(study: Study, *paths: str, extra: tuple[str, ...] = ()):
    return invoke("ingest", *(paths or (str(study.inbox),)), "--store", str(study.store), "--manifest",
                  str(study.manifest), "-j", "1", *extra)


BAD_SUBJECTS = {
    "age 75": ("002,control,Wuhan-1,75,M,2026-02-05", "IML-ID-006", "age is above the 18-70"),
    "slash date": ("002,control,Wuhan-1,63,M,02/12/2020", "IML-ID-007", "NN/NN/NNNN"),
    "no such day": ("002,control,Wuhan-1,63,M,2020-02-30", "IML-ID-007", "not a calendar date"),
    "unknown arm": ("002,placebo,Wuhan-1,63,M,2026-02-05", "IML-ID-007", "arm (written as AAAAAAA)"),
    "blank age": ("002,control,Wuhan-1,,M,2026-02-05", "IML-ID-007", "age is empty"),
}


def _with_bad_line(line: str) -> str:
    return "\n".join(line if row.startswith("002,") else row for row in SUBJECTS.splitlines()) + "\n"


@pytest.mark.parametrize("case", sorted(BAD_SUBJECTS))
def test_every_subjects_problem_is_listed_once_before_the_files(study: Study, case: str) -> None:
    line, code, text = BAD_SUBJECTS[case]
    study.rewrite("subjects", _with_bad_line(line))
    r = ingest(study)
    lines = r.output.splitlines()
    problems = [ln for ln in lines if ln.startswith("PROBLEM ")]
    assert len(problems) == 1 and problems[0].startswith(f"PROBLEM {code} subjects line 3: "), r.output
    age, day0 = line.split(",")[3], line.split(",")[5]
    assert text in problems[0] and day0 not in problems[0] and (not age or f" {age}" not in problems[0])
    assert lines.index(problems[0]) < min(i for i, ln in enumerate(lines) if ln.startswith(("OK ", "FAIL ")))
    assert r.exit_code == 1 and any(ln.startswith("FAIL IML-ID-004 file:") and "manifest line 4" in ln for ln in lines)


def test_subjects_problems_are_in_the_json_report(study: Study) -> None:
    study.rewrite("subjects", _with_bad_line(BAD_SUBJECTS["slash date"][0]))
    out = json.loads(ingest(study, extra=("--json",)).output)
    assert [(p["code"], p["file"], p["line"]) for p in out["identity_problems"]] == [("IML-ID-007", "subjects", 3)]
    assert "02/12" not in json.dumps(out)


def test_identity_apply_refuses_a_subjects_file_with_problems(study: Study) -> None:
    assert ingest(study).exit_code == 0
    study.rewrite("subjects", _with_bad_line(BAD_SUBJECTS["age 75"][0]))
    r = invoke("identity", "apply", "--store", str(study.store), "--manifest", str(study.manifest), "--reason", "x")
    assert r.exit_code == 1 and "IML-ID-006" in r.output and "subjects line 3" in r.output, r.output
    assert "no changes" not in r.output


def _copy_listed_as_another_sample(study: Study) -> None:
    """Export 001's D3 tube a second time under D6's name, with its own manifest row."""
    (study.inbox / "001_d6.toy").write_bytes((study.inbox / "001_d3.toy").read_bytes())
    study.rewrite("manifest", study.manifest.read_text() + "001_d6.toy,001-D006-TBNK,001,6,PBMC,TBNK\n")


def test_the_same_bytes_listed_under_another_sample_are_refused_not_skipped(study: Study) -> None:
    assert ingest(study).exit_code == 0
    _copy_listed_as_another_sample(study)
    r = ingest(study, str(study.inbox / "001_d6.toy"))
    assert r.exit_code == 1, r.output
    fail = next(ln for ln in r.output.splitlines() if ln.startswith("FAIL "))
    assert fail.startswith("FAIL IML-ID-014 001-D006-TBNK:") and "001-D003-TBNK" in fail and "identity apply" in fail
    assert "001_d" not in r.output  # file names are never shown


def test_the_same_bytes_listed_under_another_sample_in_one_run_are_refused(study: Study) -> None:
    assert ingest(study, str(study.inbox / "001_d3.toy")).exit_code == 0
    _copy_listed_as_another_sample(study)
    r = ingest(study)
    assert r.exit_code == 1 and sum(ln.startswith("FAIL IML-ID-014") for ln in r.output.splitlines()) == 1, r.output
    assert sum(ln.startswith("SKIP 001-D003-TBNK") for ln in r.output.splitlines()) == 1


def test_a_rerun_of_the_same_file_with_the_same_manifest_stays_a_skip(study: Study) -> None:
    assert ingest(study).exit_code == 0
    r = ingest(study)
    assert r.exit_code == 0 and sum(ln.startswith("SKIP ") for ln in r.output.splitlines()) == 4, r.output


def test_the_same_new_bytes_listed_as_two_samples_in_one_run_are_refused(study: Study) -> None:
    _copy_listed_as_another_sample(study)
    r = ingest(study)
    fails = [ln for ln in r.output.splitlines() if ln.startswith("FAIL ")]
    assert r.exit_code == 1 and len(fails) == 1 and fails[0].startswith("FAIL IML-ID-014"), r.output
    assert "001-D003-TBNK" in fails[0] and "001-D006-TBNK" in fails[0]


def test_identity_history_of_an_unknown_sample_or_patient_is_a_coded_error(study: Study) -> None:
    assert ingest(study).exit_code == 0
    for flag, value in (("--sample", "nonexist"), ("--patient", "3")):
        r = invoke("identity", "history", "--store", str(study.store), flag, value)
        assert r.exit_code == 1 and "IML-ID-015" in r.output and value in r.output, r.output


def test_identity_history_shows_visit_days_as_whole_days(study: Study) -> None:
    assert ingest(study).exit_code == 0
    r = invoke("identity", "history", "--store", str(study.store), "--patient", "002")
    assert r.exit_code == 0 and "sample 002-D000-TBNK patient 002 day 0 active" in r.output, r.output
    assert ".0 " not in r.output
    rows = json.loads(invoke("identity", "history", "--store", str(study.store), "--patient", "002", "--json").output)
    assert sorted(r["visit_day"] for r in rows if r["record"] == "sample") == [0, 3]


def test_identity_history_shows_records_that_read_the_same_once_with_their_count() -> None:
    from immunolab.cli.identity_cmd import _merge_same

    well = {"version": 3, "record": "sample", "sample_id": "S1", "patient_id": "003", "visit_day": 3,
            "status": "active", "reason": None}
    merged = _merge_same([well, dict(well), {**well, "version": 4}])
    assert [(r["version"], r["records"]) for r in merged] == [(3, 2), (4, 1)]


def test_a_corrected_day0_date_is_not_silent_and_stops_repeating_once_recorded(study: Study) -> None:
    """A changed day0_date said `no changes`; no date reaches the store, so it is a NOTE, then recorded with --reason."""
    from immunolab.identity.apply import DAY0_NOTE

    ingest(study)
    study.rewrite("subjects", SUBJECTS.replace("001,MSC,Wuhan-1,41,F,2026-02-03", "001,MSC,Wuhan-1,41,F,2026-02-02"))
    args = ("identity", "apply", "--store", str(study.store), "--manifest", str(study.manifest))
    dry = invoke(*args)
    assert dry.exit_code == 0 and DAY0_NOTE in dry.output and "run again with --reason" in dry.output
    assert "2026-02" not in dry.output  # the dates themselves are never printed
    again = ingest(study)
    assert DAY0_NOTE in again.output  # ingest shows it too
    recorded = invoke(*args, "--reason", "Day 0 of 001 corrected; its dated files re-ingested")
    assert recorded.exit_code == 0 and "recorded as store version" in recorded.output
    assert DAY0_NOTE not in invoke(*args).output and DAY0_NOTE not in ingest(study).output
    versions = json.loads(invoke("log", "--store", str(study.store), "--json").output)
    assert versions[-1]["kind"] == "identity" and versions[-1]["actions"] == [DAY0_NOTE]
    assert not any("2026-02-02" in json.dumps(v) for v in versions)


def test_a_subjects_file_that_only_adds_a_patient_gives_no_day0_note(study: Study) -> None:
    from immunolab.identity.apply import DAY0_NOTE

    ingest(study)
    study.rewrite("subjects", SUBJECTS + "004,control,Wuhan-2,50,M,2026-03-01\n")
    out = invoke("identity", "apply", "--store", str(study.store), "--manifest", str(study.manifest))
    assert "NEW 004" in out.output and DAY0_NOTE not in out.output


def test_a_renamed_copy_of_a_stored_bead_well_for_the_same_sample_is_not_refused(tmp_path) -> None:
    """A bead well's file row keeps no patient (its samples carry them), so comparing patient and visit
    refused the very same sample renamed (reviewer's repro: LP-INFL-R01-A3.fcs -> ..._v2.fcs)."""
    from types import SimpleNamespace

    from immunolab.errors import IdentityError
    from immunolab.identity.keys import file_key
    from immunolab.identity.model import ManifestEntry
    from immunolab.ingest import _refuse_copy_of_another_sample

    secret = b"k" * 32
    opts = SimpleNamespace(secret=secret, known={"sha": "ing-1"},
                           stored={"sha": (file_key(secret, "LP-INFL-R01-A3.fcs"), "BEADRUN-01-A3")})
    well = ManifestEntry(9, "LP-INFL-R01-A3_v2.fcs", "BEADRUN-01-A3", "001", 3, "serum", None, assay="bead_array")
    _refuse_copy_of_another_sample(opts, "sha", tmp_path / "LP-INFL-R01-A3_v2.fcs", well, "BEADRUN-01-A3")  # no raise
    other = ManifestEntry(9, "LP-INFL-R01-A3_v2.fcs", "BEADRUN-01-A4", "001", 3, "serum", None, assay="bead_array")
    with pytest.raises(IdentityError) as exc:
        _refuse_copy_of_another_sample(opts, "sha", tmp_path / "LP-INFL-R01-A3_v2.fcs", other, "BEADRUN-01-A4")
    assert exc.value.code == "IML-ID-014"
