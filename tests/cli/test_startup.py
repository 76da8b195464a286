"""Start-up stays instant: the CLI, `plugins`, detection and `flow gate` import no heavy library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("flowkit", "scanpy", "anndata", "statsmodels", "matplotlib", "flowutils", "dask", "distributed")


def _imported(code: str) -> set[str]:
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True)
    names = set()
    for line in res.stderr.splitlines():
        if "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_importing_the_cli_imports_no_heavy_library() -> None:
    assert not _imported("import immunolab.cli") & set(HEAVY)


def test_plugins_listing_and_detection_import_no_heavy_library() -> None:
    code = (
        "from immunolab.plugins import get_registry\n"
        "r = get_registry()\n"
        "r.describe()\n"
        "r.claims(b'FCS3.1    ' + b' ' * 100, 'x.fcs')\n"
        "r.claims(b'Program,xPONENT\\r\\n', 'x.csv')\n"
    )
    assert not _imported(code) & set(HEAVY)


#: libraries the gate path must not load for its text or JSON output (the population table
#: is built from plain records): pandas alone cost 0.19-0.27 s of a 0.68 s process (issue 19)
TABLE_LIBRARIES = ("pandas", "pyarrow")

_GATE_PROBE = r"""
import io, json, sys
from contextlib import redirect_stdout
from immunolab.cli import main
out = io.StringIO()
with redirect_stdout(out):
    main(sys.argv[1:], standalone_mode=False)
print(json.dumps({"output": out.getvalue(), "modules": sorted(m.split(".")[0] for m in sys.modules)}))
"""


def _gate_in_subprocess(args: list[str]) -> tuple[str, set[str]]:
    res = subprocess.run([sys.executable, "-c", _GATE_PROBE, *args], capture_output=True, text=True, check=True)
    import json

    probe = json.loads(res.stdout.strip().splitlines()[-1])
    return probe["output"], set(probe["modules"])


def _gatingml_case(tmp_path: Path) -> tuple[Path, Path]:
    from tests.flow import test_gatingml_factory as gml

    logicle = gml.transform("Logicle", "logicle", T=262144, W=0.5, M=4.5, A=0)
    lin = gml.transform("Lin", "flin", T=262144, A=0)
    fsc, ssc = ("FSC-A", "uncompensated", "Lin"), ("SSC-A", "uncompensated", "Lin")
    fitc, pe = ("FITC-A", "FCS", "Logicle"), ("PE-A", "FCS", "Logicle")
    doc = gml.document(
        logicle, lin,
        gml.rectangle("Cells", [(fsc, 0.1, 0.9), (ssc, 0.05, 0.8)]),
        gml.polygon("Lymph", (fsc, ssc), [(0.12, 0.05), (0.5, 0.06), (0.55, 0.35), (0.3, 0.45), (0.15, 0.3)], parent="Cells"),
        gml.rectangle("FITCpos", [(fitc, 0.5, None)], parent="Lymph"),
        gml.polygon("PEhigh", (fitc, pe), [(0.0, 0.55), (1.0, 0.55), (1.0, 1.0), (0.0, 1.0)], parent="FITCpos"),
    )
    xml = tmp_path / "strategy.xml"
    xml.write_text(doc)
    return gml.write_sample(tmp_path / "tube.fcs", gml.synthetic_events(20_000)), xml


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_gating_ml_gate_command_imports_neither_pandas_nor_pyarrow(tmp_path: Path, as_json: bool) -> None:
    fcs, xml = _gatingml_case(tmp_path)
    output, modules = _gate_in_subprocess(["flow", "gate", str(fcs), "--strategy", str(xml), *(["--json"] if as_json else [])])
    assert not modules & set(TABLE_LIBRARIES), f"the gate path imported {sorted(modules & set(TABLE_LIBRARIES))}"
    assert not modules & set(HEAVY)
    if as_json:
        import json

        counts = {p["gate_path"]: p["count"] for p in json.loads(output)["populations"]}
        assert set(counts) == {"/Cells", "/Cells/Lymph", "/Cells/Lymph/FITCpos", "/Cells/Lymph/FITCpos/PEhigh"}
        assert counts["/Cells"] >= counts["/Cells/Lymph"] >= counts["/Cells/Lymph/FITCpos"] > counts["/Cells/Lymph/FITCpos/PEhigh"] > 0
    else:
        assert "/Cells/Lymph/FITCpos/PEhigh" in output


def test_template_gate_command_imports_neither_pandas_nor_pyarrow(tmp_path: Path) -> None:
    from immunolab.demo.tubes import write_tube

    tube = write_tube(tmp_path / "tube.fcs", 5_000, seed=3)
    output, modules = _gate_in_subprocess(["flow", "gate", str(tube), "--json"])
    assert not modules & set(TABLE_LIBRARIES), f"the gate path imported {sorted(modules & set(TABLE_LIBRARIES))}"
    assert '"populations"' in output
