"""Warnings reach the user as coded one-line ``WARN <code> ...`` lines on stderr; ``--quiet`` silences them.

The first release gave the ``immunolab`` logger only a NullHandler (warnings vanished) and let
numpy print multi-line RuntimeWarnings for ``$P1E=1e308``. Here the real command runs, with two
worker processes, on tubes carrying extreme keywords and non-finite data: every stderr line is
``WARN``/``ERROR`` plus a code, no Python warning is printed raw, and no file ends as an internal error.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from immunolab.diagnostics import (
    CodedFormatter,
    install_cli_handler,
    numeric_warnings,
    set_quiet,
    warn_file,
)

REPO = Path(__file__).resolve().parents[2]
TUBE = REPO / "sample_data" / "flow" / "001-D000-PB_TBNK-Treg.fcs"
LINE = re.compile(r"^(WARN|ERROR) IML-[A-Z]+-\d{3} ")
RAW_PYTHON_WARNING = re.compile(r"\.py:\d+: \w*Warning")


def _extreme_study(root: Path) -> tuple[Path, Path]:
    """Write tubes with $P3E 1e308, a tiny $P3G, NaN/inf events and 1e308 events (+ a plain one)."""
    from immunolab.fcs.reader import read_fcs
    from immunolab.fcs.writer import build_fcs_bytes

    src = read_fcs(TUBE)
    assert src.events is not None
    inbox = root / "in"
    inbox.mkdir(parents=True)
    base = {"$CYT": "X", "$SPILLOVER": src.keywords["$SPILLOVER"]}
    pns, pnr = [c.pns for c in src.channels], [c.range for c in src.channels]
    nonfinite = src.events.astype("f8")
    nonfinite[:5, 3], nonfinite[5:9, 4] = np.nan, np.inf
    huge = src.events.astype("f8")
    huge[:50, 3] = 1e308
    files = {
        "pne.fcs": (src.events, {"$P3E": "1e308,1"}, "F"),
        "gain.fcs": (src.events, {"$P3G": "1e-320"}, "F"),
        "nonfinite.fcs": (nonfinite, {}, "D"),
        "huge.fcs": (huge, {"$P4G": "0.5"}, "D"),
        "plain.fcs": (src.events, {}, "F"),
    }
    rows = ["file,sample_id,patient_id,visit_day,specimen,panel"]
    for i, (name, (events, extra, dtype)) in enumerate(files.items()):
        (inbox / name).write_bytes(build_fcs_bytes(events, src.pnn, pns=pns, pnr=pnr, datatype=dtype,
                                                   keywords={**base, **extra}))
        rows.append(f"{name},S{i},001,{(0, 3, 6, 10, 14)[i]},PBMC,TBNK-Treg")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    (root / "subjects.csv").write_text("patient_id,arm,site,age,sex\n001,MSC,A,40,F\n")
    return inbox, root / "manifest.csv"


def _ingest(root: Path, *flags: str, top: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    inbox, manifest = root / "in", root / "manifest.csv"
    return subprocess.run([sys.executable, "-m", "immunolab", *top, "ingest", str(inbox), "--store", str(root / "s"),
                           "--manifest", str(manifest), "--jobs", "2", *flags], capture_output=True, text=True,
                          cwd=REPO, timeout=600)


@pytest.fixture(scope="module")
def extreme(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("extreme")
    _extreme_study(root)
    return root


def test_extreme_numbers_give_coded_fails_and_coded_warnings_only(extreme: Path) -> None:
    r = _ingest(extreme)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "IML-INTERNAL" not in r.stdout + r.stderr and "Traceback" not in r.stderr
    fails = {ln.split()[2].rstrip(":") for ln in r.stdout.splitlines() if ln.startswith("FAIL IML-FCS-005")}
    assert fails == {"S0", "S1"}, r.stdout
    assert sum(ln.startswith("OK ") for ln in r.stdout.splitlines()) == 3
    lines = r.stderr.splitlines()
    assert lines and all(LINE.match(ln) for ln in lines), r.stderr
    assert RAW_PYTHON_WARNING.search(r.stderr) is None
    assert any(ln.startswith("WARN IML-FCS-041 S2: ") for ln in lines)
    assert any(ln.startswith("WARN IML-IN-007 S3: ") for ln in lines)
    import immunolab

    attempts = [a for v in immunolab.open_store(extreme / "s").versions() for a in v.attempts]
    huge = next(a for a in attempts if a["label"] == "S3")
    assert any(w.startswith("IML-IN-007") for w in huge["warnings"])  # kept in the audit record too


@pytest.mark.parametrize("quiet", [("-q",), ("--quiet",)])
def test_quiet_on_the_group_or_the_command_silences_warn_lines_but_not_errors(extreme: Path, quiet: tuple[str]) -> None:
    for run in (_ingest(extreme, top=quiet), _ingest(extreme, *quiet)):
        assert "WARN" not in run.stderr and "Traceback" not in run.stderr
        assert run.returncode == 0 or "FAIL IML-FCS-005" in run.stdout  # SKIP once stored; FAIL lines stay


def test_numeric_warnings_become_one_coded_line_per_kind() -> None:
    sink: list[str] = []
    with np.errstate(all="warn"), numeric_warnings(sink):  # whatever another test left in numpy's error state
        for _ in range(3):
            np.array([1e308]) * 10
        np.log(np.array([-1.0]))
    assert len(sink) == 2 and all(s.startswith("IML-IN-007 numeric problem") for s in sink)
    assert "overflow encountered in multiply" in sink[0]


def test_other_warning_categories_pass_through_unchanged() -> None:
    with pytest.warns(FutureWarning, match="later"), numeric_warnings([]):
        warnings.warn("later", FutureWarning, stacklevel=1)


def test_the_cli_handler_prints_logger_records_and_python_warnings_as_coded_lines(
        capsys: pytest.CaptureFixture[str]) -> None:
    logging.captureWarnings(False)  # re-hook below, after pytest's own warning capture of this test
    handler = install_cli_handler()
    try:
        logging.getLogger("immunolab.plugins").warning("plugin %s failed to load: %s", "x", "boom",
                                                       extra={"code": "IML-PLUGIN-001"})
        warn_file("001-D014-PB", "IML-FCS-041 DATA holds 3 value(s) ...")
        warn_file("001-D014-PB", "2 population(s) under 50 events\x1b]0;title\x07")
        warnings.warn_explicit("overflow encountered in divide", RuntimeWarning, "/x/immunolab/fcs/channels.py", 9)
        set_quiet()
        warn_file("001-D014-PB", "not shown")
        set_quiet(False)
    finally:
        for name in ("immunolab", "py.warnings"):
            logging.getLogger(name).removeHandler(handler)
        logging.captureWarnings(False)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "WARN IML-PLUGIN-001 plugin x failed to load: boom",
        "WARN IML-FCS-041 001-D014-PB: DATA holds 3 value(s) ...",
        "WARN IML-IN-009 001-D014-PB: 2 population(s) under 50 events?",
        "WARN IML-IN-007 RuntimeWarning: overflow encountered in divide (in immunolab.fcs.channels)",
    ]


def test_an_error_record_is_an_error_line() -> None:
    record = logging.LogRecord("immunolab.store", logging.ERROR, __file__, 1, "disk %s", ("full",), None)
    assert CodedFormatter().format(record) == "ERROR IML-IN-009 disk full"
