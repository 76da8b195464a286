"""Bead-array cytokine wells acquired on a flow cytometer (LEGENDplex, BD CBA, MACSPlex): one FCS file per well.

Routing is by the manifest, never by content: an FCS file is a bead well only when its manifest
row says ``assay = bead_array`` (detection stays with the FCS plugin otherwise, so an immune
panel tube is never taken for a bead well or the reverse). Manifest columns a bead well uses:

``kit``             a shipped kit id (docs/bead_arrays.md and an unknown kit's hint list them) or a kit YAML path;
                    when empty, ``--bead-kit``, then the row's ``panel``, names the kit
``run``             the run (plate) the well belongs to, e.g. ``BEADRUN-01``
``well``            plate position (``A1``)
``role``            ``standard`` / ``sample`` / ``control``
``standard_level``  0 (the blank C0) ... n for standards
``dilution``        sample dilution factor (default 1)
``replicate``       1, 2, ... for replicate wells of one sample (2+ are kept as technical replicates)
``aliquot_of``      the manifest ``sample_id`` of the sample the well holds an aliquot of (its
                    replicate wells name the same one, so the run combines them); without it the
                    well's own row is the sample (then it needs patient_id and visit_day)

``parse`` classifies the well's beads (:func:`immunolab.beads.classify_fcs_file`: scatter groups,
classifier populations, reporter MFI per analyte) and returns them as cytokine facts of the run's
plate (``plate_id`` = ``run:<run>``). The core derives the run's curves and concentrations once
its wells are stored (:func:`immunolab.derive.runs.derive_runs`), exactly as for a Luminex plate.
"""

from __future__ import annotations

from pathlib import Path

from immunolab.plugins import Detection, ParseContext, ParsedAssay, PluginOption

__all__ = ["BeadArrayPlugin"]


class BeadArrayPlugin:
    """Bead-array wells (FCS) as cytokine plate facts; routed by the manifest's ``assay`` column."""

    name = "bead_array"
    version = "1.0.0"
    assay_kind = "cytokine"
    file_extensions = (".fcs", ".lmd")
    produces = ("cytokine_plates", "cytokine_wells")
    options = (PluginOption("bead_kit", "str", "Bead arrays: kit id or YAML for wells whose manifest row names none."),)

    def detect(self, head: bytes, filename: str) -> Detection | None:
        """Claim nothing by content: bead wells are FCS files, routed by the manifest's assay column."""
        return None

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay:
        """Classify one well and return it as cytokine facts of its run's plate."""
        from immunolab_assays.beadarray.parse import parse_bead_well

        return parse_bead_well(path, ctx, plugin_version=self.version)
