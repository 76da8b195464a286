"""Privacy of the subjects file's further columns: covariates are kept, identifying columns never leave it.

The audit's canary: a subjects file with extra columns ``name``, ``birth_date`` and ``comment``
(and an unlabelled per-patient code and a column holding dates) beside real covariates
(``baseline_severity``, ``bmi``). After ingest, ``identity apply``, ``log``, the ADaM and AnnData
exports, no canary may appear in any Delta table (every string column read with deltalake), any
store byte outside ``raw/``, any export or any command output; the covariates still arrive.
"""

from __future__ import annotations

import json

import deltalake
import pyarrow as pa
import pyarrow.types as pat
from click.testing import CliRunner

from immunolab.cli import main
from tests.store.conftest import Study

CANARIES = ("ZZCANARY", "1961-04-1", "12/04/1961", "QX-KEY")
SUBJECTS = "patient_id,arm,site,age,sex,day0_date,baseline_severity,bmi,name,birth_date,comment,code,seen\n" + "".join(
    f"00{i},{'MSC' if i % 2 else 'control'},Wuhan-1,{40 + i},F,2026-02-0{i},WHO{4 + i % 2},2{i}.5,"
    f"ZZCANARY-SUBJNAME-00{i},1961-04-1{i},ZZCANARY-COMMENT-00{i} called,QX-KEY-{i},12/04/1961\n" for i in range(1, 7))


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _hits(text: str | bytes) -> list[str]:
    blob = text.encode() if isinstance(text, str) else text
    return [c for c in CANARIES if c.encode() in blob]


def _string_cells(table: pa.Table) -> str:
    return "\n".join(str(v) for name in table.column_names if pat.is_string(table.schema.field(name).type)
                     or pat.is_large_string(table.schema.field(name).type) for v in table.column(name).to_pylist())


def test_identifying_subject_columns_reach_no_table_export_log_or_output(study: Study) -> None:
    out = study.root / "exports"
    study.rewrite("subjects", SUBJECTS)
    store = str(study.store)
    outputs = []
    for args in (("ingest", str(study.inbox), "--store", store, "--manifest", str(study.manifest), "-j", "1"),
                 ("identity", "apply", "--store", store, "--manifest", str(study.manifest), "--json"),
                 ("identity", "apply", "--store", store, "--manifest", str(study.manifest)),
                 ("log", "--store", store), ("log", "--store", store, "--json"),
                 ("export", "adam", "--store", store, "--out", str(out / "adam")),
                 ("export", "anndata", "--store", store, "--out", str(out / "obs.h5ad"), "--kind", "summary")):
        r = invoke(*args)
        outputs.append(r.output)
        assert r.exit_code in (0, 1), (args, r.output)  # ingest's bad.toy / boom.toy fail by design
    text = "\n".join(outputs)
    assert not _hits(text), _hits(text)
    for column in ("name", "birth_date", "comment", "code", "seen"):
        assert f"IML-ID-016 subjects: column {column} is not stored" in text, text
    assert json.loads(outputs[1])["warnings"][0]["code"] == "IML-ID-016"

    tables = sorted(p for p in (study.store / "tables").iterdir() if (p / "_delta_log").is_dir())
    assert tables
    for path in tables:
        cells = _string_cells(deltalake.DeltaTable(str(path)).to_pyarrow_table())
        assert not _hits(cells), (path.name, _hits(cells))
    for path in (p for p in study.store.rglob("*") if p.is_file() and p.relative_to(study.store).parts[0] != "raw"):
        assert not _hits(path.read_bytes()), (path.relative_to(study.store), _hits(path.read_bytes()))
    exports = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".h5ad" for p in exports) and any(p.name == "adsl.csv" for p in exports)
    for path in exports:
        assert not _hits(path.read_bytes()), (path.name, _hits(path.read_bytes()))

    subjects = deltalake.DeltaTable(str(study.store / "tables" / "identity_subjects")).to_pyarrow_table()
    kept = [json.loads(t) for t in subjects.column("covariates_json").to_pylist()]
    assert {frozenset(k) for k in kept} == {frozenset({"baseline_severity", "bmi"})}  # covariates still arrive
    adsl = (out / "adam" / "adsl.csv").read_text()
    assert "WHO5" in adsl and "NAME" not in adsl.splitlines()[0].split(",")
