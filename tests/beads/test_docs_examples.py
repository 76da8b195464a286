"""docs/bead_arrays.md's quick start runs as written on the shared Navios LEGENDplex run.

The block reads ``../shared/data/beads/legendplex_navios``; the test points that at
``IMMUNOLAB_SHARED_DATA`` and runs the block in a scratch folder (it writes two PNG files).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.test_readme import runnable

pytestmark = pytest.mark.shared_data
DOC = Path(__file__).resolve().parents[2] / "docs" / "bead_arrays.md"


def test_the_quick_start_of_the_bead_array_guide_runs_and_writes_its_figures(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    block = runnable(DOC.read_text(encoding="utf-8"))[0]
    assert block.lang == "python" and "classify_fcs_file" in block.text
    folder = shared_path("beads", "legendplex_navios")
    code = block.text.replace('"../shared/data/beads/legendplex_navios"', repr(str(folder)))
    assert code != block.text, "the quick start no longer reads the shared Navios run"
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{DOC}:{block.line}", "exec"), {"__name__": "bead_arrays_quick_start"})
    printed = capsys.readouterr().out
    assert "IL-1b" in printed and "reporter_mfi" in printed
    assert (tmp_path / "well.png").stat().st_size > 0 and (tmp_path / "il6.png").stat().st_size > 0
