"""Corrections without re-ingest: relabels, arm changes, re-exports, replicates, QC exclusions.

Each scenario checks the current view, the history and ``verify``.
"""

from __future__ import annotations

import pytest

import immunolab
from immunolab.analysis.measurements_view import measurements_view
from immunolab.errors import IdentityError, InputError
from immunolab.ingest import ingest_paths
from immunolab.store.verify import verify_store
from tests.store.conftest import MANIFEST, SUBJECTS, Study


def run(study: Study, *paths, **kw):
    return ingest_paths(paths or [study.inbox], store=study.store, manifest=study.manifest, **kw)


def _sample(study: Study, sample_id: str) -> dict:
    s = immunolab.open_store(study.store).to_pandas("samples")
    return s[s["sample_id"] == sample_id].iloc[0].to_dict()


def test_a_mistyped_patient_is_relabelled_with_a_reason_and_the_history_kept(study: Study) -> None:
    study.rewrite("manifest", MANIFEST.replace("002_d0.toy,002-D000-TBNK,002,0", "002_d0.toy,002-D000-TBNK,003,0"))
    run(study, study.inbox / "002_d0.toy")
    assert _sample(study, "002-D000-TBNK")["patient_id"] == "003"
    study.rewrite("manifest", MANIFEST)  # the lab fixes the typo
    with pytest.raises(IdentityError) as exc:
        run(study, study.inbox / "002_d0.toy")
    assert exc.value.code == "IML-ID-012"
    assert "RELABEL 002-D000-TBNK patient 003 -> 002" in exc.value.message
    assert _sample(study, "002-D000-TBNK")["patient_id"] == "003"  # nothing applied without a reason
    report = run(study, study.inbox / "002_d0.toy", reason="patient number mistyped on the tube list")
    assert report.identity_changes == ["RELABEL 002-D000-TBNK patient 003 -> 002"]
    assert [o.status for o in report.outcomes] == ["SKIP"]
    s = immunolab.open_store(study.store)
    assert _sample(study, "002-D000-TBNK")["patient_id"] == "002"
    assert [v.kind for v in s.versions()] == ["ingest", "identity"]
    assert s.versions()[-1].reason == "patient number mistyped on the tube list"
    history = s.to_pandas("identity_samples", history=True)
    assert sorted(history.loc[history["sample_id"] == "002-D000-TBNK", "patient_id"]) == ["002", "003"]
    m = s.to_pandas("measurements")
    assert set(m.loc[m["sample_id"] == "002-D000-TBNK", "patient_id"]) == {"002"}
    assert verify_store(study.store).ok


def test_an_arm_corrected_in_the_subjects_file_reaches_the_analysis(study: Study) -> None:
    run(study)
    study.rewrite("subjects", SUBJECTS.replace("001,MSC,Wuhan-1,41", "001,control,Wuhan-1,41"))
    with pytest.raises(IdentityError) as exc:
        run(study)
    assert "ARM 001 MSC -> control" in exc.value.message
    report = run(study, reason="randomisation list corrected")
    assert "ARM 001 MSC -> control" in report.identity_changes
    s = immunolab.open_store(study.store)
    assert set(s.to_pandas("measurements").query("patient_id == '001'")["arm"]) == {"control"}
    adata = immunolab.to_anndata(s, kind="summary")
    assert set(adata.obs.loc[adata.obs["patient_id"] == "001", "arm"]) == {"control"}
    subj = s.to_pandas("identity_subjects", history=True)
    assert sorted(subj.loc[subj["patient_id"] == "001", "arm"]) == ["MSC", "control"]


def test_a_new_patient_in_the_subjects_file_needs_no_reason(study: Study) -> None:
    run(study)
    study.rewrite("subjects", SUBJECTS + "004,control,Wuhan-2,55,M,2026-02-20\n")
    report = run(study)
    assert report.exit_code == 0 and report.identity_changes == []
    assert "004" in set(immunolab.open_store(study.store).to_pandas("identity_subjects")["patient_id"])


def _reexport(study: Study) -> None:
    study.rewrite("manifest", MANIFEST + "002_d0_reexport.toy,002-D000-TBNK-R,002,0,PBMC,TBNK\n")
    study.file("002_d0_reexport.toy", "Lymphocytes,900\nT cells,500\nB cells,90\nNK cells,60\n")


def test_a_second_file_for_the_same_sample_is_refused_naming_the_ingest_and_the_ways_out(study: Study) -> None:
    first = run(study, study.inbox / "002_d0.toy").outcomes[0]
    _reexport(study)
    o = run(study, study.inbox / "002_d0_reexport.toy").outcomes[0]
    assert (o.status, o.code) == ("FAIL", "IML-ID-013")
    assert first.ingest_id in o.message and "--supersede" in o.hint and "--replicate" in o.hint
    s = immunolab.open_store(study.store)
    assert s.table("samples").num_rows == 1
    assert len(measurements_view(s)) == 3
    assert verify_store(study.store).ok


def test_a_re_export_supersedes_the_old_file_and_both_stay_readable(study: Study) -> None:
    first = run(study, study.inbox / "002_d0.toy").outcomes[0]
    _reexport(study)
    new = run(study, study.inbox / "002_d0_reexport.toy", supersede=first.ingest_id, reason="re-exported: NK gate").outcomes[0]
    assert new.status == "OK"
    s = immunolab.open_store(study.store)
    assert list(s.to_pandas("samples")["sample_id"]) == ["002-D000-TBNK-R"]
    view = measurements_view(s)
    assert set(view["feature"]) == {"Lymphocytes", "T cells", "B cells", "NK cells"}
    history = s.to_pandas("identity_samples", history=True)
    old = history[history["source_sha256"] == first.source_sha256]
    assert list(old["status"]) == ["active", "superseded"]
    assert old.iloc[-1]["superseded_by"] == new.ingest_id
    assert verify_store(study.store).ok


def test_technical_replicates_are_kept_and_combined_by_their_mean(study: Study) -> None:
    run(study, study.inbox / "002_d0.toy")
    _reexport(study)
    study.file("002_d0_reexport.toy", "Lymphocytes,1100\nT cells,700\nB cells,110\n")
    o = run(study, study.inbox / "002_d0_reexport.toy", replicate=True).outcomes[0]
    assert o.status == "OK"
    m = immunolab.open_store(study.store).to_pandas("measurements")
    t = m[(m["feature"] == "T cells") & (m["patient_id"] == "002")]
    assert len(t) == 1
    assert (t.iloc[0]["value"], t.iloc[0]["n_replicates"]) == (600.0, 2)
    assert verify_store(study.store).ok


def test_a_truncated_copy_then_the_good_copy_is_resolved_by_supersede(study: Study) -> None:
    study.file("002_d0.toy", "Lymphocytes,900\n")  # the instrument PC copied half the file
    bad = run(study, study.inbox / "002_d0.toy").outcomes[0]
    study.file("002_d0.toy", "Lymphocytes,900\nT cells,500\nB cells,90\n")
    refused = run(study, study.inbox / "002_d0.toy").outcomes[0]
    assert refused.code == "IML-ID-013"
    good = run(study, study.inbox / "002_d0.toy", supersede=bad.ingest_id, reason="truncated copy").outcomes[0]
    assert good.status == "OK"
    view = measurements_view(immunolab.open_store(study.store))
    assert sorted(view["feature"]) == ["B cells", "Lymphocytes", "T cells"]


def test_a_qc_exclusion_leaves_values_out_of_the_analysis_and_counts_them(study: Study) -> None:
    from immunolab.derive.decisions import decide

    run(study)
    s = immunolab.open_store(study.store)
    before = len(measurements_view(s))
    decide(s, action="exclude", kind="sample", target="S0001", analyte=None, reason="haemolysed serum")
    s = immunolab.open_store(study.store)
    m = s.to_pandas("measurements")
    assert m.loc[m["sample_id"] == "S0001", "excluded"].all()
    assert set(m.loc[m["sample_id"] == "S0001", "exclusion_reason"]) == {"haemolysed serum"}
    view = measurements_view(s)
    assert len(view) == before - 1 and view.attrs["n_excluded"] == 1
    decide(s, action="include", kind="sample", target="S0001", analyte=None, reason="re-checked, fine")
    s = immunolab.open_store(study.store)
    assert len(measurements_view(s)) == before
    assert [v.kind for v in s.versions()][-2:] == ["qc", "qc"]
    assert len(s.to_pandas("qc_decisions", history=True)) == 2


def test_a_qc_decision_on_an_unknown_target_is_a_coded_error(study: Study) -> None:
    from immunolab.derive.decisions import decide
    from immunolab.errors import InputError

    run(study)
    with pytest.raises(InputError) as exc:
        decide(immunolab.open_store(study.store), action="exclude", kind="sample", target="nope", analyte=None,
               reason="x")
    assert exc.value.code == "IML-DER-003"


def test_including_what_was_never_excluded_is_refused(study: Study) -> None:
    """`qc include` on a value no decision excluded recorded a decision that changed nothing."""
    from immunolab.derive.decisions import decide
    from immunolab.errors import InputError

    run(study)
    s = immunolab.open_store(study.store)
    with pytest.raises(InputError) as exc:
        decide(s, action="include", kind="sample", target="S0001", analyte=None, reason="x")
    assert exc.value.code == "IML-DER-003" and "not excluded" in exc.value.message
    decide(s, action="exclude", kind="sample", target="S0001", analyte="IL-6", reason="haemolysed")
    with pytest.raises(InputError):  # the exclusion named IL-6: including the whole sample is another target
        decide(immunolab.open_store(study.store), action="include", kind="sample", target="S0001", analyte=None,
               reason="x")
    decide(immunolab.open_store(study.store), action="include", kind="sample", target="S0001", analyte="IL-6",
           reason="re-checked")


def test_a_qc_decision_on_a_misspelt_analyte_is_refused_with_the_name_it_meant(study: Study) -> None:
    """A misspelt --analyte used to record an exclusion that matched nothing."""
    from immunolab.derive.decisions import decide
    from immunolab.errors import InputError

    run(study)
    s = immunolab.open_store(study.store)
    with pytest.raises(InputError) as exc:
        decide(s, action="exclude", kind="sample", target="S0001", analyte="il-6", reason="x")
    assert exc.value.code == "IML-DER-003" and "'IL-6'" in (exc.value.hint or "")
    assert len(immunolab.open_store(study.store).to_pandas("qc_decisions")) == 0
    decide(s, action="exclude", kind="sample", target="S0001", analyte="IL-6", reason="haemolysed")
    m = immunolab.open_store(study.store).to_pandas("measurements")
    hit = m[(m["sample_id"] == "S0001") & m["excluded"]]
    assert set(hit["feature"]) == {"IL-6"}


def test_excluding_a_superseded_file_is_refused_naming_the_ingest_that_replaced_it(study: Study) -> None:
    """`qc exclude --file` on a superseded ingest recorded a decision that excluded 0 values."""
    from immunolab.derive.decisions import decide
    from immunolab.errors import InputError

    first = run(study, study.inbox / "002_d0.toy").outcomes[0]
    _reexport(study)
    mid = run(study, study.inbox / "002_d0_reexport.toy", supersede=first.ingest_id, reason="re-exported").outcomes[0]
    study.rewrite("manifest", MANIFEST + "002_d0_third.toy,002-D000-TBNK-3,002,0,PBMC,TBNK\n")
    study.file("002_d0_third.toy", "Lymphocytes,901\nT cells,501\nB cells,91\n")
    last = run(study, study.inbox / "002_d0_third.toy", supersede=mid.ingest_id, reason="again").outcomes[0]
    s = immunolab.open_store(study.store)
    for old in (first, mid):
        for target in (old.ingest_id, old.source_sha256):
            with pytest.raises(InputError) as exc:
                decide(s, action="exclude", kind="file", target=str(target), analyte=None, reason="x")
            assert exc.value.code == "IML-DER-003" and "exclude nothing" in exc.value.message
            assert f"superseded by ingest {last.ingest_id}" in exc.value.message  # the one current now
            assert f"--file {last.ingest_id}" in (exc.value.hint or "")
    assert len(immunolab.open_store(study.store).to_pandas("qc_decisions")) == 0
    decide(s, action="exclude", kind="file", target=str(last.ingest_id), analyte=None, reason="clotted")
    m = immunolab.open_store(study.store).to_pandas("measurements")
    assert m["excluded"].all() and len(m)


def test_identity_apply_corrects_stored_files_without_their_files(study: Study) -> None:
    from immunolab.identity import load_identity
    from immunolab.identity.apply import commit_identity, plan_identity
    from immunolab.store.layout import store_key

    run(study)
    study.rewrite("manifest", MANIFEST.replace("001_d3.toy,001-D003-TBNK,001,3", "001_d3.toy,001-D006-TBNK,001,6"))
    s = immunolab.open_store(study.store)
    update = plan_identity(s, load_identity(study.manifest), store_key(s.loc), reason="visit day was wrong")
    assert update.corrections.lines() == ["RELABEL 001-D003-TBNK sample 001-D003-TBNK -> 001-D006-TBNK, visit day 3 -> 6"]
    commit_identity(s, update, reason="visit day was wrong", identity=load_identity(study.manifest), command="test")
    assert _sample(study, "001-D006-TBNK")["visit_day"] == 6
    m = immunolab.open_store(study.store).to_pandas("measurements")
    assert set(m.loc[m["sample_id"] == "001-D006-TBNK", "collection_day"]) == {6}  # a sample: its (corrected) visit day


def test_samples_view_with_exclusions_raises_no_pandas_future_warning(study: Study) -> None:
    """A file exclusion made the samples view fillna object arrays: pandas' FutureWarning reached users as IML-IN-009."""
    import warnings

    from immunolab.derive.decisions import decide

    run(study)
    s = immunolab.open_store(study.store)
    smp = s.to_pandas("samples")
    tube = smp[smp["sample_id"] == "002-D000-TBNK"].iloc[0]
    decide(s, action="exclude", kind="file", target=str(tube["ingest_id"]), analyte=None, reason="clogged")
    decide(immunolab.open_store(study.store), action="exclude", kind="sample", target="S0001", analyte=None,
           reason="haemolysed serum")
    for latest in (True, False):  # with a file exclusion alone (no sample reason at all), then both
        store = immunolab.open_store(study.store) if latest else immunolab.open_store(study.store, version=2)
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            smp = store.to_pandas("samples")
        assert smp.loc[smp["sample_id"] == "002-D000-TBNK", "exclusion_reason"].tolist() == ["clogged"]
        expect = ["haemolysed serum"] if latest else [None]
        assert [None if v is None or v != v else v for v in smp.loc[smp["sample_id"] == "S0001", "exclusion_reason"]] == expect
        assert smp["excluded"].sum() == (2 if latest else 1)


def test_a_file_exclusion_names_the_same_sources_in_the_measurements_and_the_trial_tables(study: Study,
                                                                                          monkeypatch) -> None:
    """The views (samples, measurements) and the trial tables each matched a file exclusion (ingest ID or SHA-256)
    to its sources with their own code: one rule now, :func:`immunolab.derive.views.file_exclusion_sources`."""
    from immunolab.derive import views
    from immunolab.derive.decisions import decide

    run(study)
    s = immunolab.open_store(study.store)
    src = s.to_pandas("sources").set_index("ingest_id")["source_sha256"]
    tube = str(s.to_pandas("samples").set_index("sample_id").loc["002-D000-TBNK", "ingest_id"])
    decide(s, action="exclude", kind="file", target=tube, analyte=None, reason="clogged")
    s = immunolab.open_store(study.store)

    def flagged(view: str) -> set[str]:
        m = immunolab.open_store(study.store).to_pandas(view)  # a store keeps the views it built
        return set(m.loc[m["excluded"], "source_sha256"])

    assert flagged("measurements") == flagged("samples") == views.excluded_sources(s) == {src[tube]}
    other = next(i for i in src.index if i != tube)  # a rule that named another file reaches all three
    monkeypatch.setattr(views, "file_exclusion_sources", lambda sources, targets, earlier=None: {src[other]})
    assert flagged("measurements") == flagged("samples") == views.excluded_sources(s) == {src[other]}


def test_a_reason_on_the_command_line_is_recorded_without_the_name_date_or_record_number(study: Study) -> None:
    """`qc exclude --reason "Mr ROBIN ROE (DOB 1961-04-12, MRN 4471123) ..."` was stored verbatim (trial finding)."""
    import logging

    from click.testing import CliRunner

    from immunolab.cli import main
    run(study)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("immunolab").addHandler(handler)
    try:
        res = CliRunner().invoke(main, ["qc", "exclude", "--store", str(study.store), "--sample", "S0001", "--reason",
                                        "Mr ROBIN ROE (DOB 1961-04-12, MRN 4471123) withdrew consent"])
    finally:
        logging.getLogger("immunolab").removeHandler(handler)
    assert res.exit_code == 0, res.output
    s = immunolab.open_store(study.store)
    stored = [*s.to_pandas("qc_decisions")["reason"], s.versions()[-1].reason or ""]
    assert stored == ["[name] (DOB [date], MRN [number]) withdrew consent"] * 2
    assert not any(t in " ".join(stored) + res.output for t in ("ROBIN", "1961", "4471123"))
    (warning,) = [r for r in records if getattr(r, "code", None) == "IML-IN-013"]
    assert "ROBIN" not in warning.getMessage() and "1961" not in warning.getMessage()


def test_superseding_a_file_with_its_very_bytes_is_refused_before_anything_is_committed(study: Study) -> None:
    first = run(study, study.inbox / "002_d0.toy").outcomes[0]
    before = immunolab.open_store(study.store).version
    with pytest.raises(InputError) as exc:
        run(study, study.inbox / "002_d0.toy", supersede=first.ingest_id, reason="x")
    assert exc.value.code == "IML-IN-012" and exc.value.exit_code == 1
    assert first.ingest_id in exc.value.message and "identity apply" in exc.value.hint and "derive" in exc.value.hint
    assert exc.value.path == "002-D000-TBNK"  # the sample id, never the file name
    s = immunolab.open_store(study.store)
    assert s.version == before
    assert list(s.to_pandas("samples")["sample_id"]) == ["002-D000-TBNK"]
    assert list(s.to_pandas("identity_samples", history=True)["status"]) == ["active"]
    assert verify_store(study.store).ok


def test_a_store_damaged_by_a_same_bytes_supersede_reads_once_and_verify_reports_it(study: Study, monkeypatch) -> None:
    first = run(study, study.inbox / "002_d0.toy").outcomes[0]
    n_before = len(measurements_view(immunolab.open_store(study.store)))
    # what releases before IML-IN-012 committed: the same bytes again, marked superseded by themselves
    monkeypatch.setattr("immunolab.ingest_batch.hash_file", lambda p, **kw: ("0" * 64, b""))
    again = run(study, study.inbox / "002_d0.toy", supersede=first.ingest_id, reason="x").outcomes[0]
    monkeypatch.undo()
    assert again.status == "OK"
    s = immunolab.open_store(study.store)
    assert s.repeated_ingests == {first.source_sha256: [first.ingest_id, again.ingest_id]}
    samples = s.to_pandas("samples")
    assert list(zip(samples["sample_id"], samples["ingest_id"], samples["status"], strict=True)) == [
        ("002-D000-TBNK", again.ingest_id, "active")]  # the latest status per file wins; the sample stays current
    view = s.to_pandas("measurements")
    assert len(view) == n_before and set(view["ingest_id"]) == {again.ingest_id}  # counted once, not twice
    assert s.table("sources").num_rows == 1 and s.summary()["samples"] == 1
    result = verify_store(study.store)
    assert not result.ok and result.checks["identity state"] == "problems"
    assert "IML-STORE-016" in result.problems[0] and first.ingest_id in result.problems[0]
    assert "002_d0" not in " ".join(result.problems)  # named by its sample id, never its file name
    _reexport(study)  # the store can still be corrected, through either ID
    new = run(study, study.inbox / "002_d0_reexport.toy", supersede=first.ingest_id, reason="re-exported").outcomes[0]
    assert new.status == "OK"
    assert list(immunolab.open_store(study.store).to_pandas("samples")["sample_id"]) == ["002-D000-TBNK-R"]


def test_superseding_another_samples_ingest_says_so_and_names_this_samples_ingest(study: Study) -> None:
    report = run(study, study.inbox / "002_d0.toy", study.inbox / "001_d3.toy")
    mine, other = (next(o for o in report.outcomes if o.label == s) for s in ("002-D000-TBNK", "001-D003-TBNK"))
    _reexport(study)
    o = run(study, study.inbox / "002_d0_reexport.toy", supersede=other.ingest_id, reason="re-exported").outcomes[0]
    assert (o.status, o.code) == ("FAIL", "IML-ID-018")
    assert other.ingest_id in o.message and "another sample" in o.message and "001-D003-TBNK" in o.message
    assert f"--supersede {mine.ingest_id}" in o.hint
    s = immunolab.open_store(study.store)
    assert sorted(s.to_pandas("samples")["sample_id"]) == ["001-D003-TBNK", "002-D000-TBNK"]  # nothing superseded


def test_superseding_another_samples_ingest_never_supersedes_that_sample(study: Study) -> None:
    other = run(study, study.inbox / "001_d3.toy").outcomes[0]
    o = run(study, study.inbox / "002_d0.toy", supersede=other.ingest_id, reason="wrong tube").outcomes[0]
    assert (o.status, o.code) == ("FAIL", "IML-ID-018") and "without --supersede" in o.hint
    assert list(immunolab.open_store(study.store).to_pandas("samples")["sample_id"]) == ["001-D003-TBNK"]
