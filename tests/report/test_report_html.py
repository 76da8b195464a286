"""The HTML report: one self-contained file with figures, tables, QC and provenance, nothing identifying."""

from __future__ import annotations

import base64
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

import immunolab
from immunolab.report.html import write_report
from tests.analysis.synthetic_store import SynthStudy

SECTIONS = ("overview", "methods", "comparison", "trajectories", "plate-qc", "gating-qc", "provenance")
N_FEATURES = 10  # 6 flow populations (pct_parent) + 4 cytokines


class Structure(HTMLParser):
    """Collect what the report is made of: images, tables, section ids, links and scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.svgs = 0
        self.tables = 0
        self.ids: set[str] = set()
        self.external: list[str] = []
        self.forbidden: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src") or "")
        self.svgs += tag == "svg"
        self.tables += tag == "table"
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag in ("script", "link", "iframe", "object", "embed"):
            self.forbidden.append(tag)
        for key in ("src", "href"):
            v = a.get(key)
            if v is not None and not (v.startswith("data:") or v.startswith("#")):
                self.external.append(v)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(text: str) -> Structure:
    s = Structure()
    s.feed(text)
    return s


@pytest.fixture(scope="module")
def report(synth: SynthStudy, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(immunolab.open_store(synth.store), tmp_path_factory.mktemp("rep") / "report.html")


def test_report_has_every_section_figures_and_tables(report: Path) -> None:
    s = parse(report.read_text(encoding="utf-8"))
    assert set(SECTIONS) <= s.ids
    assert len(s.images) == N_FEATURES + 1  # one trajectory per feature + events per sample
    assert s.tables >= 10


def test_figures_are_inline_pngs_and_nothing_is_fetched_from_outside(report: Path) -> None:
    s = parse(report.read_text(encoding="utf-8"))
    assert not s.external and not s.forbidden
    for src in s.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_comparison_qc_and_provenance_content_is_shown(report: Path) -> None:
    text = " ".join(parse(report.read_text(encoding="utf-8")).text)
    assert "arm x visit interaction" in text and "Satterthwaite" in text
    assert "Fisher exact" in text  # IL-10 is mostly below its LLOQ
    assert "warn" in text and "1/2" in text and "low_bead_count" in text  # plate QC: status, controls, well flags
    assert "/Lymphocytes/T cells/Treg" in text  # populations per strategy
    assert "synth_flow 0.0.1" in text and "synth_plate 0.0.1" in text  # provenance
    assert "001|D0" in text  # samples by pseudonymous code


def test_report_holds_no_file_names_or_paths(report: Path, synth: SynthStudy) -> None:
    text = report.read_text(encoding="utf-8")
    store = immunolab.open_store(synth.store)
    labels = {lab for lab in store.to_pandas("sources")["label"].dropna() if lab.endswith("-FLOW")}
    assert labels  # tube labels: the report names samples patient|Dday instead
    for needle in (*labels, synth.flow_file.name, synth.plate_file.name, str(synth.root), "FLOWBATCH", "-SER"):
        assert needle not in text, needle


def _chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def test_report_renders_in_headless_chromium(report: Path) -> None:
    binary = _chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (tried /usr/bin/chromium, chromium, chromium-browser, google-chrome); "
                    "install it with `apt-get install chromium` to run this browser test")
    res = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    dom = parse(res.stdout)
    assert len(dom.images) + dom.svgs >= N_FEATURES + 1
    assert dom.tables >= 10
    assert set(SECTIONS) <= dom.ids
