"""Multi-file plates: bead-array runs whose wells arrive as one FCS file each (``plate_id`` ``run:<run>``).

A run's curves can be fitted only when its wells are stored, so the per-file curve derivation
skips these plates and :func:`derive_runs` fits them from every stored well of the run (after
each ingest batch that brought wells of it or found it with wells newer than its last fit, and
on ``immunolab derive curves``). Each derivation of a run replaces the previous one of the same
settings (the latest commit per run and derivation is current:
:func:`immunolab.derive.choices.active_curves`). Results are attached to the well file of each
sample's first replicate, so identity joins them to the sample.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa

from immunolab.schema import conform

if TYPE_CHECKING:
    from immunolab.cytokine.assemble import PlateSettings
    from immunolab.store.read import Store
    from immunolab.store.versions import VersionRecord

__all__ = ["RUN_PREFIX", "derive_runs", "is_run", "run_facts", "run_tables", "runs_without_fit"]

RUN_PREFIX = "run:"


def is_run(plate_id: str | None) -> bool:
    """Return True for the plate of a multi-file run."""
    return bool(plate_id) and str(plate_id).startswith(RUN_PREFIX)


def run_facts(store: Store, plate_id: str) -> tuple[pa.Table, pa.Table, dict[str, str]]:
    """Return (plate row, wells of current well files, sample_key -> source of its first replicate)."""
    from immunolab.store.read import filter_in

    smp = store.table("identity_samples").to_pylist()
    current = {r["source_sha256"] for r in smp if r["sample_key"] == "" and r["status"] in ("active", "replicate")}
    wells = filter_in(store.table("cytokine_wells"), "plate_id", [plate_id])
    wells = filter_in(wells, "source_sha256", current) if current else wells.slice(0, 0)
    plates = filter_in(store.table("cytokine_plates"), "plate_id", [plate_id]).slice(0, 1)
    first: dict[str, str] = {}
    for rec in sorted(wells.select(["sample_key", "source_sha256", "well"]).to_pylist(),
                      key=lambda r: (str(r["well"]), r["source_sha256"])):
        if rec["sample_key"]:
            first.setdefault(rec["sample_key"], rec["source_sha256"])
    return plates, wells, first


def runs_without_fit(store: Store) -> list[str]:
    """Return the runs with wells stored after their last curve derivation (or with none at all).

    Ingest fits a run after committing its wells; when that step was killed the wells stay
    committed without curves, and the next ingest (even one that only skips) fits them.
    """
    wells = store.table("cytokine_wells", columns=["plate_id", "commit_id"]).to_pylist()
    if not wells:
        return []
    version = store.commit_version
    newest: dict[str, int] = {}
    for r in wells:
        if is_run(r["plate_id"]):
            newest[r["plate_id"]] = max(newest.get(r["plate_id"], 0), version.get(r["commit_id"], 0))
    fitted: dict[str, int] = {}
    for r in store.table("plate_qc", columns=["plate_id", "commit_id"]).to_pylist():
        if r["plate_id"] in newest:
            fitted[r["plate_id"]] = max(fitted.get(r["plate_id"], 0), version.get(r["commit_id"], 0))
    return sorted(p for p, v in newest.items() if fitted.get(p, -1) < v)


def _settings_for(store: Store, wells: pa.Table, override: PlateSettings | None) -> PlateSettings:
    from immunolab.cytokine.assemble import PlateSettings

    if override is not None:
        return override
    from immunolab.store.read import filter_in

    shas = sorted(set(wells.column("source_sha256").to_pylist()))
    meta = filter_in(store.table("sources", columns=["source_sha256", "metadata_json"]), "source_sha256", shas[:1])
    kit = json.loads(meta.column("metadata_json")[0].as_py() or "{}").get("kit") if meta.num_rows else None
    if kit:
        from immunolab.beads import bead_plate_settings, load_kit

        return bead_plate_settings(load_kit(kit))
    return PlateSettings()


def run_tables(store: Store, plate_ids: Iterable[str], *, settings: PlateSettings | None,
               commit_id: str) -> tuple[dict[str, list[pa.Table]], list[str]]:
    """Fit every run in ``plate_ids`` from its stored wells; return its rows under ``commit_id`` and the runs fitted."""
    from immunolab.cytokine.facts import plates_from_facts
    from immunolab.derive.curves import derive_plate, rows_to_tables

    out: dict[str, list[pa.Table]] = {}
    done = []
    for pid in sorted(set(plate_ids)):
        plates, wells, first = run_facts(store, pid)
        if plates.num_rows == 0 or wells.num_rows == 0:
            continue
        cfg = _settings_for(store, wells, settings)
        run_sha = min(wells.column("source_sha256").to_pylist())
        for plate_id, plate in plates_from_facts(plates, wells):
            rows, _status = derive_plate(plate, sha=run_sha, plate_id=plate_id, settings=cfg, kind="refit",
                                         label=plate_id)
            for rec in rows.get("cytokine_results", []):
                rec["source_sha256"] = first.get(rec["sample_key"], run_sha)
            for name, t in rows_to_tables(rows).items():
                t = t.append_column("commit_id", pa.array([commit_id] * t.num_rows, pa.string()))
                out.setdefault(name, []).append(conform(name, t))
        done.append(pid)
    return out, done


def derive_runs(store: Store, plate_ids: Iterable[str], *, settings: PlateSettings | None = None,
                reason: str | None = None, command: str = "derive runs") -> VersionRecord | None:
    """Fit every run in ``plate_ids`` from its stored wells; commit the results as one store version."""
    from immunolab.derive.run import _commit
    from immunolab.store.writer import new_id

    commit_id = new_id("drv")
    out, done = run_tables(store, plate_ids, settings=settings, commit_id=commit_id)
    if not done:
        return None
    return _commit(store, "derive", out, f"curves of {len(done)} bead-array run(s): {', '.join(done)}", reason,
                   {"runs": done}, command, commit_id)
