"""Upgrade a store written by immunolab 0.1 (format 1) to the Delta Lake store (format 2), losing nothing.

The old files are moved, not deleted, into ``legacy-v1/`` inside the store (``tables/``,
``audit/``, the marker); ``raw/`` is shared (same layout). Every committed ingest becomes one
unit of work (its ``commit_id`` is its old ingest id) of a single store version of kind
``upgrade``, which records the SHA-256 of the old audit log. Mapping:

* facts: ``sources`` (from the audit records), ``fcs_files``, ``cytokine_plates``,
  ``cytokine_wells`` (signals, expected and reported concentrations), the instrument's printed
  curves (``instrument_curves``);
* identity: ``identity_samples`` from the old ``samples`` table (plate samples keyed by their
  sample id, since format 1 never kept their names), superseded ingests marked ``superseded``;
  ``identity_subjects`` from the arm, site, sex and age the samples carried;
* derivations: gating results as they were (derivation id = strategy id); curves and
  concentrations as the derivation ``v1-import``, chosen as active for every plate, so the
  measurements view reproduces the old ``measurements`` table exactly.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from immunolab.errors import StoreError
from immunolab.identity.keys import sample_key
from immunolab.schema import FORMAT_VERSION, table_spec
from immunolab.store.location import StoreLocation, location_for

__all__ = ["IMPORTED", "upgrade_store"]

IMPORTED = "v1-import"
LEGACY_DIR = "legacy-v1"


def _typed(name: str, df: pd.DataFrame) -> pa.Table:
    schema = table_spec(name).schema
    cols = {}
    for f in schema:
        values = df[f.name] if f.name in df.columns else pd.Series([None] * len(df))
        values = values.astype(object).mask(values.isna(), None) if not pa.types.is_list(f.type) else values
        cols[f.name] = pa.array(list(values), type=f.type, from_pandas=True)
    extra = [c for c in df.columns if c not in schema.names] if table_spec(name).extra_column_type else []
    for c in extra:
        cols[c] = pa.array(df[c].to_numpy(), type=table_spec(name).extra_column_type)
    return pa.table(cols)


def _legacy(root: Path) -> Any:
    from immunolab.store.legacy.layout import StorePaths
    from immunolab.store.legacy.read import Store as LegacyStore

    return LegacyStore(StorePaths(root))


def _move_old(root: Path) -> Path:
    legacy = root / LEGACY_DIR
    legacy.mkdir(exist_ok=True)
    for name in ("tables", "audit", "commits", ".staging", "immunolab-store.json", ".lock", ".lock.holder", "quarantine"):
        src = root / name
        if src.exists():
            shutil.move(str(src), str(legacy / name))
    return legacy


def _frames(old: Any) -> dict[str, pd.DataFrame]:
    names = ("samples", "fcs_files", "flow_populations", "flow_strategies", "flow_events", "cytokine_plates",
             "cytokine_wells", "standard_curves", "cytokine_results")
    return {n: old.to_pandas(n, include_superseded=True) for n in names}


def _sources(records: dict[str, dict[str, Any]], kinds: dict[str, str]) -> pd.DataFrame:
    rows = []
    for iid, r in records.items():
        attempted_at = r.get("attempted_at")
        rows.append({"commit_id": iid, "source_sha256": r["source_sha256"], "ingest_id": iid, "plugin": r.get("plugin"),
                     "plugin_version": r.get("plugin_version"), "format": None,
                     "assay_kind": kinds.get(r.get("plugin") or ""), "n_bytes": r.get("source_bytes"),
                     "n_events": None, "label": r.get("source_label"), "file_key": None, "warnings": [],
                     "metadata_json": json.dumps({"upgraded_from": "format 1"}),
                     "ingested_at": pd.Timestamp(attempted_at).to_pydatetime() if attempted_at else None,
                     "immunolab_version": r.get("immunolab_version")})
    return pd.DataFrame(rows)


def _identity(f: dict[str, pd.DataFrame], records: dict[str, dict[str, Any]], secret: bytes) -> tuple[pd.DataFrame, pd.DataFrame]:
    now = datetime.now(UTC)
    s = f["samples"]
    wells_keyed = set(zip(f["cytokine_wells"]["ingest_id"], f["cytokine_wells"]["sample_id"], strict=True)) \
        if len(f["cytokine_wells"]) else set()
    rows = []
    for r in s.to_dict("records"):
        rec = records.get(r["ingest_id"], {})
        is_plate_sample = (r["ingest_id"], r["sample_id"]) in wells_keyed or r.get("plate_id")
        rows.append({"commit_id": r["ingest_id"], "source_sha256": r["source_sha256"],
                     "sample_key": sample_key(secret, r["sample_id"]) if is_plate_sample else "",
                     "file_key": None, "sample_id": r["sample_id"], "patient_id": r["patient_id"],
                     "visit_day": r["visit_day"], "specimen": r["specimen"], "panel": r["panel"],
                     "assay": r["plugin"], "status": "superseded" if rec.get("superseded_by") else "active",
                     "manifest_sha256": None, "reason": "upgraded from store format 1", "recorded_at": now})
    plates = f["cytokine_plates"]
    for r in plates.to_dict("records"):
        rec = records.get(r["ingest_id"], {})
        rows.append({"commit_id": r["ingest_id"], "source_sha256": r["source_sha256"], "sample_key": "",
                     "sample_id": r["sample_id"], "status": "superseded" if rec.get("superseded_by") else "active",
                     "assay": rec.get("plugin"), "reason": "upgraded from store format 1", "recorded_at": now})
    ident = pd.DataFrame(rows).drop_duplicates(["source_sha256", "sample_key"], keep="last")
    subj = s.sort_values("ingest_id").drop_duplicates("patient_id", keep="last")
    subjects = pd.DataFrame({"commit_id": subj["ingest_id"], "patient_id": subj["patient_id"], "arm": subj["arm"],
                             "site": subj["site"], "sex": subj["sex"], "age": subj["age"], "status": "active",
                             "reason": "upgraded from store format 1", "recorded_at": now})
    return ident, subjects


def _empty_lists(n: int) -> list[Any]:
    """Return ``n`` distinct empty lists: the cells of a list column (flags, wells) for ``n`` rows.

    Typed ``list[Any]``: pandas-stubs' column values are scalars, which a list cell is not.
    """
    return [[] for _ in range(n)]


def _key_of(df: pd.DataFrame, secret: bytes) -> pd.Series:
    return df["sample_id"].map(lambda v: sample_key(secret, v) if isinstance(v, str) and v else None)


def _derived(f: dict[str, pd.DataFrame], secret: bytes) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    pops = f["flow_populations"].assign(commit_id=lambda d: d["ingest_id"], derivation_id=lambda d: d["strategy_id"],
                                       qc_flags=lambda d: _empty_lists(len(d)))
    out["flow_populations"] = pops
    strat = f["flow_strategies"].assign(commit_id=lambda d: d["ingest_id"], derivation_id=lambda d: d["strategy_id"])
    out["flow_strategies"] = strat.drop_duplicates("strategy_id")
    out["flow_gating"] = strat.assign(status="ok", qc_flags=lambda d: _empty_lists(len(d)))
    if len(f["flow_events"]):
        out["flow_events"] = f["flow_events"].assign(commit_id=lambda d: d["ingest_id"],
                                                     derivation_id=lambda d: d["strategy_id"]).drop(
            columns=["patient_id", "visit_day", "sample_id", "ingest_id"])
    plates = f["cytokine_plates"].assign(commit_id=lambda d: d["ingest_id"], export_format=None)
    out["cytokine_plates"] = plates
    out["plate_qc"] = plates.assign(derivation_id=IMPORTED, status=plates["qc_status"])
    wells = f["cytokine_wells"]
    out["cytokine_wells"] = wells.assign(commit_id=wells["ingest_id"], sample_key=_key_of(wells, secret),
                                         reader_flags=_empty_lists(len(wells)))
    curves = f["standard_curves"].assign(commit_id=lambda d: d["ingest_id"])
    out["instrument_curves"] = curves[curves["source"] == "instrument"]
    out["curve_fits"] = curves.assign(derivation_id=IMPORTED)
    res = f["cytokine_results"]
    out["cytokine_results"] = res.assign(commit_id=res["ingest_id"], derivation_id=IMPORTED,
                                         sample_key=_key_of(res, secret), wells=_empty_lists(len(res)))
    return out


def upgrade_store(store: str | Path, *, command: str = "store upgrade") -> dict[str, Any]:
    """Convert the format-1 store at ``store`` in place; return counts (rows per table, ingests)."""
    from immunolab.store.layout import read_marker

    loc: StoreLocation = location_for(store)
    if not loc.is_local:
        raise StoreError("IML-STORE-001", "format-1 stores were local folders only", path=loc.uri,
                         hint="Upgrade the folder, then copy it to object storage.")
    root = loc.local_root
    marker = read_marker(loc)
    if marker is not None and int(marker.get("format_version", 1)) == FORMAT_VERSION:
        return {"ingests": 0, "tables": {}, "up_to_date": True, "format_version": FORMAT_VERSION}
    if marker is None or int(marker.get("format_version", 1)) != 1:
        raise StoreError("IML-STORE-001", "this is not a store of immunolab 0.1 (format 1)", path=loc.uri,
                         hint="Only format-1 stores need `store upgrade`; `immunolab store info` shows the format.")
    old = _legacy(root)
    frames = _frames(old)
    records = old.committed(include_superseded=True)
    audit_sha = hashlib.sha256((root / "audit" / "log.jsonl").read_bytes()).hexdigest()
    kinds = dict(zip(frames["samples"]["plugin"], frames["samples"]["assay_kind"], strict=True))
    legacy = _move_old(root)
    try:
        counts = _write_new(loc, frames, records, kinds, audit_sha, command)
    except BaseException:
        _restore(root, legacy)
        raise
    (legacy / "README.txt").write_text("The files of this store as immunolab 0.1 wrote them (format 1), kept by "
                                       "`immunolab store upgrade`. Delete this folder once you no longer need them.\n")
    return {"ingests": len(records), "tables": counts, "legacy_folder": str(legacy)}


def _restore(root: Path, legacy: Path) -> None:
    """Undo a failed upgrade: remove what was created, move the old files back."""
    for name in ("versions", "tables", "pending", "key", "immunolab-store.json"):
        p = root / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()
    for p in legacy.iterdir():
        shutil.move(str(p), str(root / p.name))
    legacy.rmdir()


def _write_new(loc: StoreLocation, frames: dict[str, pd.DataFrame], records: dict[str, dict[str, Any]],
               kinds: dict[str, str], audit_sha: str, command: str) -> dict[str, int]:
    from immunolab.store.layout import create_store, store_key
    from immunolab.store.versions import VersionRecord
    from immunolab.store.writer import Batch

    create_store(loc, in_place=True)
    secret = store_key(loc)
    ident, subjects = _identity(frames, records, secret)
    tables = {"sources": _sources(records, kinds), "fcs_files": frames["fcs_files"].assign(
        commit_id=lambda d: d["ingest_id"]), "identity_samples": ident, "identity_subjects": subjects,
        **_derived(frames, secret)}
    batch = Batch(loc, "upgrade", command=command).begin(list(records))
    counts: dict[str, int] = {}
    for name, df in tables.items():
        if len(df):
            t = _typed(name, df)
            batch.add_rows(name, t)
            counts[name] = t.num_rows
    choice = pa.Table.from_pylist([{"commit_id": "upg-choice", "kind": "curves", "scope": "*", "derivation_id": IMPORTED,
                                    "reason": "the concentrations immunolab 0.1 computed", "user": "upgrade",
                                    "recorded_at": datetime.now(UTC)}], schema=table_spec("derivation_choices").schema)
    batch.add_rows("derivation_choices", choice)
    rec = VersionRecord(0, "upgrade", summary=f"upgraded a format-1 store: {len(records)} ingests",
                        reason="store format 1 -> 2 (Delta Lake)", commit_ids=[*records, "upg-choice"],
                        inputs={"legacy_audit_sha256": audit_sha, "legacy_folder": LEGACY_DIR},
                        actions=[f"{n}: {c} rows" for n, c in sorted(counts.items())])
    batch.commit(lambda _s: rec)
    return counts


_ = pc
