"""A tiny third-party-style assay plugin that exercises ingest and the store apart from real formats.

A toy file is text: the first line ``TOYASSAY v1``, then ``population,count`` lines. A line
``BOOM`` makes the parser raise an unexpected exception (a plugin bug); ``BAD`` raises a coded
MalformedInputError; ``PLATE`` lines (``PLATE,<sample name>,<well>,<pg/mL>``) become plate wells
carrying the instrument's own concentration (facts), which the core's ``instrument``
derivation turns into results. The populations go to the plugin's *own* fact table
``toy_counts``, declared with its measurement mapping, so the core needs no edit for it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from immunolab.errors import MalformedInputError
from immunolab.plugins import Detection, ParseContext, ParsedAssay, PluginOption
from immunolab.schema import MeasureMap, fact_table_spec

MAGIC = b"TOYASSAY v1"

TOY_COUNTS = fact_table_spec(
    "toy_counts",
    [pa.field("population", pa.string()), pa.field("count", pa.int64())],
    "Toy populations and their event counts.",
    key=("population",),
    measure=MeasureMap(assay="toy", feature="population", measures={"count": ("count", "events")}),
)


class ToyPlugin:
    name = "toy"
    version = "0.0.1"
    assay_kind = "flow"
    file_extensions = (".toy",)
    produces = ("toy_counts", "cytokine_plates", "cytokine_wells")
    tables = (TOY_COUNTS,)
    options = (PluginOption("toy_scale", "int", "Multiply every toy count by this factor."),)

    def detect(self, head: bytes, filename: str) -> Detection | None:
        return Detection(self.name, "toy v1") if head.startswith(MAGIC) else None

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay:
        lines = path.read_text().splitlines()[1:]
        scale = int(ctx.option("toy_scale") or 1)
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
            counts.append(int(count) * scale)
        tables: dict[str, pa.Table] = {}
        if pops:
            tables["toy_counts"] = pa.table({"population": pops, "count": pa.array(counts, pa.int64())})
        if plate:
            pid = f"{ctx.source_sha256[:16]}-p1"
            tables["cytokine_plates"] = pa.table({"plate_id": [pid], "plate_index": pa.array([1], pa.int32()),
                                                  "n_wells": pa.array([len(plate)], pa.int32()),
                                                  "quantitative": [True]})
            tables["cytokine_wells"] = pa.table({
                "plate_id": [pid] * len(plate),
                "well": [w for _, w, _ in plate],
                "sample_type": ["unknown"] * len(plate),
                "analyte": ["IL-6"] * len(plate),
                "analyte_reported": ["IL-6"] * len(plate),
                "median_mfi": [v * 10 for _, _, v in plate],
                "reported_conc": [v for _, _, v in plate],
                "reported_conc_text": [str(v) for _, _, v in plate],
                "_sample_ref": [r for r, _, _ in plate],
            })
        return ParsedAssay(tables, n_events=sum(counts))
