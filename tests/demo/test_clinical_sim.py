"""Demo clinical data: readable by the clinical readers, consistent with the cohort, the flow truth and itself."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from immunolab_assays.clinical_sdtm import read_sdtm
from immunolab_assays.clinical_table import read_clinical_table

from immunolab.analysis.adam import build_adsl
from immunolab.analysis.outcomes import ae_summary, mortality_by_arm
from immunolab.clinical.context import ReadContext
from immunolab.clinical.days import patient_resolver, study_day_from_subjects
from immunolab.demo.clinical_sim import draw_outcomes, generate_clinical, visits_alive
from immunolab.demo.cohort import draw_subjects, draw_visits, subjects_frame
from immunolab.demo.trial import DEFAULT_SEED
from immunolab.demo.truth_model import TruthModel, draw_truth_model


@pytest.fixture(scope="module")
def cohort() -> tuple[list, list, TruthModel]:
    rng = np.random.default_rng([DEFAULT_SEED, 0])
    subjects = draw_subjects(rng, 20)
    visits = draw_visits(rng, subjects)
    return subjects, visits, draw_truth_model(np.random.default_rng([DEFAULT_SEED, 1]), subjects, DEFAULT_SEED)


@pytest.fixture(scope="module")
def written(cohort: tuple[list, list, TruthModel], tmp_path_factory: pytest.TempPathFactory) -> Path:
    subjects, visits, model = cohort
    out = tmp_path_factory.mktemp("clinical")
    generate_clinical(out, subjects, visits, model, DEFAULT_SEED)
    return out


def _ctx(cohort: tuple[list, list, TruthModel], label: str) -> ReadContext:
    subj = subjects_frame(cohort[0])
    return ReadContext(label=label, study_day=study_day_from_subjects(subj), patients=patient_resolver(subj))


def test_the_plain_files_read_with_the_trial_subjects(cohort: tuple[list, list, TruthModel], written: Path) -> None:
    labs = read_clinical_table(written / "hospital_labs.csv", _ctx(cohort, "hospital_labs.csv"))
    res = labs.table("clinical_results").to_pandas()
    assert set(res["test_code"]) == {"WBC", "LYM", "CRP", "IL6", "DDIMER", "FERRITIN", "LDH", "SPO2", "WHOOSCI"}
    assert set(res.loc[res["test_code"] == "CRP", "unit"]) == {"mg/L"}  # mg/dL of SITE-B converted
    assert res["study_day"].min() == 0 and not labs.skipped
    ae = read_clinical_table(written / "adverse_events.csv", _ctx(cohort, "adverse_events.csv")).table("adverse_events")
    events = read_clinical_table(written / "events.csv", _ctx(cohort, "events.csv")).table("outcomes")
    assert ae.num_rows > 0 and events.num_rows == 20


def test_lymphocyte_counts_follow_the_flow_truth_model(cohort: tuple[list, list, TruthModel], written: Path) -> None:
    subjects, visits, model = cohort
    labs = pd.read_csv(written / "hospital_labs.csv", dtype={"patient_id": str})
    wide = labs.pivot_table(index=["patient_id", "date"], columns="test", values="value", aggfunc="first")
    day0 = {s.patient_id: s.day0_date for s in subjects}
    attended: dict[str, list[int]] = {}
    for v in visits:
        attended.setdefault(v.subject.patient_id, []).append(v.visit_day)
    assert len(wide) == len(visits)
    for (pid, date), rec in wide.iterrows():
        day = (dt.date.fromisoformat(str(date)) - day0[str(pid)]).days
        visit = min(attended[str(pid)], key=lambda d: abs(d - day))
        assert abs(visit - day) <= 1
        truth = model.proportion(str(pid), visit, "lymphocyte_share")
        assert rec["Lymphocyte count"] / rec["White blood cell count"] == pytest.approx(truth, abs=0.01)


def test_sdtm_and_plain_forms_hold_the_same_results(cohort: tuple[list, list, TruthModel], written: Path) -> None:
    plain = read_clinical_table(written / "hospital_labs.csv", _ctx(cohort, "labs")).table("clinical_results").to_pandas()
    lb = read_sdtm(written / "sdtm" / "lb.csv", _ctx(cohort, "lb.csv")).table("clinical_results").to_pandas()
    key = ["patient_id", "study_day", "test_code"]
    merged = plain.merge(lb, on=key, suffixes=("_plain", "_sdtm"))
    assert len(merged) == len(lb) == int(plain["category"].eq("lab").sum())
    assert merged["value_plain"].to_numpy() == pytest.approx(merged["value_sdtm"].to_numpy())
    dm = read_sdtm(written / "sdtm" / "dm.csv", _ctx(cohort, "dm.csv"))
    ds = read_sdtm(written / "sdtm" / "ds.csv", _ctx(cohort, "ds.csv")).table("outcomes").to_pandas()
    assert set(dm.table("outcomes").to_pandas()["patient_id"]) == set(ds.loc[ds["event"] == "death", "patient_id"])


def test_deaths_never_precede_a_sample_and_are_fewer_under_msc_on_average(cohort: tuple[list, list, TruthModel]) -> None:
    subjects, visits, _ = cohort
    arm = {s.patient_id: s.arm for s in subjects}
    totals = {"MSC": 0, "control": 0}
    for seed in range(40):
        out = draw_outcomes(subjects, visits, seed, early_deaths=True)
        kept = visits_alive(visits, out)
        death = dict(zip(out.loc[out["event"] == "death", "patient_id"], out.loc[out["event"] == "death", "study_day"],
                         strict=True))
        assert all(v.visit_day <= death.get(v.subject.patient_id, 999) for v in kept)
        assert all(5 <= d < 28 for d in death.values())
        for p in death:
            totals[arm[p]] += 1
    assert totals["MSC"] < totals["control"]
    late = draw_outcomes(subjects, visits, DEFAULT_SEED)
    last = {}
    for v in visits:
        last[v.subject.patient_id] = max(last.get(v.subject.patient_id, 0), v.visit_day)
    assert all(d > last[p] for p, e, d in late[["patient_id", "event", "study_day"]].itertuples(index=False) if e == "death")


def test_a_death_before_an_attended_visit_is_refused(cohort: tuple[list, list, TruthModel], tmp_path: Path) -> None:
    subjects, visits, model = cohort
    out = draw_outcomes(subjects, visits, DEFAULT_SEED).assign(event="death", study_day=5)
    with pytest.raises(ValueError, match="visits_alive"):
        generate_clinical(tmp_path, subjects, visits, model, DEFAULT_SEED, outcomes=out)


def test_the_demo_feeds_the_outcome_analyses_and_adsl(cohort: tuple[list, list, TruthModel], written: Path) -> None:
    subjects, _visits, _model = cohort
    subj = subjects_frame(subjects)
    events = read_clinical_table(written / "events.csv", _ctx(cohort, "events.csv")).table("outcomes")
    ae = read_clinical_table(written / "adverse_events.csv", _ctx(cohort, "ae.csv")).table("adverse_events")
    row = mortality_by_arm(subj, events, day=180).iloc[0]
    assert row["n_treated"] + row["n_reference"] == 20
    summary = ae_summary(subj, ae).set_index("category")
    assert summary.loc["any adverse event", "events_treated"] + summary.loc["any adverse event", "events_reference"] \
        == ae.num_rows
    adsl = build_adsl(subj, events, ae)
    assert len(adsl) == 20 and "DAY0DATE" not in adsl.columns
