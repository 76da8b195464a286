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


def test_an_internal_error_hint_works_for_commands_without_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    """IML-INTERNAL-001 said "re-run with --debug" on commands that have no such option (derive list)."""
    import click
    from click.testing import CliRunner

    from immunolab.cli.common import handle_errors

    @click.command()
    @handle_errors
    def broken() -> None:
        raise RuntimeError("boom")

    runner = CliRunner()
    res = runner.invoke(broken, [])
    assert res.exit_code == 70 and "IML-INTERNAL-001" in res.output and "IMMUNOLAB_DEBUG=1" in res.output
    monkeypatch.setenv("IMMUNOLAB_DEBUG", "1")
    res = runner.invoke(broken, [])
    assert isinstance(res.exception, RuntimeError) and str(res.exception) == "boom"  # the traceback is shown


def test_the_internal_error_hint_names_a_debug_switch_every_command_accepts(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The hint said "(or --debug)", but `store qc --debug` and `derive list --debug` were usage errors."""
    from click.testing import CliRunner

    import immunolab.derive.summary
    from immunolab.cli import main

    def broken(_store: object) -> list[object]:
        raise RuntimeError("boom")

    monkeypatch.delenv("IMMUNOLAB_DEBUG", raising=False)
    monkeypatch.setattr(immunolab.derive.summary, "derivation_rows", broken)
    store = tmp_path / "s"
    store.mkdir()
    monkeypatch.setattr("immunolab.cli.derive_cmd.open_store_cli", lambda *_a, **_k: None)
    runner = CliRunner()
    res = runner.invoke(main, ["derive", "list", "--store", str(store)])
    assert res.exit_code == 70 and "IML-INTERNAL-001" in res.output, res.output
    assert "re-run as `immunolab --debug COMMAND ...` (or with IMMUNOLAB_DEBUG=1 set)" in res.output
    res = runner.invoke(main, ["--debug", "derive", "list", "--store", str(store)])
    assert isinstance(res.exception, RuntimeError) and str(res.exception) == "boom"  # the traceback is shown


@pytest.mark.parametrize("command", [("store", "qc"), ("derive", "list"), ("qc", "list"), ("ingest",), ("report",)])
def test_immunolab_debug_is_accepted_before_any_command(command: tuple[str, ...]) -> None:
    from click.testing import CliRunner

    from immunolab.cli import main

    res = CliRunner().invoke(main, ["--debug", *command, "--help"])
    assert res.exit_code == 0 and "Usage:" in res.output, res.output
