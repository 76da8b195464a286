"""Re-gate a panel's stored FCS files to show how each sample was gated (gate positions and QC flags).

Gate thresholds and the template's per-gate decisions (``found``, ``not_needed``, ``tail``...)
are not stored, so the report recomputes them: every current file of a panel whose active gating
is a data-driven template is read from the raw vault and gated again with the stored strategy
(:func:`immunolab.flow.template.apply_template`, the same call ingest makes). Each re-gated file
is checked against the stored counts of its active derivation (``reproduced``); a file whose
counts differ is named, because its figure would not show what the analysis used.

A sample is *flagged* when its stored gating carries a QC flag (``low_event_count``,
``low_total_events``, ``too_few_events``, ``uncompensated``), its re-gating raises a template flag (a gate that had to fall back), or
its gate positions stand out from the panel's other samples
(:func:`immunolab.flow.gate_plot.gate_outliers`). Samples are named ``patient|Dday``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from immunolab.flow.gate_plot import GateOutlier
    from immunolab.flow.template import GatingRun, Template
    from immunolab.report.naming import Naming
    from immunolab.store.read import Store

__all__ = ["FIGURE_POINTS", "PanelGating", "SampleGating", "flagged_figures", "gates_figure", "panel_gating", "regate"]

#: compensation sources that re-gating from the vault reproduces (a separate matrix file is not stored)
REPRODUCIBLE_COMPENSATION = ("file spillover keyword", "none", None)
#: events drawn per panel of a flagged sample's figure (a random subset of the parent; enough to judge a gate)
FIGURE_POINTS = 4000
#: resolution of a flagged sample's figure (dots per inch)
FIGURE_DPI = 70

T = TypeVar("T")


@dataclass
class SampleGating:
    """One file of a panel: its name, stored and re-gating flags, whether re-gating reproduced the counts."""

    label: str
    sha: str
    flags: list[str] = field(default_factory=list)
    reproduced: bool | None = None
    not_regated: str = ""  # why the file could not be re-gated (then no thresholds and no figure)
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    job: tuple[str, int | None, tuple[str, ...]] | None = None  # raw path, data set index, tolerances


@dataclass
class PanelGating:
    """The re-gating of one panel: strategy, samples, outliers, and what could not be done."""

    panel: str
    strategy_name: str
    kind: str
    template: Template | None
    definition: tuple[str, str] | None = None  # the template's stored JSON and name (for worker processes)
    samples: list[SampleGating] = field(default_factory=list)
    outliers: list[GateOutlier] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def thresholds(self) -> dict[str, dict[str, dict[str, float]]]:
        """Return sample label -> gate path -> channel -> threshold (display scale)."""
        return {s.label: s.thresholds for s in self.samples if s.thresholds}

    def flagged(self) -> list[SampleGating]:
        """Return the flagged samples (own flags or a gate outlier), most flags first."""
        out_of = {o.sample for o in self.outliers}
        hits = [s for s in self.samples if s.flags or s.label in out_of]
        return sorted(hits, key=lambda s: (-(len(s.flags) + (s.label in out_of)), s.label))


Job = tuple[str, int | None, tuple[str, ...]]  # raw path, data set index, reader tolerances


def _read(job: Job, label: str) -> Any:
    from immunolab.fcs.reader import read_fcs

    raw, dataset, tolerances = job
    return read_fcs(raw, label=label, dataset=dataset,
                    accept_offset_error=any(t.startswith("accept_offset_error") for t in tolerances),
                    accept_tot_mismatch=any(t.startswith("accept_tot_mismatch") for t in tolerances))


def regate(job: Job, template: Template, label: str) -> tuple[Any, GatingRun]:
    """Return (the FCS data, the template's gating run) of one stored file (as ingest gated it)."""
    from immunolab.flow.pipeline import spillover_for
    from immunolab.flow.template import apply_template

    fcs = _read(job, label)
    spill, _source = spillover_for(fcs, None)
    return fcs, apply_template(fcs.events, fcs.channels, spill, template, label=label, preprocess=fcs.preprocess_block)


@functools.lru_cache(maxsize=4)
def _template(definition_json: str, name: str) -> Template:
    from immunolab.derive.gating import spec_from_definition

    tpl = spec_from_definition("template", definition_json, name).loaded.template
    assert tpl is not None
    return tpl


def _regate_worker(args: tuple[str, str, Job, str, str]) -> tuple[str, dict[str, Any]]:
    """Worker: re-gate one file; return (sha, thresholds / status / flags / counts, or the error code)."""
    from immunolab.errors import ImmunolabError

    sha, label, job, definition_json, name = args
    try:
        _fcs, run = regate(job, _template(definition_json, name), label)
    except ImmunolabError as exc:
        return sha, {"error": exc.code}
    return sha, {"thresholds": {p: dict(t) for p, t in run.thresholds.items() if t}, "status": dict(run.status),
                 "flags": list(run.flags), "counts": {p: int(m.sum()) for p, m in run.masks.items()}}


def _map(func: Callable[[Any], T], args: list[Any], jobs: int) -> Iterator[T]:
    """Yield ``func`` of each argument in order, in ``jobs`` worker processes when more than one."""
    if jobs <= 1 or len(args) <= 1:
        yield from map(func, args)
        return
    from immunolab.workers import process_pool

    with process_pool(min(jobs, len(args))) as pool:
        yield from pool.map(func, args, chunksize=max(1, len(args) // (4 * jobs)))


def _stored_flags(pops: pd.DataFrame, gating_flags: list[str], n_events: Any) -> list[str]:
    """Return one line per population flag, and one per flag of the whole file (few events, uncompensated)."""
    from immunolab.flow.pipeline import UNCOMPENSATED_FLAG
    from immunolab.flow.template_rules import NOT_GATED

    per_file = ("low_total_events", UNCOMPENSATED_FLAG)
    out: list[str] = []
    for rec in pops.to_dict("records"):
        flags = list(rec["qc_flags"]) if rec["qc_flags"] is not None else []
        if NOT_GATED in flags:  # its 0 events say nothing: the gate was not applied
            out.append(f"{rec['population']}: not gated (too few events in its parent)")
            continue
        out += [f"{rec['population']}: {f} ({int(rec['count'])} events)" for f in flags if f not in per_file]
    if "low_total_events" in gating_flags:
        out.append(f"low_total_events ({int(n_events):,} events)")
    if UNCOMPENSATED_FLAG in gating_flags:
        out.append(f"{UNCOMPENSATED_FLAG} (no spillover matrix: fluorescence gated without compensation)")
    return out


def _files(store: Store) -> pd.DataFrame:
    """Return the current FCS files with their active gating row, strategy and read options."""
    from immunolab.derive.choices import active_gating
    from immunolab.report.context import panel_of_files

    smp = store.to_pandas("samples")
    files = smp[(smp["sample_key"] == "") & (smp["assay_kind"] == "flow") & smp["patient_id"].notna()]
    gating = store.to_pandas("flow_gating")
    if files.empty or gating.empty:
        return pd.DataFrame()
    act = active_gating(store, gating[gating["status"] == "ok"], panel_of_files(files))
    fcs = store.to_pandas("fcs_files", columns=["source_sha256", "dataset_index", "tolerances"])
    out = files[["source_sha256", "sample_id", "panel"]].merge(act.drop(columns=["panel"]), on="source_sha256")
    return out.merge(fcs.drop_duplicates("source_sha256"), on="source_sha256", how="left")


def _job(store: Store, rec: dict[str, Any]) -> Job:
    from immunolab.store.raw import open_raw

    ds = rec.get("dataset_index")
    tol = rec.get("tolerances")
    return (str(open_raw(store.loc, rec["source_sha256"])), None if ds is None or ds != ds else int(ds),
            tuple(tol) if tol is not None else ())


def _apply(s: SampleGating, res: dict[str, Any], stored: dict[str, int]) -> None:
    """Record a worker's re-gating of ``s``: thresholds, template flags, whether the stored counts are reproduced."""
    if "error" in res:
        s.not_regated = str(res["error"])
        s.job = None
        return
    s.thresholds = res["thresholds"]
    from immunolab.flow.template_rules import NOT_GATED

    # a gate not applied is named by the stored flags already ("not gated"): once is enough
    s.flags += [f"{path.rsplit('/', 1)[-1]}: {res['status'].get(path, '')}" for path in res["flags"]
                if res["status"].get(path) != NOT_GATED]
    s.reproduced = all(res["counts"].get(p) == int(c) for p, c in stored.items())


def panel_gating(store: Store, panel: str, naming: Naming, *, regate_files: bool = True, jobs: int = 1) -> PanelGating:
    """Return the gating QC of ``panel`` (see the module doc); ``regate_files=False`` uses stored flags only."""
    from immunolab.derive.choices import rows_with_keys
    from immunolab.errors import ImmunolabError
    from immunolab.flow.gate_plot import gate_outliers

    files = _files(store)
    files = files[files["panel"] == panel] if not files.empty else files
    strategies = store.to_pandas("flow_strategies").drop_duplicates("strategy_id").set_index("strategy_id")
    sid = files["strategy_id"].mode().iloc[0] if len(files) else None
    if sid is None or sid not in strategies.index:
        return PanelGating(panel, "", "", None, problems=["no active gating with a stored strategy"])
    st = strategies.loc[sid]
    definition = (str(st["definition_json"]), str(st["strategy_name"]))
    template, problem = None, ""
    if st["kind"] == "template" and regate_files:
        try:
            template = _template(*definition)
        except ImmunolabError as exc:
            problem = f"the stored strategy cannot be rebuilt to re-gate the files: {exc.code} {exc.message}"
    out = PanelGating(panel, str(st["strategy_name"]), str(st["kind"]), template,
                      definition if template is not None else None, problems=[problem] if problem else [])
    if st["kind"] != "template":
        out.problems.append(f"{st['kind']} strategies have fixed gates: there are no per-sample positions to overlay")
    pops = store.to_pandas("flow_populations", columns=["commit_id", "source_sha256", "derivation_id", "gate_path",
                                                         "population", "count", "qc_flags"])
    keep = set(zip(files["source_sha256"], files["derivation_id"], files["commit_id"], strict=True))
    pops = rows_with_keys(pops, ["source_sha256", "derivation_id", "commit_id"], keep)
    by_source = dict(list(pops.groupby("source_sha256")))
    todo: list[tuple[str, str, Job, str, str]] = []
    records: list[dict[str, Any]] = files.sort_values(["sample_id"]).to_dict("records")  # type: ignore[assignment]
    for rec in records:
        mine = by_source.get(rec["source_sha256"], pops.iloc[0:0])
        flags = list(rec["qc_flags"]) if rec.get("qc_flags") is not None else []
        s = SampleGating(naming.of_source(rec["source_sha256"]), rec["source_sha256"],
                         _stored_flags(mine, flags, rec.get("n_events")))
        out.samples.append(s)
        if template is None or rec["strategy_id"] != sid:
            continue
        if rec.get("compensation") not in REPRODUCIBLE_COMPENSATION:
            s.not_regated = "compensated with a separate matrix file (not stored)"
            continue
        try:
            s.job = _job(store, rec)
        except ImmunolabError as exc:
            s.not_regated = f"{exc.code} " + re.sub(r"[0-9a-f]{64}", "<file>", exc.message)
            continue
        todo.append((s.sha, s.label, s.job, *definition))
    by_sha = {s.sha: s for s in out.samples}
    for sha, res in _map(_regate_worker, todo, jobs):
        mine = by_source.get(sha, pops.iloc[0:0])
        _apply(by_sha[sha], res, dict(zip(mine["gate_path"], mine["count"], strict=True)))
    skipped = pd.Series([s.not_regated for s in out.samples if s.not_regated], dtype=object)
    for why, n in skipped.value_counts().items():
        out.problems.append(f"{n} file(s) could not be re-gated: {naming.scrub(why)}")
    not_same = [s.label for s in out.samples if s.reproduced is False]
    if not_same:
        out.problems.append(f"re-gating did not reproduce the stored counts of {len(not_same)} file(s) "
                            f"({', '.join(not_same[:8])}): their figures may differ from what the analysis used")
    out.outliers = gate_outliers(out.thresholds)
    return out


def _title(panel: PanelGating, sample: SampleGating) -> str:
    why = "; ".join(sample.flags[:3]) + (" ..." if len(sample.flags) > 3 else "")
    outl = [o for o in panel.outliers if o.sample == sample.label]
    if outl:
        why = (why + "; " if why else "") + ", ".join(f"{o.gate_path.rsplit('/', 1)[-1]} {o.channel} outlier "
                                                      f"(z {o.robust_z:+.1f})" for o in outl[:3])
    return f"{sample.label} ({panel.panel}): {why}" if why else sample.label


def gates_figure(job: Job, template: Template, label: str, title: str) -> Figure:
    """Return every gate of one stored file (re-gated): parent events on each gate's channels."""
    from immunolab.flow.gate_plot import template_gates_figure
    from immunolab.flow.pipeline import spillover_for
    from immunolab.flow.template import display_values
    from immunolab.report.plots import fixed_layout

    fcs, run = regate(job, template, label)
    spill, _src = spillover_for(fcs, None)
    names = sorted({c for p in template.populations for c in p.channels})
    values = display_values(fcs.events, fcs.channels, spill, template, names, label=label,
                            preprocess=fcs.preprocess_block)
    fig = template_gates_figure(run, template, {k: np.asarray(v) for k, v in values.items()}, title=title,
                                max_points=FIGURE_POINTS)
    return fixed_layout(fig, left=0.05, right=0.99, bottom=0.07, top=0.9, wspace=0.3, hspace=0.55)


def _figure_worker(args: tuple[Job, str, str, str, str]) -> str:
    """Worker: draw one sample's gates and return the PNG as a data URI."""
    from immunolab.report.fmt import png_data_uri

    job, definition_json, name, label, title = args
    return png_data_uri(gates_figure(job, _template(definition_json, name), label, title), dpi=FIGURE_DPI)


def flagged_figures(panel: PanelGating, samples: list[SampleGating], *, jobs: int = 1) -> list[tuple[SampleGating, str]]:
    """Return (sample, PNG data URI of every gate) for the ``samples`` that can be re-gated, in order."""
    if panel.definition is None:
        return []
    todo = [s for s in samples if s.job is not None]
    args = [(s.job, *panel.definition, s.label, _title(panel, s)) for s in todo if s.job is not None]
    return list(zip(todo, _map(_figure_worker, args, jobs), strict=True))
