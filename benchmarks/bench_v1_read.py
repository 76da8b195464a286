"""(j) Reading the summary view: the Delta store against the first release's own store (issue 10, item 9).

Both stores hold the same 200 tubes (``bench_ingest``'s trial, seed 1000). The first release
(immunolab 0.1.0, commit :data:`V1_COMMIT`, one Parquet file per table per ingest and an audit
log) is taken from this repository's history with ``git archive``, ingests the tubes into its
own store and times its own ``to_anndata(store, kind="summary")`` in a separate process (its
code first on ``sys.path``; same interpreter and libraries). Today's code times the same call
on the Delta store of ``bench_analysis``. Best of 5 warm calls each.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

V1_COMMIT = "6537f3b9f442681709f5ded08b35fd9fcff196d7"
TARGET = 1.25  # no slower than the first release beyond noise

_V1_SCRIPT = """
import json, shutil, sys, time
from pathlib import Path
import immunolab
from immunolab.ingest import ingest_paths
assert immunolab.__file__.startswith(sys.argv[1]), immunolab.__file__
trial, store = Path(sys.argv[2]), Path(sys.argv[3])
if not (store / "tables").is_dir():
    shutil.rmtree(store, ignore_errors=True)
    report = ingest_paths(sorted(trial.glob("*.fcs")), store=store, manifest=trial / "manifest.csv", jobs=2)
    assert report.counts["OK"] == len(list(trial.glob("*.fcs"))), report.counts
immunolab.to_anndata(store, kind="summary")
best = float("inf")
for _ in range(5):
    t0 = time.perf_counter()
    ad = immunolab.to_anndata(store, kind="summary")
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"seconds": best, "shape": list(ad.shape), "vars": list(map(str, ad.var_names)),
                  "files": len(list((store / "tables").rglob("*.parquet")))}))
"""


def _v1_source(work: Path) -> Path:
    """Return a folder whose ``immunolab`` and ``immunolab_assays`` are the first release's code.

    Raises RuntimeError (the benchmark's row then says why) when git or the commit is missing:
    a source archive or a shallow clone has no first release to run.
    """
    root = work / "v1src"
    if (root / "immunolab" / "__init__.py").exists() and (root / "immunolab_assays" / "__init__.py").exists():
        return root
    repo = Path(__file__).resolve().parents[1]
    try:
        known = subprocess.run(["git", "-C", str(repo), "cat-file", "-e", f"{V1_COMMIT}^{{commit}}"],
                               capture_output=True, check=False).returncode == 0
    except OSError:
        known = False
    if not known:
        raise RuntimeError(f"not measured: the first release (commit {V1_COMMIT[:7]}) is not in this checkout's git "
                           "history (a source archive or a shallow clone); clone the full history to run (j)")
    shutil.rmtree(root, ignore_errors=True)
    staging = work / "v1src.partial"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "src").mkdir(parents=True)
    with tempfile.TemporaryFile() as archive:
        subprocess.run(["git", "-C", str(repo), "archive", V1_COMMIT, "immunolab", "assays"], stdout=archive, check=True)
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(staging / "src", filter="data")
    (staging / "immunolab_assays").symlink_to(Path("src") / "assays")
    (staging / "immunolab").symlink_to(Path("src") / "immunolab")
    staging.rename(root)  # complete or absent: a run that died half-way is started again
    return root


def run(work: Path) -> dict[str, Any]:
    """Time the summary AnnData of both releases on the same 200 tubes; return the ratio."""
    import immunolab
    from benchmarks.bench_analysis import _store
    from benchmarks.run import best_of

    work = work.resolve()
    store_path = _store(work)  # builds trial200 and the Delta store when absent
    v1 = _v1_source(work)
    trial_id = hashlib.sha256((work / "trial200" / "manifest.csv").read_bytes()).hexdigest()
    marker = work / "store-v1.trial"
    if not marker.exists() or marker.read_text() != trial_id:  # the trial was rebuilt: so is the old store
        shutil.rmtree(work / "store-v1", ignore_errors=True)
        marker.write_text(trial_id)
    env = {**os.environ, "PYTHONPATH": str(v1)}
    out = subprocess.run([sys.executable, "-c", _V1_SCRIPT, str(v1), str(work / "trial200"), str(work / "store-v1")],
                         env=env, cwd=work, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the first release's run failed: {out.stderr.strip().splitlines()[-1:]}")
    old = json.loads(out.stdout.strip().splitlines()[-1])

    def ours() -> Any:
        return immunolab.to_anndata(immunolab.open_store(store_path), kind="summary")

    ours()
    t_new, adata = best_of(ours, 5)
    ratio = t_new / old["seconds"]
    same_rows = adata.n_obs == old["shape"][0]
    return {
        "title": "(j) summary AnnData of 200 tubes: Delta store vs the first release on its own store",
        "ours": f"to_anndata {t_new * 1e3:.0f} ms ({adata.n_obs} x {adata.n_vars})",
        "anchor": f"first release (0.1.0) to_anndata {old['seconds'] * 1e3:.0f} ms "
                  f"({old['shape'][0]} x {old['shape'][1]}; {old['files']} Parquet files)",
        "ratio": ratio,
        "ratio_text": f"{ratio:.2f}x the first release",
        "target": f"<= {TARGET}x the first release (no slower beyond noise)",
        "met": ratio <= TARGET and same_rows,
        "seconds": {"ours": t_new, "first_release": old["seconds"]},
        "lines": [f"variables only in the first release: {sorted(set(old['vars']) - set(map(str, adata.var_names)))}; "
                  f"only today: {sorted(set(map(str, adata.var_names)) - set(old['vars']))}"],
    }
