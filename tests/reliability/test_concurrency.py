"""Concurrency: six processes ingesting overlapping files commit each file exactly once (local and S3)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import immunolab
from immunolab.store.verify import verify_store
from tests.reliability.conftest import scale
from tests.reliability.factories import make_study

REPO = Path(__file__).resolve().parents[2]
WRITERS = 6


def _windows(files: list[Path]) -> list[list[Path]]:
    n = len(files)
    return [files[(k * n) // (2 * WRITERS): (k * n) // (2 * WRITERS) + n // 2] for k in range(WRITERS)]


def _writers(store: str, manifest: Path, subsets: list[list[Path]], env: dict[str, str]) -> list[list[dict]]:
    procs = [subprocess.Popen([sys.executable, "-m", "tests.reliability.driver", store, str(manifest), *map(str, sub)],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for sub in subsets]
    outs = [p.communicate(timeout=900) for p in procs]
    failed = [f"writer {i} exit {p.returncode}: {o[0][-1500:]} {o[1][-3000:]}" for i, (p, o) in enumerate(zip(procs, outs, strict=True))
              if p.returncode != 0]
    assert not failed, "\n".join(failed)
    return [[json.loads(line) for line in o[0].splitlines() if line.startswith("{")] for o in outs]


def _check(store: str, expected: set[str], outs: list[list[dict]], storage: dict[str, str] | None = None) -> dict:
    s = immunolab.open_store(store, storage_options=storage)
    shas = s.table("sources").column("source_sha256").to_pylist()
    assert len(shas) == len(set(shas)), "a file was committed twice"
    assert len(shas) == len(expected), f"{len(shas)} committed, {len(expected)} expected"
    assert s.table("samples").num_rows == len(expected)
    oks = sum(1 for out in outs for o in out if o.get("status") == "OK")
    assert oks == len(expected), f"{oks} OK lines for {len(expected)} files"
    result = verify_store(store, storage_options=storage)
    assert result.ok, result.problems
    return {"writers": WRITERS, "distinct_files": len(expected),
            "attempts": sum(1 for out in outs for o in out if "status" in o), "committed": len(shas),
            "store_versions": s.version, "duplicates": 0, "lost": 0}


def test_six_processes_with_overlapping_files_commit_each_once(tmp_path: Path, figures: dict) -> None:
    n_files = scale(24, 120)
    manifest, files = make_study(tmp_path / "study", n_files)
    subsets = _windows(files)
    expected = {f.name for sub in subsets for f in sub}
    env = dict(os.environ, PYTHONPATH=str(REPO))
    outs = _writers(str(tmp_path / "store"), manifest, subsets, env)
    figures.update(_check(str(tmp_path / "store"), expected, outs))


@pytest.fixture
def s3_server() -> Iterator[dict[str, str]]:
    """Start a local S3-compatible server (moto) with a bucket; yield the storage options."""
    pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                     region_name="us-east-1").create_bucket(Bucket="trial-bucket")
        yield {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
               "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_store_on_s3_ingests_reads_verifies_and_survives_concurrent_writers(tmp_path: Path, s3_server: dict,
                                                                            figures: dict) -> None:
    n_files = scale(12, 48)
    manifest, files = make_study(tmp_path / "study", n_files)
    subsets = _windows(files)
    expected = {f.name for sub in subsets for f in sub}
    env = dict(os.environ, PYTHONPATH=str(REPO), **s3_server)
    outs = _writers("s3://trial-bucket/store", manifest, subsets, env)
    figures.update(_check("s3://trial-bucket/store", expected, outs, s3_server))
    s = immunolab.open_store("s3://trial-bucket/store", storage_options=s3_server)
    assert s.to_pandas("measurements")["patient_id"].str.len().eq(3).all()  # ids stay strings
