"""On a terminal, ingest draws a progress bar beside the per-file lines; off a terminal it does not."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
CLI = [sys.executable, "-m", "immunolab", "ingest", str(SAMPLE / "plates"), "--manifest", str(SAMPLE / "manifest.csv"), "-j", "1"]


def test_ingest_on_a_terminal_shows_a_progress_bar(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen([*CLI, "--store", str(tmp_path / "s")], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=120) == 0
    text = out.decode("utf-8", "replace")
    assert "0/5" in text and "file/s" in text  # the bar
    assert text.count("OK   PLATE-0") == 5 and "5 file(s): 5 OK" in text


def test_ingest_into_a_pipe_prints_lines_only(tmp_path: Path) -> None:
    r = subprocess.run([*CLI, "--store", str(tmp_path / "s")], capture_output=True, text=True, check=True)
    assert "file/s]" not in r.stdout + r.stderr and "%|" not in r.stderr
    assert r.stdout.count("OK   PLATE-0") == 5
