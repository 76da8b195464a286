"""A plate's curve decision follows the plate when its file is superseded (re-exported).

The decision is scoped to the plate's internal key, which the superseding file's plate does not
share: PLATE-03's concentrations switched from the chosen 4PL refit back to the instrument's with
no message, ``derive list`` showed two active rows for PLATE-03, and ``derive activate`` named the
plate by its internal key.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import immunolab
from immunolab.cytokine.parsed import settings_from_options
from immunolab.derive.run import activate, derive_curves
from immunolab.derive.summary import derivation_rows
from immunolab.ingest import ingest_paths

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
PLATE = "cytokine_plate_01.csv"


def _ingest(store: Path, path: Path, **kw: object) -> immunolab.ingest.IngestReport:
    return ingest_paths([path], store=store, manifest=SAMPLE / "manifest.csv", subjects=SAMPLE / "subjects.csv",
                        jobs=1, **kw)


@pytest.fixture
def reexport(tmp_path: Path) -> tuple[Path, str, Path, str]:
    """Return (store with PLATE-01 and a chosen 4PL refit, the fit's id, the plate re-exported with the same data
    in new bytes, the ingest id of the first export)."""
    if not (SAMPLE / "plates" / PLATE).exists():
        pytest.skip("demo files not generated (run `make demo` or sample_data/generate.py)")
    store = tmp_path / "store"
    first = _ingest(store, SAMPLE / "plates" / PLATE).outcomes[0]
    assert first.status == "OK"
    settings = settings_from_options({"curve_model": "4PL", "curve_weighting": "1/y"})
    rep = derive_curves(immunolab.open_store(store), settings=settings, plates=["PLATE-01"], activate=True,
                        reason="4PL 1/y per SAP")
    again = tmp_path / "re" / PLATE
    again.parent.mkdir()
    again.write_bytes((SAMPLE / "plates" / PLATE).read_bytes().replace(b'"LAB-PC"', b'"LAB-PC2"'))
    return store, rep.derivation_id, again, str(first.ingest_id)


def _active_plate_rows(store: Path) -> list[tuple[str, str]]:
    return [(r["scope"], r["derivation_id"]) for r in derivation_rows(immunolab.open_store(store))
            if r["kind"] == "curves" and r["active"]]


def test_a_re_exported_plate_keeps_its_chosen_refit_and_derive_list_shows_one_active_row(
        reexport: tuple[Path, str, Path, str]) -> None:
    store, fit, again, old = reexport
    report = _ingest(store, again, supersede=old, reason="plate re-exported")
    assert report.counts["OK"] == 1
    s = immunolab.open_store(store)
    cyto = s.to_pandas("measurements").query("assay == 'cytokine'")
    assert len(cyto) and set(cyto["derivation_id"]) == {fit}
    assert _active_plate_rows(store) == [("PLATE-01", fit)]
    rec = activate(s, kind="curves", scope="PLATE-01", derivation_id="instrument", reason="back to the vendor")
    assert rec.summary.startswith("curves of PLATE-01: instrument is active")  # the plate code, not its key
    assert set(immunolab.open_store(store).to_pandas("measurements").query("assay == 'cytokine'")["derivation_id"]) \
        == {"instrument"}
    assert report.derivation_notes == [f"CURVES PLATE-01: {fit} refitted on the new file and active (the decision on "
                                       "the plate it supersedes)"]
    (carried,) = [v for v in immunolab.open_store(store).versions() if "carried over" in (v.reason or "")]
    # the supersede's reason first, then the earlier decision's (the loop variable hid the supersede's)
    assert carried.reason == ("plate re-exported; curve choice carried over from the plate it supersedes "
                              "(4PL 1/y per SAP)"), carried.reason


def test_a_choice_that_cannot_be_carried_over_is_a_coded_warning(reexport: tuple[Path, str, Path, str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    store, fit, again, old = reexport
    monkeypatch.setattr("immunolab.derive.carry._settings_of", lambda store, did: None)  # settings lost
    report = _ingest(store, again, supersede=old, reason="plate re-exported")
    warnings = [w for w in report.outcomes[0].warnings if w.startswith("IML-DER-004")]
    assert len(warnings) == 1 and fit in warnings[0] and "plate PLATE-01" in warnings[0]
    assert "derive curves --plate PLATE-01" in warnings[0] and report.derivation_notes == []
    assert _active_plate_rows(store) == [("PLATE-01", "instrument")]  # one active row, said out loud
