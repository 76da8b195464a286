"""Every assay- or derivation-specific ingest flag comes from a declaration, none is written by hand."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from immunolab.cli import ingest_cmd, main
from immunolab.cytokine.censoring import ABOVE_RULES, BELOW_RULES
from immunolab.cytokine.curves import MODELS, WEIGHTINGS
from immunolab.derive.registry import (
    CURVE_OPTIONS,
    GATING_OPTIONS,
    derivation_options,
    derive_settings,
)
from immunolab.plugins import PluginRegistry


def _help() -> str:
    r = CliRunner().invoke(main, ["ingest", "--help"], terminal_width=200)
    assert r.exit_code == 0, r.output
    return r.output


def test_every_declared_derivation_and_plugin_option_is_an_ingest_flag() -> None:
    text = _help()
    installed = PluginRegistry()
    installed.load_entry_points()  # what the command was built from (tests may register more later)
    declared = [opt for _d, opt in derivation_options()]
    declared += [opt for p in installed.plugins.values() for opt in getattr(p, "options", ()) or ()]
    assert {"--strategy", "--comp", "--events", "--curve-model", "--strict-curves", "--accept-tot-mismatch"} <= {
        o.flag for o in declared}
    for opt in declared:
        assert re.search(rf"^\s+{re.escape(opt.flag)}\b", text, re.M), f"{opt.flag} missing from ingest --help"


def test_the_ingest_command_writes_no_assay_or_derivation_flag_by_hand() -> None:
    source = Path(ingest_cmd.__file__).read_text("utf-8")
    for opt in [*GATING_OPTIONS, *CURVE_OPTIONS]:
        assert f'"{opt.flag}"' not in source, f"{opt.flag} is hard-coded in ingest_cmd.py"
        assert opt.name not in ingest_cmd._CORE


def test_curve_option_choices_are_exactly_what_the_science_accepts() -> None:
    choices = {o.name: set(o.choices) for o in CURVE_OPTIONS if o.type == "choice"}
    assert choices["curve_model"] == {"vendor", *MODELS}
    assert choices["curve_weighting"] == {"vendor", *WEIGHTINGS}
    assert choices["below_rule"] == set(BELOW_RULES)
    assert choices["above_rule"] == set(ABOVE_RULES)


def test_declared_defaults_are_the_defaults_of_the_settings() -> None:
    defaults = derive_settings({o.name: o.default for _d, o in derivation_options() if o.default is not None})
    plain = derive_settings({})
    assert defaults == plain
    assert plain.plates.model == "vendor" and plain.plates.below_rule == "LLOQ/2"
    assert plain.gating.strategy is None and plain.gating.write_events is False


def test_option_values_become_the_derivations_settings() -> None:
    s = derive_settings({"strategy": Path("lab/panel.yaml"), "write_events": True, "curve_model": "4PL",
                         "below_rule": "LLOQ", "strict_curves": True}, active={"P": ("template", "{}", "t")})
    assert s.gating.strategy == str(Path("lab/panel.yaml")) and s.gating.write_events
    assert s.gating.active == {"P": ("template", "{}", "t")}
    assert (s.plates.model, s.plates.below_rule, s.plates.strict_curves) == ("4PL", "LLOQ", True)


def test_plugin_options_keep_their_plugin_tag_and_derivation_options_their_defaults() -> None:
    text = _help()
    assert "[plugin fcs]" in text and "[default: LLOQ/2]" in text
    assert "--events" in text and "--write-events" not in text
