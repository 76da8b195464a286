"""A tube acquired before its manifest visit is named (IML-ID-020): a sample cannot be measured before it is drawn.

The trial's data manager found a tube acquired on study day 3 ingested as visit 6 with no word,
though its acquisition day was stored. Acquisition after the visit (frozen cells run in batches)
is normal and stays silent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from immunolab.fcs.writer import write_fcs
from immunolab.ingest import ingest_paths


def _tube(path: Path, date: str) -> Path:
    events = np.random.default_rng(3).normal(500, 50, size=(400, 2)).astype(np.float32)
    return write_fcs(path, events, ["FSC-A", "SSC-A"], keywords={"$DATE": date})


def test_a_tube_acquired_before_its_visit_warns_and_one_acquired_after_does_not(tmp_path: Path) -> None:
    (tmp_path / "subjects.csv").write_text("patient_id,arm,site,age,sex,day0_date\n001,MSC,S1,50,M,2026-02-01\n")
    (tmp_path / "manifest.csv").write_text(
        "file,sample_id,patient_id,visit_day,specimen,panel\n"
        "early.fcs,001-D006-PB,001,6,PBMC,TBNK\n"
        "late.fcs,001-D014-PB,001,14,PBMC,TBNK\n")
    early = _tube(tmp_path / "in" / "early.fcs", "04-FEB-2026")  # study day 3, before the Day 6 visit
    late = _tube(tmp_path / "in" / "late.fcs", "20-MAR-2026")  # day 47: run later from frozen cells
    rep = ingest_paths([early, late], store=tmp_path / "store", manifest=tmp_path / "manifest.csv",
                       subjects=tmp_path / "subjects.csv", jobs=1)
    by = {o.label: o for o in rep.outcomes}
    assert by["001-D006-PB"].status == by["001-D014-PB"].status == "OK"
    (warning,) = [w for w in by["001-D006-PB"].warnings if w.startswith("IML-ID-020")]
    assert "study day 3" in warning and "visit day 6" in warning and "2026" not in warning
    assert not [w for w in by["001-D014-PB"].warnings if w.startswith("IML-ID-020")]


def test_the_check_allows_the_protocol_visit_window_the_one_rule_derive_views_visit_window(monkeypatch) -> None:
    import pyarrow as pa

    from immunolab.derive import views
    from immunolab.identity.model import ManifestEntry
    from immunolab.ingest import _acquired_before_visit

    entry = ManifestEntry(2, "t.fcs", "001-D006-PB", "001", 6, "PBMC", "TBNK")

    def warned(day: int) -> bool:
        return bool(_acquired_before_visit({"fcs_files": pa.table({"acquisition_study_day": [day]})}, entry))

    assert (warned(5), warned(4)) == (False, True)  # Day 6 +-1 day
    monkeypatch.setattr(views, "visit_window", lambda visit_day: 3)  # a protocol with wider windows
    assert (warned(3), warned(2)) == (False, True)
