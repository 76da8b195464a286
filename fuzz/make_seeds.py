"""Write the committed seed corpus ``fuzz/seeds/<target>/`` from the test factories and the demo files.

    python -m fuzz.make_seeds            # rewrite fuzz/seeds (small files, committed)
    python -m fuzz.make_seeds --shared DIR --out fuzz/corpus   # add seeds from the real instrument files

Seeds give the fuzzer real structure to mutate. The committed ones come from the repository's own
factories and demo data; ``--shared`` copies small real files (never committed: ``fuzz/corpus``
is ignored by git) when the shared instrument data are available.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "fuzz" / "seeds"
#: largest seed copied from the shared data (bytes): fuzzing large inputs is slow
MAX_SHARED_SEED = 96 * 1024


def _rows_text(sheets: dict[str, list[list[object]]]) -> bytes:
    """Return worksheets in the fuzz targets' text form (sheets by form feed, rows by line feed, cells by tab)."""
    parts = []
    for name, rows in sheets.items():
        lines = ["\t".join("" if c is None else ("TRUE" if c is True else "FALSE" if c is False else str(c)) for c in r)
                 for r in rows]
        parts.append(name + "\n" + "\n".join(lines))
    return "\f".join(parts).encode()


def committed_seeds() -> dict[str, dict[str, bytes]]:
    """Return target -> {file name: bytes} of the committed seeds."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.cytokine import test_bioplex_factories as bp
    from tests.cytokine.factories import plate_text
    from tests.cytokine.test_intelliflex_flat import _file as intelliflex_file
    from tests.cytokine.test_intelliflex_flat import _row as intelliflex_row
    from tests.fcs.factories import base_specs, build_fcs

    sample = ROOT / "sample_data"
    seeds: dict[str, dict[str, bytes]] = {name: {} for name in
                                          ("fcs", "xponent", "intelliflex", "bioplex", "msd", "legendplex", "identity")}
    for name, spec in base_specs().items():
        seeds["fcs"][f"{name}.fcs"] = build_fcs(spec)
    seeds["xponent"]["factory.csv"] = plate_text().encode()
    seeds["xponent"]["factory_semicolon.csv"] = plate_text(delimiter=";", decimal=",", quote_all=False).encode()
    seeds["xponent"]["demo_plate_05.csv"] = (sample / "plates" / "cytokine_plate_05.csv").read_bytes()
    seeds["intelliflex"]["flat.csv"] = intelliflex_file(intelliflex_row("A1", "STANDARD", "S1"),
                                                        intelliflex_row("A2", "UNKNOWN", "PT 1"),
                                                        intelliflex_row("A3", "BACKGROUND", "B"))
    sheets = {"IL-6": bp.bioplex_sheet_rows("IL-6"), "TNF-a": bp.bioplex_sheet_rows("TNF-a")}
    seeds["bioplex"]["workbook_rows.txt"] = b"\x01" + _rows_text(sheets)
    seeds["bioplex"]["export.xml"] = b"\x00" + bp.BIOPLEX_XML.format(reading="560.0", extra="").encode()
    seeds["msd"]["workbench.csv"] = b"\x00" + ("\r\n".join(bp.workbench_csv_lines()) + "\r\n").encode()
    seeds["msd"]["reader.txt"] = b"\x01" + ("\r\n".join(bp.reader_text_lines(columns=4, rows="AB")) + "\r\n").encode()
    rows = [line.split(",") for line in bp.workbench_csv_lines()]
    seeds["msd"]["workbook_rows.txt"] = b"\x02" + _rows_text({"Data": rows})
    lplex_header = "\ufeffID ,Original ID ,STIM ,GROUP,TIMEPOINT ,IL-1\u03b2 ,TNF-\u03b1 ,IFN-\u03b3 ,IL-10 (B3)"
    seeds["legendplex"]["table.csv"] = ("\r\n".join([lplex_header, "PT 01 ,PT 01 ,LPS ,A,Baseline,60.38,2.41,< 4.5,N/A",
                                                     "PT 02 ,PT 02 ,LPS ,A,Day 7,> 9000,12,4.5,3"]) + "\r\n").encode()
    subjects = (sample / "subjects.csv").read_bytes()
    manifest = b"".join((sample / "manifest.csv").read_bytes().splitlines(keepends=True)[:12])
    seeds["identity"]["subjects.csv"] = b"\x00" + subjects
    seeds["identity"]["manifest.csv"] = b"\x01" + manifest
    seeds["identity"]["both.csv"] = b"\x02" + subjects + b"\0" + manifest
    return seeds


#: shared-data folders (under IMMUNOLAB_SHARED_DATA) whose small files seed each target, with a mode byte
SHARED = {
    "fcs": [("flow/flowio/data/fcs_files", b"")],
    "xponent": [("cytokine/luminex_xponent/allotropy", b""), ("cytokine/luminex_xponent/serolyzer", b"")],
    "intelliflex": [("cytokine/luminex_intelliflex", b"")],
    "bioplex": [("cytokine/bioplex_manager/allotropy_xml", b"\x00"), ("cytokine/bioplex_manager/labkey", b"\x00")],
    "msd": [("cytokine/msd", b"\x00")],
    "legendplex": [("cytokine/legendplex/lplex_analysis", b"")],
}


def main(argv: list[str] | None = None) -> int:
    """Write the committed seeds, or (``--shared``) add real files to a corpus folder."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, help="shared instrument data folder (IMMUNOLAB_SHARED_DATA)")
    parser.add_argument("--out", type=Path, default=SEEDS, help="corpus root (one sub-folder per target)")
    args = parser.parse_args(argv)
    written = 0
    if args.shared is None:
        for target, files in committed_seeds().items():
            folder = args.out / target
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                (folder / name).write_bytes(data)
                written += 1
    elif args.shared.is_dir():
        for target, sources in SHARED.items():
            folder = args.out / target
            folder.mkdir(parents=True, exist_ok=True)
            for sub, prefix in sources:
                for path in sorted((args.shared / sub).rglob("*")):
                    if path.is_file() and 0 < path.stat().st_size <= MAX_SHARED_SEED and not path.name.startswith("."):
                        (folder / f"shared-{path.parent.name}-{path.name}").write_bytes(prefix + path.read_bytes())
                        written += 1
    print(f"wrote {written} seed file(s) under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
