"""Fixtures for store and ingest tests: a tiny study with toy-assay files (and the toy plugin)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from immunolab.plugins import get_registry, reset_registry
from immunolab.store import fsops
from tests.reliability.conftest import figures  # noqa: F401
from tests.store.toy_plugin import ToyPlugin

SUBJECTS = """patient_id,arm,site,age,sex,day0_date
001,MSC,Wuhan-1,41,F,2026-02-03
002,control,Wuhan-1,63,M,2026-02-05
003,MSC,Wuhan-2,29,F,2026-02-10
"""

MANIFEST = """file,sample_id,patient_id,visit_day,specimen,panel
jane_doe_001_d0.toy,001-D000-TBNK,001,0,PBMC,TBNK
001_d3.toy,001-D003-TBNK,001,3,PBMC,TBNK
002_d0.toy,002-D000-TBNK,002,0,PBMC,TBNK
bad.toy,003-D000-TBNK,003,0,PBMC,TBNK
boom.toy,003-D003-TBNK,003,3,PBMC,TBNK
plate1.toy,PLATE-1,,,,cytokine
,S0001,002,3,serum,
,S0002,003,6,serum,
"""


@dataclass
class Study:
    """Paths of a generated toy study."""

    root: Path
    manifest: Path
    subjects: Path
    inbox: Path
    store: Path

    def file(self, name: str, body: str) -> Path:
        p = self.inbox / name
        p.write_text("TOYASSAY v1\n" + body)
        return p

    def rewrite(self, which: str, text: str) -> None:
        """Replace the manifest or subjects file (a lab correcting its lists)."""
        (self.manifest if which == "manifest" else self.subjects).write_text(text)


@pytest.fixture(autouse=True)
def toy_registry() -> Iterator[None]:
    """Register the toy plugin (beside the installed ones) and disarm fault injection after."""
    reset_registry()
    get_registry([ToyPlugin()])
    yield
    fsops.FAULTS.disarm()
    reset_registry()


@pytest.fixture
def study(tmp_path: Path) -> Study:
    """Return a study folder with subjects, manifest and four toy files in ``inbox/``."""
    (tmp_path / "subjects.csv").write_text(SUBJECTS)
    (tmp_path / "manifest.csv").write_text(MANIFEST)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    s = Study(tmp_path, tmp_path / "manifest.csv", tmp_path / "subjects.csv", inbox, tmp_path / "store")
    s.file("jane_doe_001_d0.toy", "Lymphocytes,1000\nT cells,620\nB cells,110\n")
    s.file("001_d3.toy", "Lymphocytes,1200\nT cells,700\nB cells,150\n")
    s.file("002_d0.toy", "Lymphocytes,900\nT cells,500\nB cells,90\n")
    s.file("plate1.toy", "PLATE,S0001,A1,5.5\nPLATE,S0001,A2,6.5\nPLATE,S0002,B1,12.0\n")
    return s
