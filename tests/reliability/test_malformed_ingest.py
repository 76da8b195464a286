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
    rows += [f",{s},002,{(0, 3, 6, 10)[k % 4]},serum," for k, s in enumerate(plate_samples)]
    (tmp / "subjects.csv").write_text(SUBJECTS)
    (tmp / "manifest.csv").write_text("\n".join(rows) + "\n")
    report = ingest_paths([inbox], store=tmp / "store", manifest=tmp / "manifest.csv", jobs=2 if LARGE else 1)
    codes = collections.Counter(o.code for o in report.outcomes if o.status == "FAIL")
    internal = [o for o in report.outcomes if o.status == "FAIL" and o.exit_code != 1]
    assert not internal, [(o.code, o.message) for o in internal[:5]]
    assert all(code in ERROR_CODES for code in codes), codes
    ok = {o.ingest_id for o in report.outcomes if o.status == "OK"}
    store = immunolab.open_store(tmp / "store")
    for name in store.tables():
        if name in ("samples", "measurements") or "commit_id" not in store.table(name).column_names:
            continue
        ids = set(store.table(name, columns=["commit_id"]).column("commit_id").to_pylist())
        assert ids <= ok | {i for v in store.versions() for i in v.commit_ids if not i.startswith("ing-")}, \
            f"a failed ingest left rows in {name}"
    attempts = [a for v in store.versions() for a in v.attempts]
    assert len(attempts) == sum(1 for o in report.outcomes if o.status in ("OK", "FAIL"))
    assert verify_store(tmp / "store").ok
    stages = collections.Counter("reader" if not c.startswith("IML-FCS-011") else "gating" for c in codes.elements())
    return {"files": len(variants), "ok": len(ok), "failed": sum(codes.values()), "internal_errors": 0,
            "tracebacks": 0, "codes": dict(sorted(codes.items())), "refused_by_stage": dict(stages),
            "tables": store.tables()}


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
