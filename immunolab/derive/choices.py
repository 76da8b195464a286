"""Which derivation is active: recorded decisions, and the defaults where none was made.

* gating, per panel: the strategy chosen with ``immunolab derive gating --activate`` or
  ``immunolab derive activate gating``; without a decision, each file's ingest-time gating.
* curves, per plate (or ``*`` for every plate): the refit chosen with ``immunolab derive curves
  --activate``; without a decision, the instrument's own results where the export has them,
  otherwise the plate's first refit (made at ingest; for a bead-array run, its first fit).

Decisions are rows of ``derivation_choices`` (who, when, why); the latest per (kind, scope) is
current, so switching back is one more decision and the history stays readable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from immunolab.derive.curves import INSTRUMENT

if TYPE_CHECKING:
    from immunolab.store.read import Store

__all__ = ["active_curves", "active_gating", "choice_table", "panel_of_files", "rows_with_keys"]


def choice_table(store: Store) -> pd.DataFrame:
    """Return the current decisions (kind, scope, derivation_id, reason, user, recorded_at)."""
    return store.to_pandas("derivation_choices")


def panel_of_files(files: pd.DataFrame) -> dict[str, str | None]:
    """Return source_sha256 -> panel of ``samples`` rows of whole files (the ``panel_of`` of :func:`active_gating`).

    Both columns are strings in the schema (``panel`` nullable), which ``Series.to_dict`` cannot say.
    """
    return cast("dict[str, str | None]", files.set_index("source_sha256")["panel"].to_dict())


def rows_with_keys(frame: pd.DataFrame, columns: list[str], keys: set[tuple[Any, ...]]) -> pd.DataFrame:
    """Return the rows of ``frame`` whose values in ``columns`` form one of ``keys``, with every column.

    A boolean list as the index would select no *columns* when the frame is empty (a store whose
    every gating failed), so the mask is a Series on the frame's index.
    """
    mask = [k in keys for k in zip(*(frame[c] for c in columns), strict=True)]
    return frame[pd.Series(mask, index=frame.index, dtype=bool)]


def _decided(store: Store, kind: str) -> dict[str, str]:
    c = choice_table(store)
    c = c[c["kind"] == kind]
    return dict(zip(c["scope"], c["derivation_id"], strict=True))


def active_gating(store: Store, gating: pd.DataFrame, panel_of: dict[str, str | None]) -> pd.DataFrame:
    """Return the ``flow_gating`` rows of the active derivation of each source.

    ``gating`` holds every committed ``flow_gating`` row; ``panel_of`` maps source -> panel. The
    result has a ``panel`` column, also when there is no row (no file gated successfully).
    """
    if gating.empty:
        return gating.assign(panel=pd.Series(index=gating.index, dtype=object))
    decided = _decided(store, "gating")
    ingest_of = store.to_pandas("sources", columns=["source_sha256", "ingest_id"]).set_index("source_sha256")["ingest_id"]
    g = gating.copy()
    g["panel"] = g["source_sha256"].map(panel_of)
    g["chosen"] = g["panel"].map(lambda p: decided.get(p) if p is not None else None)
    g["chosen"] = g["chosen"].where(g["chosen"].notna(), g["panel"].map(lambda _p: decided.get("*")))
    at_ingest = g["commit_id"] == g["source_sha256"].map(ingest_of)
    keep = (g["derivation_id"] == g["chosen"]) | (g["chosen"].isna() & at_ingest)
    g = g[keep].drop(columns=["chosen"])
    # one gating per file and derivation: a file parsed again (a corrected Day 0) is gated again with the
    # active derivation, and only that latest commit counts (the earlier one would count the tube twice)
    version = g["commit_id"].map(store.commit_version).fillna(0)
    return g[version == version.groupby([g["source_sha256"], g["derivation_id"]]).transform("max")]


def active_curves(store: Store, results: pd.DataFrame) -> pd.DataFrame:
    """Return the ``cytokine_results`` rows of the active derivation of each plate."""
    if results.empty:
        return results
    decided = _decided(store, "curves")
    ingest_of = store.to_pandas("sources", columns=["source_sha256", "ingest_id"]).set_index("source_sha256")["ingest_id"]
    r = results.copy()
    # a derivation computed again for a plate (a bead run re-fitted with more wells) replaces the older rows
    version = r["commit_id"].map(store.commit_version).fillna(0)
    latest = version.groupby([r["plate_id"], r["derivation_id"]]).transform("max")
    r = r[version == latest]
    available: dict[str, set[str]] = {str(plate): set(ids) for plate, ids in r.groupby("plate_id")["derivation_id"]}
    refits = r[r["derivation_id"] != INSTRUMENT].assign(_v=r["commit_id"].map(store.commit_version).fillna(0))
    # the first refit of a plate (at ingest, or a run's first fit) is its default when the export has no results
    ingest_refit = refits.sort_values("_v", kind="stable").groupby("plate_id")["derivation_id"].first().to_dict()
    del ingest_of

    def pick(plate: str) -> str | None:
        have = available.get(plate, set())
        for scope in (plate, "*"):
            want = decided.get(scope)
            if want is not None and want in have:
                return want
        if INSTRUMENT in have:
            return INSTRUMENT
        return ingest_refit.get(plate) or (sorted(have)[0] if have else None)

    chosen = {p: pick(p) for p in available}
    return r[r["derivation_id"] == r["plate_id"].map(chosen)]
