"""Rebuild the QC figures of each bead-array run from the store: standard curves and well classification.

A bead-array run (plate id ``run:<run>``) is one FCS file per well. Its standard curves are
refitted from the stored wells (:func:`immunolab.derive.runs.run_facts`,
:func:`immunolab.cytokine.facts.plates_from_facts`) with the settings of the run's active
derivation, read back from ``cytokine_derivations.settings_json``; the rebuilt settings must hash
to that derivation id, else the kit's default settings are used and a note says so. The
classification figure of the run's top standard well (where every bead must be present) and of
wells whose classification raised a flag is drawn from the raw vault file
(:func:`immunolab.beads.classify_fcs_file`). Figures carry analyte, bead and well names only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from immunolab.cytokine.assemble import PlateSettings
    from immunolab.report.naming import Naming
    from immunolab.store.read import Store

__all__ = ["RunFigures", "run_figures", "settings_from_json"]

#: at most this many flagged wells get a classification figure per run (besides the top standard)
MAX_FLAGGED_WELLS = 3


@dataclass
class RunFigures:
    """The QC figures of one run: (caption, figure) pairs, and notes on what could not be drawn."""

    code: str
    curves: list[tuple[str, Figure]] = field(default_factory=list)
    wells: list[tuple[str, Figure]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def settings_from_json(text: str) -> PlateSettings:
    """Return the :class:`PlateSettings` of a stored refit's ``settings_json`` (inverse of ``settings_json``)."""
    from immunolab.cytokine.assemble import PlateSettings
    from immunolab.cytokine.qc import QcThresholds

    s = json.loads(text)
    th = {k: v for k, v in (s.get("thresholds") or {}).items() if k in QcThresholds.__dataclass_fields__}
    types = {k: type(getattr(QcThresholds(), k)) for k in th}
    ranges = {tuple(k.split("|", 1)): (float(v[0]), float(v[1])) for k, v in (s.get("control_ranges") or {}).items()}
    return PlateSettings(model=s["model"], weighting=s["weighting"], below_rule=s["below_rule"],
                         above_rule=s["above_rule"], thresholds=QcThresholds(**{k: types[k](v) for k, v in th.items()}),
                         control_ranges=ranges,
                         strict_curves=bool(s.get("strict_curves", False)))


def _kit_of(store: Store, shas: list[str]) -> str | None:
    src = store.to_pandas("sources", columns=["source_sha256", "metadata_json"])
    meta = src[src["source_sha256"].isin(shas)]["metadata_json"]
    for text in meta:
        kit = json.loads(text or "{}").get("kit")
        if kit:
            return str(kit)
    return None


def _settings(store: Store, derivation_id: str | None, kit: Any, notes: list[str]) -> PlateSettings:
    from immunolab.beads import bead_plate_settings
    from immunolab.derive.curves import settings_id

    d = store.to_pandas("cytokine_derivations").drop_duplicates("derivation_id")
    kind = dict(zip(d["derivation_id"], d["kind"], strict=True))
    if derivation_id is not None and kind.get(derivation_id) == "refit":
        text = dict(zip(d["derivation_id"], d["settings_json"], strict=True))[derivation_id]
        rebuilt = settings_from_json(str(text))
        if settings_id(rebuilt) == derivation_id:
            return rebuilt
        notes.append(f"the settings of {derivation_id} could not be rebuilt exactly; curves drawn with the kit's "
                     "default settings")
    elif derivation_id is not None:
        notes.append(f"the active derivation {derivation_id} is not a refit; curves drawn with the kit's settings")
    return bead_plate_settings(kit)


def _wells_to_draw(wells: pd.DataFrame, store: Store) -> list[tuple[str, str]]:
    """Return (source sha, why) of the top standard well and of up to 3 wells with classification flags."""
    std = wells[(wells["sample_type"] == "standard") & wells["expected_conc"].notna()]
    out: list[tuple[str, str]] = []
    if len(std):
        top = std.sort_values(["expected_conc", "well"], ascending=[False, True]).iloc[0]
        out.append((str(top["source_sha256"]), f"well {top['well']}: top standard ({top['well_label']})"))
    src = store.to_pandas("sources", columns=["source_sha256", "metadata_json"])
    src = src[src["source_sha256"].isin(set(wells["source_sha256"]))]
    well_of = wells.drop_duplicates("source_sha256").set_index("source_sha256")["well"].to_dict()
    flagged = 0
    for sha, text in zip(src["source_sha256"], src["metadata_json"], strict=True):
        flags = json.loads(text or "{}").get("bead_flags") or []
        if flags and flagged < MAX_FLAGGED_WELLS and all(sha != s for s, _ in out):
            out.append((str(sha), f"well {well_of.get(sha, '?')}: {', '.join(map(str, flags[:4]))}"))
            flagged += 1
    return out


def run_figures(store: Store, plate_id: str, derivation_id: str | None, naming: Naming) -> RunFigures:
    """Return the standard-curve and well-classification figures of one run (see the module doc)."""
    from immunolab.beads import (
        classify_fcs_file,
        load_kit,
        standard_curve_figure,
        well_classification_figure,
    )
    from immunolab.cytokine.assemble import analyse_plate
    from immunolab.cytokine.facts import plates_from_facts
    from immunolab.derive.runs import run_facts
    from immunolab.errors import ImmunolabError
    from immunolab.report.plots import fixed_layout
    from immunolab.store.raw import open_raw

    code = naming.plate(plate_id)
    out = RunFigures(code)
    plates, wells, _first = run_facts(store, plate_id)
    if plates.num_rows == 0 or wells.num_rows == 0:
        out.notes.append("no stored wells")
        return out
    wdf = wells.to_pandas()
    kit_id = _kit_of(store, sorted(set(wdf["source_sha256"])))
    if kit_id is None:
        out.notes.append("the run names no bead kit: figures not drawn")
        return out
    kit = load_kit(kit_id)
    settings = _settings(store, derivation_id, kit, out.notes)
    for _pid, plate in plates_from_facts(plates, wells):
        an = analyse_plate(plate, plate_id=code, settings=settings, label=code)
        for analyte in an.curve_analytes:
            fig = fixed_layout(standard_curve_figure(an, analyte), left=0.17, right=0.97, bottom=0.14, top=0.91)
            out.curves.append((f"{code}: {analyte} standard curve, standards, samples and LLOQ/ULOQ", fig))
    for sha, why in _wells_to_draw(wdf, store):
        try:
            result = classify_fcs_file(str(open_raw(store.loc, sha)), kit, label=f"{code} {why.split(':')[0]}")
        except ImmunolabError as exc:
            out.notes.append(f"{why.split(':')[0]} not drawn: {exc.code}")
            continue
        fig = well_classification_figure(result, kit, title=f"{code} {why}")
        out.wells.append((f"{code} {why}", fixed_layout(fig, left=0.07, right=0.99, bottom=0.15, top=0.85, wspace=0.55)))
    return out
