"""The template's shortcuts (work shared between the gates of one sample) change no result.

Two shortcuts: a channel of a parent is split once however many gates cut it, and the
compensated display columns are built in one pass over the events. Each is checked against
the path it replaces (every gate splits alone; columns built one request at a time) on the
demo generator's events and on files the template was not shaped on: the independent
simulator and real files. Display values must be the same bits, masks and cuts identical.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from immunolab.demo.flow_sim import (
    FLUOROCHROMES,
    SPILLOVER,
    SampleSpec,
    channel_names,
    simulate_events,
)
from immunolab.fcs.reader import read_fcs
from immunolab.flow import template as template_module
from immunolab.flow import template_rules
from immunolab.flow.compensation import SpilloverMatrix
from immunolab.flow.display import ROW_BLOCK, DisplayColumns
from immunolab.flow.template import (
    GatingRun,
    Template,
    apply_template,
    load_template,
    template_from_dict,
)
from immunolab.flow.transforms import Linear
from tests.conftest import shared_path
from tests.flow.independent_sim import simulate_tube, write_tube

#: a lab's own template for the real LabKey Treg file (no CD45; detectors named by $PnN):
#: CD4+CD8- cuts CD4 and CD8 within T cells again, as CD4+ and CD8+ did
LABKEY_TREG = {"name": "labkey_treg", "populations": [
    {"name": "Lymphocytes", "channels": ["FSC-A", "SSC-A"], "method": "lowest_cluster"},
    {"name": "Singlets", "parent": "Lymphocytes", "channels": ["FSC-A", "FSC-H"], "method": "singlet_ratio"},
    {"name": "Live", "parent": "Singlets", "channels": ["BV 510-A"], "method": "mindensity",
     "arguments": {"positive": False}},
    {"name": "T cells", "parent": "Live", "channels": ["Alexa Fluor 700-A"], "method": "mindensity"},
    {"name": "CD4+", "parent": "T cells", "channels": ["APC-Cy7-A"], "method": "mindensity"},
    {"name": "CD8+", "parent": "T cells", "channels": ["PerCP-Cy5-5-A"], "method": "mindensity"},
    {"name": "CD4+CD8-", "parent": "T cells", "channels": ["APC-Cy7-A", "PerCP-Cy5-5-A"], "method": "quadrant",
     "arguments": {"signs": ["+", "-"]}},
    {"name": "Treg", "parent": "CD4+", "channels": ["BV 421-A", "FITC-A"], "method": "off_main_cluster"},
    {"name": "FoxP3+", "parent": "CD4+", "channels": ["PE-A"], "method": "mindensity"},
]}
#: FlowCAP-I GvHD files (no $PnS, no spillover): FL1 is cut within Cells by three gates, and
#: within FL1+ again (another parent: another cut)
GVHD = {"name": "gvhd", "populations": [
    {"name": "Cells", "channels": ["FSC.H", "SSC.H"], "method": "lowest_cluster"},
    {"name": "FL1+", "parent": "Cells", "channels": ["FL1.H"], "method": "mindensity"},
    {"name": "FL1-FL2+", "parent": "Cells", "channels": ["FL1.H", "FL2.H"], "method": "quadrant",
     "arguments": {"signs": ["-", "+"]}},
    {"name": "FL1+FL3+", "parent": "Cells", "channels": ["FL1.H", "FL3.H"], "method": "quadrant"},
    {"name": "FL4+", "parent": "FL1+", "channels": ["FL4.H"], "method": "mindensity"},
    {"name": "FL1 bright FL4+", "parent": "FL1+", "channels": ["FL1.H", "FL4.H"], "method": "quadrant"},
]}


def _exhaustive_split(memo: Any, parent: str, used: list[int], k: int, v: np.ndarray,
                      a: Mapping[str, Any]) -> tuple[float, str, float] | None:
    return template_rules.split_values(v, a)


def _assert_same_run(fast: GatingRun, slow: GatingRun) -> None:
    assert fast.thresholds == slow.thresholds and fast.status == slow.status and fast.flags == slow.flags
    assert list(fast.masks) == list(slow.masks)
    for path, mask in slow.masks.items():
        np.testing.assert_array_equal(fast.masks[path], mask, err_msg=path)


def _display_seen(monkeypatch: pytest.MonkeyPatch, gate: Callable[[], GatingRun]) -> tuple[GatingRun, list[np.ndarray]]:
    """Run ``gate``, recording a copy of every display column the gates were handed."""
    seen: list[np.ndarray] = []
    get = DisplayColumns.get

    def recording(self: DisplayColumns, columns: Sequence[int]) -> list[np.ndarray]:
        out = get(self, columns)
        seen.extend(v.copy() for v in out)
        return out

    with monkeypatch.context() as m:
        m.setattr(DisplayColumns, "get", recording)
        return gate(), seen


def _compare(monkeypatch: pytest.MonkeyPatch, gate: Callable[[], GatingRun]) -> None:
    """Gate with the shortcuts and without (every gate splits alone, columns built one request at a time)."""
    fast, fast_columns = _display_seen(monkeypatch, gate)
    with monkeypatch.context() as m:
        m.setattr(template_module, "_memo_split", _exhaustive_split)
        m.setattr(DisplayColumns, "prefetch", lambda self, requests: None)
        slow, slow_columns = _display_seen(monkeypatch, gate)
    _assert_same_run(fast, slow)
    assert len(fast_columns) == len(slow_columns)
    for a, b in zip(fast_columns, slow_columns, strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()  # the same bits, not merely close


def _demo_sample(seed: int) -> tuple[np.ndarray, list[tuple[str, str | None]], Any]:
    spec = SampleSpec.from_proportions(20000, "PBMC", {
        "lymphocyte_share": 0.15, "t_share": 0.6, "cd4_share": 0.5, "b_share_non_t": 0.3,
        "nk_share_non_t_non_b": 0.7, "treg_share_cd4": 0.06, "hladr_share_cd4": 0.1, "hladr_share_cd8": 0.25,
    })
    pnn, pns = channel_names()
    raw = simulate_events(spec, np.random.default_rng(seed)).raw
    return raw, list(zip(pnn, pns, strict=True)), ([f for f, _ in FLUOROCHROMES], SPILLOVER)


def _gate_file(path: Path, template: Template) -> Callable[[], GatingRun]:
    data = read_fcs(path)
    events = data.events
    assert events is not None
    return lambda: apply_template(events, data.channels, data.spillover(), template, label=path.name,
                                  preprocess=data.preprocess_block)


def test_a_channel_of_a_parent_is_split_once_however_many_gates_cut_it(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: Counter[tuple[int, str]] = Counter()
    split = template_rules.split_above_lowest

    def counting(x: np.ndarray, **kwargs: Any) -> Any:
        seen[(len(x), hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest())] += 1
        return split(x, **kwargs)

    monkeypatch.setattr(template_rules, "split_above_lowest", counting)
    apply_template(*_demo_sample(3), load_template())
    assert seen and max(seen.values()) == 1  # T, B and NK cells all cut CD3 within CD45+


def test_the_detectors_are_read_in_a_few_passes_not_once_per_gate_that_compensates() -> None:
    raw, channels, spill = _demo_sample(4)
    assert raw.dtype == np.float32 and raw.shape[1] == 13
    reads: list[int] = []
    apply_template(raw, channels, spill, load_template(), preprocess=lambda block, columns: reads.append(len(columns)))
    n_blocks = -(-len(raw) // ROW_BLOCK)
    # 9 compensated columns, 3 per pass within a quarter of the float32 event matrix (was 9 passes)
    assert reads.count(len(spill[0])) == 3 * n_blocks


def test_columns_built_ahead_stay_within_their_share_of_the_event_matrix() -> None:
    events = np.zeros((1000, 8), dtype=np.float32)
    spill = SpilloverMatrix(tuple(f"FL{i}" for i in range(8)), np.eye(8))
    display = DisplayColumns(events, [f"FL{i}" for i in range(8)], {i: Linear(t=1.0) for i in range(8)}, spill,
                             dict.fromkeys(range(8), 1), compensate=range(8))
    display.prefetch([[0], [1], [2, 3], [4]])
    assert sorted(display._done) == [0, 1]  # 8 float32 channels: 2 columns; [2, 3] joins whole or not at all
    display.prefetch([[1], [2, 3]])
    assert sorted(display._done) == [0, 1]  # the first request lacks nothing: no pass
    display.prefetch([[2, 3], [4]])
    assert sorted(display._done) == [0, 1, 2, 3]  # the first request always gets its columns


def test_shortcuts_gate_the_demo_generator_sample_as_without_them(monkeypatch: pytest.MonkeyPatch) -> None:
    raw, channels, spill = _demo_sample(5)
    _compare(monkeypatch, lambda: apply_template(raw, channels, spill, load_template()))


def test_shortcuts_gate_independent_simulator_files_as_without_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for i in range(4):
        tube = simulate_tube(np.random.default_rng([71, i]), n_events=15_000)
        _compare(monkeypatch, _gate_file(write_tube(tmp_path / f"tube{i}.fcs", tube), load_template()))


@pytest.mark.shared_data
def test_shortcuts_gate_real_files_as_without_them(monkeypatch: pytest.MonkeyPatch) -> None:
    _compare(monkeypatch, _gate_file(shared_path("flow", "labkey_treg", "version3_1_spillover.fcs"),
                                     template_from_dict(LABKEY_TREG)))
    for i in (1, 4):
        _compare(monkeypatch, _gate_file(shared_path("flow", "flowcap_gvhd", "fcs", f"00{i}.fcs"),
                                         template_from_dict(GVHD)))
