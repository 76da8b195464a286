"""Verify a store end to end and repair what can be repaired without losing anything.

Checks: interrupted commits are completed and dead staging folders swept (as every writer does);
the audit hash chain is intact; every committed ingest's table files exist and match the SHA-256
recorded at commit; every raw copy still hashes to its name. Table files that belong to no
committed ingest are moved to ``quarantine/`` (never deleted).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from immunolab.store.legacy.audit import AuditLog
from immunolab.store.legacy.commit import file_sha256, recover, refresh_ingests_table
from immunolab.store.legacy.layout import check_store
from immunolab.store.legacy.lock import store_lock

__all__ = ["VerifyResult", "verify_store"]


@dataclass
class VerifyResult:
    """What verify found (``problems``) and what it repaired (``actions``)."""

    actions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checked_files: int = 0
    checked_raw: int = 0
    records: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary_line(self) -> str:
        state = "OK" if self.ok else f"{len(self.problems)} PROBLEM(S)"
        return (f"verify {state}: {self.records} audit records, {self.checked_files} table files, "
                f"{self.checked_raw} raw files checked; {len(self.actions)} repair(s)")

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "actions": self.actions, "problems": self.problems,
                "checked_files": self.checked_files, "checked_raw": self.checked_raw, "records": self.records}


def verify_store(store: str | Path) -> VerifyResult:
    """Verify (and where safe, repair) the store at ``store``."""
    paths = check_store(Path(store))
    log = AuditLog(paths.audit_log)
    res = VerifyResult()
    with store_lock(paths.root):
        res.actions.extend(recover(paths, log))
        for prob in log.check_chain():
            res.problems.append(
                f"audit/log.jsonl record {prob.line}: {prob.message}. The audit trail was tampered with or damaged; "
                "restore it from a backup and investigate who changed it."
            )
        recs = log.records()
        res.records = len(recs)
        committed = log.committed()
        known: dict[str, set[str]] = {}
        for ingest_id, rec in committed.items():
            for table, digest in (rec.get("files") or {}).items():
                known.setdefault(table, set()).add(ingest_id)
                f = paths.table_file(table, ingest_id)
                res.checked_files += 1
                if not f.exists():
                    res.problems.append(
                        f"tables/{table}/{ingest_id}.parquet is missing (ingest {ingest_id}). Restore it from a backup, "
                        f"or re-ingest raw/{rec.get('source_sha256')} with --supersede {ingest_id}."
                    )
                elif file_sha256(f) != digest:
                    res.problems.append(
                        f"tables/{table}/{ingest_id}.parquet does not match the hash recorded at commit (it was altered). "
                        f"Restore it from a backup or re-ingest raw/{rec.get('source_sha256')} with --supersede {ingest_id}."
                    )
            sha = rec.get("source_sha256")
            if sha:
                raw = paths.raw_file(sha)
                if not raw.exists():
                    res.problems.append(f"raw/{sha} (original of ingest {ingest_id}) is missing. Restore it from a backup.")
        for raw in sorted(paths.raw.glob("*")) if paths.raw.is_dir() else []:
            if raw.name.startswith("."):
                continue
            res.checked_raw += 1
            if file_sha256(raw) != raw.name:
                res.problems.append(
                    f"raw/{raw.name} no longer hashes to its name: the original file was altered. "
                    "Restore it from a backup; the store's tables still describe the original bytes."
                )
        for table_dir in sorted(paths.tables.iterdir()) if paths.tables.is_dir() else []:
            if not table_dir.is_dir() or table_dir.name == "ingests":
                continue
            for f in sorted(table_dir.glob("*.parquet")):
                if f.stem not in committed:
                    q = paths.root / "quarantine" / table_dir.name
                    q.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(f), q / f.name)
                    res.actions.append(f"moved tables/{table_dir.name}/{f.name} (no committed ingest) to quarantine/")
        refresh_ingests_table(paths, log)
    return res
