"""Property tests: whatever the writer (and the byte factory) produce, the reader gives back exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from immunolab.fcs.reader import read_fcs
from immunolab.fcs.writer import build_fcs_bytes
from tests.fcs.factories import FcsSpec, build_fcs

DELIMITERS = ["/", "\\", "|", "\x0c", "+", "(", "[", "?", ",", "*", "!", "~", "\x1e"]
LAYOUTS = [("F", None), ("D", None), ("I", 8), ("I", 16), ("I", 32)]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _events(draw: st.DrawFn, datatype: str, bits: int | None, n: int, p: int) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if datatype == "I":
        assert bits is not None
        return rng.integers(0, 2**bits, size=(n, p), dtype=np.uint64).astype(f"u{bits // 8}")
    values = rng.normal(0, 1e4, size=(n, p))
    return values.astype(np.float32 if datatype == "F" else np.float64)


@st.composite
def fcs_cases(draw: st.DrawFn) -> tuple[np.ndarray, dict[str, object], dict[str, str]]:
    datatype, bits = draw(st.sampled_from(LAYOUTS))
    n = draw(st.integers(1, 40))
    p = draw(st.integers(1, 6))
    delim = draw(st.sampled_from(DELIMITERS))
    inner = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
    values = draw(st.lists(st.tuples(inner, st.sampled_from(["", delim, delim * 2]), inner), min_size=0, max_size=4))
    extra = {f"$XK{i}": a + mid + b for i, (a, mid, b) in enumerate(values) if (a + mid + b).strip(delim)}
    if draw(st.booleans()):
        extra["$COM"] = "ends" + delim
    options: dict[str, object] = {
        "version": draw(st.sampled_from(["3.0", "3.1"])),
        "datatype": datatype,
        "bits": bits,
        "byteord": draw(st.sampled_from(["1,2,3,4", "4,3,2,1"])),
        "delimiter": delim,
    }
    return _events(draw, datatype, bits, n, p), options, extra


@SETTINGS
@given(fcs_cases())
def test_writer_files_round_trip_events_and_keywords(case: tuple[np.ndarray, dict[str, object], dict[str, str]]) -> None:
    events, options, extra = case
    names = [f"CH{j}" for j in range(events.shape[1])]
    blob = build_fcs_bytes(events, names, keywords=extra, **options)  # type: ignore[arg-type]
    data = read_fcs(blob, label="rt.fcs")
    assert data.events is not None
    np.testing.assert_array_equal(data.events, events)
    assert data.events.dtype == events.dtype
    assert data.pnn == names
    for key, value in extra.items():
        assert data.keywords[key] == value
    assert data.tolerances == []


@SETTINGS
@given(
    st.integers(1, 30),
    st.lists(st.sampled_from([8, 16, 24, 32, 40, 48, 56, 64]), min_size=1, max_size=6),
    st.sampled_from(["1,2,3,4", "4,3,2,1"]),
    st.integers(0, 2**32 - 1),
)
def test_mixed_integer_widths_round_trip(n: int, widths: list[int], byteord: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cols = [rng.integers(0, 2**min(w, 63), size=n, dtype=np.uint64) for w in widths]
    events = np.column_stack(cols)
    spec = FcsSpec(events, version="3.0", datatype="I", bits=widths, byteord=byteord,
                   pnr=[str(2**w) for w in widths])
    data = read_fcs(build_fcs(spec))
    assert data.events is not None
    np.testing.assert_array_equal(data.events.astype(np.uint64), events)
