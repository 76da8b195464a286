"""Every example of every command's ``--help`` runs as written in a demo sandbox.

The examples name the things a lab has: a store (``trial-store``; ``S`` in the short form), a
manifest and subjects file, a run folder, a tube, a strategy. The sandbox (tests/sandbox.py)
gets those names: ``trial-store`` and ``S`` are the demo store, ``manifest.csv`` /
``subjects.csv`` the demo's, ``runs/day14/`` the Day-14 tubes, ``tube.fcs`` a tube,
``panel.xml`` / ``expert.xml`` a Gating-ML strategy for the demo panel, ``lab_template.yaml`` the
built-in template, ``old-trial-store`` a store written by the first release. Examples that need
what no sandbox can hold (an object store, a FlowJo workspace of these tubes, an id known only
after a run) are listed in :data:`NOT_RUN` with the reason; a test checks that list stays short
and that each entry still names an existing example.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from tests.sandbox import copy_sandbox, sandbox_env

REPO = Path(__file__).resolve().parents[1]

#: example (its first words) -> why it cannot run in a sandbox
NOT_RUN: dict[str, str] = {
    "immunolab ingest runs/ --store s3://": "needs an object store (the S3 path is tested against moto in tests/reliability)",
    "immunolab flow gate tube.fcs --strategy lab.wsp": "needs a FlowJo workspace drawn on this tube (FlowJo reading is "
                                                       "tested on the shared tutorial workspaces)",
    "immunolab flow export-strategy --store S --panel TBNK --sample": "needs a panel gated with a FlowJo workspace",
    "immunolab derive activate --store S --kind gating --scope TBNK-Treg --derivation 6a162a595e0e1c8f":
        "names a derivation id that only `derive list` of a given store shows",
}


def _commands(cmd: click.Command, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
    yield path, cmd
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None:
                yield from _commands(sub, [*path, name])


def help_examples_by_command() -> dict[str, list[str]]:
    """Return each command's examples (continuation lines joined) in order.

    A command whose examples all appeared before (a group repeats its commands' examples) is left
    out; otherwise all its examples stay, since a later one may read what an earlier one wrote.
    """
    from immunolab.cli import main

    seen: set[str] = set()
    out: dict[str, list[str]] = {}
    for path, cmd in _commands(main, ["immunolab"]):
        examples: list[str] = []
        lines = (cmd.epilog or "").splitlines()
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            if line.startswith(("immunolab ", "python ")):
                while line.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    line = line[:-1].rstrip() + " " + lines[i].strip()
                examples.append(_strip_comment(line))
            i += 1
        if examples and not set(examples) <= seen:
            out[" ".join(path)] = list(dict.fromkeys(examples))
        seen.update(examples)
    return out


def help_examples() -> list[str]:
    """Return every distinct example command line of every ``--help``."""
    return list(dict.fromkeys(e for examples in help_examples_by_command().values() for e in examples))


def _strip_comment(line: str) -> str:
    """Return the command without a trailing ``# ...`` comment or a ``(...)`` note after two spaces."""
    for marker in ("  #", "  ("):
        if marker in line:
            line = line.split(marker, 1)[0]
    return line.rstrip()


#: an ingest id in an example -> the label of the sandbox file whose ingest stands in for it
INGEST_IDS = {"ing-20261125T101500-3f9a2b1c": "007-D014-WB"}


def _with_sandbox_ids(example: str, root: Path, env: dict[str, str]) -> str:
    """Replace the example's ingest ids by the sandbox's ingest of the same kind of file."""
    for placeholder, label in INGEST_IDS.items():
        if placeholder in example:
            res = subprocess.run(["immunolab", "log", "--store", "S", "--json"], cwd=root, env=env,
                                 capture_output=True, text=True, check=True)
            ids = [a["ingest_id"] for rec in json.loads(res.stdout) for a in rec.get("attempts", [])
                   if str(a.get("label", "")).startswith(label) and a.get("outcome") == "OK"]
            assert ids, f"the sandbox has no ingest of {label}"
            example = example.replace(placeholder, ids[0])
    return example


def _not_run(example: str) -> str | None:
    return next((why for start, why in NOT_RUN.items() if example.startswith(start)), None)


def _gating_ml(path: Path) -> None:
    """Write a small Gating-ML 2.0 strategy for the demo panel (scatter rectangle, CD3+ within it)."""
    from tests.flow.test_gatingml_factory import document, rectangle

    path.write_text(document(
        rectangle("Lymphocytes", [(("FSC-A", "uncompensated", None), 20000.0, 120000.0),
                                   (("SSC-A", "uncompensated", None), 0.0, 60000.0)]),
        rectangle("T_cells", [(("BV421-A", "uncompensated", None), 1000.0, None)], parent="Lymphocytes"),
    ))


def _re_export(tube: Path, target: Path, manifest: Path) -> None:
    """Write ``target`` as a re-export of ``tube`` (one acquisition time differs) and list it in the manifest."""
    data = tube.read_bytes()
    etim = data.index(b"$ETIM/") + len(b"$ETIM/")
    last = data[etim + 7:etim + 8]
    target.write_bytes(data[:etim + 7] + (b"0" if last != b"0" else b"1") + data[etim + 8:])
    rows = manifest.read_text().splitlines()
    row = next(r for r in rows if r.startswith(tube.name + ","))
    fields = row.split(",")
    fields[0], fields[1] = target.name, fields[1] + "-R"  # a re-export is listed under its own sample id
    manifest.write_text("\n".join([*rows, ",".join(fields)]) + "\n")


def _prepare(root: Path) -> None:
    """Give the sandbox the names the examples use (see the module doc)."""
    data = root / "sample_data"
    for name in ("trial-store", "S"):
        (root / name).symlink_to("demo-store")
    shutil.copy(data / "manifest.csv", root / "manifest.csv")
    shutil.copy(data / "subjects.csv", root / "subjects.csv")
    (root / "runs" / "day14").mkdir(parents=True)
    for fcs in sorted((data / "flow").glob("*-D014-*.fcs"))[:3]:
        shutil.copy(fcs, root / "runs" / "day14" / fcs.name)
    shutil.copytree(data / "plates", root / "plates")
    shutil.copy(sorted((data / "flow").glob("*.fcs"))[0], root / "tube.fcs")
    _re_export(data / "flow" / "007-D014-WB_TBNK-Treg.fcs", root / "P07_D14.fcs", root / "manifest.csv")
    _gating_ml(root / "panel.xml")
    _gating_ml(root / "expert.xml")
    shutil.copy(REPO / "immunolab" / "flow" / "templates" / "trial_panel.yaml", root / "lab_template.yaml")
    with tarfile.open(REPO / "tests" / "fixtures" / "store_v1" / "store_v1.tar.gz") as tar:
        tar.extractall(root / "_v1", filter="data")
    store_v1 = next(p.parent for p in (root / "_v1").rglob("*") if p.name in ("audit", "tables"))
    shutil.move(str(store_v1), root / "old-trial-store")


@pytest.fixture(scope="module")
def help_sandbox(pristine_sandbox: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_sandbox(pristine_sandbox, tmp_path_factory.mktemp("help") / "lab")
    _prepare(root)
    return root


def test_not_run_stays_short_and_names_existing_examples() -> None:
    examples = help_examples()
    assert len(examples) >= 60
    assert len(NOT_RUN) <= 5
    for start in NOT_RUN:
        assert any(e.startswith(start) for e in examples), f"NOT_RUN entry matches no example any more: {start}"


def test_every_help_example_runs(help_sandbox: Path, tmp_path: Path) -> None:
    # each command's examples run in order on a fresh copy: an example that activates other gates
    # (derive, flow export-strategy) must not change what the next command's examples see
    failures, ran = [], 0
    for n, (command, examples) in enumerate(help_examples_by_command().items()):
        todo = [e for e in examples if not _not_run(e)]
        if not todo:
            continue
        root = copy_sandbox(help_sandbox, tmp_path / f"c{n}")
        env = sandbox_env(root)
        for example in todo:
            argv = shlex.split(_with_sandbox_ids(example, root, env))
            res = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=900)
            ran += 1
            if res.returncode != 0 or "Traceback" in res.stderr:
                failures.append(f"[{command}] {example}\n  exit {res.returncode}\n  stdout: {res.stdout[-800:]}\n"
                                f"  stderr: {res.stderr[-1500:]}")
        shutil.rmtree(root)
    assert not failures, f"{len(failures)} of {ran} --help examples failed:\n\n" + "\n\n".join(failures)
