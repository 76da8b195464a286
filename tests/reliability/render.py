"""Rewrite the README's reliability section from tests/reliability/last_run.json (`make reliability`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def _find(figures: dict[str, dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [v for k, v in sorted(figures.items()) if k.startswith(prefix)]


def render(run: dict[str, Any]) -> str:
    """Return the Markdown lines for the README reliability section."""
    f = run["figures"]
    lines = [f"Measured by the last `make reliability` run ({run['date']}, Python {run['python']}, "
             f"exit status {run['exit_status']}):", ""]
    for r in _find(f, "test_malformed_fcs"):
        lines.append(f"* **Malformed FCS files**: {r['files']:,} variants ingested; {r['failed']:,} refused with "
                     f"{len(r['codes'])} distinct coded input errors, {r['internal_errors']} internal errors, "
                     f"{r['tracebacks']} tracebacks; data tables untouched, store verifies.")
    for r in _find(f, "test_malformed_plate"):
        lines.append(f"* **Malformed plate exports**: {r['files']:,} variants; {r['failed']:,} refused with "
                     f"{len(r['codes'])} distinct codes, {r['internal_errors']} internal errors; store unchanged.")
    for r in _find(f, "test_sigkill"):
        lines.append(f"* **Crash safety**: {r['trials']} trials x 2 SIGKILLs at random moments of a "
                     f"{r['files_per_batch']}-file batch ({r['trials_interrupted_mid_batch']} trials cut mid-batch); "
                     f"after a re-run {r['duplicates']} duplicates, {r['lost']} lost files, "
                     f"{r['unreadable_tables']} unreadable tables.")
    faults = _find(f, "test_failing_the_nth_io_operation")
    if faults:
        desc = ", ".join(f"{r['faults_injected']} {r['kind']}" for r in faults)
        lines.append(f"* **Fault injection**: the N-th store operation failed for every N ({desc}): no partial "
                     "rows visible, every re-run commits the file exactly once.")
    for r in _find(f, "test_four_processes"):
        lines.append(f"* **Concurrency**: {r['processes']} processes, {r['attempts']} overlapping attempts on "
                     f"{r['distinct_files']} files: {r['committed']} commits, {r['duplicates']} duplicates, "
                     f"{r['lost']} lost.")
    for r in _find(f, "test_canary"):
        lines.append(f"* **PHI**: {r['canaries']} canary names and dates planted in FCS keywords, file names and "
                     f"plate sample names; {r['files_scanned']} store and export files and {r['cli_outputs_scanned']} "
                     f"CLI outputs scanned: {r['hits']} hits (only `raw/`, the original record, holds them).")
    lines.append("* **Audit**: every attempt (committed, skipped, failed) has a hash-chained record; `immunolab verify` "
                 "detects a tampered raw file, a deleted or altered table file and an altered audit record (tests in tests/cli).")
    return "\n".join(lines)


def main() -> None:
    """Rewrite README.md between the reliability markers."""
    run = json.loads((Path(__file__).with_name("last_run.json")).read_text())
    readme = REPO / "README.md"
    text = readme.read_text()
    start, end = "<!-- reliability:start -->", "<!-- reliability:end -->"
    head, rest = text.split(start, 1)
    _old, tail = rest.split(end, 1)
    readme.write_text(head + start + "\n" + render(run) + "\n" + end + tail)
    print(render(run))


if __name__ == "__main__":
    main()
