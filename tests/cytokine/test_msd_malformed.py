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


THREE_PLATE = ("cytokine", "msd", "labkey_3plate", "3plateMSD.csv")


def _cut(tmp_path: Path, data: bytes) -> Path:
    target = tmp_path / "3plateMSD.csv"
    target.write_bytes(data)
    return target


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("lines", "extra_bytes"),
    [(2269, 0), (2269, 37), (800, 0), (1300, 0), (1600, 0), (3100, 0), (4000, 0), (4537, 0), (4537, 40),
     (4, 0), (30, 0), (41, 25)],
    ids=["plate2-in-N-protein", "plate2-mid-line", "plate1-N-protein", "plate1-BSA", "plate2-S-2P", "plate3-S-2P",
         "plate3-RBD", "last-row-missing", "last-line-cut", "plate1-first-blanks", "plate1-in-controls",
         "plate1-first-section-mid-line"],
)
def test_a_three_plate_export_cut_inside_a_plate_is_refused_as_truncated(tmp_path: Path, lines: int,
                                                                          extra_bytes: int) -> None:
    rows = shared_path(*THREE_PLATE).read_bytes().splitlines(keepends=True)
    data = b"".join(rows[:lines]) + rows[lines][:extra_bytes]
    with pytest.raises(InputError) as info:
        read_workbench_csv(_cut(tmp_path, data), LABEL)
    assert info.value.code == "IML-CYT-001" and "truncated" in str(info.value) and info.value.path == LABEL
    assert "Sample 1" not in str(info.value)  # sample names (PHI-prone) are never quoted


@pytest.mark.shared_data
def test_the_uncut_three_plate_export_parses_whole_and_without_warnings() -> None:
    plates = read_workbench_csv(shared_path(*THREE_PLATE), LABEL)
    assert [len(p.wells) for p in plates] == [1512, 1512, 1512]
    assert [p.warnings for p in plates] == [[], [], []]


@pytest.mark.shared_data
def test_an_assay_short_of_wells_inside_the_file_is_a_coded_warning_not_a_silent_loss(tmp_path: Path) -> None:
    rows = shared_path(*THREE_PLATE).read_bytes().splitlines(keepends=True)
    del rows[800]  # one sample well of plate 1's RBD section (the file goes on with plates 2 and 3)
    parsed = MsdPlugin().parse(_cut(tmp_path, b"".join(rows)), ParseContext(label=LABEL))
    assert parsed.metadata["n_plates"] == 3
    assert [w[:26] for w in parsed.warnings] == ["IML-CYT-012 plate 1: the p"]
    assert "'SARS-COV2 RBD' lists 359 of the plate's 360" in parsed.warnings[0]
