"""Summary AnnData: samples x features in natural units, with log10 / censored / count layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import immunolab
from immunolab.analysis.measurements_view import measurements_view
from immunolab.anndata_io import build_summary, decode_name, encode_name, write_h5ad
from tests.analysis.synthetic_store import SynthStudy


@pytest.fixture(scope="module")
def adata(synth: SynthStudy):
    return immunolab.to_anndata(immunolab.open_store(synth.store), kind="summary")


def test_obs_are_patient_visits_with_string_ids(adata, synth: SynthStudy) -> None:
    assert adata.obs_names[0] == "001|D0"
    assert adata.obs.loc["001|D0", "patient_id"] == "001"
    assert adata.obs.loc["002|D0", "arm"] == "control" and adata.obs.loc["001|D0", "arm"] == "MSC"
    assert adata.obs.loc["001|D0", "specimen"] == "PBMC; serum"
    assert adata.n_obs == synth.truth[["patient_id", "visit_day"]].drop_duplicates().shape[0]
    assert "003|D28" not in adata.obs_names  # missed visit: no row


def test_var_names_encode_slashes_and_keep_the_original_name(adata) -> None:
    name = "IL-12%2FIL-23p40|concentration"
    assert name in adata.var_names
    assert adata.var.loc[name, "feature"] == "IL-12/IL-23p40"
    assert not any("/" in v for v in adata.var_names)
    assert adata.var.loc["IL-6|concentration", "unit"] == "pg/mL"
    assert adata.var.loc["Treg|pct_parent", "parent"] == "/Lymphocytes/T cells"
    assert adata.var.loc["Treg|pct_parent", "gate_path"] == "/Lymphocytes/T cells/Treg"
    assert adata.var.loc["IL-10|concentration", "lloq"] == 5.0
    assert np.isnan(adata.var.loc["Treg|pct_parent", "lloq"])


@pytest.mark.parametrize("name", ["IL-12/IL-23p40|concentration", "50%/x|y", "%2F", "plain"])
def test_name_encoding_round_trips(name: str) -> None:
    assert "/" not in encode_name(name) and decode_name(encode_name(name)) == name


def test_x_holds_natural_units_and_layers_match(adata, synth: SynthStudy) -> None:
    truth = synth.truth.set_index(["patient_id", "visit_day", "feature"])
    il6 = adata[:, "IL-6|concentration"]
    assert il6.X[0, 0] == pytest.approx(truth.loc[("001", 0, "IL-6"), "value"])
    assert il6.layers["log10"][0, 0] == pytest.approx(np.log10(il6.X[0, 0]))
    il10 = adata[:, "IL-10|concentration"]
    censored = truth.xs("IL-10", level="feature")["censor"] != "none"
    assert il10.layers["censored"][:, 0].sum() == censored.sum()
    treg = adata[:, "Treg|pct_parent"]
    assert treg.X[0, 0] == pytest.approx(truth.loc[("001", 0, "Treg"), "value"], rel=0.01)
    assert treg.layers["count"][0, 0] > 0 and float(treg.layers["count"][0, 0]).is_integer()
    assert np.isnan(il6.layers["count"]).all()


def test_not_measured_is_nan_and_not_censored() -> None:
    view = measurements_view(pd.DataFrame([
        {"patient_id": "001", "visit_day": 0, "arm": "MSC", "assay": "cytokine", "feature": "IL-6",
         "measure": "concentration", "value": 3.0, "unit": "pg/mL"},
        {"patient_id": "001", "visit_day": 3, "arm": "MSC", "assay": "cytokine", "feature": "IL-8",
         "measure": "concentration", "value": 4.0, "unit": "pg/mL"},
    ]))
    a = build_summary(view)
    assert np.isnan(a["001|D3", "IL-6|concentration"].X[0, 0])
    assert not a["001|D3", "IL-6|concentration"].layers["censored"][0, 0]


def test_provenance_in_uns_names_ingests_and_versions_but_no_file_names(adata, synth: SynthStudy) -> None:
    info = adata.uns["immunolab"]
    assert info["kind"] == "summary" and info["immunolab_version"] == immunolab.__version__
    ingests = adata.uns["ingests"]
    assert set(ingests["plugin"]) == {"synth_flow", "synth_plate"}
    assert len(ingests) == immunolab.open_store(synth.store).table("sources").num_rows
    blob = repr(dict(adata.uns)) + adata.obs.to_csv() + adata.var.to_csv()
    for name in (synth.flow_file.name, synth.plate_file.name, str(synth.root)):
        assert name not in blob


def test_summary_writes_and_reads_back_as_h5ad(adata, tmp_path: Path) -> None:
    import anndata as ad

    path = write_h5ad(adata, tmp_path / "summary.h5ad")
    back = ad.read_h5ad(path)
    assert list(back.var_names) == list(adata.var_names) and back.obs["patient_id"].iloc[0] == "001"
    assert np.array_equal(np.isnan(back.X), np.isnan(adata.X))
    assert back.layers["censored"].dtype == bool
    assert list(back.uns["ingests"]["plugin"]) == list(adata.uns["ingests"]["plugin"])


def test_obs_carry_the_subjects_covariates_as_categoricals_and_age_as_a_number(adata, synth: SynthStudy) -> None:
    subjects = immunolab.open_store(synth.store).to_pandas("identity_subjects").set_index("patient_id")
    for col in ("site", "sex"):
        assert isinstance(adata.obs[col].dtype, pd.CategoricalDtype)
        assert adata.obs.loc["001|D0", col] == subjects.loc["001", col]
    assert adata.obs["age"].dtype == float and adata.obs.loc["001|D0", "age"] == subjects.loc["001", "age"]
    assert isinstance(adata.obs["specimen"].dtype, pd.CategoricalDtype)


def test_a_feature_constant_over_every_observation_is_left_out_of_x_and_named() -> None:
    view = pd.DataFrame({
        "patient_id": ["001", "001", "002"], "visit_day": [0, 3, 0], "arm": ["MSC", "MSC", "control"],
        "assay": "flow", "feature": "Lymphocytes", "measure": "pct_lymphocytes", "value": 100.0, "unit": "%",
        "censored": False, "log10_value": 2.0, "lineage_key": "s:/Lymphocytes",
    })
    varying = view.assign(feature="T cells", value=[60.0, 65.0, 55.0], log10_value=np.log10([60.0, 65.0, 55.0]),
                          lineage_key="s:/Lymphocytes/T cells")
    a = build_summary(pd.concat([view, varying], ignore_index=True))
    assert list(a.var["feature"]) == ["T cells"]
    assert a.uns["immunolab"]["dropped_constant"] == ["flow|Lymphocytes|pct_lymphocytes"]


def test_an_unknown_kind_is_a_coded_error_listing_the_kinds(synth: SynthStudy) -> None:
    from immunolab.errors import InputError

    with pytest.raises(InputError) as err:
        immunolab.to_anndata(immunolab.open_store(synth.store), kind="sumary")
    assert err.value.code == "IML-ANA-011" and "summary, events" in (err.value.hint or "")
