"""Malformed MSD exports: every defect gives a coded InputError naming the file, never a traceback."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from immunolab_assays.msd import MsdPlugin
from immunolab_assays.msd.methodical import read_reader_text
from immunolab_assays.msd.workbench import read_workbench_csv, read_workbench_xlsx

from immunolab.errors import ERROR_CODES, InputError
from immunolab.plugins import ParseContext
from tests.conftest import shared_path
from tests.cytokine.test_bioplex_factories import (
    WORKBENCH_HEADER,
    make_reader_text,
    make_workbench_csv,
    reader_text_lines,
    workbench_csv_lines,
    write_xlsx,
)

LABEL = "msd-label"


def _csv_code(tmp_path: Path, lines: list[str]) -> str:
    with pytest.raises(InputError) as info:
        read_workbench_csv(make_workbench_csv(tmp_path, lines), LABEL)
    assert info.value.code in ERROR_CODES and info.value.path == LABEL and info.value.hint
    return info.value.code


def _replace(line_no: int, column: int, value: str) -> list[str]:
    lines = workbench_csv_lines()
    cells = lines[line_no].split(",")
    cells[column] = value
    lines[line_no] = ",".join(cells)
    return lines


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        (_replace(2, 2, "Q99"), "IML-CYT-001"),  # well outside a plate
        (_replace(2, 6, "bright"), "IML-CYT-003"),  # Signal not a number
        (_replace(2, 3, "one"), "IML-CYT-003"),  # Spot not a number
        (_replace(2, 1, ""), "IML-CYT-002"),  # no Assay
        (_replace(3, 2, "A01"), "IML-CYT-004"),  # well A01 spot 1 twice
        (["Plate_X", WORKBENCH_HEADER], "IML-CYT-002"),  # header, no rows
        (["Plate_X", "Sample,Assay,Well,Spot", "S001,IL-6,A01,1"], "IML-CYT-002"),  # no Signal column
    ],
)
def test_bad_workbench_csv_is_rejected_with_its_code(tmp_path: Path, lines: list[str], code: str) -> None:
    assert _csv_code(tmp_path, lines) == code


def _reader_code(tmp_path: Path, lines: list[str]) -> str:
    with pytest.raises(InputError) as info:
        read_reader_text(make_reader_text(tmp_path, lines), LABEL)
    assert info.value.code in ERROR_CODES and info.value.path == LABEL and info.value.hint
    return info.value.code


def _reader_with(index: int, line: str) -> list[str]:
    lines = reader_text_lines()
    lines[index] = line
    return lines


def test_bad_reader_text_is_rejected_with_its_code(tmp_path: Path) -> None:
    first_row = reader_text_lines().index("==========Data==========") + 2
    assert _reader_code(tmp_path, _reader_with(first_row, "A\t1\t2\t3")) == "IML-CYT-001"  # short row
    assert _reader_code(tmp_path, _reader_with(first_row, "Z\t" + "\t".join(["1"] * 12))) == "IML-CYT-001"
    assert _reader_code(tmp_path, _reader_with(first_row, "A\t" + "\t".join(["x"] * 12))) == "IML-CYT-003"
    assert _reader_code(tmp_path, _reader_with(first_row - 1, "\tone\ttwo")) == "IML-CYT-001"
    no_data = [ln for ln in reader_text_lines() if not ln.startswith("==========Data")]
    assert _reader_code(tmp_path, no_data) == "IML-CYT-002"
    twice = reader_text_lines(spots=(2,)) + reader_text_lines(spots=(2,))
    assert _reader_code(tmp_path, twice) == "IML-CYT-004"


def test_a_workbook_without_a_workbench_table_and_a_cut_xlsx_are_rejected(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "w.xlsx", {"Sheet": [["FileName :", "x"], ["Read Time :", "2024-01-01"]]})
    with pytest.raises(InputError) as info:
        read_workbench_xlsx(path, LABEL)
    assert info.value.code == "IML-CYT-002"
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(path.read_bytes()[:300])
    with pytest.raises(InputError) as info:
        read_workbench_xlsx(cut, LABEL)
    assert info.value.code == "IML-CYT-007"


def test_the_plugin_rejects_empty_and_unreadable_files_with_codes(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    other = tmp_path / "other.csv"
    other.write_text("a,b,c\n1,2,3\n")
    for path, code in ((empty, "IML-IN-005"), (other, "IML-CYT-002"), (tmp_path / "missing.csv", "IML-IN-001")):
        with pytest.raises(InputError) as info:
            MsdPlugin().parse(path, ParseContext(label="lbl"))
        assert info.value.code == code and info.value.path == "lbl"


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "rel",
    ["allotropy_workbench/msd_workbench_test_2.csv", "allotropy_methodical_mind/methodical_test_1.txt",
     "allotropy_methodical_mind/methodical_test_5_mulitple_spot_tables.txt"],
)
def test_damaged_copies_of_real_exports_raise_only_immunolab_input_errors(tmp_path: Path, rel: str) -> None:
    source = shared_path("cytokine", "msd", *rel.split("/"))
    data = source.read_bytes()
    rng = random.Random(rel)
    reader = read_workbench_csv if rel.endswith(".csv") else read_reader_text
    target = tmp_path / source.name
    coded = 0
    for i in range(60):
        b = bytearray(data[: rng.randrange(len(data))] if i % 3 == 0 else data)
        for _ in range(rng.randrange(1, 8)):
            j = rng.randrange(len(b))
            b[j : j + 1] = rng.choice([b"x", b"", b",", b"\t", b"\n", b"-", b"."])
        target.write_bytes(bytes(b))
        try:
            reader(target, LABEL)
        except InputError as exc:  # any other exception fails the test with its traceback
            assert exc.code in ERROR_CODES and exc.path == LABEL
            coded += 1
    assert coded >= 10
