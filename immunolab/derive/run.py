"""Re-analysis without re-ingest: re-gate a panel, refit plates, switch the active derivation.

Every command reads facts from the store (events from the raw vault, wells from
``cytokine_wells``), writes new derivation rows under a new ``commit_id`` and commits them as one
store version of kind ``derive``; with ``activate`` (and a reason) the same version records the
decision that makes them the ones analyses use. A derivation already stored for a file is not
computed again. Gating runs in parallel over files like ingest (process pool or Dask).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa

from immunolab.errors import ImmunolabError, InputError, StoreError
from immunolab.schema import conform, table_spec

if TYPE_CHECKING:
    from immunolab.cytokine.assemble import PlateSettings
    from immunolab.store.read import Store
    from immunolab.store.versions import VersionRecord

__all__ = ["DeriveReport", "activate", "derive_curves", "derive_gating"]


@dataclass
class DeriveReport:
    """What a derive command did."""

    derivation_id: str
    computed: int = 0
    reused: int = 0
    failed: list[str] = field(default_factory=list)
    store_version: int | None = None
    activated: bool = False

    def line(self) -> str:
        act = ", now active" if self.activated else ""
        return (f"derivation {self.derivation_id}: {self.computed} computed, {self.reused} already stored, "
                f"{len(self.failed)} failed{act}" + (f"; store version {self.store_version}" if self.store_version else ""))


def _user() -> str:
    from immunolab.store.versions import _user as u

    return u()


def _choice_rows(kind: str, scopes: Sequence[str], derivation_id: str, reason: str | None, commit_id: str) -> pa.Table:
    now = datetime.now(UTC)
    rows = [{"commit_id": commit_id, "kind": kind, "scope": s, "derivation_id": derivation_id, "reason": reason,
             "user": _user(), "recorded_at": now} for s in scopes]
    return pa.Table.from_pylist(rows, schema=table_spec("derivation_choices").schema)


def _commit(store: Store, kind: str, tables: dict[str, list[pa.Table]], summary: str, reason: str | None,
            inputs: dict[str, Any], command: str, commit_id: str) -> VersionRecord | None:
    from immunolab.store.versions import VersionRecord
    from immunolab.store.writer import Batch

    if not any(t.num_rows for parts in tables.values() for t in parts):
        return None
    from immunolab.redact import recorded_reason

    reason = recorded_reason(reason)
    batch = Batch(store.loc, kind, command=command, seen=store.version).begin([commit_id])
    try:
        for name, parts in tables.items():
            for t in parts:
                batch.add_rows(name, t)
        rec = VersionRecord(0, kind, summary=summary, reason=reason, commit_ids=[commit_id], inputs=inputs)
        return batch.commit(lambda _s: rec)
    except BaseException:
        batch.abort()
        raise


# --------------------------------------------------------------------------- gating


@dataclass(frozen=True)
class _GateJob:
    sha: str
    label: str
    raw: str
    dataset: int | None
    tolerances: tuple[str, ...]
    strategy: str | None
    comp: str | None
    write_events: bool
    definition: tuple[str, str, str] | None = None


def _gate_one(job: _GateJob) -> tuple[str, dict[str, pa.Table], list[str]]:
    """Worker: read one stored FCS file from the vault and gate it (picklable, no store access)."""
    from immunolab.derive.gating import gating_spec, safe_gate, spec_from_definition
    from immunolab.fcs.reader import read_fcs

    try:
        fcs = read_fcs(Path(job.raw), label=job.label, dataset=job.dataset,
                       accept_offset_error=any(t.startswith("accept_offset_error") for t in job.tolerances),
                       accept_tot_mismatch=any(t.startswith("accept_tot_mismatch") for t in job.tolerances))
        spec = spec_from_definition(*job.definition) if job.definition else gating_spec(job.strategy)
    except ImmunolabError as exc:
        return job.sha, {}, [f"{exc.code} {exc.message}"]
    from immunolab.diagnostics import numeric_warnings

    numeric: list[str] = []  # numpy RuntimeWarnings while gating, as coded warnings (IML-IN-007)
    with numeric_warnings(numeric):
        tables, warnings = safe_gate(fcs, spec, sha=job.sha, label=job.label, comp=job.comp,
                                     write_events=job.write_events)
    return job.sha, tables, [*warnings, *numeric]


def _map(func: Callable[[Any], Any], jobs: Sequence[Any], workers: int, executor: str | None) -> Iterator[Any]:
    if executor and executor.startswith(("dask://", "tcp://")):
        from distributed import Client, as_completed

        client = Client(executor.replace("dask://", "tcp://", 1), timeout=30)
        try:
            for fut in as_completed(client.map(func, list(jobs), pure=False)):
                yield fut.result()
        finally:
            client.close()
        return
    if workers <= 1 or len(jobs) <= 1:
        yield from map(func, jobs)
        return
    from concurrent.futures import as_completed as done

    from immunolab.workers import process_pool

    with process_pool(workers) as pool:
        for fut in done([pool.submit(func, j) for j in jobs]):
            yield fut.result()


def _opt_int(value: Any) -> int | None:
    import math

    return None if value is None or (isinstance(value, float) and math.isnan(value)) else int(value)


def _panel_sources(store: Store, panel: str) -> list[dict[str, Any]]:
    smp = store.to_pandas("samples")
    files = smp[(smp["sample_key"] == "") & (smp["panel"].fillna("").str.casefold() == panel.casefold())]
    fcs = store.to_pandas("fcs_files", columns=["source_sha256", "dataset_index", "tolerances"])
    rows = files.merge(fcs, on="source_sha256", how="inner")
    if rows.empty:
        panels = sorted(set(smp.loc[smp["sample_key"] == "", "panel"].dropna()))
        raise InputError("IML-DER-001", f"no stored FCS file of panel {panel!r} is current",
                         hint=f"Panels in the store: {', '.join(panels) or 'none'}.")
    # the columns are the stored tables' field names
    return cast("list[dict[str, Any]]", rows.to_dict("records"))


def derive_gating(store: Store, *, panel: str, strategy: str | Path | Any | None, comp: str | None = None,
                  write_events: bool = False, activate: bool = False, reason: str | None = None, jobs: int = 1,
                  executor: str | None = None, command: str = "derive gating",
                  on_file: Callable[[str, list[str]], None] | None = None) -> DeriveReport:
    """Gate every current FCS file of ``panel`` with ``strategy`` (None: built-in template).

    ``strategy`` is a file (template .yaml, Gating-ML .xml, FlowJo .wsp) or a strategy object: an
    immunolab ``Strategy`` or a ``flowkit.GatingStrategy`` (:func:`immunolab.interop.from_flowkit`).
    """
    from immunolab.derive.gating import gating_spec, spec_from_strategy
    from immunolab.store.raw import open_raw
    from immunolab.store.writer import new_id

    if activate and not reason:
        raise InputError("IML-IN-001", "--activate needs --reason", hint='Add --reason "why this gating is the one to use".')
    definition: tuple[str, str, str] | None = None
    if strategy is None or isinstance(strategy, str | Path):
        spec = gating_spec(strategy)
    else:  # a strategy object travels to the workers as its canonical definition
        spec = spec_from_strategy(strategy)
        assert spec.loaded.strategy is not None
        definition = (spec.kind, json.dumps(spec.loaded.strategy.content_dict()), spec.name)
        strategy = None
    sources = _panel_sources(store, panel)
    have = store.to_pandas("flow_gating", columns=["source_sha256", "derivation_id", "status"])
    done = set(have.loc[(have["derivation_id"] == spec.derivation_id) & (have["status"] == "ok"), "source_sha256"])
    events_only: set[str] = set()
    events_stored: set[str] = set()
    if write_events:  # a file gated before without its events (or their gate membership) gets them now
        gates = store.to_pandas("flow_event_gates", columns=["source_sha256", "derivation_id"])
        events = store.to_pandas("flow_events", columns=["source_sha256", "derivation_id"])
        events_stored = set(events.loc[events["derivation_id"] == spec.derivation_id, "source_sha256"])
        events_only = done - set(gates.loc[gates["derivation_id"] == spec.derivation_id, "source_sha256"])
        done -= events_only
    rep = DeriveReport(spec.derivation_id, reused=sum(1 for s in sources if s["source_sha256"] in done))
    todo = [s for s in sources if s["source_sha256"] not in done]
    jobs_ = [_GateJob(s["source_sha256"], s["sample_id"], str(open_raw(store.loc, s["source_sha256"])),
                      _opt_int(s["dataset_index"]), tuple(list(s["tolerances"]) if s["tolerances"] is not None else ()),
                      str(strategy) if strategy else None, comp, write_events, definition) for s in todo]
    commit_id = new_id("drv")
    tables: dict[str, list[pa.Table]] = {}
    for sha, out, warnings in _map(_gate_one, jobs_, jobs, executor):
        label = next(s["sample_id"] for s in todo if s["source_sha256"] == sha)
        if on_file is not None:
            on_file(label, warnings)
        gating = out.get("flow_gating")
        if gating is None or gating.column("status")[0].as_py() != "ok":
            rep.failed.append(label)
        else:
            rep.computed += 1
        for name, t in out.items():
            if sha in events_only and (name not in ("flow_events", "flow_event_gates")
                                       or (name == "flow_events" and sha in events_stored)):
                continue  # its gating rows are stored already: only what was missing is added
            t = t.append_column("commit_id", pa.array([commit_id] * t.num_rows, pa.string()))
            tables.setdefault(name, []).append(conform(name, t))
    if activate:
        tables.setdefault("derivation_choices", []).append(
            _choice_rows("gating", [panel], spec.derivation_id, reason, commit_id))
        rep.activated = True
    rec = _commit(store, "derive", tables, f"gating {spec.derivation_id} ({spec.kind} {spec.name}) of panel {panel}: "
                  f"{rep.computed} file(s)", reason, {"panel": panel, "strategy": Path(strategy).name if strategy else
                                                     spec.name if definition else "built-in template",
                                                     "derivation_id": spec.derivation_id},
                  command, commit_id)
    rep.store_version = rec.store_version if rec else None
    return rep


# --------------------------------------------------------------------------- curves


def derive_curves(store: Store, *, settings: PlateSettings, plates: Sequence[str] = (), activate: bool = False,
                  reason: str | None = None, command: str = "derive curves") -> DeriveReport:
    """Refit the standard curves of ``plates`` (codes or ids; empty: every plate) with ``settings``."""
    from immunolab.cytokine.facts import plates_from_facts
    from immunolab.derive.curves import derive_plate, rows_to_tables, settings_id
    from immunolab.derive.views import plate_codes, plate_ids_by_code
    from immunolab.store.read import filter_in
    from immunolab.store.writer import new_id

    if activate and not reason:
        raise InputError("IML-IN-001", "--activate needs --reason", hint='Add --reason "why this refit is the one to use".')
    did = settings_id(settings)
    rep = DeriveReport(did)
    codes = plate_codes(store)
    by_code = plate_ids_by_code(store)
    wanted = {by_code.get(p, p) for p in plates}
    unknown = [p for p in plates if by_code.get(p, p) not in codes]
    if unknown:
        raise InputError("IML-DER-001", f"no stored plate is called {', '.join(unknown)}",
                         hint=f"Plates: {', '.join(sorted(codes.values())) or 'none'}.")
    from immunolab.derive.runs import is_run, run_tables

    pt = store.table("cytokine_plates")
    if wanted:
        pt = filter_in(pt, "plate_id", wanted)
    if pt.num_rows == 0:
        raise InputError("IML-DER-001", "the store holds no plate", hint="Ingest plate exports first.")
    have = store.to_pandas("plate_qc", columns=["plate_id", "derivation_id"])
    done = set(have.loc[have["derivation_id"] == did, "plate_id"])
    commit_id = new_id("drv")
    # multi-file bead-array runs are fitted from all their wells, committed with the plates as one store version
    runs = sorted({p for p in pt.column("plate_id").to_pylist() if is_run(p)})
    todo = [r for r in runs if r not in done]
    tables, fitted_runs = run_tables(store, todo, settings=settings, commit_id=commit_id) if todo else ({}, [])
    rep.computed += len(todo)
    rep.reused += len(runs) - len(todo)
    pt = pt.filter(pa.array([not is_run(p) for p in pt.column("plate_id").to_pylist()]))
    rows: dict[str, list[dict[str, Any]]] = {}
    for sha in sorted(set(pt.column("source_sha256").to_pylist())):
        facts = {n: filter_in(store.table(n), "source_sha256", [sha]) for n in
                 ("cytokine_plates", "cytokine_wells", "instrument_curves")}
        for pid, plate in plates_from_facts(facts["cytokine_plates"], facts["cytokine_wells"], facts["instrument_curves"]):
            if wanted and pid not in wanted:
                continue
            if pid in done:
                rep.reused += 1
                continue
            part, status = derive_plate(plate, sha=sha, plate_id=pid, settings=settings, kind="refit",
                                        label=codes.get(pid, pid))
            rep.computed += 1
            if status == "fail":
                rep.failed.append(codes.get(pid, pid))
            for name, recs in part.items():
                rows.setdefault(name, []).extend(recs)
    for n, t in rows_to_tables(rows).items():
        t = t.append_column("commit_id", pa.array([commit_id] * t.num_rows, pa.string()))
        tables.setdefault(n, []).append(conform(n, t))
    if activate:
        scopes = sorted(wanted) if wanted else ["*"]
        tables.setdefault("derivation_choices", []).append(_choice_rows("curves", scopes, did, reason, commit_id))
        rep.activated = True
    rec = _commit(store, "derive", tables, f"curves {did}: {rep.computed} plate(s)", reason,
                  {"derivation_id": did, "settings": json.loads(_settings_json(settings)),
                   **({"runs": fitted_runs} if fitted_runs else {})}, command, commit_id)
    rep.store_version = rec.store_version if rec else None
    return rep


def _settings_json(settings: PlateSettings) -> str:
    from immunolab.derive.curves import settings_json

    return settings_json(settings)


# --------------------------------------------------------------------------- decisions


def activate(store: Store, *, kind: str, scope: str, derivation_id: str, reason: str | None,
             command: str = "derive activate") -> VersionRecord:
    """Record that ``derivation_id`` is the active ``kind`` derivation of ``scope`` (panel / plate / ``*``)."""
    from immunolab.derive.views import plate_codes, plate_ids_by_code
    from immunolab.store.writer import new_id

    if not reason:
        raise InputError("IML-IN-001", "switching the active derivation needs --reason",
                         hint='Add --reason "why this derivation is the one to use".')
    from immunolab.redact import recorded_reason

    reason = recorded_reason(reason) or reason
    shown, kept = scope, ""
    if kind == "gating":
        have = set(store.to_pandas("flow_gating", columns=["derivation_id"])["derivation_id"])
        panels = {str(p) for p in store.to_pandas("samples", columns=["panel"])["panel"].dropna()}
        if scope != "*" and scope not in panels:
            raise InputError("IML-DER-003", f"no stored file has the panel {scope!r}",
                             hint=f"Panels: {', '.join(sorted(panels)) or 'none'}; or * for every panel.")
    else:
        qc = store.to_pandas("plate_qc", columns=["plate_id", "derivation_id"])
        have = set(qc["derivation_id"])
        codes = plate_codes(store)
        scope = plate_ids_by_code(store).get(scope, scope)
        shown = codes.get(scope, shown)  # the lab's plate code, never the internal plate key
        if scope != "*" and scope not in set(qc["plate_id"]):
            raise InputError("IML-DER-003", f"no stored plate is called {shown!r}",
                             hint=f"Plates: {', '.join(sorted(set(codes.values()))) or 'none'}; or * for every plate.")
        if scope != "*" and derivation_id in have and not (
                (qc["plate_id"] == scope) & (qc["derivation_id"] == derivation_id)).any():
            done = sorted(set(qc.loc[qc["plate_id"] == scope, "derivation_id"]))
            raise InputError("IML-DER-002", f"curve derivation {derivation_id!r} was not computed for {shown}",
                             hint=f"Computed for it: {', '.join(done)}; `immunolab derive curves --plate {shown}` "
                                  "computes another.")
        if scope == "*":  # the plates (bead runs have no instrument curves) the decision cannot switch
            lacking = sorted({codes.get(p, str(p)) for p in set(qc["plate_id"])}
                             - {codes.get(p, str(p)) for p in set(qc.loc[qc["derivation_id"] == derivation_id, "plate_id"])})
            if lacking:
                one = len(lacking) == 1
                kept = (f"; {', '.join(lacking)} {'has' if one else 'have'} no {derivation_id} curves: "
                        f"{'it uses its' if one else 'they use their'} own plate choice if one was made, else the "
                        "first fit computed at ingest (`immunolab derive list` shows what is active)")
    if derivation_id not in have:
        raise InputError("IML-DER-002", f"no {kind} derivation {derivation_id!r} is stored",
                         hint=f"Stored: {', '.join(sorted(have)) or 'none'} (`immunolab derive list`).")
    commit_id = new_id("chc")
    rec = _commit(store, "choice", {"derivation_choices": [_choice_rows(kind, [scope], derivation_id, reason, commit_id)]},
                  f"{kind} of {shown}: {derivation_id} is active{kept}", reason, {}, command, commit_id)
    if rec is None:  # pragma: no cover - a choice row is always written
        raise StoreError("IML-STORE-003", "the decision was not committed", hint="Re-run the command.")
    return rec
