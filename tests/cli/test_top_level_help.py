"""`immunolab --help` is the map of the tool: every command, and every group's sub-commands, in one line each."""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

import immunolab.cli
from immunolab.cli import COMMANDS, main

CLI_DIR = Path(immunolab.cli.__file__).parent


def _top_level_help() -> str:
    r = CliRunner().invoke(main, ["--help"], terminal_width=250)
    assert r.exit_code == 0, r.output
    return r.output


def test_every_command_module_is_registered_as_a_command() -> None:
    modules = {f"immunolab.cli.{p.stem}" for p in CLI_DIR.glob("*_cmd.py")}
    assert modules == {mod for mod, _attr, _help in COMMANDS.values()}


def test_every_registered_command_is_listed_in_the_top_level_help_with_its_one_line_description() -> None:
    text = _top_level_help()
    for name, (_mod, _attr, description) in COMMANDS.items():
        line = next((ln for ln in text.splitlines() if ln.split()[:1] == [name]), None)
        assert line is not None, f"{name} missing from `immunolab --help`"
        assert description in " ".join(line.split()), f"{name}: the help line does not show {description!r}"


def test_every_group_names_all_its_sub_commands_in_its_help_line() -> None:
    groups = 0
    for name, (_mod, _attr, description) in COMMANDS.items():
        cmd = main.get_command(click.Context(main), name)
        assert cmd is not None, name
        if not isinstance(cmd, click.Group):
            continue
        groups += 1
        listed = re.search(r"\(([^()]*)\)\.?$", description)
        assert listed is not None, f"{name}: the description does not list its sub-commands in parentheses"
        assert [s.strip() for s in listed.group(1).split(",")] == list(cmd.commands), name
    assert groups >= 5  # store, derive, qc, identity, flow, export are groups
