"""The README as a tested specification: every shell and Python block runs as written.

A generated demo trial (``generate_trial``, fewer events per tube than ``make demo``) and its
store, ingested exactly as ``make demo`` does, stand in a scratch folder laid out like the
repository after ``make demo`` (``sample_data/``, ``demo-store/``). The README's ``bash`` and
``python`` blocks run there in order with the package's ``immunolab`` command on ``PATH``. A
block is skipped only when the line before it says ``<!-- readme: skip <reason> -->``, and the
reason must be given. Every command of the ``--help`` examples runs too (tests/test_help_examples.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.sandbox import copy_sandbox, sandbox_env

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SKIP = re.compile(r"<!--\s*readme:\s*skip\s+(?P<reason>\S.*?)\s*-->")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file: its language, text, first line and skip reason."""

    lang: str
    text: str
    line: int
    skip: str | None


def blocks(markdown: str) -> list[Block]:
    """Return the fenced code blocks of ``markdown`` with the skip reason of the line before each."""
    out: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        prev = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        skip = SKIP.search(prev)
        start = i
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        out.append(Block(m.group(1), "\n".join(body) + "\n", start + 1, skip.group("reason") if skip else None))
        i += 1
    return out


def runnable(markdown: str) -> list[Block]:
    """Return the bash and python blocks of ``markdown`` (skipped ones included, marked)."""
    return [b for b in blocks(markdown) if b.lang in ("bash", "python")]


def run_block(block: Block, cwd: Path, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """Run one block in ``cwd``: bash with -euo pipefail, python with this interpreter."""
    if block.lang == "bash":
        cmd = ["bash", "-euo", "pipefail", "-c", block.text]
    else:
        cmd = [sys.executable, "-c", block.text]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def demo_sandbox(pristine_sandbox: Path, tmp_path: Path) -> Path:
    """Return a private copy of the session's demo sandbox (the README's examples change the store)."""
    return copy_sandbox(pristine_sandbox, tmp_path / "repo")


def test_the_readme_blocks_are_found_and_every_skip_gives_its_reason() -> None:
    found = runnable(README.read_text("utf-8"))
    assert len(found) >= 15
    for b in found:
        assert b.skip is None or len(b.skip) > 10, f"README line {b.line}: say why the block is skipped"
    assert sum(b.skip is None for b in found) >= 12


def test_every_readme_block_runs_as_written(demo_sandbox: Path) -> None:
    env = sandbox_env(demo_sandbox)
    ran, failures = 0, []
    for b in runnable(README.read_text("utf-8")):
        if b.skip:
            continue
        res = run_block(b, demo_sandbox, env)
        ran += 1
        if res.returncode != 0 or "Traceback" in res.stderr:
            failures.append(f"README block at line {b.line} ({b.lang}) exit {res.returncode}:\n{b.text}"
                            f"--- stdout\n{res.stdout[-2000:]}\n--- stderr\n{res.stderr[-2000:]}")
    assert not failures, "\n\n".join(failures)
    assert ran >= 12


def test_the_readme_points_only_at_files_that_exist() -> None:
    text = README.read_text("utf-8")
    for target in re.findall(r"\]\(((?:docs|sample_data|tests|immunolab|benchmarks)/[^)#]+)\)", text):
        assert (REPO / target).exists(), f"README links to {target}, which is not in the repository"
    for path in re.findall(r"`((?:docs|immunolab|tests|benchmarks)/[\w/.-]+\.(?:md|py|yaml))`", text):
        assert (REPO / path).exists(), f"README names {path}, which is not in the repository"


def test_the_readme_counts_the_demo_files_as_the_generator_writes_them() -> None:
    """The README said 150 tubes and a 96-well run; the demo has one tube per attended visit (counted in its manifest)."""
    import csv

    with (REPO / "sample_data" / "manifest.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    tubes = sum(r["panel"] == "TBNK-Treg" and r["file"].endswith(".fcs") for r in rows)
    wells = sum(r["assay"] == "bead_array" and r["file"].endswith(".fcs") for r in rows)
    assert tubes > 100 and wells > 50
    text = " ".join(README.read_text("utf-8").split())
    assert f"{tubes} TBNK-Treg FCS tubes" in text
    assert f"run of {wells} wells" in text
