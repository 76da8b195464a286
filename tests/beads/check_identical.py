"""Dump, compare and time the bead classification of every demo well, shared bead file and simulated well.

A speed change must not change one bit of a result. Run this script on two checkouts (or a
baseline copy put first on ``PYTHONPATH``) and compare the dumps::

    python -m tests.beads.check_identical dump before.pkl      # baseline code
    python -m tests.beads.check_identical dump after.pkl       # changed code
    python -m tests.beads.check_identical compare before.pkl after.pkl
    python -m tests.beads.check_identical time                 # best-of-3 seconds per set

Each well's full :class:`~immunolab.beads.classify.BeadWellResult` (per-event group and bead
labels, every population's events count, MFI, rCV, classifier medians and flags, the groups,
channels and well flags) is flattened to exact bytes (arrays: dtype, shape and raw bytes;
floats: ``float.hex``), or to the error code and message when the well is refused. Needs the
demo trial (``IMMUNOLAB_DEMO_TRIAL``, default ``/tmp/beadspeed/trial``, generated when absent)
and ``IMMUNOLAB_SHARED_DATA``. Not a pytest module (its name does not start with ``test_``).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import pickle
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

Case = tuple[str, Callable[[], Any]]


def canon(obj: Any, path: str = "") -> Iterator[tuple[str, bytes]]:
    """Yield (path, exact bytes) for every leaf of a classification result."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        yield path + ":type", type(obj).__name__.encode()
        for f in dataclasses.fields(obj):
            yield from canon(getattr(obj, f.name), f"{path}.{f.name}")
    elif isinstance(obj, np.ndarray):
        yield path, f"{obj.dtype.str}{obj.shape}".encode() + np.ascontiguousarray(obj).tobytes()
    elif isinstance(obj, dict):
        for k in obj:
            yield from canon(obj[k], f"{path}[{k!r}]")
    elif isinstance(obj, list | tuple):
        yield path + ":len", f"{type(obj).__name__}{len(obj)}".encode()
        for i, v in enumerate(obj):
            yield from canon(v, f"{path}[{i}]")
    elif isinstance(obj, float | np.floating):
        yield path, f"{type(obj).__name__}:{float(obj).hex()}".encode()
    else:
        yield path, f"{type(obj).__name__}:{obj!r}".encode()


def _outcome(run: Callable[[], Any]) -> list[tuple[str, bytes]]:
    from immunolab.errors import ImmunolabError

    try:
        return list(canon(run()))
    except ImmunolabError as exc:
        return [("error", f"{exc.code}: {exc}".encode())]


def _demo_cases() -> list[Case]:
    from immunolab.beads import classify_bead_well, load_kit
    from immunolab.demo.trial import generate_trial
    from immunolab.fcs.reader import read_fcs

    root = Path(os.environ.get("IMMUNOLAB_DEMO_TRIAL", "/tmp/beadspeed/trial"))
    generate_trial(root, if_absent=True, log=lambda m: None)
    rows = [r for r in csv.DictReader((root / "manifest.csv").open()) if r["assay"] == "bead_array"]
    cases: list[Case] = []
    for row in sorted(rows, key=lambda r: r["file"]):
        fcs = read_fcs(root / "beads" / row["file"], label=row["file"])

        def run(fcs: Any = fcs, kit: str = row["kit"], label: str = row["file"]) -> Any:
            return classify_bead_well(fcs.events, fcs.channels, load_kit(kit), label=label, keywords=fcs.keywords)

        cases.append((f"demo/{row['file']}", run))
    return cases


def _file_case(name: str, path: Path, kit: Any, dataset: int | None = None) -> Case:
    from immunolab.beads import classify_bead_well
    from immunolab.fcs.reader import read_fcs

    fcs = read_fcs(path, label=path.name, dataset=dataset)
    return name, lambda: classify_bead_well(fcs.events, fcs.channels, kit, label=path.name, keywords=fcs.keywords)


def _shared_cases() -> list[Case]:
    from immunolab.beads import load_kit, parse_kit
    from tests.beads.test_cba_facsverse import FLEX_5PLEX
    from tests.beads.test_cell_tubes_refused import CELL_FILES

    data = Path(os.environ["IMMUNOLAB_SHARED_DATA"])
    cases = []
    antivirus = load_kit("legendplex_hu_antivirus_13plex")
    for p in sorted((data / "beads" / "legendplex_navios").glob("*.LMD")):
        cases.append(_file_case(f"navios/{p.name}", p, antivirus))
        cases.append(_file_case(f"navios-fcs2/{p.name}", p, antivirus, dataset=0))
    cba = parse_kit(FLEX_5PLEX, source="cba_flex_5plex.yaml")
    for p in sorted((data / "beads" / "cba_facsverse").glob("Standard *.fcs")):
        cases.append(_file_case(f"cba/{p.name}", p, cba))
    k2 = data / "cytokine" / "legendplex" / "beadplexr" / "K2-C07-A7.fcs"
    cases.append(_file_case("cytoflex/K2-C07-A7.fcs", k2, load_kit("legendplex_hu_th_cytokine_13plex")))
    inflammation = load_kit("legendplex_hu_inflammation_13plex")
    for parts in CELL_FILES:
        cases.append(_file_case(f"cell-tube/{parts[-1]}", data.joinpath("flow", *parts), inflammation))
    return cases


def _sim_cases() -> list[Case]:
    from immunolab.beads import classify_bead_well
    from tests.beads.independent_sim import simulate_well

    sims = [(f"sim/{s}", simulate_well(s)) for s in range(16)]
    for seed in range(100, 110):
        for two_d in (False, True):
            n_beads = len(simulate_well(seed, two_d=two_d).kit.beads)
            gone = int(np.random.default_rng(seed).integers(0, n_beads))
            sims.append((f"sim-missing/{seed}-{two_d}", simulate_well(seed, two_d=two_d, missing=(gone,))))
    return [(name, lambda s=s, name=name: classify_bead_well(s.events, s.channels, s.kit, label=name)) for name, s in sims]


SETS: dict[str, Callable[[], list[Case]]] = {"demo": _demo_cases, "shared": _shared_cases, "sim": _sim_cases}


def dump(out: str) -> None:
    """Write every case's flattened outcome to ``out`` (a pickle of name -> [(path, bytes)])."""
    result = {name: _outcome(run) for make in SETS.values() for name, run in make()}
    Path(out).write_bytes(pickle.dumps(result))
    print(f"{len(result)} wells dumped to {out}")


def compare(a: str, b: str) -> int:
    """Print the wells whose outcomes differ; return the number of differences."""
    before, after = (pickle.loads(Path(p).read_bytes()) for p in (a, b))
    bad = 0
    for name in sorted(set(before) | set(after)):
        x, y = before.get(name), after.get(name)
        if x != y:
            bad += 1
            first = next((i for i, (u, v) in enumerate(zip(x or [], y or [], strict=False)) if u != v), None)
            print(f"DIFF {name}: first differing leaf {None if first is None else (x or [])[first][0]}")
    leaves = sum(len(v) for v in before.values())
    print(f"{len(before)} vs {len(after)} wells, {leaves} leaves compared, {bad} differ")
    return bad


def timing(repeats: int = 3, only: str = "") -> None:
    """Print the best-of-``repeats`` wall and CPU time of classifying each set (files read beforehand).

    One untimed pass first, so that imports and first-call costs are not counted in any round.
    """
    for set_name, make in SETS.items():
        if only and set_name != only:
            continue
        cases = make()
        for _name, run in cases:
            _outcome(run)
        wall, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            for _name, run in cases:
                _outcome(run)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        print(f"{set_name}: {len(cases)} wells, best of {repeats}: wall {min(wall):.2f} s, CPU {min(cpu):.2f} s "
              f"(wall {', '.join(f'{t:.2f}' for t in wall)}; CPU {', '.join(f'{t:.2f}' for t in cpu)})", flush=True)


if __name__ == "__main__":
    cmd, *args = sys.argv[1:] or ["help"]
    if cmd == "dump":
        dump(args[0])
    elif cmd == "compare":
        sys.exit(1 if compare(args[0], args[1]) else 0)
    elif cmd == "time":
        timing(int(args[0]) if args else 3, args[1] if len(args) > 1 else "")
    else:
        print(re.sub(r"\n\n.*", "", __doc__ or "", flags=re.S))
