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
    "unknown arm": ("002,placebo,Wuhan-1,63,M,2026-02-05", "IML-ID-007", "arm 'placebo'"),
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
    assert r.exit_code == 1 and any(ln.startswith("FAIL IML-ID-004 002-D000-TBNK") for ln in lines)


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


def _apply(study: Study, *extra: str):
    return invoke("identity", "apply", "--store", str(study.store), "--manifest", str(study.manifest), *extra)


def test_a_corrected_day0_date_is_reported_and_refused_until_the_files_are_re_ingested(study: Study) -> None:
    import immunolab

    assert ingest(study).exit_code == 0
    study.rewrite("subjects", SUBJECTS.replace("2026-02-03", "2026-02-01"))
    dry = _apply(study, "--dry-run")
    assert "DAY0 001 day0_date corrected" in dry.output and "2026-02" not in dry.output, dry.output
    r = _apply(study, "--reason", "Day 0 was the screening visit")
    assert r.exit_code == 1 and "IML-ID-016" in r.output and "--supersede" in r.output, r.output
    assert "no changes" not in r.output and "2026-02" not in r.output
    plain = ingest(study)
    assert plain.exit_code == 1 and "IML-ID-016" in plain.output, plain.output
    store = immunolab.open_store(study.store)
    ingest_id = next(o for o in store.to_pandas("sources").itertuples() if o.ingest_id and
                     store.to_pandas("identity_samples").set_index("source_sha256").loc[o.source_sha256, "sample_id"]
                     == "001-D003-TBNK").ingest_id
    again = ingest(study, str(study.inbox / "001_d3.toy"),
                   extra=("--supersede", ingest_id, "--reason", "Day 0 corrected"))
    assert again.exit_code == 0, again.output
    assert "no changes" in _apply(study).output
    day0 = immunolab.open_store(study.store).to_pandas("identity_day0", history=True)
    assert len(day0) == 4 and not day0.astype(str).apply(lambda c: c.str.contains("2026-02-0")).any().any()


def test_the_day0_keys_are_recorded_once_and_a_rerun_records_nothing(study: Study) -> None:
    import immunolab

    assert ingest(study).exit_code == 0
    version = immunolab.open_store(study.store).version
    keys = immunolab.open_store(study.store).to_pandas("identity_day0")
    assert sorted(keys["patient_id"]) == ["001", "002", "003"] and keys["day0_key"].str.len().eq(32).all()
    assert ingest(study).exit_code == 0 and immunolab.open_store(study.store).version == version
    assert "no changes" in _apply(study).output
