"""Memory budget of one FCS file: a file the machine cannot hold is refused before anything is allocated.

The budget (:mod:`immunolab.fcs.budget`) is ``MEMORY_FACTOR`` (4) x the event matrix. A sparse
2 GiB file with a valid HEADER and TEXT (67 million events x 8 float32 channels; no real data on
disk, nothing real allocated) is refused with IML-FCS-042 within a few MiB of memory when the
budget is smaller, through the reader and through ``immunolab ingest``. The factor itself is
measured: the peak RSS of ingesting a real tube in a fresh process stays under 4 x its matrix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from immunolab.errors import ERROR_CODES, InputError
from immunolab.fcs import budget
from immunolab.fcs.budget import MEMORY_FACTOR, check_memory, parse_size, reading_memory
from tests.reliability.conftest import LARGE

REPO = Path(__file__).resolve().parents[2]
N_PAR = 8
N_TOT = 2**31 // (4 * N_PAR)  # 67,108,864 events: DATA is exactly 2 GiB


def write_sparse_fcs(path: Path, n_events: int = N_TOT, n_par: int = N_PAR) -> Path:
    """Write an FCS 3.1 float32 file whose HEADER and TEXT are valid and whose DATA is a hole (sparse)."""
    data_bytes = n_events * n_par * 4
    keywords = {"$BYTEORD": "1,2,3,4", "$DATATYPE": "F", "$MODE": "L", "$NEXTDATA": "0", "$PAR": str(n_par),
                "$TOT": str(n_events), "$CYT": "Sparse"}
    for j in range(1, n_par + 1):
        keywords.update({f"$P{j}N": f"CH{j}", f"$P{j}B": "32", f"$P{j}E": "0,0", f"$P{j}R": "262144"})
    begin = 58 + 4096  # TEXT padded to a fixed size so that the offsets below do not move it
    keywords.update({"$BEGINDATA": str(begin), "$ENDDATA": str(begin + data_bytes - 1),
                     "$BEGINANALYSIS": "0", "$ENDANALYSIS": "0", "$BEGINSTEXT": "0", "$ENDSTEXT": "0"})
    text = ("/" + "".join(f"{k}/{v}/" for k, v in keywords.items())).encode()
    assert len(text) < 4096
    text = text.ljust(4096, b" ")
    header = b"FCS3.1    " + b"".join(f"{v:>8}".encode() for v in (58, 58 + len(text) - 1, 0, 0, 0, 0))
    with path.open("wb") as fh:
        fh.write(header + text)
        fh.truncate(begin + data_bytes)  # a hole: no disk blocks, reads as zeros
    return path


@pytest.fixture(scope="module")
def sparse_2gb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_sparse_fcs(tmp_path_factory.mktemp("sparse") / "huge.fcs")
    if os.stat(path).st_blocks * 512 > 64 * 2**20:
        pytest.skip("this file system does not keep sparse files sparse")
    return path


def test_the_budget_rule_counts_four_event_matrices_of_at_least_four_bytes_per_value() -> None:
    assert reading_memory(1_000_000, 10, 2) == MEMORY_FACTOR * 1_000_000 * 10 * 4 == 160_000_000
    assert reading_memory(1_000_000, 10, 8) == 320_000_000
    assert reading_memory(1_000, 10, 8, ascii_data=True) == MEMORY_FACTOR * 1_000 * 10 * budget.ASCII_BYTES_PER_VALUE
    assert [parse_size(s) for s in ("4G", "512M", "1.5GiB", "123456", "64 k")] == \
        [4 * 2**30, 512 * 2**20, 3 * 2**29, 123456, 64 * 2**10]
    with pytest.raises(ValueError):
        parse_size("lots")


def test_the_header_of_a_sparse_2gb_file_reads_and_says_2gb_of_events(sparse_2gb: Path) -> None:
    from immunolab.fcs.reader import read_fcs

    meta = read_fcs(sparse_2gb, events=False)
    assert (meta.n_events, meta.n_channels) == (N_TOT, N_PAR)
    assert reading_memory(meta.n_events, meta.n_channels, 4) == MEMORY_FACTOR * 2**31


def test_over_budget_is_refused_with_iml_fcs_042_before_allocating(sparse_2gb: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from immunolab.fcs.reader import read_fcs

    monkeypatch.setattr(budget, "available_memory", lambda: (6 * 2**30, "available system memory"))
    with pytest.raises(InputError) as info:
        read_fcs(sparse_2gb, label="P07_D14.fcs")
    err = info.value
    assert err.code == "IML-FCS-042" and "IML-FCS-042" in ERROR_CODES and err.path == "P07_D14.fcs"
    assert "67,108,864 events x 8 channels" in err.message and "8,192 MiB" in err.message and "6,144 MiB" in err.message


def test_the_environment_caps_the_budget_and_a_bad_value_is_coded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(budget.ENV_LIMIT, "1M")
    have, source = budget.available_memory()
    assert have == 2**20 and budget.ENV_LIMIT in source
    with pytest.raises(InputError) as info:
        check_memory(100_000, 4, 4, label="x.fcs")
    assert info.value.code == "IML-FCS-042"
    check_memory(1_000, 4, 4, label="x.fcs")  # 64 kB fits
    monkeypatch.setenv(budget.ENV_LIMIT, "plenty")
    with pytest.raises(InputError) as info:
        check_memory(1_000, 4, 4, label="x.fcs")
    assert info.value.code == "IML-FCS-042" and "not a size" in info.value.message


PROBE = r"""
import json, resource, sys
from immunolab.errors import InputError
from immunolab.fcs.reader import read_fcs
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_fcs(sys.argv[1])
    code = None
except InputError as exc:
    code = exc.code
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"code": code, "growth_kib": after - before}))
"""


def test_the_refusal_costs_no_memory_in_a_fresh_process(sparse_2gb: Path, figures: dict) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), IMMUNOLAB_MAX_FILE_MEMORY="1G")
    r = subprocess.run([sys.executable, "-c", PROBE, str(sparse_2gb)], capture_output=True, text=True, env=env,
                       cwd=REPO, timeout=300)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["code"] == "IML-FCS-042"
    assert out["growth_kib"] < 64 * 1024, f"refusing the 2 GiB file grew RSS by {out['growth_kib'] // 1024} MiB"
    figures.update({"file_gib": 2, "refusal_rss_growth_mib": out["growth_kib"] // 1024})


def test_ingest_reports_the_huge_file_as_one_coded_fail(sparse_2gb: Path, tmp_path: Path) -> None:
    (tmp_path / "subjects.csv").write_text("patient_id,arm,site,age,sex\n001,MSC,A,40,F\n")
    (tmp_path / "manifest.csv").write_text("file,sample_id,patient_id,visit_day,specimen,panel\n"
                                           "huge.fcs,001-D000,001,0,PBMC,TBNK\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), IMMUNOLAB_MAX_FILE_MEMORY="1G")
    r = subprocess.run([sys.executable, "-m", "immunolab", "ingest", str(sparse_2gb), "--store", str(tmp_path / "s"),
                        "--manifest", str(tmp_path / "manifest.csv"), "-j", "1"], capture_output=True, text=True,
                       env=env, cwd=REPO, timeout=600)
    assert r.returncode == 1 and "FAIL IML-FCS-042 001-D000:" in r.stdout, r.stdout + r.stderr


MEASURE = r"""
import json, shutil, sys
from pathlib import Path
from immunolab.ingest import ingest_paths
from immunolab.fcs.reader import read_fcs
work, big, small, manifest = map(Path, sys.argv[1:5])
ingest_paths([small], store=work / "warm", manifest=manifest)  # imports, caches, the template
meta = read_fcs(big, events=False)
def rss(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark (VmHWM) to the current RSS
base = rss("VmRSS:")
report = ingest_paths([big], store=work / "big", manifest=manifest)
print(json.dumps({"base": base, "peak": rss("VmHWM:"), "n": meta.n_events, "p": meta.n_channels,
                  "status": report.outcomes[0].status}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to reset the peak RSS")
def test_ingest_of_one_tube_stays_within_the_documented_factor(tmp_path: Path, figures: dict) -> None:
    from immunolab.demo.tubes import write_tube

    n = 1_000_000 if LARGE else 400_000
    write_tube(tmp_path / "big.fcs", n, seed=3)
    write_tube(tmp_path / "small.fcs", 5_000, seed=4)
    (tmp_path / "subjects.csv").write_text("patient_id,arm,site,age,sex\n001,MSC,A,40,F\n")
    (tmp_path / "manifest.csv").write_text("file,sample_id,patient_id,visit_day,specimen,panel\n"
                                           "big.fcs,001-D000,001,0,PBMC,TBNK-Treg\n"
                                           "small.fcs,001-D003,001,3,PBMC,TBNK-Treg\n")
    r = subprocess.run([sys.executable, "-c", MEASURE, str(tmp_path), str(tmp_path / "big.fcs"),
                        str(tmp_path / "small.fcs"), str(tmp_path / "manifest.csv")], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=REPO, timeout=900)
    m = json.loads(r.stdout.strip().splitlines()[-1])
    matrix = m["n"] * m["p"] * 4
    ratio = (m["peak"] - m["base"]) / matrix
    figures.update({"events": m["n"], "matrix_mib": round(matrix / 2**20, 1), "peak_over_matrix": round(ratio, 2)})
    assert m["status"] == "OK" and ratio <= MEMORY_FACTOR, f"peak {ratio:.2f}x the event matrix"
