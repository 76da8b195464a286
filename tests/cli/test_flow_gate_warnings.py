"""`immunolab flow gate` says what the reader found, as ingest does (it printed only the table)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from immunolab.cli import main
from immunolab.demo.flow_sim import SampleSpec, channel_names, simulate_events, spillover_keyword
from immunolab.fcs.writer import write_fcs
from tests.flow.tubes import FULL_SCALE, TYPICAL


def test_flow_gate_prints_and_returns_the_readers_warning_on_non_finite_data(tmp_path: Path) -> None:
    sample = simulate_events(SampleSpec.from_proportions(20000, "PBMC", TYPICAL), np.random.default_rng(4))
    events = sample.raw.astype(np.float32)
    events[:25, 3] = np.nan  # an export that wrote NaN for some events
    pnn, pns = channel_names()
    tube = write_fcs(tmp_path / "nan.fcs", events, pnn, pns=pns,
                     pnr=[FULL_SCALE] * (len(pnn) - 1) + [float(max(1024, int(np.nanmax(events[:, -1])) + 1))],
                     keywords={"$SPILLOVER": spillover_keyword()})
    r = CliRunner().invoke(main, ["flow", "gate", str(tube), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert any(w.startswith("IML-FCS-041") and "25 value(s)" in w for w in out["warnings"]), out["warnings"]
    text = CliRunner().invoke(main, ["flow", "gate", str(tube)])
    assert "IML-FCS-041" in text.output
