"""Interoperability with the Python cytometry ecosystem: FlowKit, Gating-ML 2.0, readfcs/pytometry, scanpy.

* :func:`to_flowkit` / :func:`from_flowkit`: a stored sample and its active gating as FlowKit
  objects, and FlowKit strategies back into immunolab (:mod:`immunolab.interop.flowkit_io`).
* :func:`write_gatingml`: any fixed gate tree as schema-valid Gating-ML 2.0
  (:mod:`immunolab.interop.gatingml_write`); :func:`export_panel_strategy` writes a panel's active one.

Nothing heavy is imported here: flowkit, anndata and scanpy load inside the functions.
"""

from __future__ import annotations

from immunolab.interop.export import export_panel_strategy
from immunolab.interop.flowkit_io import from_flowkit, strategy_to_flowkit, to_flowkit
from immunolab.interop.gatingml_write import gatingml_bytes, write_gatingml

__all__ = ["export_panel_strategy", "from_flowkit", "gatingml_bytes", "strategy_to_flowkit", "to_flowkit",
           "write_gatingml"]
