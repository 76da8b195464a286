"""FCS quirks of real vendor exports that FlowIO and fcsparser read, built as fixtures in code.

* Sysmex/Partec CyFlow Cube 8 (FCS 3.0): ``$BEGINSTEXT`` / ``$ENDSTEXT`` point at a ZIP blob
  (the instrument's own settings archive). It is not TEXT: skipped with a recorded warning
  and tolerance; the events read as usual.
* Miltenyi MACSQuant (FCS 3.1): ``$SPILLOVER`` lists the channel names but no matrix values.
  That is "no matrix in the file": reading succeeds with a warning, and the spillover of the
  file is None (gating then asks for a matrix).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace

import numpy as np

from immunolab.fcs.datasets import binary_kind
from immunolab.fcs.reader import read_fcs
from immunolab.fcs.spillover import names_only_spillover, spillover_from_keywords
from tests.fcs.factories import base_specs, build_fcs


def _zip_blob() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("settings.xml", "<Settings><Gain ch='FL1'>412</Gain></Settings>" * 20)
    return buf.getvalue()


def cyflow_cube8_like(blob: bytes) -> bytes:
    """Return an FCS 3.0 file whose supplemental TEXT offsets point at ``blob`` after DATA."""
    spec = replace(base_specs()["f32_le_31"], version="3.0")
    placeholder = replace(spec, override={"$BEGINSTEXT": "00000000", "$ENDSTEXT": "00000000"})
    size = len(build_fcs(placeholder))
    offsets = {"$BEGINSTEXT": f"{size:08d}", "$ENDSTEXT": f"{size + len(blob) - 1:08d}"}
    return build_fcs(replace(spec, override=offsets)) + blob


def test_a_zip_archive_in_supplemental_text_is_skipped_with_a_recorded_warning() -> None:
    spec = base_specs()["f32_le_31"]
    data = read_fcs(cyflow_cube8_like(_zip_blob()), label="cube8.fcs")
    assert data.events is not None
    np.testing.assert_array_equal(data.events, spec.events)
    assert any("a ZIP archive" in w and "skipped" in w for w in data.warnings)
    assert any(t.startswith("supplemental_text_not_text") for t in data.tolerances)


def test_other_binary_supplemental_text_is_skipped_but_real_supplemental_text_is_read() -> None:
    binary = bytes([0x01, 0x02, 0x00, 0x7F]) * 64
    data = read_fcs(cyflow_cube8_like(binary), label="cube8.fcs")
    assert any("binary data" in w for w in data.warnings)
    assert binary_kind(b"/$CYT/SuppCyt/") is None
    assert binary_kind(b"\x1f\x8b\x08\x00") == "gzip data"


def macsquant_like(names_only: str) -> bytes:
    """Return an FCS 3.1 file whose ``$SPILLOVER`` is ``names_only`` (no matrix values)."""
    spec = replace(base_specs()["f32_le_31"], extra=[("$SPILLOVER", names_only)])
    return build_fcs(spec)


def test_a_spillover_keyword_with_names_and_no_matrix_means_no_matrix_in_the_file() -> None:
    spec = base_specs()["f32_le_31"]
    data = read_fcs(macsquant_like("2,FL1,FL2"), label="macsquant.fcs")
    assert data.events is not None and data.events.shape == spec.events.shape
    assert any("no spillover matrix" in w for w in data.warnings)
    assert names_only_spillover(data.keywords) == "$SPILLOVER"
    assert data.spillover() is None
    assert spillover_from_keywords({"$SPILLOVER": "2,FL1,FL2,"}, data.channels) is None


def test_a_spillover_with_values_is_still_a_matrix() -> None:
    assert names_only_spillover({"$SPILLOVER": "2,FL1,FL2,1,0.1,0.02,1"}) is None
    assert names_only_spillover({"SPILL": "1,FL1"}) == "SPILL"
