"""Multiplex cytokine plates: parsers, standard curves, concentrations and QC shared by every plate plugin.

Pipeline (one direction)::

    export bytes --(format parser)--> list[Plate] --(assemble.plate_tables)--> four store tables

Shared building blocks (import the module, never this package, to keep start-up light):

- :mod:`~immunolab.cytokine.analytes` - ``canonical_analyte(name) -> (id, bead region)``,
  ``resolve_analyte(name)`` (adds the ``known`` flag): ``Hu IL-6 (19)`` -> ``("IL-6", 19)``.
- :mod:`~immunolab.cytokine.curves` - ``fit_standard_curve`` (5PL/4PL, weights, bounded
  multi-start), ``StandardCurve.inverse``, ``back_calculate`` (xPONENT rules),
  ``quantification_limits`` (LLOQ/ULOQ from 70-130 % recovery), ``logistic(_inverse)``.
  Parameterisation: ``y = A + (B - A) / (1 + (x / C)^D)^F``.
- :mod:`~immunolab.cytokine.plate` - ``Plate`` and ``WELL_COLUMNS`` (what a parser fills),
  ``classify_sample`` (standard / control / blank / unknown from a well's sample name).
- :mod:`~immunolab.cytokine.assemble` - ``PlateSettings.from_options``, ``analyse_plate``,
  ``plate_tables`` (net MFI, refit, back-calculation, censoring, QC -> tables).
- :mod:`~immunolab.cytokine.parsed` - ``parsed_assay_from_plates`` (a plugin's ``parse``
  tail: options, IML-CYT-008/009, tables, metadata).
- :mod:`~immunolab.cytokine.censoring` - censor flags and substitution rules (LLOQ/2 ...).
- :mod:`~immunolab.cytokine.qc` - ``QcThresholds``, ``levey_jennings``, ``westgard_flags``.
- :mod:`~immunolab.cytokine.delimited`, :mod:`~immunolab.cytokine.dates` - tolerant CSV
  reading (BOM, ``;`` + decimal commas, missing tokens) and instrument date styles.

Formats: :mod:`~immunolab.cytokine.xponent` (xPONENT and xPONENT-style INTELLIFLEX),
:mod:`~immunolab.cytokine.intelliflex` (flat INTELLIFLEX CSV), ``bioplex*`` and ``msd*``;
:mod:`~immunolab.cytokine.sniff` recognises Luminex heads for ``detect`` (stdlib only);
:mod:`~immunolab.cytokine.xponent_writer` writes xPONENT exports (demo trial, tests).
"""
