"""The report says which flagged covariates no analysis adjusts for, and the exact command that would."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pandas as pd

from immunolab.report.context import ReportOptions
from immunolab.report.sections.arms import (
    _confounding_note,
    compare_command,
    unadjusted_covariates_note,
)


def _data(adjust_for: list[str], **options: Any) -> Any:
    """Return what the notes read of a ReportData: 10 patients per arm, WHO 6 severity in the control arm only."""
    subjects = pd.DataFrame({
        "patient_id": [f"{i:03d}" for i in range(20)],
        "arm": ["MSC"] * 10 + ["control"] * 10,
        "site": ["SITE-A", "SITE-B"] * 10,
        "age": [40 + (i % 7) for i in range(20)],
        "severity": ["WHO4"] * 6 + ["WHO5"] * 4 + ["WHO4"] * 3 + ["WHO5"] * 4 + ["WHO6"] * 3,
    })
    return SimpleNamespace(subjects=subjects, arms=("MSC", "control"), adjust_for=adjust_for,
                           options=ReportOptions(**options), store=SimpleNamespace(version=7))


def test_a_confounded_covariate_outside_the_adjustment_is_named_with_the_command_adjusting_for_it() -> None:
    """Severity was flagged as confounded with arm, yet the adjusted analysis (site, age) left it out silently."""
    note = unadjusted_covariates_note(_data(["site", "age"]))
    assert "nor the adjusted one (site, age) is adjusted for severity" in note
    assert note.count("immunolab compare") == 1
    assert "immunolab compare --store STORE --version 7 --adjust site,age,severity --out compare-sensitivity/" in note
    assert "adjusted for severity" in _confounding_note(_data(["site", "age"]))


def test_no_note_when_the_adjustment_holds_every_flagged_covariate() -> None:
    assert unadjusted_covariates_note(_data(["site", "age", "severity"])) == ""
    assert "Sensitivity" not in _confounding_note(_data(["site", "age", "severity"]))


def test_the_command_carries_the_reports_features_measures_and_window() -> None:
    cmd = compare_command(_data([], features=["IL-6", "CD4+ T"], window=(0, 14)), ["site"])
    assert cmd == ("immunolab compare --store STORE --version 7 --features IL-6 --features 'CD4+ T' --window 0-14 "
                   "--adjust site --out compare-results/")


def test_the_command_quotes_covariate_names_a_shell_would_split() -> None:
    """Covariates are free subjects-file column names: one with a space stays one argument."""
    import shlex

    cmd = compare_command(_data([]), ["site", "smoking status"])
    assert "--adjust 'site,smoking status'" in cmd
    assert shlex.split(cmd)[shlex.split(cmd).index("--adjust") + 1] == "site,smoking status"


def test_the_strongest_visit_is_post_baseline_by_the_one_rule_even_without_a_day_0_value() -> None:
    """A feature first measured on Day 3 has Day 3 as a post-baseline visit (not skipped as 'the first visit')."""
    from immunolab.report.sections.arms import _strongest

    effects = pd.DataFrame({"assay": "cytokine", "feature": "IL-6", "measure": "concentration",
                            "visit_day": [3, 7], "p unadjusted": [0.01, 0.2],
                            "ratio (95 % CI) unadjusted": ["2.0 (1.1-3.5)", "1.2 (0.8-1.9)"]})
    best = _strongest(effects)
    assert best["strongest visit"].tolist() == ["D3"]
