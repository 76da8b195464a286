"""Re-analysis without re-ingest: re-gate a panel, refit plates, switch and switch back, names-only spillover."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import immunolab
from immunolab.cytokine.parsed import settings_from_options
from immunolab.derive.run import activate, derive_curves, derive_gating
from immunolab.errors import InputError
from immunolab.ingest import ingest_paths
from immunolab.store.verify import verify_store
from tests.flow.test_gatingml_factory import document, rectangle

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
TUBES = ["001-D000-PB_TBNK-Treg.fcs", "002-D014-WB_TBNK-Treg.fcs"]
PLATE = "cytokine_plate_01.csv"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    files = [SAMPLE / "flow" / t for t in TUBES] + [SAMPLE / "plates" / PLATE]
    if not all(f.exists() for f in files):
        pytest.skip("demo files not generated (run `make demo` or sample_data/generate.py)")
    report = ingest_paths(files, store=tmp_path / "store", manifest=SAMPLE / "manifest.csv",
                          subjects=SAMPLE / "subjects.csv")
    assert report.counts["OK"] == 3, [o.message for o in report.outcomes]
    return tmp_path / "store"


def _gml(tmp: Path) -> Path:
    """A two-gate Gating-ML strategy on the scatter channels (uncompensated, linear)."""
    doc = document(
        rectangle("Cells", [(("FSC-A", "uncompensated", None), 20000.0, 250000.0),
                            (("SSC-A", "uncompensated", None), 0.0, 250000.0)]),
        rectangle("Lymphocytes", [(("FSC-A", "uncompensated", None), 30000.0, 90000.0),
                                  (("SSC-A", "uncompensated", None), 0.0, 40000.0)], parent="Cells"))
    path = tmp / "scatter.xml"
    path.write_text(doc)
    return path


def _flow_derivations(store: Path) -> set[str]:
    m = immunolab.open_store(store).to_pandas("measurements")
    return set(m.loc[m["assay"] == "flow", "derivation_id"])


def test_re_gating_a_panel_adds_rows_and_activating_switches_the_analysis_reversibly(store: Path, tmp_path: Path) -> None:
    before = _flow_derivations(store)
    assert len(before) == 1
    s = immunolab.open_store(store)
    rep = derive_gating(s, panel="TBNK-Treg", strategy=str(_gml(tmp_path)))
    assert rep.computed == 2 and not rep.failed and not rep.activated
    assert _flow_derivations(store) == before  # stored, not active
    s = immunolab.open_store(store)
    assert set(s.to_pandas("flow_gating")["derivation_id"]) == {*before, rep.derivation_id}
    again = derive_gating(s, panel="TBNK-Treg", strategy=str(_gml(tmp_path)))
    assert (again.computed, again.reused, again.store_version) == (0, 2, None)  # nothing computed twice
    with pytest.raises(InputError):
        activate(s, kind="gating", scope="TBNK-Treg", derivation_id=rep.derivation_id, reason=None)
    activate(s, kind="gating", scope="TBNK-Treg", derivation_id=rep.derivation_id, reason="expert scatter gates")
    assert _flow_derivations(store) == {rep.derivation_id}
    features = set(immunolab.open_store(store).to_pandas("measurements").query("assay == 'flow'")["feature"])
    assert features == {"Cells", "Lymphocytes"}
    activate(immunolab.open_store(store), kind="gating", scope="TBNK-Treg", derivation_id=next(iter(before)),
             reason="back to the template")
    assert _flow_derivations(store) == before
    s = immunolab.open_store(store)
    assert [v.kind for v in s.versions()] == ["ingest", "derive", "choice", "choice"]
    choices = s.to_pandas("derivation_choices", history=True)
    assert list(choices["reason"]) == ["expert scatter gates", "back to the template"]
    assert verify_store(store).ok


def test_new_files_of_a_panel_are_gated_with_its_active_strategy(store: Path, tmp_path: Path) -> None:
    s = immunolab.open_store(store)
    rep = derive_gating(s, panel="TBNK-Treg", strategy=str(_gml(tmp_path)), activate=True, reason="expert gates")
    assert rep.activated
    more = ingest_paths([SAMPLE / "flow" / "001-D014-PB_TBNK-Treg.fcs"], store=store,
                        manifest=SAMPLE / "manifest.csv", subjects=SAMPLE / "subjects.csv")
    assert more.counts["OK"] == 1
    m = immunolab.open_store(store).to_pandas("measurements")
    assert set(m.loc[(m["assay"] == "flow") & (m["sample_id"] == "001-D014-PB"), "derivation_id"]) == {rep.derivation_id}


def test_refitting_plates_keeps_the_instrument_numbers_and_can_be_made_active(store: Path) -> None:
    m0 = immunolab.open_store(store).to_pandas("measurements").query("assay == 'cytokine'")
    assert set(m0["derivation_id"]) == {"instrument"}
    settings = settings_from_options({"curve_model": "4PL", "curve_weighting": "1/y"})
    rep = derive_curves(immunolab.open_store(store), settings=settings, plates=["PLATE-01"])
    assert rep.computed == 1 and rep.derivation_id.startswith("fit-")
    s = immunolab.open_store(store)
    fits = s.to_pandas("curve_fits")
    assert set(fits.loc[fits["derivation_id"] == rep.derivation_id, "model"]) == {"4PL"}
    results = s.to_pandas("cytokine_results").query(f"derivation_id == '{rep.derivation_id}'")
    assert results["instrument_conc"].notna().mean() > 0.9  # the instrument's value beside every refit value
    derive_curves(s, settings=settings, plates=["PLATE-01"], activate=True, reason="4PL per kit insert")
    m1 = immunolab.open_store(store).to_pandas("measurements").query("assay == 'cytokine'")
    assert set(m1["derivation_id"]) == {rep.derivation_id}
    assert len(m1) == len(m0)
    with pytest.raises(InputError) as exc:
        derive_curves(immunolab.open_store(store), settings=settings, plates=["PLATE-99"])
    assert exc.value.code == "IML-DER-001"
    assert verify_store(store).ok
    # activating on a plate or panel that is not stored, or a fit never computed for that plate, is refused
    # (it reported "... is active" and changed nothing)
    s = immunolab.open_store(store)
    for kind, scope, derivation, code in (("curves", "PLATE-99", "instrument", "IML-DER-003"),
                                          ("gating", "NO-PANEL", "x", "IML-DER-003")):
        with pytest.raises(InputError) as exc:
            activate(s, kind=kind, scope=scope, derivation_id=derivation, reason="x")
        assert exc.value.code == code


def test_a_names_only_spillover_is_ingested_as_facts_and_gated_later_with_a_matrix(tmp_path: Path) -> None:
    from immunolab.fcs.reader import read_fcs
    from immunolab.fcs.writer import write_fcs

    src = SAMPLE / "flow" / TUBES[0]
    if not src.exists():
        pytest.skip("demo files not generated")
    fcs = read_fcs(src)
    pnn = [c.pnn for c in fcs.channels]
    fluor = [p for p in pnn if p not in ("FSC-A", "FSC-H", "SSC-A", "Time")]
    kw = {"$CYT": "MACSQuant", "$SPILLOVER": f"{len(fluor)}," + ",".join(fluor)}  # names, no numbers
    inbox = tmp_path / "in"
    inbox.mkdir()
    write_fcs(inbox / TUBES[0], fcs.events, pnn, pns=[c.pns for c in fcs.channels], keywords=kw,
              pnr=[c.range for c in fcs.channels])
    report = ingest_paths([inbox], store=tmp_path / "store", manifest=SAMPLE / "manifest.csv",
                          subjects=SAMPLE / "subjects.csv")
    o = report.outcomes[0]
    assert o.status == "OK" and any("IML-FCS-012 gating failed:" in w for w in o.warnings), o.warnings
    # the failure is on the file's own line and counted in the summary (it read "OK ... 1 warning(s)")
    assert o.failed_derivations == ["gating IML-FCS-012"]
    assert "gating FAILED (IML-FCS-012)" in o.line()
    assert "1 OK (1 with a failed derivation" in report.summary_line()
    from click.testing import CliRunner

    from immunolab.cli import main

    quiet = CliRunner().invoke(main, ["ingest", str(inbox), "--store", str(tmp_path / "store-q"), "--manifest",
                                      str(SAMPLE / "manifest.csv"), "--subjects", str(SAMPLE / "subjects.csv"), "-q"])
    assert "gating FAILED (IML-FCS-012)" in quiet.stdout, quiet.stdout  # --quiet still shows it
    s = immunolab.open_store(tmp_path / "store")
    gating = s.to_pandas("flow_gating")
    assert list(gating["status"]) == ["failed"] and list(gating["error_code"]) == ["IML-FCS-012"]
    assert s.table("fcs_files").num_rows == 1  # the facts are in
    comp = tmp_path / "comp.csv"
    comp.write_text("," + ",".join(fluor) + "\n" + "\n".join(
        f + "," + ",".join("1" if i == j else "0" for j in range(len(fluor))) for i, f in enumerate(fluor)) + "\n")
    store_q = str(tmp_path / "store-q")
    still = CliRunner().invoke(main, ["derive", "gating", "--store", store_q, "--panel", "TBNK-Treg", "-j", "1"])
    assert still.exit_code == 1 and "1 failed" in still.stdout, still.stdout  # it exited 0
    fixed = CliRunner().invoke(main, ["derive", "gating", "--store", store_q, "--panel", "TBNK-Treg", "-j", "1",
                                      "--comp", str(comp)])
    assert fixed.exit_code == 0 and "0 failed" in fixed.stdout, fixed.stdout
    rep = derive_gating(s, panel="TBNK-Treg", strategy=None, comp=str(comp), activate=True, reason="matrix from controls")
    assert rep.computed == 1 and not rep.failed
    m = immunolab.open_store(tmp_path / "store").to_pandas("measurements")
    assert "T cells" in set(m["feature"])
    shutil.rmtree(tmp_path / "store")


def test_derive_list_names_the_gating_of_superseded_files_instead_of_nan(store: Path, tmp_path: Path) -> None:
    """`derive list` printed a `gating nan ...` row for a tube superseded by a re-export (trial finding)."""
    import numpy as np

    from immunolab.derive.summary import NO_CURRENT_FILE, derivation_rows
    from immunolab.fcs.reader import read_fcs
    from immunolab.fcs.writer import write_fcs

    s = immunolab.open_store(store)
    src = s.to_pandas("samples")
    first = src.loc[src["sample_id"] == "001-D000-PB", "ingest_id"].iloc[0]
    fcs = read_fcs(SAMPLE / "flow" / TUBES[0])
    names = [c.pnn for c in fcs.channels]
    again = write_fcs(tmp_path / "re" / TUBES[0], np.asarray(fcs.events, dtype=np.float32), names,
                      pns=[c.pns for c in fcs.channels], pnr=[c.range for c in fcs.channels])
    rep = ingest_paths([again], store=store, manifest=SAMPLE / "manifest.csv", subjects=SAMPLE / "subjects.csv",
                       supersede=first, reason="re-exported")
    assert rep.counts["OK"] == 1, [o.message for o in rep.outcomes]
    rows = [r for r in derivation_rows(immunolab.open_store(store)) if r["kind"] == "gating"]
    assert all(isinstance(r["scope"], str) for r in rows), rows
    assert {r["scope"] for r in rows} == {"TBNK-Treg", NO_CURRENT_FILE}
    assert [r["active"] for r in rows if r["scope"] == NO_CURRENT_FILE] == [False]
