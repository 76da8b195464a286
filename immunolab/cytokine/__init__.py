"""Multiplex cytokine plates: parsers, standard curves, concentrations and QC shared by every plate plugin.

Pipeline (one direction)::

    export bytes --(reader in assays/<format>)--> list[Plate] --(facts.plate_fact_tables)--> fact tables
    fact tables --(facts.plates_from_facts)--> Plate --(assemble.analyse_plate)--> curves, results, QC

Shared building blocks (import the module, never this package, to keep start-up light):

- :mod:`~immunolab.cytokine.analytes` - ``canonical_analyte(name) -> (id, bead region)``,
  ``resolve_analyte(name)`` (adds the ``known`` flag): ``Hu IL-6 (19)`` -> ``("IL-6", 19)``.
- :mod:`~immunolab.cytokine.curves` - ``fit_standard_curve`` (5PL/4PL, weights, bounded
  multi-start), ``StandardCurve.inverse``, ``back_calculate`` (xPONENT rules),
  ``quantification_limits`` (LLOQ/ULOQ from 70-130 % recovery), ``logistic(_inverse)``.
  Parameterisation: ``y = A + (B - A) / (1 + (x / C)^D)^F``.
- :mod:`~immunolab.cytokine.plate` - ``Plate`` and ``WELL_COLUMNS`` (what a parser fills),
  ``classify_sample`` (standard / control / blank / unknown from a well's sample name).
- :mod:`~immunolab.cytokine.assemble` - ``PlateSettings.from_options``, ``analyse_plate``
  (net MFI, refit, back-calculation, censoring, QC).
- :mod:`~immunolab.cytokine.facts` - plates <-> store fact tables.
- :mod:`~immunolab.cytokine.parsed` - ``parsed_assay_from_plates`` (a plugin's ``parse``
  tail: IML-CYT-008, fact tables, reader flags, metadata).
- :mod:`~immunolab.cytokine.censoring` - censor flags and substitution rules (LLOQ/2 ...).
- :mod:`~immunolab.cytokine.qc` - ``QcThresholds``, ``levey_jennings``, ``westgard_flags``.
- :mod:`~immunolab.cytokine.standards` - checks that the standards' expected concentrations
  form the kit's dilution series; repairs a lost decimal separator / power of ten (recorded).
- :mod:`~immunolab.cytokine.plate_builder` - ``plate_from_readings`` (row-oriented readers).

Readers live in their plugins (``assays/<format>/``: xPONENT, INTELLIFLEX, Bio-Plex, MSD,
LEGENDplex table) and build on the neutral :mod:`immunolab.io` helpers (delimited text,
workbooks, dates, tokens); the demo xPONENT writer is :mod:`immunolab.demo.xponent_writer`.
"""
