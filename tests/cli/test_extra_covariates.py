"""A subjects file's extra covariate columns (bmi, diabetes) reach the analyses with their type."""

from __future__ import annotations

from click.testing import CliRunner

import immunolab
from immunolab.analysis.trial_tables import trial_subjects
from immunolab.cli import main
from tests.store.conftest import SUBJECTS, Study

WITH_BMI = SUBJECTS.replace("day0_date\n", "day0_date,bmi,diabetes\n").replace(
    "2026-02-03\n", "2026-02-03,22,no\n").replace("2026-02-05\n", "2026-02-05,31.5,yes\n").replace(
    "2026-02-10\n", "2026-02-10,,no\n")


def _ingest(study: Study) -> None:
    study.rewrite("subjects", WITH_BMI)
    r = CliRunner().invoke(main, ["ingest", str(study.inbox), "--store", str(study.store), "--manifest",
                                  str(study.manifest), "--subjects", str(study.subjects), "-j", "1"])
    assert r.exit_code in (0, 1), r.output  # the toy inbox holds two files made to fail


def test_a_numeric_covariate_is_a_number_and_a_text_covariate_is_text(study: Study) -> None:
    _ingest(study)
    subj = trial_subjects(immunolab.open_store(study.store)).set_index("patient_id")
    assert subj["bmi"].dtype.kind == "f" and subj.loc["002", "bmi"] == 31.5 and subj["bmi"].isna().sum() == 1
    assert list(subj["diabetes"]) == ["no", "yes", "no"]
    obs = immunolab.to_anndata(study.store).obs
    assert obs["bmi"].dtype.kind == "f" and obs["diabetes"].dtype == "category"
