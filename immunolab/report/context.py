"""Read and compute, once, what the report's sections show: the store's view, arms, comparisons, endpoints.

:class:`ReportData` computes each input on first use (``functools.cached_property``), so a
section that needs nothing heavy costs nothing, and two sections that need the same
comparison share it. The arm comparison covers what ``immunolab compare`` covers by default (flow % of parent, cytokine
concentrations, and the absolute counts of :data:`ABSOLUTE_COUNT_FEATURES`, cells/uL) in one
call, so the Benjamini-Hochberg q-values are over all of them together and ``immunolab compare``
with the report's options reproduces them.
It is run unadjusted and adjusted for :attr:`ReportData.adjust_for`: by default ``site``,
``specimen`` and ``age``, each only when the data hold at least two distinct values of it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import pandas as pd

from immunolab.analysis.compare import DEFAULT_ABSOLUTE_COUNTS

if TYPE_CHECKING:
    from immunolab.analysis.compare import ArmComparison
    from immunolab.analysis.endpoints import Endpoints
    from immunolab.report.naming import Naming
    from immunolab.store.read import Store

__all__ = ["ABSOLUTE_COUNT_FEATURES", "DEFAULT_ADJUST", "ReportData", "ReportOptions", "panel_of_files"]

#: covariates the adjusted comparison uses by default, each when present with >= 2 values
DEFAULT_ADJUST = ("site", "specimen", "age")
#: flow populations whose absolute counts (cells/uL) are compared and drawn over time (compare's default)
ABSOLUTE_COUNT_FEATURES = DEFAULT_ABSOLUTE_COUNTS


def panel_of_files(samples: pd.DataFrame) -> dict[str, str | None]:
    """Return source SHA-256 -> panel of the file rows (``sample_key`` empty) of a ``samples`` view."""
    files = samples[samples["sample_key"] == ""]
    return {str(s): (None if p is None or p != p else str(p)) for s, p in zip(files["source_sha256"], files["panel"],
                                                                              strict=True)}


@dataclass(frozen=True)
class ReportOptions:
    """What the report covers (all optional; the defaults are the trial team's report)."""

    features: Sequence[str] | None = None
    measures: Sequence[str] | None = None
    window: tuple[int, int] = (0, 28)
    #: covariates for the adjusted comparison; None = :data:`DEFAULT_ADJUST` where present, () = none
    adjust: Sequence[str] | None = None
    #: re-gate the panel's files from the raw vault to draw gating QC figures
    gating_figures: bool = True
    #: at most this many flagged samples get their every-gate figure (the rest are listed)
    max_gating_samples: int = 12
    #: worker processes for re-gating (1 = in this process)
    jobs: int = 2
    title: str = "immunolab trial report"


@dataclass
class ReportData:
    """Lazily computed inputs of the report sections (see the module doc)."""

    store: Store
    options: ReportOptions = field(default_factory=ReportOptions)
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Add the wall time (s) of the block to :attr:`timings` under ``name``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    @cached_property
    def naming(self) -> Naming:
        """Return the PHI-safe names of samples, plates and files."""
        from immunolab.report.naming import naming_of

        return naming_of(self.store)

    @cached_property
    def subjects(self) -> pd.DataFrame:
        """Return one row per current subject with arm and covariates (``trial_subjects``)."""
        from immunolab.analysis.trial_tables import trial_subjects

        return trial_subjects(self.store)

    @cached_property
    def view(self) -> pd.DataFrame:
        """Return the analysis view of the measurements (QC-excluded values left out)."""
        from immunolab.analysis.measurements_view import measurements_view

        return measurements_view(self.store)

    @cached_property
    def compared_view(self) -> pd.DataFrame:
        """Return the rows the arm comparison uses: ``immunolab compare``'s selection of the report's options."""
        from immunolab.analysis.compare import select_rows

        v = self.view
        if v.empty:
            return v
        return select_rows(v[v["arm"].notna()], self.options.features, self.options.measures)

    @cached_property
    def adjust_for(self) -> list[str]:
        """Return the covariates of the adjusted comparison (see :class:`ReportOptions`)."""
        v = self.compared_view
        if self.options.adjust is not None:
            return list(self.options.adjust)
        return [c for c in DEFAULT_ADJUST if c in v.columns and v[c].dropna().nunique() >= 2]

    def _compare(self, adjust: Sequence[str]) -> ArmComparison:
        from immunolab.analysis.compare import compare_arms

        v = self.compared_view
        return compare_arms(v, features=self.options.features, measures=self.options.measures,
                            window=self.options.window, adjust=list(adjust))

    def _both(self) -> tuple[ArmComparison, ArmComparison | None]:
        """Return the unadjusted and adjusted comparisons, side by side in two processes when ``jobs`` > 1."""
        if not self.adjust_for:
            return self._compare(()), None
        if self.options.jobs <= 1:
            return self._compare(()), self._compare(self.adjust_for)
        from immunolab.workers import process_pool

        self.compared_view  # noqa: B018 - computed once here, inherited by the forked workers
        with process_pool(2) as pool:
            fu, fa = pool.submit(self._compare, ()), pool.submit(self._compare, self.adjust_for)
            return fu.result(), fa.result()

    @cached_property
    def _comparisons(self) -> tuple[ArmComparison, ArmComparison | None]:
        with self.timed("arm comparisons (unadjusted and adjusted)"):
            return self._both()

    @property
    def comparison(self) -> ArmComparison:
        """Return the unadjusted arm comparison."""
        return self._comparisons[0]

    @property
    def adjusted(self) -> ArmComparison | None:
        """Return the comparison adjusted for :attr:`adjust_for` (None when there is nothing to adjust for)."""
        return self._comparisons[1]

    @cached_property
    def arms(self) -> tuple[str, str]:
        """Return (treated, reference) arm names."""
        from immunolab.analysis.compare import choose_arms

        return choose_arms(list(self.subjects["arm"].dropna()))

    @cached_property
    def endpoints(self) -> Endpoints:
        """Return the clinical endpoint tables (``trial_endpoints``)."""
        from immunolab.analysis.endpoints import trial_endpoints

        with self.timed("clinical endpoints"):
            return trial_endpoints(self.store)

    @cached_property
    def infusion_days(self) -> tuple[int, ...]:
        """Return the protocol's infusion days (study days)."""
        from immunolab.identity import DEFAULT_PROTOCOL

        return tuple(DEFAULT_PROTOCOL.infusion_days)
