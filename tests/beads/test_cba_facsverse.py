"""BD CBA Flex Set standards 1-10 on a FACSVerse: five bead populations on CBA Red x CBA NIR, PE reporter.

The kit is not recorded in the README (the files' plex keyword names five Flex Sets); a lab
would write this definition: one scatter group, two classifier channels, beads matched in
classifier order since the Flex Set grid positions are not given. Standard 10 is the most
concentrated (FACSuite numbering).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pytest

from immunolab.beads.classify import BeadWellResult, classify_fcs_file
from immunolab.beads.kits import BeadKit, parse_kit
from tests.conftest import shared_path

pytestmark = pytest.mark.shared_data

FLEX_5PLEX = {
    "format": "immunolab-bead-kit/1", "kit_id": "cba_flex_5plex", "name": "BD CBA Flex Sets, 5-plex (lab definition)",
    "vendor": "BD Biosciences", "platform": "cba", "bead_map_verified": False,
    "channels": {"scatter": {"fsc": ["FSC"], "ssc": ["SSC"]},
                 "classifiers": [{"name": "CBA Red", "hints": ["CBA Red", "APC"]},
                                 {"name": "CBA NIR", "hints": ["CBA NIR", "APC-Cy7"]}],
                 "reporter": {"name": "PE", "hints": ["PE"]}},
    "bead_groups": [{"name": "CBA", "beads": [{"id": f"P{i}", "analyte": f"flex-bead-{i}"} for i in range(1, 6)]}],
    "standards": {"levels": 9, "top_concentration": 5000, "dilution_factor": 2},
}


@lru_cache(maxsize=1)
def _run() -> tuple[BeadKit, list[BeadWellResult]]:
    folder = shared_path("beads", "cba_facsverse")
    kit = parse_kit(FLEX_5PLEX, source="cba_flex_5plex.yaml")
    files = sorted(folder.glob("Standard *.fcs"), key=lambda p: int(re.search(r"Standard (\d+)_", p.name).group(1)))  # type: ignore[union-attr]
    return kit, [classify_fcs_file(str(p), kit, label=f"Standard {i + 1}") for i, p in enumerate(files)]


def test_each_standard_well_splits_into_the_five_bead_populations() -> None:
    _kit, wells = _run()
    assert len(wells) == 10
    for res in wells:
        assert res.channels == {"fsc": "FSC-A", "ssc": "SSC-A", "reporter": "PE-A",
                                "classifier1": "CBA Red-A", "classifier2": "CBA NIR-A"}
        assert all(p.found and p.n_events >= 150 for p in res.populations), res.label
        assert all("bead_map_unverified" in p.flags for p in res.populations)
        assert sum(p.n_events for p in res.populations) >= 0.85 * res.n_events


def test_bead_positions_are_the_same_in_every_well() -> None:
    _kit, wells = _run()
    positions = np.array([[p.classifier_median for p in res.populations] for res in wells])  # wells x beads x 2
    spread = positions.std(axis=0) / positions.mean(axis=0)
    assert spread.max() < 0.05


def test_reporter_mfi_rises_monotonically_over_the_dilution_series_for_every_bead() -> None:
    _kit, wells = _run()
    mfi = np.array([[p.reporter_mfi for p in res.populations] for res in wells])  # standard 1..10 x beads
    assert np.all(np.diff(mfi, axis=0) > 0)
    assert np.all(mfi[-1] / mfi[0] > 50), "the top standard is far above the blank"
