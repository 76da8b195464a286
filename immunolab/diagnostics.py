"""Warnings a user sees: coded, one line each, on stderr; numeric warnings of one file become its own warnings.

Two paths, so that no warning is lost and none is printed raw:

* :func:`numeric_warnings` wraps the processing of one input file: every ``RuntimeWarning``
  numpy raises meanwhile (overflow, invalid value, all-NaN slice...) becomes one coded warning
  of that file (``IML-IN-007 ...``), kept in its ingest outcome and the audit record, instead
  of a multi-line Python warning on the terminal. Other warning categories pass through.
* :func:`install_cli_handler` (run by the ``immunolab`` command) prints every record of the
  ``immunolab`` logger at WARNING or above, and every Python warning (``logging.captureWarnings``),
  as one terminal-safe line ``WARN <code> <message>`` on stderr; ``immunolab --quiet`` (or a
  command's ``--quiet``) raises the threshold to ERROR. A record names its code with
  ``log.warning(..., extra={"code": "IML-PLUGIN-001"})``; Python warnings get IML-IN-007
  (numeric) or IML-IN-009 (any other). A warning about one input file (:func:`warn_file`, used
  by ``ingest`` and ``derive``) keeps the code it starts with, or gets IML-IN-009, and names the
  file by its label: ``WARN IML-IN-009 001-D014-PB: 2 population(s) under 50 events``.

Without the CLI, the library keeps Python's convention: the ``immunolab`` logger has only a
``NullHandler`` and the application decides where records go.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from typing import Any

__all__ = ["FILE_CODE", "LIBRARY_CODE", "NUMERIC_CODE", "CodedFormatter", "install_cli_handler", "is_quiet",
           "numeric_warnings", "set_quiet", "warn_file"]

NUMERIC_CODE = "IML-IN-007"
LIBRARY_CODE = FILE_CODE = "IML-IN-009"
#: at most this many distinct numeric warnings are kept per file (the rest are counted)
MAX_NUMERIC_WARNINGS = 5
_HANDLER_NAME = "immunolab-cli-stderr"


@contextlib.contextmanager
def numeric_warnings(sink: list[str]) -> Iterator[None]:
    """Collect numpy's RuntimeWarnings raised inside the block as coded one-line warnings appended to ``sink``.

    Each distinct message counts once; the source module is named (never a value). Warnings of
    other categories are re-issued unchanged when the block ends.
    """
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            yield
    finally:
        _flush(caught, sink)  # outside the block: re-issued warnings go to the caller's filters


def _flush(caught: list[warnings.WarningMessage], sink: list[str]) -> None:
    seen: dict[str, int] = {}
    for w in caught:
        if not issubclass(w.category, RuntimeWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
            continue
        where = _module_of(w.filename)
        key = f"{str(w.message).splitlines()[0][:160]} in {where}"
        seen[key] = seen.get(key, 0) + 1
    shown = list(seen)[:MAX_NUMERIC_WARNINGS]
    for key in shown:
        sink.append(f"{NUMERIC_CODE} numeric problem while processing ({key}): some values became infinite or "
                    "undefined, so results that depend on them may be missing. Check the file for extreme keyword "
                    "or data values.")
    if len(seen) > len(shown):
        sink.append(f"{NUMERIC_CODE} and {len(seen) - len(shown)} more kind(s) of numeric problem")


def _module_of(filename: str) -> str:
    """Return a dotted module-like name for a source path (``immunolab/fcs/channels.py`` -> ``immunolab.fcs.channels``)."""
    parts = filename.replace("\\", "/").split("/")
    for anchor in ("immunolab", "immunolab_assays", "assays", "site-packages"):
        if anchor in parts:
            tail = parts[parts.index(anchor) + (1 if anchor == "site-packages" else 0):]
            return ".".join(tail).removesuffix(".py")
    return parts[-1].removesuffix(".py")


class CodedFormatter(logging.Formatter):
    """Format a record as one terminal-safe line: ``WARN <code> <message>`` (``ERROR`` from level ERROR up)."""

    def format(self, record: logging.LogRecord) -> str:
        from immunolab.cli.text import safe

        level = "WARN" if record.levelno < logging.ERROR else "ERROR"
        code = getattr(record, "code", None)
        message = record.getMessage()
        if record.name == "py.warnings":
            message, code = _python_warning(message, code)
        return f"{level} {code or LIBRARY_CODE} {safe(message)}"


def _python_warning(text: str, code: str | None) -> tuple[str, str]:
    """Return (one-line message, code) of a captured Python warning ``path:line: Category: message``."""
    first = text.strip().splitlines()[0] if text.strip() else text
    head, _, rest = first.partition(": ")
    path = head.rsplit(":", 1)[0]
    category, _, message = rest.partition(": ")
    numeric = category == "RuntimeWarning"
    return f"{category}: {message} (in {_module_of(path)})", code or (NUMERIC_CODE if numeric else LIBRARY_CODE)


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to the current ``sys.stderr`` (which tests and click may replace)."""

    @property
    def stream(self) -> Any:
        import sys

        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        return


def install_cli_handler(*, quiet: bool = False) -> logging.Handler:
    """Print ``immunolab`` log records and Python warnings on stderr, one coded line each (idempotent).

    Records still propagate to the root logger, so an application's or a test's own handlers see them.
    """
    handler = _cli_handler()
    if handler is None:
        handler = _StderrHandler()
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(CodedFormatter())
        for name in ("immunolab", "py.warnings"):
            logging.getLogger(name).addHandler(handler)
    logging.captureWarnings(True)
    handler.setLevel(logging.ERROR if quiet else logging.WARNING)
    return handler


def set_quiet(quiet: bool = True) -> None:
    """Raise (or lower) the CLI handler's threshold to ERROR (WARNING); no effect without the handler."""
    handler = _cli_handler()
    if handler is not None:
        handler.setLevel(logging.ERROR if quiet else logging.WARNING)


def is_quiet() -> bool:
    """Return True when the CLI handler prints errors only (``immunolab --quiet``)."""
    handler = _cli_handler()
    return handler is not None and handler.level >= logging.ERROR


def _cli_handler() -> logging.Handler | None:
    return next((h for h in logging.getLogger("immunolab").handlers if h.get_name() == _HANDLER_NAME), None)


_CODE = re.compile(r"^(IML-[A-Z]+-\d{3})[:\s]\s*")


def warn_file(label: str, text: str) -> None:
    """Log one warning about input file ``label`` (its own code when ``text`` starts with one, else IML-IN-009)."""
    match = _CODE.match(text)
    code, message = (match.group(1), text[match.end():]) if match else (FILE_CODE, text)
    logging.getLogger("immunolab.files").warning("%s: %s", label, message, extra={"code": code})
