"""The HTML report of the synthetic store: one self-contained file whose tables agree with the store.

Values are checked against numbers computed here from the store's tables with plain pandas
(patients per arm, values per arm and visit, plate QC facts), not against the report's own code.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import immunolab
from immunolab.report.html import SECTIONS, write_report
from tests.analysis.synthetic_store import SynthStudy
from tests.report.page import Page

N_TRAJECTORIES = 10  # 6 flow populations (% of parent) + 4 cytokines (pg/mL); the synthetic store has no cells/uL


@pytest.fixture(scope="module")
def report(synth: SynthStudy, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(immunolab.open_store(synth.store), tmp_path_factory.mktemp("rep") / "report.html")


@pytest.fixture(scope="module")
def page(report: Path) -> Page:
    return Page(report.read_text(encoding="utf-8"))


def test_every_section_is_on_the_page_in_order_and_linked_from_the_navigation(report: Path, page: Page) -> None:
    text = report.read_text(encoding="utf-8")
    assert set(SECTIONS) <= page.ids
    positions = [text.index(f"<section id='{s}'>") for s in SECTIONS]
    assert positions == sorted(positions)
    for s in SECTIONS:
        assert f"href='#{s}'" in text


def test_figures_are_inline_pngs_and_nothing_is_fetched_from_outside(page: Page) -> None:
    assert not page.external and not page.forbidden
    images = page.all_images()
    assert images
    for src, alt in images:
        assert src.startswith("data:image/png;base64,") and alt
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_header_names_the_store_version_and_the_active_gating_of_each_panel(page: Page, synth: SynthStudy) -> None:
    store = immunolab.open_store(synth.store)
    head = page["header"]
    assert f"version {store.version} of {len(store.versions())}" in head.joined()
    assert "pandas" in head.joined() and "deltalake" in head.joined() and "statsmodels" in head.joined()
    gating = head.table_with("panel", "derivation", "files", "why active")
    ident = store.to_pandas("identity_samples")
    n_flow = ident[(ident["sample_key"] == "") & (ident["panel"] == "TBNK")]["source_sha256"].nunique()
    assert gating.to_dict("records") == [{"panel": "TBNK", "derivation": "strat0123456789ab", "strategy": "synthetic",
                                          "kind": "template", "files": str(n_flow),
                                          "why active": "default: each file's gating at ingest (no decision recorded)"}]
    assert "no QC exclusion recorded" in head.joined()


def test_patients_per_arm_match_the_subjects_table(page: Page, synth: SynthStudy) -> None:
    subjects = immunolab.open_store(synth.store).to_pandas("identity_subjects")
    expected = subjects.groupby("arm")["patient_id"].nunique().astype(str).to_dict()
    shown = page["cohort"].table_with("arm", "patients")
    assert dict(zip(shown["arm"], shown["patients"], strict=True)) == expected


def test_per_visit_counts_of_the_arm_comparison_match_the_measurements(page: Page, synth: SynthStudy) -> None:
    m = immunolab.open_store(synth.store).to_pandas("measurements")
    treg = m[(m["feature"] == "Treg") & (m["measure"] == "pct_parent") & m["value"].notna()]
    expected = treg.groupby(["visit_day", "arm"])["patient_id"].nunique().unstack("arm")
    effects = page["comparison"].table_with("visit_day", "n_treated", "n_reference", "ratio (95 % CI) unadjusted")
    shown = effects[effects["feature"] == "Treg"].set_index("visit_day")
    assert len(shown) == len(expected)
    for day, row in expected.iterrows():
        assert shown.loc[str(day), "n_treated"] == str(row["MSC"])
        assert shown.loc[str(day), "n_reference"] == str(row["control"])


def test_the_comparison_says_what_it_was_adjusted_for_beside_the_unadjusted_result(page: Page) -> None:
    summary = page["comparison"].table_with("feature", "interaction p unadjusted", "interaction p adjusted",
                                            "adjusted for")
    assert set(summary["adjusted for"]) <= {"age", "none"}  # one site: only age varies in the synthetic cohort
    treg = summary[summary["feature"] == "Treg"].iloc[0]
    assert treg["interaction p unadjusted"] == "<0.001" and treg["adjusted for"] == "age"
    il10 = summary[summary["feature"] == "IL-10"].iloc[0]  # mostly below the LLOQ: not modelled, says why
    assert il10["interaction p unadjusted"] == "" and "censored" in il10["not modelled because"]
    assert "Satterthwaite" in page["comparison"].joined() and "Fisher exact" in page["comparison"].joined()


def test_the_change_from_baseline_ancova_and_the_day_0_tests_are_shown_apart(page: Page, synth: SynthStudy) -> None:
    from immunolab.analysis.compare import compare_store
    from immunolab.report.fmt import p_text

    res = compare_store(immunolab.open_store(synth.store))
    shown = page["comparison"].table_with("visit_day", "ratio at equal baseline (95 % CI)", "q (BH, all ANCOVA tests)")
    assert len(shown) == len(res.ancova) and "0" not in set(shown["visit_day"])
    assert list(shown["p"]) == [p_text(p) for p in res.ancova["p"]]
    day0 = [t for t in page["comparison"].tables if "test" in t.columns and "visit_day" in t.columns
            and set(t["visit_day"]) == {"0"}]
    assert len(day0) == 1 and "q (BH, within feature)" not in day0[0].columns
    assert "Baseline imbalance" in page["comparison"].joined()


def test_one_trajectory_per_compared_feature_with_its_patients_and_censored_values(page: Page) -> None:
    images = page["trajectories"].images
    assert len(images) == N_TRAJECTORIES
    assert {alt for _src, alt in images} >= {"Trajectory of Treg (pct_parent) per arm",
                                             "Trajectory of IL-10 (concentration) per arm"}
    assert "censored value(s) as open triangles" in page["trajectories"].joined()


def test_plate_qc_shows_status_controls_and_reading_flags_by_plate_code(page: Page, synth: SynthStudy) -> None:
    cyt = page["cytokines"]
    qc = cyt.table_with("plate", "qc_status", "controls_in_range")
    assert qc.to_dict("records")[0]["plate"] == "PLATE-1"
    assert qc.to_dict("records")[0]["qc_status"] == "warn" and qc.to_dict("records")[0]["controls_in_range"] == "1/2"
    wells = immunolab.open_store(synth.store).to_pandas("cytokine_wells")
    n_low = int(wells["reader_flags"].map(lambda f: "low_bead_count" in list(f)).sum())
    flags = cyt.table_with("plate", "flag", "readings")
    assert flags[flags["flag"] == "low_bead_count"]["readings"].tolist() == [str(n_low)]
    assert "No plate has both the instrument's results and a refit." in cyt.joined()
    assert "plate-1" not in cyt.joined()  # the internal plate id never shows


def test_gating_qc_says_why_files_could_not_be_re_gated_and_the_stored_events_get_a_umap(page: Page) -> None:
    flow = page["flow"]
    assert "/Lymphocytes/T cells/Treg" in flow.joined()  # populations per strategy
    assert "the stored strategy cannot be rebuilt to re-gate the files: IML-FCS-013" in flow.joined()
    umaps = [src for src, alt in flow.images if alt == "UMAP of panel TBNK"]
    assert len(umaps) == 1 and umaps[0].startswith("data:image/png;base64,")


def test_clinical_section_says_what_could_not_be_computed(page: Page) -> None:
    text = page["clinical"].joined()
    assert "no outcomes ingested" in text and "no adverse events ingested" in text


def test_provenance_lists_plugins_files_and_commits(page: Page, synth: SynthStudy) -> None:
    prov = page["provenance"]
    assert "synth_flow 0.0.1" in prov.joined() and "synth_plate 0.0.1" in prov.joined()
    by_plugin = prov.table_with("plugin", "files in use")
    src = immunolab.open_store(synth.store).to_pandas("sources")
    assert dict(zip(by_plugin["plugin"], by_plugin["files in use"], strict=True)) == \
        src.groupby("plugin").size().astype(str).to_dict()
    log = prov.table_with("store version", "kind", "summary")
    assert log["kind"].tolist() == ["ingest"]


def test_report_holds_no_file_names_paths_labels_or_ingest_ids(report: Path, synth: SynthStudy) -> None:
    text = report.read_text(encoding="utf-8")
    store = immunolab.open_store(synth.store)
    src = store.to_pandas("sources")
    labels = {lab for lab in src["label"].dropna() if lab.endswith("-FLOW")}
    assert labels  # tube labels: the report names samples patient|Dday instead
    for needle in (*labels, *src["ingest_id"], synth.flow_file.name, synth.plate_file.name, str(synth.root),
                   "FLOWBATCH", "-SER"):
        assert needle not in text, needle
    assert "001|D0" in text


def _chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def test_report_renders_in_headless_chromium(report: Path) -> None:
    binary = _chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (tried /usr/bin/chromium, chromium, chromium-browser, google-chrome); "
                    "install it with `apt-get install chromium` to run this browser test")
    res = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = Page(res.stdout)
    assert len(dom.all_images()) >= N_TRAJECTORIES + 1
    assert len(dom.all_tables()) >= 10
    assert set(SECTIONS) <= dom.ids
    assert not re.search(r"This section could not be computed", res.stdout)
