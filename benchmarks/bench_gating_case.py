"""(b1) The issue-19 gating case in process: read + compensate + transform + gate 1,000,000 events.

The file and strategy of :mod:`benchmarks.gating_case` (12 channels, spillover, flin/logicle,
7 rectangles and polygons). Timed side by side, alternating, in this process (imports and the
strategy's parsing outside the timer for both):

- immunolab: ``gate_fcs(read_fcs(file), strategy)`` (masks and the population table);
- FlowKit: ``strategy.gate_sample(Sample(file))`` (its report).

Every event's membership of every population is compared; the target is the issue's: at most
0.12 s and at least 12x FlowKit, counts identical.
"""

from __future__ import annotations

import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPEATS_OURS, REPEATS_FLOWKIT = 9, 3
TARGET_SECONDS, TARGET_RATIO = 0.12, 12.0


def run(work: Path) -> dict[str, Any]:
    """Time both engines on the case (medians) and compare their memberships event by event."""
    warnings.simplefilter("ignore")
    import flowkit as fk

    from benchmarks.gating_case import N_EVENTS, write_case
    from immunolab.fcs.reader import read_fcs
    from immunolab.flow.pipeline import gate_fcs, load_strategy

    fcs_path, xml = write_case(work / "gating_case")
    loaded = load_strategy(xml)
    fk_strategy = fk.parse_gating_xml(str(xml))

    def ours() -> Any:
        return gate_fcs(read_fcs(fcs_path), loaded, label=fcs_path.name)

    def flowkit() -> Any:
        return fk_strategy.gate_sample(fk.Sample(str(fcs_path)))

    ours()  # warm: page cache, lookup tables, allocator
    t_ours: list[float] = []
    t_fk: list[float] = []
    result = fk_result = None
    for i in range(REPEATS_OURS):
        t0 = time.perf_counter()
        result = ours()
        t_ours.append(time.perf_counter() - t0)
        if i % 3 == 1 and len(t_fk) < REPEATS_FLOWKIT:  # interleaved, so both see the same machine
            t0 = time.perf_counter()
            fk_result = flowkit()
            t_fk.append(time.perf_counter() - t0)
    assert result is not None and fk_result is not None
    differing = {}
    for path, mask in result.masks.items():
        theirs = np.asarray(fk_result.get_gate_membership(path.rsplit("/", 1)[-1]), dtype=bool)
        differing[path] = int(np.count_nonzero(mask != theirs))
    m_ours, m_fk = statistics.median(t_ours), statistics.median(t_fk)
    ratio = m_fk / m_ours
    identical = not any(differing.values())
    counts = {r["gate_path"]: r["count"] for r in result.population_rows()}
    return {
        "title": f"(b1) issue-19 case in process: {N_EVENTS:,} events x 12 channels, 7 gates (read + comp + logicle + gate)",
        "ours": f"{m_ours * 1e3:.0f} ms (median of {REPEATS_OURS}; best {min(t_ours) * 1e3:.0f} ms)",
        "anchor": f"FlowKit Sample + gate_sample {m_fk:.2f} s (median of {REPEATS_FLOWKIT})",
        "ratio": ratio,
        "ratio_text": f"{ratio:.1f}x faster; {sum(differing.values())} events differ from FlowKit",
        "target": f"<= {TARGET_SECONDS} s and >= {TARGET_RATIO:.0f}x FlowKit, counts identical",
        "met": m_ours <= TARGET_SECONDS and ratio >= TARGET_RATIO and identical,
        "identical_membership": identical,
        "seconds": {"immunolab": t_ours, "flowkit": t_fk},
        "lines": [f"{p}: {counts[p]:,} events, {d} differ from FlowKit" for p, d in differing.items()],
    }
