"""``immunolab identity``: apply a corrected manifest / subjects file to a store; show identity history."""

from __future__ import annotations

from typing import Any

import click

from immunolab.cli.common import (
    echo_json,
    handle_errors,
    json_option,
    open_store_cli,
    reason_callback,
    store_option,
)
from immunolab.cli.text import echo, safe

EXAMPLE = """
\b
Examples:
  immunolab identity apply --store S --manifest manifest.csv --subjects subjects.csv
      (lists the changes; stops with IML-ID-012 when stored records would change)
  immunolab identity apply --store S --manifest manifest.csv --subjects subjects.csv \\
      --reason "patient 003 was randomised to MSC (CRF correction 2026-11-30)"
  immunolab identity history --store S --sample 010-D014-WB
"""


@click.group(epilog=EXAMPLE)
def identity() -> None:
    """Identity of stored files and samples: apply corrections, show their history."""


@identity.command(epilog=EXAMPLE)
@store_option
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option("--subjects", type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="Default: subjects.csv beside the manifest.")
@click.option("--reason", callback=reason_callback, help="Why the stored identity changes (required when it does).")
@click.option("--dry-run", is_flag=True, help="Only list the changes.")
@json_option
@handle_errors
def apply(store: str, storage_options: tuple[str, ...], manifest: str, subjects: str | None, reason: str | None,
          dry_run: bool, as_json: bool) -> None:
    """Compare the manifest and subjects file with every stored file's identity and apply the changes."""
    from immunolab.identity import load_identity, problems_error
    from immunolab.identity.apply import (
        acknowledge_notes,
        commit_identity,
        plan_identity,
        require_reason,
    )
    from immunolab.identity.records import IdentityPlan
    from immunolab.store.layout import store_key

    s = open_store_cli(store, storage_options)
    ident = load_identity(manifest, subjects)
    if ident.subject_problems:  # a bad line would silently keep its patient's stored record
        raise problems_error(ident.subject_problems)
    if not as_json:
        for w in ident.subject_warnings:  # columns left out as identifying: named, never their values
            echo(safe(f"WARN {w.code} {w.text()}"), err=True)
    update = plan_identity(s, ident, store_key(s.loc), reason=reason)
    if not as_json:
        for w in update.warnings:  # IML-ID-021: a sample relabelled onto a visit after its patient's death
            echo(safe(f"WARN {w.code} {w.text()}"), err=True)
    warnings = [{"code": w.code, "message": w.message} for w in [*ident.subject_warnings, *update.warnings]]
    lines = update.corrections.lines() + [f"NEW {r['patient_id']} arm {r['arm']}" for r in update.new_subjects]
    if update.empty and update.notes and reason and not dry_run:  # the user says the note was dealt with
        noted = acknowledge_notes(s, update, reason=reason, identity=ident, command="identity apply")
        if as_json:
            echo_json({"changes": [], "notes": update.notes, "applied": True, "store_version": noted.store_version,
                       "warnings": warnings})
        else:
            for line in update.notes:
                echo(safe(line))
            echo(f"no changes; the files and their note are recorded as store version {noted.store_version}")
        return
    if dry_run or update.empty:
        if as_json:
            echo_json({"changes": lines, "notes": update.notes, "applied": False, "warnings": warnings})
        else:
            for line in [*lines, *update.notes]:
                echo(safe(line))
            echo(("no changes" if update.empty else f"{IdentityPlan.count(lines)} change(s) (dry run: nothing applied)")
                 + ("; after dealing with the NOTE, run again with --reason to record it" if update.notes else ""))
        return
    require_reason(update, reason)
    rec = commit_identity(s, update, reason=reason, identity=ident, command="identity apply",
                          replan=lambda st: plan_identity(st, ident, store_key(st.loc), reason=reason))
    lines = rec.actions if rec is not None else []  # re-planned when another run changed identity meanwhile
    if as_json:
        echo_json({"changes": lines, "applied": rec is not None, "store_version": rec.store_version if rec else None,
                   "warnings": warnings})
        return
    for line in [*lines, *update.notes]:
        echo(safe(line))
    echo(f"applied {IdentityPlan.count(lines)} change(s) as store version {rec.store_version}" if rec is not None
         else "no changes: another run applied them first")


@identity.command(epilog=EXAMPLE)
@store_option
@click.option("--sample", help="Only this sample id.")
@click.option("--patient", help="Only this patient.")
@json_option
@handle_errors
def history(store: str, storage_options: tuple[str, ...], sample: str | None, patient: str | None, as_json: bool) -> None:
    """Show every identity record (oldest first) of samples and subjects, with the version and reason.

    Records that read the same (one plate sample measured in several wells or files) are shown
    once with their count; a sample or patient the store does not know is IML-ID-015.
    """
    import pandas as pd

    from immunolab.errors import IdentityError

    s = open_store_cli(store, storage_options)
    version_of = s.commit_version
    smp = s.to_pandas("identity_samples", history=True)
    subj = s.to_pandas("identity_subjects", history=True)
    shown = _shown_covariates(subj)  # judged on every patient's record, before any filter
    if sample:
        keys = set(zip(smp.loc[smp["sample_id"] == sample, "source_sha256"], smp.loc[smp["sample_id"] == sample, "sample_key"],
                       strict=True))
        smp = smp[[k in keys for k in zip(smp["source_sha256"], smp["sample_key"], strict=True)]]
        subj = subj.iloc[0:0]
    if patient:
        smp = smp[smp["patient_id"] == patient]
        subj = subj[subj["patient_id"] == patient]
    if (sample or patient) and smp.empty and subj.empty:
        what = f"sample {sample}" if sample else f"patient {patient}"
        raise IdentityError("IML-ID-015", f"this store has no identity record of {what}", path=store,
                            hint="Check the id (ids are exact: 003, not 3); `immunolab store info --per-visit` "
                            "lists the stored patients and visits.")
    rows: list[dict[str, Any]] = []
    for r in smp.to_dict("records"):
        day = r["visit_day"]
        rows.append({"version": version_of.get(r["commit_id"]), "record": "sample", "sample_id": r["sample_id"],
                     "patient_id": r["patient_id"], "visit_day": None if pd.isna(day) else int(day),
                     "status": r["status"], "reason": r["reason"]})
    for r in _with_changes(subj.to_dict("records"), version_of, shown):
        rows.append({"version": version_of.get(r["commit_id"]), "record": "subject", "patient_id": r["patient_id"],
                     "arm": r["arm"], **{c: _value(r[c]) for c in ("site", "sex", "age", "severity")},
                     "status": r["status"], "reason": r["reason"], "changes": r["changes"]})
    rows = _merge_same(rows)
    rows.sort(key=lambda r: r["version"] or 0)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        body = (f"sample {r['sample_id']} patient {r['patient_id']} day {r['visit_day']} {r['status']}"
                if r["record"] == "sample" else f"subject {r['patient_id']} arm {r['arm']} {r['status']}"
                + (f" ({', '.join(_change_text(c) for c in r['changes'])})" if r["changes"] else ""))
        count = f" ({r['records']} records)" if r["records"] != 1 else ""
        echo(f"v{r['version']:<4} {safe(body)}{count}" + (f" - {safe(r['reason'])}" if r["reason"] else ""))


#: subject columns a history line compares with the patient's previous record (all are stored codes or numbers)
SUBJECT_COLUMNS = ("arm", "site", "sex", "age", "severity")


def _value(v: Any) -> Any:
    """Return a stored value as JSON shows it (missing is None, a whole-number age an int)."""
    import pandas as pd

    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _shown_covariates(history: Any) -> set[str]:
    """Return the stored covariates whose values a history line may show.

    A record may keep a column an earlier release stored that today's rule refuses as identifying
    (:func:`immunolab.identity.files.identifying_columns`): its change is named, never its values.
    """
    import json

    from immunolab.identity.files import identifying_columns

    rows = [(0, {str(k): str(v) for k, v in json.loads(c).items()}) for c in history["covariates_json"].dropna() if c]
    names = {k for _line, row in rows for k in row}
    return names - set(identifying_columns(rows))


def _with_changes(records: list[dict[str, Any]], version_of: dict[str, int], shown: set[str]) -> list[dict[str, Any]]:
    """Return subject ``records`` each with ``changes``: the columns that differ from the patient's previous record."""
    import json

    out: list[dict[str, Any]] = []
    last: dict[str, dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: version_of.get(r["commit_id"]) or 0):
        prev = last.get(r["patient_id"])
        changes: list[dict[str, Any]] = []
        if prev is not None:
            changes = [{"column": c, "old": _value(prev[c]), "new": _value(r[c])} for c in SUBJECT_COLUMNS
                       if _value(prev[c]) != _value(r[c])]
            before = json.loads(prev["covariates_json"]) if isinstance(prev["covariates_json"], str) else {}
            after = json.loads(r["covariates_json"]) if isinstance(r["covariates_json"], str) else {}
            for c in sorted(set(before) | set(after)):
                if before.get(c) != after.get(c):
                    changes.append({"column": c, "old": before.get(c), "new": after.get(c)} if c in shown
                                   else {"column": c, "old": None, "new": None, "values": "not shown"})
        last[r["patient_id"]] = r
        out.append({**r, "changes": changes})
    return out


def _change_text(change: dict[str, Any]) -> str:
    if change.get("values") == "not shown":
        return f"{change['column']} changed"
    return f"{change['column']} {'-' if change['old'] is None else change['old']} -> " \
           f"{'-' if change['new'] is None else change['new']}"


def _merge_same(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return ``rows`` with rows that read the same merged into one carrying ``records`` (their count)."""
    merged: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for r in rows:
        key = tuple(sorted((k, str(v)) for k, v in r.items()))
        if key in merged:
            merged[key]["records"] += 1
        else:
            merged[key] = {**r, "records": 1}
    return list(merged.values())
