"""Fuzz targets: one check per reader, importable without atheris (regression tests replay crashes through it).

Each ``check_<name>(data)`` feeds ``data`` to one reader the way ingest does (``detect`` on the
head, then ``parse`` of a file with the right extension) and lets only coded input errors
(:class:`~immunolab.errors.InputError`) through; any other exception is a finding. Readers of
spreadsheets get two doors: the raw bytes (the container reader: xlrd / openpyxl) and, to reach
their own grammar, worksheets built from the bytes (sheets split by form feed, rows by line
feed, cells by tab; numbers, booleans and blanks typed as a workbook reader returns them).

Targets: ``fcs``, ``xponent``, ``intelliflex``, ``bioplex``, ``msd``, ``legendplex``, ``identity``
(the manifest and subjects readers). ``fuzz/fuzz_<name>.py`` runs one under atheris.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from immunolab.errors import InputError

__all__ = ["MODULES", "TARGETS", "preload", "sheets_from_bytes"]

_TMP = Path(tempfile.mkdtemp(prefix="immunolab-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))


def _file(data: bytes, name: str) -> Path:
    path = _TMP / name
    path.write_bytes(data)
    return path


def _ctx(label: str = "fuzz") -> Any:
    from immunolab.plugins import ParseContext

    return ParseContext(label=label, source_sha256="0" * 64)


def _plugin_run(plugin: Any, data: bytes, name: str) -> None:
    """Run ``detect`` (must never raise) and ``parse`` (coded input errors only) on ``data`` as file ``name``."""
    plugin.detect(data[:65536], name)  # an exception here is a finding: detect must never raise
    with contextlib.suppress(InputError):
        plugin.parse(_file(data, name), _ctx())


def _cell(text: str) -> Any:
    if not text.strip():
        return None
    if text in ("TRUE", "FALSE"):
        return text == "TRUE"
    try:
        return float(text)
    except ValueError:
        return text


def sheets_from_bytes(data: bytes) -> list[Any]:
    """Return worksheets built from ``data`` (see the module doc), typed like :func:`immunolab.io.workbook.read_workbook`."""
    from immunolab.io.workbook import Sheet, _trim

    text = data.decode("utf-8", errors="replace")
    sheets = []
    for chunk in text.split("\f")[:16]:
        name, _, body = chunk.partition("\n")
        rows = [_trim([_cell(c) for c in line.split("\t")]) for line in body.split("\n")[:2000]]
        sheets.append(Sheet(name.strip()[:31] or "Sheet1", rows))
    return sheets


@contextlib.contextmanager
def _workbook(module: Any, kind: str, data: bytes) -> Iterator[None]:
    """Make ``module.read_workbook`` return the worksheets of ``data`` (the reader's own grammar is fuzzed)."""
    original = module.read_workbook
    module.read_workbook = lambda _path, _label: (kind, sheets_from_bytes(data))
    try:
        yield
    finally:
        module.read_workbook = original


_SCALES = ({"kind": "linear", "t": "auto", "a": 0}, {"kind": "logicle", "t": "auto", "w": 0.72, "m": 4.5, "a": 0})


def check_fcs(data: bytes) -> None:
    """FCS reader, preprocessing, spillover, the plugin's de-identified row and each channel's display scale."""
    from immunolab_assays.fcs.parse import fcs_files_row

    from immunolab.fcs.reader import read_fcs
    from immunolab.flow.template import resolve_transform

    try:
        fcs = read_fcs(data, label="fuzz.fcs")
        fcs.preprocessed()
        fcs.spillover()
        fcs_files_row(fcs, _ctx("fuzz.fcs"))
    except InputError:
        return
    for channel in fcs.channels:  # what gating sets up first (0.1 overflowed here on $PnE 1e308)
        for spec in _SCALES:
            resolve_transform(spec, channel)


def check_xponent(data: bytes) -> None:
    """xPONENT CSV batch export through the luminex_xponent plugin."""
    from immunolab_assays.luminex_xponent import XponentPlugin

    _plugin_run(XponentPlugin(), data, "fuzz.csv")


def check_intelliflex(data: bytes) -> None:
    """INTELLIFLEX exports (xPONENT-style and the v2.2 flat CSV) through the luminex_intelliflex plugin."""
    from immunolab_assays.luminex_intelliflex import IntelliflexPlugin

    _plugin_run(IntelliflexPlugin(), data, "fuzz.csv")


def check_bioplex(data: bytes) -> None:
    """Bio-Plex Manager: XML / raw workbook bytes (first byte even) or worksheets built from the bytes (odd)."""
    import immunolab_assays.bioplex.workbook as workbook
    from immunolab_assays.bioplex import BioplexPlugin

    plugin = BioplexPlugin()
    if not data or data[0] % 2 == 0:
        _plugin_run(plugin, data[1:], "fuzz.xml" if data[1:2] == b"<" else "fuzz.xlsx")
        return
    with _workbook(workbook, "xlsx", data[1:]), contextlib.suppress(InputError):
        workbook.read_bioplex_workbook(_TMP / "fuzz.xlsx", "fuzz")


def check_msd(data: bytes) -> None:
    """MSD Discovery Workbench CSV / reader text (first byte % 3 == 0, 1) or worksheets built from the bytes (2)."""
    import immunolab_assays.msd.workbench as workbench
    from immunolab_assays.msd import MsdPlugin

    mode = data[0] % 3 if data else 0
    if mode < 2:
        _plugin_run(MsdPlugin(), data[1:], "fuzz.csv" if mode == 0 else "fuzz.txt")
        return
    with _workbook(workbench, "xlsx", data[1:]), contextlib.suppress(InputError):
        workbench.read_workbench_xlsx(_TMP / "fuzz.xlsx", "fuzz")


def check_legendplex(data: bytes) -> None:
    """Processed LEGENDplex table (CSV / TSV) through the legendplex_table plugin."""
    from immunolab_assays.legendplex_table import LegendplexTablePlugin

    _plugin_run(LegendplexTablePlugin(), data, "fuzz.csv")


_SUBJECTS = b"patient_id,arm,site,age,sex,day0_date\n001,MSC,A,41,F,2026-02-03\n002,control,A,63,M,2026-02-05\n"
_MANIFEST = b"file,sample_id,patient_id,visit_day,specimen,panel\n001_d0.fcs,001-D000,001,0,PBMC,T\n"


def check_identity(data: bytes) -> None:
    """Manifest and subjects readers: the bytes as subjects (first byte % 3 == 0), manifest (1) or both (2, split at \\0)."""
    from immunolab.identity import load_identity

    mode = data[0] % 3 if data else 0
    body = data[1:]
    if mode == 0:
        subjects, manifest = body, _MANIFEST
    elif mode == 1:
        subjects, manifest = _SUBJECTS, body
    else:
        subjects, _, manifest = body.partition(b"\0")
    folder = _TMP / "identity"
    folder.mkdir(exist_ok=True)
    (folder / "subjects.csv").write_bytes(subjects)
    (folder / "manifest.csv").write_bytes(manifest)
    try:
        ident = load_identity(folder / "manifest.csv", folder / "subjects.csv")
    except InputError:
        return
    for entry in ident.entries:  # resolving every row is what ingest does next
        if entry.file:
            with contextlib.suppress(InputError):
                ident.require_file(entry.file, "fuzz")
                ident.study_day_for(entry)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "fcs": check_fcs,
    "xponent": check_xponent,
    "intelliflex": check_intelliflex,
    "bioplex": check_bioplex,
    "msd": check_msd,
    "legendplex": check_legendplex,
    "identity": check_identity,
}


#: modules each target exercises (imported by :func:`preload` under atheris' instrumentation)
MODULES: dict[str, tuple[str, ...]] = {
    "fcs": ("immunolab.fcs.reader", "immunolab.fcs.spillover", "immunolab.fcs.keywords", "immunolab_assays.fcs.parse",
            "immunolab.flow.template"),
    "xponent": ("immunolab_assays.luminex_xponent", "immunolab_assays.luminex_xponent.reader",
                "immunolab.cytokine.parsed"),
    "intelliflex": ("immunolab_assays.luminex_intelliflex", "immunolab_assays.luminex_intelliflex.flat",
                    "immunolab_assays.luminex_xponent.reader", "immunolab.cytokine.parsed"),
    "bioplex": ("immunolab_assays.bioplex", "immunolab_assays.bioplex.parse", "immunolab_assays.bioplex.workbook",
                "immunolab_assays.bioplex.xml_export", "immunolab.cytokine.parsed"),
    "msd": ("immunolab_assays.msd", "immunolab_assays.msd.parse", "immunolab_assays.msd.workbench",
            "immunolab_assays.msd.methodical", "immunolab.cytokine.parsed"),
    "legendplex": ("immunolab_assays.legendplex_table", "immunolab_assays.legendplex_table.parse"),
    "identity": ("immunolab.identity", "immunolab.identity.files", "immunolab.identity.study"),
}


def preload(name: str) -> None:
    """Import every module target ``name`` exercises (call it inside ``atheris.instrument_imports``)."""
    import importlib

    for module in MODULES[name]:
        importlib.import_module(module)
