"""Malformed Bio-Plex exports: every defect gives a coded InputError naming the file, never a traceback."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from immunolab_assays.bioplex import BioplexPlugin
from immunolab_assays.bioplex.workbook import read_bioplex_workbook
from immunolab_assays.bioplex.xml_export import read_bioplex_xml

from immunolab.errors import ERROR_CODES, InputError
from immunolab.io.tokens import parse_reported_conc
from immunolab.plugins import ParseContext
from tests.conftest import shared_path
from tests.cytokine.test_bioplex_factories import (
    Rows,
    data_row,
    make_bioplex_xlsx,
    make_bioplex_xml,
)

LABEL = "plate-label.xlsx"


def _code(path: Path, *, xml: bool = False) -> InputError:
    with pytest.raises(InputError) as info:
        if xml:
            read_bioplex_xml(path, LABEL)
        else:
            read_bioplex_workbook(path, LABEL)
    err = info.value
    assert err.code in ERROR_CODES and err.path == LABEL and err.hint
    return err


def shared_xls_head() -> bytes:
    """Return the first half of a real .xls, or a fake OLE2 header when shared data is absent."""
    try:
        data = shared_path("cytokine", "bioplex_manager", "labkey", "WithIndices.xls").read_bytes()
    except pytest.skip.Exception:
        return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 1000
    return data[: len(data) // 2]


def _set(sheet: str, index: int, column: int, value: Any) -> Callable[[dict[str, Rows]], None]:
    def mutate(sheets: dict[str, Rows]) -> None:
        data_row(sheets, sheet, index)[column] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (_set("IL-6 (12)", 3, 2, "Z99"), "IML-CYT-001"),  # well outside the plate
        (_set("IL-6 (12)", 3, 1, "S-1?"), "IML-CYT-001"),  # not a Bio-Plex type code
        (_set("IL-6 (12)", 3, 4, "12,3x"), "IML-CYT-003"),  # FI is not a number
        (_set("IL-6 (12)", 3, 8, "about 5"), "IML-CYT-003"),  # Obs Conc neither number nor token
        (_set("IL-6 (12)", 3, 13, "two"), "IML-CYT-003"),  # Dilution text
        (_set("IL-6 (12)", 3, 2, "A1"), "IML-CYT-004"),  # the blank's well used twice
    ],
)
def test_bad_cells_are_rejected_with_their_code(tmp_path: Path, mutate: Any, code: str) -> None:
    assert _code(make_bioplex_xlsx(tmp_path, mutate=mutate)).code == code


def test_a_header_without_fi_column_is_rejected_with_iml_cyt_002(tmp_path: Path) -> None:
    def drop_fi(sheets: dict[str, Rows]) -> None:
        for rows in sheets.values():
            for row in rows:
                if row[:3] == ["Analyte", "Type", "Well"]:
                    row[4] = "Fluorescence"

    err = _code(make_bioplex_xlsx(tmp_path, mutate=drop_fi))
    assert err.code == "IML-CYT-002" and "FI" in err.message


def test_a_workbook_with_no_bioplex_table_is_rejected_with_iml_cyt_002(tmp_path: Path) -> None:
    def blank_out(sheets: dict[str, Rows]) -> None:
        for name in list(sheets):
            sheets[name] = [["just", "a", "table"], [1, 2, 3]]

    assert _code(make_bioplex_xlsx(tmp_path, mutate=blank_out)).code == "IML-CYT-002"


def test_a_truncated_xlsx_and_a_damaged_xls_are_rejected_with_iml_cyt_007(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    good = make_bioplex_xlsx(tmp_path).read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(good[: len(good) // 2])
    assert _code(cut).code == "IML-CYT-007"
    bad_xls = tmp_path / "bad.xls"
    bad_xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 8)
    assert _code(bad_xls).code == "IML-CYT-007"
    not_excel = tmp_path / "text.xls"
    not_excel.write_bytes(b"Analyte,Type,Well\n")
    assert _code(not_excel).code == "IML-CYT-007"
    half_xls = tmp_path / "half.xls"
    half_xls.write_bytes(shared_xls_head())
    assert _code(half_xls).code == "IML-CYT-007"
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # xlrd's own warnings are not printed


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"reading": "high"}, "IML-CYT-003"),
        ({"extra": '<MemberWell RowNo="2" ColNo="1"><MWAnalytes><MWAnalyte RegionNumber="12">'
                   "<Reading>5</Reading></MWAnalyte></MWAnalytes></MemberWell>"}, "IML-CYT-004"),
        ({"extra": '<MemberWell RowNo="20" ColNo="1"><MWAnalytes/></MemberWell>'}, "IML-CYT-001"),
        ({"extra": '<MemberWell ColNo="3"><MWAnalytes/></MemberWell>'}, "IML-CYT-001"),
        ({"text": "<?xml version='1.0'?><bpm:BioPlexManager xmlns:bpm='x'><Wells/>"}, "IML-CYT-001"),
        ({"text": "<?xml version='1.0'?><Other/>"}, "IML-CYT-001"),
        ({"text": "<?xml version='1.0'?><BioPlexManager><Wells/></BioPlexManager>"}, "IML-CYT-002"),
        ({"text": "<?xml version='1.0'?><BioPlexManager><Samples><Blanks/></Samples></BioPlexManager>"}, "IML-CYT-002"),
        ({"text": "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
                  "<BioPlexManager>&e;</BioPlexManager>"}, "IML-CYT-002"),
    ],
)
def test_bad_xml_is_rejected_with_its_code(tmp_path: Path, kwargs: dict[str, str], code: str) -> None:
    assert _code(make_bioplex_xml(tmp_path, **kwargs), xml=True).code == code


@pytest.mark.parametrize(
    ("text", "flag", "value"),
    [
        ("OOR <", "OOR<", None), ("OOR>", "OOR>", None), ("*1.55", "extrapolated", 1.55),
        ("***", "not_available", None), ("---", "outlier", None), ("12.5", None, 12.5), (3.25, None, 3.25),
    ],
)
def test_obs_conc_tokens(text: object, flag: str | None, value: float | None) -> None:
    got = parse_reported_conc(text, label=LABEL, where="cell")
    assert (got.flag, got.value) == (flag, value)
    assert got.text == (text if isinstance(text, str) else "3.25")


def test_the_plugin_rejects_an_empty_file_and_a_non_bioplex_file_with_codes(tmp_path: Path) -> None:
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    for path, code in ((empty, "IML-IN-005"), (text, "IML-CYT-001"), (tmp_path / "missing.xls", "IML-IN-001")):
        with pytest.raises(InputError) as info:
            BioplexPlugin().parse(path, ParseContext(label="lbl"))
        assert info.value.code == code and info.value.path == "lbl"


def _mutants(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    out = [data[: int(len(data) * f)] for f in (0.02, 0.1, 0.3, 0.6, 0.9, 0.99)]
    for _ in range(n):
        b = bytearray(data)
        for _ in range(rng.randrange(1, 12)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        out.append(bytes(b))
    return out


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "rel",
    ["labkey/WithIndices.xls", "labkey/pnLINCO20070302A.xlsx", "serolyzer/synthetic_bioplex.xlsx",
     "allotropy_xml/bio-rad_bio-plex_manager_example_01.xml"],
)
def test_damaged_copies_of_real_exports_raise_only_immunolab_input_errors(tmp_path: Path, rel: str) -> None:
    source = shared_path("cytokine", "bioplex_manager", *rel.split("/"))
    rng = random.Random(rel)
    target = tmp_path / source.name
    outcomes = {"ok": 0, "coded": 0}
    for mutant in _mutants(source.read_bytes(), rng, 25):
        target.write_bytes(mutant)
        try:
            if rel.endswith(".xml"):
                read_bioplex_xml(target, LABEL)
            else:
                read_bioplex_workbook(target, LABEL)
            outcomes["ok"] += 1
        except InputError as exc:  # anything else fails the test with its traceback
            assert exc.code in ERROR_CODES and exc.path == LABEL
            outcomes["coded"] += 1
    assert outcomes["coded"] >= 6  # at least the truncations are refused
