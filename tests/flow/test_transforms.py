"""Transforms: logicle/hyperlog agree with flowutils, FlowJo biex matches FlowJo's table, all round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from immunolab.flow.transforms import (
    Asinh,
    FlowJoBiex,
    FlowJoLog,
    Hyperlog,
    Identity,
    Linear,
    Log,
    Logicle,
    Ratio,
    TransformParameterError,
    default_transform_for,
    flowjo_biex_table,
    transform_from_dict,
)
from tests.conftest import shared_path

flowutils_transforms = pytest.importorskip("flowutils.transforms")

LOGICLE_PARAMS = [
    (262144.0, 0.5, 4.5, 0.0),
    (262144.0, 1.0, 4.5, 0.0),
    (262144.0, 0.5, 4.5, 1.0),
    (1000.0, 1.0, 4.0, 1.0),
    (10000.0, 0.0, 4.0, 0.0),
    (262144.0, 0.8, 4.2, 0.2),
]


def _wide_sample(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [
            rng.uniform(-300_000, 300_000, 5000),
            rng.normal(0, 500, 5000),
            10 ** rng.uniform(-3, 5.5, 5000),
            -(10 ** rng.uniform(-3, 5.5, 5000)),
            [0.0, 262144.0, -262144.0, 1e9, -1e9, 1e12],
        ]
    )


@pytest.mark.parametrize(("t", "w", "m", "a"), LOGICLE_PARAMS)
def test_logicle_matches_flowutils_to_1e_6_on_the_display_scale(t: float, w: float, m: float, a: float) -> None:
    x = _wide_sample()
    ours = Logicle(t=t, w=w, m=m, a=a).apply(x)
    ref = flowutils_transforms._logicle(x, t=t, m=m, w=w, a=a)
    assert np.max(np.abs(ours - ref)) < 1e-6


@pytest.mark.parametrize(("t", "w", "m", "a"), LOGICLE_PARAMS)
def test_logicle_inverse_is_the_explicit_biexponential_of_flowutils(t: float, w: float, m: float, a: float) -> None:
    y = np.linspace(-0.2, 1.1, 2001)
    ours = Logicle(t=t, w=w, m=m, a=a).inverse(y)
    ref = flowutils_transforms._logicle_inverse(y, t=t, m=m, w=w, a=a)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9 * t)


def test_logicle_maps_top_of_scale_to_one_and_zero_to_x1() -> None:
    tr = Logicle(t=262144, w=0.5, m=4.5, a=0)
    out = tr.apply(np.array([262144.0, 0.0]))
    assert out[0] == pytest.approx(1.0, abs=1e-8)
    assert out[1] == pytest.approx(0.5 / 4.5, abs=1e-8)


def test_logicle_round_trips_and_is_monotonic() -> None:
    tr = Logicle()
    x = np.sort(_wide_sample(1))
    y = tr.apply(x)
    assert np.all(np.diff(y) >= 0)
    np.testing.assert_allclose(tr.inverse(y), x, rtol=1e-6, atol=1e-3)


def test_logicle_table_agrees_with_exact_root_finding() -> None:
    tr = Logicle(t=262144, w=0.7, m=4.5, a=0.3)
    x = _wide_sample(2)
    assert np.max(np.abs(tr.apply(x) - tr.apply_exact(x))) < 1e-7


def test_logicle_keeps_nan_and_infinities() -> None:
    out = Logicle().apply(np.array([np.nan, np.inf, -np.inf]))
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == -np.inf


def test_logicle_accepts_float32_and_2d_input() -> None:
    x = _wide_sample(3)[:1000].astype(np.float32).reshape(500, 2)
    out = Logicle().apply(x)
    assert out.shape == (500, 2) and out.dtype == np.float64
    np.testing.assert_allclose(out, Logicle().apply(x.astype(np.float64)), atol=0)


@pytest.mark.parametrize(("t", "w", "m", "a"), [(262144.0, 0.5, 4.5, 0.0), (262144.0, 1.0, 4.5, 1.0), (1000.0, 1.0, 4.0, 1.0)])
def test_hyperlog_matches_flowutils_to_1e_6(t: float, w: float, m: float, a: float) -> None:
    x = _wide_sample(4)
    ours = Hyperlog(t=t, w=w, m=m, a=a).apply(x)
    ref = flowutils_transforms._hyperlog(x, t=t, m=m, w=w, a=a)
    assert np.max(np.abs(ours - ref)) < 1e-6


def test_asinh_log_and_linear_follow_gatingml_formulas() -> None:
    x = np.array([-1000.0, 0.0, 10.0, 262144.0])
    np.testing.assert_allclose(Asinh(262144, 4, 1).apply(x), flowutils_transforms.asinh(x, None, 262144, 4, 1))
    np.testing.assert_allclose(Linear(t=1000, a=100).apply(x), (x + 100) / 1100)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected_log = np.log10(x / 262144) / 4.5 + 1
    np.testing.assert_array_equal(Log(t=262144, m=4.5).apply(x), expected_log)
    for tr in (Asinh(262144, 4, 1), Linear(1000, 100)):
        np.testing.assert_allclose(tr.inverse(tr.apply(x)), x, rtol=1e-9, atol=1e-6)


def test_flowjo_biex_table_matches_flowjo_lookup_table_file() -> None:
    path = shared_path("flow", "flowkit", "data", "flowjo_xforms", "tr_biex_l256_w-7.943282_n1.000000_m4.418540_r262144.000029.csv")
    ref = np.loadtxt(path, delimiter=",", skiprows=1)
    ours = flowjo_biex_table(1.0, -7.943282, 4.418540, 262144.000029, 4096)
    assert ours.size == 4097 and ref.shape[0] == 4096
    # the file prints 6 significant digits
    rel = np.abs(ours[:4096] - ref[:, 1]) / np.maximum(1.0, np.abs(ref[:, 1]))
    assert rel.max() < 1e-5


def test_flowjo_biex_maps_through_the_table_and_clips_beyond_it() -> None:
    tr = FlowJoBiex(negative=0.0, width=-10.0, positive=4.41854)
    table = flowjo_biex_table(0.0, -10.0, 4.41854, 262144.000029, 4096)
    np.testing.assert_allclose(tr.apply(table[[0, 100, 4096]]), [0.0, 100.0, 4096.0])
    assert tr.apply(np.array([1e9]))[0] == 4096.0
    np.testing.assert_allclose(tr.inverse(np.array([100.0])), table[100])


def test_flowjo_log_clips_below_offset() -> None:
    out = FlowJoLog(offset=1.0, decades=4.0).apply(np.array([-5.0, 1.0, 10000.0]))
    np.testing.assert_allclose(out, [0.0, 0.0, 1.0])


def test_ratio_divides_two_channels() -> None:
    np.testing.assert_allclose(Ratio(a=2, b=1, c=0).apply_pair(np.array([3.0]), np.array([4.0])), [1.0])


@pytest.mark.parametrize(
    "tr",
    [Identity(), Linear(1000, 1), Log(1e4, 4), Asinh(1e4, 4, 0.5), Logicle(1e4, 0.5, 4, 0.1), Hyperlog(1e4, 1, 4, 0), FlowJoBiex(1, -7.9, 4.4), FlowJoLog(1, 4), Ratio(1, 2, 3)],
)
def test_every_transform_round_trips_through_its_dict(tr: object) -> None:
    record = tr.to_dict()  # type: ignore[attr-defined]
    assert transform_from_dict(record) == tr
    assert record["kind"] == type(tr).kind  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "record",
    [
        {"kind": "logicle", "t": 262144, "w": 3, "m": 4.5, "a": 0},
        {"kind": "logicle", "t": -1, "w": 0.5, "m": 4.5, "a": 0},
        {"kind": "asinh", "t": 0, "m": 4, "a": 0},
        {"kind": "no-such-transform"},
        {"kind": "linear", "slope": 2},
    ],
)
def test_bad_transform_parameters_are_rejected(record: dict[str, object]) -> None:
    with pytest.raises(TransformParameterError):
        transform_from_dict(record)


def test_default_transform_is_linear_for_scatter_and_logicle_for_fluorescence() -> None:
    assert default_transform_for("FSC-A") == Linear(t=262144.0, a=0.0)
    assert default_transform_for("Time").kind == "linear"
    assert default_transform_for("PE-Cy7-A") == Logicle(t=262144.0, w=0.5, m=4.5, a=0.0)
