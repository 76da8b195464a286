"""`immunolab store qc` summarises plate and gating QC from the committed demo plates and tubes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from immunolab.cli import main
from immunolab.ingest import ingest_paths

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"


def test_store_qc_lists_every_plate_with_status_and_curve_flags(tmp_path: Path) -> None:
    plates = sorted((SAMPLE_DATA / "plates").glob("*.csv"))[:2]
    tubes = sorted(p for p in (SAMPLE_DATA / "flow").glob("*.fcs"))[:1]
    report = ingest_paths([*plates, *tubes], store=tmp_path / "s", manifest=SAMPLE_DATA / "manifest.csv")
    assert report.counts["OK"] == 3, [o.message for o in report.outcomes]
    r = CliRunner().invoke(main, ["store", "qc", "--store", str(tmp_path / "s"), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert len(out["plates"]) == 2
    for p in out["plates"]:
        assert p["status"] in {"pass", "warn", "fail"}
        assert {a["analyte"] for a in p["analytes"]} >= {"IL-6", "IL-10", "TNF-a"}
        assert all(0.9 < a["r_squared"] <= 1 for a in p["analytes"])
    assert len(out["flow"]) == 1 and out["flow"][0]["n_events"] > 10_000
    text = CliRunner().invoke(main, ["store", "qc", "--store", str(tmp_path / "s")]).output
    assert "plates: 2" in text and "flow samples: 1" in text
