"""Every input the fuzzers found (``fuzz/regressions/<target>/``) and every seed stays a coded input error or a parse.

``make fuzz`` runs the coverage-guided targets of ``fuzz/targets.py``; an input that made a reader
raise anything but a coded :class:`~immunolab.errors.InputError` (or made ``detect`` raise) is
copied to ``fuzz/regressions/<target>/`` and replayed here through the same check. Findings whose
fix belongs to a file another team owns are listed in ``OPEN`` and expected to fail (strict: the
test turns red once they are fixed, so the entry is then removed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]
#: (target, file name) -> why it still fails and who owns the fix
OPEN: dict[tuple[str, str], str] = {
    ("msd", "spotid_superscript_digit_latin1.txt"):
        "assays/msd/methodical.py: `int(spot_text) if spot_text.isdigit()` raises ValueError for 'SpotID : ²' in a "
        "Latin-1 reader text ('²'.isdigit() is True); ingest reports IML-INTERNAL-001. Fix: also require "
        "spot_text.isascii(). Owned by the readers helper.",
    ("xponent", "analyte_with_closing_brace.csv"):
        "assays/luminex_xponent/reader.py _well_records: the message template `where` embeds the analyte name and is "
        "then passed through str.format, so an analyte named 'IL-6}' (or '{x}') raises ValueError/KeyError; ingest "
        "reports IML-INTERNAL-001. Fix: build the message without str.format on input text. Readers helper.",
    ("intelliflex", "analyte_with_closing_brace.csv"):
        "the same xPONENT reader bug, reached through the INTELLIFLEX plugin (found by the fuzzer). Readers helper.",
    ("legendplex", "bom_only.csv"):
        "assays/legendplex_table/parse.py: a file holding only a UTF-8 BOM gives no rows and `rows[0]` raises "
        "IndexError; ingest reports IML-INTERNAL-001. Fix: an empty table is IML-CYT-001/002. Readers helper.",
}


def _cases(folder: str) -> list[tuple[str, Path]]:
    out = []
    for target in TARGETS:
        base = ROOT / "fuzz" / folder / target
        out += [(target, p) for p in sorted(base.glob("*")) if p.is_file()] if base.is_dir() else []
    return out


def _param(target: str, path: Path) -> object:
    reason = OPEN.get((target, path.name))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(target, path, id=f"{target}/{path.name}", marks=marks)


@pytest.mark.parametrize(("target", "path"), [_param(t, p) for t, p in _cases("regressions")])
def test_a_fuzzer_finding_is_now_a_coded_error_or_a_parse(target: str, path: Path) -> None:
    TARGETS[target](path.read_bytes())


@pytest.mark.parametrize(("target", "path"), [_param(t, p) for t, p in _cases("seeds")])
def test_every_seed_parses_or_is_a_coded_error(target: str, path: Path) -> None:
    TARGETS[target](path.read_bytes())


def test_every_target_has_seeds_and_a_fuzz_script() -> None:
    for target in TARGETS:
        assert (ROOT / "fuzz" / f"fuzz_{target}.py").is_file(), target
        assert any((ROOT / "fuzz" / "seeds" / target).glob("*")), target
