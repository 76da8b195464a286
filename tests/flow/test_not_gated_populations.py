"""A gate whose parent holds too few events is *not gated*: its frequencies are unknown (NaN), not 0 %.

The template leaves a gate ungated when its parent holds fewer than ``MIN_PARENT_EVENTS`` (50)
events (status ``too_few_events``). Its mask is empty, so its count stays 0 (what
``flow_event_gates`` counts), but 0 % would be a measurement the tube never made: the
percentages of that gate and of every gate below it are NaN, the populations carry the QC flag
``too_few_events`` (with ``low_event_count``), the measurements view holds them as
``not_available`` with a NaN value (count and absolute counts included), AnnData's X holds NaN,
and ``flow gate`` prints "not gated (too few events)".
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import immunolab
from immunolab.cli import main
from immunolab.flow.populations import PopulationStat, with_unknown_frequencies
from tests.flow.tubes import write_manifest, write_tube

CD4 = "/Lymphocytes/Singlets/CD45+/T cells/CD4+ T"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _stat(path: str, count: int, pct: float) -> PopulationStat:
    return PopulationStat(path, path.rsplit("/", 1)[-1], None, count, 100, 1000, pct, pct / 10, pct)


def test_a_population_not_gated_and_its_children_get_unknown_frequencies_and_keep_their_counts() -> None:
    stats = [_stat("/A", 60, 60.0), _stat("/A/B", 0, 0.0), _stat("/A/B/C", 0, 0.0), _stat("/A/BB", 5, 8.3)]
    out = {s.gate_path: s for s in with_unknown_frequencies(stats, ["/A/B"])}
    for path in ("/A/B", "/A/B/C"):
        assert math.isnan(out[path].pct_parent) and math.isnan(out[path].pct_total)
        assert out[path].pct_lymphocytes is not None and math.isnan(out[path].pct_lymphocytes)
        assert out[path].count == 0
    assert out["/A"] == stats[0] and out["/A/BB"] == stats[3]  # /A/BB only shares a prefix with /A/B


def test_flow_gate_shows_gates_below_a_small_parent_as_not_gated(tmp_path: Path) -> None:
    tube = write_tube(tmp_path / "tube.fcs", n_events=250)  # CD4+ T holds fewer than 50 events
    res = run("flow", "gate", str(tube))
    assert res.exit_code == 0, res.output
    lines = {line.split("  ")[0].strip(): line for line in res.stdout.splitlines()[2:]}
    assert lines[f"{CD4}/Treg"].endswith("not gated (too few events)")
    assert lines[f"{CD4}/HLA-DR+ CD4 T"].endswith("not gated (too few events)")
    assert not lines[CD4].endswith("not gated (too few events)") and "0.00" not in lines[f"{CD4}/Treg"]
    out = json.loads(run("flow", "gate", str(tube), "--json").stdout)
    by_path = {p["gate_path"]: p for p in out["populations"]}
    assert by_path[f"{CD4}/Treg"]["pct_parent"] is None and by_path[f"{CD4}/Treg"]["count"] == 0
    assert by_path[CD4]["pct_parent"] > 0
    assert f"{CD4}/Treg" in out["not_gated"]


@pytest.fixture(scope="module")
def small_tube_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a store of patient 001: Day 0 a normal tube, Day 3 a tube of 40 events (nothing gated)."""
    tmp = tmp_path_factory.mktemp("not_gated")
    inbox = tmp / "inbox"
    tubes = {0: write_tube(inbox / "day0.fcs"), 3: write_tube(inbox / "day3.fcs", n_events=40, seed=2)}
    manifest, subjects = write_manifest(tmp, tubes)
    res = run("ingest", str(inbox), "--store", str(tmp / "store"), "--manifest", str(manifest),
              "--subjects", str(subjects), "-j", "1")
    assert res.exit_code == 0, res.output
    (tmp / "ingest.out").write_text(res.output)
    return tmp / "store"


def test_ingest_says_which_populations_were_not_gated_not_that_they_are_small(small_tube_store: Path) -> None:
    out = (small_tube_store.parent / "ingest.out").read_text()
    (line,) = [ln for ln in out.splitlines() if "001-D003-PB" in ln and "not gated" in ln]
    assert "IML-IN-009" in line and "unknown (NaN), not 0" in line
    assert not [ln for ln in out.splitlines() if "001-D003-PB" in ln and "under 50 events (" in ln and "not gated" not in ln]


def test_the_stored_populations_of_a_40_event_tube_have_no_frequency_and_are_flagged(small_tube_store: Path) -> None:
    store = immunolab.open_store(small_tube_store)
    sample_of = store.to_pandas("samples").set_index("source_sha256")["sample_id"]
    pops = store.to_pandas("flow_populations").assign(sample=lambda d: d["source_sha256"].map(sample_of))
    tiny = pops[pops["sample"] == "001-D003-PB"]
    assert len(tiny) == 11 and tiny["pct_parent"].isna().all() and tiny["pct_total"].isna().all()
    assert (tiny["count"] == 0).all()
    assert tiny["qc_flags"].map(lambda f: {"too_few_events", "low_event_count"} <= set(f)).all()
    normal = pops[pops["sample"] == "001-D000-PB"]
    assert normal["pct_parent"].notna().all()
    assert not normal["qc_flags"].map(lambda f: "too_few_events" in list(f)).any()


def test_the_measurements_view_holds_them_as_not_available(small_tube_store: Path) -> None:
    meas = immunolab.open_store(small_tube_store).to_pandas("measurements")
    tiny = meas[(meas["sample_id"] == "001-D003-PB") & (meas["assay"] == "flow")]
    lymph = tiny[tiny["feature"] == "Lymphocytes"].set_index("measure")
    assert {"pct_parent", "pct_total", "count"} <= set(lymph.index)
    assert lymph["value"].isna().all() and set(lymph["censor"]) == {"not_available"}
    assert tiny["value"].isna().all()
    normal = meas[(meas["sample_id"] == "001-D000-PB") & (meas["assay"] == "flow")]
    assert normal["value"].notna().all() and set(normal["censor"]) == {"none"}


def test_anndata_summary_puts_nan_in_x_for_the_visit_not_gated(small_tube_store: Path) -> None:
    adata = immunolab.to_anndata(immunolab.open_store(small_tube_store), kind="summary")
    x = adata[:, "Lymphocytes|pct_parent"].X
    values = dict(zip(adata.obs_names, np.asarray(x).ravel(), strict=True))
    assert np.isnan(values["001|D3"]) and values["001|D0"] > 0


def test_store_qc_says_not_gated_instead_of_zero_events(small_tube_store: Path) -> None:
    res = run("store", "qc", "--store", str(small_tube_store), "--json")
    assert res.exit_code == 0, res.output
    rows = [c for c in json.loads(res.stdout) if c["check"] == "population_events" and c["target"] == "001-D003-PB"]
    assert len(rows) == 11 and all(c["detail"].startswith("not gated") for c in rows)


def test_the_report_names_a_gate_not_applied_once_as_not_gated_not_as_zero_events() -> None:
    import pandas as pd

    from immunolab.report.gating_qc import _stored_flags

    pops = pd.DataFrame({"population": ["CD4+ T", "Treg"], "count": [35, 0],
                         "qc_flags": [["low_event_count"], ["low_event_count", "too_few_events"]]})
    assert _stored_flags(pops, ["low_event_count"], 250) == [
        "CD4+ T: low_event_count (35 events)", "Treg: not gated (too few events in its parent)"]


def test_the_report_names_an_uncompensated_gating_once_for_the_file() -> None:
    import pandas as pd

    from immunolab.report.gating_qc import _stored_flags

    pops = pd.DataFrame({"population": ["Lymphocytes", "NK cells"], "count": [9000, 2000],
                         "qc_flags": [["uncompensated"], ["uncompensated"]]})
    assert _stored_flags(pops, ["uncompensated"], 20000) == [
        "uncompensated (no spillover matrix: fluorescence gated without compensation)"]
