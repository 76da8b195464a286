"""Population statistics from per-event gate membership: counts and frequencies in percent.

Every gating route (the built-in template, GatingML 2.0, FlowJo workspaces) ends here, so the
``flow_populations`` table means the same thing whatever produced it.

Gate paths are population names joined by ``/`` from the root, e.g.
``/Lymphocytes/Singlets/CD45+/T cells/CD4+ T``; the root (all events) has the path ``/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["PopulationStat", "parent_path", "population_stats", "stats_rows", "stats_table", "unique_population_names",
           "with_unknown_frequencies"]


@dataclass(frozen=True)
class PopulationStat:
    """Count and frequencies (0-100 %) of one gated population."""

    gate_path: str
    population: str
    parent: str | None
    count: int
    parent_count: int
    total_count: int
    pct_parent: float
    pct_total: float
    pct_lymphocytes: float | None


def parent_path(gate_path: str) -> str | None:
    """Return the parent path of ``gate_path`` (``/`` for top-level gates, None for the root)."""
    if gate_path == "/":
        return None
    head = gate_path.rstrip("/").rsplit("/", 1)[0]
    return head or "/"


def unique_population_names(gate_paths: Iterable[str]) -> dict[str, str]:
    """Return gate path -> the shortest tail of the path that no other path in ``gate_paths`` ends with.

    A population keeps its bare name (``CD4+ T``) when that name is unique; two gates sharing a
    name get as many parent names as it takes to tell them apart (``/Lymphocytes`` and
    ``/Monocytes/Lymphocytes`` become ``Lymphocytes`` and ``Monocytes/Lymphocytes``). Distinct
    paths always get distinct names, and the result depends only on the set of paths.
    """
    parts = {p: tuple(p.strip("/").split("/")) for p in set(gate_paths) if p and p != "/"}
    out: dict[str, str] = {}
    for path, comps in parts.items():
        k = 1
        while k < len(comps) and any(other != path and o[-k:] == comps[-k:] for other, o in parts.items()):
            k += 1
        out[path] = "/".join(comps[-k:])
    return out


def _pct(num: int, den: int) -> float:
    return float("nan") if den == 0 else 100.0 * num / den


def population_stats(
    masks: Mapping[str, np.ndarray],
    *,
    n_total: int,
    lymphocyte_path: str | None = None,
) -> list[PopulationStat]:
    """Return one :class:`PopulationStat` per gate path in ``masks``.

    ``masks`` maps a gate path to a boolean array over all events that already includes the
    parent's membership (an event in ``/A/B`` is in ``/A``). ``pct_lymphocytes`` is relative to
    ``lymphocyte_path`` and given only for that population and its descendants.
    """
    counts = {path: int(np.count_nonzero(m)) for path, m in masks.items()}
    counts["/"] = n_total
    lymph_count = counts.get(lymphocyte_path) if lymphocyte_path else None
    out: list[PopulationStat] = []
    for path in masks:
        if path == "/":
            continue
        parent = parent_path(path)
        parent_count = counts.get(parent or "/", n_total)
        below_lymph = (
            lymphocyte_path is not None
            and lymph_count is not None
            and (path == lymphocyte_path or path.startswith(lymphocyte_path.rstrip("/") + "/"))
        )
        out.append(
            PopulationStat(
                gate_path=path,
                population=path.rstrip("/").rsplit("/", 1)[-1],
                parent=parent,
                count=counts[path],
                parent_count=parent_count,
                total_count=n_total,
                pct_parent=_pct(counts[path], parent_count),
                pct_total=_pct(counts[path], n_total),
                pct_lymphocytes=_pct(counts[path], lymph_count) if below_lymph and lymph_count is not None else None,
            )
        )
    return out


def with_unknown_frequencies(stats: list[PopulationStat], not_gated: Iterable[str]) -> list[PopulationStat]:
    """Return ``stats`` with NaN frequencies for the populations ``not_gated`` and everything below them.

    A gate that was not applied (its parent held too few events) has an unknown frequency, not
    0 %: its percentages become NaN, so exports and analyses see no value. Counts stay the
    events of the population's (empty) mask, as ``flow_event_gates`` counts them.
    """
    roots = {p.rstrip("/") for p in not_gated}
    if not roots:
        return stats
    nan = float("nan")

    def unknown(path: str) -> bool:
        return any(path == r or path.startswith(r + "/") for r in roots)

    return [replace(s, pct_parent=nan, pct_total=nan, pct_lymphocytes=None if s.pct_lymphocytes is None else nan)
            if unknown(s.gate_path.rstrip("/")) else s for s in stats]


def stats_rows(stats: list[PopulationStat], *, strategy_id: str, strategy_name: str) -> list[dict[str, Any]]:
    """Return ``stats`` as plain ``flow_populations`` records (what :func:`stats_table` holds, no pyarrow)."""
    return [{"strategy_id": strategy_id, "strategy_name": strategy_name, **asdict(s)} for s in stats]


_COLUMNS = ("strategy_id", "strategy_name", "gate_path", "population", "parent", "count", "parent_count",
            "total_count", "pct_parent", "pct_total", "pct_lymphocytes")


def stats_table(stats: list[PopulationStat], *, strategy_id: str, strategy_name: str) -> pa.Table:
    """Return ``stats`` as ``flow_populations`` rows (key columns are filled in by ingest)."""
    import pyarrow as pa

    rows = stats_rows(stats, strategy_id=strategy_id, strategy_name=strategy_name)
    return pa.table({name: [r[name] for r in rows] for name in _COLUMNS})
