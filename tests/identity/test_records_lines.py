"""The change lines an identity correction prints."""

from __future__ import annotations

from immunolab.identity.records import Change, IdentityPlan


def test_a_sample_changed_in_several_records_is_one_line_with_the_number_of_records() -> None:
    plan = IdentityPlan([Change("RELABEL", "RELABEL S0062 visit day 6 -> 14", {}, "identity_samples")] * 3
                        + [Change("RELABEL", "RELABEL S0063 patient 004 -> 005", {}, "identity_samples")])
    assert plan.lines() == ["RELABEL S0062 visit day 6 -> 14 (3 records)", "RELABEL S0063 patient 004 -> 005"]
    assert IdentityPlan.count(plan.lines()) == 4
