"""LEGENDplex processed concentration tables: detection, canonical analytes, censoring, replicates.

The table holds the vendor software's concentrations only (no signals, no curves): the plugin
stores them as wells' reported concentrations, and the ``instrument`` derivation turns them into
results (replicate rows averaged, ``< x`` censored at x and substituted by the recorded rule).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from immunolab_assays.bioplex import BioplexPlugin
from immunolab_assays.legendplex_table import LegendplexTablePlugin
from immunolab_assays.msd import MsdPlugin

from immunolab.errors import ERROR_CODES, InputError
from immunolab.plugins import HEAD_BYTES, SAMPLE_REF, ParseContext
from tests.conftest import shared_path
from tests.cytokine.helpers import all_text, conforms, derive, rows_of

HEADER = "\ufeffID ,Original ID ,STIM ,GROUP,TIMEPOINT ,IL-1β ,TNF-α ,IFN-γ ,IL-10 (B3)"


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "lplex.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def test_greek_letters_trailing_blanks_and_bom_give_canonical_analytes(tmp_path: Path) -> None:
    path = _write(tmp_path, [HEADER, "PT 01 ,PT 01 ,LPS ,A,Baseline,60.38,2.41,< 4.5,N/A"])
    assert LegendplexTablePlugin().detect(path.read_bytes(), "x") is not None
    parsed = LegendplexTablePlugin().parse(path, ParseContext(label="lplex.csv"))
    conforms(parsed)
    wells = parsed.tables["cytokine_wells"].to_pylist()
    assert {w[SAMPLE_REF] for w in wells} == {"PT 01 | LPS | Baseline"}
    assert all("concentration_from_export" in w["reader_flags"] for w in wells)
    results = {r["analyte"]: r for r in rows_of(derive(parsed), "cytokine_results", "instrument")}
    assert set(results) == {"IL-1b", "TNF-a", "IFN-g", "IL-10"}
    assert results["IL-1b"]["concentration"] == 60.38 and results["IL-1b"]["censor"] == "none"
    ifn = results["IFN-g"]
    # "< 4.5" is the software's own "below the curve" token (the xPONENT convention): censored at 4.5
    assert (ifn["censor"], ifn["lloq"], ifn["concentration"], ifn["substitution_rule"]) == ("below_curve", 4.5, 2.25, "LLOQ/2")
    assert results["IL-10"]["censor"] == "not_available" and results["IL-10"]["concentration"] is None
    assert {r["sample_key"] for r in results.values()} == {"PT 01 | LPS | Baseline"}
    assert "PT 01" not in all_text(parsed)


def test_repeated_rows_are_averaged_with_their_count_and_a_flag(tmp_path: Path) -> None:
    path = _write(tmp_path, [HEADER, "S1,S1,NIL,A,12,10,1,1,1", "S1,S1 REPEAT,NIL ,A,12,20,3,1,1"])
    parsed = LegendplexTablePlugin().parse(path, ParseContext(label="l"))
    assert parsed.warnings == ["1 sample(s) appear on several rows; their values are averaged"]
    il1b = next(r for r in rows_of(derive(parsed), "cytokine_results", "instrument") if r["analyte"] == "IL-1b")
    assert (il1b["concentration"], il1b["n_replicates"]) == (15.0, 2)
    assert il1b["cv_pct"] == pytest.approx(47.1404520791)
    assert il1b["wells"] == ["R1.1", "R1.2"]  # one row = one well: the averaged rows stay visible


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ([HEADER, "PT1,PT1,LPS,A,12,lots,1,1,1"], "IML-CYT-003"),
        ([HEADER, "PT1,PT1,LPS,A,12,-5,1,1,1"], "IML-CYT-003"),
        ([HEADER, ",,LPS,A,12,1,1,1,1"], "IML-CYT-002"),
        ([HEADER], "IML-CYT-002"),
        ([HEADER, "PT1,PT1,LPS,A,12,1,1,1,1,9,9"], "IML-CYT-001"),
        (["Name,IL-6,IL-8,TNF", "a,1,2,3"], "IML-CYT-002"),
        (["ID,IL-6,IL6", "a,1,2"], "IML-CYT-004"),
    ],
)
def test_malformed_tables_are_rejected_with_their_code(tmp_path: Path, lines: list[str], code: str) -> None:
    with pytest.raises(InputError) as info:
        LegendplexTablePlugin().parse(_write(tmp_path, lines), ParseContext(label="lbl"))
    assert info.value.code == code and info.value.code in ERROR_CODES and info.value.path == "lbl"


def test_bad_substitution_rule_is_iml_cyt_009(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        LegendplexTablePlugin().parse(_write(tmp_path, [HEADER, "a,a,b,c,d,1,1,1,1"]),
                                      ParseContext(label="l", options={"below_rule": "half"}))
    assert info.value.code == "IML-CYT-009"


@pytest.mark.shared_data
def test_the_shared_legendplex_table_parses_and_only_this_plugin_claims_it() -> None:
    path = shared_path("cytokine", "legendplex", "lplex_analysis", "BADASLEGENPLEX2022.csv")
    head = path.read_bytes()[:HEAD_BYTES]
    assert LegendplexTablePlugin().detect(head, "x") is not None
    assert BioplexPlugin().detect(head, "x") is None and MsdPlugin().detect(head, "x") is None
    parsed = LegendplexTablePlugin().parse(path, ParseContext(label="t.csv"))
    conforms(parsed)
    results = rows_of(derive(parsed, kinds=("instrument",)), "cytokine_results", "instrument")
    assert parsed.metadata["n_rows"] == 461 and len(results) == 381 * 13
    assert {r["analyte"] for r in results} == {
        "IL-1b", "IFN-a2", "IFN-g", "TNF-a", "MCP-1", "IL-6", "IL-8", "IL-10", "IL-12p70", "IL-17A", "IL-18", "IL-23", "IL-33"}
    assert "BCM" not in all_text(parsed)


@pytest.mark.shared_data
def test_no_other_shared_file_is_claimed_by_the_legendplex_table_plugin() -> None:
    target = shared_path("cytokine", "legendplex", "lplex_analysis", "BADASLEGENPLEX2022.csv")
    for p in sorted(shared_path().rglob("*")):
        if p.is_file() and p != target:
            with open(p, "rb") as fh:
                assert LegendplexTablePlugin().detect(fh.read(HEAD_BYTES), p.name) is None, p
