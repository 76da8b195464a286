"""Every table is readable by pandas, DuckDB and Polars with no immunolab import; IDs stay strings."""

from __future__ import annotations

import json
import subprocess
import sys

from immunolab.ingest import ingest_paths
from tests.store.conftest import Study

READER = r"""
import json, sys
import duckdb, pandas as pd, polars as pl
store = sys.argv[1]
assert "immunolab" not in sys.modules
out = {}
for t in ("samples", "flow_populations", "measurements", "cytokine_results", "ingests"):
    df = pd.read_parquet(f"{store}/tables/{t}")
    q = duckdb.sql(f"SELECT * FROM read_parquet('{store}/tables/{t}/*.parquet')").df()
    p = pl.read_parquet(f"{store}/tables/{t}/*.parquet")
    out[t] = {"pandas": len(df), "duckdb": len(q), "polars": p.height}
s = pd.read_parquet(f"{store}/tables/samples")
out["patient_ids"] = sorted(s["patient_id"].unique().tolist())
out["patient_id_dtype"] = str(duckdb.sql(f"SELECT patient_id FROM read_parquet('{store}/tables/samples/*.parquet')").types[0])
out["polars_dtype"] = str(pl.read_parquet(f"{store}/tables/samples/*.parquet").schema["patient_id"])
out["visit_dtype"] = str(s["visit_day"].dtype)
out["modules"] = "immunolab" in sys.modules
print(json.dumps(out))
"""


def test_tables_read_by_pandas_duckdb_polars_without_immunolab(study: Study) -> None:
    ingest_paths([study.inbox], store=study.store, manifest=study.manifest)
    res = subprocess.run([sys.executable, "-c", READER, str(study.store)], capture_output=True, text=True, check=True)
    out = json.loads(res.stdout)
    assert out["modules"] is False
    for t in ("samples", "flow_populations", "measurements", "cytokine_results", "ingests"):
        counts = out[t]
        assert counts["pandas"] == counts["duckdb"] == counts["polars"] > 0, (t, counts)
    assert out["patient_ids"] == ["001", "002", "003"]
    assert out["patient_id_dtype"] == "VARCHAR"
    assert out["polars_dtype"] == "String"
    assert out["visit_dtype"] == "int32"
