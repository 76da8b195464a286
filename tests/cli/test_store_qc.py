"""`immunolab store qc` lists the typed QC checks of the current view: plates and flow samples."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from immunolab.cli import main
from immunolab.ingest import ingest_paths

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"


def test_store_qc_lists_every_plate_and_sample_check_with_one_status_each(tmp_path: Path) -> None:
    plates = sorted((SAMPLE_DATA / "plates").glob("*.csv"))[:2]
    tubes = sorted(p for p in (SAMPLE_DATA / "flow").glob("*.fcs"))[:1]
    report = ingest_paths([*plates, *tubes], store=tmp_path / "s", manifest=SAMPLE_DATA / "manifest.csv")
    assert report.counts["OK"] == 3, [o.message for o in report.outcomes]
    r = CliRunner().invoke(main, ["store", "qc", "--store", str(tmp_path / "s"), "--json"])
    assert r.exit_code == 0, r.output
    checks = json.loads(r.output)
    assert {c["status"] for c in checks} <= {"pass", "warn", "fail"}
    plates_seen = {c["target"] for c in checks if c["scope"] == "plate"}
    assert plates_seen == {"PLATE-01", "PLATE-02"}
    curves = [c for c in checks if c["check"] == "curve_r_squared"]
    assert {c["analyte"] for c in curves} >= {"IL-6", "IL-10", "TNF-a"}
    assert all(c["derivation_id"] == "instrument" for c in checks if c["scope"] == "plate")
    for status in (c for c in checks if c["check"] == "plate_status"):  # it said nothing after the colon
        others = [c for c in checks if c["target"] == status["target"] and c["check"] != "plate_status"]
        fails = sum(c["status"] == "fail" for c in others)
        assert status["detail"].startswith(f"{len(others)} check(s): "), status
        assert (f"{fails} fail" in status["detail"]) == bool(fails), status
    samples = [c for c in checks if c["scope"] == "sample"]
    assert {c["check"] for c in samples} >= {"sample_events"} and len({c["target"] for c in samples}) == 1
    text = CliRunner().invoke(main, ["store", "qc", "--store", str(tmp_path / "s"), "--all"]).output
    assert "plates: 2 checked" in text and "samples: 1 checked" in text and "PLATE-01" in text
