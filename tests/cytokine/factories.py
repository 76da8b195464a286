"""Factories for xPONENT / INTELLIFLEX plate exports: valid plates with known curves, format
variants as labs produce them, and at least 150 malformed variants for the error tests."""

from __future__ import annotations

import csv
import io
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from immunolab.cytokine.curves import logistic
from immunolab.demo.xponent_writer import (
    WellRecord,
    XponentExport,
    format_number,
    render_xponent_csv,
)

ROWS = "ABCDEFGH"
VISITS = (0, 3, 6, 10, 14, 28, 90, 180)


def trial_samples(n_patients: int) -> pd.DataFrame:
    """Return serum samples of ``n_patients`` patients (arms alternate) at every visit."""
    rows = []
    for p in range(1, n_patients + 1):
        for day in VISITS:
            rows.append((f"{p:03d}", "MSC" if p % 2 else "control", day, f"S{len(rows) + 1:04d}"))
    return pd.DataFrame(rows, columns=["patient_id", "arm", "visit_day", "sample_name"])



@dataclass
class PlateSpec:
    """Known truth behind a factory plate: 5PL parameters and concentrations (pg/mL)."""

    analytes: list[str] = field(default_factory=lambda: ["IL-6 (25)", "TNF-a (45)", "IL-10 (22)"])
    params: list[tuple[float, float, float, float, float]] = field(
        default_factory=lambda: [(5.0, 21000.0, 900.0, -1.1, 0.8), (8.0, 24000.0, 1100.0, -1.15, 0.75), (3.0, 18000.0, 1400.0, -1.05, 0.9)]
    )
    top_standard: float = 10000.0
    n_standards: int = 7
    step: float = 4.0
    sample_conc: list[list[float]] = field(default_factory=lambda: [[50.0, 20.0, 8.0], [500.0, 150.0, 2.0], [1.0, 3000.0, 90.0], [12.0, 0.2, 400.0]])
    dilution: float = 2.0
    noise: float = 0.0
    background: float = 12.0
    sample_names: list[str] = field(default_factory=lambda: ["S0001", "S0002", "S0003", "S0004"])
    run_start: datetime = field(default_factory=lambda: datetime(2020, 12, 1, 14, 5, 0))
    plate_number: int = 1
    instrument: str = "FLEXMAP 3D"
    with_results: bool = True
    round_mfi: bool = True  # xPONENT prints medians to 0.5 MFI; False keeps them exact
    print_curves: bool = False  # add the Net MFI curves (0, B - A, C, D, F) as "Std. Curve" rows

    @property
    def standards(self) -> list[float]:
        """Return the standard concentrations, highest first (pg/mL)."""
        return [self.top_standard / self.step**k for k in range(self.n_standards)]


def build_export(spec: PlateSpec | None = None, *, seed: int = 0, decimal: str = ".") -> XponentExport:
    """Return an :class:`XponentExport` whose MFIs follow ``spec`` (noise-free unless spec.noise)."""
    s = spec or PlateSpec()
    rng = np.random.default_rng(seed)
    layout: list[tuple[str, list[float], float | None, bool]] = [("Background0", [0.0] * len(s.analytes), None, False)] * 2
    for k, conc in enumerate(s.standards, start=1):
        layout += [(f"Standard{k}", [conc] * len(s.analytes), 1.0, True)] * 2
    layout += [("Control1", [s.top_standard / 100.0] * len(s.analytes), 1.0, True)] * 2
    for name, concs in zip(s.sample_names, s.sample_conc, strict=True):
        layout += [(name, [c / s.dilution for c in concs], s.dilution, False)] * 2
    medians = np.zeros((len(layout), len(s.analytes)))
    for i, (_name, concs, _dil, _exp) in enumerate(layout):
        for j, p in enumerate(s.params):
            y = float(logistic(np.array([concs[j]]), *p)[0]) if concs[j] > 0 else p[0]
            if s.noise:
                y *= 1.0 + s.noise * rng.standard_normal()
            medians[i, j] = round(2.0 * (s.background + y)) / 2.0 if s.round_mfi else s.background + y
    bg = medians[:2].mean(axis=0)
    net = medians - bg
    wells = []
    for i, (name, concs, dil, has_expected) in enumerate(layout):
        results = None
        if s.with_results:
            results = []
            for j, p in enumerate(s.params):
                a, b, c, d, f = p
                y = net[i, j]
                if y <= a:
                    results.append(f"< {format_number(s.standards[-1], decimals=2, decimal=decimal)}")
                elif y >= b:
                    results.append(f"> {format_number(s.standards[0], decimals=2, decimal=decimal)}")
                else:
                    x = c * (((b - a) / (y - a)) ** (1 / f) - 1) ** (1 / d) * (dil or 1.0)
                    results.append(format_number(x, decimals=2, decimal=decimal))
        wells.append(
            WellRecord(
                well=f"{ROWS[i % 8]}{i // 8 + 1}", sample=name, dilution=dil, median=list(medians[i]),
                net_mfi=list(net[i]), count=[int(v) for v in rng.integers(55, 100, len(s.analytes))],
                result=results, expected=list(concs) if has_expected else None,
            )
        )
    return XponentExport(
        analytes=list(s.analytes), bead_regions=[int(re.sub(r"\D", "", a) or 0) for a in s.analytes], wells=wells,
        instrument=s.instrument, serial="FM3DD00000001", batch="PLATE_TEST", protocol="Test kit",
        run_start=s.run_start, plate_number=s.plate_number,
        curves={
            name: f"A=0; B={b - a:.8g}; C={c:.8g}; D={d:.8g}; E={f:.8g}; R^2=1"
            for name, (a, b, c, d, f) in zip(s.analytes, s.params, strict=True)
        } if s.print_curves else {},
        control_ranges={("Control1", a): (s.top_standard / 100.0 * 0.7, s.top_standard / 100.0 * 1.3) for a in s.analytes},
    )


def plate_text(spec: PlateSpec | None = None, *, seed: int = 0, quote_all: bool = True, delimiter: str = ",", decimal: str = ".") -> str:
    """Return the CSV text of a factory plate."""
    return render_xponent_csv(build_export(spec, seed=seed, decimal=decimal), quote_all=quote_all, delimiter=delimiter, decimal=decimal)


def excel_resaved(text: str, *, width: int | None = None) -> str:
    """Return ``text`` as Excel re-saves it: unquoted where possible, rows padded with empty cells."""
    rows = list(csv.reader(io.StringIO(text)))
    n = width or max(len(r) for r in rows)
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    for r in rows:
        w.writerow(r + [""] * (n - len(r)))
    return buf.getvalue()


def _lines(text: str) -> list[str]:
    return text.splitlines()


def _join(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _section_span(lines: list[str], name: str) -> tuple[int, int]:
    """Return (index of the DataType row, index after the last data row) of section ``name``."""
    start = next(i for i, ln in enumerate(lines) if ln.startswith('"DataType:"') and f'"{name}"' in ln)
    end = start + 1
    while end < len(lines) and lines[end].strip():
        end += 1
    return start, end


def _replace_cell(line: str, col: int, value: str) -> str:
    cells = next(csv.reader([line]))
    cells[col] = value
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="").writerow(cells)
    return buf.getvalue()


BAD_NUMBERS = ("12a", "1..2", "abc", "--5", "1e", "0x1F", "1,2,3", "12 34")
WELL_SECTIONS = ("Median", "Net MFI", "Count", "Result", "Dilution Factor")


def malformed_exports(seed: int = 7) -> Iterator[tuple[str, bytes]]:
    """Yield (variant name, file bytes) of malformed xPONENT exports; at least 150 of them."""
    rnd = random.Random(seed)
    base = plate_text()
    lines = _lines(base)
    data = base.encode("utf-8")
    # 1. cut files: trailer lost, sections cut mid-way (40 cut points)
    for k in range(1, 41):
        cut = int(len(data) * k / 41)
        yield f"cut_at_{k}_of_41", data[:cut]
    # 2. a well section keeps its header but loses its body (5)
    for name in WELL_SECTIONS:
        s, e = _section_span(lines, name)
        yield f"empty_body_{name}", _join(lines[: s + 2] + lines[e:])
    # 3. rows missing from a well section (5 sections x 4 rows)
    for name in WELL_SECTIONS:
        s, e = _section_span(lines, name)
        for r in rnd.sample(range(s + 2, e), 4):
            yield f"row_missing_{name}_{r}", _join(lines[:r] + lines[r + 1 :])
    # 4. bad numbers in MFI / count / dilution / expected cells (5 sections x 8 tokens)
    for name in ("Median", "Net MFI", "Count", "Dilution Factor", "Expected Result"):
        s, e = _section_span(lines, name)
        for token in BAD_NUMBERS:
            r = rnd.randrange(s + 2, e)
            if name == "Expected Result":
                r = next(i for i in range(s + 2, e) if "Standard" in lines[i])
            new = list(lines)
            new[r] = _replace_cell(lines[r], 2, token)
            yield f"bad_number_{name}_{token}", _join(new)
    # 5. impossible values: negative counts, zero / negative dilutions (6)
    for name, token in (("Count", "-3"), ("Count", "-0.5"), ("Dilution Factor", "0"), ("Dilution Factor", "-2"),
                        ("Count", "-100"), ("Dilution Factor", "-0.1")):
        s, e = _section_span(lines, name)
        new = list(lines)
        r = s + 4
        new[r] = _replace_cell(lines[r], 2, token)
        yield f"impossible_{name}_{token}", _join(new)
    # 6. duplicate wells: a row repeated, or a location reused (5 sections x 2)
    for name in WELL_SECTIONS:
        s, e = _section_span(lines, name)
        r = rnd.randrange(s + 2, e)
        yield f"duplicate_row_{name}", _join([*lines[: r + 1], lines[r], *lines[r + 1 :]])
        new = list(lines)
        other = next(c for c in next(csv.reader([lines[s + 2]]))[:1])
        new[e - 1] = _replace_cell(lines[e - 1], 0, other)
        yield f"reused_location_{name}", _join(new)
    # 7. duplicated sections and duplicated analyte columns (5 + 4)
    for name in ("Median", "Count", "Net MFI", "Result", "Units"):
        s, e = _section_span(lines, name)
        yield f"duplicate_section_{name}", _join([*lines[:e], "", *lines[s:e], *lines[e:]])
    for i, j in ((2, 3), (3, 2), (2, 4), (4, 3)):
        s, _e = _section_span(lines, "Median")
        new = list(lines)
        cells = next(csv.reader([lines[s + 1]]))
        new[s + 1] = _replace_cell(lines[s + 1], j, cells[i])
        yield f"duplicate_analyte_{i}_{j}", _join(new)
    # 8. unreadable locations (6 tokens x 2 sections)
    for name in ("Median", "Count"):
        s, e = _section_span(lines, name)
        for token in ("1(1,Z99)", "A0", "", "x", "1(1,A25)", "(1,A1"):
            new = list(lines)
            r = rnd.randrange(s + 2, e)
            new[r] = _replace_cell(lines[r], 0, token)
            yield f"bad_location_{name}_{token or 'empty'}", _join(new)
    # 9. missing standards: all standard wells gone, or their expected concentrations (4)
    std_free = [ln for ln in lines if "Standard" not in ln or ln.startswith('"DataType:"')]
    yield "no_standard_wells", _join(std_free)
    s, e = _section_span(lines, "Expected Result")
    yield "no_expected_concentrations", _join(lines[:s] + lines[e + 1 :])
    two_levels = [ln for ln in lines if not re.search(r'"Standard[3-7]"', ln)]
    yield "two_standard_levels_only", _join(two_levels)
    flat = list(lines)
    s, e = _section_span(lines, "Net MFI")
    for r in range(s + 2, e):
        if "Standard" in flat[r]:
            cells = next(csv.reader([flat[r]]))
            for c in range(2, len(cells) - 1):
                cells[c] = "100"
            buf = io.StringIO()
            csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="").writerow(cells)
            flat[r] = buf.getvalue()
    yield "flat_standards", _join(flat)
    # 10. header rows lost or moved (5 + 5)
    for name in WELL_SECTIONS:
        s, e = _section_span(lines, name)
        yield f"header_row_missing_{name}", _join(lines[: s + 1] + lines[s + 2 :])
        yield f"header_row_moved_{name}", _join([*lines[: s + 1], *lines[s + 2 : e], lines[s + 1], *lines[e:]])
    # 11. a section names an analyte the Median lacks (3)
    for name in ("Count", "Net MFI", "Result"):
        s, _e = _section_span(lines, name)
        new = list(lines)
        new[s + 1] = _replace_cell(lines[s + 1], 2, "IL-99 (77)")
        yield f"foreign_analyte_{name}", _join(new)
    # 12. empty, blank, binary, not xPONENT at all (5)
    yield "empty", b""
    yield "blank_lines", b"\r\n\r\n  \r\n"
    yield "binary", bytes(range(256)) * 8
    yield "median_section_missing", _join([ln for i, ln in enumerate(lines) if not (_section_span(lines, "Median")[0] <= i < _section_span(lines, "Median")[1])])
    yield "datatype_without_name", _join([('"DataType:",""' if ln.startswith('"DataType:","Count"') else ln) for ln in lines])
    # 13. Median section without analytes or without wells (2)
    s, e = _section_span(lines, "Median")
    yield "median_no_analytes", _join([*lines[: s + 1], '"Location","Sample","Total Events"', *lines[s + 2 :]])
    yield "median_no_wells", _join(lines[: s + 2] + lines[e:])
    # 14. trailer removed (1)
    yield "trailer_removed", _join([ln for ln in lines if not ln.startswith(("-- CRC --", "CRC32"))])
    # 15. INTELLIFLEX-style file cut before its trailer (1)
    yield "intelliflex_cut", plate_text(PlateSpec(instrument="Intelliflex")).encode()[: len(data) // 2]
