"""Clinical data of the trial: fact schemas, canonical tests and units, days and ids, result normalising.

- :mod:`~immunolab.clinical.schema`: ``clinical_results``, ``adverse_events``, ``outcomes``,
  ``demographics`` (pyarrow schemas) and :func:`~immunolab.clinical.schema.clinical_table`.
- :mod:`~immunolab.clinical.units`: canonical test codes, synonyms and the unit conversion table.
- :mod:`~immunolab.clinical.days`: study days from dates (Day 0 rules) and trial ids from file ids.
- :mod:`~immunolab.clinical.context`: :class:`~immunolab.clinical.context.ReadContext` of a reader.
- :mod:`~immunolab.clinical.results`: :func:`~immunolab.clinical.results.normalise_results`.
- :mod:`~immunolab.clinical.to_measurements`: clinical results as visit measurements.

The readers live in ``immunolab_assays.clinical_table`` (plain layouts, lab time series) and
``immunolab_assays.clinical_sdtm`` (SDTM). Nothing here imports a heavy library.
"""

from __future__ import annotations
