"""`immunolab flow template` writes a built-in gating template a lab can edit and use with --strategy."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from immunolab.cli import main
from immunolab.flow.template import load_template

REPO = Path(__file__).resolve().parents[2]


def test_the_trial_panel_is_written_and_gates_a_demo_tube(tmp_path: Path) -> None:
    out = tmp_path / "lab_panel.yaml"
    res = CliRunner().invoke(main, ["flow", "template", "--out", str(out)])
    assert res.exit_code == 0, res.output
    builtin = load_template()
    assert load_template(out).populations == builtin.populations
    assert f"{len(builtin.populations)} populations" in res.output
    tube = next((REPO / "sample_data" / "flow").glob("*.fcs"), None)
    if tube is not None:  # the edited copy is a strategy like any other
        gated = CliRunner().invoke(main, ["flow", "gate", str(tube), "--strategy", str(out), "--json"])
        assert gated.exit_code == 0, gated.output
        pops = {r["population"] for r in json.loads(gated.output)["populations"]}
        assert {p.name for p in builtin.populations} <= pops


def test_another_built_in_template_is_chosen_by_name(tmp_path: Path) -> None:
    out = tmp_path / "t.yaml"
    res = CliRunner().invoke(main, ["flow", "template", "--name", "tcell_tube", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["name"] == "tcell_tube" == load_template(out).name


def test_an_existing_file_is_not_overwritten_without_force(tmp_path: Path) -> None:
    out = tmp_path / "mine.yaml"
    out.write_text("my edits\n")
    res = CliRunner().invoke(main, ["flow", "template", "--out", str(out)])
    assert res.exit_code != 0 and "IML-IN-010" in res.output and "--force" in res.output
    assert out.read_text() == "my edits\n"
    assert CliRunner().invoke(main, ["flow", "template", "--out", str(out), "--force"]).exit_code == 0
    assert out.read_text() != "my edits\n"


def test_an_unknown_template_name_lists_the_built_in_ones(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["flow", "template", "--name", "nope", "--out", str(tmp_path / "x.yaml")])
    assert res.exit_code == 2 and "trial_panel" in res.output and "tcell_tube" in res.output


def test_a_missing_out_folder_is_created(tmp_path: Path) -> None:
    out = tmp_path / "new" / "dir" / "panel.yaml"
    res = CliRunner().invoke(main, ["flow", "template", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert load_template(out).populations == load_template().populations


def test_the_built_in_template_is_trial_panel_whichever_separator_names_it(tmp_path: Path, demo_trial: Path) -> None:
    tube = next((demo_trial / "flow").glob("*.fcs"))
    runs = {}
    for spelling in (None, "trial_panel", "trial-panel", " trial-panel "):
        res = CliRunner().invoke(main, ["flow", "gate", str(tube), "--json",
                                        *(("--strategy", spelling) if spelling else ())])
        assert res.exit_code == 0, res.output
        runs[spelling] = json.loads(res.output)
    assert {r["strategy"] for r in runs.values()} == {"trial_panel"}  # one name printed, the template's own
    assert len({r["strategy_id"] for r in runs.values()}) == 1
    text = CliRunner().invoke(main, ["flow", "gate", str(tube), "--strategy", "trial-panel"])
    assert text.exit_code == 0 and text.output.startswith("strategy trial_panel (")
    for spelling in ("trial_panel", "trial-panel"):
        out = tmp_path / f"{spelling}.yaml"
        res = CliRunner().invoke(main, ["flow", "template", "--name", spelling, "--out", str(out), "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["name"] == "trial_panel"
    assert (tmp_path / "trial-panel.yaml").read_text() == (tmp_path / "trial_panel.yaml").read_text()
    missing = CliRunner().invoke(main, ["flow", "gate", str(tube), "--strategy", "trial-panels"])
    assert missing.exit_code == 1 and "IML-FCS-013" in missing.output and "trial_panel" in missing.output
