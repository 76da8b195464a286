"""A read-only or full store gives every writing command a coded store error (exit 3), never an internal one.

The first release ended ``ingest`` and ``verify`` on a read-only store with IML-INTERNAL-001 (an
unhandled "read-only file system" opening ``.lock``), and ``verify`` on a 100 %-full store with
IML-INTERNAL-001 before printing any check. Each command below really runs (``python -m
immunolab``) against a copy of a small real store (two demo tubes, one plate) made unwritable
four ways: file permissions (an unprivileged user), a read-only bind mount (EROFS), a file-size
limit of 0 bytes (``ulimit -f 0``: EFBIG) and a full tmpfs (ENOSPC). Mount-based modes need root
and ``unshare``; they are skipped with a message otherwise.

For every mode: writing commands exit 3 with ``ERROR IML-STORE-0xx`` and a hint; ``verify``
prints every one of its checks (``--repair`` reports its own failure as a problem); nothing is
committed, and the store verifies clean once it is writable again.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data"
CHECKS = ("commit log", "commit chain", "tables", "uncommitted rows", "snapshot", "raw vault", "one result per sample")
STRAY = "part-stray-00000000.parquet"


@dataclass
class Base:
    """A pristine store and the inputs of the commands (in a folder every user may read)."""

    root: Path
    store: Path
    version: int


def _immunolab(*args: str) -> list[str]:
    return [sys.executable, "-m", "immunolab", *args]


def _commands(base: Base, store: Path) -> dict[str, list[str]]:
    s, r = str(store), str(base.root)
    return {
        "ingest": _immunolab("ingest", f"{r}/new.fcs", "--store", s, "--manifest", f"{r}/manifest.csv", "-j", "1"),
        "derive gating": _immunolab("derive", "gating", "--store", s, "--panel", "TBNK-Treg", "-j", "1",
                                    "--strategy", f"{r}/copy.yaml"),
        "derive activate": _immunolab("derive", "activate", "--store", s, "--kind", "curves", "--scope", "PLATE-01",
                                      "--derivation", "instrument", "--reason", "switch"),
        "qc exclude": _immunolab("qc", "exclude", "--store", s, "--plate", "PLATE-01", "--reason", "clumps"),
        "identity apply": _immunolab("identity", "apply", "--store", s, "--manifest", f"{r}/fix/manifest.csv",
                                     "--reason", "specimen typo"),
        "store compact": _immunolab("store", "compact", "--store", s),
    }


@pytest.fixture(scope="module")
def base() -> Iterator[Base]:
    root = Path(tempfile.mkdtemp(prefix="immunolab-faults-"))  # pytest's tmp root is private to root
    root.chmod(0o755)
    (root / "in").mkdir()
    for name in ("flow/001-D000-PB_TBNK-Treg.fcs", "flow/001-D014-PB_TBNK-Treg.fcs", "plates/cytokine_plate_01.csv"):
        shutil.copy(SAMPLE / name, root / "in" / Path(name).name)
    shutil.copy(SAMPLE / "flow" / "002-D000-WB_TBNK-Treg.fcs", root / "new.fcs")
    for name in ("manifest.csv", "subjects.csv"):
        shutil.copy(SAMPLE / name, root / name)
    (root / "fix").mkdir()
    row = "001-D000-PB_TBNK-Treg.fcs,001-D000-PB,001,0,PBMC,TBNK-Treg"
    text = (root / "manifest.csv").read_text()
    assert row in text
    (root / "fix" / "manifest.csv").write_text(text.replace(row, row.replace(",PBMC,", ",WB,")))
    shutil.copy(root / "subjects.csv", root / "fix" / "subjects.csv")
    template = (REPO / "immunolab" / "flow" / "templates" / "trial_panel.yaml").read_text()
    (root / "copy.yaml").write_text(template.replace("name: trial_panel", "name: trial_panel_copy", 1))
    store = root / "store"
    for files in (["001-D000-PB_TBNK-Treg.fcs", "cytokine_plate_01.csv"], ["001-D014-PB_TBNK-Treg.fcs"]):
        run = subprocess.run(_immunolab("-q", "ingest", *[str(root / "in" / f) for f in files], "--store", str(store),
                                        "--manifest", str(root / "manifest.csv"), "-j", "1"),
                             capture_output=True, text=True, cwd=REPO)
        assert run.returncode == 0, run.stdout + run.stderr
    import immunolab

    for p in [root, *root.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o055)
    yield Base(root, store, immunolab.open_store(store).version)
    shutil.rmtree(root, ignore_errors=True)


def _copy(base: Base, name: str) -> Path:
    """Return a fresh copy of the store with one stray data file (so ``verify --repair`` must write)."""
    target = base.root / f"store-{name}"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(base.store, target)
    sources = target / "tables" / "sources"
    shutil.copy(next(sources.glob("part-*.parquet")), sources / STRAY)
    return target


def _can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs -o size=1m tmpfs /mnt && umount /mnt"], capture_output=True)
    return probe.returncode == 0


Runner = Callable[[list[str], Path], subprocess.CompletedProcess[str]]


def _plain_run(cmd: list[str], prefix: list[str], preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), HOME=tempfile.gettempdir(), RUST_BACKTRACE="0")
    return subprocess.run([*prefix, *cmd], capture_output=True, text=True, cwd=tempfile.gettempdir(), env=env,
                          preexec_fn=preexec, timeout=600)


def _permissions(store: Path) -> Runner:
    for p in [store, *store.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    return lambda cmd, _s: _plain_run(cmd, prefix)


def _readonly_mount(store: Path) -> Runner:
    script = f'mount --bind "{store}" "{store}" && mount -o remount,ro,bind "{store}" "{store}" && exec "$@"'
    return lambda cmd, _s: _plain_run(cmd, ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"])


def _file_size_limit(_store: Path) -> Runner:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # Python ignores SIGXFSZ: writes fail with EFBIG

    return lambda cmd, _s: _plain_run(cmd, [], limit)


def _full_tmpfs(store: Path) -> Runner:
    size_mb = sum(p.stat().st_size for p in store.rglob("*") if p.is_file()) // 2**20 + 8
    mnt = store.parent / f"{store.name}-mnt"
    mnt.mkdir(exist_ok=True)
    script = (f'mount -t tmpfs -o size={size_mb}m tmpfs "{mnt}" && cp -a "{store}" "{mnt}/store" && '
              f'(dd if=/dev/zero of="{mnt}/fill" bs=64k 2>/dev/null; true) && '
              f'mount --bind "{mnt}/store" "{store}" && exec "$@"')
    return lambda cmd, _s: _plain_run(cmd, ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"])


MODES: dict[str, tuple[Callable[[Path], Runner], str, bool]] = {
    "permissions": (_permissions, "IML-STORE-010", False),
    "read-only mount": (_readonly_mount, "IML-STORE-010", True),
    "ulimit -f 0": (_file_size_limit, "IML-STORE-003", False),
    "full disk": (_full_tmpfs, "IML-STORE-003", True),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_every_writing_command_gets_a_coded_store_error_and_verify_runs_every_check(
        base: Base, mode: str, figures: dict) -> None:
    make, code, needs_mounts = MODES[mode]
    if mode == "permissions" and os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop root privileges")
    if needs_mounts and not _can_unshare():
        pytest.skip("needs root and `unshare --mount` for a private mount namespace")
    store = _copy(base, mode.replace(" ", "-"))
    run = make(store)
    seen: dict[str, int] = {}
    try:
        for name, cmd in _commands(base, store).items():
            r = run(cmd, store)
            out = r.stdout + r.stderr
            seen[name] = r.returncode
            assert r.returncode == 3, f"{mode} / {name}: exit {r.returncode}\n{out[-1500:]}"
            assert f"ERROR {code} " in r.stderr and "Traceback" not in out and "IML-INTERNAL" not in out, \
                f"{mode} / {name}:\n{out[-1500:]}"
        for repair in ([], ["--repair"]):
            r = run(_immunolab("verify", "--store", str(store), *repair), store)
            out = r.stdout + r.stderr
            assert r.returncode == 3 and "Traceback" not in out and "IML-INTERNAL" not in out, out[-1500:]
            for check in CHECKS:
                assert f"check {check}" in r.stdout, f"{mode}: verify {repair} did not run '{check}'\n{out[-1500:]}"
            assert STRAY in r.stdout  # the planted stray file is found by the read-only checks
            if repair:
                assert "check repair" in r.stdout and f"PROBLEM repair: {code}" in r.stdout, out[-1500:]
    finally:
        for p in [store, *store.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
    import immunolab
    from immunolab.store.verify import verify_store

    assert immunolab.open_store(store).version == base.version, "something was committed"
    (store / "tables" / "sources" / STRAY).unlink()
    result = verify_store(store, repair=True)  # writable again: whatever a failed write left is rolled back
    assert verify_store(store).ok, result.problems
    figures.update({"commands": len(seen) + 2, "exit_3": sum(c == 3 for c in seen.values()) + 2})
