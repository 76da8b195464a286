"""Malformed inputs through the whole ingest: coded input errors only, and the store unchanged.

Every malformed FCS variant (tests/fcs/factories.py) and malformed plate export
(tests/cytokine/factories.py) is ingested as a file listed in the manifest. Each must end as OK
or FAIL with an ``InputError`` code (exit code 1): never an internal error, never a traceback.
Nothing of a failed file may reach the data tables, and the store must still verify.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import immunolab
from immunolab.errors import ERROR_CODES
from immunolab.ingest import ingest_paths
from immunolab.store.audit import AuditLog
from immunolab.store.verify import verify_store
from tests.cytokine.factories import malformed_exports
from tests.fcs.factories import malformed_variants
from tests.reliability.conftest import LARGE

SUBJECTS = "patient_id,arm,site,age,sex\n001,MSC,A,40,F\n002,control,A,50,M\n"


def _run(tmp: Path, variants: list[tuple[str, bytes]], suffix: str, plate_samples: list[str]) -> dict[str, Any]:
    inbox = tmp / "inbox"
    inbox.mkdir(parents=True)
    rows = ["file,sample_id,patient_id,visit_day,specimen,panel"]
    for i, (_name, blob) in enumerate(variants):
        fname = f"v{i:05d}{suffix}"
        (inbox / fname).write_bytes(blob)
        rows.append(f"{fname},V{i:05d},001,0,PBMC,T" if suffix == ".fcs" else f"{fname},,,,,cyto")
    rows += [f",{s},002,{3 * (k % 3)},serum," for k, s in enumerate(plate_samples)]
    (tmp / "subjects.csv").write_text(SUBJECTS)
    (tmp / "manifest.csv").write_text("\n".join(rows) + "\n")
    report = ingest_paths([inbox], store=tmp / "store", manifest=tmp / "manifest.csv", jobs=2 if LARGE else 1)
    codes = collections.Counter(o.code for o in report.outcomes if o.status == "FAIL")
    internal = [o for o in report.outcomes if o.status == "FAIL" and o.exit_code != 1]
    assert not internal, [(o.code, o.message) for o in internal[:5]]
    assert all(code in ERROR_CODES for code in codes), codes
    ok = {o.ingest_id for o in report.outcomes if o.status == "OK"}
    store = immunolab.open_store(tmp / "store")
    written = {p.stem for p in (tmp / "store" / "tables").rglob("*.parquet") if p.parent.name != "ingests"}
    assert written == ok, "a failed ingest left table files behind"
    assert len(AuditLog(tmp / "store" / "audit" / "log.jsonl").records()) == len(variants)
    assert verify_store(tmp / "store").ok
    return {"files": len(variants), "ok": len(ok), "failed": sum(codes.values()), "internal_errors": 0,
            "tracebacks": 0, "codes": dict(sorted(codes.items())), "tables": store.tables()}


def test_malformed_fcs_files_fail_with_coded_input_errors_and_leave_no_rows(tmp_path: Path, figures: dict[str, Any]) -> None:
    variants = malformed_variants(large=LARGE)
    if not LARGE:
        variants = variants[::12]  # every variant family, a sample of each (all of them in make reliability)
    result = _run(tmp_path, variants, ".fcs", [])
    assert result["files"] >= 200
    figures.update(result)


def test_malformed_plate_exports_fail_with_coded_input_errors_and_leave_no_rows(tmp_path: Path, figures: dict[str, Any]) -> None:
    variants = list(malformed_exports())
    assert len(variants) >= 150
    result = _run(tmp_path, variants, ".csv", ["S0001", "S0002", "S0003", "S0004"])
    figures.update(result)
