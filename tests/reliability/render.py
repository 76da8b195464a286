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
    lines = [f"Measured by the last `make reliability` run ({run['date']}, commit `{str(run.get('commit'))[:10]}`, "
             f"Python {run['python']}, exit status {run['exit_status']}):", ""]
    for r in _find(f, "test_malformed_fcs"):
        st = r.get("stages", {})
        lines.append(f"* **Malformed FCS files**: {r['files']:,} variants ingested: {st.get('reader', 0):,} refused by "
                     f"the reader, {st.get('read_and_gated', 0):,} read and gated, {st.get('gating', 0):,} read but "
                     f"refused at gating, {st.get('detection', 0):,} not recognised as FCS; {len(r['codes'])} distinct "
                     f"coded input errors, {r['internal_errors']} internal errors, {r['tracebacks']} tracebacks; "
                     "nothing of a refused file in the data tables, store verifies.")
    for r in _find(f, "test_most_malformed_fcs_variants"):
        st = r["stages"]
        lines.append(f"* **Reader reach**: of {r['files']} variants gated with a strategy on a channel every base file "
                     f"has, {st.get('reader', 0) + st.get('read_and_gated', 0)} were decided by the reader (refused or "
                     f"read) and {st.get('gating', 0)} at gating.")
    for r in _find(f, "test_malformed_plate"):
        lines.append(f"* **Malformed plate exports**: {r['files']:,} variants; {r['failed']:,} refused with "
                     f"{len(r['codes'])} distinct codes, {r['internal_errors']} internal errors; store unchanged.")
    for r in _find(f, "test_sigkill"):
        lines.append(f"* **Crash safety**: {r['trials']} trials x 2 SIGKILLs at random moments of a "
                     f"{r['files_per_batch']}-file batch committed {r['files_per_store_version']} files per store "
                     f"version ({r['kills_with_a_batch_in_flight']} kills with a batch in flight, "
                     f"{r['kills_between_table_commits']} between two table commits); {r['half_batches_visible']} half "
                     f"batches visible through the API; after a re-run {r['duplicates']} duplicates, {r['lost']} lost "
                     "files, and `verify` passes.")
    for r in _find(f, "test_writes_failing_at_every_size"):
        lines.append(f"* **Full disk**: writes failing at {len(r['limits_bytes'])} file-size limits "
                     f"({r['runs_refused_with_store_errors']} runs refused with coded store errors): no file reported OK "
                     f"that was not committed; after the space is back {r['duplicates']} duplicates, {r['lost']} lost, "
                     "`verify` passes.")
    for r in _find(f, "test_six_processes"):
        lines.append(f"* **Concurrency**: {r['writers']} processes, {r['attempts']} overlapping attempts on "
                     f"{r['distinct_files']} files: {r['committed']} commits, {r['duplicates']} duplicates, "
                     f"{r['lost']} lost.")
    for r in _find(f, "test_a_store_on_s3"):
        lines.append(f"* **Object storage** (S3 API, moto server): {r['writers']} writers, {r['attempts']} overlapping "
                     f"attempts on {r['distinct_files']} files: {r['committed']} commits, {r['duplicates']} duplicates, "
                     f"{r['lost']} lost; reads and `verify` on `s3://`.")
    for r in _find(f, "test_canary"):
        lines.append(f"* **PHI**: {r['canaries']} canary names and dates planted in FCS keywords, file names and "
                     f"plate sample names; {r['files_scanned']} store and export files and {r['cli_outputs_scanned']} "
                     f"CLI outputs scanned: {r['hits']} hits (only `raw/`, the original record, holds them).")
    lines.extend(_hardening(f))
    lines.append("* **Audit**: every committed or failed attempt has a hash-chained record (a SKIP changes nothing, so it "
                 "is only in the run's summary); `immunolab verify` "
                 "detects a tampered raw file, a deleted or altered table file and an altered audit record (tests in tests/cli).")
    return "\n".join(lines)


def _hardening(f: dict[str, dict[str, Any]]) -> list[str]:
    """Return the lines of the hardening cases (issue 14): each was a failure of the first release."""
    lines: list[str] = []
    for r in _find(f, "test_deidentify_cost_grows_linearly"):
        lines.append(f"* **Keyword flood**: 8x the keywords cost {r['ratio_8x_keywords']:.1f}x the de-identification "
                     "time (linear; the first release: ~50x); a file above 500,000 keywords is refused (IML-FCS-040).")
    for r in _find(f, "test_a_tube_with_300k_custom_keywords"):
        lines.append(f"* **{r['keywords']:,} custom keywords**: ingested in {r['ingest_seconds']} s, every name dropped.")
    for r in _find(f, "test_killing_only_the_parent"):
        lines.append(f"* **Orphaned workers**: parent of a `--jobs 2` ingest killed (SIGKILL): {r['workers']} workers "
                     f"gone after {r['seconds_until_workers_gone']} s, {r['finished_after_kill']} files finished and "
                     f"{r['store_versions_after_kill']} store versions committed afterwards; the next writer rolls back.")
    faults = _find(f, "test_every_writing_command_gets_a_coded_store_error")
    if faults:
        lines.append(f"* **Read-only / full store**: {sum(r['commands'] for r in faults)} command runs over "
                     f"{len(faults)} fault modes (permissions, read-only mount, `ulimit -f 0`, full tmpfs): "
                     f"{sum(r['exit_3'] for r in faults)} coded store errors (exit 3), 0 internal errors; "
                     "`verify` ran every check each time.")
    for r in _find(f, "test_every_cli_attempt_under_a_file_size_limit"):
        lines.append(f"* **`ulimit -f`**: {len(r['cli_limits_bytes'])} limits, "
                     f"{r['cli_attempts_refused_with_store_errors']} attempts refused with a coded store error, "
                     f"{r['silent_attempts']} silent attempts.")
    for r in _find(f, "test_the_refusal_costs_no_memory"):
        lines.append(f"* **Memory budget**: a sparse {r['file_gib']} GiB FCS file over budget is refused "
                     f"(IML-FCS-042) with {r['refusal_rss_growth_mib']} MiB of memory growth.")
    for r in _find(f, "test_ingest_of_one_tube_stays_within"):
        lines.append(f"* **Peak memory**: ingesting {r['events']:,} events took {r['peak_over_matrix']}x the float32 "
                     "event matrix (documented limit 4x).")
    for r in _find(f, "test_compare_tables_neutralise"):
        lines.append(f"* **CSV injection**: {r['csv_files']} CSV files written by `compare` and ADaM export with an "
                     f"analyte named `=HYPERLINK(...)`: {r['live_formulas']} live formula cells.")
    for r in _find(f, "test_terminal_output_of_every_command"):
        lines.append(f"* **Terminal escapes**: {r['commands']} commands printed an analyte and a population named "
                     f"with OSC/CSI/DCS/C1 sequences: {r['control_characters']} control characters reached the terminal.")
    return lines


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
