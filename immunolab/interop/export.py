"""Write the active gating strategy of a panel (or of one sample) as Gating-ML 2.0.

The active gating of a panel is one fixed gate tree when it came from Gating-ML (or a FlowKit
strategy); a FlowJo workspace holds one tree per sample, so it exports per sample (``sample``)
unless every file has the same gates; a data-driven template has no fixed gates
(``IML-INT-002``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from immunolab.errors import InconsistentInputError, InputError

if TYPE_CHECKING:
    from immunolab.store.read import Store

__all__ = ["ExportedStrategy", "export_panel_strategy"]


@dataclass(frozen=True)
class ExportedStrategy:
    """What :func:`export_panel_strategy` wrote."""

    path: Path
    strategy_id: str
    strategy_name: str
    n_files: int
    n_gates: int


def _active_rows(store: Store, panel: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Return (active ok gating rows of the panel's current files, sample id by source)."""
    from immunolab.derive import choices

    smp = store.to_pandas("samples")
    files = smp[(smp["sample_key"] == "") & (smp["panel"].fillna("").str.casefold() == panel.casefold())]
    if files.empty:
        panels = sorted(set(smp.loc[smp["sample_key"] == "", "panel"].dropna()))
        raise InputError("IML-DER-001", f"no stored FCS file of panel {panel!r} is current",
                         hint=f"Panels in the store: {', '.join(panels) or 'none'}.")
    sample_of = dict(zip(files["source_sha256"], files["sample_id"].astype(str), strict=True))
    g = store.to_pandas("flow_gating", columns=["commit_id", "source_sha256", "derivation_id", "strategy_id", "status"])
    g = g[(g["status"] == "ok") & g["source_sha256"].isin(list(sample_of))]
    act = choices.active_gating(store, g, dict(zip(files["source_sha256"], files["panel"], strict=True)))
    if act.empty:
        raise InputError("IML-INT-003", f"no file of panel {panel!r} has a successful active gating", path=panel,
                         hint="Gate the panel first: `immunolab derive gating --panel P --strategy S --activate "
                         "--reason ...`.")
    rows = [{"source_sha256": str(a), "strategy_id": str(b)} for a, b in
            zip(act["source_sha256"], act["strategy_id"], strict=True)]
    return rows, {str(k): v for k, v in sample_of.items()}


def export_panel_strategy(store: Store, panel: str, out: str | Path, *, sample: str | None = None) -> ExportedStrategy:
    """Write the active gating strategy of ``panel`` (of ``sample`` when given) to ``out`` as Gating-ML 2.0."""
    from immunolab.flow.strategy import Strategy
    from immunolab.interop.gatingml_write import write_gatingml

    rows, sample_of = _active_rows(store, panel)
    if sample is not None:
        rows = [r for r in rows if sample_of[r["source_sha256"]] == sample]
        if not rows:
            raise InputError("IML-INT-003", f"sample {sample!r} is not a gated file of panel {panel!r}", path=panel,
                             hint=f"Samples of the panel: {', '.join(sorted(sample_of.values())[:8])}.")
    ids = sorted({r["strategy_id"] for r in rows})
    strategies = store.to_pandas("flow_strategies")
    strategies = strategies[strategies["strategy_id"].isin(ids)].drop_duplicates("strategy_id")
    if (strategies["kind"] == "template").any():
        name = strategies.loc[strategies["kind"] == "template", "strategy_name"].iloc[0]
        raise InconsistentInputError(
            "IML-INT-002", f"the active gating of panel {panel!r} is the data-driven template {name!r}: its thresholds "
            "are found in each sample's own data, so it has no fixed gates to write as Gating-ML", path=panel,
            hint="Share the template YAML instead, or gate the panel with a fixed strategy "
            "(`immunolab derive gating --panel P --strategy gates.xml --activate --reason ...`).")
    if len(ids) > 1:
        per = sorted(sample_of[r["source_sha256"]] for r in rows)
        raise InconsistentInputError(
            "IML-INT-006", f"the active gating of panel {panel!r} has {len(ids)} different gate trees (a FlowJo "
            "workspace gates each sample with its own)", path=panel,
            hint=f"Export one sample's gates with --sample (samples: {', '.join(per[:6])}{'...' if len(per) > 6 else ''}).")
    row = strategies.iloc[0]
    strategy = Strategy.from_dict({"name": str(row["strategy_name"]), **json.loads(str(row["definition_json"]))})
    path = write_gatingml(strategy, out, label=panel)
    return ExportedStrategy(path, str(row["strategy_id"]), str(row["strategy_name"]), len(rows), len(strategy.nodes))
