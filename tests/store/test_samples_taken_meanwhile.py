"""A sample another writer commits while a batch runs is refused at the commit point (IML-ID-013)."""

from __future__ import annotations

from pathlib import Path

import immunolab
from immunolab.ingest import ingest_paths
from immunolab.store.verify import verify_store
from tests.store.conftest import MANIFEST, Study


def _two_files_of_one_new_sample(study: Study) -> tuple[Path, Path]:
    study.rewrite("manifest", MANIFEST + "002_d6a.toy,002-D006-TBNK,002,6,PBMC,TBNK\n"
                                         "002_d6b.toy,002-D006-TBNK-B,002,6,PBMC,TBNK\n")
    return (study.file("002_d6a.toy", "Lymphocytes,900\nT cells,610\nB cells,95\n"),
            study.file("002_d6b.toy", "Lymphocytes,910\nT cells,400\nB cells,70\n"))


def test_a_new_sample_committed_by_another_writer_meanwhile_fails_the_later_batch(study: Study) -> None:
    a, b = _two_files_of_one_new_sample(study)
    other: list[object] = []

    def other_writer_commits_first(_outcome: object) -> None:  # runs after A's file is read, before A commits
        if not other:
            other.append(ingest_paths([b], store=study.store, manifest=study.manifest, jobs=1))

    late = ingest_paths([a], store=study.store, manifest=study.manifest, jobs=1, on_progress=other_writer_commits_first)
    (first,) = [o for o in other[0].outcomes]  # type: ignore[attr-defined]
    (mine,) = late.outcomes
    assert first.status == "OK"
    assert (mine.status, mine.code) == ("FAIL", "IML-ID-013") and "while this batch ran" in str(mine.message)
    s = immunolab.open_store(study.store)
    m = s.to_pandas("measurements")
    t = m[(m["patient_id"] == "002") & (m["visit_day"] == 6) & (m["feature"] == "T cells")]
    assert t["value"].tolist() == [400.0] and t["n_replicates"].tolist() == [1]  # the other writer's file only
    assert verify_store(s.loc).ok


def test_a_replicate_batch_is_not_refused_for_a_sample_taken_meanwhile(study: Study) -> None:
    a, b = _two_files_of_one_new_sample(study)
    other: list[object] = []

    def other_writer_commits_first(_outcome: object) -> None:
        if not other:
            other.append(ingest_paths([b], store=study.store, manifest=study.manifest, jobs=1))

    late = ingest_paths([a], store=study.store, manifest=study.manifest, jobs=1, replicate=True,
                        on_progress=other_writer_commits_first)
    assert [o.status for o in late.outcomes] == ["OK"]
