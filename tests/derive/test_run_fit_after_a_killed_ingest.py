"""A bead run whose wells were committed but whose curve fit was killed is fitted by the next ingest.

Ingest commits the wells of a batch, then fits the runs they belong to
(:func:`immunolab.derive.runs.derive_runs`). When the process dies between the two, the run
has wells and no curves; a re-run of the ingest, where every file is a SKIP, completes the fit.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import immunolab
import immunolab.derive.runs as runs_module
from immunolab.ingest import ingest_paths
from tests.conftest import shared_path

pytestmark = pytest.mark.shared_data

SUBJECTS = "patient_id,arm,site,age,sex\n001,MSC,A,40,F\n"
HEADER = "file,sample_id,patient_id,visit_day,panel,assay,kit,run,well,role,standard_level,replicate\n"
WELLS = {"LP 13 C0-001 00006735 001.LMD": 0, "LP 13 C3-007 00006741 007.LMD": 3,
         "LP 13 C5-011 00006745 011.LMD": 5, "LP 13 C7-015 00006749 015.LMD": 7}


def _ingest(tmp: Path) -> Any:
    return ingest_paths(sorted((tmp / "in").iterdir()), store=tmp / "s", manifest=tmp / "manifest.csv",
                            subjects=tmp / "subjects.csv", jobs=1)


def _fitted_runs(store: Path) -> set[str]:
    return set(immunolab.open_store(store).table("curve_fits", columns=["plate_id"]).column("plate_id").to_pylist())


def test_an_all_skip_ingest_fits_a_run_whose_fit_was_killed_after_its_wells_were_committed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "in").mkdir()
    rows = []
    for i, (name, level) in enumerate(WELLS.items()):
        shutil.copyfile(shared_path("beads", "legendplex_navios", name), tmp_path / "in" / name)
        rows.append(f"{name},NAV-{i},,,LP13,bead_array,legendplex_hu_antivirus_13plex,NAVRUN-01,A{i + 1},standard,{level},1")
    (tmp_path / "manifest.csv").write_text(HEADER + "".join(r + "\n" for r in rows))
    (tmp_path / "subjects.csv").write_text(SUBJECTS)

    def killed(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(runs_module, "derive_runs", killed)
        with pytest.raises(KeyboardInterrupt):
            _ingest(tmp_path)
    assert immunolab.open_store(tmp_path / "s").table("cytokine_wells").num_rows > 0
    assert _fitted_runs(tmp_path / "s") == set()

    report = _ingest(tmp_path)
    assert [o.status for o in report.outcomes] == ["SKIP"] * len(WELLS)
    assert _fitted_runs(tmp_path / "s") == {"run:NAVRUN-01"}
    again = _ingest(tmp_path)
    assert not again.store_versions, "a fitted run is not fitted again by a re-run"
