"""Classify the events of one bead-array well into bead populations and measure each reporter MFI.

Pipeline (no per-instrument constants; see :mod:`immunolab.beads.density`)::

    channels by role (kit hints, then the data)  ->  linear values ($PnE log decoding, $PnG)
    -> scatter groups (densest modes of log FSC x SSC, robust cores, ordered by FSC)
    -> per group: bead populations in the classifier channel(s), robust cores
    -> populations matched to the kit's beads (intensity order; ladder / run reference when
       beads are missing)  ->  per analyte: events, reporter median (MFI), QC flags

The MFI is the median reporter value of the population's core, in the file's linear units
(what LEGENDplex and FCAP Array report). Events saturated in a scatter channel are left out of
the groups (their scatter position is unknown) and counted in ``n_saturated``.

QC flags per analyte: ``bead_not_found`` (no population for the bead: the analyte has no
MFI), ``low_bead_count`` (fewer events than the kit's ``min_bead_count``),
``reporter_saturated`` (>= 5 % of the population at the reporter's ceiling),
``bead_map_inferred`` (a bead of the group was missing, so which population is which bead came
from the ladder or run reference), ``bead_map_ambiguous`` (that inference had a close second),
``bead_map_unverified`` (the kit's bead order is not confirmed by a public vendor source),
``group_not_found`` (the bead's scatter group is absent). Well flags: ``classifier_by_data``
(no channel name matched the classifier hints; the best-separating channel was taken).

Errors: IML-BEAD-003 (a channel role is missing), IML-BEAD-004 (no bead group in the well, or
fewer than half of the kit's bead populations, or a scatter group of beads more than the kit
has: a cell tube or another kit's well is refused rather than reported as a well with many
missing analytes).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from immunolab.beads.assign import assign_populations
from immunolab.beads.channels import plan_channels
from immunolab.beads.gating import (
    FoundPopulation,
    ScatterScan,
    find_populations,
    find_scatter_groups,
    saturated,
    scatter_core,
    scatter_modes,
    scatter_scan,
)
from immunolab.beads.kits import Bead, BeadKit
from immunolab.errors import InconsistentInputError
from immunolab.fcs.channels import FcsChannel, preprocess_in_place

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BeadPopulation",
    "BeadReference",
    "BeadWellResult",
    "ScatterGroup",
    "WellEvents",
    "bead_reference",
    "classify_bead_well",
    "classify_fcs_file",
]

_MIN_EVENTS = 50
_SATURATED_FRACTION = 0.05
#: in a bead well most events of the scatter groups belong to bead populations
_MIN_BEAD_SHARE = 0.3
#: a scatter group the kit does not have, at least this share of the kit's smallest group and
#: holding bead populations, means the well is of another kit
_FOREIGN_GROUP_SHARE = 0.5


@dataclass(frozen=True)
class BeadPopulation:
    """One analyte's bead population in a well; MFI and medians in the file's linear units."""

    analyte: str
    analyte_reported: str
    bead_id: str
    group: str
    n_events: int
    reporter_mfi: float
    reporter_rcv: float
    classifier_median: tuple[float, ...]
    flags: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        """Return True when the bead population was found."""
        return "bead_not_found" not in self.flags


@dataclass(frozen=True)
class ScatterGroup:
    """One scatter group of the kit: found or not, its events and medians (linear units)."""

    name: str
    found: bool
    n_events: int
    fsc_median: float
    ssc_median: float


@dataclass
class WellEvents:
    """The classified events of a well (linear units) for plots: -1 labels mean unassigned."""

    fsc: np.ndarray
    ssc: np.ndarray
    classifiers: np.ndarray
    reporter: np.ndarray
    group: np.ndarray
    bead: np.ndarray


@dataclass
class BeadWellResult:
    """The classification of one well: populations in kit bead order, groups, channels, flags."""

    label: str
    kit_id: str
    channels: dict[str, str]
    populations: list[BeadPopulation]
    groups: list[ScatterGroup]
    n_events: int
    n_saturated: int
    flags: list[str] = field(default_factory=list)
    events: WellEvents | None = None

    def population(self, analyte: str) -> BeadPopulation:
        """Return the population of ``analyte`` (KeyError when the kit has no such analyte)."""
        for p in self.populations:
            if p.analyte == analyte:
                return p
        raise KeyError(analyte)

    def to_frame(self) -> pd.DataFrame:
        """Return one row per kit bead: analyte, bead, group, events, reporter MFI and robust CV (%), flags.

        MFI and classifier medians are in the file's linear units; flags are joined with ``;``.
        """
        import pandas as pd

        rows = [{"analyte": p.analyte, "analyte_reported": p.analyte_reported, "bead_id": p.bead_id,
                 "group": p.group, "n_events": p.n_events, "reporter_mfi": p.reporter_mfi,
                 "reporter_rcv": p.reporter_rcv, "classifier_median": p.classifier_median,
                 "flags": ";".join(p.flags)} for p in self.populations]
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class BeadReference:
    """Classifier medians (linear units) per bead id, learned from wells of the same run."""

    kit_id: str
    positions: Mapping[str, tuple[float, ...]]


def bead_reference(results: Sequence[BeadWellResult]) -> BeadReference:
    """Return the per-bead geometric median classifier position over wells where it was found cleanly.

    Use it to classify the other wells of the same run (``reference=``): when a population is
    missing in a well, the run's own bead spacing then tells which one it is.
    """
    if not results:
        raise ValueError("bead_reference needs at least one classified well")
    kit_id = results[0].kit_id
    logs: dict[str, list[np.ndarray]] = {}
    for res in results:
        for p in res.populations:
            if p.found and "bead_map_inferred" not in p.flags and all(v > 0 for v in p.classifier_median):
                logs.setdefault(p.bead_id, []).append(np.log(np.asarray(p.classifier_median)))
    positions = {b: tuple(float(v) for v in np.exp(np.median(np.vstack(v), axis=0))) for b, v in logs.items()}
    return BeadReference(kit_id, positions)


def _linear_block(events: np.ndarray, channels: Sequence[FcsChannel | str], cols: list[int], keywords: Mapping[str, str]) -> np.ndarray:
    block = np.array(np.asarray(events)[:, cols], dtype=np.float64)
    if all(isinstance(c, FcsChannel) for c in channels):
        preprocess_in_place(block, cols, [c for c in channels if isinstance(c, FcsChannel)], keywords)
    return block


def _no_beads(label: str, kit: BeadKit, why: str, *, other_kit: bool = False) -> InconsistentInputError:
    if other_kit:
        return InconsistentInputError(
            "IML-BEAD-004", f"the bead populations do not fit kit {kit.kit_id}: {why}", path=label,
            hint="Name the kit the well was run with in the manifest's kit column (or --bead-kit); "
            "docs/bead_arrays.md lists the shipped kits.")
    return InconsistentInputError(
        "IML-BEAD-004",
        f"no bead population of kit {kit.kit_id} was found: {why}",
        path=label,
        hint="Check that the well was acquired with beads (not an empty or cell tube) and with the "
        "kit named in the manifest; re-acquire the well if the beads were lost.",
    )


def _group_levels(beads: Sequence[Bead], reference: BeadReference | None) -> list[list[float]] | None:
    if reference is not None and all(b.bead_id in reference.positions for b in beads):
        return [[math.log(max(v, 1e-300)) for v in reference.positions[b.bead_id]] for b in beads]
    if all(b.levels is not None for b in beads):
        return [list(b.levels or ()) for b in beads]
    return None


def _choose_classifiers(
    combos: list[tuple[int, ...]], block: np.ndarray, groups: list[np.ndarray], kit: BeadKit
) -> tuple[tuple[int, ...], list[list[FoundPopulation]] | None]:
    """Return the candidate combination whose groups split best into the kit's populations.

    With it come the populations each group was found to hold in that combination (None when
    there was a single candidate and nothing was searched), so they are not searched again.
    """
    if len(combos) == 1:
        return combos[0], None
    scored = []
    found_in: dict[tuple[int, ...], list[list[FoundPopulation]]] = {}
    for rank, combo in enumerate(combos):
        vals = block[:, list(combo)]
        found, separation = 0, 0.0
        found_in[combo] = []
        for g, members in zip(kit.groups, groups, strict=True):
            pops, sep = find_populations(vals, members, len(g.beads))
            found_in[combo].append(pops)
            found += min(len(pops), len(g.beads))
            separation += sep
        scored.append((separation, found, -rank, combo))
    best = max(scored)[3]
    return best, found_in[best]


def _population(bead: Bead, kit: BeadKit, pop: FoundPopulation | None, reporter: np.ndarray, rep_sat: np.ndarray, extra: list[str]) -> BeadPopulation:
    flags = list(extra)
    if not kit.bead_map_verified:
        flags.append("bead_map_unverified")
    if pop is None:
        return BeadPopulation(bead.analyte, bead.analyte_reported, bead.bead_id, bead.group, 0, float("nan"),
                              float("nan"), (), ("bead_not_found", *flags))
    rep = reporter[pop.events]
    med = float(np.median(rep))
    rcv = float(100.0 * 1.4826 * np.median(np.abs(rep - med)) / abs(med)) if med != 0 else float("nan")
    if pop.events.size < kit.min_bead_count:
        flags.insert(0, "low_bead_count")
    if rep_sat[pop.events].mean() >= _SATURATED_FRACTION:
        flags.insert(0, "reporter_saturated")
    return BeadPopulation(bead.analyte, bead.analyte_reported, bead.bead_id, bead.group, int(pop.events.size),
                          med, rcv, pop.classifier_median, tuple(flags))


def _group_members(fsc: np.ndarray, ssc: np.ndarray, usable: np.ndarray, kit: BeadKit, label: str,
                   scan: ScatterScan) -> tuple[list[np.ndarray], bool]:
    """Return the event indices of each kit group (empty when absent) and whether the map was inferred."""
    scatter = find_scatter_groups(fsc, ssc, usable, len(kit.groups), scan=scan)
    if scatter.centers.shape[0] == 0:
        raise _no_beads(label, kit, "no cluster in forward/side scatter")
    ladder = [[float(i)] for i in range(len(kit.groups))]
    group_map = assign_populations(scatter.centers[:, :1], ladder, n_beads=len(kit.groups))
    members: list[np.ndarray] = []
    for gi in range(len(kit.groups)):
        modes = [k for k, b in enumerate(group_map.bead_of) if b == gi]
        members.append(np.flatnonzero(scatter.labels == modes[0]) if modes else np.empty(0, dtype=int))
    return members, group_map.inferred


def _foreign_group(members_of: list[np.ndarray], classifiers: np.ndarray, kit: BeadKit,
                   scan: ScatterScan) -> tuple[int, int] | None:
    """Return (events, populations) of a scatter group of beads the kit does not have, or None.

    A well of another kit (a 2-group LEGENDplex well read with a 1-group CBA kit) shows one
    more scatter group than the kit, about as large as the kit's own, that splits into bead
    populations; doublets and debris are smaller or do not split into tight populations. A
    mode with too few events outside the kit's groups is passed over before its robust core is
    taken: the core is a subset of the mode.
    """
    modes = scatter_modes(scan, len(kit.groups) + 1)
    if len(modes) <= len(kit.groups):
        return None
    ours = np.zeros(len(scan.usable), dtype=bool)
    for m in members_of:
        ours[m] = True
    smallest = min((int(m.size) for m in members_of if m.size), default=0)
    n_beads = max(len(g.beads) for g in kit.groups)
    need = max(_MIN_EVENTS, _FOREIGN_GROUP_SHARE * smallest)
    usable_at = np.flatnonzero(scan.usable)
    for mode in modes:
        if np.count_nonzero(~ours[usable_at[mode]]) < need:
            continue
        core, _ = scatter_core(scan, mode)
        extra = core[~ours[core]]
        if extra.size < need:
            continue
        pops, _ = find_populations(classifiers, extra, n_beads)
        if len(pops) >= 2 and sum(p.events.size for p in pops) >= _MIN_BEAD_SHARE * extra.size:
            return int(extra.size), len(pops)
    return None


def _classify_group(
    gi: int, members: np.ndarray, classifiers: np.ndarray, reporter: np.ndarray, rep_sat: np.ndarray,
    kit: BeadKit, reference: BeadReference | None, bead_label: np.ndarray, first: int,
    found: list[FoundPopulation] | None = None,
) -> list[BeadPopulation]:
    """Return the populations of group ``gi`` in kit bead order, labelling their events.

    ``found`` are the group's populations when the classifier choice already searched them.
    """
    group = kit.groups[gi]
    extra = ["group_not_found"] if members.size == 0 else []
    if found is None:
        found, _ = find_populations(classifiers, members, len(group.beads)) if members.size else ([], 0.0)
    positions = np.array([p.position for p in found], dtype=float).reshape(len(found), classifiers.shape[1])
    assignment = assign_populations(positions, _group_levels(group.beads, reference), n_beads=len(group.beads))
    if assignment.inferred and members.size:
        extra.append("bead_map_inferred")
    if assignment.ambiguous and members.size:
        extra.append("bead_map_ambiguous")
    by_bead = {b: found[i] for i, b in enumerate(assignment.bead_of) if b >= 0}
    out = []
    for bi, bead in enumerate(group.beads):
        pop = by_bead.get(bi)
        if pop is not None:
            bead_label[pop.events] = first + bi
        out.append(_population(bead, kit, pop, reporter, rep_sat, extra))
    return out


def classify_bead_well(
    events: np.ndarray,
    channels: Sequence[FcsChannel | str],
    kit: BeadKit,
    *,
    label: str,
    keywords: Mapping[str, str] | None = None,
    reference: BeadReference | None = None,
) -> BeadWellResult:
    """Return the :class:`BeadWellResult` of one well's events (``FcsData.events`` and ``.channels``).

    ``events`` are the stored values (n_events x n_channels); channels given as
    :class:`~immunolab.fcs.channels.FcsChannel` are linearised (``$PnE``, ``$PnG``), channels
    given as names are taken as linear. ``label`` names the well in errors; ``reference``
    comes from :func:`bead_reference`. Raises IML-BEAD-003 / IML-BEAD-004.
    """
    plan = plan_channels(channels, kit, label=label)
    cand_cols = sorted({c for cands in plan.classifier_candidates for c in cands})
    cols = [plan.fsc, plan.ssc, plan.reporter, *cand_cols]
    block = _linear_block(events, channels, cols, keywords or {})
    fsc, ssc, reporter = block[:, 0], block[:, 1], block[:, 2]
    finite = np.isfinite(fsc) & np.isfinite(ssc) & np.isfinite(reporter)
    sat = saturated(fsc) | saturated(ssc)
    usable = finite & ~sat & (fsc > 0) & (ssc > 0)
    if int(usable.sum()) < _MIN_EVENTS:
        raise _no_beads(label, kit, f"only {int(usable.sum())} usable events (need {_MIN_EVENTS})")
    scan = scatter_scan(fsc, ssc, usable)  # one density scan serves the kit's groups and the foreign-kit check
    members_of, groups_inferred = _group_members(fsc, ssc, usable, kit, label, scan)
    col_of = {c: 3 + i for i, c in enumerate(cand_cols)}
    combos = [tuple(col_of[c] for c in combo) for combo in itertools.product(*plan.classifier_candidates)
              if len(set(combo)) == len(combo)]
    chosen, found_of = _choose_classifiers(combos, block, members_of, kit)
    classifiers = block[:, list(chosen)]
    rep_sat = saturated(np.where(finite, reporter, -np.inf))
    populations: list[BeadPopulation] = []
    group_rows: list[ScatterGroup] = []
    bead_label = np.full(len(fsc), -1, dtype=np.int16)
    group_label = np.full(len(fsc), -1, dtype=np.int8)
    first = 0
    for gi, (group, members) in enumerate(zip(kit.groups, members_of, strict=True)):
        has = members.size > 0
        group_rows.append(ScatterGroup(group.name, has, int(members.size),
                                       float(np.median(fsc[members])) if has else float("nan"),
                                       float(np.median(ssc[members])) if has else float("nan")))
        group_label[members] = gi
        populations += _classify_group(gi, members, classifiers, reporter, rep_sat, kit, reference, bead_label, first,
                                       None if found_of is None else found_of[gi])
        first += len(group.beads)
    n_found = sum(p.found for p in populations)
    in_groups = sum(int(m.size) for m in members_of)
    in_beads = sum(p.n_events for p in populations)
    if 2 * n_found < len(populations) or in_beads < _MIN_BEAD_SHARE * in_groups:
        raise _no_beads(label, kit, f"only {n_found} of its {len(populations)} bead populations were found "
                        f"(tight classifier clusters), holding {in_beads} of the {in_groups} events in bead "
                        "scatter; the file is probably a cell tube or a well of another kit")
    foreign = _foreign_group(members_of, classifiers, kit, scan)
    if foreign is not None:
        raise _no_beads(label, kit, f"the well holds {len(kit.groups) + 1} groups of beads in forward/side scatter "
                        f"and kit {kit.kit_id} has {len(kit.groups)}: {foreign[0]} events outside the kit's groups "
                        f"form {foreign[1]} more bead populations; the well is probably of another kit", other_kit=True)
    roles = {"fsc": plan.names[plan.fsc], "ssc": plan.names[plan.ssc], "reporter": plan.names[plan.reporter]}
    for i, c in enumerate(chosen):
        roles[f"classifier{i + 1}"] = plan.names[cols[c]]
    flags = (["classifier_by_data"] if plan.classifier_by_data else []) + (["groups_inferred"] if groups_inferred else [])
    view = WellEvents(fsc.astype(np.float32), ssc.astype(np.float32), classifiers.astype(np.float32),
                      reporter.astype(np.float32), group_label, bead_label)
    return BeadWellResult(label, kit.kit_id, roles, populations, group_rows, int(finite.sum()),
                          int((sat & finite).sum()), flags, view)


def classify_fcs_file(path: str, kit: BeadKit, *, label: str | None = None, dataset: int | None = None,
                      reference: BeadReference | None = None) -> BeadWellResult:
    """Read one FCS/LMD well with :func:`immunolab.fcs.reader.read_fcs` and classify it.

    Beckman LMD files hold an FCS 2.0 and an FCS 3.0 data set; the reader picks the only FCS 3.x
    one by default (full-resolution linear data), ``dataset=`` overrides that.
    """
    from pathlib import Path

    from immunolab.fcs.reader import read_fcs

    shown = label or Path(path).name
    fcs = read_fcs(path, label=shown, dataset=dataset)
    assert fcs.events is not None
    return classify_bead_well(fcs.events, fcs.channels, kit, label=shown, keywords=fcs.keywords, reference=reference)
