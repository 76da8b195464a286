"""Detection of Bio-Plex and MSD exports: exactly one plugin claims each file, from content only."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from immunolab_assays.bioplex import BioplexPlugin
from immunolab_assays.msd import MsdPlugin

from immunolab.io.sniff_spreadsheet import classify_head, xlsx_head_members
from immunolab.plugins import HEAD_BYTES, get_registry
from tests.conftest import SHARED_DATA, shared_path

BIOPLEX_FILES = {
    "bioplex_manager/labkey/pnLINCO20070302A.xls": "bioplex_xls",
    "bioplex_manager/labkey/pnLINCO20070302A.xlsx": "bioplex_xlsx",
    "bioplex_manager/labkey/01-11A12-IgA-Biotin.xls": "bioplex_xls",
    "bioplex_manager/labkey/WithIndices.xls": "bioplex_xls",
    "bioplex_manager/labkey/RawAndSummary.xlsx": "bioplex_xlsx",
    "bioplex_manager/serolyzer/synthetic_bioplex.xlsx": "bioplex_xlsx",
    "bioplex_manager/allotropy_xml/bio-rad_bio-plex_manager_example_01.xml": "bioplex_xml",
    "bioplex_manager/labkey_iga/02-14A22-IgA-Biotin.xls": "bioplex_xls",
    "bioplex_manager/labkey_iga/03-31A82-IgA-Biotin.xls": "bioplex_xls",
}
MSD_FILES = {
    "msd/allotropy_workbench/msd_workbench_test_1.csv": "msd_workbench_csv",
    "msd/allotropy_workbench/msd_workbench_test_2.csv": "msd_workbench_csv",
    "msd/allotropy_workbench/test_msd_workbench_xlsx.xlsx": "msd_xlsx",
    "msd/allotropy_methodical_mind/methodical_mind_384_wells.txt": "msd_reader_text",
    "msd/allotropy_methodical_mind/methodical_test_1.txt": "msd_reader_text",
    "msd/allotropy_methodical_mind/methodical_test_5_mulitple_spot_tables.txt": "msd_reader_text",
    "msd/labkey_3plate/3plateMSD.csv": "msd_workbench_csv",
}


def _head(rel: str) -> bytes:
    with open(shared_path("cytokine", *rel.split("/")), "rb") as fh:
        return fh.read(HEAD_BYTES)


@pytest.mark.shared_data
@pytest.mark.parametrize(("rel", "fmt"), sorted({**BIOPLEX_FILES, **MSD_FILES}.items()))
def test_each_shared_bioplex_and_msd_file_is_claimed_by_exactly_one_installed_plugin(rel: str, fmt: str) -> None:
    head = _head(rel)
    claims = get_registry().claims(head, "renamed.bin")  # the name is never used
    assert [(c.plugin, c.format) for c in claims] == [("bioplex" if fmt.startswith("bioplex") else "msd", fmt)]


@pytest.mark.shared_data
def test_no_other_shared_file_is_claimed_by_bioplex_or_msd() -> None:
    mine = {str(SHARED_DATA / "cytokine" / r) for r in {**BIOPLEX_FILES, **MSD_FILES}}
    others = [p for p in sorted(shared_path().rglob("*")) if p.is_file() and str(p) not in mine]
    assert len(others) > 50
    for p in others:
        with open(p, "rb") as fh:
            head = fh.read(HEAD_BYTES)
        assert BioplexPlugin().detect(head, p.name) is None, p
        assert MsdPlugin().detect(head, p.name) is None, p


@pytest.mark.shared_data
def test_xlsx_without_visible_strings_is_told_apart_by_its_grid_shape() -> None:
    head = _head("bioplex_manager/labkey/RawAndSummary.xlsx")
    members = xlsx_head_members(head)
    assert not any(n.endswith("sharedStrings.xml") for n in members)  # beyond the first 64 KiB
    assert classify_head(head) == ("bioplex_xlsx", "xlsx with export markers or layout")


def _xlsx_bytes(rows: list[list[object]], *, sheet: str = "Sheet1") -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_a_spreadsheet_with_markers_of_both_formats_is_claimed_by_both_so_ingest_asks_for_assay() -> None:
    data = _xlsx_bytes([["Reader Serial Number: X"], ["RP1 PMT (Volts): 1"], ["Adjusted Signal", "Calc. Concentration"]])
    assert BioplexPlugin().detect(data, "x.xlsx") is not None
    assert MsdPlugin().detect(data, "x.xlsx") is not None


def test_a_plain_spreadsheet_and_other_zips_are_claimed_by_neither() -> None:
    plain = _xlsx_bytes([["name", "value"], ["a", 1]])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("FI - Bkgd.txt", "Obs Conc")
    for data in (plain, buf.getvalue(), b"", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600):
        assert BioplexPlugin().detect(data, "x.xlsx") is None
        assert MsdPlugin().detect(data, "x.xlsx") is None


def test_file_names_do_not_matter_for_detection() -> None:
    data = _xlsx_bytes([["Reader Serial Number: X"], ["RP1 PMT (Volts): 1"]])
    for name in ("plate.xlsx", "plate.csv", "", "msd_export.txt"):
        assert BioplexPlugin().detect(data, name) is not None
        assert MsdPlugin().detect(data, name) is None


def test_detect_never_raises_on_garbage() -> None:
    import random

    rng = random.Random(7)
    heads = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 3000))) for _ in range(200)]
    heads += [b"PK\x03\x04" + h for h in heads[:50]] + [b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + h for h in heads[:50]]
    for head in heads:  # random bytes carry no markers: no claim, and above all no exception
        assert BioplexPlugin().detect(head, "x") is None
        assert MsdPlugin().detect(head, "x") is None


def test_plugin_entry_modules_and_detect_import_no_heavy_library() -> None:
    # numpy arrives with pyarrow through immunolab.plugins itself; parsing libraries must not
    code = (
        "import sys\n"
        "from immunolab_assays.bioplex import BioplexPlugin\n"
        "from immunolab_assays.msd import MsdPlugin\n"
        "BioplexPlugin().detect(b'PK\\x03\\x04' + b'0' * 100, 'x'); MsdPlugin().detect(b'Sample,Assay', 'x')\n"
        "heavy = [m for m in ('pandas', 'scipy', 'openpyxl', 'xlrd', 'lxml', 'flowkit', 'anndata',"
        " 'scanpy', 'statsmodels', 'matplotlib') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == ""
