"""Canonical analyte names: synonyms, Greek letters, bead regions, unknown names kept."""

from __future__ import annotations

import pytest

from immunolab.cytokine.analytes import canonical_analyte, is_known_analyte, resolve_analyte


@pytest.mark.parametrize(
    ("reported", "canonical", "region"),
    [
        ("IL6", "IL-6", None),
        ("IL-6", "IL-6", None),
        ("il 6", "IL-6", None),
        ("Hu IL-6 (19)", "IL-6", 19),
        ("Interleukin-6", "IL-6", None),
        ("IL-6 (25)", "IL-6", 25),
        ("TNF-α", "TNF-a", None),
        ("TNF alpha", "TNF-a", None),
        ("Hu TNF-α (36)", "TNF-a", 36),
        ("IFN-γ", "IFN-g", None),
        ("Interferon gamma", "IFN-g", None),
        ("IL-1β", "IL-1b", None),
        ("Human IL-1beta", "IL-1b", None),
        ("MCP-1/CCL2", "MCP-1", None),
        ("CCL2", "MCP-1", None),
        ("IL-8/CXCL8", "IL-8", None),
        ("CXCL8", "IL-8", None),
        ("IP-10 (CXCL10)", "IP-10", None),
        ("IL-10", "IL-10", None),
        ("IL-12 (p70)", "IL-12p70", None),
        ("  IL-10\t(27) ", "IL-10", 27),
        ("IFN-g R42", "IFN-g", 42),
    ],
)
def test_synonyms_map_to_one_canonical_id_and_bead_region(
    reported: str, canonical: str, region: int | None
) -> None:
    assert canonical_analyte(reported) == (canonical, region)
    assert is_known_analyte(reported)


def test_unknown_names_are_kept_normalised_and_flagged_not_dropped() -> None:
    match = resolve_analyte(" pp28 (44)")
    assert match.canonical == "PP28"
    assert match.bead_region == 44
    assert match.known is False
    assert canonical_analyte("PP28")[0] == canonical_analyte("pp28")[0]


def test_replacement_characters_do_not_break_lookup() -> None:
    assert canonical_analyte("IL-6\ufffd")[0] == "IL-6"
