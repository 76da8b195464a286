"""A small study whose analyte and population names carry terminal escape sequences (ESC, CSI, OSC, DCS, C1).

Built from the committed demo files: one xPONENT plate whose ``IL-6`` analyte is renamed, two
flow tubes, and the built-in gating template with its ``Treg`` population renamed.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import immunolab.flow

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"
TEMPLATE = Path(immunolab.flow.__file__).with_name("templates") / "trial_panel.yaml"

#: OSC 8 hyperlink, clear screen (CSI), a DCS string, 8-bit CSI and 8-bit OSC (window title), BEL
HOSTILE = "\x1b]8;;https:evil.example\x07link\x1b]8;;\x07\x1b[2J\x1bP1$r\x1b\\\x9b31m\x9d0;pwned\x9c\x07"
#: the same sequences as YAML double-quoted escapes
HOSTILE_YAML = r"\e]8;;https:evil.example\alink\e]8;;\a\e[2J\eP1$r\e\\\x9b31m\x9d0;pwned\x9c\a"
ANALYTE = "IL-6" + HOSTILE
POPULATION = "Treg" + HOSTILE
TUBES = ("001-D000-PB_TBNK-Treg.fcs", "001-D014-PB_TBNK-Treg.fcs", "002-D000-WB_TBNK-Treg.fcs",
         "002-D014-WB_TBNK-Treg.fcs")
PLATE = "cytokine_plate_01.csv"


@dataclass
class HostileStudy:
    """Paths of the study (inputs, gating template, manifest) and of its store."""

    root: Path
    inbox: Path
    manifest: Path
    strategy: Path
    store: Path


def build_hostile_study(root: Path) -> HostileStudy:
    """Write the study under ``root`` (the store is not created)."""
    inbox = root / "inbox"
    inbox.mkdir(parents=True)
    for name in TUBES:
        shutil.copy(SAMPLE_DATA / "flow" / name, inbox / name)
    text = (SAMPLE_DATA / "plates" / PLATE).read_text(encoding="utf-8")
    (inbox / PLATE).write_text(text.replace("IL-6 (25)", f"{ANALYTE} (25)"), encoding="utf-8")
    shutil.copy(SAMPLE_DATA / "manifest.csv", root / "manifest.csv")
    shutil.copy(SAMPLE_DATA / "subjects.csv", root / "subjects.csv")
    template = TEMPLATE.read_text()
    template = re.sub(r"^(\s*- name:) Treg$", lambda m: f'{m.group(1)} "Treg{HOSTILE_YAML}"', template, flags=re.M)
    template = template.replace("name: trial_panel", f'name: "hostile{HOSTILE_YAML}"')
    (root / "hostile.yaml").write_text(template)
    return HostileStudy(root, inbox, root / "manifest.csv", root / "hostile.yaml", root / "store")
