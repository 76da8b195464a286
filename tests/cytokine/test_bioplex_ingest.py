"""A Bio-Plex export through ingest: plate sample names resolve via the manifest and never reach the store."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.dataset as ds

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


def test_bioplex_plate_ingests_with_patient_keys_and_no_plate_sample_names(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = make_bioplex_xlsx(data, mutate=_rename)
    manifest = _identity(tmp_path)
    report = ingest_paths([path], store=tmp_path / "store", manifest=manifest, jobs=1)
    outcome = report.outcomes[0]
    assert outcome.status == "OK", (outcome.code, outcome.message)
    assert outcome.plugin == "bioplex"
    tables = tmp_path / "store" / "tables"
    results = ds.dataset(tables / "cytokine_results", format="parquet").to_table()
    assert "_sample_ref" not in results.column_names
    assert set(results.column("patient_id").to_pylist()) == {"001", "002"}
    assert set(results.column("visit_day").to_pylist()) <= {0, 3, 6}
    assert results.num_rows == len(RENAMED) * 2
    plates = ds.dataset(tables / "cytokine_plates", format="parquet").to_table().to_pylist()
    assert plates[0]["run_study_day"] == 7  # 21-Jun-2011, Day 0 of the trial 14-Jun-2011
    everything = " ".join(
        str(ds.dataset(t, format="parquet").to_table().to_pylist()) for t in tables.iterdir() if t.name != "ingests"
    )
    for secret in (*RENAMED, "Jane Operator", "plate7.srbx"):
        assert secret not in everything
    again = ingest_paths([path], store=tmp_path / "store", manifest=manifest, jobs=1)
    second = again.outcomes[0]
    assert second.status == "SKIP"
