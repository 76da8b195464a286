"""LEGENDplex processed concentration tables: detection, canonical analytes, tokens, replicates.

The reader emits wells facts with the printed concentration (``reported_conc``), like every
plate reader; the derivation averages repeated rows and substitutes censored values.
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
from tests.cytokine.test_bioplex_plugin import _all_text, _conforms

HEADER = "\ufeffID ,Original ID ,STIM ,GROUP,TIMEPOINT ,IL-1β ,TNF-α ,IFN-γ ,IL-10 (B3)"


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "lplex.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def _wells(parsed: object) -> list[dict[str, object]]:
    return parsed.tables["cytokine_wells"].to_pylist()  # type: ignore[attr-defined, no-any-return]


def test_greek_letters_trailing_blanks_and_bom_give_canonical_analytes(tmp_path: Path) -> None:
    path = _write(tmp_path, [HEADER, "PT 01 ,PT 01 ,LPS ,A,Baseline,60.38,2.41,< 4.5,N/A"])
    assert LegendplexTablePlugin().detect(path.read_bytes(), "x") is not None
    parsed = LegendplexTablePlugin().parse(path, ParseContext(label="lplex.csv"))
    _conforms(parsed)
    assert set(parsed.tables) == {"cytokine_plates", "cytokine_wells"}
    wells = {w["analyte"]: w for w in _wells(parsed)}
    assert set(wells) == {"IL-1b", "TNF-a", "IFN-g", "IL-10"}
    assert (wells["IL-1b"]["reported_conc"], wells["IL-1b"]["reported_flag"]) == (60.38, None)
    assert wells["IL-1b"]["analyte_reported"] == "IL-1β" and wells["IL-1b"]["reader_flags"] == ["concentration_from_export"]
    ifn = wells["IFN-g"]
    assert (ifn["reported_conc"], ifn["reported_conc_text"], ifn["reported_flag"]) == (None, "<4.5", "below_curve")
    assert (wells["IL-10"]["reported_conc"], wells["IL-10"]["reported_flag"]) == (None, "not_available")
    assert {w[SAMPLE_REF] for w in wells.values()} == {"PT 01 | LPS | Baseline"}
    assert "PT 01" not in _all_text(parsed)


def test_repeated_rows_become_replicates_of_one_sample_and_a_warning(tmp_path: Path) -> None:
    path = _write(tmp_path, [HEADER, "S1,S1,NIL,A,12,10,1,1,1", "S1,S1 REPEAT,NIL ,A,12,20,3,1,1"])
    parsed = LegendplexTablePlugin().parse(path, ParseContext(label="l"))
    il1b = [w for w in _wells(parsed) if w["analyte"] == "IL-1b"]
    assert sorted((w["well"], w["reported_conc"]) for w in il1b) == [("R1.1", 10.0), ("R1.2", 20.0)]
    assert {w[SAMPLE_REF] for w in il1b} == {"S1 | NIL | 12"} and parsed.warnings


def test_semicolon_tables_with_decimal_commas_and_thousands_separators_read(tmp_path: Path) -> None:
    header = HEADER.replace(",", ";")
    path = _write(tmp_path, [header, "PT1;PT1;LPS;A;12;1.234,5;0,5;OOR >;***"])
    wells = {w["analyte"]: w for w in _wells(LegendplexTablePlugin().parse(path, ParseContext(label="l")))}
    assert wells["IL-1b"]["reported_conc"] == 1234.5 and wells["TNF-a"]["reported_conc"] == 0.5
    assert wells["IFN-g"]["reported_flag"] == "above_curve" and wells["IL-10"]["reported_flag"] == "not_available"
    comma = _write(tmp_path, [HEADER, 'PT1,PT1,LPS,A,12,"12,345.6",1,1,1'])
    assert next(w for w in _wells(LegendplexTablePlugin().parse(comma, ParseContext(label="l")))
                if w["analyte"] == "IL-1b")["reported_conc"] == 12345.6


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
    _conforms(parsed)
    wells = parsed.tables["cytokine_wells"]
    assert parsed.metadata["n_rows"] == 461 and parsed.metadata["n_samples"] == 381 and wells.num_rows == 461 * 13
    assert len(set(wells.column(SAMPLE_REF).to_pylist())) == 381
    assert set(wells.column("analyte").to_pylist()) == {
        "IL-1b", "IFN-a2", "IFN-g", "TNF-a", "MCP-1", "IL-6", "IL-8", "IL-10", "IL-12p70", "IL-17A", "IL-18", "IL-23", "IL-33"}
    assert "BCM" not in _all_text(parsed)


@pytest.mark.shared_data
def test_no_other_shared_file_is_claimed_by_the_legendplex_table_plugin() -> None:
    target = shared_path("cytokine", "legendplex", "lplex_analysis", "BADASLEGENPLEX2022.csv")
    for p in sorted(shared_path().rglob("*")):
        if p.is_file() and p != target:
            with open(p, "rb") as fh:
                assert LegendplexTablePlugin().detect(fh.read(HEAD_BYTES), p.name) is None, p
