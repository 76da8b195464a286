"""The report of a small trial ingested from real files: what a trial team reads, checked against the store.

The store holds FCS tubes, two Luminex plates (one switched to its refit by a recorded decision),
a LEGENDplex bead run, clinical labs, adverse events and outcomes, a QC exclusion and a FlowSOM
clustering (``tests/report/conftest.py``). Every expected number is computed here from the
store's tables or the trial's input files with pandas.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import immunolab
from immunolab.report.html import write_report
from immunolab.store.read import Store
from tests.report.conftest import EXCLUDE_REASON, REFIT_REASON, SmallTrial
from tests.report.page import Page

pytestmark = pytest.mark.slow

MAX_GATING = 3


@pytest.fixture(scope="module")
def html(small_trial: SmallTrial, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("trial_report") / "report.html"
    write_report(immunolab.open_store(small_trial.store), out, max_gating_samples=MAX_GATING)
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(html: str) -> Page:
    return Page(html)


@pytest.fixture(scope="module")
def store(small_trial: SmallTrial) -> Store:
    return immunolab.open_store(small_trial.store)


def _label(store: Store, sample_id: str) -> str:
    smp = store.to_pandas("samples")
    row = smp[smp["sample_id"] == sample_id].iloc[0]
    return f"{row['patient_id']}|D{int(row['visit_day'])}"


def test_no_section_failed(page: Page, html: str) -> None:
    assert "This section could not be computed" not in html
    assert not page.external and not page.forbidden


def test_the_refit_chosen_for_a_plate_is_named_with_the_recorded_reason_scrubbed(
        page: Page, store: Store, small_trial: SmallTrial) -> None:
    curves = page["header"].table_with("plate", "active", "why active").set_index("plate")
    version = next(r.store_version for r in store.versions() if r.kind == "choice")
    assert curves.loc["PLATE-01", "active"] == small_trial.refit_id
    assert curves.loc["PLATE-01", "why active"] == f"decision at store version {version}: refit per SOP-12 of [date] ([file])"
    assert curves.loc["PLATE-02", "active"] == "instrument"
    assert curves.loc["PLATE-02", "why active"].startswith("default: the export carries the instrument's results")
    assert "refit by immunolab" in curves.loc["PLATE-01", "curve source"]


def test_the_qc_exclusion_shows_the_sample_pseudonymously_and_how_many_values_it_removes(
        page: Page, store: Store, small_trial: SmallTrial) -> None:
    excl = page["header"].table_with("kind", "target", "reason", "values excluded")
    m = store.to_pandas("measurements", columns=["sample_id", "excluded"])
    removed = int(m[m["sample_id"] == small_trial.excluded_sample]["excluded"].sum())
    assert removed > 0
    assert excl.to_dict("records") == [{
        "kind": "sample", "target": _label(store, small_trial.excluded_sample), "analyte": "(all)",
        "reason": "clot seen on [date] in the tube", "store version": str(store.version - 1),
        "values excluded": str(removed)}]


def test_nothing_identifying_reaches_the_page(html: str, store: Store, small_trial: SmallTrial) -> None:
    from immunolab.derive.views import plate_codes

    manifest = pd.read_csv(small_trial.trial / "manifest.csv", dtype=str)
    subjects = pd.read_csv(small_trial.trial / "subjects.csv", dtype=str)
    src = store.to_pandas("sources")
    needles = {*manifest["file"].dropna(), *manifest["sample_id"].dropna(), *subjects["day0_date"].dropna(),
               *src["ingest_id"], *src["label"].dropna(), small_trial.excluded_sample, str(small_trial.trial),
               *(pid for pid, code in plate_codes(store).items() if pid != code)}
    needles -= set(plate_codes(store).values())  # the plate code is the lab's own plate name, shown on purpose
    for needle in sorted(needles):
        assert needle not in html, needle
    for reason in (REFIT_REASON, EXCLUDE_REASON):
        assert reason not in html
    dates = re.findall(r"\b\d{4}-\d{2}-\d{2}\b", re.sub(r"data:image/png;base64,[^']+", "", html))
    assert len(dates) == 1  # the generation time, nothing else


def test_cohort_crosstab_matches_the_subjects_file_and_warns_that_site_decides_specimen(
        page: Page, small_trial: SmallTrial) -> None:
    subjects = pd.read_csv(small_trial.trial / "subjects.csv", dtype=str)
    manifest = pd.read_csv(small_trial.trial / "manifest.csv", dtype=str)
    flow = manifest[manifest["panel"].notna() & manifest["file"].str.endswith(".fcs") & manifest["patient_id"].notna()]
    specimen = flow.groupby("patient_id")["specimen"].first()
    subjects["specimen"] = subjects["patient_id"].map(specimen)
    expected = subjects.groupby(["site", "specimen", "arm"]).size().unstack("arm", fill_value=0)
    cross = page["cohort"].table_with("site", "specimen", "total").set_index(["site", "specimen"])
    for (site, spec), row in expected.iterrows():
        for arm in ("MSC", "control"):
            assert cross.loc[(site, spec), arm] == str(row.get(arm, 0))
    one_specimen_per_site = subjects.groupby("site")["specimen"].nunique().max() == 1
    assert one_specimen_per_site  # the demo's design: each site sampled one specimen type
    assert "site and specimen determine each other" in page["cohort"].joined()


def test_adjusted_effects_say_they_were_adjusted_for_site(page: Page) -> None:
    summary = page["comparison"].table_with("feature", "measure", "adjusted for")
    flow = summary[summary["assay"] == "flow"]
    assert len(flow) and all("site" in a for a in flow["adjusted for"])
    assert "Adjusted: the same model with fixed effects for site, specimen, age" in page["comparison"].joined()


def test_absolute_counts_are_compared_and_drawn_over_time(page: Page, store: Store) -> None:
    m = store.to_pandas("measurements", columns=["feature", "measure", "value"])
    counts = m[(m["measure"] == "cells_per_uL") & m["feature"].isin(["CD4+ T", "CD8+ T"]) & m["value"].notna()]
    assert set(counts["feature"]) == {"CD4+ T", "CD8+ T"}
    assert "Absolute counts (cells/uL)" in page["trajectories"].headings
    alts = {alt for _src, alt in page["trajectories"].images}
    assert {"Trajectory of CD4+ T (cells_per_uL) per arm", "Trajectory of CD8+ T (cells_per_uL) per arm"} <= alts
    summary = page["comparison"].table_with("feature", "measure")
    assert {("CD4+ T", "cells_per_uL"), ("CD8+ T", "cells_per_uL")} <= set(zip(summary["feature"], summary["measure"],
                                                                              strict=True))


def test_mortality_and_adverse_events_match_the_clinical_tables(page: Page, store: Store) -> None:
    subj = store.to_pandas("identity_subjects")[["patient_id", "arm"]]
    out = store.to_pandas("outcomes").merge(subj, on="patient_id")
    deaths = out[(out["event"] == "death") & (out["study_day"] <= 28)].groupby("arm")["patient_id"].nunique()
    n = subj.groupby("arm")["patient_id"].nunique()
    mort = page["clinical"].table_with("deaths treated", "deaths reference").iloc[0]
    for arm, column in (("MSC", "deaths treated"), ("control", "deaths reference")):
        d = int(deaths.get(arm, 0))
        assert mort[column] == f"{d}/{n[arm]} ({100 * d / n[arm]:.0f} %)"
    ae = store.to_pandas("adverse_events").merge(subj, on="patient_id")
    shown = page["clinical"].table_with("category", "events treated").set_index("category")
    assert shown.loc["any adverse event", "events treated"] == str(int((ae["arm"] == "MSC").sum()))
    assert shown.loc["any adverse event", "events reference"] == str(int((ae["arm"] == "control").sum()))
    assert "Kaplan-Meier survival by arm" in {alt for _s, alt in page["clinical"].images}
    assert "small-n caveat" in page["clinical"].joined()


def test_refit_vs_instrument_differences_match_the_stored_results(page: Page, store: Store,
                                                                   small_trial: SmallTrial) -> None:
    from immunolab.derive.views import plate_codes

    res = store.to_pandas("cytokine_results")
    pid = next(p for p, c in plate_codes(store).items() if c == "PLATE-01")
    res = res[(res["plate_id"] == pid) & (res["analyte"] == "IL-6")]
    wide = res.pivot_table(index="sample_key", columns="derivation_id", values="concentration", aggfunc="first")
    cens = res.pivot_table(index="sample_key", columns="derivation_id", values="censor", aggfunc="first")
    ok = (cens["instrument"] == "none") & (cens[small_trial.refit_id] == "none")
    rel = 100 * (wide.loc[ok, small_trial.refit_id] - wide.loc[ok, "instrument"]) / wide.loc[ok, "instrument"]
    table = page["cytokines"].table_with("plate", "refit", "analyte", "median |rel. diff| %")
    row = table[(table["plate"] == "PLATE-01") & (table["analyte"] == "IL-6")].iloc[0]
    assert row["samples compared"] == str(int(ok.sum()))
    assert float(row["median |rel. diff| %"]) == pytest.approx(float(np.median(np.abs(rel))), rel=5e-3)
    assert float(row["max |rel. diff| %"]) == pytest.approx(float(np.max(np.abs(rel))), rel=5e-3)


def test_plates_appear_by_code_and_the_bead_run_has_its_curves_and_top_standard(page: Page,
                                                                                store: Store) -> None:
    qc = page["cytokines"].table_with("plate", "qc_status")
    assert sorted(qc["plate"]) == ["BEADRUN-01", "PLATE-01", "PLATE-02"]
    wells = store.to_pandas("cytokine_wells")
    run_wells = wells[wells["plate_id"] == "run:BEADRUN-01"]
    assert qc.set_index("plate").loc["BEADRUN-01", "wells"] == str(run_wells["well"].nunique())
    alts = [alt for _src, alt in page["cytokines"].images]
    analytes = set(run_wells["analyte"])
    curves = [a for a in alts if a.startswith("BEADRUN-01: ") and "standard curve" in a]
    assert {a.split(": ", 1)[1].split(" standard curve")[0] for a in curves} == analytes
    assert any("top standard" in a for a in alts)


def test_gating_qc_re_gates_every_file_and_draws_the_flagged_ones(page: Page, store: Store) -> None:
    smp = store.to_pandas("samples")
    files = smp[(smp["assay_kind"] == "flow") & (smp["sample_key"] == "")]
    n = files["source_sha256"].nunique()
    flow = page["flow"]
    assert f"{n} file(s) re-gated from the raw vault; {n} reproduce the stored population counts exactly" in flow.joined()
    pops = store.to_pandas("flow_populations")
    low = pops[pops["qc_flags"].map(lambda f: "low_event_count" in list(f))]
    labels = {f"{p}|D{int(d)}" for p, d in
              files[files["source_sha256"].isin(low["source_sha256"])][["patient_id", "visit_day"]].itertuples(index=False)}
    flagged = flow.table_with("sample", "why flagged")
    assert labels <= set(flagged["sample"])
    drawn = [alt for _src, alt in flow.images if alt.startswith("Every gate of sample")]
    assert len(drawn) == min(MAX_GATING, len(flagged))
    assert any(alt.startswith("Gate positions of every sample") for _src, alt in flow.images)


def test_a_store_ingested_without_events_says_how_to_get_the_umap(page: Page, store: Store) -> None:
    assert "flow_events" not in store.table_versions or store.to_pandas("flow_events").empty
    flow = page["flow"]
    assert "holds no per-event flow data" in flow.joined() and "immunolab ingest --events" in flow.joined()
    assert not [alt for _src, alt in flow.images if alt.startswith("UMAP")]


def test_cluster_agreement_is_the_stored_clustering(page: Page, store: Store) -> None:
    a = store.to_pandas("flow_cluster_agreement")
    gate = "gate (all its events)"  # whole gates, child gates' events included (docs/gating.md)
    shown = page["flow"].table_with(gate, "metacluster(s)", "F")
    assert sorted(shown[gate]) == sorted(a["population"])
    best = a.sort_values("f_measure").iloc[-1]
    row = shown[shown[gate] == best["population"]].iloc[0]
    assert float(row["F"]) == pytest.approx(best["f_measure"], rel=5e-3)


def test_the_commit_log_lists_every_store_version_without_identifiers(page: Page, store: Store) -> None:
    log = page["provenance"].table_with("store version", "kind", "summary", "reason")
    assert log["kind"].tolist() == [r.kind for r in store.versions()]
    assert "[date]" in " ".join(log["reason"])


def test_the_demo_report_builds_from_the_cli_with_timing(small_trial: SmallTrial, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from immunolab.cli import main

    out = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["report", "--store", str(small_trial.store), "--out", str(out), "--adjust", "none",
                                  "--no-gating-figures", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    text = out.read_text(encoding="utf-8")
    assert info["figures"] == text.count("<img ") and info["tables"] == text.count("<table") and info["seconds"] > 0
    assert "No covariate varies in these data" not in text and "interaction p adjusted" not in text
    assert "Every gate of sample" not in text


def test_outcomes_past_follow_up_or_on_a_day_without_a_visit_are_refused(store: Store) -> None:
    """--day 1000 counted discharged patients as alive to day 1000; --change-day 500 gave an empty row."""
    from immunolab.analysis.endpoints import trial_endpoints
    from immunolab.errors import InputError

    for kwargs, says in (({"day": 1000}, "after the end of follow-up"), ({"change_day": 500}, "not a protocol visit")):
        with pytest.raises(InputError) as err:
            trial_endpoints(store, **kwargs)
        assert err.value.code == "IML-ANA-008" and says in err.value.message
    assert "mortality" in trial_endpoints(store, day=180).tables


def test_a_feature_two_assays_measure_is_drawn_twice_with_the_assay_named(page: Page) -> None:
    """The demo measures IL-6 on plates and on bead arrays: two figures whose alt texts tell them apart."""
    alts = [alt for _src, alt in page["trajectories"].images if alt.startswith("Trajectory of IL-6 (concentration")]
    assert len(alts) == len(set(alts)) == 2, alts
    assert all(alt.startswith("Trajectory of IL-6 (concentration, ") for alt in alts)


def test_the_reports_compare_commands_reproduce_its_q_values(page: Page, small_trial: SmallTrial,
                                                             tmp_path: Path) -> None:
    """The report's BH family (defaults plus CD4+/CD8+ cells/uL) was one no compare invocation reproduced."""
    import shlex

    from click.testing import CliRunner

    from immunolab.cli import main
    from immunolab.report.fmt import p_text

    text = page["comparison"].joined()
    commands = [c for c in re.findall(r"immunolab compare --store STORE (?:--[a-z-]+ \S+ )*--out \S+/", text)
                if c.endswith(("compare-results/", "compare-adjusted/"))]
    assert len(commands) == 2, text
    family = re.search(r"interaction q-values are over the (\d+) features modelled of (\d+) compared", text)
    assert family is not None
    summary = page["comparison"].table_with("feature", "measure", "interaction q unadjusted").set_index(
        ["assay", "feature", "measure"])
    for command, kind in zip(commands, ("unadjusted", "adjusted"), strict=True):
        out = tmp_path / kind
        args = [str(small_trial.store) if a == "STORE" else a for a in shlex.split(command)[2:-2]]
        r = CliRunner().invoke(main, ["compare", *args, "--out", str(out), "--no-plots"], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        o = pd.read_csv(out / "omnibus.csv")
        o = o[o["test"] == "arm x visit interaction"].set_index(["assay", "feature", "measure"])
        assert sorted(o.index) == sorted(summary.index)
        if kind == "unadjusted":
            assert (int(family[1]), int(family[2])) == (int(o["p"].notna().sum()), len(o))
        shown = summary[f"interaction q {kind}"].fillna("").astype(str)
        assert {k: p_text(q) for k, q in o["q_bh"].items()} == shown.to_dict()
