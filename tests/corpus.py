"""Walk every instrument file under the shared data and record how each one is read (corpus report).

Used by ``tests/test_corpus.py``; also runnable: ``python -m tests.corpus`` rewrites
``docs/corpus_report.md``. A file is *read* (FCS: events x channels; plates: wells, analytes,
the instrument's results), *refused* with a coded :class:`~immunolab.errors.InputError`, or
*not an instrument file* (documentation, expected tables, workspaces, panels). Nothing else
is allowed: any other exception is an ``internal`` outcome, which the test rejects.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from immunolab.errors import InputError

NOT_INSTRUMENT_SUFFIXES = {".md", ".txt~", ".npy", ".wsp", ".yml", ".yaml", ".pdf", ".json"}
NOT_INSTRUMENT_NAMES = ("EXPECTED_", "LICENSE", "README", "comp_complete_example")


@dataclass
class Outcome:
    """How one file was read: ``read`` / ``refused`` / ``not_instrument`` / ``internal``."""

    path: str
    kind: str
    status: str
    detail: str
    code: str | None = None
    instrument_median: float | None = None  # printed curve inverse vs the instrument's numbers
    instrument_n: int = 0
    refit: dict[str, float] = field(default_factory=dict)  # refit median / max vs instrument


def _skip(path: Path) -> bool:
    return (path.suffix.lower() in NOT_INSTRUMENT_SUFFIXES or path.name.startswith(NOT_INSTRUMENT_NAMES)
            or "labels" in path.parts or "truth" in path.parts or "flowjo_xforms" in path.parts
            or (path.suffix.lower() == ".xml" and "flowjo" in str(path).lower()))


def _read_fcs(path: Path, label: str) -> str:
    from immunolab.fcs.reader import read_fcs

    data = read_fcs(path, label=label)
    extra = f"; {len(data.warnings)} warning(s)" if data.warnings else ""
    return f"{data.n_events} events x {data.n_channels} channels (FCS {data.version}){extra}"


def read_plates(path: Path, plugin: str, label: str) -> list:  # type: ignore[type-arg]
    """Return the :class:`Plate` list the plugin's reader functions make of ``path``."""
    data = path.read_bytes()
    if plugin in ("luminex_xponent", "luminex_intelliflex"):
        from immunolab.io.sniff_luminex import luminex_format

        if luminex_format(data[: 64 * 1024]) == "intelliflex_flat":
            from immunolab_assays.luminex_intelliflex.flat import parse_intelliflex_flat_bytes

            return parse_intelliflex_flat_bytes(data, label=label)
        from immunolab_assays.luminex_xponent.reader import parse_xponent_bytes

        return parse_xponent_bytes(data, label=label)
    spreadsheet = data.startswith((b"\xd0\xcf\x11\xe0", b"PK\x03\x04"))
    if plugin == "bioplex":
        from immunolab_assays.bioplex.workbook import read_bioplex_workbook
        from immunolab_assays.bioplex.xml_export import read_bioplex_xml

        return read_bioplex_workbook(path, label) if spreadsheet else [read_bioplex_xml(path, label)]
    if plugin == "msd":
        from immunolab_assays.msd.methodical import read_reader_text
        from immunolab_assays.msd.workbench import read_workbench_csv, read_workbench_xlsx

        if spreadsheet:
            return read_workbench_xlsx(path, label)
        return read_reader_text(path, label) if b"==========Data" in data[:65536] else read_workbench_csv(path, label)
    raise ValueError(plugin)


def instrument_agreement(plates: list) -> tuple[float | None, int]:  # type: ignore[type-arg]
    """Return (median |printed-curve inverse x dilution - reported| / reported, n) over numeric results."""
    diffs: list[float] = []
    for plate in plates:
        for analyte, group in plate.wells.groupby("analyte"):
            curve = plate.instrument_curves.get(str(analyte))
            if curve is None or not curve.converged:
                continue
            ok = group["reported_conc"].notna() & group["net_mfi_reported"].notna() & (group["reported_conc"] != 0)
            if not ok.any():
                continue
            x, _c = curve.inverse(group.loc[ok, "net_mfi_reported"].to_numpy())
            conc = x * group.loc[ok, "dilution"].fillna(1.0).to_numpy()
            rel = np.abs(conc - group.loc[ok, "reported_conc"].to_numpy()) / np.abs(group.loc[ok, "reported_conc"].to_numpy())
            diffs.extend(float(d) if math.isfinite(d) else math.inf for d in rel)
    return (statistics.median(diffs), len(diffs)) if diffs else (None, 0)


#: the refit recipe that reproduces each vendor's software (``immunolab.cytokine.fit_recipes``)
VENDOR_RECIPES = {"bioplex": "bioplex", "msd": "msd"}


def refit_agreement(plates: list, plugin: str = "luminex_xponent") -> dict[str, float]:  # type: ignore[type-arg]
    """Return median / max |refit x dilution - reported| / reported of a refit of every analyte's standards.

    xPONENT: the model and weighting the instrument printed (5PL, 1/y^2). Bio-Plex: the
    ``bioplex`` recipe with the printed model (4PL / 5PL), standards flagged as outliers left out
    as Bio-Plex leaves them out. MSD: a 4PL with the ``msd`` recipe (Workbench prints no curve).
    """
    from immunolab.cytokine.curves import fit_standard_curve

    diffs: list[float] = []
    for plate in plates:
        for analyte, group in plate.wells.groupby("analyte"):
            printed = plate.instrument_curves.get(str(analyte))
            model = printed.model if printed is not None and printed.model in ("4PL", "5PL") else "4PL" if plugin == "msd" else "5PL"
            weighting = VENDOR_RECIPES.get(plugin) or (printed.weighting if printed is not None else "1/y^2")
            outlier = [("outlier" in plate.reader_flags.get((w, a), [])) for w, a in zip(group["well"], group["analyte_reported"], strict=True)]
            signal = group["net_mfi_reported"].where(group["net_mfi_reported"].notna(), group["median_mfi"])
            std = group["sample_type"].eq("standard") & group["expected_conc"].notna() & signal.notna() & ~np.array(outlier)
            ok = group["reported_conc"].notna() & signal.notna() & (group["reported_conc"] != 0)
            if std.sum() < 5 or not ok.any():
                continue
            try:
                curve = fit_standard_curve(group.loc[std, "expected_conc"], signal[std], model=model, weighting=weighting,
                                           raw_responses=group.loc[std, "median_mfi"])
            except (InputError, ValueError):
                continue
            x, _c = curve.inverse(signal[ok].to_numpy())
            conc = x * group.loc[ok, "dilution"].fillna(1.0).to_numpy()
            rel = np.abs(conc - group.loc[ok, "reported_conc"].to_numpy()) / np.abs(group.loc[ok, "reported_conc"].to_numpy())
            diffs.extend(float(d) if math.isfinite(d) else math.inf for d in rel)
    if not diffs:
        return {}
    return {"median": statistics.median(diffs), "max": max(diffs), "n": float(len(diffs))}


def outcome_of(path: Path, root: Path) -> Outcome:
    """Return how ``path`` is detected and read (never raises)."""
    from immunolab.plugins import get_registry

    rel = str(path.relative_to(root))
    label = path.name
    if _skip(path):
        return Outcome(rel, "-", "not_instrument", "documentation, expected results or analysis file")
    head = path.read_bytes()[: 64 * 1024]
    try:
        claims = get_registry().claims(head, path.name)
        if head.startswith(b"FCS"):
            kind = claims[0].plugin if len(claims) == 1 else "fcs"
            return Outcome(rel, kind, "read", _read_fcs(path, label))
        if not claims:
            return Outcome(rel, "-", "not_instrument", "no plugin claims it")
        if len(claims) > 1:
            return Outcome(rel, "+".join(c.plugin for c in claims), "refused", "several plugins claim it", "IML-IN-003")
        plugin = claims[0].plugin
        if plugin not in ("luminex_xponent", "luminex_intelliflex", "bioplex", "msd"):
            from immunolab.plugins import ParseContext

            parsed = get_registry().plugins[plugin].parse(path, ParseContext(label=label))
            rows = sum(t.num_rows for t in parsed.tables.values())
            return Outcome(rel, plugin, "read", f"{len(parsed.tables)} table(s), {rows} rows")
        plates = read_plates(path, plugin, label)
        n_wells = sum(int(p.wells["well"].nunique()) for p in plates)
        analytes = {a for p in plates for a in p.wells["analyte"]}
        n_res = sum(int(p.wells["reported_conc"].notna().sum()) for p in plates)
        layouts = sorted({p.layout for p in plates if p.layout})
        warns = sum(len(p.warnings) for p in plates)
        detail = (f"{len(plates)} plate(s), {n_wells} wells, {len(analytes)} analytes, {n_res} instrument results"
                  f"{', layout ' + '+'.join(layouts) if layouts else ''}{f', {warns} warning(s)' if warns else ''}")
        med, n = instrument_agreement(plates)
        refit = refit_agreement(plates, plugin) if n_res else {}
        return Outcome(rel, plugin, "read", detail, instrument_median=med, instrument_n=n, refit=refit)
    except InputError as exc:
        return Outcome(rel, "?", "refused", exc.message[:140], exc.code)
    except Exception as exc:  # the property under test: never an internal error
        return Outcome(rel, "?", "internal", f"{type(exc).__name__}: {exc}"[:200])


def corpus(root: Path) -> list[Outcome]:
    """Return the outcome of every file under ``root/flow``, ``root/cytokine`` and ``root/beads``."""
    files = sorted(p for sub in ("flow", "cytokine", "beads") for p in (root / sub).rglob("*") if p.is_file())
    return [outcome_of(p, root) for p in files]


def _pct(v: float | None) -> str:
    return "" if v is None else ("inf" if math.isinf(v) else f"{100 * v:.3g} %")


def write_report(outcomes: list[Outcome], out: Path) -> None:
    """Write the corpus report (Markdown, PHI-free: relative paths of public fixture files)."""
    counts = {s: sum(o.status == s for o in outcomes) for s in ("read", "refused", "not_instrument", "internal")}
    lines = [
        "# Corpus report: every shared instrument file and how immunolab reads it",
        "",
        "Generated by `tests/test_corpus.py` (or `python -m tests.corpus`) from `IMMUNOLAB_SHARED_DATA`.",
        "*instrument vs printed curve*: median relative difference between the instrument's own results and",
        "the inverse of the curve it printed at the reported net signal x dilution (facts read consistently).",
        "*refit*: median / max relative difference of immunolab's refit against the instrument's results, with the",
        "recipe that reproduces the vendor's fit: xPONENT its printed model and weighting (5PL, 1/y^2); Bio-Plex",
        "the `bioplex` recipe with the printed model; MSD a 4PL with the `msd` recipe (`docs/readers.md`).",
        "",
        f"Totals: {counts['read']} read, {counts['refused']} refused with a code, {counts['not_instrument']} not instrument "
        f"files, {counts['internal']} internal errors.",
        "",
        "| file | plugin | outcome | code | detail | instrument vs printed curve | refit median | refit max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        if o.status == "not_instrument":
            continue
        lines.append(
            f"| `{o.path}` | {o.kind} | {o.status} | {o.code or ''} | {o.detail.replace('|', '/')} | "
            f"{_pct(o.instrument_median)} | {_pct(o.refit.get('median'))} | {_pct(o.refit.get('max'))} |"
        )
    skipped = [o.path for o in outcomes if o.status == "not_instrument"]
    lines += ["", f"Not instrument files ({len(skipped)}): documentation, EXPECTED tables, licences, FlowJo "
              "workspaces, labels, truth arrays, panels.", ""]
    out.write_text("\n".join(lines))


if __name__ == "__main__":
    import os

    root = Path(os.environ.get("IMMUNOLAB_SHARED_DATA", "../shared/data"))
    write_report(corpus(root), Path(__file__).resolve().parents[1] / "docs" / "corpus_report.md")
