"""The UMAP slot: an explicit note while ``immunolab.report.umap`` is not in the build, its figure once it is."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

import immunolab
from immunolab.report.sections.flow import umap_section
from tests.analysis.synthetic_store import SynthStudy


def test_without_the_umap_module_the_slot_says_it_is_not_available(synth: SynthStudy,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "immunolab.report.umap", None)  # import of it raises ImportError
    html = umap_section(immunolab.open_store(synth.store))
    assert "UMAP: not available in this build" in html and "<img" not in html


def test_with_the_umap_module_its_figure_of_each_flow_panel_is_embedded(synth: SynthStudy,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    calls: list[str] = []

    def umap_figure(store: Any, *, panel: str) -> Figure:
        calls.append(panel)
        fig = Figure(figsize=(2, 2))
        fig.add_subplot(1, 1, 1).scatter([0, 1], [1, 0])
        return fig

    fake = types.ModuleType("immunolab.report.umap")
    fake.umap_figure = umap_figure  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "immunolab.report.umap", fake)
    html = umap_section(immunolab.open_store(synth.store))
    assert calls == ["TBNK"]
    assert "alt='UMAP of panel TBNK'" in html and "data:image/png;base64," in html
