"""QC decisions: exclude or include a sample, well, plate or file (optionally one analyte), with a reason.

A decision is a row of ``qc_decisions`` (who, when, why) committed as a store version of kind
``qc``; the latest decision per (target, analyte) is current, so ``include`` undoes ``exclude``
and the history stays readable. Excluded values stay in the measurements view, flagged; compare,
AnnData and the report leave them out by default and say how many.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from immunolab.errors import InputError
from immunolab.schema import table_spec

if TYPE_CHECKING:
    from immunolab.store.read import Store
    from immunolab.store.versions import VersionRecord

__all__ = ["TARGET_KINDS", "decide"]

TARGET_KINDS = ("sample", "well", "plate", "file")


def _check_target(store: Store, kind: str, target: str) -> tuple[str, str]:
    """Return (stored target kind, normalised target) or raise IML-DER-003."""
    from immunolab.derive.views import plate_codes

    if kind == "sample":
        ids = set(store.to_pandas("samples", columns=["sample_id"])["sample_id"])
        if target not in ids:
            raise InputError("IML-DER-003", f"no current sample is called {target!r}",
                             hint="Sample ids are listed by `immunolab log --files` (one line per committed file) and in the samples table.")
        return "sample", target
    codes = plate_codes(store)
    by_code = {c: p for p, c in codes.items()}
    if kind == "plate":
        pid = by_code.get(target, target)
        if pid not in codes:
            raise InputError("IML-DER-003", f"no stored plate is called {target!r}",
                             hint=f"Plates: {', '.join(sorted(codes.values())) or 'none'}.")
        return "plate", codes[pid]
    if kind == "well":
        plate, _, well = target.rpartition(":")
        pid = by_code.get(plate, plate)
        wells = store.to_pandas("cytokine_wells", columns=["plate_id", "well"])
        if pid not in codes or not ((wells["plate_id"] == pid) & (wells["well"] == well)).any():
            raise InputError("IML-DER-003", f"no stored well {target!r}", hint="Write PLATE:WELL, e.g. PLATE-03:B7.")
        return "well", f"{codes[pid]}:{well}"
    src = store.to_pandas("sources", columns=["source_sha256", "ingest_id"])
    hit = src[(src["ingest_id"] == target) | (src["source_sha256"] == target)]
    reparsed = next((sha for sha, ids in store.repeated_ingests.items() if target in ids[:-1]), None)
    if hit.empty and reparsed is None:
        raise InputError("IML-DER-003", f"no committed file has ingest id or SHA-256 {target!r}",
                         hint="Ingest ids are listed by `immunolab log --files`.")
    if reparsed is not None:  # the same bytes parsed again (a corrected Day 0): that ingest holds the values
        now = _current_ingest(store, reparsed)
        _refuse_retired_file(store, target, store.repeated_ingests[reparsed][-1] if now is None else now)
    ingest_id = str(hit.iloc[0]["ingest_id"])
    _refuse_retired_file(store, ingest_id, _current_ingest(store, str(hit.iloc[0]["source_sha256"])))
    return "source", ingest_id


def _current_ingest(store: Store, sha: str) -> str | None:
    """Return the ingest now holding the sample of file ``sha`` (following supersessions), or None when current."""
    ident = store.to_pandas("identity_samples", columns=["source_sha256", "sample_key", "status", "superseded_by"])
    files = ident[ident["sample_key"] == ""].set_index("source_sha256")
    src = store.to_pandas("sources", columns=["source_sha256", "ingest_id"]).set_index("ingest_id")["source_sha256"]
    by: str | None = None
    seen: set[str] = set()
    while sha in files.index and files.at[sha, "status"] == "superseded" and files.at[sha, "superseded_by"]:
        by = str(files.at[sha, "superseded_by"])
        if by in seen or by not in src.index:
            break
        seen.add(by)
        sha = str(src.at[by])
    if by is None and sha in files.index and files.at[sha, "status"] == "withdrawn":
        return ""
    return by


def _refuse_retired_file(store: Store, ingest_id: str, now: str | None) -> None:
    """Raise IML-DER-003 when file ``ingest_id`` is superseded by ingest ``now`` or withdrawn (``now == ""``)."""
    if now is None:
        return
    if now == "":
        raise InputError("IML-DER-003", f"file {ingest_id} is withdrawn, so the decision would exclude nothing",
                         hint="A withdrawn file is left out of every analysis already; `immunolab identity history` "
                              "shows why.")
    raise InputError("IML-DER-003", f"file {ingest_id} is superseded by ingest {now}, so the decision would exclude "
                     "nothing (its values left every analysis with it)",
                     hint=f"Exclude the file that holds its sample now: --file {now}. `immunolab log --store S "
                          "--files` lists each file's ingest IDs.")


def _check_analyte(store: Store, analyte: str) -> None:
    """Raise IML-DER-003 when ``analyte`` names no feature of the measurements (it would exclude nothing)."""
    import difflib

    features = {str(f) for f in store.table("measurements", columns=["feature"]).column("feature").unique().to_pylist()
                if f is not None}
    if analyte in features:
        return
    by_lower = {f.lower(): f for f in features}
    close = ([by_lower[analyte.lower()]] if analyte.lower() in by_lower else
             [by_lower[c] for c in difflib.get_close_matches(analyte.lower(), list(by_lower), n=3, cutoff=0.6)])
    raise InputError("IML-DER-003", f"no measurement has the analyte or population {analyte!r}, so the decision would "
                     "exclude nothing",
                     hint=(f"Did you mean {' or '.join(repr(c) for c in close)}? " if close else "")
                     + "Analyte and population names are the `feature` column of the measurements view.")


def _check_excluded(store: Store, kind: str, target: str, analyte: str) -> None:
    """Raise IML-DER-003 unless the latest decision on (target, analyte) is an exclusion (include undoes one)."""
    current = store.to_pandas("qc_decisions")
    mine = current[(current["target_kind"] == kind) & (current["target"] == target) & (current["analyte"] == analyte)]
    if mine.empty or mine.sort_values("recorded_at").iloc[-1]["action"] != "exclude":
        what = f"{target}" + (f" ({analyte})" if analyte else "")
        raise InputError("IML-DER-003", f"{what} is not excluded, so there is nothing to include",
                         hint="`immunolab qc list` shows the current exclusions (an include names the same target "
                              "and analyte as its exclude).")


def decide(store: Store, *, action: str, kind: str, target: str, analyte: str | None, reason: str,
           command: str = "qc") -> VersionRecord:
    """Record one QC decision (``exclude`` / ``include``) as a store version."""
    from immunolab.derive.run import _commit, _user
    from immunolab.store.writer import new_id

    if not reason:
        raise InputError("IML-IN-001", "a QC decision needs --reason", hint='Add --reason "why".')
    from immunolab.redact import recorded_reason

    reason = recorded_reason(reason) or reason
    stored_kind, norm = _check_target(store, kind, target)
    if analyte:
        _check_analyte(store, analyte)
    if action == "include":
        _check_excluded(store, stored_kind, norm, analyte or "")
    commit_id = new_id("qcd")
    row = {"commit_id": commit_id, "target_kind": stored_kind, "target": norm, "analyte": analyte or "",
           "action": action, "reason": reason, "user": _user(), "recorded_at": datetime.now(UTC)}
    table = pa.Table.from_pylist([row], schema=table_spec("qc_decisions").schema)
    what = f"{norm}" + (f" ({analyte})" if analyte else "")
    rec = _commit(store, "qc", {"qc_decisions": [table]}, f"{action} {kind} {what}", reason, {}, command, commit_id)
    assert rec is not None
    return rec
