"""The built-in template on data it was not shaped on: an independent simulator, and its rules.

The simulator (:mod:`tests.flow.independent_sim`) shares no code or constants with the demo
generator and varies channel names, spillover, ranges, proportions, brightness, scatter
positions, doublets, debris and CD45-dim/negative events at random per file. Each gate is
scored on the events its parent gate actually kept (see ``independent_sim.truth``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from immunolab.fcs.reader import read_fcs
from immunolab.flow.populations import parent_path, population_stats
from immunolab.flow.template import METHODS, GatingRun, apply_template, load_template
from tests.flow import independent_sim
from tests.flow.independent_sim import DOUBLET, simulate_tube, truth, write_tube

REPO = Path(__file__).resolve().parents[2]
SEEDS = (11, 23, 37, 41, 53)
FILES_PER_SEED = 12
TOLERANCE_PP = 3.0
REQUIRED_SHARE = 0.95


def _numbers(node: object) -> Iterator[float]:
    """Yield every number in a nested template document (booleans are not numbers)."""
    if isinstance(node, bool):
        return
    if isinstance(node, int | float):
        yield float(node)
    elif isinstance(node, dict):
        for v in node.values():
            yield from _numbers(v)
    elif isinstance(node, list | tuple):
        for v in node:
            yield from _numbers(v)


DEMO = REPO / "immunolab" / "demo"
#: the demo modules that write the trial's cell tubes; with every demo module they import, they
#: are the flow generator the template must not be shaped on. The bead-array generator (bead
#: wells, classified by a bead kit, never gated by the template), the plate and the clinical
#: generators draw constants of their own (a bead population's 0.035 log-SD, a 0.4 probability).
FLOW_ENTRY_POINTS = ("trial", "flow_sim", "tubes")
#: generators ``trial`` also drives that write no cell tube (bead wells, plates, clinical tables)
NOT_FLOW = ("bead_sim", "plate_sim", "xponent_writer", "clinical_sim")


def _flow_generator_modules() -> set[Path]:
    """Return the flow generator: the entry points and every ``immunolab.demo`` module they import."""
    todo, seen = list(FLOW_ENTRY_POINTS), set()
    while todo:
        name = todo.pop()
        if name in seen or name in NOT_FLOW:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse((DEMO / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("immunolab.demo."):
                todo.append(str(node.module).rsplit(".", 1)[1])
    return {DEMO / f"{name}.py" for name in seen}


def test_the_flow_generator_is_every_demo_module_that_writes_cell_tubes() -> None:
    modules = _flow_generator_modules()
    assert {p.stem for p in modules} >= {"trial", "flow_sim", "tubes", "cohort", "truth_model"}
    writers = {p for p in DEMO.glob("*.py") if "write_fcs" in p.read_text()}
    assert writers and writers <= modules
    assert not any("write_fcs" in (DEMO / f"{n}.py").read_text() for n in NOT_FLOW)  # none of them writes cell tubes


def _demo_constants() -> set[float]:
    found: set[float] = set()
    for path in sorted(_flow_generator_modules()):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
                found.add(float(node.value))
    return found


def test_no_numeric_constant_of_the_template_equals_a_constant_of_the_demo_generator() -> None:
    """Every number of the template (as written, and every default it fills in) except 0 and 1."""
    canonical = load_template().canonical()
    template_numbers = set(_numbers(canonical["populations"])) | set(_numbers(canonical["transforms"]))
    used = {p["method"] for p in canonical["populations"]}
    assert {v for m in used for v in _numbers(dict(METHODS[m].defaults))} <= template_numbers
    demo = _demo_constants()
    assert len(demo) > 50  # the generator's constants were found
    shared = sorted((template_numbers - {0.0, 1.0}) & demo)
    assert shared == [], f"template constants equal to demo-generator constants: {shared}"


def test_the_independent_simulator_imports_nothing_from_the_demo_generator() -> None:
    tree = ast.parse(Path(independent_sim.__file__).read_text())
    modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert modules and not [m for m in modules if m.startswith("immunolab.demo")]


def _gate_file(tube: independent_sim.Tube, path: Path) -> tuple[GatingRun, dict[str, float], dict[str, float]]:
    data = read_fcs(write_tube(path, tube))
    assert data.events is not None
    tpl = load_template()
    run = apply_template(data.events, data.channels, data.spillover(), tpl, label=path.name,
                         preprocess=data.preprocess_block)
    stats = population_stats(run.masks, n_total=len(data.events), lymphocyte_path=tpl.lymphocyte_path)
    everything = np.ones(len(data.events), dtype=bool)
    parents = {s.population: everything if parent_path(s.gate_path) == "/" else run.masks[str(parent_path(s.gate_path))]
               for s in stats}
    return run, {s.population: s.pct_parent for s in stats}, truth(tube, parents)


@pytest.mark.slow
def test_every_population_is_within_3_points_of_truth_in_95_percent_of_60_independent_files(tmp_path: Path) -> None:
    errors: dict[str, list[float]] = {}
    for seed in SEEDS:
        for i in range(FILES_PER_SEED):
            tube = simulate_tube(np.random.default_rng([seed, i]))
            _, measured, expected = _gate_file(tube, tmp_path / f"sim_{seed}_{i}.fcs")
            for name, value in measured.items():
                errors.setdefault(name, []).append(value - expected[name])
    n_files = len(SEEDS) * FILES_PER_SEED
    assert n_files >= 50 and len(errors) == 11
    report = {name: (sum(abs(e) <= TOLERANCE_PP for e in errs), max(errs, key=abs)) for name, errs in errors.items()}
    failing = {name: r for name, r in report.items() if r[0] < REQUIRED_SHARE * n_files}
    assert not failing, f"populations within {TOLERANCE_PP} pp in too few of {n_files} files: {failing}"


def _tube_with(seed: int, *, doublets: bool, inside: bool = False) -> independent_sim.Tube:
    """Return the first simulated tube (from ``seed`` on) with or without doublets, inside or not.

    "Inside" means at least 2 % of the lymphocyte region is doublets; "outside" that none is.
    """
    for i in range(200):
        tube = simulate_tube(np.random.default_rng([seed, i]), n_events=12_000)
        dbl = tube.kind == DOUBLET
        in_region = int((dbl & tube.in_region).sum())
        if not doublets and not dbl.any():
            return tube
        if doublets and dbl.sum() > 100 and (in_region > 0.02 * tube.in_region.sum() if inside else in_region == 0):
            return tube
    raise AssertionError("no such tube")


def test_a_file_without_doublets_keeps_every_event_and_flags_singlets_as_not_needed(tmp_path: Path) -> None:
    run, measured, _ = _gate_file(_tube_with(3, doublets=False), tmp_path / "nodbl.fcs")
    assert run.status["/Lymphocytes/Singlets"] == "not_needed"
    assert measured["Singlets"] == 100.0
    assert "no doublet population" in run.flags["/Lymphocytes/Singlets"]


def test_doublets_outside_the_lymphocyte_cluster_leave_no_doublets_to_cut_and_gating_goes_on(tmp_path: Path) -> None:
    """The issue's case: doublets sit outside the lymphocyte gate, so there is no second ratio peak."""
    tube = _tube_with(5, doublets=True, inside=False)
    run, measured, expected = _gate_file(tube, tmp_path / "outside.fcs")
    assert run.status["/Lymphocytes/Singlets"] == "not_needed"
    for name in ("T cells", "CD4+ T", "CD8+ T", "B cells", "NK cells"):
        assert abs(measured[name] - expected[name]) <= TOLERANCE_PP


def test_doublets_inside_the_lymphocyte_cluster_are_found_and_cut(tmp_path: Path) -> None:
    tube = _tube_with(7, doublets=True, inside=True)
    run, measured, expected = _gate_file(tube, tmp_path / "inside.fcs")
    assert run.status["/Lymphocytes/Singlets"] == "found"
    assert abs(measured["Singlets"] - expected["Singlets"]) <= 1.0
