"""The tested dependency versions are pinned: `make setup` installs with `-c constraints.txt`.

pyproject.toml states the ranges immunolab supports; constraints.txt the exact versions the
suite last ran with, so a fresh clone runs the README's scanpy examples with the same scanpy,
anndata and scipy as the tests did.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]


def test_every_direct_dependency_is_pinned_inside_its_supported_range() -> None:
    pins = _pins()
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is a dependency but constraints.txt does not pin it"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject's {req.specifier}")


def test_make_setup_installs_with_the_constraints() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "-c constraints.txt -e '.[dev]'" in makefile
    assert "constraints.txt" in makefile.split("$(STAMP):", 1)[1].splitlines()[0]  # a new pin re-installs


def test_the_environment_made_by_make_setup_has_the_pinned_versions() -> None:
    if Path(sys.prefix).resolve() != (REPO / ".venv").resolve():
        pytest.skip("not running in this checkout's `make setup` environment (.venv)")
    wrong = {}
    for name, version in _pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # an extra another platform needs
        if installed != version:
            wrong[name] = (installed, version)
    assert not wrong, f"installed vs pinned: {wrong}; re-run `make setup` (or refresh constraints.txt)"
