"""Per patient x visit overview of what a store holds (``immunolab store info --per-visit``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from immunolab.store.read import Store

__all__ = ["flow_qc_rows", "per_visit_table", "plate_qc_rows", "render_grid"]

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


def plate_qc_rows(store: Store) -> list[dict[str, Any]]:
    """Return one PHI-free QC summary per committed plate (status, curves, flags)."""
    import json

    import pandas as pd

    plates = store.to_pandas("cytokine_plates")
    out = []
    for row in plates.sort_values(["run_study_day", "plate_id"], na_position="last").to_dict(orient="records"):
        qc = json.loads(row["qc_json"]) if isinstance(row["qc_json"], str) and row["qc_json"] else {}
        analytes = []
        for name, a in sorted((qc.get("analytes") or {}).items()):
            curve = a.get("curve") or {}
            analytes.append({
                "analyte": name,
                "r_squared": float(curve.get("r_squared") or float("nan")),
                "lloq": float(curve.get("lloq") or float("nan")),
                "uloq": float(curve.get("uloq") or float("nan")),
                "flags": list(a.get("flags") or []),
            })
        out.append({
            "plate": row["sample_id"] if isinstance(row["sample_id"], str) and row["sample_id"] else row["plate_id"],
            "plate_id": row["plate_id"],
            "status": row["qc_status"] or "?",
            "instrument": row["instrument"],
            "run_study_day": None if pd.isna(row["run_study_day"]) else int(row["run_study_day"]),
            "n_analytes": 0 if pd.isna(row["n_analytes"]) else int(row["n_analytes"]),
            "n_wells": 0 if pd.isna(row["n_wells"]) else int(row["n_wells"]),
            "analytes": analytes,
        })
    return out


def flow_qc_rows(store: Store, *, min_events: int = 10_000, min_lymph_pct: float = 5.0) -> list[dict[str, Any]]:
    """Return one QC row per gated flow sample: events, lymphocyte share, flags."""
    pops = store.to_pandas("flow_populations")
    if pops.empty:
        return []
    out = []
    for (sample_id, strategy), g in pops.groupby(["sample_id", "strategy_id"], sort=True):
        total = int(g["total_count"].max())
        lymph = g[g["population"].str.casefold() == "lymphocytes"]
        pct = float(lymph["pct_total"].iloc[0]) if len(lymph) else float("nan")
        flags = []
        if total < min_events:
            flags.append(f"fewer than {min_events:,} events")
        if pct == pct and pct < min_lymph_pct:
            flags.append(f"lymphocytes below {min_lymph_pct:g} % of events")
        empty = sorted(g.loc[g["count"] == 0, "population"])
        if empty:
            flags.append("empty populations: " + ", ".join(empty))
        out.append({"sample_id": sample_id, "strategy_id": strategy, "n_events": total,
                    "pct_lymphocytes_of_total": pct, "flags": flags})
    return out
