"""Turn the classified wells of one bead-array run into the format-neutral cytokine :class:`Plate`.

A bead-array run is many FCS files (one per well) that together form a plate: the standards
C0..Cn (usually in duplicate) and the samples. :func:`bead_plate` lays them out as the rows
:data:`immunolab.cytokine.plate.WELL_COLUMNS` describes (one per well x analyte), so that
:func:`immunolab.cytokine.assemble.analyse_plate` fits, back-calculates, censors and QCs the
run exactly like a Luminex plate, and the results land in the same tables::

    wells = [classify_fcs_file(p, kit) for p in paths]
    roles = [WellRole.standard(0), WellRole.standard(0), ..., WellRole.sample("S0001", dilution=2)]
    plate = bead_plate(wells, roles, kit)
    analysis = analyse_plate(plate, plate_id=..., settings=bead_plate_settings(kit))

Conventions:

* ``median_mfi`` is the population's reporter median; ``bead_count`` its events (0 when the
  bead was not found, so the plate QC fails that reading rather than the plate).
* The blank C0: with ``background="keep"`` (default; the LEGENDplex and FCAP Array
  convention, where the blank is the bottom of the curve) C0 rows are standards of expected
  concentration 0, left out of the fit and never subtracted; with ``background="subtract"``
  they are blanks and the engine subtracts their mean MFI (the xPONENT convention).
* ``well_label`` keeps the kit's standard names (``C0`` .. ``C7``); ``standard_level``
  follows the Plate convention (1 = most concentrated, so C7 of a 7-level kit is 1).
* The bead classification flags of each reading travel in the extra column ``bead_flags``.

Errors: IML-BEAD-005 when the roles do not fit the wells or the kit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from immunolab.beads.classify import BeadWellResult
from immunolab.beads.kits import BeadKit
from immunolab.errors import InconsistentInputError

if TYPE_CHECKING:
    from immunolab.cytokine.assemble import PlateSettings
    from immunolab.cytokine.plate import Plate

__all__ = ["WellRole", "bead_plate", "bead_plate_settings", "plate_well_name"]

RoleKind = Literal["standard", "sample", "control"]
_ROWS = "ABCDEFGH"


@dataclass(frozen=True)
class WellRole:
    """What a well holds: a standard level (0 = the blank C0), a sample or a control.

    ``sample_ref`` is the sample's name as the manifest gives it (private: it only leaves the
    plate as ``_sample_ref``); ``dilution`` multiplies back-calculated concentrations;
    ``well`` is the plate position (``A1``), generated in column order when None.
    """

    kind: RoleKind
    standard_level: int | None = None
    sample_ref: str | None = None
    dilution: float = 1.0
    replicate: int = 1
    well: str | None = None

    @classmethod
    def standard(cls, level: int, *, replicate: int = 1, well: str | None = None) -> WellRole:
        """Return the role of standard C``level`` (C0 is the blank)."""
        return cls("standard", standard_level=int(level), replicate=replicate, well=well)

    @classmethod
    def sample(cls, ref: str, *, dilution: float = 1.0, replicate: int = 1, well: str | None = None) -> WellRole:
        """Return the role of a sample well (``ref`` = the manifest's sample id)."""
        return cls("sample", sample_ref=str(ref), dilution=float(dilution), replicate=replicate, well=well)

    @classmethod
    def control(cls, name: str, *, dilution: float = 1.0, replicate: int = 1, well: str | None = None) -> WellRole:
        """Return the role of a control well (``name`` becomes its label, e.g. ``Control1``)."""
        return cls("control", sample_ref=str(name), dilution=float(dilution), replicate=replicate, well=well)


def plate_well_name(index: int) -> str:
    """Return the 96-well position of the ``index``-th well (0-based) in column order: A1, B1, ... H12."""
    return f"{_ROWS[index % 8]}{index // 8 + 1}"


def _bad(label: str, problem: str, hint: str) -> InconsistentInputError:
    return InconsistentInputError("IML-BEAD-005", problem, path=label, hint=hint)


def _check(wells: Sequence[BeadWellResult], roles: Sequence[WellRole], kit: BeadKit, label: str) -> list[str]:
    """Validate roles against wells and kit; return the well positions."""
    if len(wells) != len(roles):
        raise _bad(label, f"{len(wells)} classified wells but {len(roles)} well roles",
                   "Give exactly one role per well, in the same order.")
    for w in wells:
        if w.kit_id != kit.kit_id:
            raise _bad(w.label, f"the well was classified with kit {w.kit_id}, not {kit.kit_id}",
                       "Classify every well of the run with the run's kit.")
    n = kit.standards.levels
    for w, r in zip(wells, roles, strict=True):
        if r.kind == "standard":
            level = r.standard_level
            if level is not None and level > 0 and not kit.standards.known:
                raise _bad(w.label, f"kit {kit.kit_id} gives no standard concentrations",
                           "Copy the kit definition, fill in 'standards' from your lot's certificate and load that copy.")
            if level is None or not 0 <= level <= n:
                raise _bad(w.label, f"standard level C{level} is not a level of kit {kit.kit_id} (C0..C{n})",
                           "Correct the well's standard level in the manifest.")
        elif not r.sample_ref:
            raise _bad(w.label, f"a {r.kind} well needs a sample reference", "Give the sample id in the manifest.")
        if not (math.isfinite(r.dilution) and r.dilution > 0):
            raise _bad(w.label, f"dilution {r.dilution!r} is not a positive number", "Correct the dilution in the manifest.")
    names = [r.well or plate_well_name(i) for i, r in enumerate(roles)]
    dupes = sorted({x for x in names if names.count(x) > 1})
    if dupes:
        raise _bad(label, f"well position(s) {', '.join(dupes)} are given to more than one well",
                   "Give each well its own plate position in the manifest.")
    return names


def _row(pos: str, order: int, role: WellRole, kit: BeadKit, background: str) -> dict[str, Any]:
    """Return the well-level part of a plate row."""
    n = kit.standards.levels
    if role.kind == "standard":
        level = int(role.standard_level or 0)
        blank = level == 0 and background == "subtract"
        return {
            "well": pos, "location": pos, "acquisition_order": order, "sample_name": f"C{level}",
            "sample_type": "blank" if blank else "standard", "well_label": f"C{level}",
            "standard_level": None if blank else n - level + 1, "dilution": None,
        }
    if role.kind == "control":
        return {"well": pos, "location": pos, "acquisition_order": order, "sample_name": role.sample_ref,
                "sample_type": "control", "well_label": role.sample_ref, "standard_level": None, "dilution": role.dilution}
    return {"well": pos, "location": pos, "acquisition_order": order, "sample_name": role.sample_ref,
            "sample_type": "unknown", "well_label": None, "standard_level": None, "dilution": role.dilution}


def bead_plate(
    wells: Sequence[BeadWellResult],
    roles: Sequence[WellRole],
    kit: BeadKit,
    *,
    plate_index: int = 1,
    background: str = "keep",
    instrument: str | None = None,
    label: str = "bead-array run",
) -> Plate:
    """Return the :class:`~immunolab.cytokine.plate.Plate` of one run (see the module doc).

    ``wells`` and ``roles`` pair up in order; ``background`` is ``keep`` or ``subtract``;
    ``label`` names the run in errors. Raises IML-BEAD-005.
    """
    import pandas as pd

    from immunolab.cytokine.analytes import resolve_analyte
    from immunolab.cytokine.plate import WELL_COLUMNS, Plate

    if background not in ("keep", "subtract"):
        raise ValueError(f"background={background!r} is not 'keep' or 'subtract'")
    positions = _check(wells, roles, kit, label)
    rows: list[dict[str, Any]] = []
    for i, (well, role, pos) in enumerate(zip(wells, roles, positions, strict=True)):
        base = _row(pos, i + 1, role, kit, background)
        level = role.standard_level if role.kind == "standard" else None
        for pop in well.populations:
            bead = kit.bead_for(pop.analyte)
            expected = kit.standards.concentration(level, bead.top_concentration) if level is not None and base["sample_type"] == "standard" else None
            rows.append({
                **base, "analyte": pop.analyte, "analyte_reported": bead.analyte_reported, "bead_region": None,
                "analyte_known": resolve_analyte(pop.analyte).known, "median_mfi": pop.reporter_mfi,
                "net_mfi_reported": None, "bead_count": float(pop.n_events), "expected_conc": expected,
                "reported_conc_text": None, "reported_conc": None, "reported_flag": None,
                "bead_flags": list(pop.flags),
            })
    frame = pd.DataFrame(rows)
    for col, dtype in WELL_COLUMNS.items():
        frame[col] = frame[col].astype(dtype) if col in frame else pd.Series(dtype=dtype)
    notes = [f"well {positions[i]}: {', '.join(w.flags)}" for i, w in enumerate(wells) if w.flags]
    return Plate(
        plate_index=plate_index, wells=frame[[*WELL_COLUMNS, "bead_flags"]], instrument=instrument,
        software="immunolab bead classification", kit=kit.name,
        units={a: "pg/mL" for a in kit.analytes}, min_bead_count=kit.min_bead_count, warnings=notes,
        quantitative=any(r.kind == "standard" and (r.standard_level or 0) > 0 for r in roles),
    )


def bead_plate_settings(kit: BeadKit, options: Mapping[str, Any] | None = None) -> PlateSettings:
    """Return the curve settings for a bead run: the kit's model and weighting unless ``options`` override."""
    from immunolab.cytokine.assemble import PlateSettings

    opts = {"curve_model": kit.curve_model, "curve_weighting": kit.curve_weighting, **dict(options or {})}
    return PlateSettings.from_options(opts)
