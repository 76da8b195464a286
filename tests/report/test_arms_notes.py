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
