"""Bead-array cytokine assays acquired on a flow cytometer (LEGENDplex, BD CBA, MACSPlex).

One FCS file per well; the wells of a run form a plate. The science, bottom up:

- :mod:`~immunolab.beads.kits` - kit definitions (YAML, ``docs/bead_arrays.md``):
  ``load_kit("legendplex_hu_inflammation_13plex")``, ``available_kits()``.
- :mod:`~immunolab.beads.classify` - ``classify_bead_well(events, channels, kit, *, label)``
  -> :class:`BeadWellResult` (per analyte: bead, events, reporter MFI, QC flags);
  ``classify_fcs_file(path, kit)``; ``bead_reference(results)`` for a run's bead spacing.
- :mod:`~immunolab.beads.plate` - ``bead_plate(wells, roles, kit)`` -> the cytokine
  :class:`~immunolab.cytokine.plate.Plate`, fitted by the existing curve engine
  (``bead_plate_settings(kit)``); :class:`WellRole` says what each well holds.
- :mod:`~immunolab.beads.logcurve` - the LEGENDplex software's log-MFI curve with the engine.
- :mod:`~immunolab.beads.plots` - classification and standard-curve figures.

Building blocks: :mod:`~immunolab.beads.channels` (roles from ``$PnN``/``$PnS`` and hints),
:mod:`~immunolab.beads.density` (scale-free mode finding), :mod:`~immunolab.beads.gating`
(scatter groups, populations), :mod:`~immunolab.beads.assign` (populations -> beads).
matplotlib is imported only inside the plotting functions.
"""

from __future__ import annotations

from immunolab.beads.classify import (
    BeadPopulation,
    BeadReference,
    BeadWellResult,
    ScatterGroup,
    WellEvents,
    bead_reference,
    classify_bead_well,
    classify_fcs_file,
)
from immunolab.beads.kits import (
    Bead,
    BeadGroup,
    BeadKit,
    ChannelRole,
    StandardSeries,
    available_kits,
    load_kit,
    parse_kit,
)
from immunolab.beads.logcurve import fit_log_response_curve, log_response_concentrations
from immunolab.beads.plate import WellRole, bead_plate, bead_plate_settings, plate_well_name
from immunolab.beads.plots import figure_png, standard_curve_figure, well_classification_figure

__all__ = [
    "Bead",
    "BeadGroup",
    "BeadKit",
    "BeadPopulation",
    "BeadReference",
    "BeadWellResult",
    "ChannelRole",
    "ScatterGroup",
    "StandardSeries",
    "WellEvents",
    "WellRole",
    "available_kits",
    "bead_plate",
    "bead_plate_settings",
    "bead_reference",
    "classify_bead_well",
    "classify_fcs_file",
    "figure_png",
    "fit_log_response_curve",
    "load_kit",
    "log_response_concentrations",
    "parse_kit",
    "plate_well_name",
    "standard_curve_figure",
    "well_classification_figure",
]
