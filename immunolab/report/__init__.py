"""The trial team's HTML report of a store, and its figures.

- :mod:`~immunolab.report.html`: :func:`~immunolab.report.html.write_report` /
  :func:`~immunolab.report.html.build_report` (one self-contained HTML file) and the page frame.
- :mod:`~immunolab.report.sections`: one module per section (scope, cohort, arm comparisons,
  trajectories, clinical endpoints, cytokines, flow cytometry, provenance).
- :mod:`~immunolab.report.context`: :class:`ReportOptions` and the lazily computed inputs
  (:class:`ReportData`: measurements view, unadjusted and adjusted comparisons, endpoints).
- :mod:`~immunolab.report.naming`: PHI-safe names of samples, plates and files; free-text scrubbing.
- :mod:`~immunolab.report.fmt`: escaped tables, inline PNG figures, notes and warnings.
- :mod:`~immunolab.report.gating_qc`, :mod:`~immunolab.report.bead_runs`, :mod:`~immunolab.report.refit`:
  re-gating for gate figures, bead-array run figures, instrument-vs-refit comparison.
- :mod:`~immunolab.report.plots`: trajectory and QC figures (matplotlib Agg, imported lazily).
- :mod:`~immunolab.report.qc`: plate QC and gating QC tables.
- :mod:`~immunolab.report.provenance`: PHI-free ingest provenance (also used by AnnData exports).
"""
