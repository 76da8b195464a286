"""A full disk (RLIMIT_FSIZE) never loses a file reported OK: coded store errors, then a clean re-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import immunolab
from immunolab.store.verify import verify_store
from tests.reliability.conftest import scale
from tests.reliability.factories import make_study

REPO = Path(__file__).resolve().parents[2]


def _run(store: Path, manifest: Path, inbox: Path, fsize: int | None) -> tuple[int, list[dict]]:
    args = [sys.executable, "-m", "tests.reliability.driver", str(store), str(manifest), str(inbox)]
    if fsize is not None:
        args += ["--fsize", str(fsize)]
    p = subprocess.run(args, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
                       timeout=600)
    lines = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    assert "Traceback" not in p.stderr, p.stderr[-2000:]
    return p.returncode, lines


def test_writes_failing_at_every_size_never_report_a_file_ok_that_is_not_committed(tmp_path: Path, figures: dict) -> None:
    manifest, files = make_study(tmp_path / "study", 16)
    inbox = files[0].parent
    limits = [int(x) for x in (200, 1_000, 3_000, 6_000, 20_000)][: scale(3, 5)]
    failed_runs = 0
    for limit in limits:
        store = tmp_path / f"store-{limit}"
        code, lines = _run(store, manifest, inbox, limit)
        reported_ok = {o["sha"] for o in lines if o.get("status") == "OK"}
        if code != 0:
            failed_runs += 1
            assert code == 3 and any(o.get("error", o.get("code", "")).startswith("IML-STORE") for o in lines), lines[-3:]
        if (store / "immunolab-store.json").exists():
            committed = set(immunolab.open_store(store).table("sources").column("source_sha256").to_pylist())
            assert reported_ok <= committed, "a file was reported OK but is not committed"
        code, lines = _run(store, manifest, inbox, None)  # disk space is back
        assert code == 0
        s = immunolab.open_store(store)
        shas = s.table("sources").column("source_sha256").to_pylist()
        assert len(shas) == len(set(shas)) == len(files)
        result = verify_store(store)
        assert result.ok, result.problems
    figures.update({"limits_bytes": limits, "runs_refused_with_store_errors": failed_runs, "lost": 0, "duplicates": 0})
    assert failed_runs >= 1


CLI = ("import sys; from tests.store.toy_plugin import ToyPlugin; from immunolab.plugins import get_registry;"
       "get_registry([ToyPlugin()]); from immunolab.cli import main; main(sys.argv[1:])")


def _cli_ingest(store: Path, manifest: Path, inbox: Path, fsize: int) -> subprocess.CompletedProcess[str]:
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))  # Python ignores SIGXFSZ: EFBIG instead

    return subprocess.run([sys.executable, "-c", CLI, "ingest", str(inbox), "--store", str(store), "--manifest",
                           str(manifest), "-j", "1"], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO),
                                                                          RUST_BACKTRACE="0"),
                          capture_output=True, text=True, timeout=600, preexec_fn=limit)


def test_every_cli_attempt_under_a_file_size_limit_prints_its_outcome_or_a_coded_error(
        tmp_path: Path, figures: dict) -> None:
    """`ulimit -f 64`: the first release left half the audit records and printed nothing; now no attempt is silent."""
    manifest, files = make_study(tmp_path / "study", 8)
    inbox = files[0].parent
    limits = [64, 1_000, 4_000, 16_000, 64_000, 256_000][: scale(4, 6)]
    silent = refused = 0
    for limit in limits:
        store = tmp_path / f"cli-store-{limit}"
        for _attempt in range(scale(2, 4)):
            r = _cli_ingest(store, manifest, inbox, limit)
            assert "Traceback" not in r.stderr and "IML-INTERNAL" not in r.stdout + r.stderr, r.stderr[-2000:]
            summary = [ln for ln in r.stdout.splitlines() if " file(s): " in ln]
            error = [ln for ln in r.stderr.splitlines() if ln.startswith("ERROR IML-STORE-")]
            silent += not (summary or error)
            refused += bool(error)
            assert r.returncode in (0, 3) and (r.returncode == 0 or error), r.stdout + r.stderr
            ok = {ln.split()[1].rstrip(":") for ln in r.stdout.splitlines() if ln.startswith("OK ")}
            if ok and (store / "immunolab-store.json").exists():
                labels = set(immunolab.open_store(store).table("sources").column("label").to_pylist())
                assert ok <= labels, "a file was printed OK but is not committed"
    figures.update({"cli_limits_bytes": limits, "cli_attempts_refused_with_store_errors": refused,
                    "silent_attempts": silent})
    assert silent == 0 and refused >= 1
