"""A subjects file's extra covariate columns (bmi, diabetes) reach the analyses with their type."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
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



def test_compare_adjusts_for_an_extra_covariate_of_the_subjects_file(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    subjects = ["patient_id,arm,site,age,sex,day0_date,bmi"]
    manifest = ["file,sample_id,patient_id,visit_day,specimen,panel"]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i in range(8):
        pid, arm = f"{i + 1:03d}", ("MSC", "control")[i % 2]
        subjects.append(f"{pid},{arm},S1,{30 + i},{'FM'[i % 2]},2026-02-0{i + 1},{20 + 2.5 * i}")
        for day in (0, 3, 6, 28):
            name = f"p{pid}_d{day}.toy"
            t = int(600 + 40 * i + rng.integers(0, 50) + (80 if arm == "MSC" and day else 0))
            (inbox / name).write_text(f"TOYASSAY v1\nLymphocytes,1000\nT cells,{t}\nB cells,{100 + i + day}\n")
            manifest.append(f"{name},{pid}-D{day:03d}-TBNK,{pid},{day},PBMC,TBNK")
    (tmp_path / "subjects.csv").write_text("\n".join(subjects) + "\n")
    (tmp_path / "manifest.csv").write_text("\n".join(manifest) + "\n")
    store = tmp_path / "store"
    r = CliRunner().invoke(main, ["ingest", str(inbox), "--store", str(store), "--manifest",
                                  str(tmp_path / "manifest.csv"), "--subjects", str(tmp_path / "subjects.csv"), "-j", "1"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "cmp"
    r = CliRunner().invoke(main, ["compare", "--store", str(store), "--adjust", "bmi", "--features", "T cells",
                                  "--out", str(out), "--no-plots"])
    assert r.exit_code == 0, r.output
    effects = pd.read_csv(out / "visit_effects.csv")
    assert effects["adjusted_for"].fillna("").str.contains("bmi").any(), effects["adjusted_for"].tolist()
    unknown = CliRunner().invoke(main, ["compare", "--store", str(store), "--adjust", "height", "--features",
                                        "T cells", "--out", str(tmp_path / "x"), "--no-plots"])
    assert unknown.exit_code == 1 and "IML-ANA-006" in unknown.output, unknown.output


def test_a_not_recorded_cell_leaves_a_column_of_numbers_numeric_and_text_as_written() -> None:
    import pandas as pd

    from immunolab.analysis.trial_tables import _typed_covariate

    bmi = _typed_covariate(pd.Series(["22", "NA", "31.5", None, "."], dtype=object))
    assert bmi.dtype.kind == "f" and bmi.iloc[[0, 2]].tolist() == [22.0, 31.5] and bmi.isna().sum() == 3
    smoker = _typed_covariate(pd.Series(["yes", "unknown", "no"], dtype=object))
    assert smoker.tolist() == ["yes", "unknown", "no"]
