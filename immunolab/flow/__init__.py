"""Flow cytometry science: compensation, transforms, gates, gating strategies and population statistics.

The public, typed API the core's gating derivation and ``immunolab flow gate`` build on::

    from immunolab.fcs import read_fcs
    from immunolab.flow import gate_fcs, load_strategy

    result = gate_fcs(read_fcs("tube.fcs"), load_strategy("panel.yaml"), label="tube")
    result.populations                                      # counts, % of parent, MFI per gate

- compensation (:mod:`~immunolab.flow.compensation`): ``SpilloverMatrix``, ``compensate``,
  ``read_matrix_csv`` (FlowJo CSV), ``parse_spill_keyword``.
- transforms (:mod:`~immunolab.flow.transforms`): Logicle, Asinh, FlowJo biex/log, Hyperlog,
  Linear, Log; ``transform_from_dict``, ``default_transform_for``.
- gates (:mod:`~immunolab.flow.gates`): rectangle, polygon, ellipsoid, quadrant and boolean
  gates on named dimensions.
- strategies: fixed gate trees (:mod:`~immunolab.flow.strategy`), data-driven templates
  (:mod:`~immunolab.flow.template`), Gating-ML 2.0 (:mod:`~immunolab.flow.gatingml`) and FlowJo
  workspaces (:mod:`~immunolab.flow.flowjo`), all loaded by ``load_strategy`` and applied by
  ``gate_fcs`` (:mod:`~immunolab.flow.pipeline`).
- statistics (:mod:`~immunolab.flow.populations`): counts, % of parent / total, median
  intensities; clusters (:mod:`~immunolab.flow.clusters`): FlowSOM on gated events.

Names resolve lazily: ``import immunolab.flow`` imports neither numpy nor flowkit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from immunolab._lazy import load_export

if TYPE_CHECKING:
    from immunolab.flow.clusters import (
        ClusterResult,
        cluster_events,
        gate_cluster_agreement,
    )
    from immunolab.flow.compensation import (
        SpilloverMatrix,
        compensate,
        compensate_columns,
        parse_spill_keyword,
        read_matrix_csv,
    )
    from immunolab.flow.flowjo import (
        read_flowjo_workspace,
    )
    from immunolab.flow.gates import (
        BooleanGate,
        Dimension,
        EllipsoidGate,
        Gate,
        PolygonGate,
        QuadrantGate,
        RectangleGate,
        gate_from_dict,
    )
    from immunolab.flow.gatingml import (
        read_gatingml,
    )
    from immunolab.flow.pipeline import (
        GatingResult,
        LoadedStrategy,
        gate_fcs,
        load_compensation,
        load_strategy,
    )
    from immunolab.flow.populations import (
        PopulationStat,
        population_stats,
    )
    from immunolab.flow.strategy import (
        GateNode,
        Strategy,
        gate_events,
    )
    from immunolab.flow.template import (
        Template,
        apply_template,
        load_template,
    )
    from immunolab.flow.transforms import (
        Asinh,
        FlowJoBiex,
        FlowJoLog,
        Hyperlog,
        Linear,
        Log,
        Logicle,
        Transform,
        default_transform_for,
        transform_from_dict,
    )

__all__ = [
    "Asinh",
    "BooleanGate",
    "ClusterResult",
    "Dimension",
    "EllipsoidGate",
    "FlowJoBiex",
    "FlowJoLog",
    "Gate",
    "GateNode",
    "GatingResult",
    "Hyperlog",
    "Linear",
    "LoadedStrategy",
    "Log",
    "Logicle",
    "PolygonGate",
    "PopulationStat",
    "QuadrantGate",
    "RectangleGate",
    "SpilloverMatrix",
    "Strategy",
    "Template",
    "Transform",
    "apply_template",
    "cluster_events",
    "compensate",
    "compensate_columns",
    "default_transform_for",
    "gate_cluster_agreement",
    "gate_events",
    "gate_fcs",
    "gate_from_dict",
    "load_compensation",
    "load_strategy",
    "load_template",
    "parse_spill_keyword",
    "population_stats",
    "read_flowjo_workspace",
    "read_gatingml",
    "read_matrix_csv",
    "transform_from_dict",
]

_EXPORTS: dict[str, str] = {
    "ClusterResult": "immunolab.flow.clusters",
    "cluster_events": "immunolab.flow.clusters",
    "gate_cluster_agreement": "immunolab.flow.clusters",
    "SpilloverMatrix": "immunolab.flow.compensation",
    "compensate": "immunolab.flow.compensation",
    "compensate_columns": "immunolab.flow.compensation",
    "parse_spill_keyword": "immunolab.flow.compensation",
    "read_matrix_csv": "immunolab.flow.compensation",
    "read_flowjo_workspace": "immunolab.flow.flowjo",
    "BooleanGate": "immunolab.flow.gates",
    "Dimension": "immunolab.flow.gates",
    "EllipsoidGate": "immunolab.flow.gates",
    "Gate": "immunolab.flow.gates",
    "PolygonGate": "immunolab.flow.gates",
    "QuadrantGate": "immunolab.flow.gates",
    "RectangleGate": "immunolab.flow.gates",
    "gate_from_dict": "immunolab.flow.gates",
    "read_gatingml": "immunolab.flow.gatingml",
    "GatingResult": "immunolab.flow.pipeline",
    "LoadedStrategy": "immunolab.flow.pipeline",
    "gate_fcs": "immunolab.flow.pipeline",
    "load_compensation": "immunolab.flow.pipeline",
    "load_strategy": "immunolab.flow.pipeline",
    "PopulationStat": "immunolab.flow.populations",
    "population_stats": "immunolab.flow.populations",
    "GateNode": "immunolab.flow.strategy",
    "Strategy": "immunolab.flow.strategy",
    "gate_events": "immunolab.flow.strategy",
    "Template": "immunolab.flow.template",
    "apply_template": "immunolab.flow.template",
    "load_template": "immunolab.flow.template",
    "Asinh": "immunolab.flow.transforms",
    "FlowJoBiex": "immunolab.flow.transforms",
    "FlowJoLog": "immunolab.flow.transforms",
    "Hyperlog": "immunolab.flow.transforms",
    "Linear": "immunolab.flow.transforms",
    "Log": "immunolab.flow.transforms",
    "Logicle": "immunolab.flow.transforms",
    "Transform": "immunolab.flow.transforms",
    "default_transform_for": "immunolab.flow.transforms",
    "transform_from_dict": "immunolab.flow.transforms",
}


def __getattr__(name: str) -> Any:
    """Return public ``name``, importing its module on first use (``import immunolab.flow`` stays instant)."""
    return load_export(__name__, _EXPORTS, name)
