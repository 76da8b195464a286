"""Generic plate sample names ("Unknown1" on every plate) told apart by the manifest's ``plate`` column."""

from __future__ import annotations

from pathlib import Path

import pytest

import immunolab
from immunolab.errors import IdentityError
from immunolab.identity import load_identity
from immunolab.identity.apply import plan_identity
from immunolab.ingest import ingest_paths
from immunolab.store.layout import store_key
from tests.cytokine.factories import PlateSpec, plate_text

SUBJECTS = "patient_id,arm,site,age,sex\n001,MSC,A,40,F\n002,control,A,50,M\n"
HEADER = "file,sample_id,patient_id,visit_day,specimen,panel,sample_name,plate\n"
NAMES = ["Unknown1", "Unknown2", "Unknown3", "Unknown4"]
VISITS = (0, 3, 6, 14)
#: IL-6 of the four unknowns of each plate (pg/mL; the other analytes as the factory's default plate)
IL6 = {"p1.csv": [50.0, 500.0, 30.0, 12.0], "p2.csv": [80.0, 250.0, 35.0, 900.0]}


def _plate(folder: Path, name: str, number: int) -> Path:
    concs = [[il6, 20.0, 8.0] for il6 in IL6[name]]
    path = folder / name
    path.write_text(plate_text(PlateSpec(sample_names=list(NAMES), sample_conc=concs, plate_number=number)))
    return path


def _rows(plate: str, patient: str, tag: str) -> str:
    """Return one manifest row per generic name of a plate, all of one patient (visits 0, 3, 6, 14)."""
    return "".join(f",{tag}-{i},{patient},{day},serum,,{name},{plate}\n"
                   for i, (name, day) in enumerate(zip(NAMES, VISITS, strict=True)))


def _manifest(folder: Path, body: str) -> Path:
    (folder / "subjects.csv").write_text(SUBJECTS)
    (folder / "manifest.csv").write_text(HEADER + body)
    return folder / "manifest.csv"


#: plate 1 is named by its manifest sample_id, plate 2 by its file name
TWO_PLATES = ("p1.csv,PLATE-01,,,serum,cyto,,\np2.csv,PLATE-02,,,serum,cyto,,\n"
              + _rows("PLATE-01", "001", "A") + _rows("p2.csv", "002", "B"))


def test_the_same_generic_names_on_two_plates_ingest_to_each_plates_patients(tmp_path: Path) -> None:
    paths = [_plate(tmp_path, "p1.csv", 1), _plate(tmp_path, "p2.csv", 2)]
    report = ingest_paths(paths, store=tmp_path / "store", manifest=_manifest(tmp_path, TWO_PLATES), jobs=1)
    assert [(o.status, o.code) for o in report.outcomes] == [("OK", None), ("OK", None)], report.outcomes
    m = immunolab.open_store(tmp_path / "store").to_pandas("measurements")
    il6 = m[(m["feature"] == "IL-6") & (m["derivation_id"] == "instrument")]
    assert len(il6) == 8
    for (patient, plate_code), file in ((("001", "PLATE-01"), "p1.csv"), (("002", "PLATE-02"), "p2.csv")):
        mine = il6[il6["patient_id"] == patient].set_index("visit_day")
        assert set(mine["plate_code"]) == {plate_code}
        for day, expected in zip(VISITS, IL6[file], strict=True):
            assert mine.loc[day, "value"] == pytest.approx(expected, rel=0.05), (patient, day)


def test_a_name_twice_on_one_plate_is_still_a_duplicate_but_not_across_plates(tmp_path: Path) -> None:
    # line 12 repeats line 4's name on the same plate (written by its file name this time)
    body = TWO_PLATES + ",A-9,001,28,serum,,Unknown1,p1.csv\n"
    ident = load_identity(_manifest(tmp_path, body))
    bad = {p.line for p in ident.problems}
    assert {p.code for p in ident.problems} == {"IML-ID-003"}
    assert bad == {4, 12}
    ident.resolve_sample_refs(NAMES, "PLATE-02", plate=ident.by_file["p2.csv"])  # plate 2 stays usable


def test_a_name_twice_without_a_plate_is_still_a_duplicate(tmp_path: Path) -> None:
    body = "p1.csv,PLATE-01,,,serum,cyto,,\n,S1,001,0,serum,,Unknown1,\n,S2,001,3,serum,,Unknown1,\n"
    with pytest.raises(IdentityError) as exc:
        load_identity(_manifest(tmp_path, body)).check()
    assert exc.value.code == "IML-ID-003" and "lines 3 and 4" in exc.value.message


@pytest.mark.parametrize("value", ["PLATE-09", "Jane Roe plate.csv", "S1"])
def test_a_plate_value_naming_no_plate_file_is_refused_by_line_and_shape(tmp_path: Path, value: str) -> None:
    body = f"p1.csv,PLATE-01,,,serum,cyto,,\n,S1,001,0,serum,,Unknown1,\n,S2,001,3,serum,,Unknown2,{value}\n"
    ident = load_identity(_manifest(tmp_path, body))
    with pytest.raises(IdentityError) as exc:
        ident.check()
    assert exc.value.code == "IML-ID-019" and "manifest line 4" in exc.value.message
    assert "Jane" not in exc.value.format()
    # the plate the row was meant for is refused with that problem, not with "unknown sample name"
    with pytest.raises(IdentityError) as on_plate:
        ident.resolve_sample_refs(["Unknown1", "Unknown2"], "PLATE-01", plate=ident.by_file["p1.csv"])
    assert on_plate.value.code == "IML-ID-019"


def test_a_plate_value_on_a_files_own_row_is_refused_not_ignored(tmp_path: Path) -> None:
    ident = load_identity(_manifest(tmp_path, "p1.csv,PLATE-01,,,serum,cyto,,PLATE-01\n"))
    with pytest.raises(IdentityError) as exc:
        ident.require_file(tmp_path / "p1.csv", "PLATE-01")
    assert exc.value.code == "IML-ID-019" and "manifest line 2" in exc.value.message


def test_a_row_scoped_to_another_plate_is_never_used_for_this_plate(tmp_path: Path) -> None:
    path = _plate(tmp_path, "p2.csv", 2)
    body = "p1.csv,PLATE-01,,,serum,cyto,,\np2.csv,PLATE-02,,,serum,cyto,,\n" + _rows("PLATE-01", "001", "A")
    report = ingest_paths([path], store=tmp_path / "store", manifest=_manifest(tmp_path, body), jobs=1)
    assert [(o.status, o.code) for o in report.outcomes] == [("FAIL", "IML-ID-008")]


def test_a_plate_row_wins_over_a_row_without_plate_only_on_its_own_plate(tmp_path: Path) -> None:
    body = ("p1.csv,PLATE-01,,,serum,cyto,,\np2.csv,PLATE-02,,,serum,cyto,,\n"
            ",S1,001,0,serum,,Unknown1,\n,S2,002,0,serum,,Unknown1,PLATE-02\n")
    ident = load_identity(_manifest(tmp_path, body))
    ident.check()
    assert ident.resolve_sample_refs(["Unknown1"], "x", plate=ident.by_file["p1.csv"])["Unknown1"].patient_id == "001"
    assert ident.resolve_sample_refs(["Unknown1"], "x", plate=ident.by_file["p2.csv"])["Unknown1"].patient_id == "002"
    assert ident.resolve_sample_refs(["Unknown1"], "x")["Unknown1"].patient_id == "001"  # no plate: today's rule


def test_identity_apply_corrects_one_plates_generic_name_and_leaves_the_other(tmp_path: Path) -> None:
    paths = [_plate(tmp_path, "p1.csv", 1), _plate(tmp_path, "p2.csv", 2)]
    report = ingest_paths(paths, store=tmp_path / "store", manifest=_manifest(tmp_path, TWO_PLATES), jobs=1)
    assert [o.status for o in report.outcomes] == ["OK", "OK"]
    store = immunolab.open_store(tmp_path / "store")
    secret = store_key(store.loc)
    assert plan_identity(store, load_identity(tmp_path / "manifest.csv"), secret, reason=None).empty
    fixed = TWO_PLATES.replace(",B-0,002,0,", ",B-0,001,28,")  # plate 2's Unknown1 was patient 001's day 28
    update = plan_identity(store, load_identity(_manifest(tmp_path, fixed)), secret, reason="mislabelled tube")
    assert update.corrections.lines() == ["RELABEL B-0 patient 002 -> 001, visit day 0 -> 28"]


def test_a_plate_scoped_row_left_out_of_the_manifest_is_noted(tmp_path: Path) -> None:
    """IML-ID-017 matched stored plate samples by printed name alone: with Unknown4 of plate 2 removed, the
    same name on plate 1 hid it and `identity apply` said nothing (review finding)."""
    paths = [_plate(tmp_path, "p1.csv", 1), _plate(tmp_path, "p2.csv", 2)]
    ingest_paths(paths, store=tmp_path / "store", manifest=_manifest(tmp_path, TWO_PLATES), jobs=1)
    s = immunolab.open_store(tmp_path / "store")
    same = plan_identity(s, load_identity(_manifest(tmp_path, TWO_PLATES)), store_key(s.loc), reason=None)
    assert not same.notes  # the full manifest leaves nothing out
    body = "".join(line + "\n" for line in TWO_PLATES.splitlines() if not line.startswith(",B-3,"))
    upd = plan_identity(s, load_identity(_manifest(tmp_path, body)), store_key(s.loc), reason=None)
    (note,) = upd.notes
    assert "IML-ID-017 1 stored sample(s) are not in the manifest: B-3" in note
    only_one = "p1.csv,PLATE-01,,,serum,cyto,,\n" + _rows("PLATE-01", "001", "A")
    upd = plan_identity(s, load_identity(_manifest(tmp_path, only_one)), store_key(s.loc), reason=None)
    (note,) = upd.notes
    assert "4 stored sample(s) are not in the manifest: B-0, B-1, B-2, B-3" in note
