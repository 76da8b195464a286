"""No control character from an input file reaches the terminal, whatever command prints it.

An analyte (xPONENT header) and a population (gating template) are named with an OSC 8
hyperlink, a CSI clear-screen, a DCS string and 8-bit CSI / OSC sequences. The first release
stripped CSI codes but printed OSC ones. Every command that shows input text is run on that
study; its stdout and stderr may hold no C0 (except the line feed), no ESC and no C1 character,
and must show the neutralised name (so the check is not passing on empty output).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from immunolab.cli import main
from immunolab.cli.text import safe
from tests.cli.hostile_study import ANALYTE, HOSTILE, POPULATION, HostileStudy, build_hostile_study
from tests.reliability.conftest import FIGURES

#: figures for `make reliability` (rendered into the README): commands run, control characters seen
COUNTS = FIGURES.setdefault("test_terminal_output_of_every_command", {"commands": 0, "control_characters": 0})

CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@dataclass
class Ingested:
    """The hostile study after one ingest (and the ingest's own result)."""

    study: HostileStudy
    ingest: Result


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _clean(r: Result, *, shows: str | None = "link") -> None:
    COUNTS["commands"] += 1
    for stream, text in (("stdout", r.stdout), ("stderr", r.stderr)):
        bad = CONTROL.search(text)
        COUNTS["control_characters"] += len(CONTROL.findall(text))
        assert bad is None, f"{stream} carries {bad.group()!r}: {text[max(0, bad.start() - 60):bad.end() + 20]!r}"
    assert "Traceback" not in r.stdout + r.stderr
    if shows is not None:
        assert shows in (r.stdout + r.stderr).lower(), "the hostile name was not printed at all"


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingested]:
    from immunolab.plugins import reset_registry

    reset_registry()
    st = build_hostile_study(tmp_path_factory.mktemp("hostile"))
    r = _run("ingest", str(st.inbox), "--store", str(st.store), "--manifest", str(st.manifest),
             "--strategy", str(st.strategy), "-j", "1")
    assert r.exit_code == 0, r.stdout + r.stderr
    yield Ingested(st, r)
    reset_registry()


def test_safe_replaces_whole_sequences_and_every_control_character() -> None:
    assert safe("IL-6\x1b]8;;https:x\x07click\x1b]8;;\x07") == "IL-6?click?"
    assert safe("a\x1b[31mred\x1b[0m b\x9b2Jc \x9d0;title\x9c d\x1bP1$r\x1b\\e") == "a?red? b?c ? d?e"
    assert safe("x\x1b]0;no terminator") == "x?0;no terminator"  # only the introducer goes: nothing hidden
    assert safe("two\nlines\r\u202eevil") == "two?lines??evil" and safe("tab\there") == "tab here"
    assert CONTROL.search(safe(HOSTILE)) is None and safe("CD4+ T") == "CD4+ T"


def test_ingest_lines_hold_no_control_character(ingested: Ingested) -> None:
    _clean(ingested.ingest, shows=None)  # OK lines name files by label, not by analyte


def test_store_qc_shows_the_analyte_neutralised(ingested: Ingested) -> None:
    r = _run("store", "qc", "--store", str(ingested.study.store), "--all")
    assert r.exit_code == 0
    _clean(r)


def test_store_info_log_and_verify(ingested: Ingested) -> None:
    store = str(ingested.study.store)
    for args in (("store", "info", "--store", store, "--per-visit"), ("log", "--store", store, "--files"),
                 ("verify", "--store", store)):
        r = _run(*args)
        assert r.exit_code == 0, r.stdout + r.stderr
        _clean(r, shows=None)


def test_derive_list_shows_the_strategy_name_neutralised(ingested: Ingested) -> None:
    _clean(_run("derive", "list", "--store", str(ingested.study.store)))


def test_compare_prints_analyte_and_population_neutralised(ingested: Ingested, tmp_path: Path) -> None:
    r = _run("compare", "--store", str(ingested.study.store), "--out", str(tmp_path / "cmp"), "--no-plots")
    assert r.exit_code == 0, r.stdout + r.stderr
    _clean(r)
    assert safe(ANALYTE).lower() in r.stdout.lower() and safe(POPULATION) in r.stdout


def test_flow_gate_prints_the_population_neutralised(ingested: Ingested) -> None:
    st = ingested.study
    r = _run("flow", "gate", str(st.inbox / "001-D000-PB_TBNK-Treg.fcs"), "--strategy", str(st.strategy))
    assert r.exit_code == 0, r.stdout + r.stderr
    _clean(r)
    assert "/" + safe(POPULATION) in r.stdout


def test_qc_decisions_with_hostile_analyte_and_reason(ingested: Ingested) -> None:
    store = str(ingested.study.store)
    r = _run("qc", "exclude", "--store", store, "--plate", "PLATE-01", "--analyte", ANALYTE,
             "--reason", "bead clump" + HOSTILE)
    _clean(r)  # refused: the reader stores the analyte upper-cased, and the refusal names it safely
    assert r.exit_code == 1 and "IML-DER-003" in r.stdout + r.stderr
    r = _run("qc", "exclude", "--store", store, "--plate", "PLATE-01", "--analyte", ANALYTE.upper(),
             "--reason", "bead clump" + HOSTILE)
    assert r.exit_code == 0, r.stdout + r.stderr
    _clean(r)
    r = _run("qc", "list", "--store", store)
    assert r.exit_code == 0
    _clean(r)


def test_identity_history_and_a_correction_with_hostile_text(ingested: Ingested, tmp_path: Path) -> None:
    st = ingested.study
    r = _run("identity", "history", "--store", str(st.store), "--patient", "001")
    assert r.exit_code == 0
    _clean(r, shows=None)
    manifest = tmp_path / "manifest.csv"
    row = "001-D000-PB_TBNK-Treg.fcs,001-D000-PB,001,0,PBMC,TBNK-Treg"
    manifest.write_text(st.manifest.read_text().replace(row, row.replace(",PBMC,", f",PBMC{HOSTILE},")))
    (tmp_path / "subjects.csv").write_text((st.root / "subjects.csv").read_text())
    r = _run("identity", "apply", "--store", str(st.store), "--manifest", str(manifest), "--dry-run")
    assert r.exit_code == 0 and "UPDATE 001-D000-PB specimen" in r.stdout, r.stdout + r.stderr
    _clean(r)


def test_a_failed_file_whose_message_names_a_hostile_channel(ingested: Ingested, tmp_path: Path) -> None:
    st = ingested.study
    strategy = tmp_path / "channel.yaml"
    strategy.write_text(st.strategy.read_text().replace("channels: [CD127, CD25]",
                                                        'channels: ["CD127\\e]8;;https:x\\alink\\e]8;;\\a", CD25]'))
    r = _run("flow", "gate", str(st.inbox / "001-D000-PB_TBNK-Treg.fcs"), "--strategy", str(strategy))
    assert r.exit_code == 1 and "ERROR IML-" in r.stderr
    _clean(r)


def test_plugins_lists_a_hostile_plugin_name_neutralised() -> None:
    from immunolab.plugins import get_registry, reset_registry
    from tests.store.toy_plugin import ToyPlugin

    class Hostile(ToyPlugin):
        name = "toy" + HOSTILE
        version = "1.0" + HOSTILE

    reset_registry()
    try:
        get_registry([Hostile()])
        r = _run("plugins")
        assert r.exit_code == 0
        _clean(r)
    finally:
        reset_registry()


def test_every_cli_line_is_printed_through_the_terminal_safe_echo() -> None:
    """``click.echo`` appears only in text.echo itself and in the JSON printer (json.dumps escapes controls)."""
    folder = Path(__file__).resolve().parents[2] / "immunolab" / "cli"
    offenders = []
    for path in sorted(folder.glob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if "click.echo(" in line and not (path.name == "text.py" or "json.dumps(" in line):
                offenders.append(f"{path.name}:{n}")
    assert offenders == []
