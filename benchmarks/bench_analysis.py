"""(e) Analysis on the 200-file store: the whole-trial summary AnnData and a DuckDB query of the measurements.

- ``immunolab.to_anndata(store, kind="summary")`` (superseded ingests dropped, duplicates
  resolved, layers and provenance added) against the bare pandas anchor that builds the same
  patient-visit x feature-measure matrix: ``pandas.read_parquet`` of the exported measurements +
  ``pivot_table``.
- DuckDB: median value per arm x visit x feature x measure straight from the plain-Parquet
  export of the ``measurements`` view (``immunolab export parquet``'s layout; written once,
  outside the timers) against ``pandas.read_parquet`` + ``groupby(...).median()``; the two
  results are compared.

The anchors read the exported view, so they start from the measurements that ``to_anndata``
derives itself. Uses the store of the ingest benchmark (``_work/store-j2``), built here when absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

KEYS = ["arm", "visit_day", "feature", "measure"]


def _store(work: Path) -> Path:
    """Return the 200-file store of bench_ingest (distinct samples), ingesting the batch when it is missing."""
    store = work / "store-j2"
    if (store / "tables" / "sources").is_dir():
        return store
    from benchmarks.bench_ingest import N_EVENTS, N_FILES
    from benchmarks.trial_tubes import write_trial_tubes
    from immunolab.ingest import ingest_paths

    manifest, files = write_trial_tubes(work / "trial200", N_FILES, N_EVENTS, seed=1000)
    report = ingest_paths(files, store=store, manifest=manifest, jobs=2)
    if report.counts["OK"] != N_FILES:
        raise RuntimeError(f"building the analysis store failed: {report.summary_line()}")
    return store


def _export_measurements(store: Path, out: Path) -> Path:
    """Write the store's ``measurements`` view as plain Parquet (what ``export parquet`` writes); return the folder."""
    import pyarrow.parquet as pq

    import immunolab

    folder = out / "measurements"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(immunolab.open_store(store).table("measurements"), folder / "part-0.parquet", compression="zstd")
    return folder


def run(work: Path) -> dict[str, Any]:
    """Time both analyses and their anchors (best of 5, warm) and return the ratios."""
    import duckdb
    import pandas as pd

    import immunolab
    from benchmarks.run import best_of

    store_path = _store(work)
    folder = _export_measurements(store_path, work / "analysis_export")
    pattern = str(folder / "*.parquet").replace("'", "''")

    def ours_anndata() -> Any:
        return immunolab.to_anndata(immunolab.open_store(store_path), kind="summary")

    def pandas_pivot() -> pd.DataFrame:
        m = pd.read_parquet(folder)
        m = m[m["measure"] != "count"]
        return m.pivot_table(index=["patient_id", "visit_day"], columns=["feature", "measure"], values="value",
                             aggfunc="mean")

    sql = (f"SELECT arm, visit_day, feature, measure, median(value) AS value FROM read_parquet('{pattern}') "
           "GROUP BY ALL ORDER BY ALL")

    def ours_duckdb() -> pd.DataFrame:
        with duckdb.connect() as con:
            return con.sql(sql).df()

    def pandas_groupby() -> pd.DataFrame:
        m = pd.read_parquet(folder, columns=[*KEYS, "value"])
        return m.groupby(KEYS, sort=True, observed=True)["value"].median().reset_index()

    ours_anndata()  # warm: imports of anndata / duckdb, page cache
    ours_duckdb()
    t_ad, adata = best_of(ours_anndata, 5)
    t_pivot, pivot = best_of(pandas_pivot, 5)
    t_db, db = best_of(ours_duckdb, 5)
    t_gb, gb = best_of(pandas_groupby, 5)
    t_view, _view = best_of(lambda: immunolab.open_store(store_path).table("measurements"), 3)

    same_shape = adata.shape == pivot.shape
    merged = db.merge(gb, on=KEYS, suffixes=("_duckdb", "_pandas"), how="outer")
    same_medians = len(merged) == len(db) == len(gb) and bool(
        np.allclose(merged["value_duckdb"], merged["value_pandas"], rtol=1e-12, atol=0, equal_nan=True))
    r_ad, r_db = t_ad / t_pivot, t_db / t_gb
    met = r_ad <= 3.0 and r_db <= 1.0 and same_shape and same_medians
    return {
        "title": f"(e) summary AnnData ({adata.n_obs} x {adata.n_vars}) and DuckDB medians ({len(db)} groups) "
                 f"over {store_path.name}",
        "ours": f"to_anndata {t_ad * 1e3:.0f} ms (of which deriving the measurements view {t_view * 1e3:.0f} ms); "
                f"DuckDB {t_db * 1e3:.0f} ms",
        "anchor": f"pandas read + pivot_table {t_pivot * 1e3:.0f} ms; pandas read + groupby {t_gb * 1e3:.0f} ms",
        "ratio": r_ad,
        "ratio_text": f"AnnData {r_ad:.2f}x the pandas pivot; DuckDB {r_db:.2f}x the pandas groupby",
        "target": "AnnData <= 3x a bare pivot; DuckDB <= 1x pandas",
        "met": met,
        "duckdb_ratio": r_db,
        "same_shape": same_shape,
        "same_medians": same_medians,
        "seconds": {"measurements_view": t_view, "to_anndata": t_ad, "pandas_pivot": t_pivot, "duckdb": t_db, "pandas_groupby": t_gb},
        "lines": [f"measurement files: {len(list(folder.glob('*.parquet')))}, AnnData {adata.shape}, pivot {pivot.shape}"],
    }
