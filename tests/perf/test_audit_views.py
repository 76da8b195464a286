"""The audit log's committed / active views, kept up to date incrementally, equal their definition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from immunolab.store.audit import AuditLog, new_record


def _definition(records: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Committed records with superseded_by, and sha -> active id, computed from scratch."""
    recs = [r for r in records if r.get("outcome") == "COMMITTED"]
    by_id = {r["ingest_id"]: dict(r, superseded_by=None) for r in recs}
    for r in recs:
        old = r.get("supersedes")
        if old and old in by_id:
            by_id[old]["superseded_by"] = r["ingest_id"]
    active = {r["source_sha256"]: i for i, r in by_id.items() if not r.get("superseded_by")}
    return by_id, active


# each step: (outcome, source index, supersede an earlier step or not, read the views now)
STEP = st.tuples(st.sampled_from(["COMMITTED", "COMMITTED", "SKIP", "FAIL"]), st.integers(0, 4),
                 st.one_of(st.none(), st.integers(0, 30)), st.booleans())


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(STEP, min_size=1, max_size=30))
def test_incremental_views_equal_the_views_computed_from_scratch(tmp_path_factory: Any, steps: list) -> None:
    path: Path = tmp_path_factory.mktemp("audit") / "log.jsonl"
    kept = AuditLog(path)
    writer = AuditLog(path)
    for i, (outcome, source, supersede, read_now) in enumerate(steps):
        old = f"ing-{supersede}" if supersede is not None and outcome == "COMMITTED" else None
        writer.append(new_record(ingest_id=f"ing-{i}", outcome=outcome, source_sha256=f"{source:064x}",
                                 source_label=f"file{source}", source_bytes=1, command="test", supersedes=old))
        if read_now:
            committed, active = _definition(AuditLog(path).records())
            assert kept.committed() == committed
            assert kept.active_sources() == active
    committed, active = _definition(AuditLog(path).records())
    assert kept.committed() == committed
    assert kept.active_sources() == active
