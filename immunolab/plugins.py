"""Assay plugin contract and registry (entry-point group ``immunolab.assays``).

A plugin is a class with the attributes ``name``, ``version``, ``assay_kind``,
``file_extensions`` and ``produces``, and two methods:

``detect(head, filename) -> Detection | None``
    Pure: sees at most the first 64 KiB of the file and its base name, never raises, never
    imports heavy libraries. Exactly one installed plugin must claim a file.

``parse(path, ctx) -> ParsedAssay``
    Returns the FACTS of one file: named pyarrow tables of the fact tables it ``produces``,
    valid against :mod:`immunolab.schema` (the key columns ``commit_id``, ``source_sha256``,
    ``ingest_id`` are filled by ingest), plus allowlisted metadata. Gating, curve fitting and
    QC are derivations the core runs afterwards for every plugin alike (each fact table
    declares them). May raise only :class:`~immunolab.errors.InputError` subclasses; anything
    else is wrapped by ingest as an internal error naming the plugin and its version.

``options`` (optional): a tuple of :class:`PluginOption`, typed; ``immunolab ingest`` builds a
flag for each (``--<name>``) and passes the value in ``ctx.options``. No plugin option is
hard-coded in the core.

``tables`` (optional): :class:`~immunolab.schema.TableSpec` of fact tables the plugin adds to
the store (e.g. a hospital lab table), each with its measurement mapping.

Rows of multi-sample files (plates) carry a private ``_sample_ref`` column (the sample name as
written on the plate); ingest resolves it through the manifest, replaces it by a keyed hash
(``sample_key``) and never writes the name anywhere.

The in-tree assays register through the same entry-point group as third-party plugins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from immunolab.errors import (
    AmbiguousInputError,
    InputError,
    PluginError,
    UnrecognizedInputError,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "HEAD_BYTES",
    "SAMPLE_REF",
    "AssayPlugin",
    "Detection",
    "LoadFailure",
    "ParseContext",
    "ParsedAssay",
    "PluginOption",
    "PluginRegistry",
    "get_registry",
    "reset_registry",
]

ENTRY_POINT_GROUP = "immunolab.assays"
HEAD_BYTES = 64 * 1024
SAMPLE_REF = "_sample_ref"
log = logging.getLogger("immunolab.plugins")


@dataclass(frozen=True)
class Detection:
    """A plugin's claim on a file: which format it saw and why."""

    plugin: str
    format: str
    reason: str = ""


@dataclass(frozen=True)
class PluginOption:
    """A typed option a plugin declares; the CLI offers it as ``--<name>`` (``_`` -> ``-``).

    ``type`` is ``bool`` (a flag), ``int``, ``float``, ``str``, ``path`` (a file, which must exist
    unless ``must_exist`` is false; only its base name is ever recorded) or ``choice`` (one of
    ``choices``). ``flag_name`` overrides the flag's spelling (``write_events`` -> ``--events``);
    ``show_default`` prints the default in ``--help``. The core's derivations declare their
    settings the same way (:func:`immunolab.derive.registry.register_derivation`).
    """

    name: str
    type: str
    help: str
    default: Any = None
    choices: tuple[str, ...] = ()
    flag_name: str | None = None
    must_exist: bool = True
    show_default: bool = False

    @property
    def flag(self) -> str:
        """Return the command-line flag, e.g. ``--accept-tot-mismatch``."""
        return "--" + (self.flag_name or self.name).replace("_", "-")


@dataclass
class ParseContext:
    """What a plugin may know while parsing one file.

    ``label`` is the file's display label for messages (PHI-safe; use it, not ``path.name``).
    ``options`` holds user flags (``accept_offset_error``, ``accept_tot_mismatch``, ``dataset``,
    ``strategy``, ``write_events``...). ``study_day`` converts a calendar date found in the
    file into a study day (or None when no anchor is known); dates themselves never leave the
    plugin. ``panel`` and ``specimen`` come from the manifest row of the file when there is one.
    Plugins of ``assay_kind = "clinical"`` read patient-level files that need no manifest row:
    ``patient`` maps an id written in the file to the trial's patient id (through the subjects
    file) and ``patient_day`` turns a date into that patient's study day.
    """

    label: str
    source_sha256: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    study_day: Callable[[date], int | None] = lambda _d: None
    panel: str | None = None
    specimen: str | None = None
    deid_log: Callable[[str], None] = lambda _msg: None
    entry: Any = None  # the file's manifest row (immunolab.identity.ManifestEntry) when there is one
    #: patient-level files (clinical data): the trial patient id of an id written in the file
    #: (None when the subjects file does not know it), and the study day of a date for a patient
    patient: Callable[[str], str | None] = lambda pid: pid
    patient_day: Callable[[str, date], int | None] = lambda _pid, _d: None

    def option(self, name: str, default: Any = None) -> Any:
        """Return user option ``name`` or ``default``."""
        return self.options.get(name, default)


@dataclass
class ParsedAssay:
    """The output of ``parse``: store tables plus PHI-free metadata for the CLI and audit."""

    tables: dict[str, pa.Table]
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    n_events: int = 0
    #: in-memory objects the core's derivations may reuse in the same worker (e.g. the read FCS
    #: events, so gating does not read the file again); never pickled, never stored
    payload: dict[str, Any] = field(default_factory=dict, repr=False)


@runtime_checkable
class AssayPlugin(Protocol):
    """Structural type every assay plugin satisfies."""

    name: str
    version: str
    assay_kind: str
    file_extensions: tuple[str, ...]
    produces: tuple[str, ...]

    def detect(self, head: bytes, filename: str) -> Detection | None: ...

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay: ...


_REQUIRED_ATTRS = ("name", "version", "assay_kind", "file_extensions", "produces")


@dataclass
class LoadFailure:
    """An entry point that could not be loaded or does not satisfy the contract."""

    entry_point: str
    target: str
    message: str


class PluginRegistry:
    """Installed assay plugins, their load failures, and exact detection."""

    def __init__(self) -> None:
        self.plugins: dict[str, AssayPlugin] = {}
        self.failures: list[LoadFailure] = []
        self.origins: dict[str, str] = {}

    def register(self, plugin: Any, *, origin: str = "in-process") -> None:
        """Add a plugin instance (or class) after checking the contract attributes."""
        obj = plugin() if isinstance(plugin, type) else plugin
        missing = [a for a in _REQUIRED_ATTRS if not hasattr(obj, a)]
        missing += [m for m in ("detect", "parse") if not callable(getattr(obj, m, None))]
        if missing:
            raise PluginError(
                "IML-PLUGIN-002",
                f"plugin {origin} lacks {', '.join(missing)}",
                hint="A plugin needs name, version, assay_kind, file_extensions, produces, detect() and parse().",
            )
        from immunolab.schema import TABLES, register_table

        for spec in getattr(obj, "tables", ()) or ():
            register_table(spec)
        unknown = [t for t in obj.produces if t not in TABLES or TABLES[t].layer != "fact"]
        if unknown:
            raise PluginError(
                "IML-PLUGIN-002",
                f"plugin {obj.name} declares unknown tables {unknown}",
                hint="A plugin produces fact tables only: "
                + ", ".join(sorted(n for n, t in TABLES.items() if t.layer == "fact"))
                + " (or its own, declared in `tables`).",
            )
        if obj.name in self.plugins:
            raise PluginError(
                "IML-PLUGIN-002",
                f"two plugins are named {obj.name!r} ({self.origins[obj.name]} and {origin})",
                hint="Uninstall one of them.",
            )
        self.plugins[obj.name] = obj
        self.origins[obj.name] = origin

    def load_entry_points(self) -> None:
        """Load every plugin of the ``immunolab.assays`` entry-point group; record failures."""
        from importlib.metadata import entry_points

        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                cls = ep.load()
                self.register(cls, origin=f"{ep.name} = {ep.value}")
            except Exception as exc:  # a broken plugin must not break the others
                err = exc if isinstance(exc, PluginError) else PluginError(
                    "IML-PLUGIN-001", f"plugin {ep.name} ({ep.value}) failed to load: {type(exc).__name__}: {exc}",
                    hint="Reinstall the plugin or a version that matches this immunolab; the other plugins still work.")
                msg = err.format()
                self.failures.append(LoadFailure(ep.name, ep.value, msg))
                log.warning("plugin %s failed to load: %s", ep.name, msg, extra={"code": "IML-PLUGIN-001"})

    def get(self, name: str) -> AssayPlugin:
        """Return the plugin called ``name`` or raise IML-IN-004."""
        try:
            return self.plugins[name]
        except KeyError:
            from immunolab.redact import value_shape
            raise InputError(
                "IML-IN-004",
                f"no installed assay plugin is called that (written as {value_shape(name)})",
                hint=f"Installed: {', '.join(sorted(self.plugins)) or 'none'}; see `immunolab plugins`.",
            ) from None

    def claims(self, head: bytes, filename: str) -> list[Detection]:
        """Return every plugin's claim on a file (detect errors count as no claim)."""
        found: list[Detection] = []
        for name, plugin in sorted(self.plugins.items()):
            try:
                det = plugin.detect(head[:HEAD_BYTES], filename)
            except Exception as exc:  # detect must never raise; a plugin that does is ignored
                log.warning("plugin %s raised in detect(): %s", name, type(exc).__name__,
                            extra={"code": "IML-PLUGIN-002"})
                continue
            if det is not None:
                found.append(Detection(name, det.format, det.reason))
        return found

    def detect(self, head: bytes, filename: str, *, label: str) -> tuple[AssayPlugin, Detection]:
        """Return the one plugin claiming the file, or raise a coded error listing candidates."""
        found = self.claims(head, filename)
        if not found:
            if not head:
                raise UnrecognizedInputError(
                    "IML-IN-005", "the file is empty (0 bytes)", path=label,
                    hint="Re-export the file from the instrument software.",
                )
            exts = sorted({e for p in self.plugins.values() for e in p.file_extensions})
            raise UnrecognizedInputError(
                "IML-IN-002",
                "no installed assay plugin recognises this file",
                path=label,
                hint=f"Supported: {', '.join(exts)} from {', '.join(sorted(self.plugins))}. "
                "If it is one of these, it may be damaged; otherwise pass --assay NAME or install a plugin.",
            )
        if len(found) > 1:
            listed = "; ".join(f"{d.plugin} ({d.format})" for d in found)
            raise AmbiguousInputError(
                "IML-IN-003",
                f"several assay plugins claim this file: {listed}",
                path=label,
                hint="Choose one with --assay NAME.",
            )
        det = found[0]
        return self.plugins[det.plugin], det

    def describe(self) -> list[dict[str, Any]]:
        """Return one PHI-free dict per plugin for ``immunolab plugins``."""
        out: list[dict[str, Any]] = []
        for name, p in sorted(self.plugins.items()):
            out.append(
                {
                    "name": name,
                    "version": p.version,
                    "assay_kind": p.assay_kind,
                    "file_extensions": list(p.file_extensions),
                    "produces": list(p.produces),
                    "options": [o.flag for o in getattr(p, "options", ()) or ()],
                    "origin": self.origins.get(name, ""),
                    "status": "ok",
                }
            )
        for f in self.failures:
            out.append(
                {
                    "name": f.entry_point,
                    "version": None,
                    "assay_kind": None,
                    "file_extensions": [],
                    "produces": [],
                    "options": [],
                    "origin": f.target,
                    "status": f"load error: {f.message}",
                }
            )
        return out


_REGISTRY: PluginRegistry | None = None


def get_registry(extra: Iterable[Any] = ()) -> PluginRegistry:
    """Return the process-wide registry (entry points loaded once), plus ``extra`` plugins."""
    global _REGISTRY
    if _REGISTRY is None:
        reg = PluginRegistry()
        reg.load_entry_points()
        _REGISTRY = reg
    for p in extra:
        name = getattr(p, "name", None)
        if name not in _REGISTRY.plugins:
            _REGISTRY.register(p)
    return _REGISTRY


def reset_registry() -> None:
    """Forget the loaded registry (tests)."""
    global _REGISTRY
    _REGISTRY = None
