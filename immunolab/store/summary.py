"""Per patient x visit overview of what a store holds (``immunolab store info --per-visit``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from immunolab.store.read import Store

__all__ = ["per_visit_table", "render_grid"]

_KIND_LETTER = {"flow": "F", "cytokine": "C"}


def per_visit_table(store: Store) -> pd.DataFrame:
    """Return one row per patient: arm and, per visit day, the assay kinds measured (``F``, ``C``)."""
    import pandas as pd

    s = store.to_pandas("samples")
    if s.empty:
        return pd.DataFrame(columns=["patient_id", "arm"])
    s["letter"] = s["assay_kind"].map(lambda k: _KIND_LETTER.get(k, (k or "?")[:1].upper()))
    cells = (
        s.groupby(["patient_id", "arm", "visit_day"])["letter"]
        .agg(lambda x: "".join(sorted(set(x))))
        .unstack("visit_day")
        .fillna("")
    )
    cells.columns = [f"D{int(c)}" for c in cells.columns]
    return cells.reset_index().sort_values(["arm", "patient_id"]).reset_index(drop=True)


def render_grid(grid: pd.DataFrame) -> str:
    """Return the per-visit grid as aligned text with a legend."""
    if grid.empty:
        return "(no samples yet)"
    cols = list(grid.columns)
    widths = {c: max(len(str(c)), *(len(str(v)) for v in grid[c])) for c in cols}
    lines = ["  ".join(f"{c:<{widths[c]}}" for c in cols)]
    for _, row in grid.iterrows():
        lines.append("  ".join(f"{row[c]!s:<{widths[c]}}" for c in cols))
    visit_cols = [c for c in cols if c.startswith("D")]
    per_visit = {c: int((grid[c] != "").sum()) for c in visit_cols}
    footer = [str(per_visit[c]) if c in per_visit else ("n" if c == cols[0] else "") for c in cols]
    lines.append("  ".join(f"{v:<{widths[c]}}" for v, c in zip(footer, cols, strict=True)))
    lines.append("F = flow cytometry sample, C = cytokine plate sample; empty = no sample (missed visit or not yet ingested)")
    return "\n".join(lines)
