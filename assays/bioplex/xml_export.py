"""Read a Bio-Plex Manager 6.x XML export (``<bpm:BioPlexManager>``) into one plate.

The XML holds three views of a run; immunolab reads them as follows:

``Samples`` (``Blanks`` / ``Controls`` / ``Standards`` / ``Unknowns``)
    Each sample has a ``Label`` (``S1``, ``X3`` ...), a ``Description``, a ``Dilution``, per
    analyte an ``ExpectedConc``, and ``MemberWells``: per well and analyte the ``Reading``
    (FI, with ``OutlierType``) and ``MWObsConc`` (with ``ReadingOK`` / ``ReadError``).
    These give one :class:`WellReading` per member well and analyte.
``Wells``
    Per acquired well the bead regions with ``RegionCount`` (bead count) and ``Median``; used
    for the bead count, and for the run facts (plate ID, acquisition time, reader serial).
``StandardCurves/Interpolators``
    One per region: ``IsValid``, regression type, ``LogisticWeighting`` (model and
    coefficients, e.g. Power Law Variance with B = 1.8) and ``EquationErr``. Curves that are
    not valid become instrument curves without parameters whose message is ``EquationErr``.

``FI - Bkgd`` is not in the XML: immunolab computes it like Bio-Plex Manager, Reading minus
the mean Reading of the blank wells for that region (the sample ``Mean`` = ``RawMean`` minus
the blank mean in the file), or the Reading itself when the plate has no blank.

Author, user, document paths and export user never leave this module.
"""

from __future__ import annotations

import contextlib
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

from immunolab_assays.bioplex.curve import PrintedCurve, instrument_curve

from immunolab.cytokine.analytes import resolve_analyte
from immunolab.cytokine.curves import StandardCurve
from immunolab.cytokine.plate import Plate
from immunolab.cytokine.plate_builder import plate_from_readings
from immunolab.cytokine.readings import WellReading
from immunolab.errors import InconsistentInputError, MalformedInputError
from immunolab.io.tokens import (
    FLAG_NOT_AVAILABLE,
    FLAG_OUTLIER,
    ReportedConc,
    cell_text,
)

__all__ = ["XML_NAMESPACE", "read_bioplex_xml"]

XML_NAMESPACE = "http://www.Bio-Rad.com/XMLschema/2010/Bio-Plex_5"
_SAMPLE_GROUPS = {
    "Blanks": ("Blank", "blank"),
    "Controls": ("Control", "control"),
    "Standards": ("Standard", "standard"),
    "Unknowns": ("Unknown", "unknown"),
}


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(el: Any, name: str) -> Any:
    if el is None:
        return None
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _children(el: Any, name: str) -> list[Any]:
    return [c for c in el if _local(c.tag) == name] if el is not None else []


def _text(el: Any) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _float(text: str | None, *, label: str, where: str) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise MalformedInputError(
            "IML-CYT-003", f"{where} is not a number", path=label,
            hint="The XML was probably edited by hand; export it again from Bio-Plex Manager.",
        ) from None
    if math.isnan(value) or math.isinf(value):
        return None
    return value


def _int_attr(el: Any, name: str, *, label: str, where: str) -> int:
    raw = el.get(name)
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise MalformedInputError(
            "IML-CYT-001", f"{where} lacks a numeric {name} attribute", path=label,
            hint="The XML was probably edited by hand; export it again from Bio-Plex Manager.",
        ) from None


def _well_name(row: int, col: int, *, label: str, where: str) -> str:
    if not (1 <= row <= 16 and 1 <= col <= 24):
        raise MalformedInputError(
            "IML-CYT-001", f"{where} names row {row} column {col}, outside a 384-well plate", path=label,
            hint="The XML was probably edited by hand; export it again from Bio-Plex Manager.",
        )
    return f"{chr(ord('A') + row - 1)}{col}"


def _parse_tree(path: Path, label: str) -> Any:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        return etree.parse(str(path), parser).getroot()
    except (etree.XMLSyntaxError, OSError) as exc:
        raise MalformedInputError(
            "IML-CYT-001", f"the XML cannot be parsed ({type(exc).__name__})", path=label,
            hint="The file is truncated or damaged; export it again from Bio-Plex Manager.",
        ) from None


def _run_facts(root: Any, label: str) -> tuple[dict[str, Any], dict[str, dict[int, int]]]:
    facts: dict[str, Any] = {}
    bead_counts: dict[str, dict[int, int]] = {}
    plate_ids: set[str] = set()
    dates: list[date] = []
    for well in _children(_child(root, "Wells"), "Well"):
        where = "a <Well> element"
        name = _well_name(_int_attr(well, "RowNo", label=label, where=where),
                          _int_attr(well, "ColNo", label=label, where=where), label=label, where=where)
        if (pid := _text(_child(well, "PlateID"))) is not None:
            plate_ids.add(pid)
        acq = _text(_child(well, "AcquisitionTime"))
        if acq:
            with contextlib.suppress(ValueError):
                dates.append(datetime.fromisoformat(acq.replace("Z", "+00:00")).date())
        machine = _child(well, "MachineInfo")
        if machine is not None and "serial" not in facts:
            facts["serial"] = _text(_child(machine, "SerialNumber"))
        counts: dict[int, int] = {}
        for region in _children(_child(well, "BeadRegions"), "BeadRegion"):
            number = _int_attr(region, "RegionNumber", label=label, where=f"well {name} <BeadRegion>")
            count = _float(_text(_child(region, "RegionCount")), label=label, where=f"well {name} RegionCount")
            if count is not None:
                counts[number] = round(count)
        bead_counts[name] = counts
    if len(plate_ids) > 1:
        raise InconsistentInputError(
            "IML-CYT-004", f"the XML holds wells of {len(plate_ids)} different plates", path=label,
            hint="Export each plate to its own XML file from Bio-Plex Manager.",
        )
    facts["run_date"] = min(dates) if dates else None
    return facts, bead_counts


def _curves(root: Any, label: str) -> dict[int, PrintedCurve]:
    curves: dict[int, PrintedCurve] = {}
    interpolators = _child(_child(root, "StandardCurves"), "Interpolators")
    for it in _children(interpolators, "Interpolator"):
        region = _int_attr(it, "RegionNumber", label=label, where="an <Interpolator>")
        weighting_el = _child(it, "LogisticWeighting")
        weighting = None
        if weighting_el is not None:
            model = _text(_child(weighting_el, "LogisticWeightingModel"))
            coef_a = _text(_child(weighting_el, "LogisticWeightingCoefficientA"))
            coef_b = _text(_child(weighting_el, "LogisticWeightingCoefficientB"))
            parts = [model or "unknown"]
            for letter, raw in (("A", coef_a), ("B", coef_b)):
                value = _float(raw, label=label, where=f"region {region} weighting coefficient {letter}")
                if value is not None:
                    parts.append(f"{letter}={value:g}")
            weighting = " ".join(parts)
        valid = (it.get("IsValid") or "").lower() == "true"
        error = _text(_child(it, "EquationErr"))
        message = error if not valid else "valid curve in XML; its parameters are not exported in a documented form"
        curves[region] = PrintedCurve(
            analyte_reported=_text(_child(it, "AnalyteName")) or f"Region {region}",
            regression=_text(_child(it, "Regression")),
            a=None, b=None, c=None, d=None, f=None,
            weighting=weighting, valid=False, message=message,
        )
    return curves


#: top-level elements of a Bio-Plex Manager 6.x XML export (others are named in a warning)
KNOWN_SECTIONS = frozenset({
    "AuthorName", "NativeDocumentName", "NativeDocumentLocation", "AssayLotID", "Description",
    "PlateDimensions", "Wells", "NormalizationSettings", "StandardCurves", "Samples",
})


def _reading(mwa: Any, *, code: str, sample_type: str, sample: dict[str, Any], well: str, label: str) -> tuple[WellReading, int]:
    """Return the reading of one ``<MWAnalyte>`` of a member well and its bead region."""
    region = _int_attr(mwa, "RegionNumber", label=label, where=f"well {well} <MWAnalyte>")
    reading_el = _child(mwa, "Reading")
    fi = _float(_text(reading_el), label=label, where=f"well {well} region {region} Reading")
    flags: list[str] = []
    if reading_el is not None:
        if (reading_el.get("OutlierType") or "None") != "None":
            flags.append(FLAG_OUTLIER)
        if (reading_el.get("Valid") or "true").lower() != "true":
            flags.append("invalid_reading")
    reading = WellReading(
        well=well, type_code=code, sample_type=sample_type,
        sample_name=sample["description"] or code,
        analyte_reported=_text(_child(mwa, "AnalyteName")) or f"Region {region}",
        signal=fi, net_signal=None,
        bead_count=sample["bead_counts"].get(well, {}).get(region),
        dilution=sample["dilution"], expected_conc=sample["expected"].get(region) or None,  # 0 = never entered
        reported=_mw_obs_conc(_child(mwa, "MWObsConc"), label=label, where=f"well {well} region {region}"),
        qc_flags=flags,
    )
    return reading, region


def _sample_readings(sample: Any, sample_type: str, bead_counts: dict[str, dict[int, int]], label: str) -> list[tuple[WellReading, int]]:
    """Return (reading, region) for every member well x analyte of one ``<Samples>`` entry."""
    code = (_text(_child(sample, "Label")) or "").upper()
    facts: dict[str, Any] = {
        "description": _text(_child(sample, "Description")),
        "dilution": _float(_text(_child(sample, "Dilution")), label=label, where=f"sample {code} Dilution"),
        "expected": {},
        "bead_counts": bead_counts,
    }
    for an in _children(_child(sample, "Analytes"), "Analyte"):
        region = _int_attr(an, "RegionNumber", label=label, where=f"sample {code} <Analyte>")
        facts["expected"][region] = _float(_text(_child(an, "ExpectedConc")), label=label,
                                           where=f"sample {code} region {region} ExpectedConc")
    out = []
    for mw in _children(_child(sample, "MemberWells"), "MemberWell"):
        where = f"sample {code} <MemberWell>"
        well = _well_name(_int_attr(mw, "RowNo", label=label, where=where),
                          _int_attr(mw, "ColNo", label=label, where=where), label=label, where=where)
        for mwa in _children(_child(mw, "MWAnalytes"), "MWAnalyte"):
            out.append(_reading(mwa, code=code, sample_type=sample_type, sample=facts, well=well, label=label))
    return out


def _all_readings(samples: Any, bead_counts: dict[str, dict[int, int]], label: str) -> list[tuple[WellReading, int]]:
    """Return every member-well reading with its region; FI - Bkgd = FI - mean blank FI of the region."""
    pending: list[tuple[WellReading, int]] = []
    seen: set[tuple[str, int]] = set()
    for group_name, (item_name, sample_type) in _SAMPLE_GROUPS.items():
        for sample in _children(_child(samples, group_name), item_name):
            for reading, region in _sample_readings(sample, sample_type, bead_counts, label):
                if (reading.well, region) in seen:
                    raise InconsistentInputError(
                        "IML-CYT-004", f"well {reading.well} region {region} appears twice", path=label,
                        hint="Export the plate again from Bio-Plex Manager.",
                    )
                seen.add((reading.well, region))
                pending.append((reading, region))
    blanks: dict[int, list[float]] = {}
    for reading, region in pending:
        if reading.sample_type == "blank" and reading.signal is not None:
            blanks.setdefault(region, []).append(reading.signal)
    for reading, region in pending:
        if reading.signal is not None:
            reading.net_signal = reading.signal - (sum(blanks[region]) / len(blanks[region]) if region in blanks else 0.0)
    return pending


def _document(path: Path, label: str) -> tuple[Any, Any]:
    """Return (root, ``<Samples>``) of a Bio-Plex Manager XML export, or raise IML-CYT-001 / -002."""
    root = _parse_tree(path, label)
    if _local(root.tag) != "BioPlexManager":
        raise MalformedInputError(
            "IML-CYT-001", "the XML root is not a Bio-Plex Manager document", path=label,
            hint="Export the plate from Bio-Plex Manager with 'Export > XML'.",
        )
    samples = _child(root, "Samples")
    if samples is None:
        raise MalformedInputError(
            "IML-CYT-002", "the XML has no <Samples> section", path=label,
            hint="Export the plate again from Bio-Plex Manager including the sample results.",
        )
    return root, samples


def read_bioplex_xml(path: Path, label: str) -> Plate:
    """Return the plate of a Bio-Plex Manager XML export (readings per member well and analyte).

    Raises IML-CYT-001 (not parseable / not a Bio-Plex Manager document), IML-CYT-002 (no
    ``Samples`` readings), IML-CYT-003 (bad number), IML-CYT-004 (a well twice). Top-level
    sections immunolab does not know are named in the plate's warnings.
    """
    root, samples = _document(path, label)
    facts, bead_counts = _run_facts(root, label)
    curves = _curves(root, label)
    pending = _all_readings(samples, bead_counts, label)
    if not pending:
        raise MalformedInputError(
            "IML-CYT-002", "the XML <Samples> section holds no member-well readings", path=label,
            hint="Export the plate again from Bio-Plex Manager including the sample results.",
        )
    readings = [r for r, _ in pending]
    warnings = [f"XML section <{name}> is not one immunolab knows; not read"
                for name in dict.fromkeys(_local(c.tag) for c in root) if name and name not in KNOWN_SECTIONS]
    blank_regions = {rg for r, rg in pending if r.sample_type == "blank" and r.signal is not None}
    printed: dict[str, StandardCurve] = {}
    for region, curve in curves.items():
        printed[curve.analyte_reported] = instrument_curve(curve, resolve_analyte(curve.analyte_reported).canonical)
        if region not in blank_regions and any(rg == region for _, rg in pending):
            warnings.append(f"no blank well for region {region}; FI - Bkgd = FI")
    missing = sorted({r.well for r in readings if r.bead_count is None})
    if missing:
        warnings.append(f"{len(missing)} well(s) have no <Well> bead data; bead count left empty")
    return plate_from_readings(
        readings, label=label, plate_index=1, curves=printed, software="Bio-Plex Manager",
        software_version=root.get("BioPlexManagerVersion"), layout="xml", instrument="Bio-Plex / Luminex reader",
        instrument_serial=facts.get("serial"), run_date=facts.get("run_date"), warnings=warnings,
        facts={"workbook": "xml", "n_curves": len(curves), "n_valid_curves": 0},
    )


def _mw_obs_conc(el: Any, *, label: str, where: str) -> ReportedConc:
    if el is None:
        return ReportedConc(None, None, None)
    ok = (el.get("ReadingOK") or "true").lower() == "true"
    if not ok:
        return ReportedConc(cell_text(el.get("ReadError")) or "not available", None, FLAG_NOT_AVAILABLE)
    text = _text(el)
    return ReportedConc(text, _float(text, label=label, where=f"{where} MWObsConc"), None)
