"""The science and I/O packages are public, typed libraries: a sorted ``__all__``, documented, typed, light to import."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("immunolab.cytokine", "immunolab.flow", "immunolab.fcs", "immunolab.io")
LAZY = ("immunolab.cytokine", "immunolab.flow", "immunolab.fcs")
SCIENCE = ("immunolab/cytokine", "immunolab/flow", "immunolab/fcs", "immunolab/io")
#: a function longer than this says why in its docstring ("Long because ...")
MAX_LINES = 80


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_resolves_to_a_documented_object_of_the_package(name: str) -> None:
    pkg = importlib.import_module(name)
    assert pkg.__all__ and len(set(pkg.__all__)) == len(pkg.__all__)
    for public in pkg.__all__:
        obj = getattr(pkg, public)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__.startswith(name + "."), f"{name}.{public} comes from {obj.__module__}"
            assert (obj.__doc__ or "").strip(), f"{name}.{public} has no docstring"


@pytest.mark.parametrize("name", PACKAGES)
def test_public_functions_are_fully_typed(name: str) -> None:
    pkg = importlib.import_module(name)
    for public in pkg.__all__:
        obj = getattr(pkg, public)
        if not inspect.isfunction(obj):
            continue
        hints = obj.__annotations__
        params = [p for p in inspect.signature(obj).parameters.values() if p.name not in ("self", "cls")]
        missing = [p.name for p in params if p.name not in hints] + ([] if "return" in hints else ["return"])
        assert not missing, f"{name}.{public} lacks type hints for {missing}"


@pytest.mark.parametrize("name", LAZY)
def test_the_type_checking_imports_are_exactly_the_public_names(name: str) -> None:
    pkg = importlib.import_module(name)
    tree = ast.parse(Path(pkg.__file__ or "").read_text("utf-8"))
    typed = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.If)
             for stmt in node.body if isinstance(stmt, ast.ImportFrom) for a in stmt.names}
    assert typed == set(pkg.__all__) == set(pkg._EXPORTS)


def test_importing_the_science_packages_imports_no_numerical_library() -> None:
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", "import " + ", ".join(LAZY)],
                         capture_output=True, text=True, check=True)
    loaded = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in res.stderr.splitlines() if "|" in line}
    assert not loaded & {"numpy", "scipy", "pandas", "flowkit", "flowutils", "anndata"}


def test_an_unknown_name_is_an_attribute_error() -> None:
    import immunolab.flow

    with pytest.raises(AttributeError, match="no_such_gate"):
        immunolab.flow.no_such_gate  # noqa: B018


def test_immunolab_ingest_is_callable_after_a_script_imports_the_submodule_and_the_submodule_stays_usable(
        tmp_path: Path) -> None:
    """`import immunolab.ingest` rebinds the package's `ingest` to the submodule: calling it raised TypeError."""
    (tmp_path / "subjects.csv").write_text("patient_id,arm,site,age,sex\n001,MSC,A,40,F\n")
    (tmp_path / "manifest.csv").write_text("file,sample_id,patient_id,visit_day,specimen,panel\n")
    (tmp_path / "labs.csv").write_text("patient_id,study_day,test,value,unit\n001,0,CRP,5,mg/L\n")
    kw = {"store": str(tmp_path / "store"), "manifest": str(tmp_path / "manifest.csv"),
          "subjects": str(tmp_path / "subjects.csv")}
    script = f"""
import immunolab.ingest
import immunolab
from immunolab.ingest import IngestOptions, IngestReport, ingest_paths
first = immunolab.ingest([{str(tmp_path / "labs.csv")!r}], **{kw!r})
again = immunolab.ingest([{str(tmp_path / "labs.csv")!r}], **{kw!r})
print("calls", first.counts["OK"], again.counts["SKIP"], isinstance(first, IngestReport))
print("submodule", immunolab.ingest.ingest_paths is ingest_paths, immunolab.ingest.IngestOptions is IngestOptions)
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "calls 1 1 True" in res.stdout and "submodule True True" in res.stdout


def _long_functions() -> list[str]:
    out = []
    for folder in SCIENCE:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    n_lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    doc = ast.get_docstring(node) or ""
                    if n_lines > MAX_LINES and "Long because" not in doc:
                        out.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({n_lines} lines)")
    return out


def test_science_functions_stay_short_or_say_why() -> None:
    assert not _long_functions()
