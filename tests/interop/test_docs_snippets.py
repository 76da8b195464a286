"""Every snippet of docs/interop.md runs as written, in order, against a store of a real FCS file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from immunolab.interop import from_flowkit, write_gatingml
from tests.conftest import shared_path
from tests.interop.helpers import flowkit_strategy, one_file_store

DOC = Path(__file__).resolve().parents[2] / "docs" / "interop.md"
BLOCK = re.compile(r"```(python|bash)\n(.*?)```", re.S)


def test_docs_snippets_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("flowkit")
    pytest.importorskip("pytometry")
    import matplotlib

    matplotlib.use("Agg")
    fcs = shared_path("flow", "flowio", "data", "fcs_files", "100715.fcs")
    xml = write_gatingml(from_flowkit(flowkit_strategy(fcs, ("FSC-A", "SSC-A"), "R780-A", "V655-A", "V800-A")),
                         tmp_path / "gates.xml")
    store = one_file_store(tmp_path, fcs, sample_id="S-REAL", strategy=str(xml), write_events=True)
    blocks = BLOCK.findall(DOC.read_text())
    assert [k for k, _ in blocks].count("python") >= 6 and tuple(k for k, _ in blocks) >= ("bash", )
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    env = {**os.environ, "STORE": str(store), "PANEL": "TCELL",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    namespace: dict[str, object] = {"STORE": str(store), "SAMPLE": "S-REAL", "PANEL": "TCELL"}
    for kind, code in blocks:
        if kind == "bash":
            run = subprocess.run(["bash", "-c", code], env=env, capture_output=True, text=True, timeout=300)
            assert run.returncode == 0, run.stdout + run.stderr
        else:
            exec(compile(code, f"{DOC.name} snippet", "exec"), namespace)
    assert (work / "strategy.xml").is_file() and (work / "umap.png").stat().st_size > 10_000
    assert "Cells" in {g for g, _ in namespace["strategy"].get_gate_ids()}  # type: ignore[attr-defined]
    assert "raw" in namespace["events"].layers  # type: ignore[attr-defined]
