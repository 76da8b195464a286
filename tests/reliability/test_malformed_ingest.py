"""Malformed inputs through the whole ingest: coded input errors only, and the store unchanged.

Every malformed FCS variant (tests/fcs/factories.py) and malformed plate export
(tests/cytokine/factories.py) is ingested as a file listed in the manifest. Each must end as OK
or FAIL with an ``InputError`` code (exit code 1): never an internal error, never a traceback.
Nothing of a failed file may reach the data tables, and the store must still verify.

The FCS corpus tests the reader, so it is gated with a strategy whose one gate uses ``CH1``, a
channel every base file has: a variant the reader accepts is gated, and only a mutation that
removes or renames CH1 ends at gating. Each variant is its own manifest sample (its own
panel name), so a second readable variant is not refused as a duplicate sample (IML-ID-013). Each variant's outcome is put in one stage: ``detection``
(no plugin claims it), ``identity`` (refused by the manifest checks), ``reader`` (refused by the reader with a coded error), ``gating``
(read, then refused or failed at gating) or ``read_and_gated``; the figures report them apart.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import immunolab
from immunolab.errors import ERROR_CODES
from immunolab.ingest import FileOutcome, ingest_paths
from immunolab.store.verify import verify_store
from tests.cytokine.factories import malformed_exports
from tests.fcs.factories import malformed_variants
from tests.reliability.conftest import LARGE

SUBJECTS = "patient_id,arm,site,age,sex\n001,MSC,A,40,F\n002,control,A,50,M\n"


#: codes of the gating step (strategy, channels, compensation, data-driven gates), not of a reader
GATING_CODES = {"IML-FCS-011", "IML-FCS-013", "IML-FCS-014", "IML-FCS-015"}


def _corpus_strategy(folder: Path) -> Path:
    """Write a Gating-ML strategy with one gate on CH1, a channel of every base FCS file."""
    from immunolab.flow.gates import Dimension, RectangleGate
    from immunolab.flow.strategy import GateNode, Strategy
    from immunolab.interop.gatingml_write import write_gatingml

    gate = RectangleGate("Events", (Dimension("CH1"),), (-1e300,), (None,))
    return write_gatingml(Strategy("malformed-corpus", [GateNode("/", gate)]), folder / "corpus_strategy.xml")


def _stage(o: FileOutcome) -> str:
    """Return where one variant's outcome was decided: detection, identity, reader, gating or read_and_gated."""
    if o.status == "FAIL":
        if o.code in GATING_CODES:
            return "gating"
        if o.code.startswith("IML-ID-"):
            return "identity"
        return "detection" if o.code == "IML-IN-002" else "reader"
    return "gating" if any("gating failed:" in w for w in o.warnings) else "read_and_gated"


def _run(tmp: Path, variants: list[tuple[str, bytes]], suffix: str, plate_samples: list[str],
         **options: Any) -> dict[str, Any]:
    inbox = tmp / "inbox"
    inbox.mkdir(parents=True)
    rows = ["file,sample_id,patient_id,visit_day,specimen,panel"]
    for i, (_name, blob) in enumerate(variants):
        fname = f"v{i:05d}{suffix}"
        (inbox / fname).write_bytes(blob)
        rows.append(f"{fname},V{i:05d},001,0,PBMC,T{i:05d}" if suffix == ".fcs" else f"{fname},,,,,cyto")
    rows += [f",{s},002,{(0, 3, 6, 10)[k % 4]},serum," for k, s in enumerate(plate_samples)]
    (tmp / "subjects.csv").write_text(SUBJECTS)
    (tmp / "manifest.csv").write_text("\n".join(rows) + "\n")
    report = ingest_paths([inbox], store=tmp / "store", manifest=tmp / "manifest.csv", jobs=2 if LARGE else 1,
                          **options)
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
    checked = verify_store(tmp / "store")
    assert checked.ok, [str(p) for p in getattr(checked, "problems", [])][:5]
    stages = collections.Counter(_stage(o) for o in report.outcomes)
    refused = collections.Counter(_stage(o) for o in report.outcomes if o.status == "FAIL")
    return {"files": len(variants), "ok": len(ok), "failed": sum(codes.values()), "internal_errors": 0,
            "tracebacks": 0, "codes": dict(sorted(codes.items())), "stages": dict(sorted(stages.items())),
            "refused_by_stage": dict(sorted(refused.items())), "tables": store.tables()}


def test_malformed_fcs_files_fail_with_coded_input_errors_and_leave_no_rows(tmp_path: Path, figures: dict[str, Any]) -> None:
    variants = malformed_variants(large=LARGE)
    if not LARGE:
        variants = variants[::12]  # every variant family, a sample of each (all of them in make reliability)
    tmp_path.joinpath("strategy").mkdir()
    result = _run(tmp_path, variants, ".fcs", [], strategy=str(_corpus_strategy(tmp_path / "strategy")))
    assert result["files"] >= 200
    figures.update(result)


def test_most_malformed_fcs_variants_are_decided_by_the_reader_not_by_gating(tmp_path: Path,
                                                                             figures: dict[str, Any]) -> None:
    variants = malformed_variants(large=False)[::4]
    tmp_path.joinpath("strategy").mkdir()
    result = _run(tmp_path, variants, ".fcs", [], strategy=str(_corpus_strategy(tmp_path / "strategy")))
    stages = result["stages"]
    reached_reader = stages.get("reader", 0) + stages.get("read_and_gated", 0) + stages.get("gating", 0)
    assert reached_reader >= 0.9 * result["files"], stages
    assert stages.get("reader", 0) + stages.get("read_and_gated", 0) >= 0.9 * result["files"], stages
    assert stages.get("gating", 0) <= 0.05 * result["files"], stages
    assert stages.get("reader", 0) > 0 and stages.get("read_and_gated", 0) > 0, stages
    figures.update({"files": result["files"], "stages": stages})


def test_malformed_plate_exports_fail_with_coded_input_errors_and_leave_no_rows(tmp_path: Path, figures: dict[str, Any]) -> None:
    variants = list(malformed_exports())
    assert len(variants) >= 150
    result = _run(tmp_path, variants, ".csv", ["S0001", "S0002", "S0003", "S0004"])
    figures.update(result)
