"""Which derivations a store holds per panel and plate, and which one is active (``derive list``)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import pandas as pd

    from immunolab.store.read import Store

__all__ = ["NO_CURRENT_FILE", "derivation_rows"]

#: the scope of gatings whose files are no longer current (superseded, or no manifest row since)
NO_CURRENT_FILE = "(no current file)"


def derivation_rows(store: Store) -> list[dict[str, Any]]:
    """Return one row per (kind, scope, derivation): what it is, files/plates covered, active or not."""
    from immunolab.derive import choices
    from immunolab.derive.views import plate_codes, retired_sources

    out: list[dict[str, Any]] = []
    decided = choices.choice_table(store)
    reasons: dict[tuple[Hashable, Hashable, Hashable], Any] = {
        (r.kind, r.scope, r.derivation_id): r.reason for r in decided.itertuples(index=False)}
    smp = store.to_pandas("samples")
    files = smp[smp["sample_key"] == ""]
    panel_of = choices.panel_of_files(files)
    gating = store.to_pandas("flow_gating")
    if not gating.empty:
        ok = gating[gating["status"] == "ok"]
        active = choices.active_gating(store, ok, panel_of)
        active_keys = set(zip(active["panel"], active["derivation_id"], strict=True))
        strategies = store.to_pandas("flow_strategies").drop_duplicates("derivation_id").set_index("derivation_id")
        ok = ok.assign(panel=ok["source_sha256"].map(panel_of))
        for key, g in ok.groupby(["panel", "derivation_id"], dropna=False):
            # a source with no current file row has a missing panel (kept: dropna=False)
            panel, did = cast("tuple[Hashable, str]", key)
            if not isinstance(panel, str):  # printed `nan`: the gating of files superseded since
                panel = NO_CURRENT_FILE
            what = f"{strategies.loc[did, 'kind']} {strategies.loc[did, 'strategy_name']}" if did in strategies.index else ""
            out.append({"kind": "gating", "scope": panel, "derivation_id": did, "what": what,
                        "n": int(g["source_sha256"].nunique()), "active": (panel, did) in active_keys,
                        "reason": reasons.get(("gating", panel, did))})
        out += _failed_gating_rows(gating, panel_of, set(ok["source_sha256"]))
    results = store.to_pandas("plate_qc", columns=["commit_id", "source_sha256", "plate_id", "derivation_id"])
    results = results[~results["source_sha256"].isin(retired_sources(store))]  # a superseded plate is no scope
    if not results.empty:
        active = choices.active_curves(store, results)
        active_keys = set(zip(active["plate_id"], active["derivation_id"], strict=True))
        codes = plate_codes(store)
        kinds = store.to_pandas("cytokine_derivations").drop_duplicates("derivation_id").set_index("derivation_id")
        for key, _g in results.groupby(["plate_id", "derivation_id"]):
            pid, did = cast("tuple[str, str]", key)
            out.append({"kind": "curves", "scope": codes.get(pid, pid), "derivation_id": did,
                        "what": str(kinds.loc[did, "kind"]) if did in kinds.index else "", "n": 1,
                        "active": (pid, did) in active_keys,
                        "reason": reasons.get(("curves", pid, did)) or reasons.get(("curves", "*", did))})
    out += _cluster_rows(store)
    return sorted(out, key=lambda r: (r["kind"], str(r["scope"]), not r["active"], r["derivation_id"]))


def _failed_gating_rows(gating: pd.DataFrame, panel_of: dict[str, str | None], gated: set[str]) -> list[dict[str, Any]]:
    """Return one row per panel and derivation of the files whose gating failed and that no gating succeeded for."""
    failed = gating[(gating["status"] != "ok") & ~gating["source_sha256"].isin(gated)]
    failed = failed.assign(panel=failed["source_sha256"].map(panel_of))
    out = []
    for key, g in failed.groupby(["panel", "derivation_id"], dropna=False):
        panel, did = cast("tuple[Hashable, str]", key)
        codes = ", ".join(sorted(set(g["error_code"].dropna().astype(str))))
        out.append({"kind": "gating", "scope": panel if isinstance(panel, str) else NO_CURRENT_FILE,
                    "derivation_id": did, "what": f"gating FAILED ({codes or 'no code'})",
                    "n": int(g["source_sha256"].nunique()), "active": False, "reason": None})
    return out


def _cluster_rows(store: Store) -> list[dict[str, Any]]:
    """Return one row per panel and FlowSOM clustering (``derive clusters``); the latest of a panel is active."""
    clusters = store.to_pandas("flow_clusters", columns=["commit_id", "source_sha256", "derivation_id", "panel",
                                                         "metacluster"])
    if clusters.empty:
        return []
    version = clusters["commit_id"].map(store.commit_version).fillna(0)
    clusters = clusters.assign(_v=version)
    latest = clusters.groupby("panel")["_v"].max()
    reason_of = {r.store_version: r.reason for r in store.versions()}
    agreement = store.to_pandas("flow_cluster_agreement", columns=["derivation_id", "mean_f"])
    mean_f = agreement.drop_duplicates("derivation_id").set_index("derivation_id")["mean_f"]
    out = []
    for key, g in clusters.groupby(["panel", "derivation_id"]):
        panel, did = cast("tuple[str, str]", key)
        f = f", mean F {float(mean_f[did]):.2f}" if did in mean_f.index else ""
        out.append({"kind": "clusters", "scope": panel, "derivation_id": did,
                    "what": f"FlowSOM {int(g['metacluster'].nunique())} metaclusters{f}",
                    "n": int(g["source_sha256"].nunique()), "active": bool(g["_v"].max() == latest[panel]),
                    "reason": reason_of.get(int(g["_v"].max()))})
    return out
