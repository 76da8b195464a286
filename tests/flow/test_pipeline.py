"""The FCS plugin's flow pipeline: gating at ingest, strategy choice, per-event output, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import immunolab
from immunolab.cli import main
from immunolab.ingest import ingest_paths

TEMPLATE_POPULATIONS = {
    "Lymphocytes", "Singlets", "CD45+", "T cells", "CD4+ T", "CD8+ T", "B cells", "NK cells", "Treg",
    "HLA-DR+ CD4 T", "HLA-DR+ CD8 T",
}


def _two_files(trial: Path, tmp_path: Path) -> tuple[Path, list[Path]]:
    files = sorted((trial / "flow").glob("*.fcs"))[:2]
    rows = [ln for ln in (trial / "manifest.csv").read_text().splitlines()[1:] if ln.split(",")[0] in {f.name for f in files}]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,sample_id,patient_id,visit_day,specimen,panel\n" + "\n".join(rows) + "\n")
    (tmp_path / "subjects.csv").write_text((trial / "subjects.csv").read_text())
    return manifest, files


def test_ingest_gates_each_fcs_file_with_the_built_in_template(demo_trial: Path, tmp_path: Path) -> None:
    manifest, files = _two_files(demo_trial, tmp_path)
    report = ingest_paths(files, store=tmp_path / "s", manifest=manifest)
    assert report.counts["OK"] == 2, [o.message for o in report.outcomes]
    pops = immunolab.open_store(tmp_path / "s").to_pandas("flow_populations")
    assert set(pops["population"]) == TEMPLATE_POPULATIONS
    assert pops["strategy_id"].nunique() == 1
    lymph = pops[pops.population == "Lymphocytes"]
    assert (lymph["pct_lymphocytes"] == 100).all()
    meas = immunolab.open_store(tmp_path / "s").to_pandas("measurements")
    assert set(meas["measure"]) == {"pct_parent", "pct_total", "pct_lymphocytes", "count"}


def test_events_flag_stores_compensated_transformed_events_with_leaf_population(demo_trial: Path, tmp_path: Path) -> None:
    manifest, files = _two_files(demo_trial, tmp_path)
    ingest_paths(files[:1], store=tmp_path / "s", manifest=manifest, write_events=True)
    s = immunolab.open_store(tmp_path / "s")
    ev = s.table("flow_events")
    fcs = s.table("fcs_files").to_pylist()[0]
    assert ev.num_rows == fcs["n_events"]
    assert {"CD3", "CD4", "CD8", "FSC-A"} <= set(ev.column_names)
    assert str(ev.schema.field("CD3").type) == "float"
    pops = s.to_pandas("flow_populations").set_index("population")
    labels = ev.column("population").to_pandas().value_counts()
    # a Treg is a leaf below CD4+ T: the leaf labels never exceed the gated counts
    assert labels.get("Treg", 0) <= pops.loc["Treg", "count"]
    assert labels.sum() == fcs["n_events"]


def test_a_gatingml_strategy_replaces_the_template(demo_trial: Path, tmp_path: Path) -> None:
    manifest, files = _two_files(demo_trial, tmp_path)
    gml = tmp_path / "lymph.xml"
    gml.write_text("""<?xml version="1.0" encoding="UTF-8"?>
<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
  xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
  <gating:RectangleGate gating:id="Lymphocytes">
    <gating:dimension gating:min="20000" gating:max="120000">
      <data-type:fcs-dimension data-type:name="FSC-A"/></gating:dimension>
    <gating:dimension gating:min="0" gating:max="60000">
      <data-type:fcs-dimension data-type:name="SSC-A"/></gating:dimension>
  </gating:RectangleGate>
</gating:Gating-ML>""")
    report = ingest_paths(files[:1], store=tmp_path / "s", manifest=manifest, strategy=gml)
    assert report.counts["OK"] == 1, report.outcomes[0].message
    s = immunolab.open_store(tmp_path / "s")
    pops = s.to_pandas("flow_populations")
    assert list(pops["population"]) == ["Lymphocytes"]
    strategies = s.to_pandas("flow_strategies").set_index("strategy_id")
    assert strategies.loc[pops["strategy_id"].iloc[0], "strategy_name"] == "lymph"
    assert strategies.loc[pops["strategy_id"].iloc[0], "kind"] == "gatingml"
    assert 0 < pops["pct_parent"].iloc[0] < 100


def test_flow_gate_prints_the_population_table_without_a_store(demo_trial: Path, tmp_path: Path) -> None:
    f = sorted((demo_trial / "flow").glob("*.fcs"))[0]
    r = CliRunner().invoke(main, ["flow", "gate", str(f), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert {row["population"] for row in out["populations"]} == TEMPLATE_POPULATIONS
    text = CliRunner().invoke(main, ["flow", "gate", str(f)]).output
    assert "/Lymphocytes/Singlets/CD45+/T cells/CD4+ T/Treg" in text
    assert f.name not in text


def test_flow_gate_on_a_file_lacking_the_panel_is_a_coded_error(tmp_path: Path) -> None:
    import numpy as np

    from immunolab.fcs.writer import write_fcs

    f = write_fcs(tmp_path / "x.fcs", np.ones((50, 2), dtype="f4") * 100, ["FSC-H", "SSC-H"])
    r = CliRunner().invoke(main, ["flow", "gate", str(f)])
    assert r.exit_code == 1
    assert "IML-FCS-011" in r.output


@pytest.mark.parametrize("suffix", [".txt", ".wsp"])
def test_unknown_or_broken_strategy_files_are_iml_fcs_013(tmp_path: Path, suffix: str) -> None:
    from immunolab.errors import InputError
    from immunolab.flow.pipeline import load_strategy

    p = tmp_path / f"s{suffix}"
    p.write_text("not a strategy")
    with pytest.raises(InputError) as exc:
        load_strategy(p)
    assert exc.value.code == "IML-FCS-013"


def test_a_flowjo_matrix_file_replaces_the_file_spillover(demo_trial: Path, tmp_path: Path) -> None:
    from immunolab.fcs.reader import read_fcs

    f = sorted((demo_trial / "flow").glob("*.fcs"))[0]
    spill = read_fcs(f).spillover()
    names = list(spill.channels)
    matrix = tmp_path / "comp.csv"
    matrix.write_text(",".join(names) + "\n" + "\n".join(",".join(f"{v:.6g}" for v in row) for row in spill.matrix) + "\n")
    same = json.loads(CliRunner().invoke(main, ["flow", "gate", str(f), "--json", "--comp", str(matrix)]).output)
    own = json.loads(CliRunner().invoke(main, ["flow", "gate", str(f), "--json"]).output)
    assert same["compensation"] == "matrix file comp.csv" and own["compensation"] == "file spillover keyword"
    assert [r["count"] for r in same["populations"]] == [r["count"] for r in own["populations"]]
    under = tmp_path / "under.csv"  # spillover under-estimated by half: gating sees different data
    under.write_text(",".join(names) + "\n" + "\n".join(
        ",".join(f"{v if i == j else v / 2:.6g}" for j, v in enumerate(row)) for i, row in enumerate(spill.matrix)) + "\n")
    other = json.loads(CliRunner().invoke(main, ["flow", "gate", str(f), "--json", "--comp", str(under)]).output)
    assert [r["count"] for r in other["populations"]] != [r["count"] for r in own["populations"]]


def test_each_ingest_records_its_strategy_definition_and_compensation(demo_trial: Path, tmp_path: Path) -> None:
    manifest, files = _two_files(demo_trial, tmp_path)
    ingest_paths(files[:1], store=tmp_path / "s", manifest=manifest)
    s = immunolab.open_store(tmp_path / "s")
    strategies = s.to_pandas("flow_strategies")
    assert len(strategies) == 1
    row = strategies.iloc[0]
    assert row["strategy_id"] == s.to_pandas("flow_populations")["strategy_id"].iloc[0]
    assert row["kind"] == "template"
    gating = s.to_pandas("flow_gating")  # one row per file x strategy: how it was gated
    assert len(gating) == 1
    gated = gating.iloc[0]
    assert (gated["status"], gated["strategy_id"], gated["derivation_id"]) == ("ok", row["strategy_id"], row["derivation_id"])
    assert gated["compensation"] == "file spillover keyword"
    definition = json.loads(row["definition_json"])
    assert "logicle" in json.dumps(definition).lower()


def test_flow_gate_plot_draws_one_panel_per_gate(demo_trial: Path, tmp_path: Path) -> None:
    from immunolab.fcs.reader import read_fcs
    from immunolab.flow.gate_plot import gating_figure, population_axes
    from immunolab.flow.pipeline import gate_fcs, load_strategy

    f = sorted((demo_trial / "flow").glob("*.fcs"))[0]
    png = tmp_path / "new" / "dir" / "g.png"  # a missing folder is created (was IML-INTERNAL-001)
    r = CliRunner().invoke(main, ["flow", "gate", str(f), "--plot", str(png)])
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fcs = read_fcs(f)
    loaded = load_strategy(None)
    result = gate_fcs(fcs, loaded, label="x")
    axes = population_axes(loaded, result)
    assert axes["/Lymphocytes"] == ("FSC-A", "SSC-A") and axes["/Lymphocytes/Singlets/CD45+/T cells"] == ("CD3",)
    fig = gating_figure(fcs, loaded, result)
    drawn = [ax for ax in fig.axes if ax.get_title()]
    assert len(drawn) == len(TEMPLATE_POPULATIONS)
    assert any(ax.get_title().startswith("Treg: ") and "% of CD4+ T" in ax.get_title() for ax in drawn)


def test_stored_event_columns_are_named_as_cleaned_as_fcs_files_channels(demo_trial: Path) -> None:
    """A date typed into $PnS was cleaned in fcs_files but became a flow_events column name as written."""
    import dataclasses

    from immunolab.fcs import read_fcs
    from immunolab.flow.pipeline import events_table, gate_fcs, load_strategy

    fcs = read_fcs(demo_trial / "flow" / "001-D000-PB_TBNK-Treg.fcs")
    loaded = load_strategy(None)
    result = gate_fcs(fcs, loaded, label="tube")
    k = next(i for i, ch in enumerate(fcs.channels) if ch.pns == "CD4")
    fcs.channels[k] = dataclasses.replace(fcs.channels[k], pns="CD4 bled 12/04/1961")
    table = events_table(fcs, result, loaded)
    assert "CD4 bled [date]" in table.column_names
    assert not any("1961" in name for name in table.column_names)
