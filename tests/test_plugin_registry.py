"""Installed plugins that cannot load or break the contract are listed with a code; the others keep working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from immunolab.errors import PluginError
from immunolab.plugins import PluginRegistry


def _install_entry_point(site: Path, name: str, target: str, module: str | None = None) -> None:
    """Write a minimal distribution (dist-info with one ``immunolab.assays`` entry point) into ``site``."""
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[immunolab.assays]\n{name} = {target}\n")
    if module is not None:
        (site / f"{target.split(':')[0]}.py").write_text(module)


def _plugins_json(site: Path) -> list[dict[str, object]]:
    env = dict(os.environ, PYTHONPATH=str(site))
    res = subprocess.run([sys.executable, "-m", "immunolab", "plugins", "--json"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    return list(json.loads(res.stdout))


def test_a_plugin_that_cannot_be_imported_is_listed_as_failed_with_IML_PLUGIN_001(tmp_path: Path) -> None:
    _install_entry_point(tmp_path, "gone_plugin", "gone_plugin_module:Plugin")
    rows = {r["name"]: r for r in _plugins_json(tmp_path)}
    status = str(rows["gone_plugin"]["status"])
    assert status.startswith("load error: IML-PLUGIN-001") and "ModuleNotFoundError" in status
    assert rows["fcs"]["status"] == "ok"  # the others still load


def test_a_plugin_without_parse_is_listed_as_failed_with_IML_PLUGIN_002(tmp_path: Path) -> None:
    module = ("class Plugin:\n    name = 'half'\n    version = '0'\n    assay_kind = 'x'\n"
              "    file_extensions = ('.x',)\n    produces = ()\n    def detect(self, head, filename):\n        return None\n")
    _install_entry_point(tmp_path, "half_plugin", "half_plugin_module:Plugin", module)
    rows = {r["name"]: r for r in _plugins_json(tmp_path)}
    assert str(rows["half_plugin"]["status"]).startswith("load error: IML-PLUGIN-002")
    assert "lacks parse" in str(rows["half_plugin"]["status"])


def test_a_plugin_producing_an_undeclared_table_is_refused() -> None:
    class Wrong:
        name, version, assay_kind, file_extensions, produces = "wrong", "0", "x", (".x",), ("no_such_table",)

        def detect(self, head: bytes, filename: str) -> None:
            return None

        def parse(self, path: Path, ctx: object) -> None:
            return None

    with pytest.raises(PluginError) as err:
        PluginRegistry().register(Wrong())
    assert err.value.code == "IML-PLUGIN-002" and "no_such_table" in err.value.message
