"""The report's UMAP: a figure per flow panel when the store holds events, an explicit note when it holds none."""

from __future__ import annotations

import sys
from html import unescape
from pathlib import Path

import pandas as pd
import pytest

import immunolab
from immunolab.report.sections.flow import UMAP_EVENTS, _umap_section, spread_files
from tests.analysis.synthetic_store import SynthStudy, build_store


def test_a_store_with_events_gets_the_umap_figure_of_its_panel(synth: SynthStudy) -> None:
    store = immunolab.open_store(synth.store)
    events = store.to_pandas("flow_events", columns=["source_sha256"])
    html = _umap_section(store)
    assert html.count("<img ") == 1
    assert "alt='UMAP of panel TBNK'" in html and "src='data:image/png;base64," in html
    n_files, n_events = events["source_sha256"].nunique(), min(len(events), UMAP_EVENTS)
    assert (f"{n_events:,} events (at most {UMAP_EVENTS:,}) drawn evenly from {n_files} of the panel's {n_files} "
            "file(s)") in unescape(html)
    assert "class='note'" not in html


def test_a_store_without_events_gets_a_note_on_how_to_store_them(tmp_path: Path) -> None:
    study = build_store(tmp_path, events=False)
    store = immunolab.open_store(study.store)
    assert "flow_events" not in store.table_versions or store.to_pandas("flow_events").empty
    html = _umap_section(store)
    assert "<img" not in html
    assert "holds no per-event flow data" in html and "immunolab ingest --events" in html


def test_the_umap_is_drawn_from_a_bounded_subsample(synth: SynthStudy, monkeypatch: pytest.MonkeyPatch) -> None:
    from immunolab.report import umap

    seen: list[tuple[str, int]] = []
    real = umap.umap_embedding

    def spy(source: object, panel: str, **kw: int) -> object:
        out = real(source, panel, **kw)  # type: ignore[arg-type]
        seen.append((panel, out.n_obs))
        return out

    monkeypatch.setattr(umap, "umap_embedding", spy)
    _umap_section(immunolab.open_store(synth.store), n_events=200)
    assert seen == [("TBNK", 200)]


def test_the_files_embedded_are_spread_from_first_to_last_visit() -> None:
    files = pd.DataFrame({"sample_id": [f"s{i:02d}" for i in range(30)]})
    assert spread_files(files, 4) == ["s00", "s10", "s19", "s29"]
    assert spread_files(files.head(3), 4) == ["s00", "s01", "s02"]


def test_without_scanpy_the_section_says_the_umap_is_not_available(synth: SynthStudy,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scanpy", None)  # importing it raises ImportError
    html = _umap_section(immunolab.open_store(synth.store))
    assert "UMAP: not available in this build (scanpy cannot be imported)" in html and "<img" not in html
