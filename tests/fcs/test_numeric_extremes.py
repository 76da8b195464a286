"""Extreme numbers in an FCS file give coded errors or coded warnings, never numpy warnings or overflow.

The first release printed raw numpy RuntimeWarnings for ``$P1E=1e308`` and ended another such
file with IML-INTERNAL-001 (OverflowError). Keywords no cytometer writes are refused with
IML-FCS-005; NaN or infinity in float DATA is the coded warning IML-FCS-041; a float far above
``$PnR`` on a log channel saturates instead of becoming infinite.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from immunolab.errors import ERROR_CODES, InputError
from immunolab.fcs.channels import MAX_LOG_DECADES
from immunolab.fcs.reader import read_fcs
from tests.fcs.factories import FcsSpec, build_fcs


def _spec(**override: str) -> FcsSpec:
    events = np.random.default_rng(2).normal(500, 100, size=(40, 3)).clip(1, 1023).astype(np.float32)
    return FcsSpec(events, pnr=["1024"] * 3, override=dict(override))


@pytest.mark.parametrize(("key", "value"), [
    ("$P1E", "1e308,1"), ("$P1E", "4,1e308"), ("$P2E", f"{MAX_LOG_DECADES + 1:g},1"),
    ("$P1G", "1e-320"), ("$P3G", "1e300"),
])
def test_keywords_no_cytometer_writes_are_refused_with_iml_fcs_005(key: str, value: str) -> None:
    with pytest.raises(InputError) as info:
        read_fcs(build_fcs(_spec(**{key: value})), label="x.fcs")
    assert info.value.code == "IML-FCS-005" and key in info.value.message and info.value.path == "x.fcs"


@pytest.mark.parametrize(("key", "value"), [("$P1E", "4,1"), ("$P1E", "5,0.01"), ("$P2G", "0.5"), ("$P2G", "400")])
def test_real_amplification_and_gains_still_read(key: str, value: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fcs = read_fcs(build_fcs(_spec(**{key: value})), label="x.fcs")
        assert np.isfinite(fcs.preprocessed()).all()


def test_a_float_far_above_the_range_of_a_log_channel_saturates_without_a_warning() -> None:
    spec = _spec(**{"$P1E": "4,1"})
    spec.events[:3, 0] = 3e38
    fcs = read_fcs(build_fcs(spec), label="x.fcs")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fcs.preprocessed()
    assert np.isfinite(out).all() and out[0, 0] == pytest.approx(10.0 ** (2 * MAX_LOG_DECADES))
    assert out[5, 0] == pytest.approx(10 ** (4 * float(spec.events[5, 0]) / 1024))  # in range: unchanged rule


def test_an_absurd_timestep_is_ignored_with_a_warning_not_an_overflow() -> None:
    spec = _spec(**{"$TIMESTEP": "1e300"})
    spec.names = ["FSC-A", "SSC-A", "Time"]
    fcs = read_fcs(build_fcs(spec), label="x.fcs")
    assert fcs.timestep is None and any("$TIMESTEP" in w for w in fcs.warnings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(fcs.preprocessed()).all()


def test_nan_and_infinity_in_float_data_are_the_coded_warning_iml_fcs_041() -> None:
    spec = _spec()
    spec.events[1, 1] = np.nan
    spec.events[2, 2] = np.inf
    spec.events[3, 2] = -np.inf
    fcs = read_fcs(build_fcs(spec), label="x.fcs")
    (warning,) = [w for w in fcs.warnings if w.startswith("IML-FCS-041")]
    assert "3 value(s)" in warning and "CH2, CH3" in warning and "IML-FCS-041" in ERROR_CODES
    assert not any(w.startswith("IML-FCS-041") for w in read_fcs(build_fcs(_spec())).warnings)


def test_a_real_diva_file_with_nan_events_gets_the_warning_and_other_real_files_do_not() -> None:
    """Real files: the LabKey FACSDiva 8 export holds 2,019 NaN values; other shared FCS files read cleanly."""
    from tests.conftest import shared_path

    fcs = read_fcs(shared_path("flow/labkey_treg/version3_1_spillover.fcs"), label="treg.fcs")
    assert fcs.events is not None and int(np.isnan(fcs.events).sum()) == 2019
    (warning,) = [w for w in fcs.warnings if w.startswith("IML-FCS-041")]
    assert "2,019 value(s)" in warning
    for name in ("flowio/data/fcs_files/data1.fcs", "flowio/data/fcs_files/3FITC_4PE_004.fcs",
                 "flowcal/test/Data001.fcs", "flowjo_tutorial/931115-B01- Sample 01.fcs"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            data = read_fcs(shared_path("flow", *name.split("/")), label="x.fcs")
            assert not any(w.startswith("IML-FCS-041") for w in data.warnings)
            assert np.isfinite(data.preprocessed()).all()


@pytest.mark.parametrize("par", ["²", "1²", "3\u2075"])
def test_a_count_written_with_superscript_digits_is_a_coded_error_not_a_crash(par: str) -> None:
    """Found by fuzzing: ``"²".isdigit()`` is True but ``int("²")`` fails."""
    with pytest.raises(InputError) as info:
        read_fcs(build_fcs(_spec(**{"$PAR": par})), label="x.fcs")
    assert info.value.code == "IML-FCS-005" and "$PAR" in info.value.message
