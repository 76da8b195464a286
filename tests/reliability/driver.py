"""Run an ingest in a separate process with the toy plugin registered (crash, concurrency, full-disk tests).

Usage: python -m tests.reliability.driver STORE MANIFEST PATH... [--fsize BYTES]
Prints one JSON line per file outcome, then ``{"exit": code}``; with ``--fsize`` the process
may write files of at most BYTES bytes (RLIMIT_FSIZE: a full disk as the kernel reports it).
"""

from __future__ import annotations

import json
import sys

from immunolab.ingest import ingest_paths
from immunolab.plugins import get_registry
from tests.store.toy_plugin import ToyPlugin


def main() -> None:
    args = sys.argv[1:]
    if "--fsize" in args:
        import resource
        import signal

        i = args.index("--fsize")
        limit = int(args[i + 1])
        del args[i:i + 2]
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    store, manifest, *paths = args
    get_registry([ToyPlugin()])
    from immunolab.errors import ImmunolabError

    try:
        import os

        chunk = int(os.environ.get("IMMUNOLAB_TEST_CHUNK", "0")) or None
        report = ingest_paths(paths, store=store, manifest=manifest, jobs=1, chunk_files=chunk,
                              on_outcome=lambda o: print(json.dumps({"status": o.status, "label": o.label,
                                                                     "code": o.code, "sha": o.source_sha256}),
                                                         flush=True))
        code = report.exit_code
    except ImmunolabError as exc:
        print(json.dumps({"error": exc.code, "message": exc.message}), flush=True)
        code = exc.exit_code
    print(json.dumps({"exit": code}), flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
