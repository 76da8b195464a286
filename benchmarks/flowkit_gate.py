"""The FlowKit anchor of the whole-process gating benchmark: what a lab would script without immunolab.

    python benchmarks/flowkit_gate.py FILE.fcs STRATEGY.xml

Loads the sample, parses the Gating-ML 2.0 document, gates (FlowKit compensates with the file's
spillover matrix for ``compensation-ref="FCS"``) and prints every population's count as JSON,
the same output as ``immunolab flow gate FILE --strategy STRATEGY.xml --json``. Kept free of
immunolab imports so that it times FlowKit alone.
"""

from __future__ import annotations

import json
import sys
import warnings


def main(fcs: str, strategy_xml: str) -> None:
    """Gate ``fcs`` with ``strategy_xml`` in FlowKit and print ``{"populations": [...]}`` (counts of events)."""
    warnings.simplefilter("ignore")
    import flowkit as fk

    sample = fk.Sample(fcs)
    strategy = fk.parse_gating_xml(strategy_xml)
    report = strategy.gate_sample(sample).report
    rows = [{"population": str(name), "count": int(count)} for name, count in zip(report["gate_name"], report["count"], strict=True)]
    print(json.dumps({"populations": rows}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
