"""Hundreds of malformed FCS variants: never an uncoded exception, every failure a known IML code.

Set ``IMMUNOLAB_RELIABILITY=large`` for many more truncation points and random byte flips.
"""

from __future__ import annotations

import collections
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from immunolab_assays.fcs import FcsPlugin

from immunolab.errors import ERROR_CODES, InputError
from immunolab.fcs.reader import read_fcs
from immunolab.plugins import ParseContext
from tests.fcs.factories import base_specs, build_fcs, malformed_variants

VARIANTS = malformed_variants()


def test_factories_build_at_least_300_distinct_variants() -> None:
    assert len(VARIANTS) >= 300
    assert len({blob for _, blob in VARIANTS}) >= 300


def test_every_variant_reads_or_fails_with_a_known_code() -> None:
    outcomes: collections.Counter[str] = collections.Counter()
    foreign: list[tuple[str, str]] = []
    for name, blob in VARIANTS:
        try:
            data = read_fcs(blob, label="variant.fcs")
            data.preprocessed()
            try:
                data.spillover()
            except InputError as exc:
                assert exc.code == "IML-FCS-012", name
            outcomes["read"] += 1
        except InputError as exc:
            if exc.code not in ERROR_CODES:
                foreign.append((name, exc.code))
            assert exc.path == "variant.fcs", name
            outcomes[exc.code] += 1
        except Exception as exc:  # the property under test: nothing else escapes
            foreign.append((name, repr(exc)))
    assert foreign == []
    assert outcomes["read"] > 0 and sum(v for k, v in outcomes.items() if k != "read") > 300
    assert len([k for k in outcomes if k.startswith("IML-FCS")]) >= 10


def test_delimiter_variants_that_read_give_back_the_exact_events() -> None:
    wrong = []
    for name, spec in base_specs().items():
        for code in range(1, 256):
            try:
                data = read_fcs(build_fcs(replace(spec, delimiter=bytes([code]))))
            except InputError as exc:
                assert exc.code == "IML-FCS-004", (name, code)
                assert bytes([code]).isalnum() or code == ord("$"), (name, code)
                continue
            assert data.events is not None
            if not np.array_equal(data.events, spec.events):
                wrong.append((name, code))
    assert wrong == []


def test_plugin_parse_of_every_readable_variant_builds_a_row_or_raises_a_coded_error(tmp_path: Path) -> None:
    # parse is the FCS layer only (gating is a derivation run after it)
    plugin = FcsPlugin()
    ctx = ParseContext(label="variant.fcs", study_day=lambda d: (d - date(2026, 1, 1)).days)
    path = tmp_path / "v.fcs"
    rows = 0
    for name, blob in VARIANTS[::3]:
        path.write_bytes(blob)
        if plugin.detect(blob[:65536], "v.fcs") is None:
            continue
        try:
            parsed = plugin.parse(path, ctx)
        except InputError as exc:
            assert exc.code in ERROR_CODES, name
            continue
        assert parsed.tables["fcs_files"].num_rows == 1, name
        rows += 1
    assert rows > 0


@pytest.mark.parametrize("label", ["truncated", "flip", "header-", "missing", "delimiter"])
def test_each_variant_family_is_present(label: str) -> None:
    assert any(label in name for name, _ in VARIANTS)
