"""Where an export or report may write: never over files immunolab did not write, unless told to.

An output folder (``export parquet``, ``export adam``) may be new, empty, or one immunolab wrote
before: every folder export leaves :data:`MARKER` in it (:func:`mark_folder`). Any other folder
that holds files is refused with ``IML-IN-010`` (:func:`check_folder`) unless ``--force``: its
files would be mixed with or replaced by the export. A report (HTML) is written over an existing
file only when that file is an immunolab report (its generator tag, :func:`check_report_file`),
an AnnData export over an ``.h5ad`` only when immunolab wrote it (``uns['immunolab']``,
:func:`check_h5ad_file`), a Gating-ML strategy over an ``.xml`` only when immunolab wrote it (its
names namespace, :func:`check_gatingml_file`).
"""

from __future__ import annotations

import json
from pathlib import Path

from immunolab.errors import InputError

__all__ = ["MARKER", "REPORT_SIGNATURE", "check_folder", "check_gatingml_file", "check_h5ad_file", "check_report_file",
           "mark_folder"]

#: the file every folder export leaves, so that writing into the folder again is known to be safe
MARKER = ".immunolab-output"
#: what the head of every HTML report holds (``<meta name='generator' content='immunolab 0.x'>``)
REPORT_SIGNATURE = b"<meta name='generator' content='immunolab "


def check_folder(path: str | Path, *, force: bool = False) -> None:
    """Refuse an output folder that holds files immunolab did not write (new, empty or marked folders pass)."""
    folder = Path(path)
    if force or not folder.exists():
        return
    if not folder.is_dir():
        raise InputError("IML-IN-010", "--out names a file, not a folder", path=str(folder),
                         hint="Choose a folder for --out (a new one is created).")
    if (folder / MARKER).is_file() or not any(folder.iterdir()):
        return
    raise InputError("IML-IN-010", "the output folder holds files immunolab did not write; the export would mix "
                     "with or replace them", path=str(folder),
                     hint="Choose another --out folder (a new or empty one), or pass --force to write into it anyway.")


def mark_folder(path: str | Path, kind: str, files: list[Path] | None = None) -> list[str]:
    """Leave :data:`MARKER` in output folder ``path``: immunolab wrote it (``kind``: the export).

    With ``files`` (what this export wrote) the marker lists them, and the files the previous export
    into the folder listed but this one did not write are deleted (an ``.xpt`` after ``--no-xpt``,
    plots after ``--no-plots``), so the folder holds one export; nothing the marker does not list is
    touched. Returns the names deleted.
    """
    from immunolab import __version__

    folder = Path(path)
    now = sorted({p.resolve().relative_to(folder.resolve()).as_posix() for p in files or []})
    removed: list[str] = []
    if files is not None:
        try:
            before = json.loads((folder / MARKER).read_text(encoding="utf-8")).get("files") or []
        except (OSError, ValueError, AttributeError):
            before = []
        for name in sorted(set(map(str, before)) - set(now)):
            stale = (folder / name).resolve()
            if stale.is_file() and folder.resolve() in stale.parents and stale.name != MARKER:
                stale.unlink()
                removed.append(name)
    record: dict[str, object] = {"written_by": "immunolab", "version": __version__, "kind": kind}
    if files is not None:
        record["files"] = now
    (folder / MARKER).write_text(json.dumps(record) + "\n", encoding="utf-8")
    return removed


def _check_signed_file(path: str | Path, signature: bytes, what: str, *, force: bool) -> None:
    """Refuse to write over an existing file whose head (4 KiB) lacks ``signature``: immunolab did not write it."""
    target = Path(path)
    if force or not target.is_file():
        return
    try:
        with target.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        head = b""
    if signature not in head:
        raise InputError("IML-IN-010", f"the file exists and is not {what}; it would be overwritten",
                         path=str(target), hint="Choose another --out file, or pass --force to overwrite it.")


def check_report_file(path: str | Path, *, force: bool = False) -> None:
    """Refuse to write a report over an existing file that is not an immunolab report."""
    _check_signed_file(path, REPORT_SIGNATURE, "an immunolab report", force=force)


def check_gatingml_file(path: str | Path, *, force: bool = False) -> None:
    """Refuse to write Gating-ML over an existing file that is not Gating-ML immunolab wrote (its namespace)."""
    from immunolab.flow.gatingml import NAMES_NS

    # the root element of every document immunolab writes declares this namespace
    _check_signed_file(path, NAMES_NS.encode(), "a Gating-ML file immunolab wrote", force=force)


def check_h5ad_file(path: str | Path, *, force: bool = False) -> None:
    """Refuse to write AnnData over an existing file that is not an immunolab ``.h5ad`` (``uns['immunolab']``)."""
    target = Path(path)
    if target.suffix.lower() != ".h5ad":
        raise InputError("IML-IN-014", f"--out names a {target.suffix or 'suffix-less'} file, but an AnnData (HDF5) "
                         "file is written there", path=str(target),
                         hint="Give --out a name ending in .h5ad (scanpy.read_h5ad reads it).")
    if force or not target.is_file():
        return
    try:
        import h5py

        with h5py.File(target, "r") as fh:
            ours = "uns/immunolab" in fh
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise InputError("IML-IN-010", "the file exists and is not an AnnData file immunolab wrote; it would be "
                         "overwritten", path=str(target), hint="Choose another --out file, or pass --force to overwrite it.")
