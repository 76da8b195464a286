"""Template gating works on the stored float32 events, a block of channels at a time, in bounded memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np

from immunolab.demo.tubes import write_tube
from immunolab.fcs.channels import preprocess_events, preprocess_in_place
from immunolab.fcs.reader import read_fcs
from immunolab.fcs.writer import write_fcs
from immunolab.flow.compensation import SpilloverMatrix, compensate_columns
from immunolab.flow.display import DISPLAY_DTYPE, DisplayColumns
from immunolab.flow.pipeline import gate_fcs, load_strategy
from immunolab.flow.template import gate_sample
from immunolab.flow.transforms import Linear, Logicle


def test_block_preprocessing_of_any_columns_equals_preprocessing_the_whole_matrix(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    events = rng.integers(0, 1024, size=(5000, 4)).astype(np.uint16)
    path = write_fcs(tmp_path / "log.fcs", events, ["FSC-A", "FL1-A", "FL2-A", "Time"], datatype="I", bits=16,
                     pnr=[1024.0] * 4,
                     keywords={"$P2E": "4,1", "$P1G": "2.5", "$P3G": "0.5", "$TIMESTEP": "0.01"})
    fcs = read_fcs(path)
    assert fcs.needs_preprocessing() and not fcs.needs_preprocessing([]) and fcs.events is not None
    whole = preprocess_events(fcs.events, fcs.channels, fcs.keywords)
    assert not np.array_equal(whole, fcs.events.astype(np.float64))
    for columns in ([0, 1, 2, 3], [3, 1], [2]):
        for start in (0, 1234, 4096):
            block = fcs.events[start : start + 700][:, columns].astype(np.float64)
            fcs.preprocess_block(block, columns)
            assert np.array_equal(block, whole[start : start + 700][:, columns])
    block = fcs.events[:, [1]].astype(np.float64)
    preprocess_in_place(block, [1], fcs.channels, fcs.keywords)
    assert np.array_equal(block[:, 0], whole[:, 1])


def test_gating_stored_events_with_block_preprocessing_equals_gating_the_float64_copy(tmp_path: Path) -> None:
    path = write_tube(tmp_path / "gain.fcs", 30_000, seed=3, gains={"FSC-A": 2.0, "BV421-A": 0.5}, timestep=0.01)
    fcs = read_fcs(path)
    assert fcs.events is not None and fcs.events.dtype == np.float32
    assert fcs.needs_preprocessing()
    masks_copy, stats_copy = gate_sample(fcs.preprocessed(), fcs.channels, fcs.spillover(), label="gain.fcs")
    masks_raw, stats_raw = gate_sample(fcs.events, fcs.channels, fcs.spillover(), label="gain.fcs",
                                       preprocess=fcs.preprocess_block)
    assert list(masks_raw) == list(masks_copy)
    for path_, mask in masks_copy.items():
        assert np.array_equal(masks_raw[path_], mask), path_
    assert [s.count for s in stats_raw] == [s.count for s in stats_copy]
    assert masks_raw["/Lymphocytes/Singlets/CD45+/T cells"].sum() > 1000


def _gating_peak_bytes(path: Path) -> tuple[int, int]:
    """Return (peak bytes allocated while gating the file with the template, event matrix bytes)."""
    fcs = read_fcs(path)
    assert fcs.events is not None
    loaded = load_strategy(None)
    gate_fcs(fcs, loaded, label="warm-up")  # template, transform tables and lazy imports
    tracemalloc.start()
    try:
        result = gate_fcs(fcs, loaded, label=path.name)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.populations.num_rows == 11
    return peak, fcs.events.nbytes


def test_template_gating_needs_less_than_half_the_event_matrix_per_event(tmp_path: Path) -> None:
    small_peak, small_matrix = _gating_peak_bytes(write_tube(tmp_path / "small.fcs", 100_000, seed=5))
    large_peak, large_matrix = _gating_peak_bytes(write_tube(tmp_path / "large.fcs", 300_000, seed=6))
    # beyond a fixed cost (2-D density grids), memory grows by < 0.5 byte per byte of events,
    # masks (1 byte per event and population) included; a float64 copy of the events was 2.
    per_event = (large_peak - small_peak) / (large_matrix - small_matrix)
    assert per_event < 0.5, per_event


def test_display_columns_are_float32_computed_once_and_freed_after_their_last_use() -> None:
    rng = np.random.default_rng(1)
    events = rng.lognormal(6, 1.5, size=(40_000, 4)).astype(np.float32)
    names = ["FSC-A", "FL1-A", "FL2-A", "FL3-A"]
    spill = SpilloverMatrix(("FL1-A", "FL2-A", "FL3-A"), np.array([[1, 0.2, 0.01], [0.05, 1, 0.1], [0, 0.03, 1.0]]))
    fl, sc = Logicle(), Linear()
    display = DisplayColumns(events, names, {0: sc, 2: fl, 3: fl}, spill, {0: 1, 2: 2, 3: 1}, compensate=[2, 3])
    first = display.get([2, 0])
    assert all(v.dtype == DISPLAY_DTYPE for v in first)
    comp = compensate_columns(events.astype(np.float64), names, spill, ["FL2-A"])["FL2-A"]
    assert np.allclose(first[0], fl.apply(comp), rtol=0, atol=1e-6)
    assert np.allclose(first[1], sc.apply(events[:, 0].astype(np.float64)), rtol=0, atol=1e-6)
    assert display.get([2])[0] is first[0]  # cached while a gate still needs it
    display.release([2, 0])
    assert display.get([2])[0] is first[0]  # FL2-A has a second use
    display.release([2])
    again = display.get([2])[0]
    assert again is not first[0] and np.array_equal(again, first[0])  # freed, then rebuilt identically
