"""Every instrument file under the shared data is read or refused with a code, never an internal error.

Writes the outcome list to ``docs/corpus_report.md`` (relative paths of public fixtures only).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from immunolab.errors import ERROR_CODES
from tests.conftest import shared_path
from tests.corpus import corpus, write_report

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

REPORT = Path(__file__).resolve().parents[1] / "docs" / "corpus_report.md"


def test_every_shared_instrument_file_is_read_or_refused_with_a_code_and_agrees_with_its_instrument() -> None:
    root = shared_path()
    outcomes = corpus(root)
    write_report(outcomes, REPORT)
    assert [o.path for o in outcomes if o.status == "internal"] == []
    assert all(o.code in ERROR_CODES for o in outcomes if o.status == "refused")
    read = [o for o in outcomes if o.status == "read"]
    assert len(read) >= 90
    # the instrument's own results equal the inverse of the curve it printed (facts read right)
    with_results = [o for o in read if o.instrument_median is not None]
    assert len(with_results) >= 20  # 16 CDC plates + the Bio-Plex workbooks with Obs Conc
    for o in with_results:
        assert o.instrument_median < 0.005, (o.path, o.instrument_median)
    cdc = [o for o in read if "cdc_flexmap3d" in o.path]
    assert len(cdc) == 16 and all("xponent_reagent_tables" in o.detail for o in cdc)
    # a refit with the vendor's recipe reproduces the vendor within 0.5 % (median per file) on every
    # real export with results, except CDC plate 2, whose well A9 was changed after the analysis
    vendor = [o for o in read if o.refit and ("cdc_flexmap3d" in o.path or "bioplex_manager/labkey" in o.path
                                              or "msd/labkey_3plate" in o.path)]
    assert len(vendor) == 16 + 7 + 1  # CDC plates, Bio-Plex workbooks (labkey, labkey_iga), MSD experiment table
    assert {o.path for o in vendor if o.refit["median"] >= 0.005} == {"cytokine/luminex_xponent/cdc_flexmap3d/plates/plate 2.csv"}
    assert not [o for o in outcomes if o.path.endswith("3plateMSD.csv") and o.status != "read"]
    assert "internal errors" in REPORT.read_text() and "0 internal errors" in REPORT.read_text()
