"""Detection is cheap: the Luminex plugins' detect() imports no numeric or heavy library."""

from __future__ import annotations

import json
import subprocess
import sys

from .factories import plate_text

HEAVY = ("pandas", "scipy", "flowkit", "scanpy", "anndata", "statsmodels", "matplotlib")  # numpy comes with pyarrow


def test_detect_imports_no_heavy_library(tmp_path) -> None:
    path = tmp_path / "plate.csv"
    path.write_text(plate_text())
    code = (
        "import sys, json\n"
        "from immunolab_assays.luminex_xponent import XponentPlugin\n"
        "from immunolab_assays.luminex_intelliflex import IntelliflexPlugin\n"
        f"head = open({str(path)!r}, 'rb').read()[:65536]\n"
        "claims = [p.name for p in (XponentPlugin(), IntelliflexPlugin()) if p.detect(head, 'plate.csv')]\n"
        f"print(json.dumps({{'claims': claims, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["claims"] == ["luminex_xponent"]
    assert result["heavy"] == []
