"""Helpers shared by CLI commands: error rendering, JSON output, exit codes."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from immunolab.cli.text import echo
from immunolab.errors import ImmunolabError, InternalError, StoreError

F = TypeVar("F", bound=Callable[..., Any])

#: OS errors that mean "this output cannot be written" (not a bug): full disk, file too large,
#: quota, read-only file system, no permission, I/O error
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}

__all__ = ["debug_option", "echo_json", "handle_errors", "json_option", "open_store_cli", "storage_options",
           "store_option", "version_options"]

_store = click.option(
    "--store", "store", required=True, type=str, metavar="DIR|URI",
    help="Store folder, or s3://bucket/prefix, gs://..., az://... (created by the first ingest).",
)
_storage = click.option(
    "--storage-option", "storage_options", multiple=True, metavar="KEY=VALUE",
    help="Object-store option for delta-rs/pyarrow (e.g. AWS_ENDPOINT_URL=http://host:9000); "
    "also read from AWS_*/GOOGLE_*/AZURE_* environment variables. Never logged.",
)


def store_option(func: F) -> F:
    """Add ``--store`` and ``--storage-option`` to a command."""
    return _store(_storage(func))


_version = click.option("--version", "version", type=int, metavar="N",
                        help="Read this store version instead of the latest (`immunolab log` lists them).")
_as_of = click.option("--as-of", "as_of", metavar="TIMESTAMP",
                      help="Read the last store version committed at or before this ISO 8601 time (UTC when no zone).")


def version_options(func: F) -> F:
    """Add ``--version N`` and ``--as-of TIMESTAMP`` (a locked store version, as ``open_store``) to a command."""
    return _version(_as_of(func))


def storage_options(pairs: tuple[str, ...] | list[str] | None) -> dict[str, str]:
    """Return ``KEY=VALUE`` pairs as a dict (IML-IN-006 for a pair without ``=``)."""
    from immunolab.errors import InputError

    out: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError("IML-IN-006", "a --storage-option is not KEY=VALUE",
                             hint="Write e.g. --storage-option AWS_REGION=eu-west-1.")
        out[key.strip()] = value
    return out


def open_store_cli(store: str, pairs: tuple[str, ...] | list[str] | None = (), **kwargs: Any) -> Any:
    """Open ``--store`` with its ``--storage-option`` pairs (for read commands)."""
    from immunolab.store import open_store

    return open_store(store, storage_options=storage_options(pairs), **kwargs)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of text.")
debug_option = click.option("--debug", is_flag=True, help="Show Python tracebacks of internal errors.")


def echo_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout (NaN and infinities as null: strict parsers refuse the bare tokens)."""
    click.echo(json.dumps(_finite(obj), indent=2, sort_keys=True, default=str, allow_nan=False))


def _finite(obj: Any) -> Any:
    """Return ``obj`` with every non-finite float replaced by None (recursively through dicts and lists)."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def reason_callback(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Clean a ``--reason`` before anything records it: dates, record numbers and titled names (IML-IN-013)."""
    from immunolab.redact import recorded_reason

    return recorded_reason(value)


def handle_errors(func: F) -> F:
    """Turn ImmunolabErrors into one coded line on stderr and the right exit code (no traceback)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug")) or _debug_on_the_group() or os.environ.get("IMMUNOLAB_DEBUG", "") not in ("", "0")
        as_json = bool(kwargs.get("as_json"))
        try:
            return func(*args, **kwargs)
        except ImmunolabError as exc:
            _report(exc, as_json)
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            # the reader went away (e.g. `| head`): stop quietly, as Unix tools do
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except (click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if debug:
                raise
            err = _unexpected(exc)
            _report(err, as_json)
            if err.code == "IML-IN-008":  # stdout may be the file that failed: drop what is still buffered
                with contextlib.suppress(OSError, ValueError):
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(err.exit_code)

    return wrapper  # type: ignore[return-value]


def _debug_on_the_group() -> bool:
    """Return whether ``immunolab --debug`` was given before the command (every command, with or without its own)."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and bool(ctx.find_root().params.get("debug"))


def _unexpected(exc: Exception) -> ImmunolabError:
    """Return the coded error of an exception no layer below coded: output I/O (IML-IN-008) or internal."""
    if isinstance(exc, OSError) and exc.errno in _OUTPUT_ERRNOS:
        # stdout redirected to a full disk, an --out folder on a read-only mount...
        return StoreError("IML-IN-008", f"a file could not be written or read ({exc.strerror or exc})",
                          hint="Check free disk space and the permissions of the output (a redirect, --out) "
                          "and of the files the command reads, then re-run.")
    return InternalError("IML-INTERNAL-001", f"unexpected {type(exc).__name__}",
                         hint="Please report this; re-run as `immunolab --debug COMMAND ...` (or with IMMUNOLAB_DEBUG=1 set) "
                         "to see the traceback.")


def _report(exc: ImmunolabError, as_json: bool) -> None:
    try:
        if as_json:
            echo_json({"error": exc.to_dict()})
        else:
            echo(f"ERROR {exc.format()}", err=True)
    except OSError:  # stdout cannot take it (the failed output itself): stderr, else the exit code tells
        with contextlib.suppress(OSError, ValueError):
            echo(f"ERROR {exc.format()}", err=True)
