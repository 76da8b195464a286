"""`identity apply` guards: no visit merged into another, no change applied twice, history and withdrawals shown.

The toy study stores 001-D000-TBNK (001, day 0), 001-D003-TBNK (001, day 3), 002-D000-TBNK
(002, day 0) and plate samples S0001 (002, day 3, serum) and S0002 (003, day 6, serum).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

import immunolab
from immunolab.cli import main
from immunolab.store.verify import verify_store
from tests.store.conftest import MANIFEST, SUBJECTS, Study


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def ingest(study: Study, *extra: str):
    return invoke("ingest", str(study.inbox), "--store", str(study.store), "--manifest", str(study.manifest), "-j", "1",
                  *extra)


def apply(study: Study, *extra: str):
    return invoke("identity", "apply", "--store", str(study.store), "--manifest", str(study.manifest), *extra)


def _n_versions(study: Study) -> int:
    return len(immunolab.open_store(study.store).versions())


def test_a_tube_moved_onto_a_measured_visit_is_refused_naming_both_samples(study: Study) -> None:
    ingest(study)
    before = _n_versions(study)
    study.rewrite("manifest", MANIFEST.replace("001_d3.toy,001-D003-TBNK,001,3", "001_d3.toy,001-D003-TBNK,001,0"))
    r = apply(study, "--reason", "visit day corrected")
    assert r.exit_code == 1 and "IML-ID-013" in r.output, r.output
    assert "001-D003-TBNK" in r.output and "001-D000-TBNK" in r.output and "averaged" in r.output
    assert _n_versions(study) == before  # nothing committed
    s = immunolab.open_store(study.store).to_pandas("samples")
    assert sorted(s.loc[s["patient_id"] == "001", "visit_day"]) == [0, 3]


def test_a_plate_sample_moved_onto_a_measured_visit_is_refused(study: Study) -> None:
    ingest(study)
    study.rewrite("manifest", MANIFEST.replace(",S0001,002,3,serum,", ",S0001,003,6,serum,"))
    r = apply(study, "--reason", "tube label misread")
    assert r.exit_code == 1 and "IML-ID-013" in r.output and "S0001" in r.output and "S0002" in r.output, r.output
    ingest_again = ingest(study, "--reason", "tube label misread")  # ingest applies the manifest the same way
    assert ingest_again.exit_code == 1 and "IML-ID-013" in ingest_again.output, ingest_again.output
    m = immunolab.open_store(study.store).to_pandas("measurements")
    assert "S0001+S0002" not in set(m["sample_id"]) and set(m.loc[m["sample_id"] == "S0001", "patient_id"]) == {"002"}


def test_two_tubes_swapped_together_and_replicates_moved_together_are_applied(study: Study) -> None:
    ingest(study)
    study.rewrite("manifest", MANIFEST + "002_d0_rep.toy,002-D000-TBNK-R,002,0,PBMC,TBNK\n")
    study.file("002_d0_rep.toy", "Lymphocytes,1100\nT cells,700\nB cells,110\n")
    assert "OK" in invoke("ingest", str(study.inbox / "002_d0_rep.toy"), "--store", str(study.store), "--manifest",
                          str(study.manifest), "--replicate").output
    swapped = (MANIFEST + "002_d0_rep.toy,002-D000-TBNK-R,002,6,PBMC,TBNK\n").replace(
        "jane_doe_001_d0.toy,001-D000-TBNK,001,0", "jane_doe_001_d0.toy,001-D000-TBNK,001,3").replace(
        "001_d3.toy,001-D003-TBNK,001,3", "001_d3.toy,001-D003-TBNK,001,0").replace(
        "002_d0.toy,002-D000-TBNK,002,0", "002_d0.toy,002-D000-TBNK,002,6")
    study.rewrite("manifest", swapped)
    r = apply(study, "--reason", "tubes of 001 swapped; 002 was day 6")
    assert r.exit_code == 0 and "applied 4 change(s)" in r.output, r.output
    m = immunolab.open_store(study.store).to_pandas("measurements")
    t = m[(m["feature"] == "T cells") & (m["patient_id"] == "002")]
    assert list(t["visit_day"]) == [6] and list(t["n_replicates"]) == [2]


def test_two_simultaneous_applies_record_the_change_once(study: Study, monkeypatch, capsys) -> None:
    """Two runs planned against the same version both committed `ARM 002 control -> MSC`; the second was false."""
    import immunolab.identity.apply as apply_mod

    ingest(study)
    study.rewrite("subjects", SUBJECTS.replace("002,control,", "002,MSC,"))
    planned = threading.Barrier(2, timeout=30)
    waited: set[int] = set()
    plan = apply_mod.plan_identity

    def plan_then_wait(*a, **kw):
        update = plan(*a, **kw)
        if threading.get_ident() not in waited:  # the first plan of each run: both see the same store version
            waited.add(threading.get_ident())
            planned.wait()
        return update

    monkeypatch.setattr(apply_mod, "plan_identity", plan_then_wait)
    capsys.readouterr()
    args = ["identity", "apply", "--store", str(study.store), "--manifest", str(study.manifest), "--reason", "CRF fix"]
    threads = [threading.Thread(target=main.main, kwargs={"args": args, "standalone_mode": False}) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    out = capsys.readouterr().out
    assert out.count("applied 1 change(s)") == 1 and out.count("no changes: another run applied them first") == 1, out
    s = immunolab.open_store(study.store)
    assert sum("ARM 002 control -> MSC" in v.actions for v in s.versions()) == 1, [v.actions for v in s.versions()]
    subj = s.to_pandas("identity_subjects", history=True)
    assert list(subj.loc[subj["patient_id"] == "002", "arm"]) == ["control", "MSC"]
    assert verify_store(study.store).ok


def test_identity_history_shows_a_site_age_or_sex_change_by_column_with_old_and_new(study: Study) -> None:
    ingest(study)
    study.rewrite("subjects", SUBJECTS.replace("002,control,Wuhan-1,63,M", "002,control,Wuhan-2,64,M"))
    assert apply(study, "--reason", "site and age corrected").exit_code == 0
    r = invoke("identity", "history", "--store", str(study.store), "--patient", "002")
    assert "subject 002 arm control active (site Wuhan-1 -> Wuhan-2, age 63 -> 64) - site and age corrected" in r.output, \
        r.output
    rows = json.loads(invoke("identity", "history", "--store", str(study.store), "--patient", "002", "--json").output)
    subj = [x for x in rows if x["record"] == "subject"]
    assert subj[0]["site"] == "Wuhan-1" and subj[0]["changes"] == []
    assert subj[-1]["changes"] == [{"column": "site", "old": "Wuhan-1", "new": "Wuhan-2"},
                                   {"column": "age", "old": 63, "new": 64}]


def test_samples_and_patients_missing_from_the_new_files_are_noted_as_kept(study: Study) -> None:
    from immunolab.identity.apply import DAY0_NOTE

    ingest(study)
    study.rewrite("manifest", MANIFEST.replace("001_d3.toy,001-D003-TBNK,001,3,PBMC,TBNK\n", "").replace(
        ",S0002,003,6,serum,\n", ""))
    r = apply(study, "--reason", "withdrawn")
    assert r.exit_code == 0 and "IML-ID-017" in r.output, r.output
    note = next(ln for ln in r.output.splitlines() if "IML-ID-017" in ln)
    assert "001-D003-TBNK" in note and "S0002" in note and "qc exclude --sample" in note, note
    study.rewrite("manifest", "".join(ln for ln in MANIFEST.splitlines(keepends=True) if ",003," not in ln))
    study.rewrite("subjects", "\n".join(ln for ln in SUBJECTS.splitlines() if not ln.startswith("003,")) + "\n")
    r = apply(study)
    assert "IML-ID-017" in r.output and "stored patient(s) are not in the subjects file: 003" in r.output and DAY0_NOTE not in r.output, r.output
    r = ingest(study)
    assert "IML-ID-017" in r.output and "stored patient(s) are not in the subjects file: 003" in r.output and DAY0_NOTE not in r.output, r.output


def test_a_covariate_change_shows_values_only_for_covariates_the_store_keeps() -> None:
    from immunolab.cli.identity_cmd import _change_text, _shown_covariates, _with_changes

    old = {"commit_id": "a", "patient_id": "001", "arm": "MSC", "site": "S1", "sex": "F", "age": 41.0, "severity": None,
           "covariates_json": '{"bmi": "24.5", "nickname": "ZZCANARY-A"}'}
    new = {**old, "commit_id": "b", "covariates_json": '{"bmi": "25.1", "nickname": "ZZCANARY-B"}'}
    frame = __import__("pandas").DataFrame([old, new, *({**old, "covariates_json": f'{{"nickname": "X{i}"}}'}
                                                        for i in range(5))])
    shown = _shown_covariates(frame)  # a column whose text differs for every patient is refused as identifying
    assert shown == {"bmi"}
    changes = _with_changes([new, old], {"a": 1, "b": 2}, shown)[1]["changes"]
    assert [_change_text(c) for c in changes] == ["bmi 24.5 -> 25.1", "nickname changed"]
    assert "ZZCANARY" not in json.dumps(changes)


def _died(study: Study, patient: str, day: int) -> None:
    """Ingest a clinical events export recording ``patient``'s death on study ``day`` (no date)."""
    events = study.root / "events.csv"
    events.write_text(f"patient_id,event,date,study_day\n{patient},death,,{day}\n")
    r = invoke("ingest", str(events), "--store", str(study.store), "--manifest", str(study.manifest), "-j", "1")
    assert r.exit_code == 0 and "OK" in r.output, r.output


def test_a_tube_relabelled_onto_a_visit_after_the_patients_death_is_applied_with_iml_id_021(study: Study) -> None:
    ingest(study)
    _died(study, "002", 1)
    study.rewrite("manifest", MANIFEST.replace("001_d3.toy,001-D003-TBNK,001,3", "001_d3.toy,001-D003-TBNK,002,3"))
    r = CliRunner().invoke(main, ["identity", "apply", "--store", str(study.store), "--manifest", str(study.manifest),
                                  "--reason", "tube label misread"], catch_exceptions=False)
    assert r.exit_code == 0 and "applied 1 change(s)" in r.stdout, r.output
    (warning,) = [line for line in r.stderr.splitlines() if "IML-ID-021" in line]
    assert "001-D003-TBNK" in warning and "visit day 3" in warning and "death on study day 1" in warning
    assert "2026" not in r.output and "Wuhan" not in r.output  # study days only, never dates
    m = immunolab.open_store(study.store).to_pandas("measurements")
    assert set(m.loc[m["sample_id"] == "001-D003-TBNK", "patient_id"]) == {"002"}  # applied all the same
    as_json = json.loads(apply(study, "--dry-run", "--json").output)
    assert as_json["changes"] == [] and as_json["warnings"] == []  # already applied: nothing to warn about


def test_a_relabel_applied_by_ingest_reason_is_warned_too(study: Study) -> None:
    ingest(study)
    _died(study, "002", 1)
    study.rewrite("manifest", MANIFEST.replace("001_d3.toy,001-D003-TBNK,001,3", "001_d3.toy,001-D003-TBNK,002,3"))
    r = CliRunner().invoke(main, ["ingest", str(study.inbox), "--store", str(study.store), "--manifest",
                                  str(study.manifest), "-j", "1", "--reason", "tube label misread"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    (warning,) = [line for line in r.stderr.splitlines() if "IML-ID-021" in line]
    assert "001-D003-TBNK" in warning and "death on study day 1" in warning
    m = immunolab.open_store(study.store).to_pandas("measurements")
    assert set(m.loc[m["sample_id"] == "001-D003-TBNK", "patient_id"]) == {"002"}


def test_ingest_quiet_prints_the_relabel_it_commits_but_not_the_identity_warning(study: Study) -> None:
    """`ingest -q` prints no WARN line; the RELABEL line of the applied correction is kept (it says what changed)."""
    ingest(study)
    _died(study, "002", 1)
    study.rewrite("manifest", MANIFEST.replace("001_d3.toy,001-D003-TBNK,001,3", "001_d3.toy,001-D003-TBNK,002,3"))
    r = CliRunner().invoke(main, ["ingest", str(study.inbox), "--store", str(study.store), "--manifest",
                                  str(study.manifest), "-j", "1", "--reason", "tube label misread", "-q"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "WARN" not in r.stderr and "IML-ID-021" not in r.output, r.output
    assert [ln for ln in r.stdout.splitlines() if ln.startswith("RELABEL ")] == [
        "RELABEL 001-D003-TBNK patient 001 -> 002"], r.stdout
    m = immunolab.open_store(study.store).to_pandas("measurements")
    assert set(m.loc[m["sample_id"] == "001-D003-TBNK", "patient_id"]) == {"002"}  # applied all the same


def test_a_relabel_onto_a_visit_whose_window_holds_the_death_day_is_not_warned(study: Study) -> None:
    ingest(study)
    _died(study, "002", 2)  # the day 3 visit's window starts on day 2: drawn on the day of death is possible
    study.rewrite("manifest", MANIFEST.replace("001_d3.toy,001-D003-TBNK,001,3", "001_d3.toy,001-D003-TBNK,002,3"))
    r = apply(study, "--dry-run", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["warnings"] == [], r.output
    _died(study, "002", 1)  # a later export: the death on day 1
    warned = json.loads(apply(study, "--dry-run", "--json").output)["warnings"]
    assert [w["code"] for w in warned] == ["IML-ID-021"] and "death on study day 1" in warned[0]["message"]


def test_a_new_tube_on_a_visit_after_the_patients_death_is_ingested_with_iml_id_021(study: Study) -> None:
    ingest(study)
    _died(study, "002", 1)
    study.rewrite("manifest", MANIFEST + "002_d6.toy,002-D006-TBNK,002,6,PBMC,TBNK\n")
    study.file("002_d6.toy", "Lymphocytes,900\nT cells,600\nB cells,90\n")
    r = CliRunner().invoke(main, ["ingest", str(study.inbox / "002_d6.toy"), "--store", str(study.store),
                                  "--manifest", str(study.manifest), "-j", "1", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    (warning,) = [w for w in out["identity_warnings"] if w["code"] == "IML-ID-021"]
    assert "002-D006-TBNK" in warning["message"] and "visit day 6" in warning["message"]
    assert "death on study day 1" in warning["message"] and "kept all the same" in warning["message"]
    assert "2026" not in warning["message"]  # study days only, never dates
    m = immunolab.open_store(study.store).to_pandas("measurements")
    assert set(m.loc[m["sample_id"] == "002-D006-TBNK", "visit_day"]) == {6}  # ingested all the same


def test_a_new_tube_before_the_death_and_files_of_other_patients_are_not_warned(study: Study) -> None:
    _died(study, "002", 2)  # stored first: S0001 (002, day 3) was drawn in its window, which holds day 2
    r = ingest(study)
    assert r.exit_code == 0 and "IML-ID-021" not in r.output, r.output


def _second_run(study: Study, visit: int) -> tuple[Path, Path]:
    """Return (folder, manifest) of a later run whose tube has a stored tube's name (002_d0.toy) and new bytes."""
    run = study.root / "run2"
    run.mkdir(exist_ok=True)
    (run / "002_d0.toy").write_text("TOYASSAY v1\nLymphocytes,800\nT cells,300\nB cells,60\n")
    manifest = study.root / "manifest_run2.csv"
    manifest.write_text(f"file,sample_id,patient_id,visit_day,specimen,panel\n"
                        f"002_d0.toy,002-D{visit:03d}-TBNK,002,{visit},PBMC,TBNK\n")
    return run, manifest


def test_a_new_file_under_a_stored_files_name_is_a_new_sample_not_a_relabel(study: Study) -> None:
    ingest(study)
    run, manifest = _second_run(study, 6)  # an instrument reusing its file names across runs
    r = invoke("ingest", str(run), "--store", str(study.store), "--manifest", str(manifest), "-j", "1")
    assert r.exit_code == 0 and "IML-ID-012" not in r.output and "RELABEL" not in r.output, r.output
    t = immunolab.open_store(study.store).to_pandas("measurements")
    t = t[(t["feature"] == "T cells") & (t["patient_id"] == "002")].set_index("visit_day")
    assert t.loc[0, "sample_id"] == "002-D000-TBNK" and t.loc[6, "sample_id"] == "002-D006-TBNK"
    assert t.loc[0, "value"] != t.loc[6, "value"]  # each visit keeps its own file's data


def test_identity_apply_with_a_name_several_stored_files_have_applies_only_what_it_can_tell(study: Study) -> None:
    ingest(study)
    run, manifest = _second_run(study, 6)
    assert invoke("ingest", str(run), "--store", str(study.store), "--manifest", str(manifest), "-j", "1").exit_code == 0
    same = invoke("identity", "apply", "--store", str(study.store), "--manifest", str(manifest), "--reason", "x")
    assert same.exit_code == 0 and "RELABEL" not in same.output, same.output  # the row is the day 6 file's
    before = _n_versions(study)
    manifest.write_text(manifest.read_text().replace("002-D006-TBNK,002,6", "002-D010-TBNK,002,10"))
    unclear = invoke("identity", "apply", "--store", str(study.store), "--manifest", str(manifest), "--reason", "x")
    assert unclear.exit_code == 1 and "IML-ID-022" in unclear.output, unclear.output
    assert "002-D000-TBNK" in unclear.output and "002-D006-TBNK" in unclear.output
    assert _n_versions(study) == before
    fixed = invoke("ingest", str(run), "--store", str(study.store), "--manifest", str(manifest), "-j", "1",
                   "--reason", "day 10, not 6")  # the file itself says which one: matched by its bytes
    assert fixed.exit_code == 0 and "RELABEL 002-D006-TBNK" in fixed.output, fixed.output
    s = immunolab.open_store(study.store).to_pandas("samples")
    assert sorted(s.loc[(s["patient_id"] == "002") & (s["sample_key"] == ""), "visit_day"]) == [0, 10]


def test_a_rerun_that_changes_nothing_reads_no_file_to_compare_bytes(study: Study, monkeypatch) -> None:
    from immunolab.identity import load_identity
    from immunolab.identity.apply import plan_identity
    from immunolab.store.layout import store_key

    ingest(study)
    s = immunolab.open_store(study.store)
    files = sorted(study.inbox.iterdir())

    def no_read(*_a: object, **_k: object) -> None:
        raise AssertionError("a file was hashed although nothing would change")

    monkeypatch.setattr("immunolab.store.raw.hash_file", no_read)
    assert plan_identity(s, load_identity(study.manifest, study.subjects), store_key(s.loc), reason=None,
                         files=files).empty


def test_superseding_with_a_re_export_that_lost_a_sample_says_which_sample_left(study: Study) -> None:
    ingest(study)
    s = immunolab.open_store(study.store)
    plate = s.to_pandas("samples")
    old_ingest = plate.loc[plate["sample_id"] == "S0002", "ingest_id"].iloc[0]
    (study.root / "re").mkdir()
    re_export = study.root / "re" / "plate1.toy"
    re_export.write_text("TOYASSAY v1\nPLATE,S0001,A1,5.6\nPLATE,S0001,A2,6.4\n")  # S0002's well is gone
    r = invoke("ingest", str(re_export), "--store", str(study.store), "--manifest", str(study.manifest), "-j", "1",
               "--supersede", old_ingest, "--reason", "plate re-exported", "--json")
    assert r.exit_code == 0, r.output
    (warning,) = [w for w in json.loads(r.stdout)["identity_warnings"] if w["code"] == "IML-ID-023"]
    assert "S0002 (patient 003, day 6)" in warning["message"] and "S0001" not in warning["message"]
    m = immunolab.open_store(study.store).to_pandas("measurements")
    assert "S0002" not in set(m["sample_id"]) and "S0001" in set(m["sample_id"])  # superseding replaced the file whole


def test_superseding_with_a_re_export_of_every_sample_is_not_warned(study: Study) -> None:
    ingest(study)
    plate = immunolab.open_store(study.store).to_pandas("samples")
    old_ingest = plate.loc[plate["sample_id"] == "S0002", "ingest_id"].iloc[0]
    (study.root / "re").mkdir()
    re_export = study.root / "re" / "plate1.toy"
    re_export.write_text("TOYASSAY v1\nPLATE,S0001,A1,5.6\nPLATE,S0001,A2,6.4\nPLATE,S0002,B1,12.5\n")
    r = invoke("ingest", str(re_export), "--store", str(study.store), "--manifest", str(study.manifest), "-j", "1",
               "--supersede", old_ingest, "--reason", "plate re-exported")
    assert r.exit_code == 0 and "IML-ID-023" not in r.output, r.output


def test_an_update_replanned_after_another_writers_correction_does_not_undo_it(study: Study) -> None:
    from immunolab.errors import IdentityError
    from immunolab.identity import load_identity
    from immunolab.identity.apply import commit_identity, plan_identity
    from immunolab.store.layout import store_key

    ingest(study)
    snapshot = immunolab.open_store(study.store)
    mine = MANIFEST.replace("001_d3.toy,001-D003-TBNK,001,3", "001_d3.toy,001-D006-TBNK,001,6")  # A: 001's tube
    study.rewrite("manifest", mine)
    ident_a = load_identity(study.manifest, study.subjects)
    update_a = plan_identity(snapshot, ident_a, store_key(snapshot.loc), reason="A")
    assert update_a.corrections.lines() == ["RELABEL 001-D003-TBNK sample 001-D003-TBNK -> 001-D006-TBNK, "
                                            "visit day 3 -> 6"]
    theirs = MANIFEST.replace("002_d0.toy,002-D000-TBNK,002,0", "002_d0.toy,002-D010-TBNK,002,10")  # B: 002's tube
    study.rewrite("manifest", theirs)
    assert apply(study, "--reason", "B").exit_code == 0  # B commits first
    with pytest.raises(IdentityError) as info:  # A, planned before B, would now also move 002's tube back
        commit_identity(snapshot, update_a, reason="A", identity=ident_a, command="test")
    assert info.value.code == "IML-ID-024" and "002-D010-TBNK" in info.value.message
    s = immunolab.open_store(study.store).to_pandas("samples")
    assert set(s.loc[s["sample_id"].str.startswith("002-D0", na=False), "visit_day"]) == {10}  # B's change stands


def test_an_update_replanned_after_another_writer_changed_the_same_record_does_not_undo_it(study: Study) -> None:
    from immunolab.errors import IdentityError
    from immunolab.identity import load_identity
    from immunolab.identity.apply import commit_identity, plan_identity
    from immunolab.store.layout import store_key

    ingest(study)
    snapshot = immunolab.open_store(study.store)
    study.rewrite("manifest", MANIFEST.replace("001_d3.toy,001-D003-TBNK,001,3", "001_d3.toy,001-D003-TBNK,001,6"))
    ident_a = load_identity(study.manifest, study.subjects)
    update_a = plan_identity(snapshot, ident_a, store_key(snapshot.loc), reason="A")  # A: day 3 -> 6
    study.rewrite("manifest", MANIFEST.replace("001_d3.toy,001-D003-TBNK,001,3", "001_d3.toy,001-D003-TBNK,001,10"))
    assert apply(study, "--reason", "B").exit_code == 0  # B: day 3 -> 10, first
    with pytest.raises(IdentityError) as info:
        commit_identity(snapshot, update_a, reason="A", identity=ident_a, command="test")  # would be 10 -> 6
    assert info.value.code == "IML-ID-024" and "10 -> 6" in info.value.message
    s = immunolab.open_store(study.store).to_pandas("samples")
    assert set(s.loc[s["sample_id"] == "001-D003-TBNK", "visit_day"]) == {10}


def test_one_correction_applied_by_two_runs_is_committed_once_without_iml_id_024(study: Study) -> None:
    from immunolab.identity import load_identity
    from immunolab.identity.apply import commit_identity, plan_identity
    from immunolab.store.layout import store_key

    ingest(study)
    snapshot = immunolab.open_store(study.store)
    study.rewrite("manifest", MANIFEST.replace("001_d3.toy,001-D003-TBNK,001,3", "001_d3.toy,001-D003-TBNK,001,6"))
    ident = load_identity(study.manifest, study.subjects)
    update = plan_identity(snapshot, ident, store_key(snapshot.loc), reason="A")
    assert apply(study, "--reason", "B").exit_code == 0  # the same correction, by another run first
    assert commit_identity(snapshot, update, reason="A", identity=ident, command="test") is None
