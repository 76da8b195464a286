"""Derivations: results computed from facts + identity + settings, never from raw bytes alone.

* :mod:`~immunolab.derive.gating`: flow populations from FCS facts and a gating strategy;
* :mod:`~immunolab.derive.curves`: standard curves, concentrations and plate QC from wells;
* :mod:`~immunolab.derive.choices`: which derivation is active per panel / plate;
* :mod:`~immunolab.derive.views`: the ``samples`` and ``measurements`` views;
* :mod:`~immunolab.derive.run`: the derivations ingest runs on new files, and the
  re-analysis commands (``immunolab derive gating`` / ``curves``) over stored files.

A fact table declares the derivations it needs (``TableSpec.derivations``), so a new assay
plugin gets gating or curve fitting without any edit here.
"""

from immunolab.derive.registry import DERIVATIONS, DeriveContext, register_derivation

__all__ = ["DERIVATIONS", "DeriveContext", "register_derivation"]
