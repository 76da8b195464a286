"""A multi-colour tube gated without compensation is warned (IML-FCS-020) and flagged ``uncompensated``.

Without a spillover matrix in the file and none given (``--comp``), overlapping dyes are gated
as acquired: in the simulated trial tube NK cells double (about 20 % -> 40 % of CD45+). Gating
still runs, but ``flow gate`` and ``ingest`` warn, and every population of that gating, its
``flow_gating`` row, the measurements view and ``store qc`` say so. Scatter-only and
single-colour gating read no overlapping dyes: no warning.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import immunolab
from immunolab.cli import main
from tests.flow.tubes import write_manifest, write_tube

CODE = "IML-FCS-020"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _gatingml(path: Path, dims: list[tuple[str, str]]) -> Path:
    """Write a one-rectangle Gating-ML file over ``dims`` (channel, compensation-ref)."""
    body = "".join(
        f'<gating:dimension gating:compensation-ref="{comp}" gating:min="1" gating:max="250000">'
        f'<data-type:fcs-dimension data-type:name="{channel}"/></gating:dimension>' for channel, comp in dims)
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
  xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
  <gating:RectangleGate gating:id="Cells">{body}</gating:RectangleGate>
</gating:Gating-ML>""")
    return path


def _warnings(res: Result) -> list[str]:
    return [line for line in res.stderr.splitlines() if line.startswith(f"WARN {CODE}")]


def test_flow_gate_warns_when_a_multicolour_tube_has_no_spillover_matrix(tmp_path: Path) -> None:
    tube = write_tube(tmp_path / "tube_7.fcs", spillover=False)
    res = run("flow", "gate", str(tube), "--json")
    assert res.exit_code == 0, res.output
    warn = _warnings(res)
    assert len(warn) == 1, res.stderr
    assert warn[0].startswith(f"WARN {CODE} tube_7.fcs: gated without compensation: the file has no spillover matrix")
    assert "9 fluorescence channels" in warn[0] and "--comp FILE" in warn[0]
    out = json.loads(res.stdout)
    assert out["compensation"] == "none" and out["qc_flags"] == ["uncompensated"]


def test_flow_gate_does_not_warn_when_the_file_carries_its_spillover_matrix(tmp_path: Path) -> None:
    res = run("flow", "gate", str(write_tube(tmp_path / "tube.fcs")), "--json")
    assert res.exit_code == 0, res.output
    assert _warnings(res) == [] and json.loads(res.stdout)["qc_flags"] == []


@pytest.mark.parametrize(("dims", "warned"), [
    ([("FSC-A", "uncompensated"), ("SSC-A", "uncompensated")], False),  # scatter only
    ([("FSC-A", "FCS"), ("SSC-A", "FCS")], False),  # scatter is never compensated
    ([("FSC-A", "uncompensated"), ("BV421-A", "FCS")], False),  # one colour: nothing overlaps
    ([("BV421-A", "FCS"), ("PE-Cy7-A", "FCS")], True),  # two colours that wanted the file's matrix
    ([("BV421-A", "uncompensated"), ("PE-Cy7-A", "uncompensated")], False),  # the strategy chose so
])
def test_a_fixed_gate_tree_is_warned_only_when_two_colours_wanted_the_missing_matrix(
        tmp_path: Path, dims: list[tuple[str, str]], warned: bool) -> None:
    tube = write_tube(tmp_path / "tube.fcs", n_events=3000, spillover=False)
    res = run("flow", "gate", str(tube), "--strategy", str(_gatingml(tmp_path / "cells.xml", dims)))
    assert res.exit_code == 0, res.output
    assert len(_warnings(res)) == (1 if warned else 0), res.stderr


@pytest.fixture(scope="module")
def uncompensated_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """Return a store of two tubes of patient 001 (Day 0 with its matrix, Day 3 without) and the ingest's result."""
    tmp = tmp_path_factory.mktemp("uncompensated")
    inbox = tmp / "inbox"
    tubes = {0: write_tube(inbox / "day0.fcs"), 3: write_tube(inbox / "day3.fcs", spillover=False, seed=2)}
    manifest, subjects = write_manifest(tmp, tubes)
    res = run("ingest", str(inbox), "--store", str(tmp / "store"), "--manifest", str(manifest),
              "--subjects", str(subjects), "-j", "1")
    assert res.exit_code == 0, res.output
    return tmp / "store", res


def test_ingest_warns_once_for_the_tube_without_a_matrix(uncompensated_store: tuple[Path, Result]) -> None:
    warn = _warnings(uncompensated_store[1])
    assert len(warn) == 1, uncompensated_store[1].stderr
    assert f"WARN {CODE} 001-D003-PB: gated without compensation" in warn[0]


def test_every_population_of_the_uncompensated_gating_is_flagged(uncompensated_store: tuple[Path, Result]) -> None:
    store = immunolab.open_store(uncompensated_store[0])
    sample_of = store.to_pandas("samples").set_index("source_sha256")["sample_id"]
    pops = store.to_pandas("flow_populations")
    flagged = pops["qc_flags"].map(lambda f: "uncompensated" in list(f))
    assert set(pops.loc[flagged, "source_sha256"].map(sample_of)) == {"001-D003-PB"}
    assert set(pops.loc[~flagged, "source_sha256"].map(sample_of)) == {"001-D000-PB"}
    gating = store.to_pandas("flow_gating").assign(sample=lambda d: d["source_sha256"].map(sample_of))
    assert {s: "uncompensated" in list(f) for s, f in zip(gating["sample"], gating["qc_flags"], strict=True)} == {
        "001-D000-PB": False, "001-D003-PB": True}
    meas = store.to_pandas("measurements")
    day3 = meas[meas["sample_id"] == "001-D003-PB"]
    assert len(day3) and day3["qc_flags"].map(lambda f: "uncompensated" in list(f)).all()


def test_store_qc_warns_of_the_uncompensated_sample(uncompensated_store: tuple[Path, Result]) -> None:
    res = run("store", "qc", "--store", str(uncompensated_store[0]), "--json")
    assert res.exit_code == 0, res.output
    checks = [c for c in json.loads(res.stdout) if c["check"] == "compensation"]
    assert [(c["target"], c["status"]) for c in checks] == [("001-D003-PB", "warn")]
