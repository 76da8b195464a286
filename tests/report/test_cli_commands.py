"""CLI: compare, report and export anndata write their outputs and fail with codes, not tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from immunolab.cli import main
from tests.analysis.synthetic_store import SynthStudy, build_store, registered


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_compare_writes_tables_and_plots(synth: SynthStudy, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    r = invoke("compare", "--store", str(synth.store), "--out", str(out), "--features", "Treg", "--features", "IL-6")
    assert r.exit_code == 0, r.output
    assert "Treg" in r.output and "arm x visit" in r.output
    for name in ("omnibus", "visit_effects", "visit_tests", "auc", "auc_tests", "trajectory_summary"):
        assert (out / f"{name}.csv").is_file() and (out / f"{name}.parquet").is_file()
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["IL-6_concentration.png", "Treg_pct_parent.png"]
    omnibus = pd.read_csv(out / "omnibus.csv")
    assert set(omnibus["feature"]) == {"Treg", "IL-6"} and omnibus["method"].notna().all()
    assert json.loads((out / "settings.json").read_text())["window_days"] == [0, 28]


def test_compare_json_reports_the_interaction_tests(synth: SynthStudy, tmp_path: Path) -> None:
    r = invoke("compare", "--store", str(synth.store), "--out", str(tmp_path / "c"), "--no-plots", "--json",
               "--features", "Treg")
    out = json.loads(r.output)
    assert out["interaction"][0]["feature"] == "Treg" and out["interaction"][0]["p"] < 0.05
    assert out["plots"] == []


def test_a_bad_window_is_a_coded_error_without_traceback(synth: SynthStudy, tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["compare", "--store", str(synth.store), "--out", str(tmp_path / "c"),
                                  "--window", "0-30"])
    assert r.exit_code == 1
    assert "IML-ANA-003" in r.output and "Traceback" not in r.output


def test_compare_on_a_folder_that_is_not_a_store_exits_3(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["compare", "--store", str(tmp_path), "--out", str(tmp_path / "c")])
    assert r.exit_code == 3 and "IML-STORE-001" in r.output


def test_report_writes_one_html_file(synth: SynthStudy, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    r = invoke("report", "--store", str(synth.store), "--out", str(out), "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    text = out.read_text(encoding="utf-8")
    # 10 trajectories + events per flow sample + patients per arm / site / specimen + the UMAP of panel TBNK
    assert info["figures"] == text.count("<img ") == 13 and info["tables"] == text.count("<table") >= 10
    assert list(tmp_path.iterdir()) == [out]


def test_report_refuses_an_unknown_feature_or_a_window_off_the_visits_as_compare_does(
        synth: SynthStudy, tmp_path: Path) -> None:
    """They were accepted (exit 0) and the report's sections said they could not be computed."""
    for extra, code in ((["--features", "FOO"], "IML-ANA-002"), (["--window", "0-30"], "IML-ANA-003")):
        out = tmp_path / "r.html"
        r = CliRunner().invoke(main, ["report", "--store", str(synth.store), "--out", str(out), *extra])
        assert r.exit_code == 1 and code in r.output and not out.exists(), r.output


def test_report_of_a_folder_that_is_not_a_store_exits_3(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["report", "--store", str(tmp_path), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 3 and "IML-STORE-001" in r.output and not (tmp_path / "r.html").exists()


def test_export_anndata_writes_summary_and_sibling_events_file(synth: SynthStudy, tmp_path: Path) -> None:
    import anndata as ad

    out = tmp_path / "trial.h5ad"
    r = invoke("export", "anndata", "--store", str(synth.store), "--out", str(out))
    assert r.exit_code == 0, r.output
    summary, events = ad.read_h5ad(out), ad.read_h5ad(tmp_path / "trial.events.h5ad")
    assert summary.n_obs == 144 and "IL-12%2FIL-23p40|concentration" in summary.var_names
    assert events.n_obs == 900 and "population" in events.obs


def test_export_of_chosen_samples_subsamples_events(synth: SynthStudy, tmp_path: Path) -> None:
    import anndata as ad

    out = tmp_path / "d0.h5ad"
    r = invoke("export", "anndata", "--store", str(synth.store), "--out", str(out), "--kind", "events",
               "--samples", "001|D0", "--max-events", "40")
    assert r.exit_code == 0, r.output
    assert ad.read_h5ad(out).n_obs == 40


def test_export_without_events_skips_them_for_both_and_fails_for_events(tmp_path: Path) -> None:
    gen = registered()
    next(gen)
    try:
        study = build_store(tmp_path / "noev", events=False)
    finally:
        gen.close()
    both = invoke("export", "anndata", "--store", str(study.store), "--out", str(tmp_path / "x.h5ad"))
    assert both.exit_code == 0 and "SKIP events" in both.output
    assert (tmp_path / "x.h5ad").is_file() and not (tmp_path / "x.events.h5ad").exists()
    only = CliRunner().invoke(main, ["export", "anndata", "--store", str(study.store), "--out",
                                     str(tmp_path / "y.h5ad"), "--kind", "events"])
    assert only.exit_code == 1 and "IML-ANA-004" in only.output


def test_exports_count_the_values_qc_decisions_left_out(synth: SynthStudy, tmp_path: Path) -> None:
    """ADaM and AnnData left excluded values out without a word, unlike compare and the report."""
    import shutil

    import anndata as ad

    import immunolab

    store = tmp_path / "store"
    shutil.copytree(synth.store, store)
    sample = sorted(immunolab.open_store(store).to_pandas("samples")["sample_id"].dropna())[0]
    r = invoke("qc", "exclude", "--store", str(store), "--sample", sample, "--reason", "haemolysed serum")
    assert r.exit_code == 0, r.output
    r = invoke("export", "anndata", "--store", str(store), "--out", str(tmp_path / "x.h5ad"), "--kind", "summary")
    n = ad.read_h5ad(tmp_path / "x.h5ad").uns["immunolab"]["qc_excluded_values"]
    assert r.exit_code == 0 and n > 0 and f"{n} value(s) excluded by QC decisions are NaN" in r.output
    r = invoke("export", "adam", "--store", str(store), "--out", str(tmp_path / "adam"), "--no-xpt")
    assert r.exit_code == 0 and f"left out {n} value(s) excluded by QC decisions" in r.output, r.output
    r = invoke("export", "adam", "--store", str(store), "--out", str(tmp_path / "adam2"), "--no-xpt",
               "--include-excluded", "--json")
    assert json.loads(r.output)["qc_excluded_values"] == 0 and json.loads(r.output)["qc_excluded_kept"] is True


def test_folder_exports_write_into_new_empty_or_their_own_folders_and_refuse_others_without_force(
        synth: SynthStudy, tmp_path: Path) -> None:
    for kind, extra in (("parquet", ()), ("adam", ("--no-xpt",))):
        own, empty, other = tmp_path / f"{kind}-own", tmp_path / f"{kind}-empty", tmp_path / f"{kind}-other"
        empty.mkdir()
        other.mkdir()
        (other / "notes.txt").write_text("the statistician's notes")
        for out in (own, own, empty):  # a new folder, the same again (immunolab wrote it), an empty one
            r = invoke("export", kind, "--store", str(synth.store), "--out", str(out), *extra)
            assert r.exit_code == 0, r.output
        refused = CliRunner().invoke(main, ["export", kind, "--store", str(synth.store), "--out", str(other), *extra])
        assert refused.exit_code == 1 and f"IML-IN-010 {other}:" in refused.output, refused.output
        assert "--force" in refused.output and "Traceback" not in refused.output
        assert [p.name for p in other.iterdir()] == ["notes.txt"]  # nothing written
        forced = invoke("export", kind, "--store", str(synth.store), "--out", str(other), "--force", *extra)
        assert forced.exit_code == 0, forced.output
        assert (other / "notes.txt").read_text() == "the statistician's notes" and len(list(other.iterdir())) > 2


def test_report_overwrites_its_own_report_but_not_another_file_without_force(synth: SynthStudy, tmp_path: Path) -> None:
    out = tmp_path / "results.html"
    out.write_text("<html>the lab's own page</html>")
    refused = CliRunner().invoke(main, ["report", "--store", str(synth.store), "--out", str(out)])
    assert refused.exit_code == 1 and f"IML-IN-010 {out}:" in refused.output and "--force" in refused.output
    assert out.read_text() == "<html>the lab's own page</html>"
    for args in (("--force",), ()):  # then a report over the report immunolab wrote
        r = invoke("report", "--store", str(synth.store), "--out", str(out), "--no-gating-figures", *args)
        assert r.exit_code == 0, r.output
        assert "the lab's own page" not in out.read_text(encoding="utf-8")


def test_export_anndata_overwrites_its_own_h5ad_but_not_another_file_without_force(
        synth: SynthStudy, tmp_path: Path) -> None:
    out = tmp_path / "trial.h5ad"
    out.write_text("not anndata")
    refused = CliRunner().invoke(main, ["export", "anndata", "--store", str(synth.store), "--out", str(out),
                                        "--kind", "summary"])
    assert refused.exit_code == 1 and f"IML-IN-010 {out}:" in refused.output and "--force" in refused.output
    assert out.read_text() == "not anndata"
    for args in (("--force",), ()):  # then over the file immunolab wrote
        r = invoke("export", "anndata", "--store", str(synth.store), "--out", str(out), "--kind", "summary", *args)
        assert r.exit_code == 0, r.output


def test_compare_refuses_a_foreign_folder_and_reads_a_locked_version(synth: SynthStudy, tmp_path: Path) -> None:
    """compare --out overwrote any folder silently and had no --version (trial finding; exports had both)."""
    import json

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("kept")
    refused = CliRunner().invoke(main, ["compare", "--store", str(synth.store), "--out", str(other), "--no-plots"])
    assert refused.exit_code == 1 and f"IML-IN-010 {other}:" in refused.output and "--force" in refused.output
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    own = tmp_path / "own"
    for _ in range(2):  # the folder it wrote is its own the second time
        r = invoke("compare", "--store", str(synth.store), "--out", str(own), "--no-plots", "--version", "1")
        assert r.exit_code == 0, r.output
    assert json.loads((own / "settings.json").read_text())["store_version"] == 1
    bad = CliRunner().invoke(main, ["compare", "--store", str(synth.store), "--out", str(own), "--version", "99"])
    assert bad.exit_code != 0 and "IML-STORE-011" in bad.output
    forced = invoke("compare", "--store", str(synth.store), "--out", str(other), "--no-plots", "--force")
    assert forced.exit_code == 0 and (other / "notes.txt").read_text() == "kept"


def test_writing_again_into_an_export_folder_leaves_no_file_of_the_earlier_export(synth: SynthStudy, tmp_path: Path) -> None:
    """An .xpt of an earlier export stayed beside a --no-xpt export of another version, plots beside
    --no-plots tables (review finding); a file the user put there is never touched."""
    adam = tmp_path / "adam"
    assert invoke("export", "adam", "--store", str(synth.store), "--out", str(adam)).exit_code == 0
    assert sorted(p.name for p in adam.glob("*.xpt")) == ["adae.xpt", "adlb.xpt", "adsl.xpt", "adtte.xpt"]
    (adam / "my_notes.txt").write_text("kept")
    r = invoke("export", "adam", "--store", str(synth.store), "--out", str(adam), "--no-xpt")
    assert r.exit_code == 0, r.output
    assert not list(adam.glob("*.xpt")) and (adam / "my_notes.txt").read_text() == "kept"
    assert (adam / "adsl.parquet").exists() and (adam / "adlb.csv").exists()
    comp = tmp_path / "compare"
    assert invoke("compare", "--store", str(synth.store), "--out", str(comp), "--features", "IL-6").exit_code == 0
    assert list((comp / "plots").glob("*.png"))
    r = invoke("compare", "--store", str(synth.store), "--out", str(comp), "--features", "IL-6", "--no-plots")
    assert r.exit_code == 0, r.output
    assert not list((comp / "plots").glob("*.png")) and (comp / "settings.json").exists()


def test_compare_names_the_assay_of_a_feature_two_assays_measure(tmp_path: Path) -> None:
    """IL-6 on plates and on bead arrays: two plot files named by assay (not IL-6_concentration_.png), titles too."""
    from types import SimpleNamespace

    from immunolab.cli.compare_cmd import _write_plots

    rows = [{"assay": assay, "feature": feature, "measure": "concentration", "unit": "pg/mL", "arm": arm,
             "visit_day": day, "n": 5, "median": 10.0, "q1": 8.0, "q3": 12.0}
            for assay, feature in (("cytokine", "IL-6"), ("bead_array", "IL-6"), ("cytokine", "IL-8"))
            for arm in ("MSC", "control") for day in (0, 28)]
    result = SimpleNamespace(summary=pd.DataFrame(rows), settings={"treated": "MSC", "reference": "control"})
    paths = _write_plots(result, tmp_path)  # type: ignore[arg-type]
    assert sorted(p.name for p in paths) == ["IL-6_concentration_bead_array.png", "IL-6_concentration_cytokine.png",
                                             "IL-8_concentration.png"]


def test_export_anndata_refuses_an_out_name_that_is_not_h5ad(synth: SynthStudy, tmp_path: Path) -> None:
    """`--out x.csv` wrote HDF5 under a .csv name; now a coded error, nothing written."""
    r = CliRunner().invoke(main, ["export", "anndata", "--store", str(synth.store), "--out", str(tmp_path / "x.csv")])
    assert r.exit_code == 1 and "IML-IN-014" in r.output and ".h5ad" in r.output and "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []
