"""Output that cannot be written (a full disk behind a redirect) is a coded error, IML-IN-008, exit 3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", [["plugins"], ["plugins", "--json"]])
def test_stdout_on_a_full_disk_gives_iml_in_008_on_stderr(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-m", "immunolab", *args], stdout=full, stderr=subprocess.PIPE,
                             text=True, cwd=REPO, timeout=120)
    assert res.returncode == 3
    assert "ERROR IML-IN-008" in res.stderr and "No space left on device" in res.stderr
    assert "Traceback" not in res.stderr
