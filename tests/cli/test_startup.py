"""Start-up stays instant: the CLI, `plugins` and detection import no heavy library."""

from __future__ import annotations

import subprocess
import sys

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
