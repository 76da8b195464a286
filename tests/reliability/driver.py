"""Run an ingest in a separate process with the toy plugin registered (crash and concurrency tests).

Usage: python -m tests.reliability.driver STORE MANIFEST PATH...
Prints one JSON line per file outcome.
"""

from __future__ import annotations

import json
import sys

from immunolab.ingest import ingest_paths
from immunolab.plugins import get_registry
from tests.store.toy_plugin import ToyPlugin


def main() -> None:
    store, manifest, *paths = sys.argv[1:]
    get_registry([ToyPlugin()])
    ingest_paths(paths, store=store, manifest=manifest, jobs=1,
                 on_outcome=lambda o: print(json.dumps({"status": o.status, "label": o.label, "code": o.code}), flush=True))


if __name__ == "__main__":
    main()
