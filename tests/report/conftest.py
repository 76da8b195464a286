"""Report fixtures: the synthetic store of the analysis tests, and a small demo trial ingested for real.

``small_trial`` is an 8-patient demo trial (FCS tubes of 4,000 events, two Luminex plates, a
LEGENDplex bead run, hospital labs, adverse events and outcomes) ingested once per session, then
given what a real trial store carries and the synthetic store does not: a recorded choice of the
refit for one plate, a QC exclusion of one sample, and a FlowSOM clustering. The reasons typed
for those decisions deliberately hold a file name and dates, which the report must not show.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.analysis.conftest import synth  # noqa: F401

#: a decision reason holding a date and a file name (must reach the report scrubbed)
REFIT_REASON = "refit per SOP-12 of 2026-11-03 (cytokine_plate_01.csv)"
EXCLUDE_REASON = "clot seen on 2026-10-01 in the tube"


@dataclass(frozen=True)
class SmallTrial:
    """An ingested 8-patient trial and what was decided on it."""

    trial: Path
    store: Path
    refit_plate: str
    refit_id: str
    excluded_sample: str


def _ingest(trial: Path, store: Path) -> None:
    from immunolab.ingest import ingest_paths

    clinical = [trial / "clinical" / n for n in ("hospital_labs.csv", "adverse_events.csv", "events.csv")]
    rep = ingest_paths([trial / "flow", trial / "plates", trial / "beads", *clinical], store=store,
                       manifest=trial / "manifest.csv", subjects=trial / "subjects.csv", jobs=2)
    assert rep.counts["FAIL"] == 0, [(o.code, o.message) for o in rep.outcomes if o.status == "FAIL"]


@pytest.fixture(scope="session")
def small_trial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmallTrial]:
    import immunolab
    from immunolab.demo.trial import generate_trial
    from immunolab.derive.clusters import derive_clusters
    from immunolab.derive.decisions import decide
    from immunolab.derive.run import activate

    root = tmp_path_factory.mktemp("small_trial")
    trial, store = root / "trial", root / "store"
    generate_trial(trial, seed=7, n_patients=8, n_events=4000, log=lambda _m: None)
    _ingest(trial, store)
    s = immunolab.open_store(store)
    refits = s.to_pandas("plate_qc", columns=["plate_id", "derivation_id"])
    refit_id = sorted(d for d in refits["derivation_id"] if d.startswith("fit-") and
                      d in set(refits.loc[~refits["plate_id"].str.startswith("run:"), "derivation_id"]))[0]
    activate(s, kind="curves", scope="PLATE-01", derivation_id=refit_id, reason=REFIT_REASON)
    smp = immunolab.open_store(store).to_pandas("samples")
    flow = smp[(smp["assay_kind"] == "flow") & (smp["sample_key"] == "")].sort_values("sample_id")
    excluded = str(flow[flow["visit_day"] == 3]["sample_id"].iloc[0])
    decide(immunolab.open_store(store), action="exclude", kind="sample", target=excluded, analyte=None,
           reason=EXCLUDE_REASON)
    derive_clusters(immunolab.open_store(store), panel=str(flow["panel"].iloc[0]), n_metaclusters=6,
                    events_per_file=300)
    yield SmallTrial(trial, store, "PLATE-01", refit_id, excluded)
