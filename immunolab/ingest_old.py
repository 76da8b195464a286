"""Ingest instrument files into a store: hash -> detect -> parse -> identity -> de-id -> validate -> commit -> audit.

:func:`ingest_file` is the per-file worker: self-contained and picklable, so the same function
runs sequentially, in a process pool, or on a Dask cluster. Each file is its own ingest: one
bad file never stops or corrupts the others, and every attempt leaves an audit record.

The audit log (``audit/log.jsonl``) is the source of truth of what is committed; readers through
the API (:class:`immunolab.store.read.Store`) read it directly. Its Parquet mirror
``tables/ingests/ingests.parquet`` is rebuilt once at the end of each batch (and by
``immunolab verify``), not after every commit: rewriting it per commit under the store lock made
a batch O(N^2) and serialised the workers.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from immunolab.errors import (
    IdentityError,
    ImmunolabError,
    InputError,
    InternalError,
    PluginError,
    StoreError,
)
from immunolab.identity import ManifestEntry, StudyIdentity, display_label, load_identity
from immunolab.plugins import HEAD_BYTES, SAMPLE_REF, AssayPlugin, ParseContext, get_registry
from immunolab.schema import KEY_NAMES, TABLES, conform
from immunolab.store.audit import AuditLog, new_record
from immunolab.store.commit import (
    commit,
    discard,
    hash_file,
    new_ingest_id,
    recover,
    refresh_ingests_table,
    seal,
    stage,
)
from immunolab.store.layout import StorePaths, check_store, create_store_dirs
from immunolab.store.lock import DEFAULT_LOCK_TIMEOUT, store_lock

__all__ = ["FileOutcome", "IngestOptions", "IngestReport", "collect_files", "ingest_file", "ingest_paths"]

log = logging.getLogger("immunolab.ingest")

IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
PLATE_LEVEL_TABLES = ("cytokine_plates", "standard_curves")


@dataclass
class IngestOptions:
    """Everything a worker needs to ingest one file (picklable)."""

    store: Path
    identity: StudyIdentity
    assay: str | None = None
    supersede: str | None = None
    reason: str | None = None
    accept_offset_error: bool = False
    accept_tot_mismatch: bool = False
    dataset: int | None = None
    strategy: Path | None = None
    comp: Path | None = None
    write_events: bool = False
    plate_options: dict[str, Any] = field(default_factory=dict)
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    command: str = "python-api"

    def plugin_options(self) -> dict[str, Any]:
        """Return the options passed to plugins."""
        return {
            "accept_offset_error": self.accept_offset_error,
            "accept_tot_mismatch": self.accept_tot_mismatch,
            "dataset": self.dataset,
            "strategy": str(self.strategy) if self.strategy else None,
            "comp": str(self.comp) if self.comp else None,
            "write_events": self.write_events,
            "assay": self.assay,
            **self.plate_options,
        }

    def audit_options(self) -> dict[str, Any]:
        """Return the options as recorded in the audit trail (file names only, never folders)."""
        opts = self.plugin_options()
        for key in ("strategy", "comp"):
            if opts.get(key):
                opts[key] = Path(opts[key]).name
        return opts


@dataclass
class FileOutcome:
    """What happened to one file (``status`` OK / SKIP / FAIL)."""

    status: str
    label: str
    path: str
    ingest_id: str | None = None
    source_sha256: str | None = None
    plugin: str | None = None
    code: str | None = None
    message: str | None = None
    hint: str | None = None
    exit_code: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    n_events: int = 0
    n_bytes: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    qc: str | None = None

    def line(self, *, show_paths: bool = False) -> str:
        """Return the one-line CLI report of this file."""
        who = f"{self.label} ({self.path})" if show_paths else self.label
        if self.status == "FAIL":
            text = (self.message or "").rstrip()
            if self.hint:
                text += ("" if text.endswith((".", "!", "?")) else ".") + " " + self.hint.rstrip()
            return f"FAIL {self.code} {who}: {text}"
        if self.status == "SKIP":
            return f"SKIP {who}: already ingested as {self.ingest_id}"
        total = sum(self.rows.values())
        qc = f", plate QC {self.qc}" if self.qc else ""
        return f"OK   {who}: {self.plugin}, {total} rows{qc}, ingest {self.ingest_id}"

    def to_dict(self, *, show_paths: bool = False) -> dict[str, Any]:
        """Return a JSON-ready dict (the path only when ``show_paths``)."""
        d = asdict(self)
        if not show_paths:
            d.pop("path")
        return d


# --------------------------------------------------------------------------- identity step


def _fill_keys(
    table: pa.Table,
    *,
    name: str,
    entry: ManifestEntry,
    identity: StudyIdentity,
    label: str,
    sha: str,
    ingest_id: str,
    refs: dict[str, ManifestEntry],
) -> pa.Table:
    """Set the key columns of one plugin table from the file's or each row's manifest entry."""
    n = table.num_rows
    if SAMPLE_REF in table.column_names:
        ref_values = table.column(SAMPLE_REF).to_pylist()
        entries = [refs.get(r) if r is not None else None for r in ref_values]
        pids = [e.patient_id if e else None for e in entries]
        days = [e.visit_day if e else None for e in entries]
        sids = [e.sample_id if e else None for e in entries]
        table = table.drop_columns([SAMPLE_REF])
    elif entry.is_patient_sample:
        pids, days, sids = [entry.patient_id] * n, [entry.visit_day] * n, [entry.sample_id] * n
    else:
        # plate-level rows (plates, curves) carry the plate's own code from the manifest, if any
        code = entry.sample_id if name in PLATE_LEVEL_TABLES else None
        pids, days, sids = [None] * n, [None] * n, [code] * n
    if TABLES[name].requires_patient and any(p is None for p in pids):
        raise IdentityError(
            "IML-ID-001",
            f"rows of table {name} have no patient: the manifest row of this file has no patient_id/visit_day",
            path=label,
            hint="Give the file's patient_id and visit_day in the manifest.",
        )
    keys = {
        "patient_id": pa.array(pids, pa.string()),
        "visit_day": pa.array(days, pa.int32()),
        "sample_id": pa.array(sids, pa.string()),
        "source_sha256": pa.array([sha] * n, pa.string()),
        "ingest_id": pa.array([ingest_id] * n, pa.string()),
    }
    for k in KEY_NAMES:
        if k in table.column_names:
            table = table.drop_columns([k])
    for i, k in enumerate(KEY_NAMES):
        table = table.add_column(i, k, keys[k])
    return table


def _samples_table(
    entry: ManifestEntry,
    refs: dict[str, ManifestEntry],
    ref_plate: dict[str, str | None],
    identity: StudyIdentity,
    plugin: AssayPlugin,
    sha: str,
    ingest_id: str,
) -> pa.Table | None:
    rows: list[tuple[ManifestEntry, str | None]] = []
    if entry.is_patient_sample:
        rows.append((entry, None))
    seen = set()
    for ref, e in refs.items():
        if e.sample_id in seen:
            continue
        seen.add(e.sample_id)
        rows.append((e, ref_plate.get(ref)))
    if not rows:
        return None
    cols: dict[str, list[Any]] = {k: [] for k in TABLES["samples"].schema.names}
    for e, plate in rows:
        assert e.patient_id is not None
        s = identity.subject(e.patient_id)
        values = {
            "patient_id": e.patient_id,
            "visit_day": e.visit_day,
            "sample_id": e.sample_id or f"{e.patient_id}-D{e.visit_day:03d}",
            "source_sha256": sha,
            "ingest_id": ingest_id,
            "arm": s.arm,
            "site": s.site,
            "sex": s.sex,
            "age": s.age,
            "specimen": e.specimen or entry.specimen,
            "panel": e.panel or entry.panel,
            "assay_kind": plugin.assay_kind,
            "plugin": plugin.name,
            "plate_id": plate,
        }
        for k in cols:
            cols[k].append(values[k])
    return pa.table(cols, schema=TABLES["samples"].schema)


def resolve_tables(
    raw_tables: dict[str, pa.Table],
    *,
    entry: ManifestEntry,
    identity: StudyIdentity,
    plugin: AssayPlugin,
    label: str,
    sha: str,
    ingest_id: str,
) -> dict[str, pa.Table]:
    """Resolve identity, drop private columns, add samples + measurements, validate every table."""
    who = f"plugin {plugin.name} {plugin.version}"
    unknown = [n for n in raw_tables if n not in TABLES or TABLES[n].internal or n in ("samples", "measurements")]
    if unknown:
        raise PluginError("IML-PLUGIN-002", f"{who} returned tables it may not write: {', '.join(unknown)}",
                          hint="Plugins return only fact tables; ingest writes samples and measurements.")
    # every distinct plate sample name -> manifest row (unknown names: IML-ID-008, wells listed)
    refs_all: list[str] = []
    wells: dict[str, list[str]] = {}
    ref_plate: dict[str, str | None] = {}
    for t in raw_tables.values():
        if SAMPLE_REF not in t.column_names:
            continue
        ref_col = t.column(SAMPLE_REF).to_pylist()
        well_col = t.column("well").to_pylist() if "well" in t.column_names else [None] * len(ref_col)
        plate_col = t.column("plate_id").to_pylist() if "plate_id" in t.column_names else [None] * len(ref_col)
        for r, w, p in zip(ref_col, well_col, plate_col, strict=True):
            if r is None:
                continue
            if r not in wells:
                refs_all.append(r)
                wells[r] = []
            if w:
                wells[r].append(str(w))
            ref_plate.setdefault(r, p)
    refs = identity.resolve_sample_refs(refs_all, label, wells) if refs_all else {}
    out: dict[str, pa.Table] = {}
    for name, t in raw_tables.items():
        private = [c for c in t.column_names if c.startswith("_") and c != SAMPLE_REF]
        if private:
            raise PluginError("IML-PLUGIN-002", f"{who} left private columns {private} in {name}",
                              hint="Only _sample_ref may be private; ingest drops it.")
        filled = _fill_keys(t, name=name, entry=entry, identity=identity, label=label, sha=sha,
                            ingest_id=ingest_id, refs=refs)
        out[name] = conform(name, filled, who=who)
    samples = _samples_table(entry, refs, ref_plate, identity, plugin, sha, ingest_id)
    if samples is not None:
        out["samples"] = conform("samples", samples)
    arm_of = {p: s.arm for p, s in identity.subjects.items()}
    from immunolab.measurements import derive_measurements

    meas = derive_measurements(out, arm_of)
    if meas is not None and meas.num_rows:
        out["measurements"] = conform("measurements", meas)
    return out


# --------------------------------------------------------------------------- the worker


def _safe_parse(plugin: AssayPlugin, path: Path, ctx: ParseContext) -> Any:
    try:
        return plugin.parse(path, ctx)
    except ImmunolabError as exc:
        if exc.path is None:
            exc.with_path(ctx.label)
        raise
    except MemoryError:
        raise InputError(
            "IML-IN-001", "the file is too large to process in the available memory", path=ctx.label,
            hint="Process it on a machine with more memory or split the acquisition.",
        ) from None
    except Exception as exc:  # contract: only InputError may escape a plugin
        log.debug("plugin %s failed", plugin.name, exc_info=True)
        raise InternalError(
            "IML-INTERNAL-001",
            f"plugin {plugin.name} {plugin.version} failed unexpectedly ({type(exc).__name__})",
            path=ctx.label,
            hint="Please report this with the plugin name and version (run with --debug for details); "
            "the store was not changed.",
        ) from exc


_AUDIT_LOGS: dict[Path, AuditLog] = {}
_AUDIT_LOGS_LOCK = threading.Lock()


def _audit_log(paths: StorePaths) -> AuditLog:
    """Return this process's audit-log reader of the store (kept, so each call parses only new lines)."""
    with _AUDIT_LOGS_LOCK:
        log_ = _AUDIT_LOGS.get(paths.audit_log)
        if log_ is None:
            log_ = _AUDIT_LOGS[paths.audit_log] = AuditLog(paths.audit_log)
        return log_


def _audit(paths: StorePaths, opts: IngestOptions, record: dict[str, Any]) -> dict[str, Any] | None:
    """Append a SKIP/FAIL record under the lock (best effort when the lock cannot be had)."""
    log_ = _audit_log(paths)
    try:
        with store_lock(paths.root, timeout=opts.lock_timeout):
            return log_.append(record)
    except (StoreError, OSError) as exc:
        log.warning("could not write the audit record: %s", exc)
        return None


def _refresh_quietly(paths: StorePaths, log_: AuditLog) -> None:
    """Rebuild the ingests table; a failure only delays it (the audit log is the source of truth)."""
    try:
        refresh_ingests_table(paths, log_)
    except OSError as exc:
        log.warning("ingests table not refreshed (%s); `immunolab verify` rebuilds it", exc)


def _active_shas(log_: AuditLog) -> dict[str, str]:
    """Return sha256 -> ingest id of committed, not superseded ingests."""
    return log_.active_sources()


def ingest_file(path: str | Path, opts: IngestOptions) -> FileOutcome:
    """Ingest one file into the store; never raises for bad input (returns a FAIL outcome)."""
    t0 = time.perf_counter()
    p = Path(path)
    ingest_id = new_ingest_id()
    outcome = FileOutcome("FAIL", display_label(p, None, None), str(p), ingest_id=ingest_id)
    sha: str | None = None
    n_bytes: int | None = None
    plugin: AssayPlugin | None = None
    try:
        paths = check_store(opts.store)
    except StoreError as exc:
        outcome.code, outcome.message, outcome.hint, outcome.exit_code = exc.code, exc.message, exc.hint, exc.exit_code
        return outcome
    log_ = _audit_log(paths)
    staged = None
    try:
        if not p.is_file() or not os.access(p, os.R_OK):
            raise InputError("IML-IN-001", "the file does not exist or cannot be read", path=outcome.label,
                             hint="Check the path and the file's permissions.")
        n_bytes = p.stat().st_size
        outcome.n_bytes = n_bytes
        sha, head = hash_file(p, head=HEAD_BYTES)
        entry = opts.identity.entry_for_file(p)
        outcome.label = label = display_label(p, sha, entry)
        outcome.source_sha256 = sha

        supersede_sha = None
        if opts.supersede:
            old = log_.committed().get(opts.supersede)
            supersede_sha = old.get("source_sha256") if old else None
        active = _active_shas(log_)
        if sha in active and supersede_sha != sha:
            outcome.status, outcome.ingest_id = "SKIP", active[sha]
            _audit(paths, opts, new_record(
                ingest_id=ingest_id, outcome="SKIP", source_sha256=sha, source_label=label, source_bytes=n_bytes,
                command=opts.command, options=opts.audit_options(), note=f"already committed as {active[sha]}"))
            outcome.seconds = time.perf_counter() - t0
            return outcome

        entry = opts.identity.require_file(p, label)
        registry = get_registry()
        if opts.assay:
            plugin = registry.get(opts.assay)
        else:
            plugin, _det = registry.detect(head, p.name, label=label)
        outcome.plugin = plugin.name
        dropped: list[str] = []
        ctx = ParseContext(
            label=label,
            source_sha256=sha,
            options=opts.plugin_options(),
            study_day=opts.identity.study_day_for(entry),
            panel=entry.panel,
            specimen=entry.specimen,
            deid_log=dropped.append,
        )
        parsed = _safe_parse(plugin, p, ctx)
        outcome.n_events = int(getattr(parsed, "n_events", 0) or 0)
        outcome.warnings = list(getattr(parsed, "warnings", []) or [])
        qc_status = (getattr(parsed, "metadata", None) or {}).get("qc_status")
        if qc_status:
            outcome.qc = ",".join(str(q) for q in qc_status)
        tables = resolve_tables(parsed.tables, entry=entry, identity=opts.identity, plugin=plugin,
                                label=label, sha=sha, ingest_id=ingest_id)
        staged = stage(paths, ingest_id, tables, source=p, source_sha256=sha)
        record = new_record(
            ingest_id=ingest_id, outcome="COMMITTED", source_sha256=sha, source_label=label, source_bytes=n_bytes,
            command=opts.command, plugin=plugin.name, plugin_version=plugin.version,
            options=opts.audit_options(), supersedes=opts.supersede, supersede_reason=opts.reason,
        )
        seal(paths, staged, record)  # the record's fsyncs happen before the lock, not under it
        with store_lock(paths.root, timeout=opts.lock_timeout):
            recover(paths, log_, quick=True)
            active = _active_shas(log_)
            if sha in active and supersede_sha != sha:  # another worker committed the same bytes meanwhile
                discard(staged.folder)
                staged = None
                outcome.status, outcome.ingest_id = "SKIP", active[sha]
                log_.append(new_record(
                    ingest_id=ingest_id, outcome="SKIP", source_sha256=sha, source_label=label, source_bytes=n_bytes,
                    command=opts.command, options=opts.audit_options(), note=f"already committed as {active[sha]}"))
                outcome.seconds = time.perf_counter() - t0
                return outcome
            if opts.supersede:
                committed = log_.committed()
                old = committed.get(opts.supersede)
                if old is None or old.get("superseded_by"):
                    state = "does not exist" if old is None else f"is already superseded by {old['superseded_by']}"
                    raise StoreError("IML-STORE-006", f"ingest {opts.supersede} {state}", path=label,
                                     hint="Pick a committed ingest from `immunolab log`.")
            commit(paths, staged, record, log_)
            staged = None
        outcome.status = "OK"
        outcome.rows = {k: v.num_rows for k, v in tables.items()}
        outcome.seconds = time.perf_counter() - t0
        return outcome
    except ImmunolabError as exc:
        err = exc
    except OSError as exc:
        err = StoreError("IML-STORE-003", f"reading the input or writing the store failed ({exc.strerror or exc})",
                         path=outcome.label, hint="Check free disk space and permissions, then re-run; "
                         "`immunolab verify` completes or removes anything interrupted.")
    except Exception as exc:  # never a traceback for the user; the audit names the failure
        log.debug("internal error", exc_info=True)
        err = InternalError("IML-INTERNAL-001", f"unexpected {type(exc).__name__} while ingesting",
                            path=outcome.label, hint="Please report this (run with --debug for details).")
    if staged is not None:
        discard(staged.folder)
    outcome.status = "FAIL"
    outcome.code, outcome.message, outcome.hint, outcome.exit_code = err.code, err.message, err.hint, err.exit_code
    _audit(paths, opts, new_record(
        ingest_id=ingest_id, outcome="FAIL", source_sha256=sha, source_label=outcome.label, source_bytes=n_bytes,
        command=opts.command, plugin=plugin.name if plugin else None,
        plugin_version=plugin.version if plugin else None, options=opts.audit_options(),
        error_code=err.code, error_message=err.message, supersedes=opts.supersede, supersede_reason=opts.reason))
    outcome.seconds = time.perf_counter() - t0
    return outcome


# --------------------------------------------------------------------------- batches


@dataclass
class IngestReport:
    """Outcomes of a batch and its throughput."""

    outcomes: list[FileOutcome]
    seconds: float
    jobs: int
    executor: str

    @property
    def counts(self) -> dict[str, int]:
        c = {"OK": 0, "SKIP": 0, "FAIL": 0}
        for o in self.outcomes:
            c[o.status] += 1
        return c

    @property
    def exit_code(self) -> int:
        codes = [o.exit_code for o in self.outcomes if o.status == "FAIL"]
        return max(codes) if codes else 0

    @property
    def n_events(self) -> int:
        return sum(o.n_events for o in self.outcomes if o.status == "OK")

    def summary_line(self) -> str:
        c = self.counts
        s = max(self.seconds, 1e-9)
        return (
            f"{len(self.outcomes)} file(s): {c['OK']} OK, {c['SKIP']} SKIP, {c['FAIL']} FAIL "
            f"in {self.seconds:.1f} s ({len(self.outcomes) / s:.1f} files/s, {self.n_events / s:,.0f} events/s; "
            f"{self.jobs} worker(s), {self.executor})"
        )


def collect_files(paths: Iterable[str | Path], *, exclude: Iterable[Path] = ()) -> list[Path]:
    """Expand files and folders (recursively) into a sorted list of files, hidden files skipped."""
    excluded = {Path(e).resolve() for e in exclude}
    found: dict[Path, Path] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for sub in sorted(p.rglob("*")):
                rel = sub.relative_to(p)
                if sub.is_file() and not any(part.startswith(".") for part in rel.parts) and sub.name not in IGNORED_NAMES:
                    found.setdefault(sub.resolve(), sub)
        else:
            found.setdefault(p.resolve() if p.exists() else p, p)
    return [v for k, v in sorted(found.items(), key=lambda kv: str(kv[1])) if k not in excluded]


def _run_local(files: Sequence[Path], opts: IngestOptions, jobs: int) -> Iterator[FileOutcome]:
    if jobs <= 1 or len(files) <= 1:
        for f in files:
            yield ingest_file(f, opts)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(ingest_file, f, opts) for f in files]
        for fut in as_completed(futures):
            yield fut.result()


def _run_dask(files: Sequence[Path], opts: IngestOptions, address: str) -> Iterator[FileOutcome]:
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise InputError("IML-IN-004", "Dask distributed is not installed",
                         hint="pip install 'dask[distributed]'") from None
    try:
        client = Client(address, timeout=30)
    except OSError as exc:
        raise StoreError("IML-STORE-003", f"cannot reach the Dask scheduler at {address} ({exc})",
                         hint="Start it with `dask scheduler` and workers with `dask worker ADDRESS`, "
                         "all of them able to read the input files and write the store folder.") from None
    try:
        futures = client.map(ingest_file, [str(f) for f in files], opts=opts, pure=False)
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.close()


def ingest_paths(
    paths: Iterable[str | Path],
    *,
    store: str | Path,
    manifest: str | Path,
    subjects: str | Path | None = None,
    jobs: int = 1,
    executor: str | None = None,
    on_outcome: Callable[[FileOutcome], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    filename_rule: str | None = None,
    **options: Any,
) -> IngestReport:
    """Ingest files and folders into ``store``; return every file's outcome.

    ``executor`` ``None``/``"local"`` uses ``jobs`` processes; ``"dask://host:port"`` (or a
    ``distributed.LocalCluster`` address) runs the same worker on a Dask cluster.
    """
    t0 = time.perf_counter()
    root = Path(store)
    identity = load_identity(Path(manifest), Path(subjects) if subjects else None, filename_rule=filename_rule)
    create_store_dirs(root)
    opts = IngestOptions(store=root, identity=identity, **options)
    exclude = [Path(manifest)] + ([Path(subjects)] if subjects else [Path(manifest).parent / "subjects.csv"])
    files = collect_files(paths, exclude=exclude)
    if on_start is not None:
        on_start(len(files))
    if opts.supersede and len(files) != 1:
        raise InputError("IML-IN-001", f"--supersede corrects exactly one file, {len(files)} were given",
                         hint="Ingest the corrected file alone with --supersede INGEST_ID --reason TEXT.")
    if opts.supersede and not opts.reason:
        raise InputError("IML-IN-001", "--supersede needs --reason", hint='Add --reason "why the old ingest is wrong".')
    paths_ = check_store(root)
    log_ = _audit_log(paths_)
    with store_lock(root, timeout=opts.lock_timeout):
        recover(paths_, log_)
    outcomes: list[FileOutcome] = []
    if executor and executor.startswith(("dask://", "tcp://")):
        address = executor.replace("dask://", "tcp://", 1)
        it = _run_dask(files, opts, address)
        label = f"dask {address}"
    else:
        it = _run_local(files, opts, jobs)
        label = "local processes" if jobs > 1 else "in-process"
    for outcome in it:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    _refresh_after_batch(paths_, log_, opts.lock_timeout)
    return IngestReport(outcomes, time.perf_counter() - t0, jobs, label)


def _refresh_after_batch(paths: StorePaths, log_: AuditLog, lock_timeout: float) -> None:
    """Rebuild the ingests Parquet mirror once for the whole batch (best effort; verify rebuilds it)."""
    try:
        with store_lock(paths.root, timeout=lock_timeout):
            _refresh_quietly(paths, log_)
    except StoreError as exc:
        log.warning("ingests table not refreshed (%s); `immunolab verify` rebuilds it", exc.message)
