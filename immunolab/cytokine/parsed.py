"""Build a plate plugin's :class:`~immunolab.plugins.ParsedAssay` (facts only) from parsed plates.

Usage inside a plugin's ``parse``::

    data = path.read_bytes()
    plates = parse_xponent_bytes(data, label=ctx.label, options=ctx.options)
    return parsed_assay_from_plates(plates, data=data, ctx=ctx, export_format="xponent")

It enforces ``require_known_analytes`` (``IML-CYT-008``) and returns the fact tables
(:func:`immunolab.cytokine.facts.plate_fact_tables`), the readers' own well flags included
(``cytokine_wells.reader_flags``), their PHI-free warnings and the recognised layouts. Curves, concentrations and QC are
derivations the core computes afterwards (:mod:`immunolab.derive.curves`), with the settings of
:class:`~immunolab.cytokine.assemble.PlateSettings`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from immunolab.cytokine.assemble import PlateSettings
from immunolab.cytokine.facts import plate_fact_tables
from immunolab.cytokine.plate import Plate
from immunolab.errors import InputError
from immunolab.plugins import ParseContext, ParsedAssay
from immunolab.redact import STUDY_DAY_WARNING, STUDY_DAY_WINDOW, in_study_window

__all__ = ["parsed_assay_from_plates", "settings_from_options"]


def settings_from_options(options: Mapping[str, Any], *, label: str | None = None) -> PlateSettings:
    """Return the plate analysis settings of ``options`` or raise IML-CYT-009."""
    try:
        return PlateSettings.from_options(options)
    except (ValueError, TypeError) as exc:
        raise InputError(
            "IML-CYT-009", f"invalid plate analysis option: {exc}", path=label,
            hint="Fix the option (see `immunolab ingest --help` / `immunolab derive curves --help`) and run again.",
        ) from None


#: warning code of a plate whose export leaves analytes' units blank
BLANK_UNIT_CODE = "IML-CYT-011"
_CODE = re.compile(r"^(IML-[A-Z]+-\d{3})\s+")


def _blank_unit_warning(plate: Plate) -> str:
    """Return the ``IML-CYT-011`` warning of a plate whose export leaves analytes' units blank."""
    blank = sorted(a for a, u in plate.units.items() if u == "")
    shown = ", ".join(blank[:8]) + (" ..." if len(blank) > 8 else "")
    return (f"{BLANK_UNIT_CODE} plate {plate.plate_index}: the export gives no concentration unit for {len(blank)} "
            f"analyte(s) ({shown}); their concentrations are stored as printed with an empty unit (flag unit_missing), "
            "not assumed pg/mL. Set the units in the instrument protocol and re-export to compare them with other plates.")


def _plate_warning(index: int, text: str) -> str:
    """Return a reader's plate warning prefixed by its plate, its own code (if any) kept first."""
    match = _CODE.match(text)
    if match:
        return f"{match.group(1)} plate {index}: {text[match.end():]}"
    return f"plate {index}: {text}"


def parsed_assay_from_plates(plates: Sequence[Plate], *, data: bytes, ctx: ParseContext, export_format: str) -> ParsedAssay:
    """Return the :class:`ParsedAssay` (plate fact tables) of the plates of one file."""
    if ctx.option("require_known_analytes", False):
        for plate in plates:
            unknown = sorted(set(plate.wells.loc[~plate.wells["analyte_known"].astype(bool), "analyte_reported"]))
            if unknown:
                raise InputError(
                    "IML-CYT-008", f"plate {plate.plate_index} names analytes with no canonical mapping: {', '.join(unknown)}",
                    path=ctx.label,
                    hint="Rename them in the instrument protocol, or ingest without --require-known-analytes.",
                )
    source_id = ctx.source_sha256 or hashlib.sha256(data).hexdigest()
    far: list[int] = []

    def study_day(d: date) -> int | None:  # a day far outside the trial gives the date away: left empty
        day = ctx.study_day(d)
        if day is not None and not in_study_window(day):
            far.append(day)
            return None
        return day

    tables = plate_fact_tables(plates, source_id=source_id, export_format=export_format, study_day=study_day)
    warnings = [_plate_warning(p.plate_index, w) for p in plates for w in p.warnings]
    if far:
        low, high = STUDY_DAY_WINDOW
        warnings.append(f"{STUDY_DAY_WARNING} the run date of {len(far)} plate(s) lies outside study days {low} to {high}: "
                        "run_study_day is left empty (such a day would give the date away; check the instrument "
                        "PC's clock and the subjects' day0_date)")
    warnings.extend(_blank_unit_warning(p) for p in plates if any(u == "" for u in p.units.values()))
    metadata = {
        "format": export_format,
        "n_plates": len(plates),
        "n_wells": int(sum(p.wells["well"].nunique() for p in plates)),
        "analytes": sorted({str(a) for p in plates for a in p.wells["analyte"].unique()}),
        "layouts": sorted({p.layout for p in plates if p.layout}),
        "software": sorted({p.software for p in plates if p.software}),
        "software_versions": sorted({p.software_version for p in plates if p.software_version}),
        "n_instrument_curves": sum(len(p.instrument_curves) for p in plates),
        "standards_repaired": sorted({a for p in plates for a in p.standards_repair}),
    }
    return ParsedAssay(tables=tables, metadata=metadata, warnings=warnings)
