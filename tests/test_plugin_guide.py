"""The plugin author's guide (docs/plugins.md) is a working third-party plugin, installed and ingested end to end.

``tests/plugin_example`` is a separate distribution (``immunolab-example-ward``) that registers
through the ``immunolab.assays`` entry point. It is installed with pip (offline: no index, no
build isolation, no dependencies) into a temporary folder that fresh ``immunolab`` processes
see on their ``PYTHONPATH``, exactly as a lab would install a plugin from its own repository;
immunolab itself is not edited. The guide's code blocks must be the package's files verbatim.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "tests" / "plugin_example"
GUIDE = REPO / "docs" / "plugins.md"
DATA = EXAMPLE / "example"
FENCE = re.compile(r"^```(\w+) file=(\S+)\n(.*?)^```$", re.S | re.M)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a folder holding the installed example plugin (package + dist-info with its entry point)."""
    root = tmp_path_factory.mktemp("ward_plugin")
    src = root / "src"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("example", "*.egg-info", "build", "__pycache__"))
    target = root / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                          "--no-build-isolation", "--target", str(target), str(src)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert list(target.glob("immunolab_example_ward-1.0.0.dist-info/entry_points.txt"))
    return target


def _immunolab(site: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m immunolab ARGS`` (or ``python -c CODE``) in a fresh process that sees the plugin."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]),
               COLUMNS="200")
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "immunolab", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def _json_of(site: Path, store: Path, expression: str) -> object:
    """Return ``expression`` (of ``store``, an opened store) evaluated in a fresh process, through JSON."""
    code = f"import json, immunolab\nstore = immunolab.open_store({str(store)!r})\nprint(json.dumps({expression}))\n"
    res = _immunolab(site, code=code)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _ward_measurements(site: Path, store: Path) -> list[dict[str, object]]:
    m = "store.to_pandas('measurements')"
    cols = "['patient_id', 'visit_day', 'feature', 'value', 'unit', 'lineage_table']"
    rows: Any = _json_of(site, store, f"{m}[{m}['assay'] == 'ward'][{cols}].to_dict('records')")
    return list(rows)


def test_the_installed_plugin_is_listed_with_its_version_and_table(site: Path) -> None:
    res = _immunolab(site, "plugins", "--json")
    assert res.returncode == 0, res.stderr
    ward = next(r for r in json.loads(res.stdout) if r["name"] == "ward_observations")
    assert ward["status"] == "ok" and ward["version"] == "1.0.0"
    assert ward["produces"] == ["ward_observations"] and ward["options"] == ["--ward-temperature-unit"]
    assert "immunolab_example_ward:WardObservationsPlugin" in ward["origin"]


def test_its_option_is_an_ingest_flag(site: Path) -> None:
    res = _immunolab(site, "ingest", "--help")
    assert res.returncode == 0, res.stderr
    assert re.search(r"--ward-temperature-unit \[C\|F\]\s+Ward CSV: unit of the temperature column", res.stdout)
    assert "[plugin ward_observations]" in res.stdout


def test_a_ward_csv_reaches_measurements_at_protocol_visits(site: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    res = _immunolab(site, "ingest", str(DATA / "ward.csv"), "--store", str(store), "--manifest",
                     str(DATA / "manifest.csv"), "--subjects", str(DATA / "subjects.csv"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(r"^OK   file:[0-9a-f]{12}: ward_observations, \d+ rows", res.stdout, re.M), res.stdout
    rows = {(r["patient_id"], r["visit_day"], r["feature"]): (r["value"], r["unit"])
            for r in _ward_measurements(site, store)}
    assert rows == {
        ("001", 0, "heart_rate"): (96.0, "bpm"), ("001", 0, "temperature"): (38.6, "degC"),
        ("001", 3, "heart_rate"): (88.0, "bpm"), ("001", 3, "temperature"): (37.9, "degC"),
        ("001", 6, "heart_rate"): (76.0, "bpm"), ("001", 6, "temperature"): (36.9, "degC"),
        ("002", 0, "heart_rate"): (101.0, "bpm"), ("002", 0, "temperature"): (39.1, "degC"),
        ("002", 3, "heart_rate"): (94.0, "bpm"),  # its temperature cell is empty: no row, no zero
        ("002", 6, "heart_rate"): (82.0, "bpm"), ("002", 6, "temperature"): (37.2, "degC"),
    }


def test_the_new_assay_reaches_anndata_with_no_core_edit(site: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    res = _immunolab(site, "ingest", str(DATA / "ward.csv"), "--store", str(store), "--manifest",
                     str(DATA / "manifest.csv"), "--subjects", str(DATA / "subjects.csv"))
    assert res.returncode == 0, res.stdout + res.stderr
    got: Any = _json_of(site, store, "(lambda a: {'var': a.var[['feature', 'assay', 'unit']].to_dict('records'), "
                        "'obs': a.obs['patient_id'].tolist(), 'x': a.X.tolist()})"
                        "(immunolab.to_anndata(store, kind='summary'))")
    assert sorted((v["feature"], v["assay"], v["unit"]) for v in got["var"]) == [
        ("heart_rate", "ward", "bpm"), ("temperature", "ward", "degC")]
    assert sorted(set(got["obs"])) == ["001", "002"] and len(got["x"]) == 6  # 2 patients x visits D0, D3, D6


def test_the_option_value_reaches_the_plugin(site: Path, tmp_path: Path) -> None:
    ward = tmp_path / "ward_f.csv"
    ward.write_text("patient_id,date,heart_rate_bpm,temperature\n001,2026-03-02,90,100.4\n", "utf-8")
    store = tmp_path / "store"
    res = _immunolab(site, "ingest", str(ward), "--store", str(store), "--manifest", str(DATA / "manifest.csv"),
                     "--subjects", str(DATA / "subjects.csv"), "--ward-temperature-unit", "F")
    assert res.returncode == 0, res.stdout + res.stderr
    temps = [r["value"] for r in _ward_measurements(site, store) if r["feature"] == "temperature"]
    assert temps == [38.0]


def test_an_unknown_patient_is_a_coded_failure_naming_the_row(site: Path, tmp_path: Path) -> None:
    ward = tmp_path / "ward_bad.csv"
    ward.write_text("patient_id,date,heart_rate_bpm,temperature\n001,2026-03-02,90,37\n099,2026-03-02,80,37\n")
    res = _immunolab(site, "ingest", str(ward), "--store", str(tmp_path / "s"), "--manifest",
                     str(DATA / "manifest.csv"), "--subjects", str(DATA / "subjects.csv"))
    assert res.returncode == 1
    assert re.search(r"^FAIL IML-CLIN-006 file:[0-9a-f]{12}: row 2: the patient is not in the subjects file", res.stdout,
                     re.M), res.stdout
    assert "099" not in res.stdout and "Traceback" not in res.stdout + res.stderr


def test_the_core_knows_nothing_of_the_example_plugin() -> None:
    core = [p for d in ("immunolab", "assays") for p in (REPO / d).rglob("*.py")]
    assert core and not [p for p in core if "ward_observations" in p.read_text("utf-8")]


def test_the_guide_code_blocks_are_the_plugin_files() -> None:
    blocks = {path: body for _lang, path, body in FENCE.findall(GUIDE.read_text("utf-8"))}
    files = sorted(str(p.relative_to(REPO)) for p in EXAMPLE.rglob("*")
                   if p.suffix in (".py", ".toml", ".csv") and not {"build", "__pycache__"} & set(p.parts))
    assert sorted(blocks) == files, "every file of tests/plugin_example is one code block of docs/plugins.md"
    for path, body in blocks.items():
        assert body == (REPO / path).read_text("utf-8"), f"docs/plugins.md differs from {path}"
