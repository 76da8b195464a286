"""The HTML report of a store and its figures.

- :mod:`~immunolab.report.html`: :func:`~immunolab.report.html.write_report` /
  :func:`~immunolab.report.html.build_report` (one self-contained HTML file) and
  :func:`~immunolab.report.html.render_report` (from precomputed :class:`ReportInputs`).
- :mod:`~immunolab.report.plots`: trajectory and QC figures (matplotlib Agg, imported lazily).
- :mod:`~immunolab.report.qc`: plate QC and gating QC tables.
- :mod:`~immunolab.report.provenance`: PHI-free ingest provenance (also used by AnnData exports).
"""
