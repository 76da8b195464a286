"""The ``immunolab`` command line: a click group whose commands load lazily.

Start-up stays instant: ``immunolab --help`` imports only click and the names below; each
command's module (and any heavy library it needs) loads only when that command runs.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

from immunolab import __version__

__all__ = ["main"]

#: command name -> (module, attribute, one-line help shown by `immunolab --help`; a group names its
#: sub-commands in parentheses, which tests/cli/test_top_level_help.py checks)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "ingest": ("immunolab.cli.ingest_cmd", "ingest", "Ingest instrument files into a store."),
    "plugins": ("immunolab.cli.plugins_cmd", "plugins", "List installed assay plugins and load errors."),
    "store": ("immunolab.cli.store_cmd", "store", "Inspect and maintain a store (info, qc, compact, vacuum, recover, upgrade)."),
    "log": ("immunolab.cli.log_cmd", "log_", "Show the store versions (every commit) and file attempts."),
    "verify": ("immunolab.cli.verify_cmd", "verify", "Re-hash raw and data files, check the commit log (--repair)."),
    "identity": ("immunolab.cli.identity_cmd", "identity", "Correct and trace identity (apply, history)."),
    "derive": ("immunolab.cli.derive_cmd", "derive", "Re-gate, cluster, refit and choose active derivations (gating, clusters, curves, activate, list)."),
    "qc": ("immunolab.cli.qc_cmd", "qc", "Exclude or include values with a recorded reason (exclude, include, list)."),
    "flow": ("immunolab.cli.flow_cmd", "flow", "Flow cytometry tools: copy a built-in template, gate a file, export a panel's gating (template, gate, export-strategy)."),
    "compare": ("immunolab.cli.compare_cmd", "compare", "Compare the arms: trajectories and statistics."),
    "outcomes": ("immunolab.cli.outcomes_cmd", "outcomes", "Clinical endpoints: mortality, survival, AEs, improvement."),
    "report": ("immunolab.cli.report_cmd", "report", "Write the self-contained HTML report."),
    "export": ("immunolab.cli.export_cmd", "export", "Export the store for other tools (parquet, anndata, adam)."),
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when the command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [n for n, (mod, _a, _h) in COMMANDS.items() if importlib.util.find_spec(mod) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        mod_name, attr, _help = spec
        if importlib.util.find_spec(mod_name) is None:
            return None
        module = importlib.import_module(mod_name)
        cmd: click.Command = getattr(module, attr)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n][2]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="immunolab")
@click.option("--quiet", "-q", is_flag=True, help="Do not print warnings (WARN lines); errors are still printed.")
@click.option("--debug", is_flag=True,
              help="Show the Python traceback of an internal error, for every command (as IMMUNOLAB_DEBUG=1).")
def main(quiet: bool, debug: bool) -> None:
    """Turn an immunology lab's raw instrument files into analysis-ready trial data.

    \b
    Typical day of a technician:
      immunolab ingest runs/2026-11-25/ --store /lab/trial-store --manifest manifest.csv
      immunolab store info --store /lab/trial-store --per-visit
      immunolab log --store /lab/trial-store --outcome FAIL

    Run `immunolab COMMAND --help` for the options and an example of each command.
    Warnings are printed on stderr as one line each, `WARN <code> <message>`; `immunolab -q ...`
    silences them. An internal error (IML-INTERNAL-001) shows its traceback with
    `immunolab --debug COMMAND ...` or IMMUNOLAB_DEBUG=1 set.
    """
    from immunolab.diagnostics import install_cli_handler

    install_cli_handler(quiet=quiet)


def run(args: list[str] | None = None) -> Any:
    """Run the CLI in-process (tests) and return click's result."""
    return main.main(args=args, standalone_mode=False)
