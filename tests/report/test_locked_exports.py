"""A locked analysis is reproducible from the CLI: every export (and the report) reads a chosen store version.

The data manager could re-create a locked Parquet snapshot (`export parquet --version N`) but
not the ADaM datasets or the AnnData handed to the statistician: `export adam --version` was
"No such option". And two ADaM exports of one version differed in their .xpt bytes, whose
headers held the time of writing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anndata as ad
import pytest
from click.testing import CliRunner

import immunolab
from immunolab.cli import main
from tests.analysis.synthetic_store import SynthStudy


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _exports(store: Path, out: Path, *when: str) -> None:
    for args in (("adam", "--out", str(out / "adam")), ("parquet", "--out", str(out / "parquet")),
                 ("anndata", "--out", str(out / "x.h5ad"), "--kind", "summary")):
        r = invoke("export", args[0], "--store", str(store), *args[1:], *when)
        assert r.exit_code == 0, r.output


def test_exports_at_a_locked_version_equal_the_exports_made_when_it_was_the_latest(synth: SynthStudy,
                                                                                   tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(synth.store, store)
    locked = immunolab.open_store(store)
    _exports(store, tmp_path / "then")
    sample = sorted(locked.to_pandas("samples")["sample_id"].dropna())[0]
    r = invoke("qc", "exclude", "--store", str(store), "--sample", sample, "--reason", "haemolysed serum")
    assert r.exit_code == 0, r.output
    _exports(store, tmp_path / "now")
    assert _files(tmp_path / "now" / "adam")["adlb.csv"] != _files(tmp_path / "then" / "adam")["adlb.csv"]

    assert locked.committed_at is not None
    for i, when in enumerate((("--version", str(locked.version)), ("--as-of", locked.committed_at.isoformat()))):
        again = tmp_path / f"again{i}"
        _exports(store, again, *when)
        for folder in ("adam", "parquet"):  # Parquet, CSV, XPORT and store_version.json: the same bytes
            assert _files(again / folder) == _files(tmp_path / "then" / folder), folder
        then, now = ad.read_h5ad(tmp_path / "then" / "x.h5ad"), ad.read_h5ad(again / "x.h5ad")
        assert now.uns["immunolab"]["store_version"] == then.uns["immunolab"]["store_version"] == locked.version
        assert (now.X.tolist(), now.obs.to_dict(), list(now.var_names)) == \
            (then.X.tolist(), then.obs.to_dict(), list(then.var_names))
    meta = json.loads((tmp_path / "then" / "adam" / "store_version.json").read_text())
    assert meta["store_version"] == locked.version


def test_the_xport_headers_carry_the_store_versions_commit_time(synth: SynthStudy, tmp_path: Path) -> None:
    r = invoke("export", "adam", "--store", str(synth.store), "--out", str(tmp_path / "adam"))
    assert r.exit_code == 0, r.output
    when = immunolab.open_store(synth.store).committed_at
    assert when is not None
    stamp = when.strftime("%d%b%y:%H:%M:%S").upper().encode()
    for name in ("adsl", "adlb"):
        data = (tmp_path / "adam" / f"{name}.xpt").read_bytes()
        assert [data[a:b] for a, b in ((144, 160), (160, 176), (464, 480), (480, 496))] == [stamp] * 4


@pytest.mark.parametrize("command", [("export", "adam"), ("export", "anndata"), ("report",)])
def test_a_version_that_does_not_exist_or_two_ways_of_choosing_one_is_a_coded_error(
        synth: SynthStudy, tmp_path: Path, command: tuple[str, ...]) -> None:
    out = str(tmp_path / ("x.h5ad" if command[-1] == "anndata" else "out.html" if command == ("report",) else "adam"))
    r = CliRunner().invoke(main, [*command, "--store", str(synth.store), "--out", out, "--version", "9999"])
    assert r.exit_code == 3 and "IML-STORE-011" in r.output and "Traceback" not in r.output, r.output
    r = CliRunner().invoke(main, [*command, "--store", str(synth.store), "--out", out, "--version", "1",
                                  "--as-of", "2026-01-01"])
    assert r.exit_code == 1 and "IML-STORE-012" in r.output, r.output
