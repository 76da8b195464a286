"""Write the trial team's self-contained HTML report of a store.

One file, no external resource: figures are inline base64 PNGs, the style sheet
(``report.css``) is inline, there is no script. Nothing identifying is shown (see
:mod:`immunolab.report.naming`). Sections, in page order (one module each under
:mod:`immunolab.report.sections`): report scope and active analysis choices, cohort and design,
arm comparisons, trajectories, clinical endpoints, cytokines, flow cytometry, provenance.

A section that cannot be computed from this store (a coded :class:`~immunolab.errors.ImmunolabError`,
e.g. only one arm) is replaced by a warning naming the code and message; the other sections
still render. The footer gives the time each section took (seconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from immunolab.report.context import ReportData, ReportOptions
from immunolab.report.fmt import Section, esc, warning

if TYPE_CHECKING:
    from immunolab.store.read import Store

__all__ = ["SECTIONS", "build_report", "render_report", "write_report"]


def _sections() -> list[tuple[str, str, Callable[[ReportData], Section]]]:
    from immunolab.report.sections import (
        arms,
        clinical,
        cohort,
        cytokines,
        flow,
        header,
        provenance,
        trajectories,
    )

    return [
        ("header", "Scope", header.section),
        ("cohort", "Cohort", cohort.section),
        ("comparison", "Arm comparisons", arms.section),
        ("trajectories", "Trajectories", trajectories.section),
        ("clinical", "Clinical endpoints", clinical.section),
        ("cytokines", "Cytokines", cytokines.section),
        ("flow", "Flow cytometry", flow.section),
        ("provenance", "Provenance", provenance.section),
    ]


#: section ids in page order
SECTIONS = ("header", "cohort", "comparison", "trajectories", "clinical", "cytokines", "flow", "provenance")


def _css() -> str:
    return resources.files("immunolab.report").joinpath("report.css").read_text(encoding="utf-8")


def _render_one(data: ReportData, sid: str, title: str, make: Callable[[ReportData], Section]) -> Section:
    """Return one section, or a warning in its place when the store cannot support it (coded error)."""
    from immunolab.errors import ImmunolabError

    t0 = time.perf_counter()
    try:
        sec = make(data)
    except ImmunolabError as exc:
        sec = Section(sid, title, warning(f"This section could not be computed: {exc.code} "
                                          f"{data.naming.scrub(exc.message)}"))
    data.timings[f"section {sid}"] = time.perf_counter() - t0
    return sec


def render_report(data: ReportData) -> str:
    """Return the complete HTML document of ``data`` (one string, no external resource)."""
    from immunolab import __version__

    t0 = time.perf_counter()
    sections = [_render_one(data, sid, title, make) for sid, title, make in _sections()]
    nav = " ".join(f"<a href='#{esc(s.id)}'>{esc(s.title)}</a>" for s in sections)
    total = time.perf_counter() - t0
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in data.timings.items())
    return "\n".join([
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<meta name='generator' content='immunolab {esc(__version__)}'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{esc(data.options.title)}</title><style>{_css()}</style></head><body>",
        f"<h1>{esc(data.options.title)}</h1>",
        "<p class='meta'>Patients are identified by pseudonymous codes only; no file name, date or plate sample "
        "name appears in this report.</p>",
        f"<nav aria-label='sections'>{nav}</nav>",
        *[s.html() for s in sections],
        f"<footer>Built by immunolab {esc(__version__)} in {total:.1f} s ({esc(timings)}).</footer>",
        "</body></html>",
    ])


def build_report(store: Store, **options: Any) -> str:
    """Return the report HTML of ``store``; keyword arguments are :class:`ReportOptions` fields."""
    return render_report(ReportData(store, ReportOptions(**options)))


def write_report(store: Store, out: str | Path, **options: Any) -> Path:
    """Write the report of ``store`` to ``out`` (UTF-8) and return the path (options as :func:`build_report`)."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_report(store, **options), encoding="utf-8")
    return path
