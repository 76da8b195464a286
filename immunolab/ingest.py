"""Ingest instrument files: hash -> detect -> parse facts -> identity -> de-id -> validate -> derive -> commit.

:func:`ingest_file` is the per-file worker: self-contained and picklable, so the same function
runs in-process, in a process pool or on a Dask cluster. It parses the file's facts, resolves
its identity, runs the derivations its fact tables declare (gating, curve fits) and copies the
bytes into the raw vault, but commits nothing: :func:`ingest_paths` commits the batch's
successful files together (one Delta commit per table per chunk of files, then one store
version), exactly once per file, and one bad file never blocks the others.

Outcomes: ``OK``, ``SKIP`` (these bytes are already in the store; no record is written, so
re-running a batch changes nothing), ``IGNORED`` (no plugin claims the file and the manifest
does not list it: a PDF or a note in the run folder), ``FAIL <code>`` (recorded in the store
version of the batch, so the audit trail holds every attempt).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from immunolab.derive.registry import DeriveContext, DeriveSettings, run_derivations
from immunolab.errors import (
    IdentityError,
    ImmunolabError,
    InputError,
    InternalError,
    PluginError,
    StoreError,
    UnrecognizedInputError,
)
from immunolab.identity import ManifestEntry, Problem, StudyIdentity, display_label, load_identity
from immunolab.identity.keys import file_key, sample_key
from immunolab.identity.records import file_row_keeps_patient, natural_key, sample_record
from immunolab.plugins import HEAD_BYTES, SAMPLE_REF, AssayPlugin, ParseContext, get_registry
from immunolab.schema import FACT_KEYS, conform, table_spec
from immunolab.store.location import StoreLocation, location_for
from immunolab.store.raw import copy_to_vault, hash_file
from immunolab.store.tables import DataFile, write_data_file

__all__ = ["FileOutcome", "IngestOptions", "IngestReport", "collect_files", "ingest_file", "ingest_paths"]

log = logging.getLogger("immunolab.ingest")

IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
#: tables larger than this many rows are written by the worker itself instead of being sent back
WORKER_WRITE_ROWS = 200_000
#: files per store version in a large batch
CHUNK_FILES = 500


@dataclass
class IngestOptions:
    """Everything a worker needs to ingest one file (picklable)."""

    loc: StoreLocation
    identity: StudyIdentity
    secret: bytes
    assay: str | None = None
    supersede: str | None = None
    supersede_sha: str | None = None
    reason: str | None = None
    replicate: bool = False
    plugin_options: dict[str, Any] = field(default_factory=dict)
    derive: DeriveSettings = field(default_factory=DeriveSettings)
    command: str = "python-api"
    #: sha256 -> ingest id of every committed file (at the store version the batch started from)
    known: dict[str, str] = field(default_factory=dict)
    #: sha256 -> (file_key, sample_id) of the current identity of each committed file
    stored: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    #: natural key (patient, visit, specimen, panel) -> (sample_id, ingest_id, sha) of current samples
    taken: dict[tuple[str, int, str, str], tuple[str, str, str]] = field(default_factory=dict)
    batch_id: str = ""
    #: current identity records of the superseded file (all its samples), to be marked superseded
    superseded_rows: list[dict[str, Any]] = field(default_factory=list)

    def audit_options(self) -> dict[str, Any]:
        """Return the options as recorded in a store version (file names only, never folders)."""
        g = self.derive.gating
        opts = {k: v for k, v in self.plugin_options.items() if v is not None and v is not False}  # keeps a 0
        opts.update({"assay": self.assay, "supersede": self.supersede, "replicate": self.replicate or None,
                     "strategy": Path(g.strategy).name if g.strategy else None,
                     "comp": Path(g.comp).name if g.comp else None, "events": g.write_events or None})
        out = {k: v for k, v in opts.items() if v is not None}
        import json

        from immunolab.derive.curves import settings_json

        out["plates"] = json.loads(settings_json(self.derive.plates))
        return out


@dataclass
class FileOutcome:
    """What happened to one file (``status`` OK / SKIP / IGNORED / FAIL)."""

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
    #: wall seconds of the worker's stages: ``parse`` (the plugin's reader), ``derive`` (gating,
    #: curve fits), ``store`` (vault copy and data files); the rest of ``seconds`` is hashing,
    #: detection and identity
    stage_seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: tolerances the reader applied to accept the file (e.g. ``accept_offset_error: ...``)
    tolerances: list[str] = field(default_factory=list)
    qc: str | None = None
    #: derivations that failed on this committed file, with their codes (``["gating IML-FCS-014"]``)
    failed_derivations: list[str] = field(default_factory=list)

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
        if self.status == "IGNORED":
            return f"IGNORED {who}: {self.message}"
        total = sum(self.rows.values())
        qc = f", plate QC {self.qc}" if self.qc else ""
        failed = "".join(f", {what} FAILED ({code})" for what, _, code in (d.partition(" ") for d in self.failed_derivations))
        warn = f", {len(self.warnings)} warning(s)" if self.warnings else ""
        return f"OK   {who}: {self.plugin}, {total} rows{qc}{failed}{warn}, ingest {self.ingest_id}"

    def to_dict(self, *, show_paths: bool = False) -> dict[str, Any]:
        """Return a JSON-ready dict (the path only when ``show_paths``)."""
        d = asdict(self)
        if not show_paths:
            d.pop("path")
        return d

    def attempt(self) -> dict[str, Any]:
        """Return the PHI-free record of this attempt kept in the store version."""
        return {k: v for k, v in {
            "ingest_id": self.ingest_id, "sha256": self.source_sha256, "label": self.label, "outcome": self.status,
            "plugin": self.plugin, "code": self.code, "message": self.message, "rows": self.rows or None,
            "warnings": self.warnings or None, "tolerances": self.tolerances or None,
            "bytes": self.n_bytes or None}.items() if v is not None}


@dataclass
class WorkerResult:
    """A worker's outcome and the rows it produced (nothing committed yet)."""

    outcome: FileOutcome
    tables: dict[str, pa.Table] = field(default_factory=dict)
    files: list[DataFile] = field(default_factory=list)
    keys: list[tuple[str, int, str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------- identity of one file


def _replicate_number(entry: ManifestEntry) -> int:
    """Return the manifest's ``replicate`` number of a row (1 when absent or not a number)."""
    try:
        return int(float(entry.get("replicate") or 1))
    except ValueError:
        return 1


def _check_unique(keys: Iterable[tuple[str, int, str, str]], opts: IngestOptions, label: str, *,
                  replicate: bool = False) -> str | None:
    """Raise IML-ID-013 when a key is already a current sample; return the replicated sample id."""
    replicate_of = None
    for key in keys:
        have = opts.taken.get(key)
        if have is None or have[2] == opts.supersede_sha:
            continue
        if opts.replicate or replicate:
            replicate_of = have[0]
            continue
        raise IdentityError(
            "IML-ID-013",
            f"sample {have[0]} (patient {key[0]}, day {key[1]}, {key[2] or 'no specimen'}, panel {key[3] or '-'}) "
            f"already has a current result from ingest {have[1]}",
            path=label,
            hint=f"If this file replaces it: --supersede {have[1]} --reason \"...\"; if it is a technical "
            "replicate to keep beside it: --replicate. Otherwise check the manifest row.")
    return replicate_of


def _check_supersede_is_this_sample(keys: Sequence[tuple[str, int, str, str]], opts: IngestOptions, label: str) -> None:
    """Raise IML-ID-018 when ``--supersede`` names the ingest of other samples than this file's."""
    old = {natural_key(r["patient_id"], r["visit_day"], r["specimen"], r["panel"]): r["sample_id"]
           for r in opts.superseded_rows if r.get("patient_id") is not None}
    if not opts.supersede_sha or not old or not keys or set(keys) & set(old):
        return
    (key, sample_id), mine = next(iter(sorted(old.items(), key=str))), keys[0]
    taken = opts.taken.get(mine)
    raise IdentityError(
        "IML-ID-018", f"--supersede names ingest {opts.supersede} of another sample: it holds sample {sample_id} "
        f"(patient {key[0]}, day {key[1]}, panel {key[3] or '-'}), this file is patient {mine[0]}, day {mine[1]}, "
        f"panel {mine[3] or '-'}", path=label,
        hint=(f"This sample's current result is ingest {taken[1]}: pass --supersede {taken[1]}. " if taken else
              "This sample has no current result: ingest the file without --supersede. ")
        + "If the manifest row is wrong, correct it first.")


def _resolve_refs(tables: dict[str, pa.Table], opts: IngestOptions, entry: ManifestEntry, label: str,
                  sha: str, fkey: str) -> tuple[dict[str, pa.Table], list[dict[str, Any]], list[tuple[str, int, str, str]]]:
    """Replace ``_sample_ref`` by keyed hashes; return (tables, identity records of plate samples, keys)."""
    refs: list[str] = []
    wells: dict[str, list[str]] = {}
    for t in tables.values():
        if SAMPLE_REF not in t.column_names:
            continue
        well_col = t.column("well").to_pylist() if "well" in t.column_names else [None] * t.num_rows
        for r, w in zip(t.column(SAMPLE_REF).to_pylist(), well_col, strict=True):
            if r is None:
                continue
            if r not in wells:
                refs.append(r)
                wells[r] = []
            if w:
                wells[r].append(str(w))
    resolved = opts.identity.resolve_sample_refs(refs, label, wells, plate=entry) if refs else {}
    out: dict[str, pa.Table] = {}
    for name, t in tables.items():
        if SAMPLE_REF in t.column_names:
            keys = [sample_key(opts.secret, r) if r is not None else None for r in t.column(SAMPLE_REF).to_pylist()]
            t = t.drop_columns([c for c in (SAMPLE_REF, "sample_key") if c in t.column_names])
            t = t.append_column("sample_key", pa.array(keys, pa.string()))
        out[name] = t
    records, nat = [], []
    seen: set[str] = set()
    for ref, e in resolved.items():
        key = sample_key(opts.secret, ref)
        if key in seen:
            continue
        seen.add(key)
        records.append(sample_record(sha, key, fkey, e, panel=entry.panel, specimen=entry.specimen,
                                     manifest_sha256=opts.identity.manifest_sha256, reason=opts.reason))
        nat.append(natural_key(e.patient_id, e.visit_day, e.specimen or entry.specimen, e.panel or entry.panel))
    return out, records, nat


def _fill_keys(name: str, t: pa.Table, *, sha: str, ingest_id: str, who: str) -> pa.Table:
    """Add the fact key columns and validate against the table's schema."""
    n = t.num_rows
    for k in FACT_KEYS:
        if k in t.column_names:
            t = t.drop_columns([k])
    if "source_sha256" in table_spec(name).schema.names:
        t = t.append_column("source_sha256", pa.array([sha] * n, pa.string()))
    if "ingest_id" in table_spec(name).schema.names:
        t = t.append_column("ingest_id", pa.array([ingest_id] * n, pa.string()))
    t = t.append_column("commit_id", pa.array([ingest_id] * n, pa.string()))
    return conform(name, t, who=who)


def _source_row(outcome: FileOutcome, plugin: AssayPlugin, fmt: str | None, fkey: str, parsed: Any) -> pa.Table:
    import json
    from datetime import UTC, datetime

    from immunolab import __version__

    meta = {k: v for k, v in (parsed.metadata or {}).items() if isinstance(v, (str, int, float, bool, list))}
    return pa.Table.from_pylist([{
        "plugin": plugin.name, "plugin_version": plugin.version, "format": fmt, "assay_kind": plugin.assay_kind,
        "n_bytes": outcome.n_bytes, "n_events": int(parsed.n_events or 0), "label": outcome.label, "file_key": fkey,
        "warnings": list(outcome.warnings), "metadata_json": json.dumps(meta, sort_keys=True, default=str),
        "ingested_at": datetime.now(UTC), "immunolab_version": __version__}])


# --------------------------------------------------------------------------- the worker


_WORKBOOKS = (".xlsx", ".xlsm", ".xls")


def _routing_hint(opts: IngestOptions, p: Path) -> str:
    """Return the tail of an IGNORED line for a workbook a plugin could read if routed, else "".

    No plugin recognises a workbook from its first bytes, so one is read only when routed. The
    hint names the plugins that declare the extension (the one whose options were given first)
    and says how to route this file alone: ``--assay`` applies to every file the manifest does
    not route, so it is for a run of that file on its own.
    """
    suffix = p.suffix.lower()
    if suffix not in _WORKBOOKS:
        return ""
    readers = [pl for pl in get_registry().plugins.values() if suffix in {e.lower() for e in pl.file_extensions}]
    if not readers:
        return ""
    given = {pl.name: sorted(f"--{o.name.replace('_', '-')}" for o in getattr(pl, "options", ())
                             if opts.plugin_options.get(o.name) not in (None, False, o.default)) for pl in readers}
    asked = [name for name, flags in given.items() if flags]
    names = asked or sorted(given)
    why = f" ({', '.join(given[asked[0]])} {'is an option' if len(given[asked[0]]) == 1 else 'are options'} of " \
          f"{asked[0]})" if asked else ""
    return (f"; workbooks are read only when routed{why}: name the assay ({' or '.join(names)}) in this file's "
            f"manifest row, or ingest this file on its own with --assay {asked[0] if asked else 'NAME'}")


def _detect(opts: IngestOptions, p: Path, head: bytes, entry: ManifestEntry | None, label: str) -> tuple[AssayPlugin, str | None]:
    registry = get_registry()
    name = (entry.assay if entry is not None else None) or opts.assay
    if name:
        plugin = registry.get(name)
        return plugin, None
    plugin, det = registry.detect(head, p.name, label=label)
    return plugin, det.format


def _safe_parse(plugin: AssayPlugin, path: Path, ctx: ParseContext) -> Any:
    try:
        return plugin.parse(path, ctx)
    except ImmunolabError as exc:
        if exc.path is None:
            exc.with_path(ctx.label)
        raise
    except MemoryError:
        raise InputError("IML-IN-001", "the file is too large to process in the available memory", path=ctx.label,
                         hint="Process it on a machine with more memory or split the acquisition.") from None
    except Exception as exc:  # contract: only InputError may escape a plugin
        log.debug("plugin %s failed", plugin.name, exc_info=True)
        raise InternalError(
            "IML-INTERNAL-001", f"plugin {plugin.name} {plugin.version} failed unexpectedly ({type(exc).__name__})",
            path=ctx.label, hint="Please report this with the plugin name and version (run with --debug for details); "
            "the store was not changed.") from exc


def _refuse_copy_of_another_sample(opts: IngestOptions, sha: str, p: Path, entry: ManifestEntry | None, label: str) -> None:
    """Raise IML-ID-014 when stored bytes come back under another file name whose manifest row is another sample.

    A re-run of the same file (same name) stays a SKIP: a changed manifest row of a stored file is
    a correction for ``identity apply``. A copy exported under another sample's name would
    otherwise be skipped silently and that sample never stored.
    """
    stored = opts.stored.get(sha)
    if stored is None or entry is None or entry.problems:
        return
    fkey, sample_id = stored
    if fkey == file_key(opts.secret, p.name):
        return
    if entry.sample_id == sample_id:  # the same sample (a bead well's file row keeps no patient): a plain SKIP
        return
    raise IdentityError(
        "IML-ID-014", f"these bytes are already stored as sample {sample_id or '-'} (ingest {opts.known[sha]}), "
        f"but this file's manifest row names sample {entry.sample_id or '-'}", path=label,
        hint="If this is a duplicate export, remove it and export the right tube; if the manifest row is wrong, "
        "correct it; if the first assignment was wrong, correct that row and run `immunolab identity apply --reason`.")


def _work(p: Path, opts: IngestOptions, ingest_id: str, outcome: FileOutcome) -> WorkerResult:
    """Do the work of :func:`ingest_file` (raises coded errors; the caller turns them into FAIL)."""
    if not p.is_file() or not os.access(p, os.R_OK):
        raise InputError("IML-IN-001", "the file does not exist or cannot be read", path=outcome.label,
                         hint="Check the path and the file's permissions.")
    outcome.n_bytes = p.stat().st_size
    sha, head = hash_file(p, head=HEAD_BYTES)
    entry = opts.identity.entry_for_file(p)
    outcome.label = label = display_label(p, sha, entry)
    outcome.source_sha256 = sha
    if sha in opts.known and sha != opts.supersede_sha:
        _refuse_copy_of_another_sample(opts, sha, p, entry, label)
        outcome.status, outcome.ingest_id = "SKIP", opts.known[sha]
        return WorkerResult(outcome)
    try:
        plugin, fmt = _detect(opts, p, head, entry, label)
    except UnrecognizedInputError as exc:
        if entry is None:
            outcome.status, outcome.ingest_id = "IGNORED", None
            outcome.message = ("not an instrument file any installed plugin reads, and not in the manifest"
                               + _routing_hint(opts, p) if exc.code == "IML-IN-002" else exc.message)
            return WorkerResult(outcome)
        raise
    outcome.plugin = plugin.name
    if entry is None and getattr(plugin, "assay_kind", "") == "clinical":
        entry = ManifestEntry(0, p.name, None, None, None, None, None, assay=plugin.name)  # patients are in the file
    entry = entry if entry is not None and not entry.problems and entry.line == 0 else opts.identity.require_file(p, label)
    fkey = file_key(opts.secret, p.name)
    replicate = opts.replicate or _replicate_number(entry) > 1
    ctx = ParseContext(label=label, source_sha256=sha, options=opts.plugin_options,
                       study_day=opts.identity.study_day_for(entry), panel=entry.panel, specimen=entry.specimen,
                       entry=entry, patient=opts.identity.trial_patient, patient_day=opts.identity.patient_study_day)
    t_parse = time.perf_counter()
    parsed = _safe_parse(plugin, p, ctx)
    outcome.stage_seconds["parse"] = time.perf_counter() - t_parse
    outcome.n_events = int(getattr(parsed, "n_events", 0) or 0)
    outcome.warnings = list(parsed.warnings or [])
    outcome.warnings.extend(_acquired_before_visit(parsed.tables, entry))
    outcome.tolerances = [str(t) for t in (parsed.metadata or {}).get("tolerances") or []]
    who = f"plugin {plugin.name} {plugin.version}"
    wrong = [n for n in parsed.tables if n not in plugin.produces]
    if wrong:
        raise PluginError("IML-PLUGIN-002", f"{who} returned tables it does not declare in `produces`: {', '.join(wrong)}",
                          hint="Plugins return only their declared fact tables.")
    raw_tables, sample_records, keys = _resolve_refs(parsed.tables, opts, entry, label, sha, fkey)
    if not sample_records and entry.is_patient_sample:
        keys = [natural_key(entry.patient_id, entry.visit_day, entry.specimen, entry.panel)]
    replicate_of = None
    if keys:
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice and not replicate:
            k = twice[0]
            raise IdentityError(
                "IML-ID-013", f"{len(twice)} pair(s) of samples on this plate are the same patient, visit and specimen "
                f"(e.g. patient {k[0]}, day {k[1]}, {k[2] or 'no specimen'})", path=label,
                hint="Give each plate sample its own patient/visit/specimen in the manifest, or pass --replicate "
                "if they are technical replicates.")
        _check_supersede_is_this_sample(keys, opts, label)
        replicate_of = _check_unique(keys, opts, label, replicate=replicate)
    facts = {name: _fill_keys(name, t, sha=sha, ingest_id=ingest_id, who=who) for name, t in raw_tables.items()}
    facts["sources"] = _fill_keys("sources", _source_row(outcome, plugin, fmt, fkey, parsed), sha=sha,
                                  ingest_id=ingest_id, who="immunolab")
    # a replicate by the manifest (replicate 2, 3 ...) is one even when its first replicate is in the same batch
    status = "replicate" if replicate_of or _replicate_number(entry) > 1 else "active"
    file_record = sample_record(sha, "", fkey, entry, status=status, assay=plugin.name, replicate_of=replicate_of,
                                manifest_sha256=opts.identity.manifest_sha256, reason=opts.reason)
    if not file_row_keeps_patient(entry, has_sample_records=bool(sample_records)):
        file_record.update(patient_id=None, visit_day=None)
    for rec in sample_records:
        rec["status"], rec["replicate_of"], rec["assay"] = status, replicate_of, plugin.name
    ident = [file_record, *sample_records]
    if opts.supersede_sha:
        ident.extend(_superseded_records(opts, ingest_id))
    dctx = DeriveContext(sha=sha, label=label, panel=entry.panel, settings=opts.derive, payload=parsed.payload, raw_path=p)
    t_derive = time.perf_counter()
    derived, dwarn = run_derivations(facts, dctx)
    outcome.stage_seconds["derive"] = time.perf_counter() - t_derive
    parsed.payload.clear()
    outcome.warnings.extend(dwarn)
    if dctx.qc_status:
        outcome.qc = ",".join(dctx.qc_status)
    outcome.failed_derivations = list(dctx.failed)
    tables = dict(facts)
    tables["identity_samples"] = pa.Table.from_pylist([{**r, "commit_id": ingest_id} for r in ident],
                                                      schema=table_spec("identity_samples").schema)
    for name, t in derived.items():
        t = t.append_column("commit_id", pa.array([ingest_id] * t.num_rows, pa.string()))
        tables[name] = conform(name, t)
    t_store = time.perf_counter()
    copy_to_vault(opts.loc, p, sha)
    files = []
    for name in [n for n, t in tables.items() if t.num_rows >= WORKER_WRITE_ROWS]:
        files.append(write_data_file(opts.loc, name, tables.pop(name), batch=opts.batch_id, unit=ingest_id))
    outcome.stage_seconds["store"] = time.perf_counter() - t_store
    outcome.status = "OK"
    outcome.rows = {**{n: t.num_rows for n, t in tables.items()}, **{f.table: f.rows for f in files}}
    return WorkerResult(outcome, tables, files, [] if replicate else keys)


def _acquired_before_visit(tables: dict[str, pa.Table], entry: ManifestEntry) -> list[str]:
    """Return IML-ID-020 when a tube was acquired (``$DATE`` as a study day) before its manifest visit.

    A sample cannot be measured before it is drawn: the manifest's visit_day (or the patient's
    Day 0) is wrong. Acquisition after the visit is normal (frozen PBMC run in batches) and says nothing.
    """
    from immunolab.derive.views import (
        visit_window_bounds,  # the one rule of the protocol's visit windows
    )

    t = tables.get("fcs_files")
    if t is None or entry.visit_day is None or "acquisition_study_day" not in t.column_names:
        return []
    days = [int(d) for d in t.column("acquisition_study_day").to_pylist() if d is not None]
    visit = int(entry.visit_day)
    first = visit_window_bounds(visit)[0]  # the protocol visit window
    window = visit - first
    if not days or min(days) >= first:
        return []
    code = "IML-ID-020"
    return [f"{code}: acquired on study day {min(days)} by the file's acquisition date, before the manifest's "
            f"visit day {visit} (window {window} day(s)); a sample cannot be measured before it is drawn: check "
            "the manifest row's visit_day and the patient's day0_date (`immunolab identity apply` corrects them)"]


def _superseded_records(opts: IngestOptions, new_ingest: str) -> list[dict[str, Any]]:
    """Return identity records marking every sample of the superseded file as superseded."""
    from datetime import UTC, datetime

    rows = []
    for rec in opts.superseded_rows:
        rows.append({**rec, "status": "superseded", "reason": opts.reason, "recorded_at": datetime.now(UTC),
                     "superseded_by": new_ingest})
    return rows


def ingest_file(path: str | Path, opts: IngestOptions, ingest_id: str) -> WorkerResult:
    """Ingest one file up to (not including) the commit; never raises for bad input (FAIL outcome)."""
    from immunolab.diagnostics import numeric_warnings

    t0 = time.perf_counter()
    p = Path(path)
    outcome = FileOutcome("FAIL", display_label(p, None, None), str(p), ingest_id=ingest_id)
    numeric: list[str] = []  # numpy RuntimeWarnings of this file, as coded warnings (IML-IN-007)
    try:
        with numeric_warnings(numeric):
            result = _work(p, opts, ingest_id, outcome)
        outcome.warnings.extend(numeric)
        outcome.seconds = time.perf_counter() - t0
        return result
    except ImmunolabError as exc:
        err = exc
    except OSError as exc:
        err = StoreError("IML-STORE-003", f"reading the input or writing the store failed ({exc.strerror or exc})",
                         path=outcome.label, hint="Check free disk space and permissions, then re-run; nothing "
                         "of this file was committed.")
    except Exception as exc:  # never a traceback for the user; the store version names the failure
        log.debug("internal error", exc_info=True)
        err = InternalError("IML-INTERNAL-001", f"unexpected {type(exc).__name__} while ingesting",
                            path=outcome.label, hint="Please report this (run with --debug for details).")
    outcome.status = "FAIL"
    outcome.code, outcome.message, outcome.hint, outcome.exit_code = err.code, err.message, err.hint, err.exit_code
    outcome.warnings.extend(numeric)
    outcome.seconds = time.perf_counter() - t0
    return WorkerResult(outcome)


# --------------------------------------------------------------------------- batches


@dataclass
class IngestReport:
    """Outcomes of a batch, its store versions and its throughput."""

    outcomes: list[FileOutcome]
    seconds: float
    jobs: int
    executor: str
    store_versions: list[int] = field(default_factory=list)
    identity_changes: list[str] = field(default_factory=list)
    #: problems of the subjects file (PHI-free), listed before the files: its bad lines refuse their patients' files
    identity_problems: list[Problem] = field(default_factory=list)
    #: IML-ID-016 warnings: subjects columns left out of the store as identifying (named, never their values)
    identity_warnings: list[Problem] = field(default_factory=list)
    #: curve decisions of a superseded plate carried over to the plate replacing it (PHI-free lines)
    derivation_notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        c = {"OK": 0, "SKIP": 0, "IGNORED": 0, "FAIL": 0}
        for o in self.outcomes:
            c[o.status] = c.get(o.status, 0) + 1
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
        ignored = f", {c['IGNORED']} IGNORED" if c.get("IGNORED") else ""
        failed = sum(bool(o.failed_derivations) for o in self.outcomes if o.status == "OK")
        derived = f" ({failed} with a failed derivation, see FAILED above)" if failed else ""
        versions = f"; store version {', '.join(map(str, self.store_versions))}" if self.store_versions else ""
        return (f"{len(self.outcomes)} file(s): {c['OK']} OK{derived}, {c['SKIP']} SKIP{ignored}, {c['FAIL']} FAIL "
                f"in {self.seconds:.1f} s ({len(self.outcomes) / s:.1f} files/s, {self.n_events / s:,.0f} events/s; "
                f"{self.jobs} worker(s), {self.executor}){versions}")


def collect_files(paths: Iterable[str | Path], *, exclude: Iterable[Path] = (),
                  exclude_dirs: Iterable[Path] = ()) -> list[Path]:
    """Expand files and folders (recursively) into a sorted list of files, hidden files skipped.

    Files listed in ``exclude`` and everything below ``exclude_dirs`` (the store itself, when it
    lies inside a folder being ingested) are left out.
    """
    excluded = {Path(e).resolve() for e in exclude}
    excluded_dirs = {Path(d).resolve() for d in exclude_dirs}
    found: dict[Path, Path] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for sub in sorted(p.rglob("*")):
                rel = sub.relative_to(p)
                if sub.is_file() and not any(part.startswith(".") for part in rel.parts) and sub.name not in IGNORED_NAMES:
                    real = sub.resolve()
                    if excluded_dirs and not excluded_dirs.isdisjoint(real.parents):
                        continue
                    found.setdefault(real, sub)
        else:
            found.setdefault(p.resolve() if p.exists() else p, p)
    return [v for k, v in sorted(found.items(), key=lambda kv: str(kv[1])) if k not in excluded]


_EVENT_FILES = (".fcs", ".lmd")


def longest_first(files: Sequence[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """Return ``files`` in the order a pool should start them so that no slow file is left for the end.

    A worker pool finishes soonest when the longest tasks start first. A plate export is a
    small text file but the slowest per file (every analyte's curve is fitted from several
    starts); an FCS file costs about its size (reading, gating). So exports and tables come
    first, then event files largest first. Outcomes arrive as workers finish, in no fixed order
    (as before): when two different files of a batch name the same sample, the one that arrives
    first is committed and the other fails with IML-ID-013, whichever it is.
    """

    def key(item: tuple[Path, str]) -> tuple[int, int]:
        p = item[0]
        if p.suffix.lower() not in _EVENT_FILES:
            return (0, 0)
        try:
            return (1, -p.stat().st_size)
        except OSError:  # reported by the worker as IML-IN-001
            return (1, 0)

    return sorted(files, key=key)


def _run_local(files: Sequence[tuple[Path, str]], opts: IngestOptions, jobs: int) -> Iterator[WorkerResult]:
    if jobs <= 1 or len(files) <= 1:
        for f, iid in files:
            yield ingest_file(f, opts, iid)
        return
    from immunolab.workers import process_pool

    # the options hold every committed file's hash and sample key: pickled with each task they
    # made every file cost O(files in the store); each worker gets them once at its start instead
    with process_pool(jobs, setup=_share_options, setup_args=(opts,)) as pool:
        from concurrent.futures import as_completed

        futures = [pool.submit(_ingest_with_shared_options, f, iid) for f, iid in files]
        for fut in as_completed(futures):
            yield fut.result()


_WORKER_OPTIONS: list[IngestOptions] = []


def _share_options(opts: IngestOptions) -> None:
    """Keep the batch's options in this worker process (pool initializer)."""
    _WORKER_OPTIONS[:] = [opts]


def _ingest_with_shared_options(path: Path, ingest_id: str) -> WorkerResult:
    """Ingest one file with the options the pool gave this worker at its start."""
    return ingest_file(path, _WORKER_OPTIONS[0], ingest_id)


def _run_dask(files: Sequence[tuple[Path, str]], opts: IngestOptions, address: str) -> Iterator[WorkerResult]:
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise InputError("IML-IN-004", "Dask distributed is not installed", hint="pip install 'dask[distributed]'") from None
    try:
        client = Client(address, timeout=30)
    except OSError as exc:
        raise StoreError("IML-STORE-003", f"cannot reach the Dask scheduler at {address} ({exc})",
                         hint="Start it with `dask scheduler` and workers with `dask worker ADDRESS`, all of them "
                         "able to read the input files and write the store.") from None
    try:
        shared = client.scatter(opts, broadcast=True)  # sent to every worker once, not once per file
        futures = client.map(ingest_file, [str(f) for f, _ in files], [shared] * len(files), [i for _, i in files],
                             pure=False)
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.close()


def ingest_paths(
    paths: Iterable[str | Path],
    *,
    store: str | Path | StoreLocation,
    manifest: str | Path,
    subjects: str | Path | None = None,
    jobs: int = 1,
    executor: str | None = None,
    on_outcome: Callable[[FileOutcome], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[FileOutcome], None] | None = None,
    on_problems: Callable[[list[Problem]], None] | None = None,
    filename_rule: str | None = None,
    storage_options: dict[str, str] | None = None,
    **options: Any,
) -> IngestReport:
    """Ingest files and folders into ``store``; return every file's outcome.

    Options: ``assay``, ``supersede`` + ``reason``, ``replicate``, ``reason`` (also confirms
    identity changes), ``strategy``, ``comp``, ``write_events``, ``plate_options`` (curve model,
    weighting, substitution rules...), ``derive_options`` (values of the derivations' declared
    options by name, as the CLI passes them), ``plugin_options`` (plugins' declared options),
    ``command``, ``chunk_files``. ``executor`` ``None``/``"local"`` uses ``jobs`` processes;
    ``"dask://host:port"`` runs the same worker on a Dask cluster. ``on_problems`` receives the
    problems of the subjects file once, before any file is read (they are also in the report).
    """
    from immunolab.ingest_batch import run_batch

    t0 = time.perf_counter()
    loc = location_for(store, storage_options)
    identity = load_identity(Path(manifest), Path(subjects) if subjects else None, filename_rule=filename_rule)
    exclude = [Path(manifest)] + ([Path(subjects)] if subjects else [Path(manifest).parent / "subjects.csv"])
    files = collect_files(paths, exclude=exclude, exclude_dirs=[loc.local_root] if loc.is_local else [])
    if on_problems is not None and identity.subject_problems:
        on_problems(list(identity.subject_problems))
    if on_start is not None:
        on_start(len(files))
    report = run_batch(files, loc=loc, identity=identity, jobs=jobs, executor=executor, on_outcome=on_outcome,
                       t0=t0, options=options, on_progress=on_progress)
    report.identity_problems = list(identity.subject_problems)
    report.identity_warnings = [*identity.subject_warnings, *report.identity_warnings]
    return report


class _CallableModule(types.ModuleType):
    """This module, callable as the public :func:`immunolab.ingest` it shadows.

    ``import immunolab.ingest`` binds the package attribute ``immunolab.ingest`` to this module,
    hiding the function of the same name; calling the module calls that function, so
    ``immunolab.ingest(...)`` works whatever was imported first and ``immunolab.ingest.<name>``
    stays this module's.
    """

    def __call__(self, paths: Any, **kwargs: Any) -> IngestReport:
        from immunolab import _ingest_function

        report: IngestReport = _ingest_function(paths, **kwargs)
        return report


sys.modules[__name__].__class__ = _CallableModule
