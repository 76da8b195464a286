"""The reliability figures in the README were measured on the code that is checked in.

``make reliability`` records in ``last_run.json`` the commit it measured (``git rev-parse HEAD``)
and any uncommitted change to the measured code. The figures are stale, and this test fails, when
the last commit touching the store, ingest, FCS reader or assay readers is not that commit or one
of its ancestors: re-run ``make reliability`` and commit ``last_run.json``.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.reliability.conftest import LAST_RUN, MEASURED_PATHS, git


def test_the_reliability_figures_are_not_older_than_the_code_they_measure() -> None:
    if os.environ.get("IMMUNOLAB_RELIABILITY") == "large":
        pytest.skip("this is the `make reliability` run that measures the figures (it writes last_run.json)")
    if git("rev-parse", "--is-inside-work-tree") != "true":
        pytest.skip("not a git checkout: the commit the reliability figures were measured at cannot be compared")
    run = json.loads(LAST_RUN.read_text())
    measured = run.get("commit")
    assert measured, "last_run.json records no commit: run `make reliability` and commit tests/reliability/last_run.json"
    assert run.get("uncommitted_changes") == [], (
        f"the figures were measured with uncommitted changes to {run.get('uncommitted_changes')}: commit, then re-run "
        "`make reliability`")
    last_change = git("log", "-1", "--format=%H", "--", *MEASURED_PATHS)
    if git("cat-file", "-e", f"{measured}^{{commit}}") is None:
        pytest.skip(f"the measured commit {measured[:12]} is not in this clone (shallow?)")
    assert last_change is not None
    assert git("merge-base", "--is-ancestor", last_change, measured) is not None, (
        f"the reliability figures were measured at {measured[:12]}, but {last_change[:12]} changed "
        f"{', '.join(MEASURED_PATHS)} after it: run `make reliability` and commit tests/reliability/last_run.json")
