"""Standard curves: 5PL/4PL fits, inverse with asymptote handling, LLOQ/ULOQ, coded failures."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from immunolab.cytokine.curves import (
    StandardCurve,
    back_calculate,
    fit_standard_curve,
    logistic,
    logistic_inverse,
    quantification_limits,
)
from immunolab.errors import InputError

STANDARDS = np.repeat(10000.0 / 3.0 ** np.arange(8), 2)


def test_inverse_of_the_curve_returns_the_concentration() -> None:
    x = np.array([0.5, 3.0, 40.0, 900.0, 7000.0])
    y = logistic(x, 20.0, 25000.0, 300.0, -1.3, 0.8)
    back, censor = logistic_inverse(y, 20.0, 25000.0, 300.0, -1.3, 0.8)
    np.testing.assert_allclose(back, x, rtol=1e-9)
    assert list(censor) == ["none"] * 5


def test_responses_at_or_beyond_asymptotes_are_censored_not_extrapolated() -> None:
    back, censor = logistic_inverse([20.0, 5.0, 25000.0, 30000.0, np.nan], 20.0, 25000.0, 300.0, -1.3, 0.8)
    assert np.isnan(back).all()
    assert list(censor) == ["below_curve", "below_curve", "above_curve", "above_curve", "not_available"]


def test_opposite_sign_convention_describes_the_same_curve() -> None:
    x = np.array([1.0, 10.0, 100.0])
    y1 = logistic(x, 20.0, 25000.0, 300.0, -1.3)
    y2 = logistic(x, 25000.0, 20.0, 300.0, 1.3)
    np.testing.assert_allclose(y1, y2)
    _back, censor = logistic_inverse([10.0], 25000.0, 20.0, 300.0, 1.3)
    assert censor[0] == "below_curve"


def test_back_calculation_multiplies_by_dilution_but_censor_text_uses_plain_standards() -> None:
    curve = StandardCurve("5PL", 20.0, 25000.0, 300.0, -1.3, 0.8, lowest_standard=2.44, highest_standard=10000.0)
    y = logistic(np.array([50.0]), 20.0, 25000.0, 300.0, -1.3, 0.8)
    res = back_calculate(curve, [y[0], 10.0, 26000.0], [2.0, 2.0, 2.0])
    assert res.concentration[0] == pytest.approx(100.0, rel=1e-9)
    assert res.text[1:] == ["< 2.44", "> 10000.00"]
    assert list(res.censor) == ["none", "below_curve", "above_curve"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a=st.floats(5.0, 100.0),
    b=st.floats(8000.0, 30000.0),
    c=st.floats(50.0, 2000.0),
    d=st.floats(-2.0, -0.7),
    f=st.floats(0.5, 1.8),
)
def test_fit_recovers_known_5pl_parameters_from_noise_free_standards(a: float, b: float, c: float, d: float, f: float) -> None:
    y = logistic(STANDARDS, a, b, c, d, f)
    curve = fit_standard_curve(STANDARDS, y)
    grid = np.geomspace(STANDARDS.min(), STANDARDS.max(), 30)
    np.testing.assert_allclose(curve.predict(grid), logistic(grid, a, b, c, d, f), rtol=1e-4)
    back, _ = curve.inverse(logistic(grid, a, b, c, d, f))
    np.testing.assert_allclose(back, grid, rtol=1e-3)
    assert curve.r_squared is not None and curve.r_squared > 0.99999


def test_4pl_fit_of_4pl_data_recovers_parameters() -> None:
    y = logistic(STANDARDS, 30.0, 20000.0, 400.0, -1.1)
    curve = fit_standard_curve(STANDARDS, y, model="4PL", weighting="none")
    assert curve.f == 1.0
    assert curve.c == pytest.approx(400.0, rel=1e-4)
    assert curve.d == pytest.approx(-1.1, rel=1e-4)


def test_lloq_and_uloq_span_standards_recovering_70_to_130_percent() -> None:
    curve = StandardCurve("5PL", 20.0, 25000.0, 300.0, -1.3, 0.8)
    levels = 10000.0 / 3.0 ** np.arange(6)
    y = logistic(levels, 20.0, 25000.0, 300.0, -1.3, 0.8)
    y[-1] *= 3.0  # lowest standard reads far too high: recovery >> 130 %
    y[0] = 24990.0  # top standard at the plateau: back-calculates far from expected
    lloq, uloq = quantification_limits(curve, levels, y)
    assert lloq == pytest.approx(levels[-2])
    assert uloq == pytest.approx(levels[1])


def test_too_few_standards_is_iml_cyt_006() -> None:
    with pytest.raises(InputError) as exc:
        fit_standard_curve([1.0, 10.0, 100.0], [10.0, 100.0, 1000.0], label="plate.csv", analyte="IL-6")
    assert exc.value.code == "IML-CYT-006"
    assert "plate.csv" in str(exc.value) and "IL-6" in str(exc.value)


def test_flat_standards_are_iml_cyt_005() -> None:
    with pytest.raises(InputError) as exc:
        fit_standard_curve(STANDARDS, np.full(STANDARDS.size, 50.0))
    assert exc.value.code == "IML-CYT-005"


def test_fit_id_changes_with_inputs_and_method() -> None:
    y = logistic(STANDARDS, 30.0, 20000.0, 400.0, -1.1, 0.9)
    a = fit_standard_curve(STANDARDS, y)
    b = fit_standard_curve(STANDARDS, y * 1.01)
    c = fit_standard_curve(STANDARDS, y, weighting="none")
    assert len({a.fit_id, b.fit_id, c.fit_id}) == 3
    assert a.fit_id == fit_standard_curve(STANDARDS, y).fit_id
