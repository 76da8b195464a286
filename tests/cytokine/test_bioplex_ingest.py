"""A Bio-Plex export through ingest: plate sample names resolve via the manifest and never reach the store."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import immunolab
from immunolab.ingest import ingest_paths
from tests.cytokine.test_bioplex_factories import UNKNOWN_TRUE, Rows, data_row, make_bioplex_xlsx

# plate names as a lab writes them (no blanks, so they are valid manifest sample ids)
RENAMED = {name: f"LAB{i:03d}-S{i}" for i, name in enumerate([*UNKNOWN_TRUE, "PT-003 D0", "PT-003 D3"], start=1)}


def _rename(sheets: dict[str, Rows]) -> None:
    for sheet in sheets:
        for index in range(28):
            row = data_row(sheets, sheet, index)
            if row[3] in RENAMED:
                row[3] = RENAMED[row[3]]


def _identity(folder: Path) -> Path:
    with open(folder / "subjects.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["patient_id", "arm", "site", "age", "sex", "day0_date"])
        w.writerow(["001", "MSC", "S1", 45, "F", "2011-06-14"])
        w.writerow(["002", "control", "S1", 52, "M", "2011-06-14"])
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "sample_id", "patient_id", "visit_day", "specimen", "panel"])
        w.writerow(["plate.xlsx", "", "", "", "serum", "cytokine"])
        for i, sample in enumerate(RENAMED.values()):
            w.writerow(["", sample, "001" if i % 2 == 0 else "002", (0, 3, 6)[i % 3], "serum", "cytokine"])
    return manifest


def _store_text(store: Path) -> str:
    """Return every stored table and view as text, plus the raw bytes of the tables' Delta logs (column stats)."""
    s = immunolab.open_store(store)
    parts = [str(s.table(name).to_pylist()) for name in s.tables()]
    parts += [p.read_text("utf-8", errors="replace") for p in (store / "tables").rglob("_delta_log/*.json")]
    return "\n".join(parts)


def test_bioplex_plate_ingests_with_patient_keys_and_no_plate_sample_names(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = make_bioplex_xlsx(data, mutate=_rename)
    manifest = _identity(tmp_path)
    report = ingest_paths([path], store=tmp_path / "store", manifest=manifest, jobs=1)
    outcome = report.outcomes[0]
    assert outcome.status == "OK", (outcome.code, outcome.message)
    assert outcome.plugin == "bioplex"
    s = immunolab.open_store(tmp_path / "store")
    results = s.table("cytokine_results")
    assert "_sample_ref" not in results.column_names
    n = len(RENAMED) * 2  # samples x analytes
    by_derivation = Counter(results.column("derivation_id").to_pylist())
    assert by_derivation["instrument"] == n and sum(by_derivation.values()) == 2 * n  # instrument + refit
    assert not set(results.column("sample_key").to_pylist()) & set(RENAMED.values())  # keyed hashes
    m = s.to_pandas("measurements")
    assert len(m) == n and set(m["derivation_id"]) == {"instrument"}  # the instrument's numbers by default
    assert set(m["patient_id"]) == {"001", "002"}
    assert set(m["visit_day"]) <= {0, 3, 6}
    plates = s.table("cytokine_plates").to_pylist()
    assert plates[0]["run_study_day"] == 7  # 21-Jun-2011, Day 0 of the trial 14-Jun-2011
    everything = _store_text(tmp_path / "store")
    for secret in (*RENAMED, "Jane Operator", "plate7.srbx"):
        assert secret not in everything
    # the names on the plate are manifest sample ids: only the identity layer may hold them
    facts_and_derivations = " ".join(
        str(s.table(name).to_pylist()) for name in s.tables()
        if name not in ("identity_samples", "samples", "measurements"))
    for name in RENAMED.values():
        assert name not in facts_and_derivations
    again = ingest_paths([path], store=tmp_path / "store", manifest=manifest, jobs=1)
    second = again.outcomes[0]
    assert second.status == "SKIP"
