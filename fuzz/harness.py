"""Run one fuzz target of :mod:`fuzz.targets` under atheris (libFuzzer); used by every ``fuzz_<name>.py``.

    python fuzz/fuzz_xponent.py -max_total_time=60 fuzz/corpus/xponent fuzz/seeds/xponent

Arguments are libFuzzer's: the first folder collects the corpus, the others seed it. A crash (an
exception other than a coded input error), a hang beyond ``-timeout`` or memory beyond
``-rss_limit_mb`` stops the run and writes the input to ``crash-*`` / ``timeout-*`` / ``oom-*``
(see ``-artifact_prefix``); replay it through ``tests/fuzz/test_regressions.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(name: str) -> None:
    """Instrument immunolab and its assays, then fuzz target ``name`` with the command-line arguments."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import atheris

    with atheris.instrument_imports(include=["immunolab", "immunolab_assays", "fuzz"]):
        from fuzz.targets import TARGETS, preload

        preload(name)
    check = TARGETS[name]
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()
