"""The error-code registry is exact: every code is raised by the source and exercised by a test.

The codes are enumerated from :data:`immunolab.errors.ERROR_CODES` at test time, so families
added later (report, interop, hardening) are checked the moment they are registered. A code
counts as *raised* when the source (``immunolab/``, ``assays/``; not ``errors.py``) holds it as
a string literal, and as *exercised* when a test module other than this one names it. Retired
codes (:data:`immunolab.errors.RETIRED_CODES`) are never raised and never reused.

``tests/store/test_coded_failures.py`` holds the malformed cases of codes no other module covered.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from immunolab.errors import ERROR_CODES, RETIRED_CODES

REPO = Path(__file__).resolve().parents[1]
CODE = re.compile(r"IML-[A-Z]+-\d{3}")


def _literals(folders: tuple[str, ...], *, skip: tuple[Path, ...] = ()) -> dict[str, set[str]]:
    """Return code -> files (relative) whose text holds the code as a quoted string literal."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in (REPO / folder).rglob("*.py"):
            if path in skip:
                continue
            for code in re.findall(r"[\"'](IML-[A-Z]+-\d{3})[\"']", path.read_text("utf-8")):
                found.setdefault(code, set()).add(str(path.relative_to(REPO)))
    return found


def _mentions(folder: str, *, skip: tuple[Path, ...] = ()) -> set[str]:
    """Return every code named anywhere in the Python files under ``folder``."""
    return {c for p in (REPO / folder).rglob("*.py") if p not in skip for c in CODE.findall(p.read_text("utf-8"))}


RAISED = _literals(("immunolab", "assays"), skip=(REPO / "immunolab" / "errors.py",))
TESTED = _mentions("tests", skip=(Path(__file__).resolve(),))


def test_the_registry_is_well_formed() -> None:
    assert ERROR_CODES and all(CODE.fullmatch(c) and meaning.strip() for c, meaning in ERROR_CODES.items())
    assert not set(ERROR_CODES) & set(RETIRED_CODES)


def test_the_registry_lists_each_family_together_and_in_code_order() -> None:
    """A reader looks a code up by scanning its family: one block per family, numbers ascending."""
    families: list[tuple[str, list[int]]] = []
    for code in ERROR_CODES:
        family, number = code.rsplit("-", 1)
        if not families or families[-1][0] != family:
            families.append((family, []))
        families[-1][1].append(int(number))
    names = [f for f, _ in families]
    assert len(names) == len(set(names)), f"a family is split in several blocks: {names}"
    unordered = {f: n for f, n in families if n != sorted(n)}
    assert not unordered, f"codes out of order: {unordered}"


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_every_registered_code_is_raised_by_the_source(code: str) -> None:
    assert code in RAISED, f"{code} ({ERROR_CODES[code]}) is raised nowhere: raise it or retire it"


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_every_registered_code_is_exercised_by_a_test(code: str) -> None:
    assert code in TESTED, f"{code} ({ERROR_CODES[code]}) is named by no test: add a malformed case"


def test_every_code_the_source_raises_is_registered() -> None:
    unknown = {c: sorted(files) for c, files in RAISED.items() if c not in ERROR_CODES}
    assert not unknown, f"codes raised but not in ERROR_CODES: {unknown}"


def test_retired_codes_are_raised_nowhere() -> None:
    assert not {c: sorted(RAISED[c]) for c in RETIRED_CODES if c in RAISED}
