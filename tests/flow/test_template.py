"""The data-driven gating template: loading, validation, strategy ID, channels and errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from immunolab.demo.flow_sim import (
    FLUOROCHROMES,
    SPILLOVER,
    FlowSample,
    SampleSpec,
    channel_names,
    simulate_events,
)
from immunolab.errors import ERROR_CODES, InconsistentInputError, MalformedInputError
from immunolab.fcs.reader import read_fcs
from immunolab.flow.template import (
    apply_template,
    gate_fcs_file,
    gate_sample,
    load_template,
    template_from_dict,
)

BUILTIN = Path(__file__).resolve().parents[2] / "immunolab" / "flow" / "templates" / "trial_panel.yaml"
TYPICAL = {
    "lymphocyte_share": 0.15, "t_share": 0.6, "cd4_share": 0.5, "b_share_non_t": 0.3,
    "nk_share_non_t_non_b": 0.7, "treg_share_cd4": 0.06, "hladr_share_cd4": 0.1, "hladr_share_cd8": 0.25,
}
SPILL = ([f for f, _ in FLUOROCHROMES], SPILLOVER)


def _channels() -> list[tuple[str, str | None]]:
    pnn, pns = channel_names()
    return list(zip(pnn, pns, strict=True))


def _sample(seed: int = 1, n: int = 20000, specimen: str = "PBMC", **override: float) -> FlowSample:
    props = {**TYPICAL, **override}
    return simulate_events(SampleSpec.from_proportions(n, specimen, props), np.random.default_rng(seed))


def _builtin_doc() -> dict[str, Any]:
    return yaml.safe_load(BUILTIN.read_text())


def test_builtin_template_holds_the_trial_panel_hierarchy() -> None:
    tpl = load_template()
    root = "/Lymphocytes/Singlets/CD45+"
    assert dict(tpl.gate_paths) == {
        "Lymphocytes": "/Lymphocytes",
        "Singlets": "/Lymphocytes/Singlets",
        "CD45+": root,
        "T cells": f"{root}/T cells",
        "CD4+ T": f"{root}/T cells/CD4+ T",
        "CD8+ T": f"{root}/T cells/CD8+ T",
        "B cells": f"{root}/B cells",
        "NK cells": f"{root}/NK cells",
        "Treg": f"{root}/T cells/CD4+ T/Treg",
        "HLA-DR+ CD4 T": f"{root}/T cells/CD4+ T/HLA-DR+ CD4 T",
        "HLA-DR+ CD8 T": f"{root}/T cells/CD8+ T/HLA-DR+ CD8 T",
    }
    assert tpl.lymphocyte_path == "/Lymphocytes"
    assert tpl.name == "trial_panel"


def test_strategy_id_is_16_hex_digits_and_the_same_for_path_and_default() -> None:
    sid = load_template().strategy_id
    assert len(sid) == 16 and int(sid, 16) >= 0
    assert load_template(BUILTIN).strategy_id == sid


def test_strategy_id_ignores_description_and_explicit_defaults_but_not_arguments() -> None:
    doc = _builtin_doc()
    base = template_from_dict(doc).strategy_id
    doc["description"] = "another description"
    doc["populations"][2]["arguments"]["adjust"] = 1.0  # the default, written out
    assert template_from_dict(doc).strategy_id == base
    doc["populations"][2]["arguments"]["adjust"] = 1.5
    assert template_from_dict(doc).strategy_id != base


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d["populations"][3].update(method="magic"), "unknown method"),
        (lambda d: d["populations"][3].update(parent="Nowhere"), "must be defined above"),
        (lambda d: d["populations"][3].update(channels=["CD3", "CD4"]), "needs 1 channel"),
        (lambda d: d["populations"][3].update(arguments={"colour": "red"}), "unknown argument"),
        (lambda d: d["populations"][0].update(method="density_basin", arguments={}), "needs argument"),
        (lambda d: d["populations"][3].update(arguments={"positive_by_definition": "yes"}), "true or false"),
        (lambda d: d["populations"][8]["arguments"].update(direction=["up", "+"]), "two of"),
        (lambda d: d["populations"][4].update(name="T cells"), "used twice"),
        (lambda d: d["populations"][8]["arguments"].update(smooth=-1), "positive number"),
        (lambda d: d.update(lymphocytes="Monocytes"), "not a population"),
        (lambda d: d.update(transforms={"fluorescence": {"kind": "logicle", "w": -3}}), "bad transform"),
    ],
)
def test_invalid_template_is_rejected_with_iml_fcs_013(mutate: Callable[[dict[str, Any]], None], fragment: str) -> None:
    doc = _builtin_doc()
    mutate(doc)
    with pytest.raises(MalformedInputError) as info:
        template_from_dict(doc, source="panel.yaml")
    assert info.value.code == "IML-FCS-013"
    assert info.value.path == "panel.yaml"
    assert fragment in info.value.message


def test_unparsable_yaml_file_is_rejected_with_iml_fcs_013(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: x\npopulations: [\n  - {name: A,\n")
    with pytest.raises(MalformedInputError) as info:
        load_template(bad)
    assert info.value.code == "IML-FCS-013" and info.value.path == "broken.yaml"


def test_gate_masks_nest_inside_their_parents_and_stats_match_counts() -> None:
    sample = _sample()
    masks, stats = gate_sample(sample.raw, _channels(), SPILL)
    tpl = load_template()
    for pop in tpl.populations:
        if pop.parent != "root":
            child, parent = masks[tpl.gate_paths[pop.name]], masks[tpl.gate_paths[pop.parent]]
            assert not (child & ~parent).any()
    by_path = {s.gate_path: s for s in stats}
    treg = by_path["/Lymphocytes/Singlets/CD45+/T cells/CD4+ T/Treg"]
    assert treg.count == int(masks[treg.gate_path].sum())
    assert treg.pct_parent == pytest.approx(100 * treg.count / treg.parent_count)
    lymph = int(masks["/Lymphocytes"].sum())
    assert treg.pct_lymphocytes == pytest.approx(100 * treg.count / lymph)
    assert by_path["/Lymphocytes"].pct_parent == pytest.approx(100 * lymph / len(sample.raw))


def test_markers_resolve_through_pns_or_pnn_with_the_same_result() -> None:
    sample = _sample(seed=2)
    doc = _builtin_doc()
    by_marker = template_from_dict(doc)
    detector_of = {marker: det for det, marker in FLUOROCHROMES}
    for pop in doc["populations"]:
        pop["channels"] = [detector_of.get(c, c) for c in pop["channels"]]
    by_detector = template_from_dict(doc)
    a = apply_template(sample.raw, _channels(), SPILL, by_marker)
    b = apply_template(sample.raw, _channels(), SPILL, by_detector)
    assert a.masks.keys() == b.masks.keys()
    for path in a.masks:
        np.testing.assert_array_equal(a.masks[path], b.masks[path])


def test_missing_marker_is_rejected_with_iml_fcs_011_naming_the_file() -> None:
    sample = _sample(n=3000)
    channels = [(pnn, None if pns == "CD56" else pns) for pnn, pns in _channels()]
    with pytest.raises(InconsistentInputError) as info:
        gate_sample(sample.raw, channels, SPILL, label="D7_tube3.fcs")
    assert info.value.code == "IML-FCS-011"
    assert info.value.path == "D7_tube3.fcs"
    assert "'CD56'" in info.value.message and "NK cells" in info.value.message


def test_markers_written_with_their_dye_in_pns_resolve_like_bare_markers() -> None:
    sample = _sample(seed=2)
    with_dye = [(pnn, f"{pns} BB515" if pns and pnn not in ("FSC-A", "FSC-H", "SSC-A") else pns)
                for pnn, pns in _channels()]
    assert any(pns and pns.endswith(" BB515") for _, pns in with_dye)
    a = apply_template(sample.raw, _channels(), SPILL, template_from_dict(_builtin_doc()))
    b = apply_template(sample.raw, with_dye, SPILL, template_from_dict(_builtin_doc()))
    assert a.masks.keys() == b.masks.keys()
    for path in a.masks:
        np.testing.assert_array_equal(a.masks[path], b.masks[path])


def test_a_missing_marker_message_lists_each_detector_with_its_pns() -> None:
    sample = _sample(n=3000)
    channels = [(pnn, "CD45RA PE" if pns == "CD56" else pns) for pnn, pns in _channels()]  # CD45RA is not CD56
    with pytest.raises(InconsistentInputError) as info:
        gate_sample(sample.raw, channels, SPILL, label="D7_tube3.fcs")
    assert info.value.code == "IML-FCS-011" and "'CD56'" in info.value.message
    detector = next(pnn for pnn, pns in _channels() if pns == "CD56")
    assert f"{detector} (CD45RA PE)" in info.value.message


def test_sample_without_b_cells_reports_zero_b_cells_with_a_qc_flag() -> None:
    sample = _sample(seed=4, b_share_non_t=0.0)
    run = apply_template(sample.raw, _channels(), SPILL, load_template(), label="P12_D3.fcs")
    path = "/Lymphocytes/Singlets/CD45+/B cells"
    assert int(run.masks[path].sum()) == 0
    assert run.status[path] == "all_negative"
    assert "CD19" in run.flags[path] and "negative" in run.flags[path]


def test_a_scatter_plot_without_any_cell_cluster_fails_with_iml_fcs_014_naming_what_was_sought() -> None:
    sample = _sample(seed=4, n=4000)
    rng = np.random.default_rng(0)
    sample.raw[:, 0] = rng.uniform(0, 262144, len(sample.raw))  # FSC-A and SSC-A: featureless noise
    sample.raw[:, 2] = rng.uniform(0, 262144, len(sample.raw))
    with pytest.raises(InconsistentInputError) as info:
        gate_sample(sample.raw, _channels(), SPILL, label="P12_D3.fcs")
    err = info.value
    assert err.code == "IML-FCS-014" and "IML-FCS-014" in ERROR_CODES
    assert err.path == "P12_D3.fcs"
    assert "'Lymphocytes'" in err.message and "no cell cluster on FSC-A x SSC-A" in err.message
    assert err.hint and "--plot" in err.hint and "YAML template" in err.hint


def test_gating_is_deterministic_for_the_same_events() -> None:
    sample = _sample(seed=5)
    first = apply_template(sample.raw, _channels(), SPILL, load_template())
    second = apply_template(sample.raw.copy(), _channels(), SPILL, load_template())
    assert first.thresholds == second.thresholds
    for path, mask in first.masks.items():
        np.testing.assert_array_equal(mask, second.masks[path])


def test_thresholds_move_with_each_samples_staining() -> None:
    a = apply_template(_sample(seed=6).raw, _channels(), SPILL, load_template())
    dim = _sample(seed=6)
    col = channel_names()[0].index("BV421-A")  # CD3
    dim.raw[:, col] *= 0.5  # a dimmer CD3 stain (spillover into BV421 is zero, so raw scales)
    b = apply_template(dim.raw, _channels(), SPILL, load_template())
    path = "/Lymphocytes/Singlets/CD45+/T cells"
    assert b.thresholds[path]["CD3"] < a.thresholds[path]["CD3"]
    assert abs(int(a.masks[path].sum()) - int(b.masks[path].sum())) <= 0.01 * a.masks[path].sum()


def test_gate_fcs_file_reads_and_gates_a_written_file(tmp_path: Path) -> None:
    from immunolab.demo.flow_sim import spillover_keyword
    from immunolab.fcs.writer import write_fcs

    sample = _sample(seed=7, n=8000)
    pnn, pns = channel_names()
    # the instrument's range ($PnR) sets the top of the display scale ("t: auto"); bare channel
    # names fall back to 2**18, so the file states that range for the two routes to agree
    path = write_fcs(tmp_path / "tube.fcs", sample.raw, pnn, pns=pns, pnr=[262144.0] * len(pnn),
                     keywords={"$SPILLOVER": spillover_keyword()})
    masks, stats = gate_fcs_file(path)
    assert read_fcs(path).n_events == 8000
    direct, _ = gate_sample(sample.raw, _channels(), SPILL)
    for p, m in direct.items():
        np.testing.assert_array_equal(masks[p], m)
    assert len(stats) == 11
