"""A tiny assay plugin used to exercise ingest and the store independently of real formats.

A toy file is text: the first line ``TOYASSAY v1``, then ``population,count`` lines. A line
``BOOM`` makes the parser raise an unexpected exception (a plugin bug); ``BAD`` raises a coded
MalformedInputError; ``PLATE`` lines (``PLATE,<sample name>,<well>,<value>``) produce
cytokine rows carrying a private ``_sample_ref``.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from immunolab.errors import MalformedInputError
from immunolab.plugins import Detection, ParseContext, ParsedAssay

MAGIC = b"TOYASSAY v1"


class ToyPlugin:
    name = "toy"
    version = "0.0.1"
    assay_kind = "flow"
    file_extensions = (".toy",)
    produces = ("flow_populations", "cytokine_wells", "cytokine_results")

    def detect(self, head: bytes, filename: str) -> Detection | None:
        return Detection(self.name, "toy v1") if head.startswith(MAGIC) else None

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay:
        lines = path.read_text().splitlines()[1:]
        pops, counts, plate = [], [], []
        for ln in lines:
            if ln == "BOOM":
                raise ZeroDivisionError("toy bug")
            if ln == "BAD":
                raise MalformedInputError("IML-FCS-004", "toy file has a BAD line", path=ctx.label, hint="Remove it.")
            if ln.startswith("PLATE,"):
                _, ref, well, value = ln.split(",")
                plate.append((ref, well, float(value)))
                continue
            name, count = ln.split(",")
            pops.append(name)
            counts.append(int(count))
        tables: dict[str, pa.Table] = {}
        if pops:
            total = max(counts)
            tables["flow_populations"] = pa.table({
                "strategy_id": ["toy"] * len(pops),
                "strategy_name": ["toy"] * len(pops),
                "gate_path": ["/" + p for p in pops],
                "population": pops,
                "parent": ["/"] * len(pops),
                "count": counts,
                "parent_count": [total] * len(pops),
                "total_count": [total] * len(pops),
                "pct_parent": [100.0 * c / total for c in counts],
                "pct_total": [100.0 * c / total for c in counts],
            })
        if plate:
            tables["cytokine_wells"] = pa.table({
                "plate_id": ["toyplate"] * len(plate),
                "well": [w for _, w, _ in plate],
                "sample_type": ["unknown"] * len(plate),
                "analyte": ["IL-6"] * len(plate),
                "median_mfi": [v for _, _, v in plate],
                "_sample_ref": [r for r, _, _ in plate],
            })
            tables["cytokine_results"] = pa.table({
                "plate_id": ["toyplate"] * len(plate),
                "analyte": ["IL-6"] * len(plate),
                "fit_id": ["fit"] * len(plate),
                "concentration": [v for _, _, v in plate],
                "unit": ["pg/mL"] * len(plate),
                "censor": ["none"] * len(plate),
                "_sample_ref": [r for r, _, _ in plate],
            })
        return ParsedAssay(tables, n_events=sum(counts))
