"""Channel roles: hints match $PnN/$PnS across instrument naming styles; a missing role is coded."""

from __future__ import annotations

import pytest

from immunolab.beads.channels import normalise_channel_name, plan_channels, pulse_kind
from immunolab.beads.kits import load_kit
from immunolab.errors import ERROR_CODES, InputError
from immunolab.fcs.channels import FcsChannel


def _ch(i: int, pnn: str, pns: str | None = None) -> FcsChannel:
    return FcsChannel(i, pnn, pns, 32, 1024.0, 0.0, 0.0, 1.0, "F")


@pytest.mark.parametrize(
    ("name", "normal", "kind"),
    [("FL2-A", "FL2", 0), ("FL2 INT LOG", "FL2", 0), ("PE-Cy7-A", "PE CY7", 0), ("CBA Red-H", "CBA RED", 1),
     ("FSC-W", "FSC", 2), ("FS INT LIN", "FS", 0), ("APC-A750", "APC A750", 0), ("FSC-HLin", "FSC", 1)],
)
def test_names_normalise_to_their_detector_and_pulse_kind(name: str, normal: str, kind: int) -> None:
    assert normalise_channel_name(name) == normal and pulse_kind(name) == kind


def test_navios_lmd_channels_resolve_pe_to_fl2_and_keep_fl6_and_fl4_as_apc_candidates() -> None:
    kit = load_kit("legendplex_hu_antivirus_13plex")
    names = ["FS-A", "SS-A", *[f"FL{i}-A" for i in range(1, 11)], "TIME"]
    plan = plan_channels([_ch(i + 1, n) for i, n in enumerate(names)], kit, label="well.LMD")
    assert (names[plan.fsc], names[plan.ssc], names[plan.reporter]) == ("FS-A", "SS-A", "FL2-A")
    assert [names[c] for c in plan.classifier_candidates[0]] == ["FL6-A", "FL4-A"]
    assert not plan.classifier_by_data


def test_cytoflex_channels_match_through_pns_and_prefer_areas_to_heights() -> None:
    kit = load_kit("legendplex_hu_th_cytokine_13plex")
    chans = [_ch(1, "FSC-H", "FSC-H"), _ch(2, "FSC-A", "FSC-A"), _ch(3, "SSC-H"), _ch(4, "SSC-A"),
             _ch(5, "FL2-H", "PE-H"), _ch(6, "FL2-A", "PE-A"), _ch(7, "FL6-H", "APC-H"), _ch(8, "FL6-A", "APC-A"),
             _ch(9, "FSC-Width"), _ch(10, "Time")]
    plan = plan_channels(chans, kit, label="K2.fcs")
    assert (plan.fsc, plan.ssc, plan.reporter, plan.classifier_candidates) == (1, 3, 5, ((7,),))


def test_neutral_channel_names_match_through_the_stain_keyword() -> None:
    kit = load_kit("legendplex_hu_inflammation_13plex")
    chans = [_ch(1, "FSC"), _ch(2, "SSC"), _ch(3, "CH7", "PE"), _ch(4, "CH2", "APC")]
    plan = plan_channels(chans, kit, label="w.fcs")
    assert plan.reporter == 2 and plan.classifier_candidates == ((3,),)


def test_without_a_classifier_hint_every_other_fluorescence_channel_is_a_candidate() -> None:
    kit = load_kit("legendplex_hu_inflammation_13plex")
    chans = [_ch(1, "FSC-A"), _ch(2, "SSC-A"), _ch(3, "PE-A"), _ch(4, "Det9-A"), _ch(5, "Det9-H"), _ch(6, "Time")]
    plan = plan_channels(chans, kit, label="w.fcs")
    assert plan.classifier_by_data and plan.classifier_candidates == ((3,),)


def test_a_file_without_the_reporter_channel_is_iml_bead_003_naming_the_channels() -> None:
    kit = load_kit("legendplex_hu_inflammation_13plex")
    chans = [_ch(1, "FSC-A"), _ch(2, "SSC-A"), _ch(3, "FITC-A"), _ch(4, "APC-A")]
    with pytest.raises(InputError) as info:
        plan_channels(chans, kit, label="tube 3.fcs")
    err = info.value
    assert err.code == "IML-BEAD-003" and "IML-BEAD-003" in ERROR_CODES and err.path == "tube 3.fcs"
    assert "PE" in err.message and "FITC-A" in err.message and err.hint
