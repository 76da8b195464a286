"""Multiplex cytokine science: standard curves, back-calculation, censoring and QC of plates.

The public, typed API every plate plugin and the core's curve derivation build on::

    from immunolab.cytokine import PlateSettings, analyse_plate, fit_standard_curve

    curve = fit_standard_curve(conc_pg_ml, net_mfi, model="5PL", weighting="1/y^2")
    conc, censor = curve.inverse(net_mfi_of_samples)          # pg/mL, censor flags

Pipeline (one direction; one plate model, :class:`Plate`)::

    export bytes --(reader in assays/<format>)--> list[Plate] --(plate_fact_tables)--> fact tables
    fact tables --(plates_from_facts)--> Plate --(analyse_plate)--> curves, results, QC

- curves (:mod:`~immunolab.cytokine.curves`): ``fit_standard_curve`` (5PL/4PL, weights, bounded
  multi-start), ``StandardCurve.inverse``, ``back_calculate`` (xPONENT rules),
  ``quantification_limits`` (LLOQ/ULOQ from 70-130 % recovery); parameterisation
  ``y = A + (B - A) / (1 + (x / C)^D)^F`` with x in pg/mL and y in MFI.
- plates (:mod:`~immunolab.cytokine.plate`, :mod:`~immunolab.cytokine.plate_builder`):
  ``Plate`` (what a reader fills), ``plate_from_readings`` for row-oriented readers.
- analysis (:mod:`~immunolab.cytokine.assemble`): ``PlateSettings.from_options``,
  ``analyse_plate`` (net MFI, refit, back-calculation, censoring, QC).
- censoring and QC (:mod:`~immunolab.cytokine.censoring`, :mod:`~immunolab.cytokine.qc`):
  substitution rules (LLOQ/2 ...), ``QcThresholds``, ``levey_jennings``, ``westgard_flags``.
- facts (:mod:`~immunolab.cytokine.facts`, :mod:`~immunolab.cytokine.parsed`): plates <-> store
  fact tables; ``parsed_assay_from_plates`` is a plate plugin's ``parse`` tail.
- names and standards (:mod:`~immunolab.cytokine.analytes`, :mod:`~immunolab.cytokine.standards`):
  canonical analyte ids; the standards' dilution-series check and repair.

Names resolve lazily: ``import immunolab.cytokine`` imports neither numpy nor scipy. Readers live
in their plugins (``assays/<format>/``) on the neutral :mod:`immunolab.io` helpers; the demo
xPONENT writer is :mod:`immunolab.demo.xponent_writer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from immunolab._lazy import load_export

if TYPE_CHECKING:
    from immunolab.cytokine.analytes import (
        AnalyteMatch,
        canonical_analyte,
        resolve_analyte,
    )
    from immunolab.cytokine.assemble import (
        PlateAnalysis,
        PlateSettings,
        analyse_plate,
        unit_factor,
    )
    from immunolab.cytokine.censoring import (
        ABOVE_RULES,
        BELOW_RULES,
        CensoredValue,
        censor_replicates,
        substitute,
    )
    from immunolab.cytokine.curves import (
        MODELS,
        WEIGHTINGS,
        BackCalculation,
        StandardCurve,
        back_calculate,
        fit_standard_curve,
        logistic,
        logistic_inverse,
        quantification_limits,
        standard_recovery,
    )
    from immunolab.cytokine.facts import (
        plate_fact_tables,
        plates_from_facts,
    )
    from immunolab.cytokine.parsed import (
        parsed_assay_from_plates,
        settings_from_options,
    )
    from immunolab.cytokine.plate import (
        WELL_COLUMNS,
        Plate,
        classify_sample,
    )
    from immunolab.cytokine.plate_builder import (
        plate_from_readings,
    )
    from immunolab.cytokine.qc import (
        QcThresholds,
        levey_jennings,
        replicate_cv,
        westgard_flags,
    )
    from immunolab.cytokine.readings import (
        WellReading,
    )
    from immunolab.cytokine.standards import (
        SeriesCheck,
        check_plate_standards,
        check_series,
    )

__all__ = [
    "ABOVE_RULES",
    "BELOW_RULES",
    "MODELS",
    "WEIGHTINGS",
    "WELL_COLUMNS",
    "AnalyteMatch",
    "BackCalculation",
    "CensoredValue",
    "Plate",
    "PlateAnalysis",
    "PlateSettings",
    "QcThresholds",
    "SeriesCheck",
    "StandardCurve",
    "WellReading",
    "analyse_plate",
    "back_calculate",
    "canonical_analyte",
    "censor_replicates",
    "check_plate_standards",
    "check_series",
    "classify_sample",
    "fit_standard_curve",
    "levey_jennings",
    "logistic",
    "logistic_inverse",
    "parsed_assay_from_plates",
    "plate_fact_tables",
    "plate_from_readings",
    "plates_from_facts",
    "quantification_limits",
    "replicate_cv",
    "resolve_analyte",
    "settings_from_options",
    "standard_recovery",
    "substitute",
    "unit_factor",
    "westgard_flags",
]

_EXPORTS: dict[str, str] = {
    "AnalyteMatch": "immunolab.cytokine.analytes",
    "canonical_analyte": "immunolab.cytokine.analytes",
    "resolve_analyte": "immunolab.cytokine.analytes",
    "PlateAnalysis": "immunolab.cytokine.assemble",
    "PlateSettings": "immunolab.cytokine.assemble",
    "analyse_plate": "immunolab.cytokine.assemble",
    "unit_factor": "immunolab.cytokine.assemble",
    "ABOVE_RULES": "immunolab.cytokine.censoring",
    "BELOW_RULES": "immunolab.cytokine.censoring",
    "CensoredValue": "immunolab.cytokine.censoring",
    "censor_replicates": "immunolab.cytokine.censoring",
    "substitute": "immunolab.cytokine.censoring",
    "BackCalculation": "immunolab.cytokine.curves",
    "MODELS": "immunolab.cytokine.curves",
    "StandardCurve": "immunolab.cytokine.curves",
    "WEIGHTINGS": "immunolab.cytokine.curves",
    "back_calculate": "immunolab.cytokine.curves",
    "fit_standard_curve": "immunolab.cytokine.curves",
    "logistic": "immunolab.cytokine.curves",
    "logistic_inverse": "immunolab.cytokine.curves",
    "quantification_limits": "immunolab.cytokine.curves",
    "standard_recovery": "immunolab.cytokine.curves",
    "plate_fact_tables": "immunolab.cytokine.facts",
    "plates_from_facts": "immunolab.cytokine.facts",
    "parsed_assay_from_plates": "immunolab.cytokine.parsed",
    "settings_from_options": "immunolab.cytokine.parsed",
    "Plate": "immunolab.cytokine.plate",
    "WELL_COLUMNS": "immunolab.cytokine.plate",
    "classify_sample": "immunolab.cytokine.plate",
    "plate_from_readings": "immunolab.cytokine.plate_builder",
    "QcThresholds": "immunolab.cytokine.qc",
    "levey_jennings": "immunolab.cytokine.qc",
    "replicate_cv": "immunolab.cytokine.qc",
    "westgard_flags": "immunolab.cytokine.qc",
    "WellReading": "immunolab.cytokine.readings",
    "SeriesCheck": "immunolab.cytokine.standards",
    "check_plate_standards": "immunolab.cytokine.standards",
    "check_series": "immunolab.cytokine.standards",
}


def __getattr__(name: str) -> Any:
    """Return public ``name``, importing its module on first use (``import immunolab.cytokine`` stays instant)."""
    return load_export(__name__, _EXPORTS, name)
