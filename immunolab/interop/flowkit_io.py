"""Hand a stored sample and its active gating strategy to FlowKit, and take FlowKit strategies back.

* :func:`to_flowkit` returns a ``flowkit.Sample`` of a stored file (events from the raw vault,
  the compensation the store's active gating used applied, keywords cut to the store's
  allowlist) and the active strategy as a ``flowkit.GatingStrategy`` whose gate names are the
  store's population names (``CD4+``, ``T cells``...).
* :func:`from_flowkit` turns a ``flowkit.GatingStrategy`` (built in code, parsed from Gating-ML
  or a FlowJo workspace) into an immunolab :class:`~immunolab.flow.strategy.Strategy`, which
  :func:`immunolab.derive.run.derive_gating` accepts as ``strategy``.

Both directions go through Gating-ML 2.0: :mod:`immunolab.interop.gatingml_write` writes
schema-valid ids that FlowKit's parser accepts, FlowKit's ``export_gatingml`` is read by
immunolab's own reader. flowkit is imported inside the functions (start-up stays instant).
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from immunolab.errors import InconsistentInputError, InputError

if TYPE_CHECKING:
    from immunolab.flow.strategy import Strategy
    from immunolab.store.read import Store

__all__ = ["ActiveGating", "active_gating_of", "from_flowkit", "strategy_to_flowkit", "to_flowkit"]

#: what ``flow_gating.compensation`` says when the file's own spillover keyword was used
FILE_SPILLOVER = "file spillover keyword"


@dataclass(frozen=True)
class ActiveGating:
    """The active gating of one stored file: who it is, which strategy, which compensation."""

    sample_id: str
    source_sha256: str
    panel: str | None
    dataset_index: int | None
    tolerances: tuple[str, ...]
    derivation_id: str
    strategy_id: str
    compensation: str
    kind: str
    strategy_name: str
    definition_json: str


def _sample_row(store: Store, sample_id: str) -> dict[str, Any]:
    from immunolab.anndata_io import obs_name

    smp = store.to_pandas("samples")
    files = smp[(smp["sample_key"] == "") & smp["source_sha256"].isin(
        store.to_pandas("fcs_files", columns=["source_sha256"])["source_sha256"])]
    names = {obs_name(str(p), int(d)): s for s, p, d in
             zip(files["sample_id"], files["patient_id"], files["visit_day"], strict=True) if p is not None and d == d}
    wanted = names.get(sample_id, sample_id)
    hit = files[files["sample_id"] == wanted]
    if hit.empty:
        shown = ", ".join(sorted(files["sample_id"].astype(str))[:8])
        raise InputError("IML-INT-003", f"no current FCS file is sample {sample_id!r}", path=sample_id,
                         hint=f"Use a sample id or patient|Dday name of a stored FCS file (e.g. {shown}); "
                         "`immunolab store info --per-visit` lists them.")
    return dict(hit.iloc[0])


def active_gating_of(store: Store, sample_id: str) -> ActiveGating:
    """Return the active gating of a stored FCS file (``sample_id`` or ``patient|Dday``)."""
    from immunolab.derive import choices

    row = _sample_row(store, sample_id)
    sha = str(row["source_sha256"])
    g = store.to_pandas("flow_gating", columns=["commit_id", "source_sha256", "derivation_id", "strategy_id",
                                                  "compensation", "status"])
    g = g[(g["status"] == "ok") & (g["source_sha256"] == sha)]
    act = choices.active_gating(store, g, {sha: row.get("panel")})
    if act.empty:
        raise InputError("IML-INT-003", "the sample has no successful active gating", path=str(row["sample_id"]),
                         hint="Gate its panel first: `immunolab derive gating --panel P --strategy S --activate "
                         "--reason ...` (see `immunolab derive list`).")
    a = act.iloc[0]
    strat = store.to_pandas("flow_strategies")
    strat = strat[strat["strategy_id"] == a["strategy_id"]]
    if strat.empty:
        raise InputError("IML-INT-003", f"strategy {a['strategy_id']} of the active gating is not stored",
                         path=str(row["sample_id"]), hint="Run `immunolab verify`; re-gate the panel.")
    s = strat.iloc[0]
    fcs = store.to_pandas("fcs_files", columns=["source_sha256", "dataset_index", "tolerances"])
    f = fcs[fcs["source_sha256"] == sha].iloc[0]
    dataset = None if f["dataset_index"] is None or f["dataset_index"] != f["dataset_index"] else int(f["dataset_index"])
    return ActiveGating(str(row["sample_id"]), sha, row.get("panel"), dataset,
                        tuple(f["tolerances"]) if f["tolerances"] is not None else (), str(a["derivation_id"]),
                        str(a["strategy_id"]), str(a["compensation"] or "none"), str(s["kind"]),
                        str(s["strategy_name"]), str(s["definition_json"]))


def stored_strategy(active: ActiveGating) -> Strategy:
    """Return the fixed gate tree of an active gating (``IML-INT-002`` for a data-driven template)."""
    from immunolab.flow.strategy import Strategy

    if active.kind == "template":
        raise InconsistentInputError(
            "IML-INT-002",
            f"the active gating ({active.strategy_name}) is a data-driven template: its thresholds are found "
            "in each sample's own data, so it has no fixed gates to hand to FlowKit or Gating-ML",
            path=active.sample_id,
            hint="Export the template YAML instead, or gate the panel with a fixed strategy "
            "(`immunolab derive gating --panel P --strategy gates.xml --activate --reason ...`); "
            "to_flowkit(..., strategy=False) returns the Sample alone.")
    return Strategy.from_dict({"name": active.strategy_name, **json.loads(active.definition_json)})


def strategy_to_flowkit(strategy: Strategy) -> Any:
    """Return ``strategy`` as a ``flowkit.GatingStrategy`` with immunolab's population names as gate names."""
    import flowkit as fk

    from immunolab.flow.gates import QuadrantGate
    from immunolab.flow.strategy import child_path
    from immunolab.interop.gatingml_write import _Writer

    writer = _Writer(strategy, strategy.label)
    writer.matrices()
    writer.transforms()
    writer.gates()
    data = writer.etree.tostring(writer.root, xml_declaration=True, encoding="UTF-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gs = fk.parse_gating_xml(io.BytesIO(data))
    fk_path: dict[str, tuple[str, ...]] = {"/": ("root",)}
    for node in strategy.nodes:
        parent = fk_path[node.parent]
        gate = node.gate
        if isinstance(gate, QuadrantGate):
            _rename(gs, writer.quadrant_gate_ids[node.parent, gate.name], gate.name, parent)
            for q in gate.quadrants:
                path = child_path(node.parent, q.id)
                _rename(gs, writer.population_ids[path], q.id, (*parent, gate.name))
                fk_path[path] = (*parent, gate.name, q.id)
        else:
            path = child_path(node.parent, gate.name)
            _rename(gs, writer.population_ids[path], gate.name, parent)
            fk_path[path] = (*parent, gate.name)
    return gs


def _rename(gs: Any, old: str, new: str, gate_path: tuple[str, ...]) -> None:
    if old != new:
        gs.rename_gate(old, new, gate_path=gate_path)


def _flowkit_sample(raw: Path, active: ActiveGating) -> Any:
    """Return a ``flowkit.Sample`` of the stored file's events (vault copy; immunolab's reader as fallback)."""
    import flowkit as fk

    offset = any(t.startswith("accept_offset_error") for t in active.tolerances)
    if not active.dataset_index:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return fk.Sample(str(raw), sample_id=active.sample_id, ignore_offset_error=offset,
                                 ignore_offset_discrepancy=offset)
        except Exception:
            pass
    return _sample_from_reader(raw, active)


def _sample_from_reader(raw: Path, active: ActiveGating) -> Any:
    """Return a ``flowkit.Sample`` built from immunolab's reading of the file (preprocessed events, float32)."""
    import flowkit as fk
    import pandas as pd

    from immunolab.fcs.reader import read_fcs

    fcs = read_fcs(raw, label=active.sample_id, dataset=active.dataset_index,
                   accept_offset_error=any(t.startswith("accept_offset_error") for t in active.tolerances),
                   accept_tot_mismatch=any(t.startswith("accept_tot_mismatch") for t in active.tolerances))
    cols = pd.MultiIndex.from_arrays([[c.pnn for c in fcs.channels], [c.pns or "" for c in fcs.channels]])
    frame = pd.DataFrame(fcs.preprocessed(), columns=cols)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fk.Sample(frame, sample_id=active.sample_id)


def _scrub_keywords(sample: Any) -> None:
    """Keep only allowlisted keywords in ``sample.metadata`` (FlowKit keys: lower case, no ``$``)."""
    from immunolab.fcs.keywords import is_allowed

    meta = dict(sample.metadata)
    sample.metadata = {k: v for k, v in meta.items() if is_allowed("$" + k.upper()) or is_allowed(k.upper())}


def _store_matrix(raw: Path, active: ActiveGating, comp: str | Path | None) -> Any:
    """Return the :class:`SpilloverMatrix` the active gating compensated with (None: uncompensated)."""
    from immunolab.fcs.reader import read_fcs
    from immunolab.flow.compensation import as_spillover_matrix
    from immunolab.flow.pipeline import load_compensation

    if comp is not None:
        return load_compensation(comp)
    if active.compensation == FILE_SPILLOVER:
        meta = read_fcs(raw, label=active.sample_id, dataset=active.dataset_index, events=False, allow_empty=True,
                        accept_offset_error=any(t.startswith("accept_offset_error") for t in active.tolerances))
        return as_spillover_matrix(meta.spillover())
    if active.compensation.startswith("matrix file"):
        raise InputError(
            "IML-INT-004",
            f"the active gating was compensated with a {active.compensation}, which the store does not keep",
            path=active.sample_id, hint="Pass the same matrix CSV: to_flowkit(store, sample, comp='matrix.csv').")
    return None


def to_flowkit(store: Store, sample_id: str, *, strategy: bool = True,
               comp: str | Path | None = None) -> tuple[Any, Any]:
    """Return ``(flowkit.Sample, flowkit.GatingStrategy)`` of a stored FCS file and its active gating.

    The Sample holds the stored file's events (data units, as FlowKit preprocesses them), the
    compensation the store's active gating used (``sample.compensation``; ``comp`` names the
    matrix CSV when that gating used one) and only allowlisted keywords. The strategy is the
    active fixed gate tree with the store's population names; ``strategy=False`` returns
    ``(sample, None)``, e.g. for a panel gated by a data-driven template (``IML-INT-002``).
    """
    import flowkit as fk

    from immunolab.store.raw import open_raw

    active = active_gating_of(store, sample_id)
    tree = stored_strategy(active) if strategy else None
    raw = Path(str(open_raw(store.loc, active.source_sha256)))
    sample = _flowkit_sample(raw, active)
    matrix = _store_matrix(raw, active, comp)
    if matrix is not None:
        sample.apply_compensation(fk.Matrix(matrix.matrix, list(matrix.channels)))
    _scrub_keywords(sample)
    return sample, (strategy_to_flowkit(tree) if tree is not None else None)


def from_flowkit(strategy: Any, *, name: str = "flowkit") -> Strategy:
    """Return the immunolab :class:`Strategy` of a ``flowkit.GatingStrategy`` (via FlowKit's Gating-ML export).

    Gate names become population names as they are (``CD4+`` stays ``CD4+``); a gate name used
    under two parents raises ``IML-INT-005`` (Gating-ML ids must be unique).
    """
    import flowkit as fk

    from immunolab.flow.gatingml import parse_gatingml

    if not isinstance(strategy, fk.GatingStrategy):
        raise InconsistentInputError("IML-INT-005", f"expected a flowkit.GatingStrategy, got {type(strategy).__name__}",
                                     hint="Pass a GatingStrategy (fk.parse_gating_xml, Session.gating_strategy, "
                                     "or one built with GatingStrategy.add_gate).")
    names = [gid for gid, _path in strategy.get_gate_ids()]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InconsistentInputError(
            "IML-INT-005", f"FlowKit strategy uses the gate name(s) {', '.join(map(repr, twice))} under several "
            "parents; Gating-ML gate ids must be unique", path=name,
            hint="Rename the gates in FlowKit (GatingStrategy.rename_gate) so each name is used once.")
    buf = io.BytesIO()
    try:
        fk.export_gatingml(strategy, buf)
    except Exception as exc:
        raise InconsistentInputError("IML-INT-005", f"FlowKit cannot export the strategy as Gating-ML: {exc}",
                                     path=name, hint="Use Gating-ML gate and transform types only.") from None
    return parse_gatingml(buf.getvalue(), name=name, label=name)
