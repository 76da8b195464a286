"""What a message or the store may show of a hand-written value (:mod:`immunolab.io.redact`)."""

from __future__ import annotations

import pytest

from immunolab.io.redact import shown_day, shown_id, value_shape


@pytest.mark.parametrize("pid", ["001", "P-017", "MSC.12"])
def test_a_study_code_is_shown_as_written(pid: str) -> None:
    assert shown_id(pid) == repr(pid)


@pytest.mark.parametrize("pid", ["SMITH JOHN", "ZZCANARY-PID-SMITHJOHN", "1961-04-12", "12/04/1961", "19610412"])
def test_a_name_or_a_date_in_an_id_column_is_never_shown(pid: str) -> None:
    assert "not shown" in shown_id(pid) and pid not in shown_id(pid)


def test_a_study_day_is_shown_and_a_year_or_a_date_only_by_its_shape() -> None:
    assert (shown_day(14), shown_day("-3"), shown_day(1961), shown_day("1961-04-12")) == \
        ("14", "-3", "(written as NNNN)", "(written as NNNN-NN-NN)")
    assert value_shape("SMITH JOHN 1961") == "AAAAA AAAA NNNN"
