"""Every table is readable without immunolab: deltalake, Polars, DuckDB; and a plain-Parquet snapshot."""

from __future__ import annotations

import json
import subprocess
import sys

import immunolab
from immunolab.ingest import ingest_paths
from immunolab.store.export import export_parquet
from tests.store.conftest import Study

DELTA_READER = r"""
import json, sys
import duckdb, polars as pl
from deltalake import DeltaTable
store = sys.argv[1]
out = {}
for t in ("sources", "identity_samples", "toy_counts", "cytokine_results"):
    dt = DeltaTable(f"{store}/tables/{t}")
    df = dt.to_pandas()
    ds = dt.to_pyarrow_dataset()
    q = duckdb.sql("SELECT count(*) FROM ds").fetchall()[0][0]
    p = pl.read_delta(f"{store}/tables/{t}")
    out[t] = {"deltalake": len(df), "duckdb": int(q), "polars": p.height}
ids = DeltaTable(f"{store}/tables/identity_samples").to_pyarrow_dataset()
out["patient_id_dtype"] = str(duckdb.sql("SELECT patient_id FROM ids").types[0])
out["polars_dtype"] = str(pl.read_delta(f"{store}/tables/identity_samples").schema["patient_id"])
out["modules"] = "immunolab" in sys.modules
print(json.dumps(out))
"""

SNAPSHOT_READER = r"""
import json, sys
import duckdb, pandas as pd, polars as pl
root = sys.argv[1]
out = {}
for t in ("measurements", "samples", "sources"):
    out[t] = [len(pd.read_parquet(f"{root}/{t}")),
              duckdb.sql(f"SELECT count(*) FROM read_parquet('{root}/{t}/*.parquet')").fetchall()[0][0],
              pl.read_parquet(f"{root}/{t}/*.parquet").height]
out["patients"] = sorted(pd.read_parquet(f"{root}/samples")["patient_id"].unique().tolist())
out["modules"] = "immunolab" in sys.modules
print(json.dumps(out))
"""


def test_delta_tables_read_by_deltalake_duckdb_polars_without_immunolab(study: Study) -> None:
    ingest_paths([study.inbox], store=study.store, manifest=study.manifest)
    res = subprocess.run([sys.executable, "-c", DELTA_READER, str(study.store)], capture_output=True, text=True,
                         check=True)
    out = json.loads(res.stdout)
    assert out["modules"] is False
    api = immunolab.open_store(study.store)
    for t in ("sources", "identity_samples", "toy_counts", "cytokine_results"):
        counts = out[t]
        assert counts["deltalake"] == counts["duckdb"] == counts["polars"] == api.table(t).num_rows > 0, (t, counts)
    assert out["patient_id_dtype"] == "VARCHAR"
    assert out["polars_dtype"] == "String"


def test_a_parquet_snapshot_holds_exactly_the_current_view(study: Study, tmp_path) -> None:
    ingest_paths([study.inbox], store=study.store, manifest=study.manifest)
    s = immunolab.open_store(study.store)
    written = export_parquet(s, tmp_path / "snap")
    assert written["measurements"] == s.table("measurements").num_rows > 0
    res = subprocess.run([sys.executable, "-c", SNAPSHOT_READER, str(tmp_path / "snap")], capture_output=True,
                         text=True, check=True)
    out = json.loads(res.stdout)
    assert out["modules"] is False
    for t in ("measurements", "samples", "sources"):
        assert len(set(out[t])) == 1 and out[t][0] == s.table(t).num_rows, (t, out[t])
    assert out["patients"] == ["001", "002", "003"]
    meta = json.loads((tmp_path / "snap" / "store_version.json").read_text())
    assert meta["store_version"] == s.version
