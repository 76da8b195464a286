"""Analysis of a store: the measurements view, trajectories, AUC and the arm comparison.

- :func:`measurements_view` (module :mod:`~immunolab.analysis.measurements_view`): the long
  table with baseline, change, percent change and log10 columns.
- :func:`trajectory_summary`, :func:`patient_auc` (:mod:`~immunolab.analysis.trajectories`).
- :func:`compare_arms`, :func:`compare_store`, :func:`write_comparison`
  (:mod:`~immunolab.analysis.compare`): mixed model with Satterthwaite df, per-visit rank and
  Fisher tests with BH q-values, AUC comparison; tidy tables with a ``method`` column.

statsmodels is imported only when a model is fitted.
"""

from __future__ import annotations

from immunolab.analysis.compare import ArmComparison, compare_arms, compare_store, write_comparison
from immunolab.analysis.measurements_view import measurements_view
from immunolab.analysis.trajectories import parse_window, patient_auc, trajectory_summary

__all__ = [
    "ArmComparison",
    "compare_arms",
    "compare_store",
    "measurements_view",
    "parse_window",
    "patient_auc",
    "trajectory_summary",
    "write_comparison",
]
