"""A corrected Day 0: a dated file superseded with its own bytes is parsed again with the new Day 0."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import immunolab
from immunolab.derive.decisions import decide
from immunolab.errors import InputError
from immunolab.ingest import ingest_paths
from immunolab.store.verify import verify_store
from tests.clinical.factories import DAY0, date_of


def _subjects(day0: dict[str, str]) -> str:
    return "patient_id,arm,site,age,sex,day0_date\n" + "".join(
        f"{p},{arm},S1,50,M,{day0[p]}\n" for p, arm in [("001", "MSC"), ("002", "control")])


@pytest.fixture
def study(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "subjects.csv").write_text(_subjects(DAY0))
    (tmp_path / "manifest.csv").write_text("file,sample_id,patient_id,visit_day,specimen,panel\n")
    labs = pd.DataFrame([{"patient_id": p, "date": date_of(p, d), "test": "CRP", "value": v, "unit": "mg/L"}
                         for p, d, v in [("001", 0, "5"), ("001", 4, "12"), ("002", 4, "7")]])
    (tmp_path / "labs.csv").write_text(labs.to_csv(index=False))
    return {"store": tmp_path / "store", "subjects": tmp_path / "subjects.csv", "manifest": tmp_path / "manifest.csv",
            "labs": tmp_path / "labs.csv"}


def _ingest(study: dict[str, Path], **kw):  # type: ignore[no-untyped-def]
    return ingest_paths([study["labs"]], store=study["store"], manifest=study["manifest"], subjects=study["subjects"],
                        **kw)


def _crp_days(study: dict[str, Path]) -> dict[tuple[str, int | None], int]:
    m = immunolab.open_store(study["store"]).to_pandas("measurements")
    return {(r.patient_id, r.visit_day): r.collection_day for r in m.itertuples()}


def test_a_corrected_day0_reparses_the_same_bytes_under_a_new_ingest_and_shifts_the_study_days(
        study: dict[str, Path]) -> None:
    first = _ingest(study).outcomes[0]
    assert _crp_days(study) == {("001", 0): 0, ("001", 3): 4, ("002", 3): 4}
    one_day_later = {**DAY0, "001": date_of("001", 1)}  # Day 0 of 001 was the day after the one first written
    study["subjects"].write_text(_subjects(one_day_later))
    again = _ingest(study, supersede=first.ingest_id, reason="Day 0 of 001 corrected (CRF query 21)").outcomes[0]
    assert again.status == "OK" and again.ingest_id != first.ingest_id
    assert again.source_sha256 == first.source_sha256
    assert _crp_days(study) == {("001", 0): -1, ("001", 3): 3, ("002", 3): 4}  # 001 shifted, 002 kept; counted once
    s = immunolab.open_store(study["store"])
    assert list(s.to_pandas("sources")["ingest_id"]) == [again.ingest_id]
    history = s.to_pandas("identity_samples", history=True)
    old = history[history["commit_id"] == again.ingest_id]
    assert set(old.loc[old["status"] == "superseded", "superseded_by"]) == {again.ingest_id}
    assert set(old["reason"]) == {"Day 0 of 001 corrected (CRF query 21)"}
    assert set(s.to_pandas("identity_samples")["status"]) == {"active"}
    assert len(list((study["store"] / "raw").rglob(f"{first.source_sha256}*"))) == 1  # the vault keeps one copy
    assert verify_store(study["store"]).ok  # a re-parse with a new Day 0 is no damaged store (IML-STORE-016)
    assert "2020-02" not in "".join(s.to_pandas("clinical_results").astype(str).to_numpy().ravel())
    with pytest.raises(InputError) as exc:  # the values are the re-parse's: an exclusion names that ingest
        decide(s, action="exclude", kind="file", target=str(first.ingest_id), analyte=None, reason="x")
    assert exc.value.code == "IML-DER-003" and f"superseded by ingest {again.ingest_id}" in exc.value.message


def test_the_same_bytes_with_the_same_subjects_are_still_skipped_or_refused(study: dict[str, Path]) -> None:
    first = _ingest(study).outcomes[0]
    study["subjects"].write_text(_subjects({**DAY0, "001": date_of("001", 1)}))
    again = _ingest(study, supersede=first.ingest_id, reason="Day 0 corrected").outcomes[0]
    assert _ingest(study).outcomes[0].status == "SKIP"  # exactly once without --supersede
    with pytest.raises(InputError) as exc:  # parsed with these very subjects already: nothing would change
        _ingest(study, supersede=again.ingest_id, reason="again")
    assert exc.value.code == "IML-IN-012" and "--subjects" in exc.value.hint
    with pytest.raises(InputError) as exc:
        _ingest(study, supersede=first.ingest_id, reason="again")  # the first ingest's ID names the same file
    assert exc.value.code == "IML-IN-012"
    assert _crp_days(study)[("001", 3)] == 3


def test_a_file_excluded_by_its_earlier_ingest_id_stays_excluded_after_a_day0_reparse(study: dict[str, Path]) -> None:
    first = _ingest(study).outcomes[0]
    decide(immunolab.open_store(study["store"]), action="exclude", kind="file", target=str(first.ingest_id),
           analyte=None, reason="wrong lab")
    study["subjects"].write_text(_subjects({**DAY0, "001": date_of("001", 1)}))
    assert _ingest(study, supersede=first.ingest_id, reason="Day 0 corrected").outcomes[0].status == "OK"
    m = immunolab.open_store(study["store"]).to_pandas("measurements")
    assert len(m) == 3 and m["excluded"].all() and set(m["exclusion_reason"]) == {"wrong lab"}
