"""QC figures: per-well classification panels and per-analyte standard curves, as PNG, with no sample names."""

from __future__ import annotations

import numpy as np

from immunolab.beads.classify import classify_bead_well
from immunolab.beads.kits import load_kit
from immunolab.beads.plate import WellRole, bead_plate, bead_plate_settings
from immunolab.beads.plots import figure_png, standard_curve_figure, well_classification_figure
from immunolab.cytokine.assemble import analyse_plate
from tests.beads.factories import well
from tests.beads.independent_sim import simulate_well

PNG = b"\x89PNG\r\n\x1a\n"


def _texts(fig) -> str:  # type: ignore[no-untyped-def]
    return " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))


def test_the_classification_figure_has_a_scatter_panel_and_one_panel_per_group_and_names_missing_beads() -> None:
    sim = simulate_well(4, n_groups=2, two_d=False, missing=(2,))
    result = classify_bead_well(sim.events, sim.channels, sim.kit, label="w.fcs")
    fig = well_classification_figure(result, sim.kit)
    assert len(fig.axes) == 1 + len(sim.kit.groups)
    text = _texts(fig)
    assert f"not found {sim.kit.beads[2].bead_id}" in text
    assert sim.kit.beads[0].analyte in text and "w.fcs" not in text
    assert figure_png(fig).startswith(PNG)


def test_a_two_classifier_well_plots_the_classifiers_against_each_other() -> None:
    sim = simulate_well(11, two_d=True)
    result = classify_bead_well(sim.events, sim.channels, sim.kit, label="w.fcs")
    fig = well_classification_figure(result, sim.kit)
    assert "(classifier)" in fig.axes[1].get_ylabel()
    assert figure_png(fig).startswith(PNG)


def test_the_standard_curve_figure_places_samples_on_the_curve_without_their_names() -> None:
    kit = load_kit("legendplex_hu_inflammation_13plex")
    wells, roles = [], []
    for level in range(8):
        wells.append(well(kit, {a: kit.standard_concentration(a, level) or 0.0 for a in kit.analytes}))
        roles.append(WellRole.standard(level))
    for ref, c in (("PATIENT-DOE-01", 40.0), ("PATIENT-ROE-02", 5000.0), ("PATIENT-POE-03", 0.0)):
        wells.append(well(kit, dict.fromkeys(kit.analytes, c)))
        roles.append(WellRole.sample(ref, dilution=2.0))
    analysis = analyse_plate(bead_plate(wells, roles, kit), plate_id="p", settings=bead_plate_settings(kit))
    fig = standard_curve_figure(analysis, "IL-6")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "standards" in labels and "samples" in labels and any("fit" in t for t in labels)
    assert "below curve" in labels, "the blank-level sample is shown censored"
    assert "PATIENT" not in _texts(fig)
    curve_line = ax.get_lines()[0]
    assert np.all(np.diff(curve_line.get_ydata()) > 0)
    assert figure_png(fig).startswith(PNG)


def test_bead_figures_are_not_held_open_by_pyplot() -> None:
    """A report draws dozens of them before rendering: pyplot must not keep (and warn about) them."""
    import matplotlib.pyplot as plt

    sim = simulate_well(4, n_groups=2, two_d=False)
    result = classify_bead_well(sim.events, sim.channels, sim.kit, label="w.fcs")
    before = len(plt.get_fignums())
    figures = [well_classification_figure(result, sim.kit) for _ in range(25)]
    assert len(plt.get_fignums()) == before
    assert all(figure_png(f).startswith(PNG) for f in figures[:2])
