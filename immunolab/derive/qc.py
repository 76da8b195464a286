"""Quality control as one typed table: every check, one rule each, read by ``store qc`` and the report.

A :class:`QcCheck` row names its scope (``plate`` or ``sample``), target (plate code or sample
id, never a file or plate sample name), analyte (or population), check, status
(``pass``/``warn``/``fail``) and a short PHI-free detail. The rules:

==============================  =======================================================================
check                           rule
==============================  =======================================================================
``plate_status``                the active derivation's plate status (pass / warn / fail)
``curve_r_squared``             fail when R^2 of the active curve < the plate's ``r_squared_min`` (0.98)
``standard_recovery``           warn when a standard recovers outside 70-130 %
``control_in_range``            fail when a control's mean concentration lies outside its range
``replicate_cv``                warn when unknowns' replicate CV > 15 %
``bead_count``                  fail when a reading has < 35 beads, warn < 50 (fail fraction in detail)
``gating``                      fail when the active gating of the sample failed (code in detail)
``sample_events``               warn when the sample has fewer than 10,000 events
``population_events``           warn per population with fewer than 50 events (or not gated: its parent had too few)
``compensation``                warn when the sample's fluorescence was gated uncompensated (no spillover matrix)
==============================  =======================================================================
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from immunolab.derive.gating import MIN_POPULATION_EVENTS, MIN_SAMPLE_EVENTS

if TYPE_CHECKING:
    from immunolab.store.read import Store

__all__ = ["QcCheck", "qc_checks", "qc_frame"]


@dataclass(frozen=True)
class QcCheck:
    """One QC check of one plate or sample."""

    scope: str
    target: str
    analyte: str
    check: str
    status: str
    detail: str
    derivation_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _plate_checks(store: Store) -> list[QcCheck]:
    from immunolab.derive import choices
    from immunolab.derive.views import plate_codes

    qc = store.to_pandas("plate_qc")
    if qc.empty:
        return []
    active = choices.active_curves(store, qc[["commit_id", "source_sha256", "plate_id", "derivation_id"]])
    keep = set(zip(active["plate_id"], active["derivation_id"], active["commit_id"], strict=True))
    qc = choices.rows_with_keys(qc, ["plate_id", "derivation_id", "commit_id"], keep)
    qc = qc.drop_duplicates(["plate_id"], keep="last")
    codes = plate_codes(store)
    out: list[QcCheck] = []
    for row in qc.to_dict("records"):
        target = codes.get(row["plate_id"], row["plate_id"])
        d = row["derivation_id"]
        info = json.loads(row["qc_json"] or "{}")
        first = len(out)
        out.append(QcCheck("plate", target, "", "plate_status", row["status"] or "?",
                           (info.get("error") or {}).get("message", ""), d))
        beads = info.get("bead_count") or {}
        if beads.get("readings"):
            status = "fail" if beads.get("fail") else ("warn" if beads.get("warn") else "pass")
            out.append(QcCheck("plate", target, "", "bead_count", status,
                               f"{beads.get('fail', 0)} fail / {beads.get('warn', 0)} warn of {beads['readings']} readings", d))
        for analyte, a in sorted((info.get("analytes") or {}).items()):
            out.extend(_analyte_checks(target, analyte, a, d))
        for c in info.get("controls") or []:
            if c.get("in_range") is not None:
                out.append(QcCheck("plate", target, str(c.get("analyte")), "control_in_range",
                                   "pass" if c["in_range"] else "fail",
                                   f"{c.get('label')}: {c.get('concentration')} in [{c.get('low')}, {c.get('high')}]", d))
        if not out[first].detail:  # say what the plate's status summarises
            out[first] = replace(out[first], detail=_summary(out[first + 1:]))
    return out


def _summary(checks: list[QcCheck]) -> str:
    """Return ``"35 checks: 1 fail, 5 warn"`` for a plate's checks (its status weighs them by the QC thresholds)."""
    counts = {s: sum(c.status == s for c in checks) for s in ("fail", "warn")}
    bad = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return f"{len(checks)} check(s): {bad or 'all pass'}"


def _analyte_checks(target: str, analyte: str, a: dict[str, Any], d: str) -> list[QcCheck]:
    out = []
    flags = set(a.get("flags") or [])
    curve = a.get("curve") or {}
    if curve:
        r2 = curve.get("r_squared")
        out.append(QcCheck("plate", target, analyte, "curve_r_squared",
                           "fail" if "r_squared_low" in flags or curve.get("converged") is False else "pass",
                           f"R2 {r2}" if r2 is not None else str(curve.get("message", "")), d))
    if a.get("standards"):
        bad = [s for s in a["standards"] if "flag" in s]
        out.append(QcCheck("plate", target, analyte, "standard_recovery", "warn" if bad else "pass",
                           f"{len(bad)} of {len(a['standards'])} standards outside 70-130 %", d))
    if "unknown_cv_high" in flags:
        out.append(QcCheck("plate", target, analyte, "replicate_cv", "warn",
                           f"{a.get('unknown_cv_high')} sample(s) with replicate CV > 15 %", d))
    return out


def _flow_checks(store: Store) -> list[QcCheck]:
    from immunolab.derive import choices
    from immunolab.flow.pipeline import UNCOMPENSATED_FLAG
    from immunolab.flow.template_rules import NOT_GATED

    gating = store.to_pandas("flow_gating")
    if gating.empty:
        return []
    smp = store.to_pandas("samples")
    files = smp[smp["sample_key"] == ""]
    panel_of = choices.panel_of_files(files)
    sample_of = files.set_index("source_sha256")["sample_id"].to_dict()
    # a gating derived again (``derive gating`` of the same strategy) failing again is one check, not two
    failed = gating[gating["status"] != "ok"].assign(_v=gating["commit_id"].map(store.commit_version).fillna(0))
    failed = failed.sort_values("_v", kind="stable").drop_duplicates(["source_sha256", "derivation_id"], keep="last")
    act = choices.active_gating(store, gating[gating["status"] == "ok"], panel_of)
    out: list[QcCheck] = []
    ok_sources = set(act["source_sha256"])
    for row in failed.to_dict("records"):
        if row["source_sha256"] in ok_sources or row["source_sha256"] not in sample_of:
            continue
        out.append(QcCheck("sample", sample_of[row["source_sha256"]], "", "gating", "fail",
                           f"{row['error_code']}: {row['message']}", row["derivation_id"]))
    for row in act.to_dict("records"):
        flags = list(row["qc_flags"]) if row.get("qc_flags") is not None else []
        if UNCOMPENSATED_FLAG in flags and row["source_sha256"] in sample_of:
            out.append(QcCheck("sample", sample_of[row["source_sha256"]], "", "compensation", "warn",
                               "fluorescence gated without compensation: the file has no spillover matrix",
                               row["derivation_id"]))
    pops = store.to_pandas("flow_populations", columns=["source_sha256", "derivation_id", "commit_id", "population",
                                                        "count", "total_count", "qc_flags"])
    keep = set(zip(act["source_sha256"], act["derivation_id"], act["commit_id"], strict=True))
    pops = choices.rows_with_keys(pops, ["source_sha256", "derivation_id", "commit_id"], keep)
    for key, g in pops.groupby(["source_sha256", "derivation_id"]):
        sha, d = cast("tuple[str, str]", key)
        target = sample_of.get(sha)
        if target is None:
            continue
        total = int(g["total_count"].max())
        out.append(QcCheck("sample", target, "", "sample_events", "warn" if total < MIN_SAMPLE_EVENTS else "pass",
                           f"{total:,} events", d))
        low = g[g["count"] < MIN_POPULATION_EVENTS]
        # columns, not itertuples: a namedtuple's ``count`` is tuple.count to a type checker
        for population, count, flags in zip(low["population"], low["count"], low["qc_flags"], strict=True):
            not_gated = flags is not None and NOT_GATED in list(flags)
            detail = ("not gated: its parent held too few events (frequencies unknown)" if not_gated
                      else f"{int(count)} events (< {MIN_POPULATION_EVENTS})")
            out.append(QcCheck("sample", target, str(population), "population_events", "warn", detail, d))
    return out


def qc_checks(store: Store) -> list[QcCheck]:
    """Return every QC check of the store's current view (active derivations, current samples)."""
    return [*_plate_checks(store), *_flow_checks(store)]


def qc_frame(store: Store) -> pd.DataFrame:
    """Return :func:`qc_checks` as a DataFrame (one row per check)."""
    checks = qc_checks(store)
    cols = list(QcCheck.__dataclass_fields__)
    return pd.DataFrame([c.to_dict() for c in checks], columns=cols)
