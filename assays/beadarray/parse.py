"""Turn one classified bead-array well into cytokine plate facts (see the package docstring)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from immunolab.errors import InconsistentInputError, InputError
from immunolab.plugins import ParseContext, ParsedAssay

__all__ = ["RUN_PREFIX", "parse_bead_well", "well_role"]

RUN_PREFIX = "run:"
#: a well's beads not all found or not matched unambiguously (a warning)
_BEADS_WARN = "IML-BEAD-006"


def _value(ctx: ParseContext, column: str) -> str | None:
    entry = ctx.entry
    return entry.get(column) if entry is not None else None


def _kits() -> str:
    from immunolab.beads import available_kits

    return f"a kit is a YAML path or one of the shipped {', '.join(available_kits())}."


def _bad(ctx: ParseContext, problem: str, hint: str) -> InconsistentInputError:
    return InconsistentInputError("IML-BEAD-005", problem, path=ctx.label, hint=hint)


def well_role(ctx: ParseContext) -> Any:
    """Return the :class:`immunolab.beads.WellRole` the manifest row gives this well."""
    from immunolab.beads import WellRole

    role = (_value(ctx, "role") or "").strip().lower()
    well = _value(ctx, "well")
    replicate = int(float(_value(ctx, "replicate") or 1))
    try:
        dilution = float(_value(ctx, "dilution") or 1)
    except ValueError:
        raise _bad(ctx, "the manifest's dilution is not a number", "Give the dilution factor, e.g. 2.") from None
    if role == "standard":
        level = _value(ctx, "standard_level")
        if level is None or not level.strip().isdigit():
            raise _bad(ctx, "a standard well needs its standard_level (0 = the blank C0)",
                       "Fill the manifest's standard_level column for standard wells.")
        return WellRole.standard(int(level), replicate=replicate, well=well)
    # the well holds an aliquot of a manifest sample (its replicate wells name the same one), else it is its own sample
    sample = (_value(ctx, "aliquot_of") or ctx.entry.sample_id) if ctx.entry is not None else None
    if role == "control":
        return WellRole.control(sample or "Control1", dilution=dilution, replicate=replicate, well=well)
    if role in ("sample", ""):
        if not sample:
            raise _bad(ctx, "a sample well needs its sample_id", "Give the sample's id in the manifest.")
        if not _value(ctx, "aliquot_of") and ctx.entry is not None and not ctx.entry.is_patient_sample:
            lacks = " and ".join(c for c, v in (("patient_id", ctx.entry.patient_id), ("visit_day", ctx.entry.visit_day))
                                 if v is None)
            raise _bad(ctx, f"the manifest row of this sample well has no {lacks} and no aliquot_of",
                       "Give the row its patient_id and visit_day, or name the manifest sample_id the well holds an "
                       "aliquot of in its aliquot_of column (or set role to standard or control).")
        return WellRole.sample(sample, dilution=dilution, replicate=replicate, well=well)
    raise _bad(ctx, f"role {role!r} is not standard, sample or control", "Correct the manifest's role column.")


def parse_bead_well(path: Path, ctx: ParseContext, *, plugin_version: str) -> ParsedAssay:
    """Return the facts of one bead well: a ``cytokine_plates`` row of its run and one well row per analyte."""
    from immunolab.beads import bead_plate, classify_bead_well, load_kit
    from immunolab.cytokine.parsed import parsed_assay_from_plates
    from immunolab.fcs.reader import read_fcs

    named = _value(ctx, "kit") or ctx.option("bead_kit")
    kit_name = named or ctx.panel
    if not kit_name:
        raise _bad(ctx, "no bead kit is named for this well", f"Add a kit column to the manifest, or pass --bead-kit; {_kits()}")
    try:
        kit = load_kit(kit_name)
    except InputError as exc:
        if named or exc.code != "IML-BEAD-002":
            raise
        raise InputError("IML-BEAD-002", f"the manifest's kit column is empty for this well, so its panel '{kit_name}' "
                         "was taken as the kit name, and no bead kit of that name is shipped", path=ctx.label,
                         hint=f"Name the well's kit in the manifest's kit column, or pass --bead-kit KIT for the wells "
                         f"without one; {_kits()}") from None
    run = _value(ctx, "run")
    if not run:
        raise _bad(ctx, "the well's run (plate) is not named", "Add a run column to the manifest, e.g. BEADRUN-01.")
    role = well_role(ctx)
    # read here (not through classify_fcs_file) so the reader's warnings and tolerances reach the
    # terminal and the audit record: e.g. which data set of a Beckman LMD file was read (IML-FCS-018)
    fcs = read_fcs(path, label=ctx.label, dataset=ctx.option("dataset"))
    assert fcs.events is not None
    result = classify_bead_well(fcs.events, fcs.channels, kit, label=ctx.label, keywords=fcs.keywords)
    plate = bead_plate([result], [role], kit, label=ctx.label)
    parsed = parsed_assay_from_plates([plate], data=b"", ctx=ctx, export_format="bead_array_fcs")
    pid = f"{RUN_PREFIX}{run}"
    for name in ("cytokine_plates", "cytokine_wells"):
        t = parsed.tables[name]
        t = t.set_column(t.schema.get_field_index("plate_id"), "plate_id", pa.array([pid] * t.num_rows, pa.string()))
        parsed.tables[name] = t
    flags = {pop.analyte: list(pop.flags) for pop in result.populations}
    wells = parsed.tables["cytokine_wells"]
    merged = [sorted({*(f or []), *flags.get(a, [])}) for f, a in zip(wells.column("reader_flags").to_pylist(),
                                                                    wells.column("analyte").to_pylist(), strict=True)]
    parsed.tables["cytokine_wells"] = wells.set_column(wells.schema.get_field_index("reader_flags"), "reader_flags",
                                                       pa.array(merged, pa.list_(pa.string())))
    parsed.metadata.update({"kit": kit.kit_id, "run": run, "role": role.kind, "bead_flags": sorted(set(result.flags)),
                            "plugin_version": plugin_version, "dataset_index": fcs.dataset_index,
                            "n_datasets": fcs.n_datasets, "tolerances": list(fcs.tolerances)})
    parsed.n_events = int(result.n_events)
    parsed.warnings.extend([*fcs.warnings, *(f"tolerance applied: {t}" for t in fcs.tolerances)])
    parsed.warnings.extend(f"well: {f}" for f in result.flags)
    parsed.warnings.extend(_bead_warnings(result))
    return parsed


def _bead_warnings(result: Any) -> list[str]:
    """Return the coded warnings (IML-BEAD-006) of a well whose beads were not all found or matched."""
    pops = result.populations
    missing = [p.analyte for p in pops if "bead_not_found" in p.flags]
    ambiguous = [p.analyte for p in pops if "bead_map_ambiguous" in p.flags and "bead_not_found" not in p.flags]
    out = []
    if missing:
        out.append(f"{_BEADS_WARN} {len(missing)} of {len(pops)} analytes have no bead population "
                   f"(bead_not_found: {', '.join(missing)}); they get no MFI. Check the kit named for the well "
                   "and that every bead was added")
    if ambiguous:
        out.append(f"{_BEADS_WARN} which population is which bead is ambiguous for {len(ambiguous)} of {len(pops)} "
                   f"analytes (bead_map_ambiguous: {', '.join(ambiguous)}); their MFIs may belong to other analytes. "
                   "Check the kit named for the well, or classify the run with a bead reference")
    return out
