"""The FCS assay plugin: detection from the HEADER, one PHI-free fcs_files row, options, gating as a derivation."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from immunolab_assays.fcs import FcsPlugin

from immunolab.derive.registry import DERIVATIONS, DeriveContext, DeriveSettings, run_derivations
from immunolab.errors import InputError
from immunolab.fcs.writer import write_fcs
from immunolab.plugins import ParseContext, ParsedAssay, PluginRegistry
from immunolab.schema import FACT_KEYS, conform, table_spec
from tests.fcs.factories import base_specs, build_fcs, chain_datasets

PHI = {
    "$FIL": "SMITH_JOHN_1954-03-02.fcs",
    "$SRC": "John Smith MRN 0042",
    "$OP": "Dr Jane Roe",
    "$COM": "patient Smith, bed 4",
    "$INST": "St Mary Hospital",
    "$PROJ": "Smith family study",
    "$SMNO": "MRN0042",
    "$CELLS": "Smith PBMC",
    "$EXP": "Roe lab exp",
    "$LAST_MODIFIER": "jroe",
    "@SAMPLEID1": "Smith John",
    "TUBE NAME": "Smith tube",
    "$DATE": "25-NOV-2026",
    "$BTIM": "10:11:12",
    "$LAST_MODIFIED": "26-NOV-2026 08:00:00",
}
SECRETS = ("Smith", "Roe", "MRN", "0042", "Mary", "jroe", "2026", "NOV", "10:11:12")


def _ctx(label: str = "D7_tube3.fcs", **options: object) -> tuple[ParseContext, list[str]]:
    logged: list[str] = []
    ctx = ParseContext(
        label=label,
        options=options,
        study_day=lambda d: (d - date(2026, 11, 18)).days,
        deid_log=logged.append,
    )
    return ctx, logged


def _phi_file(tmp_path: Path) -> Path:
    events = np.random.default_rng(1).normal(500, 50, size=(40, 3)).astype(np.float32)
    return write_fcs(tmp_path / "x.fcs", events, ["FSC-A", "SSC-A", "FL1-A"], pns=[None, None, "CD4"],
                     keywords={**PHI, "$CYT": "FACSCanto II", "$SPILLOVER": "1,FL1-A,1"})


@pytest.mark.parametrize("version", [b"FCS2.0", b"FCS3.0", b"FCS3.1", b"FCS3.2"])
def test_detect_claims_supported_fcs_headers(version: bytes) -> None:
    det = FcsPlugin().detect(version + b"    " + b"      58" * 6, "a.fcs")
    assert det is not None and det.plugin == "fcs" and det.format == version.decode()


@pytest.mark.parametrize("head", [b"", b"FCS", b"Plate,Well\n", b"\x89PNG\r\n", b"fcs3.1", b"XFCS3.1"])
def test_detect_ignores_other_files(head: bytes) -> None:
    assert FcsPlugin().detect(head, "a.fcs") is None


def test_detect_never_raises_on_odd_input() -> None:
    odd: bytes = None  # type: ignore[assignment]
    assert FcsPlugin().detect(odd, "a.fcs") is None


def test_detect_claims_unsupported_versions_so_parse_can_explain(tmp_path: Path) -> None:
    det = FcsPlugin().detect(b"FCS1.0    ", "old.fcs")
    assert det is not None and "unsupported" in det.format
    path = tmp_path / "old.fcs"
    path.write_bytes(b"FCS1.0    " + b"       0" * 6)
    with pytest.raises(InputError) as info:
        FcsPlugin().parse(path, _ctx()[0])
    assert info.value.code == "IML-FCS-001"


def test_plugin_satisfies_the_registry_contract() -> None:
    reg = PluginRegistry()
    reg.register(FcsPlugin)
    plugin = reg.plugins["fcs"]
    assert plugin.assay_kind == "flow" and plugin.file_extensions == (".fcs", ".lmd")


def test_parse_returns_one_fcs_files_row_that_conforms_to_the_schema(tmp_path: Path) -> None:
    ctx, _ = _ctx()
    parsed = FcsPlugin().parse(_phi_file(tmp_path), ctx)
    table = parsed.tables["fcs_files"]
    assert table.num_rows == 1 and parsed.n_events == 40
    assert not set(FACT_KEYS) & set(table.column_names)  # ingest fills the keys
    full = table
    for name in FACT_KEYS:
        full = full.append_column(name, pa.array([f"{name}-1"]))
    conform("fcs_files", full)
    row = table.to_pylist()[0]
    assert row["fcs_version"] == "3.1" and row["n_channels"] == 3 and row["cytometer"] == "FACSCanto II"
    assert row["channels"][2]["pns"] == "CD4" and row["channels"][0]["index"] == 1
    assert row["has_spillover"] is True and row["spillover_keyword"] == "$SPILLOVER"
    assert row["acquisition_study_day"] == 7
    assert row["tolerances"] == [] and row["dataset_index"] == 0 and row["n_datasets"] == 1


def test_phi_keywords_never_reach_the_row_metadata_or_warnings(tmp_path: Path) -> None:
    ctx, logged = _ctx()
    parsed = FcsPlugin().parse(_phi_file(tmp_path), ctx)
    row = parsed.tables["fcs_files"].to_pylist()[0]
    text = json.dumps(row) + json.dumps(parsed.metadata) + " ".join(parsed.warnings) + " ".join(logged)
    for secret in SECRETS:
        assert secret not in text, secret
    kept = json.loads(row["keywords_json"])
    assert not set(PHI) & set(kept)
    assert set(PHI) <= set(row["dropped_keywords"])
    assert sorted(logged) == sorted(row["dropped_keywords"])


def test_options_choose_the_data_set_and_record_tolerances(tmp_path: Path) -> None:
    spec = base_specs()["f32_le_31"]
    from dataclasses import replace

    path = tmp_path / "two.lmd"
    path.write_bytes(chain_datasets([replace(spec, version="2.0"), replace(spec, version="3.0")]))
    default = FcsPlugin().parse(path, _ctx()[0]).tables["fcs_files"].to_pylist()[0]
    assert (default["dataset_index"], default["n_datasets"], default["fcs_version"]) == (1, 2, "3.0")
    first = FcsPlugin().parse(path, _ctx(dataset=0)[0]).tables["fcs_files"].to_pylist()[0]
    assert (first["dataset_index"], first["fcs_version"]) == (0, "2.0")
    bad = tmp_path / "bad.fcs"
    bad.write_bytes(build_fcs(replace(spec, override={"$TOT": "13"})))
    with pytest.raises(InputError) as info:
        FcsPlugin().parse(bad, _ctx()[0])
    assert info.value.code == "IML-FCS-003" and info.value.path == "D7_tube3.fcs"
    parsed = FcsPlugin().parse(bad, _ctx(accept_tot_mismatch=True)[0])
    row = parsed.tables["fcs_files"].to_pylist()[0]
    assert row["tolerances"][0].startswith("accept_tot_mismatch") and row["n_events"] == 12
    assert any(w.startswith("tolerance applied") for w in parsed.warnings)


def test_malformed_embedded_spillover_is_a_warning_not_a_failed_ingest(tmp_path: Path) -> None:
    events = np.ones((5, 2), dtype=np.float32)
    path = write_fcs(tmp_path / "s.fcs", events, ["A", "B"], keywords={"SPILL": "2,A,Z,1,0,0,1"})
    parsed = FcsPlugin().parse(path, _ctx()[0])
    row = parsed.tables["fcs_files"].to_pylist()[0]
    assert row["has_spillover"] is False and row["spillover_keyword"] == "SPILL"
    assert any("IML-FCS-012" in w for w in parsed.warnings)


def _derive_context(parsed: ParsedAssay) -> DeriveContext:
    # no raw_path: a derivation that read the file again instead of the parsed events would fail
    return DeriveContext(sha="ab" * 32, label="D7_tube3.fcs", panel=None, settings=DeriveSettings(),
                         payload=parsed.payload, raw_path=None)


def test_gating_is_the_derivation_fcs_files_declares_and_it_gets_the_parsed_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def gating(facts: dict[str, pa.Table], ctx: DeriveContext) -> tuple[dict[str, pa.Table], list[str]]:
        calls.append(ctx.payload["fcs"].n_events)
        assert set(facts) == {"fcs_files"}
        return {"flow_populations": pa.table({"population": ["root"]})}, []

    assert table_spec("fcs_files").derivations == ("gating",)
    parsed = FcsPlugin().parse(_phi_file(tmp_path), _ctx()[0])
    monkeypatch.setitem(DERIVATIONS, "gating", gating)
    tables, warnings = run_derivations(parsed.tables, _derive_context(parsed))
    assert calls == [40]
    assert set(tables) == {"flow_populations"} and warnings == []


def test_parse_produces_only_fcs_files_and_a_file_without_a_panel_fails_gating_not_ingest(tmp_path: Path) -> None:
    parsed = FcsPlugin().parse(_phi_file(tmp_path), _ctx()[0])
    assert set(parsed.tables) == {"fcs_files"} == set(FcsPlugin.produces)
    tables, warnings = run_derivations(parsed.tables, _derive_context(parsed))
    (row,) = tables["flow_gating"].to_pylist()
    assert (row["status"], row["error_code"], row["n_events"]) == ("failed", "IML-FCS-011", 40)
    assert "flow_populations" not in tables and any("IML-FCS-011" in w for w in warnings)


def test_plugin_module_import_stays_light() -> None:
    code = (
        "import sys, immunolab_assays.fcs as m; m.FcsPlugin().detect(b'FCS3.1', 'a.fcs');"
        "print(sorted(x for x in ('immunolab.fcs.reader', 'flowkit', 'scanpy', 'anndata', 'matplotlib',"
        " 'statsmodels', 'immunolab_assays.fcs.parse') if x in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


#: the audit's canary: allowlisted keywords carrying free text, a name and dates
ALLOWLISTED_CANARY = {
    "$P1O": "ZZCANARY-PnO", "$P2L": "ZZCANARY-PnL", "$P3P": "ZZCANARY 1961", "$P1D": "Linear,ZZCANARY,1",
    "$P1V": "ZZCANARY", "$ABRT": "ZZCANARY", "$LOST": "12-04-1961", "$VOL": "ZZCANARY", "$TIMESTEP": "ZZCANARY",
    "$TR": "ZZCANARY,500", "$CSMODE": "ZZCANARY", "$ORIGINALITY": "ZZCANARY", "$FLOWRATE": "ZZCANARY-SUBJNAME",
    "$COMP": "ZZCANARY", "$UNICODE": "ZZCANARY", "$CYTSN": "SN 1961-04-12", "$P2F": "530/30 12 Apr 1961",
    "$P3T": "PMT " + "Z" * 80, "DOB 1961-04-12": "x",
}


def test_allowlisted_keywords_keep_their_standard_shape_and_no_date(tmp_path: Path) -> None:
    """Any free text in $PnO, $ABRT, $TR... and dates in $CYTSN or $PnS reached fcs_files (keywords, channels)."""
    events = np.random.default_rng(1).normal(500, 50, size=(40, 3)).astype(np.float32)
    path = write_fcs(tmp_path / "c.fcs", events, ["FSC-A", "SSC-A", "FL1-A"], pns=[None, "bled 12/04/1961", "CD4"],
                     keywords={**ALLOWLISTED_CANARY, "$CYT": "FACSCanto II", "$SPILLOVER": "1,FL1-A,1",
                               "$P2O": "20", "$P1L": "488", "$P2D": "Logarithmic,4,1", "$P2V": "450"})
    ctx, logged = _ctx()
    parsed = FcsPlugin().parse(path, ctx)
    row = parsed.tables["fcs_files"].to_pylist()[0]
    text = json.dumps(row) + " ".join(parsed.warnings) + " ".join(logged)
    for secret in ("ZZCANARY", "1961", "12/04", "Apr", "Z" * 65):
        assert secret not in text, secret
    kept = json.loads(row["keywords_json"])
    assert {"$P2O": "20", "$P1L": "488", "$P2D": "Logarithmic,4,1", "$P2V": "450", "$CYT": "FACSCanto II",
            "$SPILLOVER": "1,FL1-A,1"}.items() <= kept.items()  # standard values pass as written
    assert kept["$CYTSN"] == "SN [date]" and kept["$P2F"] == "530/30 [date]" and len(kept["$P3T"]) == 64
    assert row["channels"][1]["pns"] == "bled [date]" and kept["$P2S"] == "bled [date]"
    assert "DOB NNNN-NN-NN" in row["dropped_keywords"] and "$UNICODE" in row["dropped_keywords"]
    assert row["has_spillover"] is True  # compensation still reads the matrix
    shape_warnings = [w for w in parsed.warnings if w.startswith("IML-FCS-043")]
    for name in ("$PnO", "$PnL", "$PnP", "$PnD", "$PnV", "$ABRT", "$LOST", "$VOL", "$TIMESTEP", "$TR", "$CSMODE",
                 "$ORIGINALITY", "$FLOWRATE", "$COMP", "$CYTSN", "$PnF", "$PnS", "$PnT"):
        assert any(w.startswith(f"IML-FCS-043 {name} ") for w in shape_warnings), name
